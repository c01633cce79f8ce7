from __future__ import annotations

import os

from transformers import TrainerCallback


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
