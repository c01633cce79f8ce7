#!/usr/bin/env bash
# The GLUE study (issue 12): MiniLM-L6 on CoLA, SST-2, MRPC, STS-B, RTE; every method tuned on the selection
# half of the re-split dev set, checkpoints chosen there, the test half reported; 3 seeds; paper ablations.
#
#   bash experiments/glue_study/run.sh PHASE            PHASE: tune | widen | seeds | selection | frontier | all
#   STREAM=0 NSTREAMS=2 bash experiments/glue_study/run.sh tune &   STREAM=1 NSTREAMS=2 ... &   (two one-thread streams)
#   DRY_RUN=1 bash experiments/glue_study/run.sh tune                print the Hydra commands only
#
# Each Hydra multirun is one job; stream i runs jobs i, i+NSTREAMS, ... Completed runs are skipped on relaunch
# (the pipeline's resume), an interrupted one resumes from its last complete checkpoint. Records: results/runs/glue_study/.
#
# Protocol (the same for every method on a task):
#   budget      200 steps of batch 16 (3,200 examples: RTE ~1.3 epochs, MRPC 0.9, STS-B 0.56, CoLA 0.37, SST-2 0.05 of
#               its full 67k train set, which is not subsampled), max length 128, linear schedule, warmup 6 %,
#               weight decay 0, AdamW; the classification head is trained next to every method at its lr.
#   selection   the Trainer evaluates the selection half every 50 steps (4 evaluations) and reports the best checkpoint by the
#               task's metric (MCC for CoLA, Pearson for STS-B, else accuracy) on the test half; the dev re-split
#               follows the run's seed, as in the release and LoReFT.
#   lr          3 log-spaced values per method (grids below), seed 1, chosen per (task, method) on the selection
#               half by `python -m neuroada.analysis.study choose results/runs/glue_study`; a choice at a grid
#               edge is widened by one more value (phase widen) before the seeds run.
#   seeds       1, 2, 3 at the chosen lr (phase seeds).
#   ablations   selection magnitude/reverse/random/gradient at k=20 (phase selection); k in {1,2,5,10,20,50} and
#               LoRA r in {1,2,4,8,16} (phase frontier), at NeuroAda's / LoRA's chosen lr, 3 seeds.
#
# Plan (runs x minutes). Measured 2026-11-30: MiniLM-L6 costs ~4.8 CPU-s per step of 32 x ~128 tokens (RTE) on one
# thread, so batch 32 x 250 steps would have needed ~36 h; the budget was cut to 16 x 200 before any record landed.
# Expected on a quiet machine, one thread: RTE/MRPC ~2-2.5 s/step, STS-B/SST-2 ~1 s, CoLA ~0.4 s -> ~3-9 min a run.
#   tune      9 methods x 5 tasks x 3 lrs          = 135 runs
#   widen     at most 45 runs (only choices at an edge)
#   seeds     9 methods x 5 tasks x 2 more seeds   =  90 runs
#   selection 3 selections x 5 tasks x 3 seeds     =  45 runs
#   frontier  (4 k + 4 r) x 5 tasks x 3 seeds      = 120 runs
#   ~390-435 runs at ~5 min on one thread = ~16-18 h on two streams; the first records' wall_time_s correct this.
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/study_lib.sh
OUT=${OUT:-results/runs/glue_study}
TASKS="rte mrpc stsb cola sst2"

BASE=(model=minilm-l6 trainer.max_steps=200 trainer.batch_size=16 trainer.max_length=128 trainer.warmup_ratio=0.06
      trainer.weight_decay=0.0 trainer.lr_scheduler=linear trainer.eval_strategy=steps trainer.eval_steps=50
      trainer.save_total_limit=1 trainer.logging_steps=10 eval_batch_size=64 eval_before=false logger=none
      predictions=compact "output_root=$OUT")

# arm: method overrides | record method_tag | lr grid (log-spaced, bracketing the usual range of the method)
ARM=(
  [neuroada20]="method=neuroada method.k=20|neuroada-k20|1e-3,3e-3,1e-2"
  [lora]="method=lora ++method.r=match ++method.k_match=20|lora-rmatchk20|3e-4,1e-3,3e-3"
  [full]="method=full|full|1e-5,3e-5,1e-4"
  [head_only]="method=head_only|head_only|1e-3,3e-3,1e-2"
  [neuroada1]="method=neuroada method.k=1|neuroada-k1|3e-3,1e-2,3e-2"
  [lora1]="method=lora ++method.r=1|lora-r1|3e-4,1e-3,3e-3"
  [dora]="method=dora ++method.r=match ++method.k_match=20|dora-rmatchk20|3e-4,1e-3,3e-3"
  [shira]="method=shira ++method.r=match ++method.k_match=20|shira-rmatchk20|1e-3,3e-3,1e-2"
  [masked]="method=masked method.k=20|masked-k20|1e-3,3e-3,1e-2"
)
MAIN_ARMS=(neuroada20 lora full head_only neuroada1 lora1 dora shira masked)  # priority order

phase_tune() { tune_jobs "$TASKS" "${MAIN_ARMS[@]}"; }
phase_widen() { widen_jobs "${MAIN_ARMS[@]}"; }
phase_seeds() { seed_jobs "$TASKS" 1,2,3 "${MAIN_ARMS[@]}"; }

phase_selection() {
  for task in $TASKS; do
    lr=$(chosen "$task" neuroada-k20); [ -n "$lr" ] || { echo "skip selection/$task: neuroada-k20 not tuned" >&2; continue; }
    job "${BASE[*]} task=$task seed=1,2,3 method=neuroada method.k=20 method.selection=reverse,random,gradient trainer.lr=$lr"
  done
}

phase_frontier() {
  for task in $TASKS; do
    lr=$(chosen "$task" neuroada-k20)
    if [ -n "$lr" ]; then job "${BASE[*]} task=$task seed=1,2,3 method=neuroada method.k=2,5,10,50 trainer.lr=$lr"; fi
    lr=$(chosen "$task" lora-rmatchk20)
    if [ -n "$lr" ]; then job "${BASE[*]} task=$task seed=1,2,3 method=lora ++method.r=2,4,8,16 trainer.lr=$lr"; fi
  done
}

case "${1:-}" in
  tune|widen|seeds|selection|frontier) "phase_$1" ;;
  all) phase_tune; phase_widen; phase_seeds; phase_selection; phase_frontier ;;
  *) echo "usage: $0 tune|widen|seeds|selection|frontier|all" >&2; exit 2 ;;
esac

run_jobs "$1"
