"""Saving and loading NeuroAda adapters: deltas + indices (safetensors) + config/fingerprint (JSON)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .adapter import _install, neuroada_layers
from .config import NeuroAdaConfig
from .io_utils import atomic_directory, atomic_write_json
from .selection import SparsePattern

FORMAT = "neuroada-adapter"
FORMAT_VERSION = 1
WEIGHTS, CONFIG = "adapter.safetensors", "adapter_config.json"


def _fingerprint(model: nn.Module) -> dict:
    from .fingerprint import model_fingerprint

    return model_fingerprint(model)


def save_adapter(model: nn.Module, path: str | Path) -> Path:
    """Writes only the deltas, their indices and the config; atomic (a folder appears whole or not)."""
    layers = neuroada_layers(model)
    if not layers:
        raise ValueError("model has no NeuroAda layers; apply_neuroada() first (or was it merged?)")
    tensors, shapes = {}, {}
    for name, layer in layers.items():
        tensors[f"{name}.delta"] = layer.neuroada_delta.detach().contiguous().cpu()
        tensors[f"{name}.idx"] = layer.neuroada_idx.contiguous().cpu()
        if layer.neuroada_rows is not None:
            tensors[f"{name}.rows"] = layer.neuroada_rows.contiguous().cpu()
        shapes[name] = [layer.out_features, layer.in_features]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.neuroada_config.to_dict(),
        "modules": shapes,
        "base_fingerprint": _fingerprint(model),
        "torch_version": torch.__version__,
    }
    path = Path(path)
    with atomic_directory(path) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        atomic_write_json(tmp / CONFIG, meta)
    return path


def read_adapter_config(path: str | Path) -> dict:
    path = Path(path)
    cfg_file = path / CONFIG
    if not cfg_file.is_file() or not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"no NeuroAda adapter at {path} (expected {CONFIG} and {WEIGHTS})")
    meta = json.loads(cfg_file.read_text())
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{cfg_file}: not a {FORMAT} v{FORMAT_VERSION} file (got {meta.get('format')} v{meta.get('format_version')})")
    return meta


def load_adapter(base_model: nn.Module, path: str | Path, *, check_fingerprint: bool = True) -> nn.Module:
    """Adds the saved deltas to `base_model` (the same pretrained model they were trained on)."""
    meta = read_adapter_config(path)
    if neuroada_layers(base_model):
        raise ValueError("base_model already has NeuroAda layers")
    if check_fingerprint:
        mine, theirs = _fingerprint(base_model), meta["base_fingerprint"]
        if mine != theirs:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ValueError(
                f"adapter {path} was trained on a different base model (fingerprint fields that differ: {diff}); "
                "load it onto the model it was trained on, or pass check_fingerprint=False"
            )
    tensors = load_file(str(Path(path) / WEIGHTS))
    patterns, deltas = {}, {}
    for name, (d_out, d_in) in meta["modules"].items():
        try:
            module = base_model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"adapter module {name!r} does not exist in {type(base_model).__name__}") from None
        if not isinstance(module, nn.Linear) or (module.out_features, module.in_features) != (d_out, d_in):
            raise ValueError(f"adapter module {name!r} expects a Linear of shape ({d_out}, {d_in}), found {module}")
        device = module.weight.device
        rows = tensors.get(f"{name}.rows")
        patterns[name] = SparsePattern(tensors[f"{name}.idx"].to(device), None if rows is None else rows.to(device), (d_out, d_in))
        deltas[name] = tensors[f"{name}.delta"].to(device)
    base_model.requires_grad_(False)
    _install(base_model, patterns, NeuroAdaConfig.from_dict(meta["config"]))
    with torch.no_grad():
        for name, layer in neuroada_layers(base_model).items():
            layer.neuroada_delta.copy_(deltas[name])
    return base_model
