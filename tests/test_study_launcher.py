"""The study launchers: the STOP pause, the DRAIN wind-down, streams and job claims, ARMS, and seeds only at an lr
inside its grid."""
import fcntl
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EDGE = "rte\tneuroada-k20\t0.001\t0.6\tgrid=0.001,0.003,0.01\twiden=0.000333\n"
INSIDE = "mrpc\tneuroada-k20\t0.003\t0.7\tgrid=0.001,0.003,0.01\n"
LORA_INSIDE = "commonsense15k\tlora-rmatchk20\t0.001\t0.4\tgrid=0.0003,0.001,0.003\n"


def launch(tmp_path, phase="tune", job_status=0, choices="", launcher="glue_study", **env):
    """Run a launcher with a stand-in python: `-m neuroada.analysis.study choose` prints `choices`, a job logs itself."""
    (tmp_path / "choices.tsv").write_text(choices)
    fake = tmp_path / "python"
    fake.write_text(f"""#!/usr/bin/env bash
if [[ " $* " == *" choose "* ]]; then echo choose >> "{tmp_path}/calls.log"; cat "{tmp_path}/choices.tsv"; exit 0; fi
echo "$*" >> "{tmp_path}/jobs.log"
[ ! -f "{tmp_path}/choices_next.tsv" ] || mv "{tmp_path}/choices_next.tsv" "{tmp_path}/choices.tsv"  # what the job chose
held=0; for f in "$OUT"/.hydra/claims/*.lock; do [ -e "$f" ] && ! flock -n "$f" true && held=$((held + 1)); done
echo $held >> "{tmp_path}/held.log"  # how many job claims are held while this job runs
if [ -n "${{SIBLING_FINISHES:-}}" ] && [ ! -f "{tmp_path}/sibling" ]; then  # another stream finishes every other job now
  touch "{tmp_path}/sibling"; sleep 1.1; touch "$OUT"/.hydra/claims/*.done
fi
exit {job_status}
""")
    fake.chmod(0o755)
    env = {**os.environ, "PY": str(fake), "OUT": str(tmp_path / "out"), "STREAM": "0", "NSTREAMS": "1", **env}
    out = subprocess.run(["bash", f"experiments/{launcher}/run.sh", phase], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    log = tmp_path / "jobs.log"
    jobs = log.read_text().splitlines() if log.exists() else []
    return out, jobs


def test_a_job_stopped_at_a_checkpoint_ends_the_stream(tmp_path):
    out, jobs = launch(tmp_path, job_status=3)
    assert out.returncode == 3 and len(jobs) == 1, out.stdout + out.stderr
    assert "stopped (" in out.stdout and "relaunch resumes" in out.stdout


@pytest.mark.parametrize("name", ["STOP", "DRAIN"])
def test_a_stop_or_drain_file_before_a_job_starts_none(tmp_path, name):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / name).touch()
    out, jobs = launch(tmp_path)
    assert out.returncode == 3 and jobs == [] and f"{name} exists" in out.stdout


def test_without_a_stop_every_job_of_the_stream_runs(tmp_path):
    out, jobs = launch(tmp_path)
    assert out.returncode == 0 and len(jobs) == 45, out.stdout[-500:] + out.stderr[-500:]  # 9 methods x 5 tasks


def claim_file(tmp_path, job: str) -> Path:
    """The claim lock study_lib.sh takes for a job (its overrides as the launcher prints them), by its claim_path."""
    out = subprocess.run(["bash", "-c", 'source experiments/study_lib.sh && claim_path "$1"', "_", job], cwd=REPO,
                         env={**os.environ, "OUT": str(tmp_path / "out")}, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip() + ".lock")


def started(stdout: str) -> dict[int, str]:
    """{job index: overrides} of the jobs a launch started, from its log lines."""
    return {int(m[1]): m[2] for m in re.finditer(r"stream \S+ job (\d+): (.*)", stdout)}


