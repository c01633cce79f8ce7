"""Run records: one JSON per run with everything needed to trust and rerun it."""
from __future__ import annotations

import hashlib
import os
import importlib.metadata as md
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import torch

from .io_utils import atomic_write_json

RECORD_FILE = "record.json"
SCHEMA_VERSION = 1
REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("torch", "transformers", "peft", "accelerate", "datasets", "hydra-core", "wandb", "numpy", "safetensors", "neuroada")


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    out["cuda"] = torch.version.cuda
    return out


def git_state(repo: Path | None = None) -> dict[str, Any]:
    repo = repo or REPO
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit or None, "dirty": bool(dirty) if commit else None}


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def data_hashes(paths: Iterable[Path], root: Path | None = None) -> dict[str, str]:
    """sha256 of every local data file (or of every file inside a data folder) the run read, keyed by its
    path relative to the data directory `root` (a machine's layout stays out of the record)."""
    out = {}
    for p in paths:
        p = Path(p)
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p] if p.is_file() else []
        for f in files:
            out[portable_path(f, root) if root else str(f)] = file_sha256(f)
    return out


def portable_path(path: str | Path | None, root: Path | None = None) -> str | None:
    """`path` without this machine's layout: relative to `root` when inside it, else relative to the
    repository when beside it (e.g. ../shared/data), else just its name."""
    if path is None:
        return None
    # The path as written comes first: a symlinked ../shared resolves to somewhere else entirely.
    ways = (Path(os.path.abspath(path)), Path(path).resolve())
    bases = (Path(os.path.abspath(root)), Path(root).resolve()) if root else ()
    for way in ways:
        for base in bases:
            if way.is_relative_to(base):
                return way.relative_to(base).as_posix()
    for way in ways:
        if way.is_relative_to(REPO.parent):
            return Path(os.path.relpath(way, REPO)).as_posix()
    return ways[1].name


def config_hash(cfg: dict, ignore: Iterable[str] = ()) -> str:
    """A short stable hash of a resolved config, without keys that do not change the result."""
    import json

    trimmed = {k: v for k, v in cfg.items() if k not in set(ignore)}
    return hashlib.sha256(json.dumps(trimmed, sort_keys=True, default=str).encode()).hexdigest()[:8]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_record(run_dir: Path, record: dict) -> Path:
    record.setdefault("schema_version", SCHEMA_VERSION)  # in place: the caller's record carries it too
    path = Path(run_dir) / RECORD_FILE
    atomic_write_json(path, record)
    return path
