"""The compiled CPU kernels (`csrc/neuroada_cpu.cpp`): built on first use, cached by torch, optional.

Without a C++ toolchain (g++ and ninja) or with NEUROADA_CPU_EXTENSION=0, `load()` returns None once,
with a warning, and the library runs its pure-PyTorch paths (same values within float tolerance for the
gradient; bit-identical weight swaps).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("csrc") / "neuroada_cpu.cpp"
FUNCTIONS = ["sddmm_csr_tiled", "swap_in", "restore", "parallel_threads"]

_ext = None
_error: BaseException | None = None
_disabled = 0
STALE_LOCK_S = 600  # a build takes 1-3 min; an older `lock` was left by a killed build, and torch waits on it for ever


def _module_name(cap: str) -> str:
    """One build per CPU capability and Python environment: two checkouts' venvs sharing torch's cache would
    otherwise rebuild it in turn (their include paths differ), each rebuild a window for a kill to leave a lock."""
    return f"neuroada_cpu_{cap}_{hashlib.sha1(sys.prefix.encode()).hexdigest()[:8]}"


def clear_stale_lock(build_dir: str | Path, max_age_s: float = STALE_LOCK_S) -> bool:
    """Removes the build's `lock` when it is older than `max_age_s` (its build was killed: torch's FileBaton would
    make every later import wait on it, silently, for ever). True when one was removed."""
    lock = Path(build_dir) / "lock"
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    if age <= max_age_s:
        return False
    warnings.warn(f"removing {lock}, left {age / 60:.0f} min ago by a build of NeuroAda's CPU kernels that did not finish")
    lock.unlink(missing_ok=True)
    return True


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
            from torch.utils.cpp_extension import _get_build_directory, load_inline

            _ninja_on_path()
            cap, flags = _cpu_flags()
            name = _module_name(cap)
            clear_stale_lock(_get_build_directory(name, verbose=False))
            _ext = load_inline(name, cpp_sources=SOURCE.read_text(), functions=FUNCTIONS,
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
