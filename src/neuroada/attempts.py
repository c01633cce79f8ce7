"""Wall time over every attempt of a run: a killed and relaunched run's record would otherwise time only its
last attempt (a decoder-study run resumed from its step-50 checkpoint would say half its real cost).

`attempts.json` in the run folder lists each attempt's start, the wall time it had reached at its last tick and
the code it ran (git commit, "+dirty" for an edited tree); the run ticks at every checkpoint save and after every
eval set. Time after a killed attempt's last tick is lost, so the total is a lower bound when a run was killed (the
record says how many attempts it took, and which code versions trained it: a study moved to a new commit resumes
its paused runs there).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from transformers import TrainerCallback

from neuroada.io_utils import atomic_write_json
from neuroada.records import now_iso

FILE = "attempts.json"


class AttemptClock:
    def __init__(self, run_dir: Path, fresh: bool = False, started: float | None = None, git: dict | None = None):
        """Starts this attempt's clock (at `started`, a `time.perf_counter()` value, if given); `fresh`
        (resume=false) forgets earlier attempts; `git` (`records.git_state()`) names the code this attempt runs."""
        self.path = Path(run_dir) / FILE
        self.writes = int(os.environ.get("RANK", "0")) == 0  # in a distributed launch rank 0 keeps the file
        earlier = [] if fresh else self._read()
        self.attempts = [*earlier, {"started": now_iso(), "wall_s": 0.0, "code": code_version(git or {})}]
        self._t0 = time.perf_counter() if started is None else started
        self.tick()

    def _read(self) -> list[dict]:
        try:
            attempts = json.loads(self.path.read_text())
        except (OSError, ValueError):  # first attempt, or a file cut short: its times are unknown
            return []
        return [a for a in attempts if isinstance(a, dict) and isinstance(a.get("wall_s"), (int, float))]

    def tick(self) -> None:
        self.attempts[-1]["wall_s"] = round(self.elapsed, 3)
        if self.writes:
            atomic_write_json(self.path, self.attempts)

    @property
    def elapsed(self) -> float:
        """This attempt's wall time so far."""
        return time.perf_counter() - self._t0

    @property
    def total(self) -> float:
        """Every attempt's wall time: earlier ones up to their last tick, this one up to now."""
        return sum(a["wall_s"] for a in self.attempts[:-1]) + self.elapsed

    @property
    def code_versions(self) -> list[str]:
        """The distinct code versions of the attempts, in order ("unknown" for an attempt that did not say)."""
        return list(dict.fromkeys(a.get("code") or "unknown" for a in self.attempts))


def code_version(git: dict) -> str:
    """`<commit>`, `<commit>+dirty` for an edited tree, or "unknown" outside a git checkout."""
    if not git.get("commit"):
        return "unknown"
    return git["commit"] + ("" if git.get("dirty") is False else "+dirty")


class TickOnSave(TrainerCallback):
    def __init__(self, clock: AttemptClock):
        self.clock = clock

    def on_save(self, args, state, control, **kwargs):
        self.clock.tick()
