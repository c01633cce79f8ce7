"""Which checkpoint a relaunch resumes from, and resuming a run whose training had already finished."""
from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from safetensors import safe_open
from transformers import TrainerState

log = logging.getLogger(__name__)
STATE_FILE = "trainer_state.json"  # the Trainer writes it last: a checkpoint without it was cut short


def _problem(checkpoint: Path) -> str | None:
    """Why a checkpoint cannot be resumed from, or None if it is complete."""
    try:
        json.loads((checkpoint / STATE_FILE).read_text())
    except (OSError, ValueError) as error:
        return f"{STATE_FILE} unreadable ({type(error).__name__})"
    for weights in sorted(checkpoint.glob("*.safetensors")):
        try:
            with safe_open(str(weights), framework="pt") as handle:
                for name in handle.keys():
                    handle.get_slice(name)
        except Exception as error:  # truncated or corrupted file: safetensors checks sizes against its header
            return f"{weights.name} unreadable ({type(error).__name__}: {error})"
    return None


def checkpoint_step(checkpoint: str | Path | None) -> int | None:
    """The step of a Trainer checkpoint folder (`.../checkpoint-<step>`), or None."""
    match = re.search(r"checkpoint-(\d+)$", str(checkpoint or ""))
    return int(match.group(1)) if match else None


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest checkpoint that is complete; newer incomplete ones (a kill during a save) are skipped
    with a warning that names them."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    steps = sorted((int(m.group(1)), p) for p in root.iterdir()
                   if p.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", p.name)))
    for _, checkpoint in reversed(steps):
        problem = _problem(checkpoint)
        if problem is None:
            return str(checkpoint)
        log.warning("checkpoint %s is incomplete (%s), probably cut short by a kill during a save; "
                    "resuming from an earlier one", checkpoint, problem)
    return None


def finished_training(checkpoint: str | None, stop_at: int | None = None) -> TrainerState | None:
    """The checkpoint's Trainer state if training had reached its last step there (killed after the final
    save, before the record), else None. `stop_at`: the step a retrained run stops at (`StopAtChosenStep`)."""
    if checkpoint is None:
        return None
    state = TrainerState.load_from_json(str(Path(checkpoint) / STATE_FILE))
    last = min(stop_at, state.max_steps) if stop_at and state.max_steps else state.max_steps
    return state if last and state.global_step >= last else None


def mean_training_loss(state: TrainerState) -> float | None:
    """The mean per-step loss, as `train()` reports it, from the logged interval means."""
    total, steps, previous = 0.0, 0, 0
    for entry in state.log_history:
        if "loss" in entry:
            n = entry["step"] - previous
            total, steps, previous = total + float(entry["loss"]) * n, steps + n, entry["step"]
    return total / steps if steps else None
