"""The shared training loop: the HF Trainer plus what every method needs from it."""
from .args import training_arguments
from .callbacks import KillAtStep, PatternConsistencyCheck
from .resources import ResourceMonitor
from .trainer import NeuroAdaTrainer, NonFiniteLossError

__all__ = ["KillAtStep", "PatternConsistencyCheck", "NeuroAdaTrainer", "NonFiniteLossError", "ResourceMonitor", "training_arguments"]
