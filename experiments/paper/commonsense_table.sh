#!/usr/bin/env bash
# Paper table: commonsense reasoning (8 tasks), NeuroAda top-20 and top-1 on LLaMA-7B, LLaMA-13B, Llama-2-7B,
# Llama-3-8B, joint training on Commonsense170K (released scripts' hyperparameters: conf/experiment/*_commonsense_top*.yaml).
# Reported numbers: results/reference/neuroada_readme.csv. Table: notebooks/comparison_tables -> results/tables/commonsense.md
#
# GPU budget (ESTIMATE, not measured): 8 runs on one 80 GB A100 (bf16): ~7 GPU-h per 7B/8B run (3 epochs of
# ~61M tokens + generation on ~22K test questions), ~13 GPU-h per 13B run: about 70 A100-hours in all
# (about half on H100). Peak memory per run: see results/tables/memory.md (worst case, every sequence 512 tokens).
source "$(dirname "$0")/_common.sh"
MODELS="${MODELS:-llama7b llama13b llama27b llama38b}"
experiments=()
for m in ${MODELS}; do experiments+=("${m}_commonsense_top20" "${m}_commonsense_top1"); done
multirun "experiment=$(IFS=,; echo "${experiments[*]}")"
