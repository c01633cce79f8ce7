"""The outcome of evaluating one eval set."""

from __future__ import annotations

import gzip
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from neuroada.io_utils import atomic_path


INPUT_KEYS = ("text_a", "text_b", "prompt")  # copies of the data, left out of compact predictions


@dataclass
class EvalResult:
    metrics: dict[str, float]
    predictions: list[dict] = field(default_factory=list)

    def save_predictions(self, path: str | Path, compact: bool = False) -> Path:
        """One JSON object per line; NaN/inf become null so the file stays valid JSON. `compact` (studies
        with hundreds of runs) writes `<path>.gz` (`path` itself if it ends in .gz) without copies of the
        inputs: each line keeps `row`, the item's index in its source file, and what the model produced."""
        path = Path(path)
        if compact and path.suffix != ".gz":
            path = path.with_name(path.name + ".gz")
        with atomic_path(path) as tmp, (gzip.open(tmp, "wt", encoding="utf-8") if compact else tmp.open("w", encoding="utf-8")) as handle:
            for row in self.predictions:
                clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()
                         if not (compact and k in INPUT_KEYS)}
                handle.write(json.dumps(clean, ensure_ascii=False) + "\n")
        return path
