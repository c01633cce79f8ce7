"""Saving and loading NeuroAda adapters: deltas + indices (safetensors) + config/fingerprint (JSON)."""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Iterable

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from .adapter import _install, neuroada_layers
from .config import NeuroAdaConfig
from .io_utils import atomic_directory, atomic_write_json
from .selection import SparsePattern, check_pattern
from .targets import set_submodule

log = logging.getLogger(__name__)

FORMAT = "neuroada-adapter"
FORMAT_VERSION = 1
WEIGHTS, CONFIG = "adapter.safetensors", "adapter_config.json"
CHECKSUM_KEY = "sha256"  # safetensors metadata: JSON {tensor name: tensor_sha256}


DENSE = "dense:"  # tensor-name prefix of the parameters trained densely next to the deltas (a classification head)


def _fingerprint(model: nn.Module, dense: Iterable[str] = ()) -> dict:
    from .fingerprint import model_fingerprint

    return model_fingerprint(model, skip=[model.get_parameter(n) for n in dense])


def dense_trained(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters trained next to the deltas (`apply_neuroada(extra_trainable=...)`: a head), by name."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad and "neuroada_" not in n}


class AdapterFileError(ValueError):
    """An adapter folder that cannot be used: missing, truncated or corrupt files, or tensors that do not
    fit the model. The message names the file and, where there is one, the tensor."""


def tensor_sha256(t: torch.Tensor) -> str:
    """sha256 of a tensor's dtype, shape and raw bytes (what the checksum in the adapter file covers)."""
    t = t.detach().contiguous().cpu()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _is_adapter_folder(path: Path, entries: list[str]) -> bool:
    if not set(entries) <= {WEIGHTS, CONFIG} or CONFIG not in entries:
        return False
    try:
        return json.loads((path / CONFIG).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_save_target(path: Path) -> None:
    """save_adapter replaces the folder at `path` whole: only an empty folder or a previous adapter may be there."""
    if not path.exists() and not path.is_symlink():
        return
    if not path.is_dir():
        raise FileExistsError(f"save_adapter: {path} exists and is not a folder; an adapter is a folder. "
                              "Choose another path or remove that file yourself")
    entries = sorted(e.name for e in path.iterdir())
    if entries and not _is_adapter_folder(path, entries):
        shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
        raise FileExistsError(f"save_adapter: {path} is not empty and is not a NeuroAda adapter (it holds {shown}); "
                              "saving replaces the whole folder, so it refuses to delete files it did not write. "
                              "Choose another (new or empty) folder")


def save_adapter(model: nn.Module, path: str | Path) -> Path:
    """Writes the deltas, their indices, the parameters trained densely next to them (a classification head:
    without it a task model's adapter is unusable) and the config; atomic (a folder appears whole or not).

    `path` must be new, an empty folder or a previous adapter (which is replaced); anything else is refused.
    A sha256 of every tensor goes into the safetensors metadata and is checked by `load_adapter`.
    """
    layers = neuroada_layers(model)
    if not layers:
        raise ValueError("model has no NeuroAda layers; apply_neuroada() first (or was it merged?)")
    path = Path(path)
    _check_save_target(path)
    tensors, shapes = {}, {}
    for name, layer in layers.items():
        tensors[f"{name}.delta"] = layer.neuroada_delta.detach().contiguous().cpu()
        tensors[f"{name}.idx"] = layer.neuroada_idx.contiguous().cpu()
        if layer.neuroada_rows is not None:
            tensors[f"{name}.rows"] = layer.neuroada_rows.contiguous().cpu()
        shapes[name] = [layer.out_features, layer.in_features]
    dense = dense_trained(model)
    for name, p in dense.items():
        tensors[DENSE + name] = p.detach().contiguous().cpu()
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": model.neuroada_config.to_dict(),
        "modules": shapes,
        "dense": {n: list(p.shape) for n, p in dense.items()},
        "base_fingerprint": _fingerprint(model, dense),
        "torch_version": torch.__version__,
    }
    checksums = {k: tensor_sha256(v) for k, v in tensors.items()}
    with atomic_directory(path) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT, CHECKSUM_KEY: json.dumps(checksums, sort_keys=True)})
        atomic_write_json(tmp / CONFIG, meta)
    return path


