from __future__ import annotations

from typing import Any, Mapping

from transformers import TrainingArguments

PRECISIONS = ("fp32", "bf16", "fp16")
EVAL_STRATEGIES = ("auto", "no", "epoch", "steps")
SELECT_KEY = "select"  # eval metric the Trainer ranks checkpoints by: the task's metric, NaN mapped to -1


def eval_strategy(t: Mapping[str, Any], has_selection_set: bool) -> str:
    """`trainer.eval_strategy`: auto = every epoch when the task has a model-selection set (GLUE's re-split
    validation half, as the release and LoReFT do), else no evaluation during training."""
    value = str(t.get("eval_strategy", "auto"))
    if value not in EVAL_STRATEGIES:
        raise ValueError(f"trainer.eval_strategy must be one of {EVAL_STRATEGIES}, got {value!r}")
    if value == "auto":
        return "epoch" if has_selection_set else "no"
    if value != "no" and not has_selection_set:
        raise ValueError(f"trainer.eval_strategy={value} needs a task with a model-selection set "
                         "(task.selection_set; GLUE tasks have one); use trainer.eval_strategy=no")
    if value == "steps" and not int(t.get("eval_steps") or 0) > 0:
        raise ValueError(f"trainer.eval_strategy=steps needs trainer.eval_steps > 0, got {t.get('eval_steps')!r}")
    return value


def training_arguments(t: Mapping[str, Any], output_dir: str, *, seed: int, report_to: list[str], run_name: str, use_cpu: bool,
                       evaluation: str = "no", eval_batch_size: int = 16) -> TrainingArguments:
    """TrainingArguments from a `conf/trainer/*.yaml` block. With `evaluation` ("epoch" or "steps"), the
    Trainer evaluates on the selection set, checkpoints at the same points, and loads the best checkpoint
    by the task's metric at the end (`trainer.load_best`, default true)."""
    if t["precision"] not in PRECISIONS:
        raise ValueError(f"trainer.precision must be one of {PRECISIONS}, got {t['precision']!r}")
    selecting = evaluation != "no"
    save = {"save_strategy": evaluation, "save_steps": int(t["eval_steps"]) if evaluation == "steps" else int(t["save_steps"]),
            "eval_strategy": evaluation, "eval_steps": int(t["eval_steps"]) if evaluation == "steps" else None,
            "metric_for_best_model": SELECT_KEY, "greater_is_better": True,
            "load_best_model_at_end": bool(t.get("load_best", True))} if selecting else \
           {"save_strategy": "steps", "save_steps": int(t["save_steps"]), "eval_strategy": "no"}
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=float(t["epochs"]),
        max_steps=int(t["max_steps"]),
        per_device_train_batch_size=int(t["batch_size"]),
        per_device_eval_batch_size=int(eval_batch_size),
        gradient_accumulation_steps=int(t["grad_accum"]),
        learning_rate=float(t["lr"]),
        lr_scheduler_type=t["lr_scheduler"],
        warmup_steps=float(t["warmup_ratio"]),  # a float in [0, 1) is a ratio of the total steps
        weight_decay=float(t["weight_decay"]),
        max_grad_norm=float(t["max_grad_norm"]),
        optim=t["optim"],
        bf16=t["precision"] == "bf16",
        fp16=t["precision"] == "fp16",
        activation_checkpointing=bool(t["gradient_checkpointing"]),
        # HF's default is non-reentrant; reentrant needs an input that requires grad, which HF arranges itself
        # (enable_input_require_grads on the input embeddings) when it turns checkpointing on.
        activation_checkpointing_kwargs={"use_reentrant": bool(t.get("gradient_checkpointing_reentrant", False))} if t["gradient_checkpointing"] else None,
        logging_steps=int(t["logging_steps"]),
        logging_first_step=True,
        logging_nan_inf_filter=False,  # a NaN loss must surface, not be averaged away
        save_total_limit=t["save_total_limit"],
        **save,
        seed=seed,
        data_seed=seed,
        report_to=report_to,
        run_name=run_name,
        include_num_input_tokens_seen="non_padding",
        use_cpu=use_cpu,
        dataloader_num_workers=int(t["dataloader_num_workers"]),
        remove_unused_columns=False,
        disable_tqdm=False,
    )
