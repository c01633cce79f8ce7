#!/usr/bin/env bash
# Paper figure/table: peak training memory per method and vs k, for LLaMA-7B, LLaMA-13B and Llama-3-8B at the
# paper's setting (bf16 weights, bf16 autocast, batch 16 x 512 tokens, AdamW), for NeuroAda (ours), NeuroAda as
# the released code computes it, LoRA r=32, DoRA r=32, masked sparse and full FT, k in {1, 5, 10, 20, 50};
# without and with HF activation checkpointing (trainer.gradient_checkpointing=true) at batch 16 and 4 x 512
# (k=20), and the largest batch that fits on a 24 / 40 / 80 GB GPU (--fits, estimated).
# Estimated with fake tensors (src/neuroada/estimator/): nothing is allocated, no GPU needed.
#
# Budget: CPU only; one estimate of a 7B-13B model takes 10-20 s on a free core: ~15 minutes per model for the
# sweep (36 estimates) and as much for --fits; the validation against measured steps of a small model (42 steps,
# with and without checkpointing) ~15 minutes (on the GPU too when one is present: DEVICE=cuda).
# Outputs: results/memory/{estimates,saved_tensors,fits,validation}.csv|json, results/figures/memory_*.png,
# results/tables/memory*.md|tex (the notebook regenerates figures and tables from the CSVs alone).
source "$(dirname "$0")/_common.sh"
run python -m neuroada.estimator --models "${MODELS:-llama-7b,llama-13b,llama3-8b}" --k "${KS:-1,5,10,20,50}" --batch 16,4 \
    --checkpointing none,non_reentrant --out results/memory/
run python -m neuroada.estimator --fits --models "${MODELS:-llama-7b,llama-13b,llama3-8b}" --out results/memory/
run python -m neuroada.estimator --validate --device "${DEVICE:-cpu}" --out results/memory/
run python - <<'PY'
import tempfile, nbformat
from pathlib import Path
from nbclient import NotebookClient
for name in ("memory", "comparison_tables"):
    nb = nbformat.read(f"notebooks/{name}.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "notebooks"}}).execute()
    out = Path(tempfile.gettempdir()) / f"{name}.executed.ipynb"  # executed copy; the committed notebook stays output-free
    nbformat.write(nb, out)
    print("executed", name, "->", out)
PY
