"""The outcome of evaluating one eval set."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EvalResult:
    metrics: dict[str, float]
    predictions: list[dict] = field(default_factory=list)

    def save_predictions(self, path: str | Path) -> Path:
        """One JSON object per line; NaN/inf become null so the file stays valid JSON."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for row in self.predictions:
                clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}
                handle.write(json.dumps(clean, ensure_ascii=False) + "\n")
        return path
