"""What keeps a run folder trustworthy: one process at a time (a lock), the same data as the results it
holds (a skip or a resume on other data is refused), a usable output root, and failures that never
overwrite a completed record."""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock, Timeout
from omegaconf import DictConfig, OmegaConf

from .io_utils import atomic_write_json
from .records import RECORD_FILE, data_hashes, write_record
from .training.callbacks import DRAIN_FILE, StopRequested, stop_requested

log = logging.getLogger(__name__)
LOCK_FILE = ".lock"
DATA_FILE = "data_sha256.json"  # the data a run started on: a resume compares against it
FAILED_RECORD = "record.failed.json"  # a failure next to a completed record (which it must not replace)


class RunLocked(RuntimeError):
    """Another process is running the same run (it holds the run folder's lock)."""


class DataChanged(ValueError):
    """The run folder holds results (or checkpoints) made from other data than this launch would read."""


class OutputRootError(OSError):
    """The run folder cannot be created or written under output_root."""


# ---- the run folder ----------------------------------------------------------------------------------

def make_run_dir(run_dir: Path) -> None:
    """Creates the run folder; an output_root that is a file or is read-only is one clear error."""
    root = run_dir.parent
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}-{threading.get_ident()}"
        probe.touch()
        probe.unlink()
    except OSError as error:
        what = "is a file, not a folder" if root.exists() and not root.is_dir() else \
            f"cannot be written ({error.strerror or error})"
        raise OutputRootError(f"output_root={str(root)!r} {what}: the run folder {run_dir.name} cannot be created "
                              "there. output_root must be a writable folder (it is created if missing)") from None


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Holds `<run_dir>/.lock` for the block; a second process stops at once with RunLocked.

    The lock is an OS file lock (fcntl/msvcrt through `filelock`): it goes away with the process, so a
    killed run never leaves a stale lock behind.
    """
    path = str(Path(run_dir) / LOCK_FILE)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunLocked(f"run {Path(run_dir).name} is already running in another process (it holds {path}). "
                        "This launch stops so that two processes do not train into the same folder; when the other "
                        "one has finished, the same command skips the completed run (or resumes a killed one)") from None
    except OSError as error:
        raise OutputRootError(f"cannot take the run lock {path} ({error.strerror or error}); "
                              "output_root must be a writable folder") from None
    try:
        yield
    finally:
        lock.release()


def exclusive(run_dir_of: Callable[[dict], Path]):
    """Decorates `pipeline.run`: creates the run folder and holds its lock for the whole run.

    A run that would only be skipped (resume on and a completed record there) is left to the pipeline
    without a lock or any write, so completed results stay readable from a read-only output_root. Any other
    run is refused (`StopRequested`, nothing written) while `<output_root>/DRAIN` exists.
    """
    def wrap(fn):
        @functools.wraps(fn)
        def wrapper(cfg, *args, **kwargs):
            plain = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
            run_dir = Path(run_dir_of(plain))
            skip = bool(plain.get("resume")) and completed_record(run_dir) is not None
            drain = None if skip else stop_requested(plain["output_root"], DRAIN_FILE)
            if drain is not None:  # a study winding down (every rank refuses): the runs under way finish, none starts
                raise StopRequested(f"run {run_dir.name} not started because {drain} exists; remove it and run the same "
                                    "command to start it")
            if skip or int(os.environ.get("RANK", "0")) != 0:  # a distributed launch: rank 0 holds the lock for all ranks
                return fn(cfg, *args, **kwargs)
            make_run_dir(run_dir)
            with run_lock(run_dir):
                return fn(cfg, *args, **kwargs)
        return wrapper
    return wrap


def completed_record(run_dir: Path) -> dict | None:
    try:
        record = json.loads((Path(run_dir) / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("status") == "completed" else None


# ---- the data identity -------------------------------------------------------------------------------

def _relative(hashes: dict[str, str], data_dir: str | None) -> dict[str, str]:
    """{path relative to the data folder: sha256}: the same files under another folder are the same data."""
    out = {}
    for name, digest in hashes.items():
        try:
            out[str(Path(name).relative_to(data_dir))] = digest
        except (TypeError, ValueError):
            out[name] = digest
    return out


def _digest(files: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]


def current_data(cfg: dict) -> tuple[str, dict[str, str]]:
    """(data folder, {relative path: sha256}) of the local files this run's task reads."""
    from .pipeline import _data_files
    from .tasks import resolve_data_dir

    data_dir = resolve_data_dir(cfg.get("data_dir"))
    return str(data_dir), _relative(data_hashes(_data_files(cfg["task"], data_dir)), str(data_dir))


def check_same_data(cfg: dict, run_dir: Path, done: dict | None) -> None:
    """With resume on, a completed record is reused and checkpoints are continued only if they were made
    from the same data (sha256 of the files read, wherever their folder is); otherwise DataChanged.

    When the run is going to train, the data it starts on is written to `<run_dir>/data_sha256.json`, so that
    a relaunch after a kill can compare its checkpoints too.
    """
    data_dir, files = current_data(cfg)
    if cfg.get("resume"):
        if done is not None:
            theirs = (done.get("data_dir"), _relative(done.get("data_sha256") or {}, done.get("data_dir")))
            _compare(run_dir, "completed", theirs, (data_dir, files))
            return
        saved = _read_json(run_dir / DATA_FILE)
        if saved is not None and (run_dir / "checkpoints").is_dir():
            _compare(run_dir, "started (its checkpoints are)", (saved.get("data_dir"), saved.get("files") or {}), (data_dir, files))
    if run_dir.is_dir():
        atomic_write_json(run_dir / DATA_FILE, {"data_dir": data_dir, "files": files, "sha256": _digest(files)})


def _compare(run_dir: Path, state: str, theirs: tuple[str | None, dict], mine: tuple[str, dict]) -> None:
    (old_dir, old), (new_dir, new) = theirs, mine
    if old == new:
        return
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    detail = "; ".join(f"{k}: {'missing here' if k not in new else 'new here' if k not in old else 'content differs'}"
                       for k in changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    raise DataChanged(
        f"run {run_dir.name} was {state} on different data: data {_digest(old)} ({len(old)} files in {old_dir}) "
        f"there, data {_digest(new)} ({len(new)} files in {new_dir}) now ({detail}). Its results would be stale "
        "for this data: rerun it with resume=false (replaces them), or give this data its own output_root or run_name")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ---- failures ----------------------------------------------------------------------------------------

def write_failure(run_dir: Path, record: dict) -> Path | None:
    """Writes a failed record: as record.json, or beside a completed one (never replacing it). If the
    folder cannot be written (read-only output_root ...), says so and returns None instead of raising."""
    run_dir = Path(run_dir)
    try:
        if completed_record(run_dir) is not None:
            path = run_dir / FAILED_RECORD
            record.setdefault("schema_version", 1)
            atomic_write_json(path, record)
            return path
        return write_record(run_dir, record)
    except OSError as error:
        log.warning("could not record the failure in %s (%s)", run_dir, error.strerror or error)
        return None
