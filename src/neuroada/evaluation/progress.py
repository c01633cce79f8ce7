"""Progress bars for the evaluation loops: items done / total, items per second and ETA per eval set.

tqdm writes to stderr. On a terminal it refreshes every second; when stderr is a file or a pipe it writes
at most every 30 s (plus the first and the last state), so logs stay short. `TQDM_DISABLE=1` hides it.
"""
from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "item") -> tqdm:
    interactive = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
    kwargs = {} if enabled else {"disable": True}  # left unset, TQDM_DISABLE=1 still applies
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr,
                mininterval=1.0 if interactive else 30.0, smoothing=0.1, **kwargs)
