"""GLUE evaluation of a sequence-classification (or STS-B regression) model."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from neuroada.evaluation.generation import model_device
from neuroada.evaluation.progress import progress_bar
from neuroada.evaluation.result import EvalResult
from neuroada.tasks.example import Example
from neuroada.tasks.metrics import glue_metrics


def evaluate_classification(model, tokenizer, examples: Sequence[Example], task_name: str, num_labels: int,
                            batch_size: int = 32, max_length: int = 512, *, progress: bool = True,
                            desc: str = "eval") -> EvalResult:
    """Argmax of the logits (num_labels > 1) or the single regression output (num_labels == 1),
    scored with neuroada.tasks.metrics.glue_metrics(task_name, ...). `progress` shows a bar
    (items done / total, items/s, ETA) labelled `desc` on stderr."""
    pairs = bool(examples) and examples[0].text_b is not None
    added_pad = tokenizer.pad_token is None
    if added_pad:
        tokenizer.pad_token = tokenizer.eos_token
    was_training = model.training
    model.eval()
    predictions: list[float | int] = []
    try:
        with torch.inference_mode(), progress_bar(len(examples), desc, enabled=progress) as bar:
            for start in range(0, len(examples), batch_size):
                batch = examples[start: start + batch_size]
                encoded = tokenizer(
                    [ex.text_a for ex in batch], [ex.text_b for ex in batch] if pairs else None,
                    truncation=True, max_length=max_length, padding=True, return_tensors="pt",
                ).to(model_device(model))
                logits = model(**encoded).logits.float()
                if num_labels == 1:
                    predictions.extend(logits[:, 0].tolist())
                else:
                    predictions.extend(logits.argmax(dim=-1).tolist())
                bar.update(len(batch))
    finally:
        model.train(was_training)
        if added_pad:
            tokenizer.pad_token = None
    labels = [ex.label for ex in examples]
    rows = [
        {"index": i, "row": ex.row, "text_a": ex.text_a, "text_b": ex.text_b, "prediction": pred, "gold": ex.label,
         "correct": None if num_labels == 1 else pred == ex.label}
        for i, (ex, pred) in enumerate(zip(examples, predictions))
    ]
    metrics = glue_metrics(task_name, predictions, labels) if examples else {}
    metrics["n"] = len(examples)
    return EvalResult(metrics=metrics, predictions=rows)
