"""Cell formatting shared by the ledger, tables, intervals and figures."""
from __future__ import annotations

import math

NOT_RUN = "not run yet"
MISSING = "–"


def fmt_lr(lr: float) -> str:
    """1e-3, 3e-4, 1.5e-2."""
    if lr is None or not math.isfinite(lr):
        return MISSING
    mant, exp = f"{lr:.3e}".split("e")
    mant = mant.rstrip("0").rstrip(".")
    return f"{mant}e{int(exp)}"


def _num(v, fmt=".1f", signed=False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return MISSING
    s = format(v, ("+" if signed else "") + fmt)
    return s.replace("+0.0", "0.0").replace("-0.0", "0.0") if s.lstrip("+-") in ("0.0", "0.00") else s


def _pm(mean, std, n, latex=False) -> str:
    if n == 0:
        return NOT_RUN
    s = _num(mean)
    if n > 1 and math.isfinite(std):
        s += (r" $\pm$ " if latex else " ± ") + _num(std)
    return s
