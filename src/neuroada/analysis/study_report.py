"""A tuned, seeded study's records -> its tables, figures, intervals and claim sentences (notebooks/glue_study.py).

The study is described by a `StudySpec` (tasks, seeds, the main comparison's methods, the claims' comparisons,
the ablations); `GLUE_STUDY` is issue 12's (experiments/glue_study/run.sh). The steps:

1. `chosen_lrs(records, spec)`: per (task, method_tag) the lr chosen on the selection set at the tuning seed
   (`neuroada.analysis.study.choose_lr`), or, for an ablation arm that was not tuned on its own (fewer than two
   lrs at the tuning seed), its parent arm's choice (`spec.inherit_lr`: the selection and k ablations run at
   NeuroAda k=20's lr, the LoRA rank frontier at LoRA's). Main-table methods always use their own choice.
2. `run_ledger(records, chosen, spec)`: which runs count (completed, at the chosen lr, one per (task, method,
   seed): the latest) and why the others do not (failed, a tuning run at another lr, superseded, not in the study).
3. Tables (`main_table`, `lr_table`, `selection_table`, `interval_rows`), claims (`claim_sentences`) and figures
   (`plot_curves`, `plot_frontier`) from the counted runs only; what has not run yet says so instead of failing.

Scores are the primary metric x 100 on the reported eval set (GLUE: the test half of the re-split dev set); an
undefined correlation (NaN: constant predictions) counts as 0, as in `neuroada.analysis.stats`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from . import stats
from .records import benchmark_name, load_records
from .study import choose_lr, selection_scores
from .tables import method_label, model_label, render_latex, render_markdown, task_label

NOT_RUN = "not run yet"
MISSING = "–"
LR_TOL = 1e-9


@dataclass(frozen=True)
class Comparison:
    claim: str  # C1, C2 or "context" (shown, no verdict)
    a: str  # the method the claim favours
    b: str  # the baseline


@dataclass(frozen=True)
class StudySpec:
    name: str
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
    floor_from_before: str = ""  # a tag for the untrained model, scored from the runs' `before` evaluation (eval_before=true)
    tune_seed: int = 1
    grid_size: int = 3  # lrs per tuned method
    grid_sizes: Mapping = field(default_factory=dict)  # tag -> its own grid size (the decoder study's full FT: 2)
    margin: float = 1.0  # C1 non-inferiority margin, points
    threshold: float = 0.9  # C3: the share of k=20's gain that k=1 must keep
    n_boot: int = 2000
    rng_seed: int = 0
    claim_text: Mapping = field(default_factory=dict)

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
    floor_from_before=UNTRAINED,
    reference_suite="commonsense",
    claim_text={
        "C1": "NeuroAda matches or beats LoRA, DoRA and full fine-tuning at equal or fewer trainable parameters",
        "C3": "a very small k (k=1) keeps most of k=20's accuracy (its gain over the untrained model)",
    },
)

HIDDEN_SIZE = {"minilm-l6": 384}  # the head-size fallback when a task has no head-only run: hidden x labels + labels


def fmt_lr(lr: float) -> str:
    """1e-3, 3e-4, 1.5e-2."""
    if lr is None or not math.isfinite(lr):
        return MISSING
    mant, exp = f"{lr:.3e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def _num(v, fmt=".1f", signed=False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return MISSING
    s = format(v, ("+" if signed else "") + fmt)
    return s.replace("+0.0", "0.0").replace("-0.0", "0.0") if s.lstrip("+-") in ("0.0", "0.00") else s


def _lr(rec: Mapping) -> float:
    try:
        return float(rec["config"]["trainer"]["lr"])
    except (KeyError, TypeError, ValueError):
        return math.nan


# ---------------------------------------------------------------------------------------------------------
# which runs count


def chosen_lrs(records: Sequence[Mapping], spec: StudySpec) -> pd.DataFrame:
    """One row per (task, method_tag) seen among the completed records: `lr` (nan when none can be chosen yet),
    `score` (selection-set score of the tuning-seed run at that lr, primary metric x 100), `grid`, `at_edge`,
    `widen`, `flat` (every lr tried scored the same), `source` (`tuned` or `<parent>'s choice`)."""
    cols = ["task", "method_tag", "lr", "score", "grid", "at_edge", "widen", "flat", "source"]
    completed = [r for r in records if r.get("status") == "completed"]
    own = choose_lr(selection_scores(completed, seed=spec.tune_seed))
    own = {(r.task, r.method_tag): r for r in own.itertuples(index=False)}
    pairs = sorted({(r.get("task"), r.get("method_tag")) for r in completed})
    rows = []

    def own_row(task, tag):
        r = own[(task, tag)]
        return {"task": task, "method_tag": tag, "lr": r.lr, "score": 100 * r.score if math.isfinite(r.score) else math.nan,
                "grid": list(r.grid), "at_edge": bool(r.at_edge), "widen": r.widen, "flat": bool(r.flat), "source": "tuned"}

    for task, tag in pairs:
        parent = next((p for rx, p in spec.inherit_lr if re.fullmatch(rx, tag) and p != tag), None)
        tuned_own = (task, tag) in own and tag not in spec.reuses_lr and (len(own[(task, tag)].grid) >= 2 or tag in spec.main or parent is None)
        if tuned_own:
            rows.append(own_row(task, tag))
        elif parent is not None and (task, parent) in own:
            p = own[(task, parent)]
            rows.append({"task": task, "method_tag": tag, "lr": p.lr, "score": math.nan, "grid": [p.lr], "at_edge": False,
                         "widen": None, "flat": False, "source": f"{parent}'s choice"})
        elif (task, tag) in own:
            rows.append(own_row(task, tag))
        else:
            rows.append({"task": task, "method_tag": tag, "lr": math.nan, "score": math.nan, "grid": [], "at_edge": False,
                         "widen": None, "flat": False, "source": "not tuned yet"})
    return pd.DataFrame(rows, columns=cols)


def run_ledger(records: Sequence[Mapping], chosen: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """One row per record: run_id, task, method_tag, seed, lr, status, counted, reason. A run counts when it
    completed, belongs to the study's tables, is at its (task, method)'s chosen lr, and is the latest such run of
    its (task, method, seed)."""
    lr_of = {(r.task, r.method_tag): r.lr for r in chosen.itertuples(index=False)}
    rows = []
    for rec in records:
        task, tag, lr = rec.get("task"), rec.get("method_tag"), _lr(rec)
        row = {"run_id": rec.get("run_id"), "task": task, "method_tag": tag, "seed": rec.get("seed"), "lr": lr,
               "status": rec.get("status"), "created": str(rec.get("created", "")), "counted": False, "reason": "",
               "code_versions": len(rec.get("attempt_code") or [None])}  # >1: resumed on another commit
        want = lr_of.get((task, tag), math.nan)
        if rec.get("status") != "completed":
            row["reason"] = f"not completed ({rec.get('status')})"
        elif not spec.in_study(tag) or task not in spec.tasks:
            row["reason"] = "not part of the study's tables"
        elif not math.isfinite(want):
            row["reason"] = "no chosen lr yet"
        elif not math.isclose(lr, want, rel_tol=LR_TOL):
            row["reason"] = "tuning run at an lr not chosen" if rec.get("seed") == spec.tune_seed else f"not at the chosen lr ({fmt_lr(want)})"
        else:
            row["counted"] = True
        rows.append(row)
    ledger = pd.DataFrame(rows, columns=["run_id", "task", "method_tag", "seed", "lr", "status", "created", "counted", "reason",
                                         "code_versions"])
    if not ledger.empty:  # one run per (task, method, seed): the latest
        counted = ledger[ledger["counted"]].sort_values("created")
        dup = counted.duplicated(["task", "method_tag", "seed"], keep="last")
        ledger.loc[dup[dup].index, ["counted", "reason"]] = [False, "superseded by a later run"]
    return ledger


@dataclass
class StudyRuns:
    records: list
    chosen: pd.DataFrame
    ledger: pd.DataFrame
    incomplete: list
    summary: str
    counted: list  # the records that count (completed, at the chosen lr, the latest of their cell)


def load_study(root: str | Path, spec: StudySpec) -> StudyRuns:
    """Every record under `root`, the lr choices, the ledger of which runs count, and its one-line summary."""
    records = load_records(root)
    chosen = chosen_lrs(records, spec)
    ledger = run_ledger(records, chosen, spec)
    incomplete = incomplete_runs(root)
    counted = [rec for rec, keep in zip(records, ledger["counted"]) if keep] if len(ledger) else []
    return StudyRuns(records, chosen, ledger, incomplete, ledger_summary(ledger, incomplete), counted)


def open_study(spec: StudySpec, paths=None) -> tuple:
    """(results folders, `load_study` of `<runs>/<spec.name>`), printing where it reads them."""
    from . import result_paths  # the package imports this module lazily; at call time it is fully loaded
    paths = paths or result_paths()
    root = paths.runs / spec.name
    print(paths)
    print("study records:", root)
    return paths, load_study(root, spec)


def incomplete_runs(root: str | Path) -> list[str]:
    """Run folders under `root` without a record (running, interrupted, or failed before writing one)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and not (p / "record.json").is_file())


