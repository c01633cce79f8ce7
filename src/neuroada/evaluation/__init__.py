"""Evaluation: greedy generation with answer extraction, and GLUE classification."""

from neuroada.evaluation.classification import evaluate_classification
from neuroada.evaluation.generation import evaluate_generation, generate
from neuroada.evaluation.result import EvalResult

__all__ = ["EvalResult", "evaluate_classification", "evaluate_generation", "generate"]
