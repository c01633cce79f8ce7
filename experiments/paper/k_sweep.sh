#!/usr/bin/env bash
# Paper figure: accuracy vs k (trainable connections per neuron), k in {1, 5, 10, 20, 50}, NeuroAda on LLaMA-7B.
# Default: the commonsense top-20 preset (its lr, batch and schedule for every k; the released scripts tune lr per
# k only for top-1 and top-20). SUITE=math uses the math top-20 preset (about a third of the cost).
# Figure/table: the runs land in results/runs; notebooks/comparison_tables lists them (results/tables/runs.md).
#
# GPU budget (ESTIMATE): 5 runs x ~7 A100-hours (commonsense) = ~35 A100-hours; SUITE=math: 5 x ~2 = ~10.
source "$(dirname "$0")/_common.sh"
SUITE="${SUITE:-commonsense}"
MODEL="${MODEL:-llama7b}"
multirun "experiment=${MODEL}_${SUITE}_top20" "method.k=${KS:-1,5,10,20,50}"
