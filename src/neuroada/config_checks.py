"""Checks of a run's settings before anything is loaded: each error names the setting, the bad value and
what is accepted (Hydra passes `seed=abc` through as the string 'abc', and `trainer.lr=0` as a valid float)."""
from __future__ import annotations

import math
from typing import Any, Mapping

from .tasks import Task


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _int_at_least(name: str, v: Any, low: int, what: str = "") -> None:
    if not _is_int(v) or v < low:
        raise ValueError(f"{name}={v!r} is invalid: an integer >= {low} is accepted{what}")


def check_run_config(cfg: Mapping[str, Any]) -> None:
    """Types and ranges of the top-level, task and trainer settings (the method has its own checks)."""
    debug = cfg.get("debug")
    if debug is None or isinstance(debug, bool):  # debug=true: full tracebacks; the pipeline reads a mapping
        cfg["debug"] = {"traceback": True} if debug else {}  # type: ignore[index]
    elif not isinstance(debug, Mapping):
        raise ValueError(f"debug={debug!r} is invalid: true, false or a mapping (e.g. +debug.kill_at_step=N) is accepted")
    if not _is_int(cfg.get("seed")):
        raise ValueError(f"seed={cfg.get('seed')!r} is invalid: an integer is accepted")
    _int_at_least("eval_batch_size", cfg.get("eval_batch_size"), 1)
    for key in ("eval_before", "eval_test"):
        if not isinstance(cfg.get(key, True), bool):
            raise ValueError(f"{key}={cfg.get(key)!r} is invalid: true or false is accepted")
    task = cfg["task"]
    for key in ("max_train_samples", "max_eval_samples"):
        v = task.get(key)
        if v is not None and (not _is_int(v) or v < 1):
            empty = " (0 would leave the set empty)" if v == 0 else ""
            raise ValueError(f"task.{key}={v!r} is invalid: an integer >= 1 or null (all examples) is accepted{empty}")
    model = cfg["model"]
    if model.get("arch") == "encoder" and task.get("kind") == "generation":
        raise ValueError(f"model={model.get('name')} is an encoder (arch: encoder): it cannot generate text, and "
                         f"task={task.get('name')} is a generation task. Use a causal LM (e.g. model=smollm2-135m or "
                         "model=tiny-llama), or a classification task (e.g. task=sst2)")
    check_trainer_config(cfg["trainer"])


def check_trainer_config(t: Mapping[str, Any]) -> None:
    lr = t.get("lr")
    if not _is_number(lr) or lr <= 0:
        raise ValueError(f"trainer.lr={lr!r} is invalid: a number > 0 is accepted"
                         + (" (lr=0 would train nothing)" if lr == 0 else ""))
    _int_at_least("trainer.batch_size", t.get("batch_size"), 1)
    _int_at_least("trainer.grad_accum", t.get("grad_accum"), 1)
    _int_at_least("trainer.max_length", t.get("max_length"), 1, " (tokens per training example)")
    _int_at_least("trainer.logging_steps", t.get("logging_steps"), 1)
    _int_at_least("trainer.save_steps", t.get("save_steps"), 1)
    _int_at_least("trainer.dataloader_num_workers", t.get("dataloader_num_workers"), 0)
    if t.get("save_total_limit") is not None:
        _int_at_least("trainer.save_total_limit", t.get("save_total_limit"), 1, " or null (keep all)")
    max_steps, epochs = t.get("max_steps"), t.get("epochs")
    if not _is_int(max_steps):
        raise ValueError(f"trainer.max_steps={max_steps!r} is invalid: an integer is accepted (> 0 sets the steps, "
                         "-1 trains for trainer.epochs)")
    if not _is_number(epochs) or epochs < 0:
        raise ValueError(f"trainer.epochs={epochs!r} is invalid: a number >= 0 is accepted")
    if max_steps <= 0 and epochs <= 0:
        raise ValueError(f"trainer.max_steps={max_steps} and trainer.epochs={epochs}: nothing would be trained; "
                         "set trainer.max_steps > 0 or trainer.epochs > 0")
    for key in ("weight_decay", "max_grad_norm", "warmup_ratio"):
        v = t.get(key)
        if not _is_number(v) or v < 0:
            raise ValueError(f"trainer.{key}={v!r} is invalid: a number >= 0 is accepted")


def check_task_data(task: Task, cfg: Mapping[str, Any]) -> None:
    """An empty train or eval set is an error here, not a tokenizer IndexError or a NaN accuracy later."""
    if not task.train:
        specs = cfg["task"].get("train") or []
        paths = [s.get("path") for s in (specs if isinstance(specs, list) else [specs]) if isinstance(s, dict) and s.get("path")]
        raise ValueError(f"task {task.name!r} has no training examples: its train source(s) {paths or ''} hold none "
                         "(an empty file?)")
    empty = [name for name, examples in task.eval_sets.items() if not examples]
    if empty:
        raise ValueError(f"task {task.name!r}: eval set(s) {empty} have no examples (are their files empty?)")
