"""The compiled CPU kernels (`csrc/neuroada_cpu.cpp`): built on first use, cached by torch, optional.

Without a C++ toolchain (g++ and ninja) or with NEUROADA_CPU_EXTENSION=0, `load()` returns None once,
with a warning, and the library runs its pure-PyTorch paths (same values within float tolerance for the
gradient; bit-identical weight swaps).
"""
from __future__ import annotations

import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("csrc") / "neuroada_cpu.cpp"
FUNCTIONS = ["sddmm_csr_tiled", "swap_in", "restore", "parallel_threads"]

_ext = None
_error: BaseException | None = None
_disabled = 0


def _cpu_flags() -> tuple[str, list[str]]:
    """Compiler flags for this CPU, named by torch's capability (a cached build never meets another ISA).

    `-fopenmp` is what makes `at::parallel_for` parallel at all: it is a header template that runs its body
    serially unless compiled with OpenMP. The extension then links libgomp.so.1, which resolves to the
    copy torch has already loaded, so it shares torch's thread pool and `torch.set_num_threads`.
    """
    cap = str(torch.backends.cpu.get_cpu_capability()).lower()
    isa = {"avx512": ["-mavx512f", "-mavx512vl", "-mavx2", "-mfma"], "avx2": ["-mavx2", "-mfma"]}.get(cap, [])
    return cap, ["-O3", "-fopenmp", *isa]


def _ninja_on_path() -> None:
    """torch finds ninja on PATH; the pinned `ninja` package's binary is there only in an activated venv."""
    if shutil.which("ninja") is None:
        try:
            import ninja
        except ImportError:
            return
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


def load():
    """The compiled module, or None (no toolchain, disabled by NEUROADA_CPU_EXTENSION=0 or `disabled()`)."""
    global _ext, _error
    if _disabled or os.environ.get("NEUROADA_CPU_EXTENSION", "1") == "0":
        return None
    if _ext is None and _error is None:
        try:
            from torch.utils.cpp_extension import load_inline

            _ninja_on_path()
            cap, flags = _cpu_flags()
            _ext = load_inline(f"neuroada_cpu_{cap}", cpp_sources=SOURCE.read_text(), functions=FUNCTIONS,
                               extra_cflags=flags, extra_ldflags=["-fopenmp"], verbose=False)
        except Exception as exc:  # no compiler, no ninja, ...
            _error = exc
            warnings.warn(f"NeuroAda's C++ CPU kernels are unavailable ({type(exc).__name__}: {exc}); "
                          "using the PyTorch kernels (slower on CPU, same results)")
    return _ext


def available() -> bool:
    return load() is not None


@contextmanager
def disabled():
    """Runs the pure-PyTorch paths inside the block (benchmarks and tests compare the two)."""
    global _disabled
    _disabled += 1
    try:
        yield
    finally:
        _disabled -= 1
