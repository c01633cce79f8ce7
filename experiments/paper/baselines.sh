#!/usr/bin/env bash
# Baselines next to the paper tables: LoRA and DoRA (HF peft) with the paper's r=32, alpha=64, dropout 0.05 on
# q,k,v,up,down (LLM-Adapters/DoRA convention), on the same training sets and test sets as NeuroAda.
# Reported LoRA/DoRA numbers exist for commonsense on LLaMA-7B and Llama-3-8B (results/reference/dora_readme.csv).
#
# The target modules are set on the method: conf/method/lora.yaml falls back to the model's 7 NeuroAda targets.
# Hyperparameters (ASSUMED from the NVlabs/DoRA commonsense scripts, check before spending the budget): lr 2e-4,
# batch 16 (micro 4 x accumulation 4 to fit 80 GB: the estimator puts LLaMA-7B LoRA at ~73 GB and DoRA at ~111 GB
# for a full 16 x 512 micro-batch, LLaMA-13B at ~118 / ~181 GB), 3 epochs, warmup ratio 0.06 (the scripts use 100
# warmup steps), no weight decay.
#
# GPU budget (ESTIMATE): per 7B/8B model, commonsense LoRA ~7 GPU-h, DoRA ~12 GPU-h (its weight-norm path is
# slower); math ~2 and ~3 GPU-h; 13B about twice that. Defaults (4 models x 2 suites x 2 methods): ~110 A100-hours.
# `++`: keys only LoRA/DoRA have (Hydra composes a sweep with the default method, neuroada, first).
source "$(dirname "$0")/_common.sh"
MODELS="${MODELS:-llama-7b,llama3-8b,llama-13b,llama2-7b}"
TASKS="${TASKS:-commonsense170k,math10k}"
multirun "model=${MODELS}" "task=${TASKS}" method=lora,dora trainer=paper dtype=bfloat16 \
  ++method.r=32 ++method.alpha=64 ++method.dropout=0.05 "method.target_modules=[q_proj,k_proj,v_proj,up_proj,down_proj]" \
  trainer.lr=2.0e-4 trainer.batch_size=4 trainer.grad_accum=4 trainer.warmup_ratio=0.06 trainer.weight_decay=0.0
