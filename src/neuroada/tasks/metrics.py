"""GLUE / accuracy metrics with scikit-learn and scipy (the `evaluate` library needs the hub)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from scipy.stats import ConstantInputWarning, pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

PRIMARY_METRIC = {"cola": "matthews_correlation", "stsb": "pearson"}
WITH_F1 = ("mrpc", "qqp")


def accuracy(predictions: Sequence, labels: Sequence) -> float:
    return float(accuracy_score(labels, predictions)) if len(labels) else math.nan


def correlations(predictions: Sequence[float], labels: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman; NaN when either side is constant (correlation undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        return {
            "pearson": float(pearsonr(predictions, labels)[0]),
            "spearmanr": float(spearmanr(predictions, labels)[0]),
        }


def glue_metrics(task_name: str, predictions: Sequence, labels: Sequence) -> dict[str, float]:
    """CoLA: Matthews corr. (+accuracy); STS-B: Pearson/Spearman; MRPC/QQP: accuracy and F1 of class 1;
    everything else: accuracy."""
    if task_name == "stsb":
        return correlations(predictions, labels)
    metrics = {"accuracy": accuracy(predictions, labels)}
    if task_name == "cola":
        metrics["matthews_correlation"] = float(matthews_corrcoef(labels, predictions))
    if task_name in WITH_F1:
        metrics["f1"] = float(f1_score(labels, predictions, zero_division=0.0))
    return metrics


def primary_metric(task_name: str) -> str:
    return PRIMARY_METRIC.get(task_name, "accuracy")
