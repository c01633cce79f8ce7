#!/usr/bin/env bash
# CPU-scale reproduction of the paper's comparison (issue: paper figures), sized for a 2-core machine.
#   bash experiments/cpu_scale/run.sh [commonsense|glue|all]      (outputs: results/runs/cpu_scale/)
# Learning rates per method were set once, without tuning, and are the same for every task.
# The two suites are independent: on 2 cores run them side by side, one thread each,
#   OMP_NUM_THREADS=1 bash experiments/cpu_scale/run.sh glue & OMP_NUM_THREADS=1 bash experiments/cpu_scale/run.sh commonsense
# Budget (one thread each): GLUE 90 runs (5 tasks x 6 methods x 3 seeds, 50 steps) at ~1 min each;
# commonsense 6 runs (20 steps, 40 items per test set) at ~10 min each. The measured times are in each run's
# record (wall_time_s) and summarised in results/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/runs/cpu_scale}
what=${1:-all}
COMMON=(logger=none "output_root=$OUT")

# r=match sets LoRA/DoRA's rank to NeuroAda k=20's parameter count on the same targets. Overrides of keys that
# only the swept methods have need `++`: Hydra first composes a sweep with the default method (neuroada).
commonsense() {
  local base=(model=smollm2-135m task=commonsense15k task.max_train_samples=320 task.max_eval_samples=40
              task.skip_missing_eval_sets=true trainer.max_steps=-1 trainer.epochs=1 trainer.batch_size=16
              trainer.max_length=256 trainer.save_steps=1000 "${COMMON[@]}")
  # The pretrained model's ("before") scores are the same for every method: evaluate them once.
  "$PY" src/run.py -m "${base[@]}" method=neuroada method.k=20 trainer.lr=1e-2 eval_before=true
  "$PY" src/run.py -m "${base[@]}" method=neuroada method.k=1 trainer.lr=1e-2 eval_before=false
  "$PY" src/run.py -m "${base[@]}" method=lora,dora ++method.r=match ++method.k_match=20 trainer.lr=2e-3 eval_before=false
  "$PY" src/run.py -m "${base[@]}" method=masked method.k=20 trainer.lr=1e-3 eval_before=false
  "$PY" src/run.py -m "${base[@]}" method=full trainer.lr=5e-5 eval_before=false
}

glue() {
  # The classification head starts random, so there are no meaningful "before" scores.
  local base=(model=minilm-l6 task=cola,sst2,mrpc,stsb,rte seed=1,2,3 task.max_train_samples=800 task.max_eval_samples=500
              trainer.max_steps=-1 trainer.epochs=2 trainer.batch_size=32 trainer.max_length=128 trainer.save_steps=10000
              eval_batch_size=64 eval_before=false "${COMMON[@]}")
  "$PY" src/run.py -m "${base[@]}" method=neuroada method.k=1,20 trainer.lr=5e-3
  "$PY" src/run.py -m "${base[@]}" method=lora,dora ++method.r=match ++method.k_match=20 trainer.lr=1e-3
  "$PY" src/run.py -m "${base[@]}" method=masked method.k=20 trainer.lr=5e-4
  "$PY" src/run.py -m "${base[@]}" method=full trainer.lr=5e-5
}

case "$what" in
  commonsense) commonsense ;;
  glue) glue ;;
  all) glue; commonsense ;;
  *) echo "usage: $0 [commonsense|glue|all]" >&2; exit 2 ;;
esac
