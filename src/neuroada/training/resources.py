"""Wall time, throughput and peak memory of a training run (CUDA allocator or the CPU process)."""
from __future__ import annotations

import time
from pathlib import Path

import torch

_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _rss_peak_bytes() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_rss_peak() -> bool:
    try:  # Linux >= 4.0: "5" resets the peak resident set size (VmHWM) to the current RSS
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class ResourceMonitor:
    """start() before training, stop() after; `summary()` is what the run record stores."""

    def __init__(self, device: torch.device):
        self.device = device
        self.t0 = self.elapsed = 0.0
        self.rss_reset = False

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.rss_reset = _reset_rss_peak()
        self.t0 = time.perf_counter()

    def stop(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.elapsed = time.perf_counter() - self.t0

    def peak(self) -> dict:
        out = {"device": self.device.type, "cpu_peak_rss_bytes": _rss_peak_bytes(), "cpu_peak_rss_since": "train_start" if self.rss_reset else "process_start"}
        if self.device.type == "cuda":
            out["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated(self.device)
            out["cuda_max_reserved_bytes"] = torch.cuda.max_memory_reserved(self.device)
        return out
