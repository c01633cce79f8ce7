"""Regenerates every table and figure of `results/` from the run records: executes the analysis notebooks.

    bash scripts/figures.sh                        # = python -m neuroada.analysis.regenerate
    python -m neuroada.analysis.regenerate --results /elsewhere/results
    python -m neuroada.analysis.regenerate --notebooks comparison_tables

Runs each notebook of `notebooks/` (nbclient, in memory: the committed .ipynb files stay without outputs)
with `NEUROADA_RESULTS` pointing at the results root, then prints every file under `tables/` and `figures/`
that it wrote (new or changed) and how long it took. Nothing is recomputed from models: the notebooks read
`runs/*/record.json`, `reference/` and `memory/` (the memory estimates come from `python -m
neuroada.estimator`, a separate step). Exit status 1 if a notebook fails (its error is printed).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = REPO_ROOT / "notebooks"
OUTPUT_DIRS = ("tables", "figures")


def _snapshot(root: Path) -> dict[Path, tuple[int, str]]:
    """(mtime, content hash) of every file under root/{tables,figures}."""
    return {p: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for d in OUTPUT_DIRS for p in (root / d).rglob("*") if p.is_file()}


def execute(notebook: Path, results: Path, timeout: int = 600) -> None:
    """Executes one notebook against `results`; raises nbclient's CellExecutionError on a failing cell."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    env_before = {k: os.environ.get(k) for k in ("NEUROADA_RESULTS", "MPLBACKEND", "PYTHONPATH")}
    src = str(REPO_ROOT / "src")
    os.environ["NEUROADA_RESULTS"] = str(results)
    os.environ["MPLBACKEND"] = "Agg"
    os.environ["PYTHONPATH"] = os.pathsep.join([src, *[p for p in (env_before["PYTHONPATH"] or "").split(os.pathsep) if p and p != src]])
    try:  # the kernel inherits this environment
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(notebook.parent)}}).execute()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def regenerate(results: Path, names: list[str] | None = None, timeout: int = 600, out=sys.stdout) -> dict[Path, str]:
    """Executes the notebooks; returns the files they wrote under results/{tables,figures}, each with
    "new", "changed" or "same content"."""
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb")) if not names else [NOTEBOOKS / f"{n.removesuffix('.ipynb')}.ipynb" for n in names]
    missing = [str(n) for n in notebooks if not n.is_file()]
    if missing:
        raise FileNotFoundError(f"no such notebook: {', '.join(missing)} (in {NOTEBOOKS})")
    before = _snapshot(results)
    for nb in notebooks:
        t0 = time.perf_counter()
        print(f"executing {nb.relative_to(REPO_ROOT)} ...", file=out, flush=True)
        execute(nb, results, timeout)
        print(f"  done in {time.perf_counter() - t0:.1f} s", file=out, flush=True)
    after = _snapshot(results)
    written = {p: ("new" if p not in before else "changed" if before[p][1] != stamp[1] else "same content")
               for p, stamp in after.items() if before.get(p) != stamp}
    return dict(sorted(written.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Regenerate results/tables and results/figures from the run records (executes notebooks/).")
    ap.add_argument("--results", default=os.environ.get("NEUROADA_RESULTS") or str(REPO_ROOT / "results"),
                    help="results root (default: $NEUROADA_RESULTS or the repository's results/)")
    ap.add_argument("--notebooks", nargs="*", default=None, help="notebook names (default: every notebook in notebooks/)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per notebook cell")
    args = ap.parse_args(argv)
    results = Path(args.results).resolve()
    t0 = time.perf_counter()
    try:
        written = regenerate(results, args.notebooks, args.timeout)
    except Exception as error:  # nbclient's CellExecutionError carries the cell and its traceback
        print(f"failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    changed = sum(v != "same content" for v in written.values())
    print(f"wrote {len(written)} files under {results} ({changed} new or changed) in {time.perf_counter() - t0:.1f} s:")
    for p, what in written.items():
        print(f"  {p.relative_to(results)} ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
