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

    @property
    def question(self) -> str:
        """The instruction and input with whitespace normalised: the same question written twice is one key."""
        return " ".join(f"{self.instruction} {self.input}".split())

    def to_dict(self) -> dict:
        return asdict(self)
