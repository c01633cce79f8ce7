#!/usr/bin/env bash
# Paper figure/table: peak training memory per method and vs k, for LLaMA-7B, LLaMA-13B and Llama-3-8B at the
# paper's setting (bf16 weights, bf16 autocast, batch 16 x 512 tokens, AdamW), for NeuroAda (ours), NeuroAda as
# the released code computes it, LoRA r=32, DoRA r=32, masked sparse and full FT, k in {1, 5, 10, 20, 50}.
# Estimated with fake tensors (src/neuroada/estimator.py): nothing is allocated, no GPU needed.
#
# Budget: CPU only, ~5 minutes on one core for the sweep, ~1 minute for the validation against measured steps of
# a small model (on the GPU too when one is present: DEVICE=cuda).
# Outputs: results/memory/{estimates,saved_tensors,validation}.csv|json, results/figures/memory_*.png,
# results/tables/memory*.md|tex (the notebook regenerates figures and tables from the CSVs alone).
source "$(dirname "$0")/_common.sh"
run python -m neuroada.estimator --models "${MODELS:-llama-7b,llama-13b,llama3-8b}" --k "${KS:-1,5,10,20,50}" --out results/memory/
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