def ledger_summary(ledger: pd.DataFrame, incomplete: Sequence[str] = ()) -> str:
    """`N records: C completed (K counted, D discarded: ...), F failed; I run folders without a record`, and how
    many counted runs were trained by more than one code version (paused, then resumed on another commit)."""
    if ledger.empty:
        return f"0 run records yet; {len(incomplete)} run folder(s) without a record (running or interrupted)."
    completed = ledger["status"] == "completed"
    discarded = ledger[completed & ~ledger["counted"]]
    reasons = discarded["reason"].str.replace(r" \(.*\)$", "", regex=True).value_counts()
    why = ", ".join(f"{n} {r}" for r, n in reasons.items())
    return (f"{len(ledger)} run records: {int(completed.sum())} completed ({int(ledger['counted'].sum())} counted, {len(discarded)} discarded"
            + (f": {why}" if why else "") + f"), {int((~completed).sum())} failed; {len(incomplete)} run folder(s) without a record "
            "(running or interrupted)." + _mixed_code_text(ledger))


def _mixed_code_text(ledger: pd.DataFrame) -> str:
    mixed = int((ledger["counted"] & (ledger["code_versions"] > 1)).sum())
    return (f" {mixed} counted run(s) were resumed on another commit than they began on (`attempt_code` in the record)."
            if mixed else "")


# ---------------------------------------------------------------------------------------------------------
# scores


