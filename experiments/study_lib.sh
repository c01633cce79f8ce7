# Shared by the study launchers (experiments/glue_study/run.sh, experiments/decoder_study/run.sh); source it.
# A launcher fills ARM (arm -> "method overrides|record method_tag|lr grid"), BASE (common overrides) and OUT,
# queues jobs with `job`, then calls `run_jobs PHASE`: stream STREAM of NSTREAMS runs jobs STREAM, STREAM+NSTREAMS, ...
# as Hydra multiruns of src/run.py; completed runs are skipped (the pipeline's resume) and DRY_RUN=1 prints them.
# To pause a study without losing work: `touch $OUT/STOP`; each stream's running job stops right after its next
# checkpoint or scored eval set (exit 3) and the stream ends; `rm $OUT/STOP` and the same launch resumes.
PY=${PY:-.venv/bin/python}
STREAM=${STREAM:-0}
NSTREAMS=${NSTREAMS:-1}
declare -A ARM
declare -A TASK_CONFIG=()  # record task name -> task config, where they differ (commonsense15k -> commonsense15k_study)
declare -A TASK_ARGS=()    # task config -> its own overrides (a task's step budget), added wherever the task is
JOBS=()

config_of() { echo "${TASK_CONFIG[$1]:-$1}"; }
record_of() { local k; for k in "${!TASK_CONFIG[@]}"; do [ "${TASK_CONFIG[$k]}" = "$1" ] && { echo "$k"; return; }; done; echo "$1"; }

job() { JOBS+=("$*"); }
on_task() { echo "task=$1 ${TASK_ARGS[$1]:-}"; }  # "task=T" plus T's own overrides
arm_field() { local IFS='|'; read -r -a f <<< "${ARM[$1]}"; echo "${f[$2]}"; }
# The study's lr choices, by this checkout's code (src/ first: an editable install may point at another checkout).
choices() { PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m neuroada.analysis.study choose "$OUT"; }
# The chosen lr of (task, method_tag) on the selection set, or nothing before its tuning runs are in.
chosen() { choices | awk -F'\t' -v t="$1" -v m="$2" '$1==t && $2==m {print $3}'; }

# One job per (arm, task): the arm's lr grid at seed 1.
tune_jobs() {  # tune_jobs "task1 task2" arm...
  local tasks=$1; shift
  for arm in "$@"; do for task in $tasks; do
    job "${BASE[*]} $(on_task "$task") seed=1 $(arm_field "$arm" 0) trainer.lr=$(arm_field "$arm" 2)"
  done; done
}

# One more lr beyond the edge for every choice at the edge of its grid.
widen_jobs() {  # widen_jobs arm...
  while IFS=$'\t' read -r task tag lr score grid widen _flat; do
    [ -n "${widen:-}" ] || continue
    for arm in "$@"; do
      if [ "$(arm_field "$arm" 1)" = "$tag" ]; then
        job "${BASE[*]} $(on_task "$(config_of "$task")") seed=1 $(arm_field "$arm" 0) trainer.lr=${widen#widen=}"
      fi
    done
  done < <(choices)
}

# The given seeds at the chosen lr of every (arm, task) that is tuned.
seed_jobs() {  # seed_jobs "task1 task2" seeds arm...
  local tasks=$1 seeds=$2; shift 2
  for arm in "$@"; do for task in $tasks; do
    lr=$(chosen "$(record_of "$task")" "$(arm_field "$arm" 1)")
    [ -n "$lr" ] || { echo "skip $arm/$task: not tuned yet" >&2; continue; }
    job "${BASE[*]} $(on_task "$task") seed=$seeds $(arm_field "$arm" 0) trainer.lr=$lr"
  done; done
}

run_jobs() {  # run_jobs PHASE
  local status=0
  for i in "${!JOBS[@]}"; do
    (( i % NSTREAMS == STREAM )) || continue
    read -r -a overrides <<< "${JOBS[$i]}"
    if [ -n "${DRY_RUN:-}" ]; then echo "$PY src/run.py -m ${JOBS[$i]}"; continue; fi
    if [ -f "$OUT/STOP" ]; then echo "[$(date -u +%FT%TZ)] stream $STREAM: $OUT/STOP exists; stopping before job $i"; return 3; fi
    echo "[$(date -u +%FT%TZ)] stream $STREAM job $i: ${JOBS[$i]}"
    local rc=0
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$PY" src/run.py -m "${overrides[@]}" "hydra.sweep.dir=$OUT/.hydra/$1-$i" || rc=$?
    if [ "$rc" = 3 ]; then echo "[$(date -u +%FT%TZ)] stream $STREAM: stopped at a checkpoint ($OUT/STOP); relaunch resumes"; return 3; fi
    [ "$rc" = 0 ] || status=1
  done
  return $status
}
