"""Eval sets that an earlier attempt of the same run finished scoring, so a relaunch does not score them again.

A study's run is killed and relaunched often; a generation eval set can take many minutes (a decoder run's
eight test sets take ~17). After each set, the run writes `eval_done/<tag>_<set>.json` (atomically, after the
set's predictions file) with its metrics and a key: a digest of the items, the eval settings that a run id leaves
out (eval batch size, predictions format), and for the `after` pass which trained model was scored (step and
chosen checkpoint). A relaunch reuses an entry only when the key matches and the predictions file is there.
`SharedScores` does the same across the runs of a sweep for the untrained model; `EvalCache` is the one place a
run asks both. `InRunScores` keeps the selection set's scores from the evaluations during training, so that the
pass after training takes the chosen checkpoint's instead of decoding the set again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any, Sequence

from neuroada.io_utils import atomic_copy, atomic_write_text
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

    def __init__(self, run_dir: Path, who: str = "an earlier attempt of this run"):
        self.root = Path(run_dir) / DIR
        self.who = who  # for the log: whose scores these are

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
            log.info("eval %s %s: %s scored other items or another model; not reused", tag, set_name, self.who)
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
        self.who = f"{self.DIR}/{digest}"  # relative to the output root, as records name it
        self._store = FinishedSets(self.root, who=self.who)

    def metrics(self, set_name: str, key: dict[str, Any], predictions: Path) -> dict | None:
        """The stored metrics for this set and key (`predictions` names the run's file), else None."""
        return self._store.metrics("before", set_name, key, self.root / predictions.name)

    def copy_predictions(self, predictions: Path) -> None:
        atomic_copy(self.root / predictions.name, predictions)

    def publish(self, set_name: str, key: dict[str, Any], metrics: dict, predictions: Path) -> None:
        context = self.root / "context.json"  # what the digest stands for, for a reader of the folder
        if not context.exists():
            atomic_write_text(context, json.dumps(self.context, sort_keys=True, indent=1, default=str) + "\n")
        atomic_copy(predictions, self.root / predictions.name)
        self._store.save("before", set_name, key, metrics)


class EvalCache:
    """Where a run's eval passes find sets scored already: this run's earlier attempt (`eval_done/`), then, for the
    untrained model, the sweep's shared store. `reused` maps `<tag>_<set>` to who scored what a pass took."""

    def __init__(self, run_dir: Path, settings: dict[str, Any], reuse: bool, shared: SharedScores | None = None):
        self.finished = FinishedSets(run_dir)
        self.settings = settings  # the eval settings a run id leaves out (eval batch size, predictions format)
        self.reuse = reuse  # False (resume=false): score everything, keep nothing
        self.shared = shared
        self.reused: dict[str, str] = {}
        self._digests: dict[int, tuple[Sequence[Example], str]] = {}  # holds the list, so its id stays its own

    def key(self, examples: Sequence[Example], scored: dict[str, Any]) -> dict[str, Any]:
        """What a set's scores depend on beyond the run id: its items, the eval settings, the model scored."""
        if id(examples) not in self._digests:
            self._digests[id(examples)] = (examples, items_digest(examples))
        return {"items": self._digests[id(examples)][1], **self.settings, **scored}

    def find(self, tag: str, set_name: str, key: dict[str, Any], predictions: Path) -> tuple[dict | None, str]:
        """(metrics, who scored them) when this set was scored under `key` already, else (None, "")."""
        if not self.reuse:
            return None, ""
        done = self.finished.metrics(tag, set_name, key, predictions)
        if done is not None:
            return done, self.finished.who
        if self.shared is not None and tag == "before":
            done = self.shared.metrics(set_name, key, predictions)
            if done is not None:
                return done, self.shared.who
        return None, ""

    def take(self, tag: str, set_name: str, key: dict[str, Any], predictions: Path) -> dict | None:
        """`find`, and when found: the shared predictions copied into this run (with a run-local entry) and the
        source noted in `reused`."""
        done, who = self.find(tag, set_name, key, predictions)
        if done is None:
            return None
        if self.shared is not None and who == self.shared.who:
            self.shared.copy_predictions(predictions)
            self.finished.save(tag, set_name, key, done)
        self.note_reused(tag, set_name, who)
        log.info("%s %s: scored before by %s; not scored again (predictions: %s)", tag, set_name, who, predictions)
        return done

    def note_reused(self, tag: str, set_name: str, who: str) -> None:
        """A pass took this set's scores from `who` instead of decoding it (the record's `eval_reused`)."""
        self.reused[f"{tag}_{set_name}"] = who

    def save(self, tag: str, set_name: str, key: dict[str, Any], metrics: dict, predictions: Path) -> None:
        """After a set is scored and its predictions written: kept for a relaunch, and shared when untrained."""
        if self.reuse:
            self.finished.save(tag, set_name, key, metrics)
        if self.shared is not None and tag == "before":
            self.shared.publish(set_name, key, metrics, predictions)


class InRunScores:
    """A generation task's selection set as the Trainer's evaluations scored it during training, one entry per step.

    The chosen checkpoint was scored when it was trained (that score chose it); decoding the set once more after
    training would give the same answers (NeuroAda's and full fine-tuning's weights are the same merged or not; a
    peft adapter's differ by rounding) at the cost of a whole pass (an arithmetic selection set: ~15 min on a CPU).
    Each evaluation writes `in_run/step<N>_<set>.jsonl[.gz]` and its `eval_done/` entry, keyed by the items, the eval
    settings, the step and the commit; `take` gives the after pass a step's scores and predictions, or None.
    """

    DIR = "in_run"  # not `predictions/`: only the chosen step's file becomes the run's after_<set> predictions

    def __init__(self, run_dir: Path, cache: EvalCache, set_name: str, examples: Sequence[Example], commit: str | None,
                 compact: bool):
        self.run_dir, self.cache, self.set_name, self.examples = Path(run_dir), cache, set_name, examples
        self.commit, self.compact = commit, compact

    def _tag(self, step: int) -> str:
        return f"in_run_step{step}"

    def _key(self, step: int) -> dict[str, Any]:
        return self.cache.key(self.examples, {"pass": "in-run", "step": step, "commit": self.commit})

    def _path(self, step: int) -> Path:
        return self.run_dir / self.DIR / f"step{step}_{self.set_name}.jsonl{'.gz' if self.compact else ''}"

    def save(self, step: int, result) -> None:
        """After the Trainer's evaluation at `step`: its predictions, then the entry naming them (atomically each)."""
        result.save_predictions(self._path(step), compact=self.compact)
        self.cache.finished.save(self._tag(step), self.set_name, self._key(step), result.metrics)

    def take(self, step: int, predictions: Path) -> dict | None:
        """The metrics of the evaluation at `step` (this attempt's or an earlier one's on the same commit), its
        predictions copied to `predictions`; None when that step was not scored under this key."""
        metrics = self.cache.finished.metrics(self._tag(step), self.set_name, self._key(step), self._path(step))
        if metrics is None:
            return None
        atomic_copy(self._path(step), predictions)
        self.cache.note_reused("after", self.set_name, f"the evaluation during training at step {step}")
        log.info("after %s: the chosen checkpoint (step %d) was scored during training; not scored again (predictions: %s)",
                 self.set_name, step, predictions)
        return metrics