def floor_records(records: Sequence[Mapping], spec: StudySpec) -> list[dict]:
    """The untrained model as a method of its own (`spec.floor_from_before`): the earliest completed run that
    evaluated before training (`metrics_before` on every column) stands for it at each of `spec.seeds`, its
    `before` scores and predictions as that run's `after` ones. Greedy decoding of the same fixed test items
    gives the same answers whatever the run's seed, so one evaluation serves every seed. [] when none has one."""
    if not spec.floor_from_before:
        return []
    done = sorted((r for r in records if r.get("status") == "completed" and r.get("task") in spec.tasks
                   and set(spec.columns) <= set(r.get("metrics_before") or {})), key=lambda r: str(r.get("created", "")))
    if not done:
        return []
    base = done[0]
    return [{**base, "method_tag": spec.floor_from_before, "method": spec.floor_from_before, "seed": seed, "trainable_params": 0,
             "metrics": base["metrics_before"], "metrics_before": None, "run_id": f"{base.get('run_id')}:before"}
            for seed in spec.seeds]


def scores_frame(records: Iterable[Mapping], eval_sets: Iterable[str] | None = None) -> pd.DataFrame:
    """One row per (counted run, reported benchmark): task, benchmark, method_tag, seed, score (primary x 100; NaN
    -> 0), trainable_params, head_params (None in records before it was recorded), total_params, model, num_labels."""
    rows = []
    for rec in records:
        primary = rec.get("primary_metric") or "accuracy"
        for eval_set in stats.report_sets(rec, eval_sets):
            v = (rec["metrics"][eval_set] or {}).get(primary)
            v = 0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
            rows.append({"task": rec.get("task"), "benchmark": benchmark_name(rec.get("suite"), rec.get("task"), eval_set),
                         "method_tag": rec.get("method_tag"), "seed": rec.get("seed"), "score": 100 * v,
                         "trainable_params": rec.get("trainable_params"), "head_params": rec.get("head_params"),
                         "total_params": rec.get("total_params"), "model": rec.get("model"),
                         "num_labels": ((rec.get("config") or {}).get("task") or {}).get("num_labels")})
    return pd.DataFrame(rows, columns=["task", "benchmark", "method_tag", "seed", "score", "trainable_params", "head_params", "total_params",
                                       "model", "num_labels"])


def suite_averages(scores: pd.DataFrame, benchmarks: Sequence[str]) -> pd.DataFrame:
    """method_tag, seed, avg: the mean over `benchmarks` of the seeds that have all of them."""
    if scores.empty:
        return pd.DataFrame(columns=["method_tag", "seed", "avg"])
    wide = scores[scores["benchmark"].isin(benchmarks)].pivot_table(index=["method_tag", "seed"], columns="benchmark", values="score")
    wide = wide.reindex(columns=list(benchmarks)).dropna()
    return wide.mean(axis=1).rename("avg").reset_index()


def head_params(scores: pd.DataFrame, head_tag: str = HEAD) -> dict:
    """task -> parameters of the classification head: the records' `head_params`, else the head-only runs'
    trainable count, else hidden x labels + labels (HIDDEN_SIZE: a `classifier`-only head) for a known model;
    0 for a generation task (no labels, no head)."""
    out = {}
    for task, g in scores.groupby("task"):
        recorded = g["head_params"].dropna() if "head_params" in g else ()
        if len(recorded):
            out[task] = int(recorded.mode().iloc[0])
            continue
        if g["num_labels"].isna().all() and g["model"].notna().all():
            out[task] = 0
            continue
        h = g.loc[g["method_tag"] == head_tag, "trainable_params"].dropna()
        if len(h):
            out[task] = int(h.mode().iloc[0])
            continue
        model, labels = g["model"].iloc[0], g["num_labels"].dropna()
        if model in HIDDEN_SIZE and len(labels):
            nl = int(labels.iloc[0])
            out[task] = HIDDEN_SIZE[model] * nl + nl
    return out


def _method_params(scores: pd.DataFrame, tag: str, heads: Mapping) -> tuple[float, float, float]:
    """(trainable params on a task with the most common head, body params, % of the body) of a method."""
    g = scores[scores["method_tag"] == tag].drop_duplicates(["task"])
    if g.empty:
        return math.nan, math.nan, math.nan
    trainable = float(g["trainable_params"].mode().iloc[0])
    g = g[g["task"].isin(heads)]
    if g.empty:
        return trainable, math.nan, math.nan
    h = g["task"].map(heads).astype(float)
    body = (g["trainable_params"] - h)
    pct = 100 * body / (g["total_params"] - h)
    return trainable, float(body.mode().iloc[0]), float(pct.mean())


def _mean_std(values: pd.Series) -> tuple[float, float, int]:
    v = values.dropna()
    return (float(v.mean()) if len(v) else math.nan, float(v.std()) if len(v) > 1 else math.nan, len(v))


def _pm(mean, std, n, latex=False) -> str:
    if n == 0:
        return NOT_RUN
    s = _num(mean)
    if n > 1 and math.isfinite(std):
        s += (r" $\pm$ " if latex else " ± ") + _num(std)
    return s


def method_rows(scores: pd.DataFrame, tags: Sequence[str], benchmarks: Sequence[str], heads: Mapping) -> pd.DataFrame:
    """Numeric rows: method_tag, method, trainable_params, body_params, body_percent, <bench>_mean/_std/_n, avg_mean,
    avg_std, n_seeds (seeds with every benchmark), seeds_min (fewest seeds of any benchmark)."""
    avgs = suite_averages(scores, benchmarks)
    rows = []
    for tag in tags:
        g = scores[scores["method_tag"] == tag]
        trainable, body, pct = _method_params(scores, tag, heads)
        row = {"method_tag": tag, "method": method_label(tag), "trainable_params": trainable, "body_params": body, "body_percent": pct}
        for b in benchmarks:
            row[f"{b}_mean"], row[f"{b}_std"], row[f"{b}_n"] = _mean_std(g.loc[g["benchmark"] == b, "score"])
        row["avg_mean"], row["avg_std"], row["n_seeds"] = _mean_std(avgs.loc[avgs["method_tag"] == tag, "avg"])
        row["seeds_min"] = min(row[f"{b}_n"] for b in benchmarks) if benchmarks else 0
        rows.append(row)
    return pd.DataFrame(rows)


