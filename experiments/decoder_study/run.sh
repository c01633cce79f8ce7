#!/usr/bin/env bash
# The decoder study (issue 13): SmolLM2-135M-Instruct, NeuroAda k=20/k=1 against LoRA, DoRA and full fine-tuning
# (masked k=20 if the budget allows), on commonsense first and arithmetic second, tuned and seeded.
#
#   bash experiments/decoder_study/run.sh PHASE     PHASE: cs-tune | cs-widen | cs-seeds | math-tune | math-seeds
#   STREAM=0 NSTREAMS=2 bash experiments/decoder_study/run.sh cs-tune &  (and STREAM=1; one thread each)
#   DRY_RUN=1 bash experiments/decoder_study/run.sh cs-tune              print the Hydra commands only
#
# Protocol (the same for every method):
#   commonsense  task=commonsense15k_study: a fixed seeded 1,600-item subsample of Commonsense15K, one epoch
#                (100 steps of batch 16, max length 256); the release's Commonsense15K validation file (250
#                seeded items) chooses lr and checkpoint (evaluated every 25 steps by greedy decoding and the
#                task's extraction); the eight test sets are scored on 250 fixed seeded items each (the same
#                items for every method and seed), greedy, 32 new tokens, LLM-Adapters prompts.
#   arithmetic   task=math10k_study: 300 seeded Math10K items held out for selection, a fixed 800-item
#                subsample for training (50 steps of 16, max length 384), test sets on up to 400 seeded items
#                (all of AddSub and AQuA), 256 new tokens (most Math10K chains end well before).
#   methods      NeuroAda k=20 and k=1 on all seven projections; LoRA and DoRA on the paper's LoRA targets
#                (q,k,v,up,down) with r matched to NeuroAda k=20's count; full fine-tuning; masked k=20 last.
#   lr           3 log-spaced values for NeuroAda and LoRA, 2 for full FT, seed 1; DoRA reuses LoRA's choice.
#   seeds        commonsense 1, 2 (and 3 if the budget allows); arithmetic 1.
#
# Plan (runs x minutes, from the 2026-11-30 measurement in issue 13: training ~157 tokens/s on 2 threads,
# greedy decoding ~1 s per item at 200 new tokens; commonsense answers are short):
#   cs-tune   (3+3+3+2) = 11 runs x ~25 min   = ~4.6 h
#   cs-seeds  5 methods x 1 more seed         = 5 runs x ~25 min = ~2 h
#   math      5 methods x (tune 2-3 lrs) + seeds: ~12 runs x ~35 min = ~7 h
#   ~14 h on two one-thread streams; time the first run of each suite and correct this header.
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/study_lib.sh
OUT=${OUT:-results/runs/decoder_study}
COMMON=(model=smollm2-135m trainer.batch_size=16 trainer.warmup_ratio=0.06 trainer.weight_decay=0.0 trainer.lr_scheduler=linear
        trainer.eval_strategy=steps trainer.save_total_limit=1 trainer.logging_steps=5 eval_batch_size=16 eval_before=false
        logger=none predictions=compact task.skip_missing_eval_sets=true "output_root=$OUT")
CS=("${COMMON[@]}" task.max_train_samples=1600 task.max_eval_samples=250 trainer.max_steps=-1 trainer.epochs=1
    trainer.max_length=256 trainer.eval_steps=25)
MATH=("${COMMON[@]}" task.max_train_samples=800 task.max_eval_samples=400 trainer.max_steps=-1 trainer.epochs=1
      trainer.max_length=384 trainer.eval_steps=25 task.max_new_tokens=256)

ARM=(
  [neuroada20]="method=neuroada method.k=20|neuroada-k20|1e-3,3e-3,1e-2"
  [neuroada1]="method=neuroada method.k=1|neuroada-k1|3e-3,1e-2,3e-2"
  [lora]="method=lora ++method.r=match ++method.k_match=20|lora-rmatchk20|3e-4,1e-3,3e-3"
  [full]="method=full|full|1e-5,3e-5"
  [masked]="method=masked method.k=20|masked-k20|1e-3,3e-3,1e-2"
)
TUNED=(neuroada20 neuroada1 lora full)
TASK_CONFIG=([commonsense15k]=commonsense15k_study [math10k]=math10k_study)
DORA="method=dora ++method.r=match ++method.k_match=20"

dora_jobs() {  # DoRA at LoRA's chosen lr (said in the results)
  local task=$1 seeds=$2 lr
  lr=$(chosen "$(record_of "$task")" lora-rmatchk20)
  if [ -n "$lr" ]; then job "${BASE[*]} $(on_task "$task") seed=$seeds $DORA trainer.lr=$lr"; else echo "skip dora: LoRA not tuned yet" >&2; fi
}

case "${1:-}" in
  cs-tune) BASE=("${CS[@]}"); tune_jobs commonsense15k_study "${TUNED[@]}" ;;
  cs-widen) BASE=("${CS[@]}"); widen_jobs "${TUNED[@]}" ;;
  cs-seeds) BASE=("${CS[@]}"); dora_jobs commonsense15k_study 1,2; seed_jobs commonsense15k_study 1,2 "${TUNED[@]}" ;;
  cs-masked) BASE=("${CS[@]}"); tune_jobs commonsense15k_study masked ;;
  math-tune) BASE=("${MATH[@]}"); tune_jobs math10k_study "${TUNED[@]}" ;;
  math-seeds) BASE=("${MATH[@]}"); dora_jobs math10k_study 1; seed_jobs math10k_study 1 "${TUNED[@]}" ;;
  *) echo "usage: $0 cs-tune|cs-widen|cs-seeds|cs-masked|math-tune|math-seeds" >&2; exit 2 ;;
esac
run_jobs "$1"