def read_adapter_config(path: str | Path) -> dict:
    path = Path(path)
    cfg_file = path / CONFIG
    if not cfg_file.is_file() or not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"no NeuroAda adapter at {path} (expected {CONFIG} and {WEIGHTS})")
    try:
        meta = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise AdapterFileError(f"{cfg_file}: not valid JSON ({error}); the file is truncated or corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        got = (meta.get("format"), meta.get("format_version")) if isinstance(meta, dict) else (type(meta).__name__, None)
        raise AdapterFileError(f"{cfg_file}: not a {FORMAT} v{FORMAT_VERSION} file (got {got[0]} v{got[1]})")
    missing = [k for k in ("config", "modules", "base_fingerprint") if k not in meta]
    if missing or not isinstance(meta["modules"], dict) or not isinstance(meta.setdefault("dense", {}), dict):
        raise AdapterFileError(f"{cfg_file}: lacks {missing or ['modules / dense (mappings)']}; the file is truncated or corrupt")
    return meta


def _read_tensors(file: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the adapter file, checked against the sha256 written at save time."""
    try:
        with safe_open(str(file), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as error:  # SafetensorError, OSError, ...: a truncated, empty or garbage file
        raise AdapterFileError(f"{file}: not a readable safetensors file ({type(error).__name__}: {error}); "
                               "the file is truncated or corrupt") from None
    if CHECKSUM_KEY not in metadata:
        log.warning("%s has no checksums (saved by an older version): its content cannot be verified", file)
        return tensors
    try:
        expected = json.loads(metadata[CHECKSUM_KEY])
    except ValueError:
        raise AdapterFileError(f"{file}: the checksum metadata is corrupt") from None
    for name in sorted(set(expected) | set(tensors)):
        if name not in tensors:
            raise AdapterFileError(f"{file}: tensor {name!r} is missing")
        if name not in expected:
            raise AdapterFileError(f"{file}: tensor {name!r} has no checksum (the file was altered)")
        if tensor_sha256(tensors[name]) != expected[name]:
            raise AdapterFileError(f"{file}: tensor {name!r} does not match its sha256 checksum: the file is corrupt")
    return tensors


def _checked_layer(file: Path, tensors: dict, name: str, shape: tuple[int, int]) -> tuple[SparsePattern, torch.Tensor]:
    """Shapes, dtypes and index ranges of one layer's tensors (for files without or despite checksums)."""
    for part in ("idx", "delta"):
        if f"{name}.{part}" not in tensors:
            raise AdapterFileError(f"{file}: tensor {name + '.' + part!r} is missing")
    idx, delta, rows = tensors[f"{name}.idx"], tensors[f"{name}.delta"], tensors.get(f"{name}.rows")
    pattern = SparsePattern(idx, rows, shape)
    try:
        check_pattern(pattern, f"{file}: tensor {name + '.idx'!r}" + (f" / {name + '.rows'!r}" if rows is not None else ""))
    except ValueError as error:
        raise AdapterFileError(str(error)) from None
    if delta.dtype != torch.float32 or tuple(delta.shape) != tuple(idx.shape):
        raise AdapterFileError(f"{file}: tensor {name + '.delta'!r} must be float32 shaped like its indices "
                               f"{tuple(idx.shape)}, got {delta.dtype} {tuple(delta.shape)}")
    return pattern, delta


def load_adapter(base_model: nn.Module, path: str | Path, *, check_fingerprint: bool = True) -> nn.Module:
    """Adds the saved deltas to `base_model` (the same pretrained model they were trained on).

    Every tensor is checked (checksum, shapes, index ranges) before the model is touched: a load that fails
    leaves `base_model` as it was.
    """
    meta = read_adapter_config(path)
    if neuroada_layers(base_model):
        raise ValueError("base_model already has NeuroAda layers")
    dense_shapes = _dense_shapes(base_model, meta["dense"], Path(path) / CONFIG)
    if check_fingerprint:
        mine, theirs = _fingerprint(base_model, dense_shapes), meta["base_fingerprint"]
        if mine != theirs:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ValueError(
                f"adapter {path} was trained on a different base model (fingerprint fields that differ: {diff}); "
                "load it onto the model it was trained on, or pass check_fingerprint=False"
            )
    file = Path(path) / WEIGHTS
    tensors = _read_tensors(file)
    try:
        config = NeuroAdaConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as error:
        raise AdapterFileError(f"{Path(path) / CONFIG}: invalid config ({error})") from None
    patterns, deltas = {}, {}
    for name, shape in meta["modules"].items():
        try:
            module = base_model.get_submodule(name)
        except AttributeError:
            raise ValueError(f"adapter module {name!r} does not exist in {type(base_model).__name__}") from None
        if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)):
            raise AdapterFileError(f"{Path(path) / CONFIG}: module {name!r} has shape {shape!r}, expected [out, in]")
        d_out, d_in = shape
        if not isinstance(module, nn.Linear) or (module.out_features, module.in_features) != (d_out, d_in):
            raise ValueError(f"adapter module {name!r} expects a Linear of shape ({d_out}, {d_in}), found {module}")
        pattern, delta = _checked_layer(file, tensors, name, (d_out, d_in))
        device = module.weight.device
        rows = None if pattern.rows is None else pattern.rows.to(device)
        patterns[name] = SparsePattern(pattern.idx.to(device), rows, (d_out, d_in))
        deltas[name] = delta.to(device)
    dense = {}
    for name, shape in dense_shapes.items():
        tensor = tensors.get(DENSE + name)
        if tensor is None:
            raise AdapterFileError(f"{file}: tensor {DENSE + name!r} is missing")
        if not tensor.is_floating_point() or tuple(tensor.shape) != shape:
            raise AdapterFileError(f"{file}: tensor {DENSE + name!r} must be a float tensor of shape {shape}, "
                                   f"got {tensor.dtype} {tuple(tensor.shape)}")
        dense[name] = tensor
    known = {f"{n}.{p}" for n in meta["modules"] for p in ("idx", "delta", "rows")} | {DENSE + n for n in dense}
    extra = sorted(set(tensors) - known)
    if extra:
        raise AdapterFileError(f"{file}: tensors {extra[:5]} belong to no module or dense parameter listed in {CONFIG}")
    _install_or_undo(base_model, patterns, deltas, config, dense)
    return base_model


