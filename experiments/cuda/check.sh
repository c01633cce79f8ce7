#!/usr/bin/env bash
# The CUDA checks, as one short script for a lent GPU (about 5 minutes on an H200):
#   bash experiments/cuda/check.sh [OUT]      (default OUT: results/cuda)
# 1. tests/test_cuda.py: every kernel and the layer on CUDA against the dense reference, bf16 autocast, merge;
# 2. the memory estimator against measured CUDA steps (torch.cuda.max_memory_allocated), every method;
# 3. the benchmark in bf16 on CUDA (SmolLM2-shaped model and LLaMA-7B-shaped layers), with max_memory_allocated.
# Needs torch with CUDA, transformers, peft, safetensors, omegaconf and pytest (hydra is not needed).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-${OUT:-results/cuda}}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
status=0
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
"$PY" -c "import torch, transformers, peft; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0), transformers.__version__, peft.__version__)" \
  | tee "$OUT/versions.txt"
"$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$OUT/pytest_cuda.txt" | tail -5 || status=1
"$PY" -m neuroada.estimator --validate --device cuda --out "$OUT" 2>&1 | tee "$OUT/validation.log" | tail -25 || status=1
"$PY" experiments/bench/bench.py --suite model --device cuda --dtype bfloat16 --tokens 8192 --batch 16 --layers 8 \
  --repeats 20 --out "$OUT" --tag bench_cuda 2>&1 | tail -30 || status=1
"$PY" experiments/bench/bench.py --suite layers --layer-models llama7b --device cuda --dtype bfloat16 --tokens 8192 \
  --repeats 20 --out "$OUT" --tag bench_cuda_layers --no-plot 2>&1 | tail -20 || status=1
exit $status
