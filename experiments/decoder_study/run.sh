#!/usr/bin/env bash
# The decoder study (issue 13): SmolLM2-135M-Instruct, NeuroAda k=20/k=1 against LoRA, DoRA and full fine-tuning
# (masked k=20 if the budget allows), on commonsense first and arithmetic second, tuned and seeded.
#
#   bash experiments/decoder_study/run.sh PHASE     PHASE: cs-tune | cs-widen | cs-seeds | math-tune | math-widen | math-seeds
#                                                    | math-floor (the untrained model on the arithmetic sets, once)
#   bash experiments/decoder_study/run.sh cs-grids   print each arm's record tag and lr grid (math-grids: arithmetic's)
#   STREAM=0 NSTREAMS=2 bash experiments/decoder_study/run.sh cs-tune &  (and STREAM=1; one thread each)
#   STREAM=any bash experiments/decoder_study/run.sh cs-tune &           takes every job no other stream holds
#   DRY_RUN=1 bash experiments/decoder_study/run.sh cs-tune              print the Hydra commands only
#   ARMS=neuroada20,lora bash experiments/decoder_study/run.sh cs-widen  only those arms (ARM below, and dora)
#   STREAM=any REPEAT=1 bash experiments/decoder_study/run.sh math-widen widen again while a choice stays at an edge
#   touch results/runs/decoder_study/STOP | DRAIN                        pause at the next checkpoint | let the runs under way finish, start none
#
# Protocol (the same for every method):
#   commonsense  task=commonsense15k_study: a fixed seeded 800-item subsample of Commonsense15K at the release's
#                max length 512 (the one item whose prompt alone fills it is dropped: it leaves no answer
#                token), so one epoch is 799 examples = 100 steps of batch 8 (the paper: 16; halved to fit the
#                budget). Evaluation prompts are cut to the same 512 tokens, as the release does (at 256, 164 of
#                250 HellaSwag prompts lost their answer header). The release's Commonsense15K validation file
#                (250 seeded items) chooses lr and checkpoint (evaluated at steps 50 and 100 by greedy decoding
#                and the task's extraction); the eight test sets are scored on 250 fixed seeded items each (the
#                same items for every method and seed), greedy, 32 new tokens, LLM-Adapters prompts.
#   arithmetic   task=math10k_study: 300 seeded Math10K items held out for selection (with every training item that
#                repeats one of their questions), a fixed 800-item
#                subsample for training (50 steps of 16, max length 384), test sets on up to 400 seeded items
#                (all of AddSub and AQuA), 256 new tokens (most Math10K chains end well before).
#   methods      NeuroAda k=20 and k=1 on all seven projections; LoRA and DoRA on the paper's LoRA targets
#                (q,k,v,up,down) with r matched to NeuroAda k=20's count; full fine-tuning; masked k=20 last.
#   lr           3 log-spaced values for NeuroAda and LoRA, 2 for full FT (3 on arithmetic), seed 1; DoRA reuses
#                LoRA's choice. A choice at a grid's edge is widened by one value (cs-widen, math-widen: each suite
#                its own; full FT's two always are, so it ends with 3); seeds and DoRA run only at a choice inside its
#                grid (`tuned_lr`, study_lib.sh). Arithmetic's grids (MATH_LR) are centred on each arm's commonsense
#                choice, full FT's with its three values at once: on commonsense every arm's first choice was at its
#                grid's edge and cost a widen run, and an arithmetic run costs more.
#   seeds        commonsense 1, 2 (and 3 if the budget allows); arithmetic 1.
#   test sets    since session 15 the tuning phases (cs-tune, cs-widen, math-tune, math-widen) run with
#                eval_test=false: a tuning run scores its selection set only, and the seeds phase's seed-1 job (the
#                same run id) scores the chosen run's test sets from its kept checkpoint, training nothing. Test
#                scores of unchosen lrs are never used.
#                Keep the tuning runs' folders (their checkpoints) under $OUT until that seeds phase has run. Where the
#                checkpoint is gone (a fresh machine: only records are committed) the seed-1 job trains the chosen run
#                again from its seed, up to the step it chose, and records whether that reproduced the selection score its lr was chosen on
#                (`test_scored_later.selection_score_reproduced`): a whole run's cost, in the plan below.
#
# Plan (runs x minutes). Measured 2026-11-30 beside one GLUE stream (1 thread each), NeuroAda k=20 at max
# length 256 (superseded; discarded): 100 steps of batch 8 in 40 min (24 s a step), the two selection passes
# and the eight test sets (250 items each, 1-4 min a set) in 17 min: 57 min a run. At max length 512 the long
# examples (BoolQ, HellaSwag) are kept and eval prompts are no longer cut: ~1.2 h a run (correct this from the
# first record at 512).
#   Measured at 512 (6 records, commits a143ffa/4cad219, beside one GLUE stream): NeuroAda k=20 62-70 min a run,
#   k=1 67-73 min (training 30-52 min, the rest the two selection passes and the eight test sets); LoRA (3 records,
#   25f9e34/69ea015) 64-85 min; full FT (1 record, f72165d) 101 min, training 81 (beside fresh-clone checks too).
#   A run still going when a working session ends is lost: one run a stream a session.
#   cs-tune   (3+3+3+2) = 11 runs x ~1.2 h                       = ~13 stream-h
#   cs-widen  one run per choice at an edge: k=20, k=1 so far, full FT always  = 3-5 runs x ~1.2 h
#   cs-seeds  seed 2 of the 4 tuned methods + DoRA seeds 1, 2  = 6 runs x ~1.2 h = ~7 stream-h (DoRA seed 1
#             also scores the untrained model: +~15 min)
#   math      estimated, not yet measured: training 50 steps of 16 at max length 384, ~20 min (the issue's 50 steps
#             at k=20: 1206 s); each of the two selection passes (300 items, up to 256 new tokens) up to ~50 min at the
#             untrained model's 0.1 items/s at 512 tokens (results/bench/generation_speed.json; trained chains end
#             sooner). math-tune (3+3+3+3) = 12 runs x ~1-2 h; math-widen only at an edge; math-seeds: the 4 chosen
#             runs' five test sets (up to 400 items each, more than the two selection passes) and DoRA seed 1; a chosen
#             run tuned in an earlier session is trained again first (its checkpoint is gone): +4 runs x ~1-2 h.
#   ~21 stream-h for commonsense = ~10.5 h of the machine on two streams (issue 13 budgets ~14 h for both suites).
# What is left (session 26, 2026-12-08): commonsense is complete (every arm 2 seeds at a choice inside its grid; full
#   FT's seed 2 took 60 min). Arithmetic: NeuroAda k=20 is tuned: 3.33e-4 (session 22), 1e-3 (23), 3e-3 (24, the best:
#   6.3 %) and the widen run at 9e-3 (25: 5.3 %, 87 min), so its choice, 3e-3, is inside its grid; math-floor is done
#   (session 24, 73 min). NeuroAda k=1 at 1e-2 is in (26: 6.0 %, 79 min). Next: `ARMS=neuroada1 math-tune` (3e-2, 9e-2),
#   then lora, full (REPEAT=1 math-widen after each).
#   Measured on the first, one thread beside a GLUE stream: 50 steps and the step-25 and step-50 selection passes in
#   69 min (50-90 s a step; a pass over the 300 items ~15 min, ~3-4 s an item), then the final pass over the selection
#   set ~15 min more: ~85-90 min a tuning run. The second ran beside fresh-clone checks too and took 144 min.
#   Since session 23 the final pass takes the selection set from the in-run evaluation of the chosen checkpoint
#   (`InRunScores`; the same predictions for NeuroAda and full FT, rounding apart for peft's merge) instead of decoding
#   it again: ~75-90 min a tuning run. Left: math-tune's 8 other runs (~11 stream-h), math-widen (0-3 runs),
#   math-seeds (the 4 chosen runs retrained where their checkpoint is gone, each with its five test sets, ~1,850
#   items, ~1 h more: ~2 h a run; since session 24 a retrain stops at the step its tuning run chose and evaluates
#   that step alone, `StopAtChosenStep`: ~12 min less at step 50, ~35 at step 25). A run's folder with its checkpoint can be carried to the next session's worktree
#   (`cp -a <old worktree>/results/runs/decoder_study/<run id> <new worktree>/results/runs/decoder_study/`: the run id
#   is the same on any commit) and its seeds job then scores the test sets without training. The untrained model's
#   arithmetic scores (the floor of C3) come from `math-floor` (session 24: method=untrained trains nothing and scores
#   the selection set and the five test sets once, 2,149 items in 73 min at a 1.3 GB peak: it ran beside a training
#   run), not from DoRA's seed-1 run, which on commonsense scored it in its before pass but here would then take ~3 h,
#   longer than a working session leaves a stream. ~25 stream-h in all,
#   one decoder stream beside the GLUE study. Commonsense at this budget separates nothing more with seeds (every arm
#   answers near a constant; `tables/decoder_study_agreement.md`); arithmetic is where training moved accuracy in the
#   issue's measurement.
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/study_lib.sh
OUT=${OUT:-results/runs/decoder_study}
COMMON=(model=smollm2-135m trainer.warmup_ratio=0.06 trainer.weight_decay=0.0 trainer.lr_scheduler=linear
        trainer.eval_strategy=steps trainer.save_total_limit=1 trainer.logging_steps=5 eval_batch_size=16 eval_before=false
        logger=none predictions=compact task.skip_missing_eval_sets=true "output_root=$OUT")
