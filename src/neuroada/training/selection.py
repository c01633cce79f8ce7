"""Model selection during training (the release's and LoReFT's GLUE protocol): the Trainer evaluates the
task's selection set, ranks checkpoints by the task's metric and loads the best one at the end.
This module gives the Trainer that metric and turns its state into the record's `selection` block."""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from transformers import EvalPrediction

from ..tasks.metrics import glue_metrics
from .args import SELECT_KEY
from .checkpoints import checkpoint_step


def classification_metrics(task_name: str, num_labels: int, primary: str) -> Callable[[EvalPrediction], dict]:
    """compute_metrics for the Trainer: the task's GLUE metrics, plus `select` = the primary metric with an
    undefined value (constant predictions give a NaN correlation) ranked lowest, so a NaN cannot become
    the best checkpoint for ever (NaN compares false both ways)."""
    def compute(prediction: EvalPrediction) -> dict:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        logits = np.asarray(logits, dtype=np.float64)
        preds = logits[:, 0].tolist() if num_labels == 1 else logits.argmax(axis=-1).tolist()
        labels = np.asarray(prediction.label_ids).tolist()
        metrics = glue_metrics(task_name, preds, labels)
        value = metrics.get(primary, math.nan)
        metrics[SELECT_KEY] = value if math.isfinite(value) else -1.0
        return metrics
    return compute


def selection_record(state, primary: str, selection_set: str, strategy: str) -> dict:
    """What the record keeps: the eval curve (step, primary metric) and the checkpoint that was chosen."""
    key = f"eval_{primary}"
    curve = [{"step": e["step"], "epoch": e.get("epoch"), primary: e.get(key), "loss": e.get("eval_loss")}
             for e in state.log_history if key in e]
    return {"set": selection_set, "metric": primary, "strategy": strategy, "curve": curve,
            "best_step": checkpoint_step(state.best_model_checkpoint),
            "best_score": state.best_metric, "last_step": state.global_step}


def generation_metrics(evaluate_set: Callable, primary: str = "accuracy") -> Callable:
    """selection_fn for the Trainer: `evaluate_set(model, step)` -> EvalResult of the selection set; adds `select`."""
    def compute(model, step: int) -> dict:
        metrics = {k: v for k, v in evaluate_set(model, step).metrics.items() if isinstance(v, (int, float))}
        value = metrics.get(primary, math.nan)
        metrics[SELECT_KEY] = value if math.isfinite(value) else -1.0
        return metrics
    return compute
