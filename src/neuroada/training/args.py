from __future__ import annotations

from typing import Any, Mapping

from transformers import TrainingArguments

PRECISIONS = ("fp32", "bf16", "fp16")


def training_arguments(t: Mapping[str, Any], output_dir: str, *, seed: int, report_to: list[str], run_name: str, use_cpu: bool) -> TrainingArguments:
    """TrainingArguments from a `conf/trainer/*.yaml` block."""
    if t["precision"] not in PRECISIONS:
        raise ValueError(f"trainer.precision must be one of {PRECISIONS}, got {t['precision']!r}")
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=float(t["epochs"]),
        max_steps=int(t["max_steps"]),
        per_device_train_batch_size=int(t["batch_size"]),
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
        save_strategy="steps",
        save_steps=int(t["save_steps"]),
        save_total_limit=t["save_total_limit"],
        eval_strategy="no",
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
