#!/usr/bin/env python
"""The SDDMM kernels alone (the evidence behind `neuroada.kernels.AUTO_KERNEL`; not named
kernels.py: that name would shadow the `kernels` package transformers probes for).

    python experiments/bench/bench_kernels.py      # -> results/bench/kernels_<device>.json

Same as `bench.py --suite kernels --tag kernels_<device>`; extra arguments are passed on to bench.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import bench  # noqa: E402

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--tag" not in argv:
        device = "cuda" if torch.cuda.is_available() and "cpu" not in argv else "cpu"
        argv += ["--tag", f"kernels_{device}"]
    bench.main(["--suite", "kernels", "--no-plot", *argv])
