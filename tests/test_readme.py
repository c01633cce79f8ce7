"""The README's commands are what CI runs, and they work from any directory with a relative data path."""
import os
import re
import subprocess
from pathlib import Path

import pytest

from neuroada.tasks import load_task
from neuroada.tasks.errors import MissingDataError
from neuroada.tasks.registry import load_task_config

REPO = Path(__file__).resolve().parents[1]


def _block(heading: str) -> str:
    text = (REPO / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1]
    return re.search(r"```bash\n(.*?)\n", section).group(1)


def test_ci_runs_the_readmes_test_command_verbatim():
    printed = subprocess.run(["bash", ".ci/run"], cwd=REPO, env={**os.environ, "PRINT_ONLY": "1"},
                             capture_output=True, text=True, check=True).stdout.strip()
    assert printed == _block("Tests")
    assert "pytest" in printed and "NEUROADA_DATA_DIR=../shared/data" in printed


def test_quick_start_runs_the_default_job():
    assert _block("Quick start (fresh machine, CPU, offline)") == "bash scripts/setup.sh && .venv/bin/python src/run.py"


@pytest.mark.parametrize("given", ["relative", "absolute"])
def test_missing_data_message_names_the_given_and_the_resolved_directory(tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    value = "data" if given == "relative" else str(tmp_path / "data")
    with pytest.raises(MissingDataError) as info:
        load_task(load_task_config("qqp"), value)
    message = str(info.value)
    assert f"data_dir={value}" in message and f"resolved to {tmp_path / 'data'}" in message
    monkeypatch.setenv("NEUROADA_DATA_DIR", value)
    with pytest.raises(MissingDataError, match=f"NEUROADA_DATA_DIR={re.escape(value)}, resolved to"):
        load_task(load_task_config("qqp"))


def test_records_keep_paths_portable(tmp_path):
    from neuroada.records import data_hashes, portable_path

    beside = REPO.parent / "shared" / "data"
    assert portable_path(beside) == "../shared/data"
    assert portable_path(REPO / "results" / "runs") == "results/runs"
    assert portable_path(Path("/opt/somewhere/else/data")) == "data"
    (tmp_path / "glue").mkdir()
    (tmp_path / "glue" / "x.tsv").write_text("a\tb\n")
    assert list(data_hashes([tmp_path / "glue" / "x.tsv"], root=tmp_path)) == ["glue/x.tsv"]
    assert portable_path(tmp_path / "run" / "checkpoints" / "checkpoint-2", tmp_path / "run") == "checkpoints/checkpoint-2"


def test_records_keep_paths_portable_through_a_symlinked_data_dir(tmp_path, monkeypatch):
    """A clone whose ../shared is a symlink (a common layout) still records ../shared/data, not the
    symlink target's name; a run folder reached through a symlink keeps its relative paths too."""
    from neuroada import records

    (tmp_path / "store" / "data").mkdir(parents=True)
    (tmp_path / "work" / "repo").mkdir(parents=True)
    (tmp_path / "work" / "shared").symlink_to(tmp_path / "store")
    monkeypatch.setattr(records, "REPO", tmp_path / "work" / "repo")
    assert records.portable_path(tmp_path / "work" / "repo" / ".." / "shared" / "data") == "../shared/data"
    assert records.portable_path(tmp_path / "work" / "shared" / "data") == "../shared/data"
    (tmp_path / "work" / "repo" / "run").mkdir()
    (tmp_path / "work" / "repo" / "run" / "ckpt").symlink_to(tmp_path / "store")
    run = tmp_path / "work" / "repo" / "run"
    assert records.portable_path(run / "ckpt" / "data", run) == "ckpt/data"


STUDY_SECTIONS = {"glue_study": "## The GLUE study (`runs/glue_study/`)",
                  "decoder_study": "## The decoder study (`runs/decoder_study/`)"}


@pytest.mark.parametrize("study", sorted(STUDY_SECTIONS))
def test_results_readme_states_what_the_committed_records_and_tables_say(study):
    """results/README.md's study section: its record count and per-commit counts are the committed records', each
    record names a clean commit, and its status table is the notebook's `tables/<study>_status.md`, row for row; the
    README's summary gives the same record count."""
    from collections import Counter

    from neuroada.analysis import load_records

    results = REPO / "results"
    text = (results / "README.md").read_text()
    section = text.split(STUDY_SECTIONS[study], 1)[1].split("\n## ", 1)[0]
    records = load_records(results / "runs" / study)
    assert records and not [r["run_id"] for r in records if r["git"].get("dirty") is not False]
    by_commit = Counter(r["git"]["commit"][:7] for r in records)

    stands = re.search(r"\*\*Where it stands \([^)]*\): (\d+) records[^(]*\(([^;)]*)", section)
    assert stands, "no 'Where it stands (...): N records ... (n at <commit>, ...' line"
    assert int(stands.group(1)) == len(records)
    assert {sha: int(n) for n, sha in re.findall(r"(\d+) at ([0-9a-f]{7})", stands.group(2))} == dict(by_commit)

    status = (results / "tables" / f"{study}_status.md").read_text()
    assert f"Runs: {len(records)} run records" in status
    rows = [line for line in status.splitlines() if line.startswith("| ")]
    assert len(rows) > 2 and not [row for row in rows if row not in section.splitlines()]
    summary = re.search(rf"`experiments/{study}/run.sh`[^)]*?(\d+) of its runs committed", (REPO / "README.md").read_text())
    assert summary and int(summary.group(1)) == len(records)
