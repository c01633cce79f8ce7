"""The study launchers' pause: `touch <OUT>/STOP` ends a stream after the job that stopped at a checkpoint."""
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def launch(tmp_path, job_status: int):
    fake = tmp_path / "python"  # stands in for the venv's python: logs each job, exits as a stopped or finished run
    fake.write_text(f'#!/usr/bin/env bash\necho job >> "{tmp_path}/jobs.log"\nexit {job_status}\n')
    fake.chmod(0o755)
    env = {**os.environ, "PY": str(fake), "OUT": str(tmp_path / "out"), "STREAM": "0", "NSTREAMS": "1"}
    out = subprocess.run(["bash", "experiments/glue_study/run.sh", "tune"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    jobs = (tmp_path / "jobs.log").read_text().count("job") if (tmp_path / "jobs.log").exists() else 0
    return out, jobs


def test_a_job_stopped_at_a_checkpoint_ends_the_stream(tmp_path):
    out, jobs = launch(tmp_path, job_status=3)
    assert out.returncode == 3 and jobs == 1, out.stdout + out.stderr
    assert "stopped at a checkpoint" in out.stdout


def test_a_stop_file_before_a_job_starts_none(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "STOP").touch()
    out, jobs = launch(tmp_path, job_status=0)
    assert out.returncode == 3 and jobs == 0 and "STOP exists" in out.stdout


def test_without_a_stop_every_job_of_the_stream_runs(tmp_path):
    out, jobs = launch(tmp_path, job_status=0)
    assert out.returncode == 0 and jobs == 45, out.stdout[-500:] + out.stderr[-500:]  # 9 methods x 5 tasks, one multirun each
