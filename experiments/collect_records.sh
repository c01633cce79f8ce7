#!/usr/bin/env bash
# Copies a study's completed runs from the worktree it ran in into this checkout, for committing:
# record.json and predictions/*.jsonl.gz of every run whose record says "completed"; never weights,
# checkpoints, locks or Hydra folders. A run already here with the same record is left as it is.
# COMMIT=<prefix> keeps only records made at that (clean) commit, e.g. the commit the worktree was made from.
#
#   COMMIT=8f90894 bash experiments/collect_records.sh /work/clean/results/runs/glue_study results/runs/glue_study
set -euo pipefail
SRC=${1:?usage: $0 SRC_STUDY_DIR DEST_STUDY_DIR}
DEST=${2:?usage: $0 SRC_STUDY_DIR DEST_STUDY_DIR}
[ -d "$SRC" ] || { echo "no such study folder: $SRC" >&2; exit 2; }
copied=0 skipped=0 open=0 other=0 dirty=0
for run in "$SRC"/*/; do
  rec="$run/record.json"
  if [ ! -f "$rec" ] || ! grep -q '"status": "completed"' "$rec"; then open=$((open + 1)); continue; fi
  if [ -n "${COMMIT:-}" ] && ! grep -q "\"commit\": \"$COMMIT" "$rec"; then other=$((other + 1)); continue; fi
  if ! grep -q '"dirty": false' "$rec"; then dirty=$((dirty + 1)); continue; fi  # records must name a clean commit
  to="$DEST/$(basename "$run")"
  if [ -f "$to/record.json" ] && cmp -s "$rec" "$to/record.json"; then skipped=$((skipped + 1)); continue; fi
  mkdir -p "$to/predictions"
  cp "$rec" "$to/record.json"
  if compgen -G "$run/predictions/*.jsonl.gz" > /dev/null; then cp "$run"/predictions/*.jsonl.gz "$to/predictions/"; fi
  copied=$((copied + 1))
done
echo "copied $copied completed runs, $skipped already here, $open not completed (left in $SRC), $other from another commit, $dirty from a dirty tree (not copied)"
