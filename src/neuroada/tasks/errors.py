"""Errors raised while loading task data."""

from __future__ import annotations

from pathlib import Path


class MissingDataError(FileNotFoundError):
    """A task's data file is absent (and could not be fetched from the hub)."""

    def __init__(self, message: str, path: Path | None = None, task: str | None = None):
        super().__init__(message)
        self.path = path
        self.task = task

    def __str__(self) -> str:  # FileNotFoundError would otherwise print "[Errno None]"-style tuples
        return self.args[0]


class MalformedDataError(ValueError):
    """A record of a data file is unusable (bad JSON, missing key, unknown label)."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = where