def display_method_rows(rows: pd.DataFrame, benchmarks: Sequence[str], spec: StudySpec, latex: bool = False, extra: Sequence[str] = ()) -> pd.DataFrame:
    out = []
    for r in rows.to_dict("records"):
        d = {"Method": r["method"],
             "Trainable params": MISSING if not math.isfinite(r["trainable_params"]) else f"{int(r['trainable_params']):,}",
             "Body (%)": _num(r["body_percent"], ".3f")}
        for b in benchmarks:
            d[task_label(b)] = _pm(r[f"{b}_mean"], r[f"{b}_std"], r[f"{b}_n"], latex)
        if r["n_seeds"]:
            d[spec.suite_label] = _pm(r["avg_mean"], r["avg_std"], r["n_seeds"], latex)
        else:
            have = sum(r[f"{b}_n"] > 0 for b in benchmarks)
            d[spec.suite_label] = NOT_RUN if have == 0 else f"{MISSING} ({have}/{len(benchmarks)} tasks)"
        seeds = {int(r[f"{b}_n"]) for b in benchmarks}
        d["Seeds"] = str(seeds.pop()) if len(seeds) == 1 else f"{min(seeds)}-{max(seeds)}"
        for c in extra:
            d[c] = r.get(c, MISSING)
        out.append(d)
    return pd.DataFrame(out)


def main_table(scores: pd.DataFrame, spec: StudySpec, heads: Mapping) -> pd.DataFrame:
    return method_rows(scores, spec.main, spec.columns, heads)


MAIN_NOTE = ("Primary metric x 100 on the test half of each seed's re-split dev set (MCC for CoLA, Pearson for STS-B, "
             "accuracy otherwise), mean ± sample std over seeds at each method's chosen lr; only runs at the chosen lr count. "
             "{avg} = mean over the five tasks of each seed with all five, then mean ± std over those seeds. Trainable params: "
             "the count on a two-label task, classification head included (STS-B's head has half the parameters); Body (%) = "
             "(trainable - head) / (all parameters - head), the head being the head-only run's trainable count. "
             "An undefined correlation (constant predictions) counts as 0.")


TRACKED = ("accounted", "parameters", "gradients", "optimizer_state", "activations")


def tracked_memory(records: Iterable[Mapping], tags: Sequence[str]) -> pd.DataFrame:
    """Per method tag: the tracked training peak of its runs (`peak_memory.tracked_bytes`: parameters, gradients,
    optimizer state and saved activations at the step's peak; `accounted` = their sum), mean over runs, in GB."""
    rows = []
    for tag in tags:
        runs = [(r.get("peak_memory") or {}).get("tracked_bytes") for r in records if r.get("method_tag") == tag]
        runs = [t for t in runs if t]
        row = {"method_tag": tag, "runs": len(runs)}
        for key in TRACKED:
            vals = [t[key] for t in runs if t.get(key) is not None]
            row[f"{key}_gb"] = sum(vals) / len(vals) / 1e9 if vals else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["method_tag", "runs", *(f"{k}_gb" for k in TRACKED)])


