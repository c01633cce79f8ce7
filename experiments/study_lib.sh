# Shared by the study launchers (experiments/glue_study/run.sh, experiments/decoder_study/run.sh); source it.
# A launcher fills ARM (arm -> "method overrides|record method_tag|lr grid"), BASE (common overrides) and OUT,
# queues jobs with `job`, then calls `run_jobs PHASE`: stream STREAM of NSTREAMS runs jobs STREAM, STREAM+NSTREAMS, ...
# as Hydra multiruns of src/run.py; completed runs are skipped (the pipeline's resume) and DRY_RUN=1 prints them.
# STREAM=any takes every job in turn instead (NSTREAMS unused), so streams can be added at any time and share a phase.
# A stream claims each job while it runs (a lock under $OUT/.hydra/claims, keyed by the job's overrides) and passes
# over a job another stream holds, or one another stream finished (exit 0) after this stream started. A job finished
# before that is run again, to be skipped by src/run.py after its own checks (e.g. that the data is the same).
# To pause a study without losing work: `touch $OUT/STOP`; each stream's running job stops right after its next
# checkpoint or scored eval set (exit 3) and the stream ends; `rm $OUT/STOP` and the same launch resumes.
# To wind a study down (before a session ends): `touch $OUT/DRAIN`; each stream's running run finishes, and no other
# run starts (a Hydra job's next run included: exit 3); `rm $OUT/DRAIN` and the same launch goes on.
# ARMS=a,b limits a phase to those arms (names of ARM, or of EXTRA_ARMS), e.g. to seed two methods before tuning all.
# REPEAT=1 (with STREAM=any) queues the phase again after each pass, on the choices its finished runs made (a widen or
# seed job may be ready now), and runs what is new, until a pass queues nothing new: one launch instead of relaunching.
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
EXTRA_ARMS=  # arms a launcher queues by hand (not in ARM) that ARMS may name
# Whether ARMS (unset: every arm) selects this arm.
selected() { [ -z "${ARMS:-}" ] || [[ ",$ARMS," == *",$1,"* ]]; }
# The given arms that ARMS selects.
selected_arms() { local a; for a in "$@"; do selected "$a" && echo "$a"; done; return 0; }
check_arms() {  # every name in ARMS must be an arm of this launcher
  local a
  for a in ${ARMS:+${ARMS//,/ }}; do
    [[ -n "${ARM[$a]+x}" || " $EXTRA_ARMS " == *" $a "* ]] || {
      echo "ARMS: unknown arm '$a'; this launcher's arms: ${!ARM[*]} $EXTRA_ARMS" >&2; exit 2; }
  done
}

# The study's lr choices, by this checkout's code (src/ first: an editable install may point at another checkout).
# `load_choices` (not in a subshell) reads them once for the whole launch; the functions below call it.
CHOICES=
load_choices() { [ -n "$CHOICES" ] || CHOICES=$(PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m neuroada.analysis.study choose "$OUT"); }
choices() { load_choices; [ -z "$CHOICES" ] || printf '%s\n' "$CHOICES"; }
# How many lrs the arm recording METHOD_TAG tunes over (its ARM grid); nothing when no arm records that tag.
grid_size_of() {  # grid_size_of METHOD_TAG
  local a
  for a in "${!ARM[@]}"; do
    [ "$(arm_field "$a" 1)" = "$1" ] && { arm_field "$a" 2 | tr ',' '\n' | wc -l; return; }
  done
  return 0
}
# Whether a choice LINE's grid holds fewer lrs than its arm's grid (an interrupted or unfinished tune phase): then
# neither a widen nor the seeds may follow it yet (a widen from a partial grid would repeat the lr the tune phase runs).
grid_short() {  # grid_short LINE TASK METHOD_TAG
  local grid want
  grid=$(cut -f5 <<< "$1")
  want=$(grid_size_of "$3")
  [ -n "$want" ] && (( $(tr ',' '\n' <<< "${grid#grid=}" | wc -l) < want )) || return 1
  echo "skip $3/$2: its $grid holds fewer than the arm's $want lrs; finish the tune phase first" >&2
}
# The chosen lr only where it is final: its arm's whole grid has run (an interrupted tune phase leaves part of it),
# and the choice is not at the grid's edge (then the widen phase comes first).
tuned_lr() {  # tuned_lr TASK METHOD_TAG
  local line
  line=$(choices | awk -F'\t' -v t="$1" -v m="$2" '$1==t && $2==m')
  if [ -z "$line" ]; then echo "skip $2/$1: not tuned yet" >&2; return; fi
  grid_short "$line" "$1" "$2" && return
  if [[ "$line" == *$'\t'widen=* ]]; then
    echo "skip $2/$1: its lr $(cut -f3 <<< "$line") is at the edge of its $(cut -f5 <<< "$line"); run the widen phase first" >&2
    return
  fi
  cut -f3 <<< "$line"
}

# Every arm's record method_tag and lr grid, a line each (tab-separated): the phase `grids` of a launcher. The study's
# report counts a grid complete at the size its StudySpec gives (tests/test_study_launcher.py checks they agree).
print_grids() { local a; for a in "${!ARM[@]}"; do printf '%s\t%s\n' "$(arm_field "$a" 1)" "$(arm_field "$a" 2)"; done | sort; }

# One job per (arm, task): the arm's lr grid at seed 1.
tune_jobs() {  # tune_jobs "task1 task2" arm...
  local tasks=$1; shift
  for arm in $(selected_arms "$@"); do for task in $tasks; do
    job "${BASE[*]} $(on_task "$task") seed=1 $(arm_field "$arm" 0) trainer.lr=$(arm_field "$arm" 2)"
  done; done
}

# One more lr beyond the edge for every choice at the edge of its grid, on the given tasks only (a study whose
# records hold two suites widens each with its own overrides).
widen_jobs() {  # widen_jobs "task1 task2" arm...
  local tasks=$1 line; shift
  load_choices
  while IFS= read -r line; do
    IFS=$'\t' read -r task tag lr score grid widen _flat <<< "$line"
    [ -n "${widen:-}" ] || continue
    [[ " $tasks " == *" $(config_of "$task") "* ]] || continue
    ! grid_short "$line" "$task" "$tag" || continue
    for arm in $(selected_arms "$@"); do
      if [ "$(arm_field "$arm" 1)" = "$tag" ]; then
        job "${BASE[*]} $(on_task "$(config_of "$task")") seed=1 $(arm_field "$arm" 0) trainer.lr=${widen#widen=}"
      fi
    done
  done < <(choices)
}

# The given seeds at the chosen lr of every (arm, task) that is tuned, with its choice inside its grid.
seed_jobs() {  # seed_jobs "task1 task2" seeds arm...
  local tasks=$1 seeds=$2 lr; shift 2
  load_choices
  for arm in $(selected_arms "$@"); do for task in $tasks; do
    lr=$(tuned_lr "$(record_of "$task")" "$(arm_field "$arm" 1)")
    [ -n "$lr" ] || continue
    job "${BASE[*]} $(on_task "$task") seed=$seeds $(arm_field "$arm" 0) trainer.lr=$lr"
  done; done
}

check_stream() {
  [[ "$NSTREAMS" =~ ^[1-9][0-9]*$ ]] || { echo "NSTREAMS=$NSTREAMS: expected a whole number >= 1" >&2; exit 2; }
  [[ "$STREAM" == any ]] || { [[ "$STREAM" =~ ^[0-9]+$ ]] && (( STREAM < NSTREAMS )); } || {
    echo "STREAM=$STREAM: expected 'any' or a number from 0 to NSTREAMS-1 ($((NSTREAMS - 1)))" >&2; exit 2; }
}

# A job's claim files: <path>.lock (held while it runs) and <path>.done (touched when it exits 0).
claim_path() { echo "$OUT/.hydra/claims/$(printf '%s' "$1" | sha1sum | cut -c1-16)"; }
# claim PATH: locks PATH.lock on fd CLAIM_FD, or fails at once if another stream holds it. The job's src/run.py
# inherits the fd, so the claim lasts as long as the job, even past a killed launcher.
claim() {
  exec {CLAIM_FD}> "$1.lock"
  flock -n "$CLAIM_FD" || { exec {CLAIM_FD}>&-; return 1; }
}
release() { exec {CLAIM_FD}>&-; }
# finished_since PATH START: another stream finished the job (exit 0) after START (seconds since the epoch).
finished_since() { [ -f "$1.done" ] && (( $(stat -c %Y "$1.done") > $2 )); }

run_jobs() {  # run_jobs PHASE
  local status=0 start claimed
  check_arms
  check_stream
  start=$(date +%s)
  [ -n "${DRY_RUN:-}" ] || mkdir -p "$OUT/.hydra/claims"
  for i in "${!JOBS[@]}"; do
    [ "$STREAM" = any ] || (( i % NSTREAMS == STREAM )) || continue
    read -r -a overrides <<< "${JOBS[$i]}"
    if [ -n "${DRY_RUN:-}" ]; then echo "$PY src/run.py -m ${JOBS[$i]}"; continue; fi
    for f in STOP DRAIN; do
      if [ -f "$OUT/$f" ]; then echo "[$(date -u +%FT%TZ)] stream $STREAM: $OUT/$f exists; stopping before job $i"; return 3; fi
    done
    claimed=$(claim_path "${JOBS[$i]}")
    if ! claim "$claimed"; then echo "[$(date -u +%FT%TZ)] stream $STREAM: job $i is running in another stream; next"; continue; fi
    if finished_since "$claimed" "$start"; then
      release; echo "[$(date -u +%FT%TZ)] stream $STREAM: job $i was finished by another stream; next"; continue
    fi
    echo "[$(date -u +%FT%TZ)] stream $STREAM job $i: ${JOBS[$i]}"
    local rc=0
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$PY" src/run.py -m "${overrides[@]}" "hydra.sweep.dir=$OUT/.hydra/$1-$i" || rc=$?
    [ "$rc" != 0 ] || touch "$claimed.done"
    release
    if [ "$rc" = 3 ]; then echo "[$(date -u +%FT%TZ)] stream $STREAM: stopped ($OUT/STOP or DRAIN); relaunch resumes"; return 3; fi
    [ "$rc" = 0 ] || status=1
  done
  return $status
}

# run_phase PHASE QUEUE...: queues PHASE's jobs by running the command QUEUE..., then runs them (run_jobs); under
# REPEAT=1 it queues again on the choices read afresh and runs the jobs no earlier pass queued, until there are none.
run_phase() {
  local phase=$1 j rc
  local -A seen=()
  local -a new
  shift
  if [ -n "${REPEAT:-}" ] && [ "$STREAM" != any ]; then
    echo "REPEAT=$REPEAT needs STREAM=any (a numbered stream's share of a later pass would depend on when it looked)" >&2
    exit 2
  fi
  while :; do
    JOBS=(); CHOICES=
    "$@"
    new=()
    for j in "${JOBS[@]}"; do [ -n "${seen[$j]+x}" ] || { seen[$j]=1; new+=("$j"); }; done
    (( ${#new[@]} )) || return 0
    JOBS=("${new[@]}")
    rc=0; run_jobs "$phase" || rc=$?
    [ "$rc" = 0 ] && [ -n "${REPEAT:-}" ] || return "$rc"
    echo "[$(date -u +%FT%TZ)] stream $STREAM: pass done; queueing $phase again (REPEAT)"
  done
}
