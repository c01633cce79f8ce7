"""Every analysis notebook runs (nbclient) on fixture results and writes its tables and figures."""
from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from fixture_results import make_decoder_study_fixture, make_fixture_results, make_glue_study_fixture  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
# What each notebook must produce from the fixture results (relative to the results root).
EXPECTED = {
    "comparison_tables": [f"tables/{s}.{ext}" for s in ("commonsense", "math", "synthetic") for ext in ("md", "tex", "csv")]
    + ["tables/runs.md", "tables/runs.tex", "figures/scores_commonsense.png", "figures/scores_math.png"],
    "memory": [f"figures/memory_{kind}_{m}.png" for kind in ("by_method", "vs_k", "by_method_ckpt") for m in ("llama-7b", "llama3-8b")]
    + ["figures/memory_validation.png", "figures/memory_runs.png", "figures/memory_checkpointing.png", "figures/memory_fits.png"]
    + ["figures/cuda_validation.png", "figures/cuda_bench.png", "tables/cuda_bench.csv"]
    + [f"tables/cuda_{name}.{ext}" for name in ("validation", "bench") for ext in ("md", "tex")]
    + [f"tables/memory{name}.{ext}" for name in ("", "_validation", "_ckpt", "_checkpointing", "_fits") for ext in ("md", "tex")],
    "glue_study": [f"tables/glue_study_main.{ext}" for ext in ("md", "tex", "csv")]
    + ["tables/glue_study_lr.md", "tables/glue_study_lr.csv", "tables/glue_study_intervals.md", "tables/glue_study_intervals.csv",
       "tables/glue_study_claims.md", "tables/glue_study_status.md", "tables/glue_study_answers.md", "tables/glue_study_selection.md", "tables/glue_study_selection.tex",
       "figures/glue_study_frontier.png", "figures/glue_study_curves.png"],
    "decoder_study": [f"tables/decoder_study_{name}.{ext}" for name in ("main", "paper") for ext in ("md", "tex")]
    + ["tables/decoder_study_main.csv", "tables/decoder_study_lr.md", "tables/decoder_study_answers.md", "tables/decoder_study_agreement.md", "tables/decoder_study_intervals.md", "tables/decoder_study_claims.md", "tables/decoder_study_status.md",
       "figures/decoder_study_frontier.png", "figures/decoder_study_curves.png"],
    "decoder_study_math": [f"tables/decoder_study_math_{name}.{ext}" for name in ("main", "paper") for ext in ("md", "tex")]
    + [f"tables/decoder_study_math_{name}" for name in ("main.csv", "unseen.md", "unseen.csv", "trained.md", "lr.md", "intervals.md", "claims.md", "status.md",
                                                           "unseen_intervals.md", "unseen_claims.md")]
    + ["figures/decoder_study_math_frontier.png", "figures/decoder_study_math_curves.png"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = make_fixture_results(tmp_path_factory.mktemp("results"))
    make_glue_study_fixture(root)  # runs/glue_study: the GLUE study's synthetic records
    make_decoder_study_fixture(root)  # runs/decoder_study: the decoder study's (commonsense and arithmetic)
    return root


def test_every_notebook_is_covered_and_paired():
    notebooks = {p.stem for p in NOTEBOOKS.glob("*.ipynb")}
    assert notebooks == set(EXPECTED)
    for name in notebooks:
        assert (NOTEBOOKS / f"{name}.py").is_file(), f"{name}.ipynb has no paired .py"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paired_py_and_ipynb_agree(name):
    """The .py (percent format) is the reviewed source; the .ipynb must hold the same cells, without outputs."""
    ipynb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    py = jupytext.read(NOTEBOOKS / f"{name}.py")
    assert [(c.cell_type, c.source) for c in ipynb.cells] == [(c.cell_type, c.source) for c in py.cells]
    assert all(not c.get("outputs") for c in ipynb.cells if c.cell_type == "code"), "commit notebooks without outputs"
    assert "ipynb,py:percent" in str(ipynb.metadata.get("jupytext", {}).get("formats", "")) or (NOTEBOOKS / "jupytext.toml").is_file()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_executes_on_fixture_results(name, results, monkeypatch):
    monkeypatch.setenv("NEUROADA_RESULTS", str(results))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    for rel in EXPECTED[name]:
        path = results / rel
        assert path.is_file(), f"{name} did not write {rel}"
        assert path.stat().st_size > 0, f"{name} wrote an empty {rel}"
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_one_command_regenerates_every_table_and_figure_and_says_what_it_wrote(tmp_path):
    """`bash scripts/figures.sh` (the README's command) runs every notebook and lists each file it wrote."""
    import os
    import subprocess

    results = make_fixture_results(tmp_path / "results")
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(["bash", "scripts/figures.sh", "--results", str(results)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    expected = sorted({rel for rels in EXPECTED.values() for rel in rels})
    listed = [line.strip().split(" (")[0] for line in out.stdout.splitlines() if line.startswith("  ") and " (" in line]
    assert set(expected) <= set(listed), sorted(set(expected) - set(listed))
    assert all((results / rel).is_file() for rel in listed)
    assert "wrote " in out.stdout and f"under {results}" in out.stdout
    again = subprocess.run(["bash", "scripts/figures.sh", "--results", str(results), "--notebooks", "nothing_like_this"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1 and "no such notebook" in again.stderr
