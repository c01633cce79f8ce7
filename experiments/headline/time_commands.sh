#!/usr/bin/env bash
# Times the README's three headline commands (and their short variants) on this machine and records each
# wall time with the load average (/proc/loadavg) before and after, in results/headline/times.json
# (one entry per command, replaced when re-timed), with the command's full output in results/headline/logs/.
#
#   bash experiments/headline/time_commands.sh            # the short variants (minutes on an idle 2-core machine)
#   bash experiments/headline/time_commands.sh full       # the full commands (about an hour or more each)
#   bash experiments/headline/time_commands.sh all        # both
#   bash experiments/headline/time_commands.sh short figures   # only the named ones (run, sweep, figures)
#
# Runs write to a fresh temporary output_root (a completed run would otherwise be skipped, not timed);
# everything else is as a user types it. The SmolLM2 cache must exist (any earlier run made it), so that
# the one-time GGUF conversion is not timed. Check `uptime` first: other work on the machine slows it.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
SET=${1:-short}
shift || true
ONLY=("$@")
OUT=results/headline
mkdir -p "$OUT/logs"
TMP=$(mktemp -d /tmp/neuroada_headline.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

SHORT_RUN="eval_before=false task.max_eval_samples=16 trainer.max_steps=10"
SHORT_SWEEP="eval_before=false task.max_eval_samples=8 trainer.max_steps=5"
declare -A CMDS=(
  [full_run]="$PY src/run.py method=neuroada task=gsm8k"
  [full_sweep]="$PY src/run.py -m method=neuroada method.k=1,5,20 task=gsm8k"
  [full_figures]="bash scripts/figures.sh"
  [short_run]="$PY src/run.py method=neuroada task=gsm8k $SHORT_RUN"
  [short_sweep]="$PY src/run.py -m method=neuroada method.k=1,5,20 task=gsm8k $SHORT_SWEEP"
  [short_figures]="bash scripts/figures.sh"
)
case "$SET" in
  short) NAMES=(short_run short_sweep short_figures) ;;
  full) NAMES=(full_run full_sweep full_figures) ;;
  all) NAMES=(short_run short_sweep short_figures full_run full_sweep full_figures) ;;
  *) echo "usage: $0 [short|full|all] [run|sweep|figures ...]" >&2; exit 2 ;;
esac

for name in "${NAMES[@]}"; do
  if [ ${#ONLY[@]} -gt 0 ] && [[ ! " ${ONLY[*]} " == *" ${name#*_} "* ]]; then continue; fi
  cmd=${CMDS[$name]}
  extra=""
  case "$name" in
    *_run) extra="output_root=$TMP/$name/runs hydra.run.dir=$TMP/$name/hydra" ;;
    *_sweep) extra="output_root=$TMP/$name/runs hydra.sweep.dir=$TMP/$name/sweep" ;;
  esac
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  echo "== $name: $cmd  (load $load_before)"
  start=$(date +%s.%N)
  set +e
  $cmd $extra > "$OUT/logs/$name.txt" 2>&1
  rc=$?
  set -e
  end=$(date +%s.%N)
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  "$PY" - "$OUT/times.json" "$name" "$cmd" "$extra" "$rc" "$start" "$end" "$load_before" "$load_after" <<'PYEOF'
import json, os, subprocess, sys
from datetime import datetime, timezone
from pathlib import Path
path, name, cmd, extra, rc, start, end, lb, la = sys.argv[1:]
times = json.loads(Path(path).read_text()) if Path(path).exists() else {}
wall = float(end) - float(start)
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
times[name] = {"command": cmd, "timing_overrides": extra.split(),
               "wall_s": round(wall, 1), "wall": f"{int(wall // 60)} min {wall % 60:.0f} s", "exit_status": int(rc),
               "loadavg_before": [float(x) for x in lb.split()], "loadavg_after": [float(x) for x in la.split()],
               "cpus": os.cpu_count(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git_commit": commit,
               "log": f"results/headline/logs/{name}.txt"}
Path(path).write_text(json.dumps(dict(sorted(times.items())), indent=1) + "\n")
print(f"   {times[name]['wall']} (exit {rc}; load {lb} -> {la})")
PYEOF
done
echo "times in $OUT/times.json"
