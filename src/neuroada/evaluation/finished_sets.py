"""Eval sets that an earlier attempt of the same run finished scoring, so a relaunch does not score them again.

A study's run is killed and relaunched often; a generation eval set can take many minutes (a decoder run's
eight test sets take ~17). After each set, the run writes `eval_done/<tag>_<set>.json` (atomically, after the
set's predictions file) with its metrics and a key: a digest of the items, the eval settings that a run id leaves
out (eval batch size, predictions format), and for the `after` pass which trained model was scored (step and
chosen checkpoint). A relaunch reuses an entry only when the key matches and the predictions file is there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from neuroada.io_utils import atomic_write_text
from neuroada.tasks.example import Example

log = logging.getLogger(__name__)

DIR = "eval_done"


def items_digest(examples: Sequence[Example]) -> str:
    """sha256 over the items' fields, in order: another subsample or another file gives another digest."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps(ex.to_dict(), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


class FinishedSets:
    """The `eval_done/` folder of one run directory."""

    def __init__(self, run_dir: Path):
        self.root = Path(run_dir) / DIR

    def _path(self, tag: str, set_name: str) -> Path:
        return self.root / f"{tag}_{set_name}.json"

    def metrics(self, tag: str, set_name: str, key: dict[str, Any], predictions: Path | None) -> dict | None:
        """The metrics an earlier attempt wrote for this key, or None (never scored, other key, file missing)."""
        path = self._path(tag, set_name)
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):  # absent, or unreadable: score the set again
            return None
        if entry.get("key") != key:
            log.info("eval %s %s: an earlier attempt scored other items or another model; scoring again", tag, set_name)
            return None
        if predictions is not None and not predictions.exists():
            return None
        return entry["metrics"]

    def save(self, tag: str, set_name: str, key: dict[str, Any], metrics: dict) -> None:
        # Not a record: the internal copy keeps NaN (json's default) so that a relaunch returns exactly the
        # metrics of an uninterrupted run; the record written from them is strict JSON as always.
        atomic_write_text(self._path(tag, set_name), json.dumps({"key": key, "metrics": metrics}, sort_keys=True) + "\n")

    def forget(self, tag: str | None = None) -> None:
        """Drops the entries of one pass (`before`, `after`), or all of them."""
        if tag is None:
            shutil.rmtree(self.root, ignore_errors=True)
        elif self.root.is_dir():
            for path in self.root.glob(f"{tag}_*.json"):
                path.unlink(missing_ok=True)


class SharedScores:
    """Scores of the untrained model that every run of a sweep would otherwise repeat.

    The `before` pass scores the base model, which does not depend on the method or its settings: a sweep over k
    (`-m method.k=1,5,20`) would score the same model on the same items once per job (GSM8K's 1,319 items: up to
    hours each on a CPU). The first run stores each set under `<output_root>/.shared_before/<context>/`; a later
    run with the same context (model, dtype, device type, seed, task, prompt length, clean git commit) and the
    same per-set key copies the predictions into its own folder and reads the metrics. Only a clean commit
    shares: on an edited tree the code that scored them is unknown.
    """

    DIR = ".shared_before"  # hidden: not a run folder to the study reports and collect_records.sh

    def __init__(self, output_root: Path, context: dict[str, Any]):
        digest = hashlib.sha256(json.dumps(context, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.root = Path(output_root) / self.DIR / digest
        self.context = context

    def fetch(self, set_name: str, key: dict[str, Any], predictions: Path) -> dict | None:
        """The stored metrics for this set and key, with its predictions copied to `predictions`; else None."""
        entry = FinishedSets(self.root).metrics("before", set_name, key, self.root / predictions.name)
        if entry is None:
            return None
        _atomic_copy(self.root / predictions.name, predictions)
        return entry

    def has(self, set_name: str, key: dict[str, Any], predictions: Path) -> bool:
        return FinishedSets(self.root).metrics("before", set_name, key, self.root / predictions.name) is not None

    def publish(self, set_name: str, key: dict[str, Any], metrics: dict, predictions: Path) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / "context.json", json.dumps(self.context, sort_keys=True, indent=1, default=str) + "\n")
        _atomic_copy(predictions, self.root / predictions.name)
        FinishedSets(self.root).save("before", set_name, key, metrics)


def _atomic_copy(src: Path, dst: Path) -> None:
    """A whole copy or none: concurrent runs of a sweep may publish the same set at once."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
