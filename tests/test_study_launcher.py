"""The study launchers: the STOP pause, the DRAIN wind-down, ARMS, and seeds only at an lr inside its grid."""
import os
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


def test_widen_queues_the_next_lr_of_a_choice_at_the_edge(tmp_path):
    out, jobs = launch(tmp_path, phase="widen", choices=EDGE + INSIDE)
    assert out.returncode == 0 and len(jobs) == 1, out.stderr
    assert "task=rte" in jobs[0] and "trainer.lr=0.000333" in jobs[0] and "seed=1" in jobs[0]


@pytest.mark.parametrize("arms, expected", [("", 2), ("dora", 2), ("lora", 0)])
def test_decoder_dora_follows_loras_final_lr_and_arms(tmp_path, arms, expected):
    env = {"ARMS": arms} if arms else {}
    out, jobs = launch(tmp_path, phase="cs-seeds", choices=LORA_INSIDE, launcher="decoder_study", **env)
    dora = [j for j in jobs if "method=dora" in j]
    assert out.returncode == 0 and len(dora) == expected, out.stderr
    assert all("trainer.lr=0.001" in j for j in dora)