CS=("${COMMON[@]}" trainer.batch_size=8 task.max_train_samples=800 task.max_eval_samples=250 trainer.max_steps=-1
    trainer.epochs=1 trainer.max_length=512 trainer.eval_steps=50)
MATH=("${COMMON[@]}" trainer.batch_size=16 task.max_train_samples=800 task.max_eval_samples=400 trainer.max_steps=-1 trainer.epochs=1
      trainer.max_length=384 trainer.eval_steps=25 task.max_new_tokens=256)

ARM=(
  [neuroada20]="method=neuroada method.k=20|neuroada-k20|1e-3,3e-3,1e-2"
  [neuroada1]="method=neuroada method.k=1|neuroada-k1|3e-3,1e-2,3e-2"
  [lora]="method=lora ++method.r=match ++method.k_match=20|lora-rmatchk20|3e-4,1e-3,3e-3"
  [full]="method=full|full|1e-5,3e-5"
  [masked]="method=masked method.k=20|masked-k20|1e-3,3e-3,1e-2"
)
TUNED=(neuroada20 neuroada1 lora full)
# Arithmetic's grids: each arm's commonsense choice in the middle (see the header).
declare -A MATH_LR=([neuroada20]=3.33e-4,1e-3,3e-3 [neuroada1]=1e-2,3e-2,9e-2 [lora]=9e-5,3e-4,1e-3
                    [full]=1e-5,3e-5,9e-5)
