#!/usr/bin/env bash
# Paper table: arithmetic reasoning (7 tasks), NeuroAda top-20 and top-1 on the four paper models, joint training on
# Math10K (conf/experiment/*_math_top*.yaml). SingleEq and MAWPS are not on the offline machines: the task skips
# them (reported as missing) unless <data_dir>/llm_adapters/{SingleEq,mawps}/test.json exist or the hub is reachable.
# Reported numbers: results/reference/neuroada_readme.csv. Table: results/tables/math.md
#
# GPU budget (ESTIMATE): 8 runs on one 80 GB A100 (bf16): ~2 GPU-h per 7B/8B run (3 epochs of ~7.5M tokens; greedy
# generation of up to 512 tokens on ~4.3K questions dominates), ~4 GPU-h per 13B run: about 20 A100-hours.
source "$(dirname "$0")/_common.sh"
MODELS="${MODELS:-llama7b llama13b llama27b llama38b}"
experiments=()
for m in ${MODELS}; do experiments+=("${m}_math_top20" "${m}_math_top1"); done
multirun "experiment=$(IFS=,; echo "${experiments[*]}")"
