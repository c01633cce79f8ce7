"""HF Trainer with lean checkpoints, method-specific weight decay, and a non-finite-loss stop."""
from __future__ import annotations

import os
import time

import torch
from safetensors.torch import load_file, save_file
from transformers import Trainer

from ..memory import SavedActivations


TRAINABLE_FILE = "trainable.safetensors"


class NonFiniteLossError(RuntimeError):
    pass


class NeuroAdaTrainer(Trainer):
    """`no_decay`: parameter names the optimizer must not decay (the masked baseline decays its own).
    `lean_checkpoints`: checkpoints hold only trainable tensors (NeuroAda deltas, heads), not the base model.
    """

    def __init__(self, *args, no_decay=(), lean_checkpoints=False, resources=None, selection_fn=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.selection_fn = selection_fn  # (model, step) -> metrics; replaces the Trainer's loss/logits loop (generation tasks)
        self.no_decay = set(no_decay)
        self.lean_checkpoints = lean_checkpoints
        self.resources = resources
        self.saved_activation_bytes: int | None = None  # measured on the first training step

    def get_decay_parameter_names(self, model):
        return [n for n in super().get_decay_parameter_names(model) if n not in self.no_decay]

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self.saved_activation_bytes is None:
            with SavedActivations(model) as saved:
                loss = super().training_step(model, inputs, num_items_in_batch)
            self.saved_activation_bytes = saved.nbytes
        else:
            loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss).all():
            last = _last_checkpoint(self.args.output_dir)
            raise NonFiniteLossError(
                f"non-finite training loss {loss.item()} at step {self.state.global_step + 1}; "
                f"stopped. Last checkpoint kept: {last or 'none yet'}"
            )
        return loss

    def log(self, logs, start_time=None):
        if self.resources is not None and "loss" in logs:
            if self.state.num_input_tokens_seen:
                elapsed = max(time.perf_counter() - self.resources.t0, 1e-9)
                logs["tokens_per_s"] = round(self.state.num_input_tokens_seen / elapsed, 2)
            peak = self.resources.peak()
            logs["peak_memory_mb"] = round((peak.get("cuda_max_allocated_bytes") or peak["cpu_peak_rss_bytes"] or 0) / 2**20, 1)
        super().log(logs, start_time)

    def _trainable_state(self):
        model = self.accelerator.unwrap_model(self.model)
        return {n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad}

    def _save(self, output_dir=None, state_dict=None):
        if not self.lean_checkpoints:
            return super()._save(output_dir, state_dict)
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        save_file(self._trainable_state(), os.path.join(output_dir, TRAINABLE_FILE))
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
        """With `selection_fn` (generation tasks), the selection set is scored by greedy decoding and the task's
        extraction; the Trainer's evaluation schedule, best-metric tracking and best-model loading stay its own."""
        if self.selection_fn is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        model = self.accelerator.unwrap_model(self.model)
        metrics = {f"{metric_key_prefix}_{k}": v for k, v in self.selection_fn(model, self.state.global_step).items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def _load_best_model(self):
        """Best-checkpoint loading (`load_best_model_at_end`) from a lean checkpoint."""
        if not self.lean_checkpoints:
            return super()._load_best_model()
        self._load_from_checkpoint(self.state.best_model_checkpoint)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        path = os.path.join(resume_from_checkpoint, TRAINABLE_FILE)
        if not self.lean_checkpoints or not os.path.isfile(path):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        model = self.accelerator.unwrap_model(model or self.model)
        saved = load_file(path)
        params = dict(model.named_parameters())
        missing = [n for n, p in params.items() if p.requires_grad and n not in saved]
        if missing or set(saved) - set(params):
            raise ValueError(f"checkpoint {resume_from_checkpoint} does not fit this model: missing {missing[:5]}, unexpected {sorted(set(saved) - set(params))[:5]}")
        with torch.no_grad():
            for n, t in saved.items():
                params[n].copy_(t)


def _last_checkpoint(output_dir):
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(output_dir) if os.path.isdir(output_dir) else None
