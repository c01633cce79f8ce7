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
import shutil
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