@pytest.mark.parametrize("stream", [{"STREAM": "any", "NSTREAMS": "7"}, {"STREAM": "0", "NSTREAMS": "1"}])
def test_a_job_claimed_by_another_stream_is_passed_over(tmp_path, stream):
    out, _ = launch(tmp_path, ARMS="neuroada20", **stream)
    every = started(out.stdout)
    assert sorted(every) == [0, 1, 2, 3, 4], out.stdout
    (tmp_path / "jobs.log").unlink()
    with open(claim_file(tmp_path, every[1]), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another stream is running job 1
        out, jobs = launch(tmp_path, ARMS="neuroada20", **stream)
    assert out.returncode == 0, out.stderr
    assert sorted(started(out.stdout)) == [0, 2, 3, 4] and len(jobs) == 4
    assert "job 1 is running in another stream; next" in out.stdout
    out, _ = launch(tmp_path, ARMS="neuroada20", **stream)  # the claim went with its holder
    assert sorted(started(out.stdout)) == [0, 1, 2, 3, 4]


def test_a_job_another_stream_finished_since_this_one_started_is_passed_over(tmp_path):
    out, _ = launch(tmp_path, STREAM="any", ARMS="neuroada20")  # every job finished once, before the next launch
    assert sorted(started(out.stdout)) == [0, 1, 2, 3, 4]
    out, _ = launch(tmp_path, STREAM="any", ARMS="neuroada20", SIBLING_FINISHES="1")
    assert out.returncode == 0 and sorted(started(out.stdout)) == [0], out.stdout
    assert "job 1 was finished by another stream; next" in out.stdout
    out, _ = launch(tmp_path, STREAM="any", ARMS="neuroada20")  # finished before this stream started: run to be checked
    assert sorted(started(out.stdout)) == [0, 1, 2, 3, 4]


def test_a_stream_of_any_takes_every_job_and_holds_its_claim_while_it_runs(tmp_path):
    out, jobs = launch(tmp_path, STREAM="any", NSTREAMS="2", ARMS="neuroada20,lora")
    assert out.returncode == 0 and len(jobs) == 10, out.stderr
    assert len(list((tmp_path / "out" / ".hydra" / "claims").glob("*.lock"))) == 10
    assert (tmp_path / "held.log").read_text().split() == ["1"] * 10  # its own claim, and no finished job's


@pytest.mark.parametrize("env, message", [({"STREAM": "2", "NSTREAMS": "2"}, "STREAM=2: expected 'any' or a number"),
                                          ({"STREAM": "one"}, "STREAM=one: expected 'any'"),
                                          ({"NSTREAMS": "0"}, "NSTREAMS=0: expected a whole number")])
def test_a_bad_stream_is_refused_before_any_job(tmp_path, env, message):
    out, jobs = launch(tmp_path, **env)
    assert out.returncode == 2 and jobs == [] and message in out.stderr


def test_arms_limits_a_phase_to_the_named_arms(tmp_path):
    out, jobs = launch(tmp_path, ARMS="neuroada20,lora")
    assert out.returncode == 0 and len(jobs) == 10, out.stderr
    assert all(("method=neuroada method.k=20" in j) != ("method=lora" in j) for j in jobs)


def test_an_unknown_arm_is_refused_before_any_job(tmp_path):
    out, jobs = launch(tmp_path, ARMS="neuroada20,lorra")
    assert out.returncode == 2 and jobs == []
    assert "unknown arm 'lorra'" in out.stderr and "neuroada20" in out.stderr


def test_seeds_run_only_at_an_lr_inside_its_grid(tmp_path):
    out, jobs = launch(tmp_path, phase="seeds", choices=EDGE + INSIDE, ARMS="neuroada20")
    assert out.returncode == 0, out.stderr
    assert len(jobs) == 1 and "task=mrpc" in jobs[0] and "seed=1,2,3" in jobs[0] and "trainer.lr=0.003" in jobs[0]
    assert "neuroada-k20/rte: its lr 0.001 is at the edge of its grid=0.001,0.003,0.01" in out.stderr
    assert (tmp_path / "calls.log").read_text().count("choose") == 1  # the choices are read once per launch


def test_seeds_wait_for_the_whole_grid_of_an_interrupted_tune_phase(tmp_path):
    partial = "sst2\tneuroada-k20\t0.003\t0.8\tgrid=0.001,0.003\n"  # 2 of the arm's 3 lrs: the third may win
    out, jobs = launch(tmp_path, phase="seeds", choices=partial + INSIDE, ARMS="neuroada20")
    assert out.returncode == 0, out.stderr
    assert len(jobs) == 1 and "task=mrpc" in jobs[0]
    assert "neuroada-k20/sst2: its grid=0.001,0.003 holds fewer than the arm's 3 lrs" in out.stderr


def test_widen_queues_the_next_lr_of_a_choice_at_the_edge(tmp_path):
    out, jobs = launch(tmp_path, phase="widen", choices=EDGE + INSIDE)
    assert out.returncode == 0 and len(jobs) == 1, out.stderr
    assert "task=rte" in jobs[0] and "trainer.lr=0.000333" in jobs[0] and "seed=1" in jobs[0]


def test_a_partial_grid_is_not_widened_before_its_tune_phase_finishes(tmp_path):
    """Two of three lrs in, the better one at the partial grid's top: widening it (x3.33) would queue a near-copy of
    the third lr the tune phase is about to run."""
    partial = "rte\tneuroada-k20\t0.003\t0.6\tgrid=0.001,0.003\twiden=0.00999\n"
    out, jobs = launch(tmp_path, phase="widen", choices=partial + EDGE.replace("rte", "cola"))
    assert out.returncode == 0 and len(jobs) == 1 and "task=cola" in jobs[0], (out.stderr, jobs)
    assert "neuroada-k20/rte: its grid=0.001,0.003 holds fewer than the arm's 3 lrs" in out.stderr


@pytest.mark.parametrize("launcher, phase", [("glue_study", "widen"), ("decoder_study", "math-widen")])
def test_repeat_widens_again_while_a_choice_stays_at_an_edge_then_stops(tmp_path, launcher, phase):
    """REPEAT=1: after a pass the phase is queued again on the choices its runs made; only new jobs run, and a pass
    with nothing new ends the launch (without REPEAT: one pass)."""
    task = "rte" if launcher == "glue_study" else "math10k"
    edge = f"{task}\tneuroada-k20\t0.01\t0.6\tgrid=0.001,0.003,0.01\twiden=0.0333\n"
    again = f"{task}\tneuroada-k20\t0.0333\t0.7\tgrid=0.001,0.003,0.01,0.0333\twiden=0.111\n"
    for repeat, lrs in (("", ["0.0333"]), ("1", ["0.0333", "0.111"])):
        (tmp_path / repeat).mkdir(exist_ok=True)
        (tmp_path / repeat / "choices_next.tsv").write_text(again)
        out, jobs = launch(tmp_path / repeat, phase=phase, choices=edge, launcher=launcher, STREAM="any",
                           **({"REPEAT": repeat} if repeat else {}))
        assert out.returncode == 0, out.stderr
        assert [re.search(r"trainer\.lr=(\S+)", j)[1] for j in jobs] == lrs, (repeat, jobs)
    assert (tmp_path / "1" / "calls.log").read_text().count("choose") == 3  # the third pass queued nothing new


def test_arithmetic_seeds_wait_for_arithmetics_own_grid(tmp_path):
    """Full FT tunes 2 lrs on commonsense and 3 on arithmetic: 2 arithmetic lrs in is a partial grid, not a choice."""
    partial = "math10k\tfull\t3e-05\t0.1\tgrid=1e-05,3e-05\n"
    out, jobs = launch(tmp_path, phase="math-seeds", choices=partial, launcher="decoder_study")
    assert out.returncode == 0 and not [j for j in jobs if "method=full" in j], (out.stderr, jobs)
    assert "full/math10k: its grid=1e-05,3e-05 holds fewer than the arm's 3 lrs" in out.stderr


def test_repeat_needs_stream_any(tmp_path):
    out, jobs = launch(tmp_path, phase="widen", choices=EDGE, REPEAT="1")
    assert out.returncode == 2 and jobs == [] and "REPEAT=1 needs STREAM=any" in out.stderr


@pytest.mark.parametrize("arms, expected", [("", 2), ("dora", 2), ("lora", 0)])
def test_decoder_dora_follows_loras_final_lr_and_arms(tmp_path, arms, expected):
    env = {"ARMS": arms} if arms else {}
    out, jobs = launch(tmp_path, phase="cs-seeds", choices=LORA_INSIDE, launcher="decoder_study", **env)
    dora = [j for j in jobs if "method=dora" in j]
    assert out.returncode == 0 and len(dora) == expected, out.stderr
    assert all("trainer.lr=0.001" in j for j in dora)


def test_decoder_tuning_runs_defer_their_test_sets_to_the_seeds_phase(tmp_path):
    (tmp_path / "tune").mkdir(), (tmp_path / "seeds").mkdir()
    tune, tune_jobs = launch(tmp_path / "tune", phase="cs-tune", launcher="decoder_study")
    seeds, seed_jobs = launch(tmp_path / "seeds", phase="cs-seeds", choices=LORA_INSIDE, launcher="decoder_study")
    assert tune.returncode == seeds.returncode == 0 and tune_jobs and seed_jobs, tune.stderr + seeds.stderr
    assert all(" eval_test=false " in f" {j} " for j in tune_jobs)
    assert not any("eval_test" in j for j in seed_jobs)
    assert any(" seed=1,2 " in f" {j} " for j in seed_jobs)  # seed 1 is in the seeds phase: it scores the deferred sets


CS_AND_MATH_AT_EDGES = ("commonsense15k\tneuroada-k20\t0.001\t0.4\tgrid=0.001,0.003,0.01\twiden=0.000333\n"
                        "math10k\tlora-rmatchk20\t0.0003\t0.2\tgrid=0.0003,0.001,0.003\twiden=9e-05\n")


@pytest.mark.parametrize("phase, task, lr, suite_args", [
    ("cs-widen", "commonsense15k_study", "0.000333", "trainer.max_length=512"),
    ("math-widen", "math10k_study", "9e-05", "trainer.max_length=384"),
])
def test_each_decoder_suite_widens_only_its_own_choices_with_its_own_budget(tmp_path, phase, task, lr, suite_args):
    out, jobs = launch(tmp_path, phase=phase, choices=CS_AND_MATH_AT_EDGES, launcher="decoder_study")
    assert out.returncode == 0 and len(jobs) == 1, out.stderr
    assert f"task={task} " in jobs[0] and f"trainer.lr={lr}" in jobs[0] and suite_args in jobs[0]
    assert " eval_test=false " in f" {jobs[0]} "


def test_arithmetic_grids_are_centred_on_the_commonsense_choices(tmp_path):
    (tmp_path / "cs").mkdir(), (tmp_path / "math").mkdir()
    _, cs = launch(tmp_path / "cs", phase="cs-tune", launcher="decoder_study")
    out, math = launch(tmp_path / "math", phase="math-tune", launcher="decoder_study")
    assert out.returncode == 0, out.stderr
    grid = lambda jobs, method: next(re.search(r"trainer\.lr=(\S+)", j)[1] for j in jobs if method in j)
    assert grid(cs, "method.k=20") == "1e-3,3e-3,1e-2" and grid(math, "method.k=20") == "3.33e-4,1e-3,3e-3"
    assert grid(math, "method.k=1 ") == "1e-2,3e-2,9e-2" and grid(math, "method=lora") == "9e-5,3e-4,1e-3"
    assert grid(math, "method=full") == "1e-5,3e-5,9e-5" and grid(cs, "method=full") == "1e-5,3e-5"


def test_frontier_tunes_the_small_sizes_and_runs_the_others_at_their_arms_lr(tmp_path):
    """k 2, 5 and LoRA r 2 are tuned like a main arm (tune, widen at an edge, seeds once final); k 10, 50 and r 4, 8,
    16 run at NeuroAda k=20's and LoRA's chosen lr."""
    k2_final = "mrpc\tneuroada-k2\t0.01\t0.7\tgrid=0.003,0.01,0.03\n"
    k5_edge = "rte\tneuroada-k5\t0.03\t0.6\tgrid=0.003,0.01,0.03\twiden=0.09\n"
    lora = "mrpc\tlora-rmatchk20\t0.0003\t0.7\tgrid=9e-05,0.0003,0.001\n"
    out, jobs = launch(tmp_path, phase="frontier", choices=INSIDE + k2_final + k5_edge + lora)
    assert out.returncode == 0, out.stderr
    tune = [j for j in jobs if "trainer.lr=3e-3,1e-2,3e-2" in j or "trainer.lr=1e-4,3e-4,1e-3" in j]
    assert len(tune) == 15 and all("seed=1 " in j for j in tune)
    assert {re.search(r"method\.(k|r)=(\d+)", j).group(0) for j in tune} == {"method.k=2", "method.k=5", "method.r=2"}
    rest = [j for j in jobs if j not in tune]
    assert sorted(re.search(r"task=\w+", j).group(0) + " " + re.search(r"seed=\S+ .*?(?= hydra\.)", j).group(0) for j in rest) == [
        "task=mrpc seed=1,2,3 method=lora ++method.r=4,8,16 trainer.lr=0.0003",
        "task=mrpc seed=1,2,3 method=neuroada method.k=10,50 trainer.lr=0.003",
        "task=mrpc seed=1,2,3 method=neuroada method.k=2 trainer.lr=0.01",
        "task=rte seed=1 method=neuroada method.k=5 trainer.lr=0.09",
    ]
    (tmp_path / "only").mkdir()
    out, jobs = launch(tmp_path / "only", phase="frontier", choices=INSIDE + k2_final, ARMS="neuroada2")
    assert out.returncode == 0 and len(jobs) == 6 and all("method.k=2" in j for j in jobs), (out.stderr, jobs)


@pytest.mark.parametrize("launcher, phase, spec_name", [("glue_study", "grids", "GLUE_STUDY"),
                                                        ("decoder_study", "cs-grids", "DECODER_STUDY"),
                                                        ("decoder_study", "math-grids", "MATH_STUDY")])
def test_each_launcher_grid_has_the_size_its_study_report_counts_complete(launcher, phase, spec_name):
    """The launcher seeds an arm once its whole grid has run; the report marks a choice final at its StudySpec's grid
    size: the two must agree, arm by arm (arithmetic's full FT grid has 3 lrs where commonsense's has 2)."""
    from neuroada.analysis import study_report
    spec = getattr(study_report, spec_name)
    out = subprocess.run(["bash", f"experiments/{launcher}/run.sh", phase], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=60).stdout
    grids = dict(line.split("\t") for line in out.splitlines())
    assert len(grids) >= 5
    assert {tag: len(grid.split(",")) for tag, grid in grids.items()} == {tag: spec.grid_of(tag) for tag in grids}
