"""The shared training loop: the HF Trainer plus what every method needs from it."""
from .args import training_arguments
from .callbacks import KillAtStep, PatternConsistencyCheck, StopAtCheckpoint, StopAtChosenStep, StopRequested, stop_requested
from .resources import ResourceMonitor
from .trainer import NeuroAdaTrainer, NonFiniteLossError

__all__ = ["KillAtStep", "PatternConsistencyCheck", "StopAtCheckpoint", "StopAtChosenStep", "StopRequested", "stop_requested", "NeuroAdaTrainer", "NonFiniteLossError", "ResourceMonitor", "training_arguments"]