def paper_table(main: pd.DataFrame, reference: pd.DataFrame, spec: StudySpec, model: str, memory: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's layout: the reported rows of `reference` (other models, `kind` = reported) for the study's
    suite, then ours (mean over seeds) on `model`, each labelled with its source; per benchmark and the average."""
    cols = ["Model", "Method", "Source", *(task_label(b) for b in spec.columns), spec.suite_label, "Tracked peak (GB)"]
    out = []
    ref = reference[(reference["suite"] == spec.reference_suite) & (reference["kind"] == "reported")]
    for (ref_model, tag), g in ref.groupby(["model", "method_tag"], sort=False):
        vals = dict(zip(g["task"], g["value"]))
        out.append({"Model": model_label(ref_model), "Method": method_label(tag), "Source": "reported",
                    **{task_label(b): _num(vals.get(b, math.nan)) for b in spec.columns}, spec.suite_label: _num(vals.get("avg", math.nan)),
                    "Tracked peak (GB)": MISSING})
    mem = {} if memory is None else {r.method_tag: r.accounted_gb for r in memory.itertuples(index=False)}
    for r in main.to_dict("records"):
        out.append({"Model": model_label(model), "Method": r["method"], "Source": f"ours ({r['n_seeds']} seeds)" if r["n_seeds"] else "ours",
                    **{task_label(b): _pm(r[f"{b}_mean"], math.nan, r[f"{b}_n"]) for b in spec.columns},
                    spec.suite_label: _pm(r["avg_mean"], r["avg_std"], r["n_seeds"]) if r["n_seeds"] else NOT_RUN,
                    "Tracked peak (GB)": _num(mem.get(r["method_tag"], math.nan), ".2f")})
    return pd.DataFrame(out, columns=cols)

# ---------------------------------------------------------------------------------------------------------
# learning rates


def lr_table(records: Sequence[Mapping], chosen: pd.DataFrame, spec: StudySpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long, display): the grid of every (task, main method) and every other tuned tag (2+ lrs), with the
    selection-set score (primary x 100, the run at the tuning seed) of each lr, the choice and the edge flag."""
    scores = selection_scores([r for r in records if r.get("status") == "completed"], seed=spec.tune_seed)
    long_rows, disp = [], []
    tuned_tags = [t for t in spec.main if t not in spec.reuses_lr and t != spec.floor_from_before] + sorted(t for t in set(chosen.loc[chosen["source"] == "tuned", "method_tag"]) - set(spec.main)
                                           if len(set(scores.loc[scores["method_tag"] == t, "lr"])) >= 2)
    for tag in tuned_tags:
        for task in spec.tasks:
            g = scores[(scores["task"] == task) & (scores["method_tag"] == tag)].sort_values("lr")
            c = chosen[(chosen["task"] == task) & (chosen["method_tag"] == tag)]
            if g.empty or c.empty:
                disp.append({"Task": task_label(task), "Method": method_label(tag), "Grid (selection-set score)": NOT_RUN,
                             "Chosen lr": MISSING, "Edge": MISSING})
                long_rows.append({"task": task, "method_tag": tag, "lr": math.nan, "selection_score": math.nan, "chosen": False,
                                  "at_edge": False, "widen": math.nan, "grid_complete": False, "status": NOT_RUN})
                continue
            c = c.iloc[0]
            cells = []
            for r in g.itertuples(index=False):
                sc = 100 * r.score if math.isfinite(r.score) else math.nan
                is_chosen = math.isclose(r.lr, c.lr, rel_tol=LR_TOL)
                cells.append(f"{fmt_lr(r.lr)}: {_num(sc)}" + ("*" if is_chosen else ""))
                long_rows.append({"task": task, "method_tag": tag, "lr": r.lr, "selection_score": sc, "chosen": is_chosen,
                                  "at_edge": bool(c.at_edge), "widen": c.widen if c.widen is not None else math.nan,
                                  "grid_complete": len(g) >= spec.grid_of(tag), "status": "tuned"})
            edge = f"yes: widen to {fmt_lr(c.widen)}" if c.at_edge else "no"
            if c.flat:
                edge = f"flat (every lr scored the same): widen to {fmt_lr(c.widen)}"
            if len(g) < spec.grid_of(tag):
                edge += f" ({len(g)} of {spec.grid_of(tag)} lrs run)"
            disp.append({"Task": task_label(task), "Method": method_label(tag), "Grid (selection-set score)": ", ".join(cells),
                         "Chosen lr": fmt_lr(c.lr), "Edge": edge})
    return pd.DataFrame(long_rows), pd.DataFrame(disp, columns=["Task", "Method", "Grid (selection-set score)", "Chosen lr", "Edge"])


LR_NOTE = ("Each lr's score: the primary metric x 100 of the seed-{seed} run's reported checkpoint on the selection half "
           "of the re-split dev set (never the test half); * = chosen (best; ties go to the smaller lr). Edge: the choice is the "
           "smallest or largest lr tried, so the grid is widened by one more value (same log spacing) before the seeds run; "
           "a flat grid (every lr scored the same, e.g. MCC 0 at all of them) is widened upwards. "
           "Ablation arms not listed run at their parent's choice (selection and k at NeuroAda k=20's, LoRA ranks at LoRA's).")


# ---------------------------------------------------------------------------------------------------------
# intervals and claims


@dataclass
class IntervalRow:
    claim: str
    label: str
    a: str
    b: str
    interval: stats.Interval | None
    verdict: stats.Verdict | None
    units: str = "points"  # or "ratio"


def _bootstrap_groups(items: Mapping, spec: StudySpec, methods: Sequence[str]) -> stats.SuiteBootstrap:
    return stats.bootstrap_averages(items, methods, benchmarks=spec.columns, seeds=spec.seeds, n_boot=spec.n_boot, rng_seed=spec.rng_seed)


def interval_rows(items: Mapping, spec: StudySpec) -> list[IntervalRow]:
    """C1, C2 and context differences (a - b, points) and the C3 ratio, each with its 95 % paired bootstrap interval
    and verdict. Methods with every required (seed, task) cell share one bootstrap (the same resamples); a
    comparison with missing cells gets its own on the seeds it has, and an `undecided: missing runs` verdict."""
    have = {(m, s, b) for (m, s, b) in items}
    comparisons = [*spec.c1, *spec.c2, *spec.context]
    needed = sorted({m for c in comparisons for m in (c.a, c.b)} | set(spec.c3))
    complete = [m for m in needed if all((m, s, b) in have for s in spec.seeds for b in spec.columns)]
    joint = _bootstrap_groups(items, spec, complete) if complete else None
    rows = []

    def boot_for(methods):
        if joint is not None and all(m in complete for m in methods):
            return joint
        return _bootstrap_groups(items, spec, methods)

    for c in comparisons:
        iv = stats.difference(boot_for([c.a, c.b]), c.a, c.b)
        verdict = stats.verdict_c1(iv, spec.margin) if c.claim == "C1" else stats.verdict_c2(iv) if c.claim == "C2" else None
        rows.append(IntervalRow(c.claim, f"{method_label(c.a)} − {method_label(c.b)}", c.a, c.b, iv, verdict))
    num, den, floor = spec.c3
    iv = stats.ratio(boot_for([num, den, floor]), num, den, floor)
    rows.append(IntervalRow("C3", f"({method_label(num)} − {method_label(floor)}) / ({method_label(den)} − {method_label(floor)})",
                            num, den, iv, stats.verdict_c3(iv, spec.threshold), units="ratio"))
    return rows


def intervals_frame(rows: Sequence[IntervalRow], spec: StudySpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(csv, display) of the interval rows."""
    long, disp = [], []
    for r in rows:
        iv = r.interval
        ok = iv is not None and iv.ok
        fmt = ".3f" if r.units == "ratio" else ".2f"
        missing = stats.format_missing(iv.missing, spec.seeds, spec.columns) if iv is not None and iv.missing else ""
        long.append({"claim": r.claim, "comparison": r.label, "a": r.a, "b": r.b, "units": r.units,
                     "estimate": iv.estimate if ok else math.nan, "low": iv.low if ok else math.nan, "high": iv.high if ok else math.nan,
                     "seeds": ",".join(map(str, iv.seeds)) if iv is not None else "", "n_boot": iv.n_boot if iv is not None else 0,
                     "verdict": r.verdict.status if r.verdict else "", "reason": r.verdict.reason if r.verdict else "", "missing": missing})
        disp.append({"Claim": r.claim, "Comparison": r.label,
                     "Difference" if r.units == "points" else "Estimate": _num(iv.estimate, fmt, signed=r.units == "points") if ok else NOT_RUN,
                     "95 % interval": f"[{_num(iv.low, fmt, r.units == 'points')}, {_num(iv.high, fmt, r.units == 'points')}]" if ok else MISSING,
                     "Seeds": len(iv.seeds) if iv is not None else 0,
                     "Verdict": (r.verdict.status if r.verdict else MISSING) + (" (missing runs)" if r.verdict and "missing runs" in r.verdict.reason else "")})
    disp = pd.DataFrame(disp)
    if "Estimate" in disp:  # one value column for both kinds of row
        disp["Difference"] = disp["Difference"].fillna(disp.pop("Estimate"))
        disp = disp[["Claim", "Comparison", "Difference", "95 % interval", "Seeds", "Verdict"]]
    return pd.DataFrame(long), disp


def intervals_note(spec: StudySpec) -> str:
    """The note under the intervals table: what a difference is, how it is resampled, and the verdict rules."""
    floor = method_label(spec.c3[2]) if spec.c3 else "the floor"
    cells = f"the {len(spec.columns)} {'test sets' if spec.benchmarks else 'tasks'}"
    c2 = ("C2 supported if the lower bound > 0, not supported if the upper < 0, else undecided; " if spec.c2 else "")
    return (f"Difference: {spec.suite_label} of the first method minus that of the second, in points (primary metric x 100), "
            f"averaged over the seeds; 95 % percentile interval of {spec.n_boot} paired bootstrap replicates (seeds resampled with "
            "replacement, then each seed's test items per benchmark, the same items for both methods; each benchmark's metric, "
            f"MCC and Pearson included, recomputed on each resample). C3's row is a ratio: the share of NeuroAda k=20's gain over "
            f"{floor} that k=1 keeps. Rules: C1 supported if the lower bound > -{spec.margin:g} (non-inferior within {spec.margin:g} "
            f"point), not supported if the upper bound < 0 (and the lower <= -{spec.margin:g}), else undecided; {c2}C3 supported if "
            f"the ratio's lower bound >= {spec.threshold:g}, not supported if its upper bound < {spec.threshold:g}, undecided "
            f"otherwise or when k=20 does not clearly beat {floor}. Any missing run (of seeds {','.join(map(str, spec.seeds))} x "
            f"{cells}) makes a verdict undecided. Context rows have no verdict.")


def _row_text(r: IntervalRow, with_verdict: bool = True) -> str:
    """`+1.59 [-2.20, +5.40] points (undecided)`, `not run yet`, or the ratio's `0.70 [0.44, 0.99]`."""
    iv = r.interval
    if iv is None or not iv.ok:
        return NOT_RUN
    if r.units == "ratio":
        s = f"{iv.estimate:.2f} [{iv.low:.2f}, {iv.high:.2f}]"
    else:
        s = f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}] points"
    if iv.missing:
        s += f" on seed{'s' * (len(iv.seeds) > 1)} {','.join(map(str, iv.seeds))} only"
    return s + (f" ({r.verdict.status})" if with_verdict and r.verdict else "")


