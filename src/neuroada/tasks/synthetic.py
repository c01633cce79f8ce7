"""`addition`: generated two-operand addition word problems, no download needed.

"Ann has 12 pens and buys 30 more. How many pens does Ann have now?" -> "12 + 30 = 42. #### 42".
Train and test are disjoint by construction: a question belongs to the test side iff the CRC32 of its
text falls in the test bucket (1 in 10), so no question text can appear in both, whatever the sizes
or seeds.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping

from neuroada.tasks.example import Example

NAMES = ("Ann", "Ben", "Carla", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jack", "Kofi", "Lena")
OBJECTS = ("pens", "apples", "books", "stickers", "marbles", "cards", "shells", "coins", "stamps", "pencils")
VERBS = ("buys", "finds", "gets", "receives", "picks up", "wins")
TEMPLATES = (
    "{name} has {a} {obj} and {verb} {b} more. How many {obj} does {name} have now?",
    "{name} had {a} {obj}. Then {name} {verb} {b} more {obj}. How many {obj} does {name} have in total?",
    "There are {a} {obj} in a box. {name} puts {b} more {obj} in the box. How many {obj} are in the box now?",
    "{name} collected {a} {obj} on Monday and {b} {obj} on Tuesday. How many {obj} did {name} collect?",
)
OPERANDS = range(2, 41)
TEST_BUCKETS = 10


def is_test_question(question: str) -> bool:
    return zlib.crc32(question.encode("utf-8")) % TEST_BUCKETS == 0


def _problem(rng: random.Random) -> tuple[str, int, int]:
    a, b = rng.choice(OPERANDS), rng.choice(OPERANDS)
    question = rng.choice(TEMPLATES).format(
        name=rng.choice(NAMES), obj=rng.choice(OBJECTS), verb=rng.choice(VERBS), a=a, b=b
    )
    return question, a, b


def addition(split: str, size: int, seed: int = 0) -> list[Example]:
    """`size` distinct problems of the split ("train" or "test"), deterministic in (split, seed)."""
    if split not in ("train", "test"):
        raise ValueError(f"addition split must be 'train' or 'test', got {split!r}")
    rng = random.Random(f"addition/{split}/{seed}")
    want_test = split == "test"
    seen: set[str] = set()
    examples = []
    while len(examples) < size:
        question, a, b = _problem(rng)
        if is_test_question(question) != want_test or question in seen:
            continue
        seen.add(question)
        total = a + b
        examples.append(Example(instruction=question, output=f"{a} + {b} = {total}. #### {total}", answer=str(total)))
    return examples


GENERATORS = {"addition": addition}


def load(spec: Mapping) -> list[Example]:
    name = spec.get("generator")
    if name not in GENERATORS:
        raise ValueError(f"unknown synthetic generator {name!r}; choose one of {sorted(GENERATORS)}")
    return GENERATORS[name](split=spec["split"], size=int(spec["size"]), seed=int(spec.get("seed", 0)))
