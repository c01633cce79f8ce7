"""One task item, shared by the generation tasks and GLUE."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Example:
    """Generation tasks fill instruction/input/output/answer (LLM-Adapters fields); GLUE fills
    text_a/text_b/label (label is a class index, or a float for STS-B)."""

    instruction: str = ""
    input: str = ""
    output: str = ""
    answer: str = ""
    text_a: str = ""
    text_b: str | None = None
    label: int | float | None = None
    row: int | None = None  # index of the item in its source file (or hub split); None for generated items

    def to_dict(self) -> dict:
        return asdict(self)