def _missing_text(rows: Sequence[IntervalRow], spec: StudySpec) -> str:
    triples = list(dict.fromkeys(t for r in rows if r.interval is not None for t in r.interval.missing))
    return stats.format_missing(triples, spec.seeds, spec.columns) if triples else ""


def claim_sentences(rows: Sequence[IntervalRow], spec: StudySpec) -> dict[str, tuple[str, str]]:
    """claim -> (status, one sentence). C1 overall: supported if supported against every core baseline
    (`spec.c1_core`, the paper's LoRA, DoRA and full FT), not supported if not supported against one of them,
    undecided otherwise; the other C1 rows are reported beside it. C2 likewise over all its rows; C3 is its one row.
    An undecided claim names its missing runs."""
    out = {}
    c1 = [r for r in rows if r.claim == "C1"]
    core = [r for r in c1 if r.b in spec.c1_core and r.a == spec.reference]
    rest = [r for r in c1 if r not in core]
    status = stats.combine_verdicts([r.verdict for r in core])
    detail = (f"{spec.suite_label} of {method_label(spec.reference)} minus " + ", minus ".join(f"{method_label(r.b)} {_row_text(r)}" for r in core)
              + ("; beside it, " + ", ".join(f"{method_label(r.a)} minus {method_label(r.b)} {_row_text(r)}" for r in rest) if rest else ""))
    out["C1"] = (status, _sentence("C1", status, spec, detail, core))
    c2 = [r for r in rows if r.claim == "C2"]
    if spec.c2:  # a study without a selection ablation (the decoder study) makes no C2 statement
        status = stats.combine_verdicts([r.verdict for r in c2])
        detail = (f"{spec.suite_label} of {method_label(c2[0].a)} minus " + ", minus ".join(f"{method_label(r.b)} {_row_text(r)}" for r in c2)) if c2 else "no comparison defined"
        out["C2"] = (status, _sentence("C2", status, spec, detail, c2))
    c3 = [r for r in rows if r.claim == "C3"]
    status = c3[0].verdict.status if c3 else stats.UNDECIDED
    if c3 and c3[0].interval is not None and c3[0].interval.ok:
        den = c3[0].interval.denominator
        detail = (f"{c3[0].label} = {_row_text(c3[0], with_verdict=False)} (threshold {spec.threshold:g}; the gain of "
                  f"{method_label(spec.c3[1])} over {method_label(spec.c3[2])} is {den.estimate:+.2f} [{den.low:+.2f}, {den.high:+.2f}] points)")
    else:
        detail = f"{c3[0].label}: {NOT_RUN}" if c3 else "no comparison defined"
    out["C3"] = (status, _sentence("C3", status, spec, detail, c3))
    return out


