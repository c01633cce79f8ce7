# Sourced by the launchers in this folder. Runs from the repository root.
#   LAUNCHER="hydra/launcher=slurm"   submit through submitit/SLURM (conf/hydra/launcher/slurm.yaml)
#   DRY_RUN=1                         print the command instead of running it
#   EXTRA="trainer.max_steps=10 ..."  more Hydra overrides (appended to every command)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
LAUNCHER="${LAUNCHER:-}"
EXTRA="${EXTRA:-}"

run() {
  echo "+ $*" >&2
  if [[ "${DRY_RUN:-0}" == "1" ]]; then return 0; fi
  "$@"
}

# python src/run.py -m <overrides...> [launcher] [extra]
multirun() {
  # shellcheck disable=SC2086
  run python src/run.py -m "$@" ${LAUNCHER} ${EXTRA}
}
