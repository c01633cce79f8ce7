"""Configuration of a NeuroAda adapter."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SELECTIONS = (
    "magnitude",  # NeuroAda: the k largest |W| of every row
    "gradient",  # the k largest accumulated |dL/dW| of every row
    "reverse",  # the k smallest |W| of every row
    "random",  # k random columns of every row
    "random_layer",  # k * d_out entries at random anywhere in the matrix
    "random_global",  # k * sum(d_out) entries at random over all adapted matrices
    "partial_rows",  # top-k by |W| on a random fraction of the rows only
)
KERNELS = ("auto", "sampled_addmm", "gather_bmm", "dense_gather", "sampled_addmm_tiled", "sampled_cpu")

LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class NeuroAdaConfig:
    """Which weights get bypass deltas and how their entries are chosen.

    `target_modules` entries match a module whose qualified name equals the entry or ends with
    "." + entry (peft's convention); an entry starting with "re:" is a full-match regular expression.
    """

    k: int = 20
    target_modules: list[str] = field(default_factory=lambda: list(LLAMA_TARGETS))
    selection: str = "magnitude"
    seed: int = 42
    row_fraction: float = 0.5  # partial_rows only: the fraction of rows that get top-k
    kernel: str = "auto"  # how the sampled gradient of delta is computed (see neuroada.kernels)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"NeuroAdaConfig.k must be an integer >= 1, got {self.k!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}; accepted: {', '.join(SELECTIONS)}")
        if self.kernel not in KERNELS:
            raise ValueError(f"unknown kernel {self.kernel!r}; accepted: {', '.join(KERNELS)}")
        if isinstance(self.target_modules, str):
            self.target_modules = [self.target_modules]
        self.target_modules = list(self.target_modules)
        if not self.target_modules:
            raise ValueError("NeuroAdaConfig.target_modules is empty; name at least one module")
        if not 0.0 < self.row_fraction <= 1.0:
            raise ValueError(f"row_fraction must be in (0, 1], got {self.row_fraction!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "NeuroAdaConfig":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown NeuroAdaConfig fields {sorted(unknown)}; accepted: {sorted(known)}")
        return cls(**d)
