"""How much the commonsense extraction rule matters: re-scores stored predictions under both rules.

    python -m neuroada.analysis.extraction_rules results/runs/cpu_scale

prints, per phase (before / after training), the items and how many each rule counts correct, and how many
items the two rules disagree on.
"""
from __future__ import annotations

import argparse
import gzip
import json
from collections import Counter
from pathlib import Path

from ..tasks.extraction import extract, is_correct


def _rows(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def compare(root: Path) -> dict[str, Counter]:
    counts: dict[str, Counter] = {}
    for path in sorted(root.rglob("predictions/*.jsonl*")):
        phase = path.name.split("_", 1)[0]
        for row in _rows(path):
            if "generation" not in row or not isinstance(row.get("gold"), str) or row["gold"].rstrip("0123456789") not in (
                    "true", "false", "solution", "answer", "ending", "option"):
                continue
            right = {rule: is_correct(extract(row["generation"], "commonsense", row["gold"], commonsense_rule=rule),
                                      row["gold"], "commonsense") for rule in ("lenient", "strict")}
            c = counts.setdefault(phase, Counter())
            c["items"] += 1
            c["lenient"] += right["lenient"]
            c["strict"] += right["strict"]
            c["disagree"] += right["lenient"] != right["strict"]
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    args = parser.parse_args(argv)
    for phase, c in sorted(compare(args.root).items()):
        print(f"{phase}: {c['items']} items; correct lenient {c['lenient']}, strict {c['strict']}; rules disagree on {c['disagree']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