def _dense_shapes(model: nn.Module, listed: dict, cfg_file: Path) -> dict[str, tuple[int, ...]]:
    """The adapter's densely trained parameters (config `dense`), each checked to exist in `model` at its shape."""
    shapes = {}
    for name, shape in listed.items():
        try:
            param = model.get_parameter(name)
        except AttributeError:
            raise ValueError(f"adapter parameter {name!r} (trained densely next to the deltas) does not exist in "
                             f"{type(model).__name__}; load it onto the task model it was trained with") from None
        if not (isinstance(shape, list) and all(isinstance(v, int) for v in shape)):
            raise AdapterFileError(f"{cfg_file}: dense parameter {name!r} has shape {shape!r}, expected a list of ints")
        if tuple(param.shape) != tuple(shape):
            raise ValueError(f"adapter parameter {name!r} has shape {tuple(shape)}, the model's {tuple(param.shape)} "
                             "(a head for another number of labels?)")
        shapes[name] = tuple(shape)
    return shapes


def _install_or_undo(model: nn.Module, patterns: dict, deltas: dict, config: NeuroAdaConfig, dense: dict) -> None:
    """Installs the layers, copies the deltas and the dense parameters (left trainable, as in training); if
    anything fails, the model is put back as it was."""
    originals = {name: model.get_submodule(name) for name in patterns}
    dense_before = {n: model.get_parameter(n).detach().clone() for n in dense}
    grads = {n: p.requires_grad for n, p in model.named_parameters()}
    attrs = {a: getattr(model, a) for a in ("_ddp_params_and_buffers_to_ignore", "neuroada_config") if hasattr(model, a)}
    try:
        model.requires_grad_(False)
        _install(model, patterns, config)
        with torch.no_grad():
            for name, layer in neuroada_layers(model).items():
                layer.neuroada_delta.copy_(deltas[name])
            for name, value in dense.items():
                model.get_parameter(name).copy_(value).requires_grad_(True)
    except BaseException:
        with torch.no_grad():
            for name, value in dense_before.items():
                model.get_parameter(name).copy_(value)
        for name, module in originals.items():
            set_submodule(model, name, module)
        for n, p in model.named_parameters():
            p.requires_grad_(grads.get(n, p.requires_grad))
        for a in ("_ddp_params_and_buffers_to_ignore", "neuroada_config"):
            if a in attrs:
                setattr(model, a, attrs[a])
            elif hasattr(model, a):
                delattr(model, a)
        raise
