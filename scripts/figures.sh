#!/usr/bin/env bash
# Regenerates every table and figure under results/ from the run records (executes notebooks/*.ipynb) and
# prints what it wrote. Arguments go to `python -m neuroada.analysis.regenerate` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m neuroada.analysis.regenerate "$@"