def _sentence(claim: str, status: str, spec: StudySpec, detail: str, rows: Sequence[IntervalRow]) -> str:
    head = f"**{claim}** ({spec.claim_text.get(claim, claim)}): **{status}** at this scale"
    missing = _missing_text(rows, spec)
    if status == stats.UNDECIDED and missing:
        head += f", missing runs ({missing})"
    elif status == stats.UNDECIDED and rows and all(r.verdict is not None for r in rows):
        reasons = sorted({r.verdict.reason for r in rows if r.verdict.status == stats.UNDECIDED and "interval" not in r.verdict.reason})
        head += f" ({'; '.join(reasons)})" if reasons else ""
    return f"{head}: {detail}."


# ---------------------------------------------------------------------------------------------------------
# the selection ablation


def selection_table(scores: pd.DataFrame, rows: Sequence[IntervalRow], spec: StudySpec, heads: Mapping, latex: bool = False) -> pd.DataFrame:
    """The C2 ablation: one row per selection at k=20 (magnitude first), per task mean ± std, the average, and
    magnitude minus that selection with its interval and verdict."""
    num = method_rows(scores, spec.selection, spec.columns, heads)
    by_b = {r.b: r for r in rows if r.claim == "C2"}
    deltas, verdicts = [], []
    for tag in spec.selection:
        r = by_b.get(tag)
        if r is None:
            deltas.append("(reference)" if tag == spec.selection[0] else MISSING)
            verdicts.append(MISSING)
            continue
        iv = r.interval
        deltas.append(f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]" if iv is not None and iv.ok else NOT_RUN)
        verdicts.append(r.verdict.status + (" (missing runs)" if "missing runs" in r.verdict.reason else ""))
    num["delta"] = deltas
    num["verdict"] = verdicts
    disp = display_method_rows(num, spec.columns, spec, latex=latex, extra=("delta", "verdict"))
    disp = disp.drop(columns=["Trainable params", "Body (%)"]).rename(columns={"delta": "Magnitude − this (95 % interval)", "verdict": "C2"})
    disp.insert(1, "Selection", [(t.split("-")[2] if t.count("-") >= 2 else "magnitude") for t in spec.selection])
    return disp


# ---------------------------------------------------------------------------------------------------------
# figures


