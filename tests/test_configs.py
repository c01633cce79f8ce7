"""Every model x task x method combination (and every experiment preset) composes and resolves."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.fixture(scope="module")
def hydra_conf():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield


def test_groups_hold_the_paper_options():
    assert set(options("method")) >= {"neuroada", "lora", "dora", "shira", "full", "masked", "head_only"}
    assert set(options("model")) >= {"llama-7b", "llama-13b", "llama2-7b", "llama3-8b", "roberta-base", "roberta-large", "smollm2-135m", "minilm-l6", "tiny-llama"}
    study_variants = {"commonsense15k_study", "math10k_study"}  # the same tasks with a selection set
    assert len([t for t in options("task") if t not in ("addition", "commonsense15k", "commonsense170k", "math10k", *study_variants)]) == 23


@pytest.mark.parametrize("group", ["model", "task", "method", "trainer", "logger"])
def test_every_group_option_composes_through_hydra(hydra_conf, group):
    for option in options(group):
        cfg = OmegaConf.to_container(compose("config", overrides=[f"{group}={option}"]), resolve=True)
        name = option.removesuffix("_study") if group == "task" else option  # a study variant keeps its task's name
        assert cfg[group]["name"] == name if group in ("model", "task", "method", "logger") else cfg[group]


def test_every_model_task_method_combination_resolves(hydra_conf):
    """Hydra places each group file under its key, so the cross product is the base config with the three
    nodes swapped; resolving it checks every cross-group interpolation (e.g. method -> model targets)."""
    base = compose("config")
    nodes = {g: {o: compose("config", overrides=[f"{g}={o}"])[g] for o in options(g)} for g in ("model", "task", "method")}
    count = 0
    for model, model_node in nodes["model"].items():
        for task, task_node in nodes["task"].items():
            for method, method_node in nodes["method"].items():
                cfg = base.copy()
                cfg.model, cfg.task, cfg.method = model_node, task_node, method_node
                resolved = OmegaConf.to_container(cfg, resolve=True)
                assert (resolved["model"]["name"], resolved["task"]["name"], resolved["method"]["name"]) == (model, task.removesuffix("_study"), method)
                if method not in ("full", "head_only", "untrained"):
                    assert resolved["method"]["target_modules"], (model, method)
                count += 1
    assert count == len(options("model")) * len(options("task")) * len(options("method"))


@pytest.mark.parametrize("experiment", options("experiment"))
def test_experiment_presets_compose(hydra_conf, experiment):
    cfg = OmegaConf.to_container(compose("config", overrides=[f"experiment={experiment}"]), resolve=True)
    model, suite, top = experiment.split("_")
    assert cfg["model"]["name"].replace("-", "") == model
    assert cfg["task"]["name"] == {"commonsense": "commonsense170k", "math": "math10k"}[suite]
    assert cfg["method"]["k"] == int(top.removeprefix("top"))
    assert cfg["trainer"]["precision"] == "bf16" and cfg["trainer"]["epochs"] == 3


@pytest.mark.parametrize("group", ["model", "task", "method"])
def test_unknown_group_option_is_a_clear_error(hydra_conf, group):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match=rf"(?s)Could not find '{group}/nonexistent'.*Available options in '{group}'"):
        compose("config", overrides=[f"{group}=nonexistent"])


def _launcher_commands() -> list[list[str]]:
    """Every `src/run.py -m` command of the launchers, as DRY_RUN prints it (cpu_scale: read from the script)."""
    import shlex
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    cmds = []
    for script in sorted((repo / "experiments" / "paper").glob("*.sh")):
        if script.name.startswith("_") or script.name == "memory.sh":
            continue
        out = subprocess.run(["bash", str(script)], cwd=repo, env={"DRY_RUN": "1", "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, check=True)
        cmds += [shlex.split(line[2:]) for line in out.stderr.splitlines() if line.startswith("+ ")]
    for study, phase in (("glue_study", "tune"), ("decoder_study", "cs-tune"), ("decoder_study", "math-tune")):
        out = subprocess.run(["bash", str(repo / "experiments" / study / "run.sh"), phase], cwd=repo,
                             env={"DRY_RUN": "1", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, check=True)
        cmds += [shlex.split(line.split(" -m ", 1)[1]) for line in out.stdout.splitlines() if " src/run.py -m " in line]
    text = (repo / "experiments" / "cpu_scale" / "run.sh").read_text()
    for line in text.splitlines():
        if 'src/run.py -m "${base[@]}"' in line:
            cmds.append(shlex.split(line.split('"${base[@]}"', 1)[1]))
    return cmds


def test_launcher_sweeps_compose_with_the_default_method_first(hydra_conf):
    """Hydra composes a multirun with every sweep at its default before expanding it: an override of a key
    that only the swept methods have (method.r under method=lora,dora) must be written `++method.r`."""
    cmds = _launcher_commands()
    assert len(cmds) >= 8
    for cmd in cmds:
        overrides = [o for o in cmd if "=" in o and not o.startswith("-") and "," not in o.split("=", 1)[1].strip("[]")
                     and not o.startswith(("hydra/", "experiment="))]
        sweeps_method = any(o.startswith("method=") and "," in o for o in cmd)
        if sweeps_method:
            compose("config", overrides=overrides)  # what Hydra composes first; raises on a plain method.r


@pytest.mark.parametrize("study, n_jobs", [("glue_study", 45), ("decoder_study", 8)])
def test_study_tuning_jobs_compose(hydra_conf, study, n_jobs):
    """Every tuning job of a study composes at each of its swept values (a typo fails here, not hours in).
    GLUE: 9 methods x 5 tasks; decoder: 4 tuned methods x (commonsense, arithmetic)."""
    import itertools

    jobs = [c for c in _launcher_commands() if f"output_root=results/runs/{study}" in c]
    assert len(jobs) == n_jobs
    for cmd in jobs:
        fixed = [o for o in cmd if "," not in o.split("=", 1)[1]]
        sweeps = [[f"{o.split('=', 1)[0]}={v}" for v in o.split("=", 1)[1].split(",")] for o in cmd if "," in o.split("=", 1)[1]]
        for combo in itertools.product(*sweeps):
            cfg = compose("config", overrides=[*fixed, *combo])
            assert cfg.trainer.eval_strategy == "steps" and cfg.predictions == "compact" and cfg.task.get("selection_set") in (None, "validation")
            assert study != "decoder_study" or cfg.task.get("selection_set") == "validation"


def test_glue_study_gives_each_task_its_step_budget(hydra_conf):
    """The same steps for every method on a task, per task (the launcher's TASK_ARGS): a task without its
    budget would fall back to the trainer default and run a different protocol."""
    budgets = {"rte": (400, 50), "mrpc": (200, 50), "stsb": (200, 50), "cola": (800, 100), "sst2": (200, 50)}
    jobs = [c for c in _launcher_commands() if "output_root=results/runs/glue_study" in c]
    seen = set()
    for cmd in jobs:
        cfg = compose("config", overrides=[o if "," not in o else o.split(",")[0] for o in cmd])
        assert (cfg.trainer.max_steps, cfg.trainer.eval_steps) == budgets[cfg.task.name], cmd
        seen.add(cfg.task.name)
    assert seen == set(budgets)


@pytest.mark.integration
def test_decoder_study_commonsense_trains_a_full_epoch_of_at_least_100_steps(hydra_conf, data_dir):
    """Issue 13 asks for >= 100 training steps: the cs-tune jobs' subsample, less the examples whose prompt fills
    max_length (dropped by tokenize_for_causal_lm), must give 100 batches, the same for every job."""
    import math

    from neuroada.models import load_tokenizer
    from neuroada.tasks import load_task
    from neuroada.tasks.datasets import tokenize_for_causal_lm

    jobs = [c for c in _launcher_commands() if "output_root=results/runs/decoder_study" in c and "task=commonsense15k_study" in c]
    cfgs = [compose("config", overrides=[o if "," not in o else o.split(",")[0] for o in cmd]) for cmd in jobs]
    settings = {(c.task.max_train_samples, c.trainer.batch_size, c.trainer.max_length, c.trainer.epochs, c.trainer.max_steps) for c in cfgs}
    assert len(settings) == 1, settings  # one protocol for every method
    cfg = cfgs[0]
    task_cfg = OmegaConf.to_container(cfg.task, resolve=True)
    task = load_task({**task_cfg, "eval_sets": {"validation": task_cfg["eval_sets"]["validation"]}}, data_dir)
    features = tokenize_for_causal_lm(task.train, load_tokenizer(cfg.model), cfg.trainer.max_length, cfg.task.prompt_template)
    assert len(task.train) == cfg.task.max_train_samples
    assert math.ceil(len(features) / cfg.trainer.batch_size) * cfg.trainer.epochs == 100 and cfg.trainer.max_steps == -1


def _decoder_jobs(tmp_path, task: str, phase: str) -> list[list[str]]:
    """The decoder launcher's DRY_RUN commands for `phase`, over tuning records that put every arm's choice inside its grid."""
    import json
    import os
    import shlex
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    grids = {"neuroada-k20": (1e-3, 3e-3, 1e-2), "neuroada-k1": (3e-3, 1e-2, 3e-2), "lora-rmatchk20": (3e-4, 1e-3, 3e-3), "full": (1e-5, 3e-5, 1e-4)}
    tmp_path.mkdir(exist_ok=True)
    for tag, grid in grids.items():
        for i, lr in enumerate(grid):
            d = tmp_path / f"{tag}_{i}"
            d.mkdir()
            (d / "record.json").write_text(json.dumps({
                "run_id": d.name, "status": "completed", "seed": 1, "task": task, "method_tag": tag, "primary_metric": "accuracy",
                "config": {"trainer": {"lr": lr}}, "metrics": {"validation": {"accuracy": 0.5 + 0.1 * (i == 1)}}}))
    env = {"DRY_RUN": "1", "PATH": os.environ["PATH"], "OUT": str(tmp_path), "PY": str(Path(os.sys.executable))}
    out = subprocess.run(["bash", "experiments/decoder_study/run.sh", phase], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return [shlex.split(line.split(" -m ", 1)[1]) for line in out.stdout.splitlines() if " src/run.py -m " in line]


def test_decoder_seed_phase_runs_dora_at_loras_choice_and_scores_the_untrained_model_once(hydra_conf, tmp_path):
    """cs-seeds: DoRA at LoRA's chosen lr, its first seed with eval_before=true (the floor of C3), the others
    without; every other tuned method at its own choice. The jobs compose."""
    cmds = _decoder_jobs(tmp_path, "commonsense15k", "cs-seeds")
    dora = [c for c in cmds if "method=dora" in c]
    assert [next(o for o in c if o.startswith("seed=")) for c in dora] == ["seed=1", "seed=2"]
    assert all("trainer.lr=0.001" in c for c in dora)
    assert ["eval_before=true" in c for c in dora] == [True, False] and "eval_before=false" in dora[1]
    for tag, lr in (("method.k=20", "0.003"), ("method.k=1", "0.01"), ("method=full", "3e-05")):
        job = [c for c in cmds if tag in c and "method=dora" not in c]
        assert len(job) == 1 and f"trainer.lr={lr}" in job[0] and "seed=1,2" in job[0], (tag, job)
    for cmd in cmds:
        cfg = compose("config", overrides=[o if "," not in o else o.split(",")[0] for o in cmd])
        assert cfg.eval_before == ("eval_before=true" in cmd)


def test_decoder_arithmetic_floor_is_a_run_of_its_own_and_doras_seed_scores_no_before_pass(hydra_conf, tmp_path):
    """math-seeds: DoRA seed 1 at LoRA's choice without eval_before (that pass would make it ~3 h); math-floor: one
    method=untrained run on the arithmetic protocol that scores every set (eval_test true) and trains nothing."""
    dora = [c for c in _decoder_jobs(tmp_path / "seeds", "math10k", "math-seeds") if "method=dora" in c]
    assert len(dora) == 1 and "seed=1" in dora[0] and "trainer.lr=0.001" in dora[0] and "eval_before=false" in dora[0]
    (floor,) = _decoder_jobs(tmp_path / "floor", "math10k", "math-floor")
    cfg = compose("config", overrides=floor)
    assert cfg.method.name == "untrained" and cfg.task.selection_set == "validation" and cfg.eval_test and cfg.seed == 1
    assert cfg.task.max_eval_samples == 400 and cfg.task.max_new_tokens == 256 and not cfg.eval_before
