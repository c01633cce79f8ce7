"""What a study is: its tasks, seeds, methods and comparisons (`StudySpec`), and the two studies run so far."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Mapping

LR_TOL = 1e-9


@dataclass(frozen=True)
class Comparison:
    claim: str  # C1, C2 or "context" (shown, no verdict)
    a: str  # the method the claim favours
    b: str  # the baseline


@dataclass(frozen=True)
class StudySpec:
    name: str  # also the stem of its tables' and figures' files
    suite_label: str  # "GLUE avg"
    tasks: tuple  # training tasks (record["task"]); also the table's columns unless `benchmarks` is given
    seeds: tuple  # the seeds every main cell needs
    main: tuple  # method tags of the main table, in row order
    reference: str  # the method the main claims are about (NeuroAda k=20)
    c1: tuple  # Comparison(C1, ...) with a verdict each
    c1_core: tuple  # the baselines whose verdicts decide C1 overall (the paper's claim)
    c2: tuple  # Comparison(C2, magnitude, other)
    c3: tuple  # (k=1, k=20, floor)
    context: tuple = ()  # Comparison("context", ...): differences shown without a verdict
    selection: tuple = ()  # the selection ablation's tags, magnitude first
    frontier: tuple = ()  # (family label, regex of its tags, regex group giving the size label)
    curves: tuple = ()  # tags of the eval-curve figure
    reference_lines: tuple = ()  # tags drawn as horizontal lines on the frontier (floor, ceiling)
    inherit_lr: tuple = ()  # (regex, parent tag): ablation arms run at their parent's chosen lr
    reference_suite: str = ""  # the suite of results/reference whose reported rows sit beside ours
    reuses_lr: tuple = ()  # main-table tags that are not tuned but take their parent's (inherit_lr) choice
    benchmarks: tuple = ()  # the reported test sets when they are not the training tasks (a decoder's eight commonsense sets)
    floor_tag: str = ""  # the untrained model's row (`floor_records`): a method=untrained run, else a run's before pass
    runs_dir: str = ""  # the folder of its records under results/runs, when not `name` (two studies sharing one launcher)
    tune_seed: int = 1
    grid_size: int = 3  # lrs per tuned method
    grid_sizes: Mapping = field(default_factory=dict)  # tag -> its own grid size (the decoder study's full FT: 2)
    margin: float = 1.0  # C1 non-inferiority margin, points
    threshold: float = 0.9  # C3: the share of k=20's gain that k=1 must keep
    n_boot: int = 2000
    rng_seed: int = 0
    claim_text: Mapping = field(default_factory=dict)

    @property
    def runs_folder(self) -> str:
        return self.runs_dir or self.name

    def grid_of(self, tag: str) -> int:
        return self.grid_sizes.get(tag, self.grid_size)

    @property
    def columns(self) -> tuple:
        """The benchmarks the average is taken over: `benchmarks`, else the training tasks (GLUE: one test set each)."""
        return self.benchmarks or self.tasks

    @property
    def table_tags(self) -> set:
        tags = set(self.main) | set(self.selection) | set(self.curves) | set(self.reference_lines)
        for c in (*self.c1, *self.c2, *self.context):
            tags |= {c.a, c.b}
        return tags | set(self.c3)

    def in_study(self, tag: str) -> bool:
        return tag in self.table_tags or any(re.fullmatch(rx, tag) for _, rx, _ in self.frontier)


GLUE_TASKS = ("cola", "sst2", "mrpc", "stsb", "rte")
K20, K1, LORA, HEAD = "neuroada-k20", "neuroada-k1", "lora-rmatchk20", "head_only"
GLUE_STUDY = StudySpec(
    name="glue_study",
    suite_label="GLUE avg",
    tasks=GLUE_TASKS,
    seeds=(1, 2, 3),
    reference=K20,
    main=(K20, K1, LORA, "lora-r1", "dora-rmatchk20", "shira-rmatchk20", "masked-k20", "full", HEAD),
    c1=(Comparison("C1", K20, LORA), Comparison("C1", K20, "dora-rmatchk20"), Comparison("C1", K20, "full"),
        Comparison("C1", K20, "shira-rmatchk20"), Comparison("C1", K20, "masked-k20"), Comparison("C1", K1, "lora-r1")),
    c1_core=(LORA, "dora-rmatchk20", "full"),
    c2=tuple(Comparison("C2", K20, f"{K20}-{s}") for s in ("reverse", "random", "gradient")),
    c3=(K1, K20, HEAD),
    context=(Comparison("context", K20, HEAD), Comparison("context", K20, K1), Comparison("context", K20, "lora-r1")),
    selection=(K20, f"{K20}-reverse", f"{K20}-random", f"{K20}-gradient"),
    frontier=(("NeuroAda (k)", r"neuroada-k(\d+)", "k={}"), ("LoRA (r)", r"lora-r(\d+|matchk\d+)", "r={}")),
    curves=(K20, LORA),
    reference_lines=(HEAD, "full"),
    inherit_lr=((r"neuroada-k\d+(-\w+)?", K20), (r"masked-k\d+(-\w+)?", "masked-k20"), (r"lora-r\d+", LORA), (r"dora-r\d+", "dora-rmatchk20")),
    claim_text={
        "C1": "NeuroAda matches or beats LoRA, DoRA and full fine-tuning at equal or fewer trainable parameters",
        "C2": "magnitude-based selection beats reverse, random and gradient-based selection",
        "C3": "a very small k (k=1) keeps most of k=20's accuracy",
    },
)

COMMONSENSE_SETS = ("boolq", "piqa", "siqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "obqa")
DORA, UNTRAINED = "dora-rmatchk20", "untrained"
DECODER_STUDY = StudySpec(  # experiments/decoder_study, commonsense (issue 13): no selection ablation, so no C2
    name="decoder_study",
    suite_label="Commonsense avg",
    tasks=("commonsense15k",),
    benchmarks=COMMONSENSE_SETS,
    seeds=(1, 2),
    reference=K20,
    main=(K20, K1, LORA, DORA, "full", "masked-k20", UNTRAINED),
    c1=(Comparison("C1", K20, LORA), Comparison("C1", K20, DORA), Comparison("C1", K20, "full"), Comparison("C1", K20, "masked-k20")),
    c1_core=(LORA, DORA, "full"),
    c2=(),
    c3=(K1, K20, UNTRAINED),
    context=(Comparison("context", K20, UNTRAINED), Comparison("context", K20, K1)),
    frontier=(("NeuroAda (k)", r"neuroada-k(\d+)", "k={}"), ("LoRA (r)", r"lora-r(\d+|matchk\d+)", "r={}")),
    curves=(K20, LORA),
    reference_lines=(UNTRAINED, "full"),
    inherit_lr=((r"dora-r\w+", LORA),),
    reuses_lr=(DORA,),
    grid_sizes={"full": 2},
    floor_tag=UNTRAINED,
    reference_suite="commonsense",
    claim_text={
        "C1": "NeuroAda matches or beats LoRA, DoRA and full fine-tuning at equal or fewer trainable parameters",
        "C3": "a very small k (k=1) keeps most of k=20's accuracy (its gain over the untrained model)",
    },
)

ARITHMETIC_SETS = ("multiarith", "gsm8k", "addsub", "aqua", "svamp")  # the paper's order; SingleEq and MAWPS are not here
# experiments/decoder_study, arithmetic (issue 13): the same methods and rules, one seed. Math10K holds most MultiArith
# and AddSub test questions, so its notebook also scores the items not trained on (records' `trained_questions`).
MATH_STUDY = replace(
    DECODER_STUDY,
    name="decoder_study_math",
    runs_dir="decoder_study",
    suite_label="Arithmetic avg",
    tasks=("math10k",),
    benchmarks=ARITHMETIC_SETS,
    seeds=(1,),
    grid_sizes={},  # full FT tunes over 3 lrs here (the launcher's MATH_LR), 2 on commonsense
    reference_suite="math",
)
