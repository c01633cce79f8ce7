"""NeuroAda: mask-free neuron-level sparse fine-tuning (EMNLP 2025), reproduced."""
from .adapter import apply_neuroada, merge_neuroada, neuroada_layers
from .adapter_io import load_adapter, save_adapter
from .config import SELECTIONS, NeuroAdaConfig
from .layer import NeuroAdaLinear
from .params import ParamReport, param_report

__all__ = [
    "NeuroAdaConfig",
    "NeuroAdaLinear",
    "ParamReport",
    "SELECTIONS",
    "apply_neuroada",
    "load_adapter",
    "merge_neuroada",
    "neuroada_layers",
    "param_report",
    "save_adapter",
]
