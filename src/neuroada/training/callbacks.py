from __future__ import annotations

import os
from pathlib import Path

from transformers import TrainerCallback

STOP_FILE = "STOP"  # `touch <output_root>/STOP`: every run under that root stops at its next checkpoint
DRAIN_FILE = "DRAIN"  # `touch <output_root>/DRAIN`: the runs under way finish, no other run under that root starts


class StopRequested(Exception):
    """A run stopped on request after a checkpoint or a scored eval set (STOP), or not started (DRAIN): the same
    command resumes or starts it once the file is gone."""


def stop_requested(output_root: str | Path, name: str = STOP_FILE) -> Path | None:
    path = Path(output_root) / name
    return path if path.exists() else None


class StopAtCheckpoint(TrainerCallback):
    """Stops the run right after a checkpoint is written when `<output_root>/STOP` exists: a study can be paused
    without losing the steps since the last checkpoint (a kill loses them)."""

    def __init__(self, output_root: str | Path):
        self.output_root = output_root

    def on_save(self, args, state, control, **kwargs):
        path = stop_requested(self.output_root)
        if path is not None:
            raise StopRequested(f"stopped after the checkpoint of step {state.global_step} because {path} exists; "
                                "remove it and run the same command to resume")


class StopAtChosenStep(TrainerCallback):
    """A chosen tuning run trained again because its checkpoint is gone (a study resumed on a fresh machine): training
    stops at the step its selection set chose, with one evaluation there (that checkpoint's score, checked against the
    tuning run's) and none before it. The lr schedule stays the full run's, so the weights at that step are the tuning
    run's; the steps after it and the other evaluations only cost time."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        at = state.global_step >= self.step
        control.should_evaluate = at
        control.should_save = control.should_save or at  # best-model loading needs the evaluated step saved
        control.should_training_stop = control.should_training_stop or at
        return control

    def on_epoch_end(self, args, state, control, **kwargs):  # eval_strategy=epoch evaluates here: not before, nor twice
        control.should_evaluate = False
        control.should_save = control.should_save and state.global_step < self.step
        return control


class KillAtStep(TrainerCallback):
    """Test aid (`+debug.kill_at_step=N`): dies like a killed job (no cleanup) once step N is saved."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            os._exit(137)


class PatternConsistencyCheck(TrainerCallback):
    """Before training, all ranks must hold the same NeuroAda index buffers (DDP does not broadcast them)."""

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        import torch.distributed as dist

        from ..adapter import pattern_digest

        if not (dist.is_available() and dist.is_initialized()):
            return
        digests = [None] * dist.get_world_size()
        dist.all_gather_object(digests, pattern_digest(model))
        if len(set(digests)) != 1:
            raise RuntimeError(f"NeuroAda index buffers differ across ranks: {digests}")
