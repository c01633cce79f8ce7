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
