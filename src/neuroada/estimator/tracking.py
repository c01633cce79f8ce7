"""The storages ops create during a step, alive or released, and the peak of their live bytes."""
from __future__ import annotations

import weakref
from typing import Iterable

from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ..memory import unique_nbytes


def _storage_id(t: Tensor) -> int:
    return id(t.untyped_storage())


class _LiveStorages(TorchDispatchMode):
    """Live bytes of the storages created by ops while active, and their peak.

    Every tracked storage gets a serial number with its allocation and release times (an event counter),
    so that what was alive at the peak can be split afterwards (`alive_at_peak`)."""

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self.base = 0
        self.clock = 0
        self.peak_clock = 0
        self.phase = "idle"
        self.peak_phase = None
        self._serial: dict[int, int] = {}  # id(storage) -> serial, while alive
        self.allocated: list[tuple[int, int]] = []  # serial -> (time, bytes)
        self.made_in: list[tuple[str, int]] = []  # serial -> (phase, last dimension of the tensor that created it)
        self.freed: dict[int, int] = {}  # serial -> time

    def reset(self) -> None:
        self.peak = self.base = self.live
        self.peak_phase, self.peak_clock = self.phase, self.clock

    def serial_of(self, t: Tensor) -> int | None:
        return self._serial.get(_storage_id(t))

    def alive_at_peak(self) -> dict[int, int]:
        """serial -> bytes of every tracked storage alive at the peak."""
        return {s: n for s, (t0, n) in enumerate(self.allocated) if t0 <= self.peak_clock < self.freed.get(s, self.clock + 1)}

    def _free(self, key: int, serial: int, nbytes: int) -> None:
        self._serial.pop(key, None)
        self.clock += 1
        self.freed[serial] = self.clock
        self.live -= nbytes

    def _track(self, t: Tensor, inputs: set[int]) -> None:
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            return
        key = id(st)
        if key in self._serial or key in inputs:  # a view of an input allocates nothing
            return
        nbytes = st.nbytes()
        serial = len(self.allocated)
        self.clock += 1
        self.allocated.append((self.clock, nbytes))
        self.made_in.append((self.phase, int(t.shape[-1]) if t.dim() else 0))
        self._serial[key] = serial
        self.live += nbytes
        weakref.finalize(st, self._free, key, serial, nbytes)
        if self.live > self.peak:
            self.peak, self.peak_phase, self.peak_clock = self.live, self.phase, self.clock

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {_storage_id(t) for t in tree_leaves((args, kwargs)) if isinstance(t, Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, Tensor):
                self._track(t, inputs)
        return out


def _unique_nbytes(tensors: Iterable[Tensor], exclude: set[int] = frozenset()) -> tuple[int, set[int]]:
    return unique_nbytes(tensors, exclude, key=_storage_id)