math_grids() { local a; for a in "${!MATH_LR[@]}"; do ARM[$a]="${ARM[$a]%|*}|${MATH_LR[$a]}"; done; }
TASK_CONFIG=([commonsense15k]=commonsense15k_study [math10k]=math10k_study)
EXTRA_ARMS=dora  # DoRA is queued by dora_jobs, at LoRA's lr; ARMS may name it
DORA="method=dora ++method.r=match ++method.k_match=20"

# DoRA at LoRA's chosen lr (said in the results). On commonsense its first seed also evaluates before training
# (`dora_jobs TASK SEEDS before`, eval_before=true): every adapter starts as the untrained model, so that pass scores the
# floor of C3 (`untrained` in the tables) on the same test items, once; greedy decoding makes it the same for every seed.
# On arithmetic that pass (~1,850 items) would make DoRA's run longer than a session: the floor is a run of its own
# there (`math-floor`: method=untrained, nothing trained, the test sets scored once).
dora_jobs() {
  local task=$1 seeds=$2 before=${3:-} lr first
  selected dora || return 0
  load_choices
  lr=$(tuned_lr "$(record_of "$task")" lora-rmatchk20)
  [ -n "$lr" ] || return 0  # tuned_lr said why
  first=${seeds%%,*}
  if [ "$before" = before ]; then
    job "${BASE[*]/eval_before=false/eval_before=true} $(on_task "$task") seed=$first $DORA trainer.lr=$lr"
    [ "$seeds" = "$first" ] || job "${BASE[*]} $(on_task "$task") seed=${seeds#*,} $DORA trainer.lr=$lr"
  else
    job "${BASE[*]} $(on_task "$task") seed=$seeds $DORA trainer.lr=$lr"
  fi
}

case "${1:-}" in
  cs-grids) print_grids; exit 0 ;;
  math-grids) math_grids; print_grids; exit 0 ;;
  cs-tune) BASE=("${CS[@]}" eval_test=false); queue() { tune_jobs commonsense15k_study "${TUNED[@]}"; } ;;
  cs-widen) BASE=("${CS[@]}" eval_test=false); queue() { widen_jobs commonsense15k_study "${TUNED[@]}"; } ;;
  cs-seeds) BASE=("${CS[@]}"); queue() { dora_jobs commonsense15k_study 1,2 before; seed_jobs commonsense15k_study 1,2 "${TUNED[@]}"; } ;;
  cs-masked) BASE=("${CS[@]}"); queue() { tune_jobs commonsense15k_study masked; } ;;
  math-tune) BASE=("${MATH[@]}" eval_test=false); math_grids; queue() { tune_jobs math10k_study "${TUNED[@]}"; } ;;
  math-widen) BASE=("${MATH[@]}" eval_test=false); math_grids; queue() { widen_jobs math10k_study "${TUNED[@]}"; } ;;
  math-seeds) BASE=("${MATH[@]}"); math_grids; queue() { dora_jobs math10k_study 1; seed_jobs math10k_study 1 "${TUNED[@]}"; } ;;
  math-floor) BASE=("${MATH[@]}"); queue() { job "${BASE[*]} $(on_task math10k_study) seed=1 method=untrained"; } ;;
  *) echo "usage: $0 cs-tune|cs-widen|cs-seeds|cs-masked|math-tune|math-widen|math-seeds|math-floor|cs-grids|math-grids" >&2; exit 2 ;;
esac
run_phase "$1" queue