def plot_curves(records: Sequence[Mapping], spec: StudySpec, path: str | Path) -> Path:
    """Selection-set score (primary x 100) vs training step of `spec.curves` at their chosen lr, one panel per
    task: mean over seeds, band = min/max; the evidence that the budget levelled off."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _save

    colors = ["#2A9D8F", "#264653", "#E76F51", "#F4A261"]
    n = len(spec.tasks)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, task in zip(axes[0], spec.tasks):
        drawn = False
        for color, tag in zip(colors, spec.curves):
            pts = []
            for rec in records:
                if rec.get("task") != task or rec.get("method_tag") != tag:
                    continue
                sel = rec.get("selection") or {}
                metric = sel.get("metric") or rec.get("primary_metric")
                for p in sel.get("curve") or []:
                    v = p.get(metric)
                    pts.append({"seed": rec.get("seed"), "step": p.get("step"), "value": 100 * (v if v is not None and math.isfinite(v) else 0.0)})
            if not pts:
                continue
            df = pd.DataFrame(pts).groupby("step")["value"].agg(["mean", "min", "max", "count"]).reset_index()
            seeds = len({p["seed"] for p in pts})
            ax.plot(df["step"], df["mean"], marker="o", ms=3, color=color, label=f"{method_label(tag)} ({seeds} seed{'s' * (seeds > 1)})")
            ax.fill_between(df["step"], df["min"], df["max"], color=color, alpha=0.2, lw=0)
            drawn = True
        ax.set_title(task_label(task), fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=6, loc="lower right")
        else:
            ax.text(0.5, 0.5, NOT_RUN, ha="center", va="center", transform=ax.transAxes)
    axes[0][0].set_ylabel("selection-set score (x 100)")
    fig.suptitle(f"{spec.name}: selection-set score vs step at the chosen lr (mean over seeds, band = min-max)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def frontier_points(scores: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """family, size (k or r), method_tag, params (trainable, median over tasks), avg mean/std/n over seeds."""
    avgs = suite_averages(scores, spec.columns)
    rows = []
    for family, rx, fmt in spec.frontier:
        for tag in sorted(set(scores["method_tag"])):
            m = re.fullmatch(rx, tag)
            if not m:
                continue
            a = avgs.loc[avgs["method_tag"] == tag, "avg"]
            params = scores.loc[scores["method_tag"] == tag, "trainable_params"].median()
            rows.append({"family": family, "size": fmt.format(m.group(1).replace("matchk", "match k=")), "method_tag": tag, "params": params,
                         "mean": a.mean() if len(a) else math.nan, "std": a.std() if len(a) > 1 else 0.0, "n_seeds": len(a)})
    return pd.DataFrame(rows, columns=["family", "size", "method_tag", "params", "mean", "std", "n_seeds"])


def plot_frontier(scores: pd.DataFrame, spec: StudySpec, path: str | Path) -> Path:
    """Suite average vs trainable parameters (log x), one line per family (NeuroAda k, LoRA r), error bars = std
    over seeds; the reference methods (head only, full FT) as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _save

    pts = frontier_points(scores, spec)
    pts = pts[pts["n_seeds"] > 0]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = [("#2A9D8F", "o", "-"), ("#264653", "s", "--"), ("#E76F51", "^", "-.")]
    for (family, g), (color, marker, ls) in zip(pts.groupby("family", sort=False), styles):
        g = g.sort_values("params")
        ax.errorbar(g["params"], g["mean"], yerr=g["std"], color=color, marker=marker, ls=ls, capsize=3, label=family)
        for r in g.itertuples(index=False):
            ax.annotate(f"{r.size}" + (f" ({r.n_seeds})" if r.n_seeds < len(spec.seeds) else ""), (r.params, r.mean),
                        textcoords="offset points", xytext=(4, 4), fontsize=7, color=color)
    avgs = suite_averages(scores, spec.columns)
    for tag, ls in zip(spec.reference_lines, (":", "-.")):
        a = avgs.loc[avgs["method_tag"] == tag, "avg"]
        if len(a):
            ax.axhline(a.mean(), color="#6C757D", ls=ls, label=f"{method_label(tag)} ({a.mean():.1f})")
    if len(pts):
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.text(0.5, 0.5, NOT_RUN, ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("trainable parameters (log scale, classification head included)")
    ax.set_ylabel(f"{spec.suite_label} (mean ± std over seeds)")
    ax.set_title(f"{spec.name}: {spec.suite_label} vs trainable parameters at the chosen lr\n(n) = number of seeds, when fewer than "
                 f"{len(spec.seeds)}", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------------------
# files


def write_table(out_dir: str | Path, name: str, display: pd.DataFrame, caption: str, note: str = "", *, latex: pd.DataFrame | None = None,
                csv: pd.DataFrame | None = None, formats: Sequence[str] = ("md", "tex")) -> list[Path]:
    """`<name>.md` (caption, table, note), `.tex` (from `latex` when given: its cells may hold LaTeX) and `.csv`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if "md" in formats:
        body = render_markdown(display) if len(display) else render_markdown(display) + "\n(no rows)\n"
        (out_dir / f"{name}.md").write_text(f"**{caption}**\n\n{body}" + (f"\n{note}\n" if note else ""))
        written.append(out_dir / f"{name}.md")
    if "tex" in formats:
        (out_dir / f"{name}.tex").write_text(render_latex(latex if latex is not None else display, caption=caption, label=f"tab:{name}"))
        written.append(out_dir / f"{name}.tex")
    if csv is not None:
        csv.to_csv(out_dir / f"{name}.csv", index=False)
        written.append(out_dir / f"{name}.csv")
    return written


def write_intervals_and_claims(out_dir: str | Path, items: Mapping, spec: StudySpec, caption: str, heading: str,
                               runs_summary: str) -> tuple[list[IntervalRow], str, str]:
    """`<spec.name>_intervals.{md,csv}` (every comparison's paired interval and verdict) and `<spec.name>_claims.md`
    (one sentence a claim under `heading`); returns the interval rows and the two pages' Markdown."""
    out_dir = Path(out_dir)
    rows = interval_rows(items, spec)
    long, display = intervals_frame(rows, spec)
    write_table(out_dir, f"{spec.name}_intervals", display, caption, intervals_note(spec), csv=long, formats=("md",))
    claims = claim_sentences(rows, spec)
    claims_md = (f"# {heading}\n\n" + "\n\n".join(sentence for _, sentence in claims.values())
                 + f"\n\nIntervals: `{spec.name}_intervals.md`; rules: its note and `neuroada.analysis.stats`. Runs: {runs_summary}\n")
    (out_dir / f"{spec.name}_claims.md").write_text(claims_md)
    return rows, (out_dir / f"{spec.name}_intervals.md").read_text(), claims_md


__all__ = ["Comparison", "GLUE_STUDY", "IntervalRow", "StudySpec", "chosen_lrs", "claim_sentences", "display_method_rows", "fmt_lr",
           "frontier_points", "head_params", "incomplete_runs", "interval_rows", "intervals_frame", "ledger_summary", "lr_table",
           "main_table", "method_rows", "plot_curves", "plot_frontier", "run_ledger", "scores_frame", "selection_table",
           "suite_averages", "write_intervals_and_claims", "write_table"]
