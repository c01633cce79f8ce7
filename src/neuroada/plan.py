"""The plan printed at the start of every run: what will run, how big it is, and how long it should take here.

    plan: neuroada-k20 on smollm2-135m / gsm8k (cpu, 2 threads)
      trainable parameters: 3,110,400 (2.3123 % of 134,515,008)
      train: 7,473 examples; 50 steps of 16 sequences
      eval before and after training: gsm8k 1,319 items; max_new_tokens 512, batch 16
      estimate on this machine: 35 min to 1 h 50 min (...)
      shorter look: eval_before=false task.max_eval_samples=50 -> 6 to 9 min

The trainable parameters are counted by applying the method to the model's meta-device skeleton (no
weights). The estimate comes from a measurement of at most a few seconds on the loaded model:

- forward rate `r` (tokens/s): one forward pass over two training sequences (prompt + answer, at most 128
  tokens each), after a 16-token warm-up;
- decode step `d` (s): `eval_batch_size` rows with a 4-token prompt, then two or three greedy steps with the
  KV cache (the fastest after the first; longer contexts cost a little more, which this leaves out).

From these: training = steps x sequences per step x padded training tokens (the mean of the longest
sequence of each batch of a 256-example sample) x TRAIN_COST / r; a generation
eval set = its prompt tokens / r + (generated tokens / eval_batch_size) x d x DECODE_CONTEXT_COST (the
evaluation keeps eval_batch_size rows decoding together, see neuroada.evaluation.generate), where
every item generates as many tokens as its reference answer (the low end: a model that answers like the
references) or `max_new_tokens` (the high end: no answer ever emits EOS); a classification eval set = its
tokens / r. The selection set is counted once for each evaluation during training (`selection_passes`); a
generation task's pass after training reads it back from the one that chose the checkpoint. The two factors are empirical (see their definitions); expect the estimate to be off by up
to about a third, more on a machine whose load changes during the run. Runs already completed are
skipped before this point; a resumed run trains fewer steps than the plan says.
"""
from __future__ import annotations

import logging
import math
import os
import random
import statistics
import time
import warnings
from typing import Any

import torch

log = logging.getLogger(__name__)
# Empirical factors, from SmolLM2 runs on the 2-core machine with little else running (2026-11-30):
# a training step took 2.1-2.5 x the time of a forward pass over its padded tokens at the measured
# two-sequence rate (GSM8K, 10 steps of 16: 37 s a step at 342-392 tokens/s for 6,050 padded tokens; the
# default `addition` job: 10.3 s a step at 301 tokens/s for 1,221); decoding with a few hundred tokens of
# context took ~1.3-1.4 x the step measured with a 4-token context (attention and the growing KV cache).
# Under heavy load (load average 6-12) the steps took only ~1 x: the estimate then runs about 2 x high.
TRAIN_COST = 2.3
DECODE_CONTEXT_COST = 1.3
SHORT_EVAL = 50  # the eval size suggested for a shorter look


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return "under 1 min" if seconds >= 1 else "a few seconds"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def fmt_range(low: float, high: float) -> str:
    a, b = fmt_duration(low), fmt_duration(high)
    return a if a == b else f"{a} to {b}"


def train_steps(trainer: dict, n_examples: int, world_size: int = 1) -> int:
    if int(trainer["max_steps"]) > 0:
        return int(trainer["max_steps"])
    per_step = int(trainer["batch_size"]) * int(trainer["grad_accum"]) * world_size
    return math.ceil(n_examples / per_step) * math.ceil(float(trainer["epochs"]))


def count_trainable(cfg: dict, task, heads: list[str]) -> tuple[int, int] | None:
    """(trainable, base total) by applying the method to the meta-device skeleton; None if that fails."""
    from .methods import prepare_method
    from .models import model_skeleton

    method = dict(cfg["method"])
    if method.get("selection") == "gradient":  # same count as magnitude; the calibration needs real batches
        method["selection"] = "magnitude"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            skeleton = model_skeleton(cfg["model"], num_labels=task.num_labels if task.kind != "generation" else None)
            params = prepare_method(skeleton, method, extra_trainable=heads).params
        return params.trainable, params.base_total
    except Exception as error:  # the plan never stops a run; the real count follows once the method is applied
        log.debug("could not count trainable parameters on the skeleton: %s", error)
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_rates(model, tokenizer, task, cfg: dict, device: torch.device, budget_s: float = 3.0) -> dict[str, float]:
    """Forward rate (tokens/s) over two training sequences (at most 128 tokens each) and, for generation tasks,
    one greedy decode step (s) at the eval batch size with a 4-token prompt. About `budget_s` seconds or less
    on an idle machine (a loaded one slows this as much as the run); nothing is kept."""
    from .tasks.prompts import build_prompt

    examples = task.train[:2] or next(iter(task.eval_sets.values()))[:2]
    if task.kind == "generation":
        texts = [build_prompt(ex.instruction, ex.input, task.prompt_template) + ex.output for ex in examples]
        pairs = None
    else:
        texts, pairs = [ex.text_a for ex in examples], ([ex.text_b for ex in examples] if examples and examples[0].text_b is not None else None)
    max_length = min(int(cfg["trainer"]["max_length"]), 128)
    was_training = model.training
    model.eval()
    pad_side, pad = tokenizer.padding_side, tokenizer.pad_token
    if pad is None:
        tokenizer.pad_token = tokenizer.eos_token
    rates: dict[str, float] = {}
    start = time.perf_counter()
    try:
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            one = tokenizer(texts[:1], pairs[:1] if pairs else None, truncation=True, max_length=16, return_tensors="pt").to(device)
            model(**one)  # warm-up
            batch = tokenizer(texts, pairs, truncation=True, max_length=max_length, padding=True, return_tensors="pt").to(device)
            _sync(device)
            t0 = time.perf_counter()
            model(**batch)
            _sync(device)
            rates["forward_tokens_per_s"] = int(batch["attention_mask"].sum()) / max(time.perf_counter() - t0, 1e-9)
            if task.kind == "generation":
                tokenizer.padding_side = "left"
                prompts = [build_prompt(ex.instruction, ex.input, task.prompt_template) for ex in next(iter(task.eval_sets.values()))]
                rows = max(1, min(int(cfg["eval_batch_size"]), len(prompts)))
                short = tokenizer([prompts[i % len(prompts)] for i in range(rows)], truncation=True, max_length=4,
                                  padding=True, return_tensors="pt").to(device)
                out = model(**short, use_cache=True)
                cache = out.cache if "cache" in out else out.past_key_values
                ids, mask = out.logits[:, -1].argmax(-1, keepdim=True), short["attention_mask"]
                steps: list[float] = []
                while len(steps) < 3 and (len(steps) < 2 or time.perf_counter() - start < budget_s):
                    mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=-1)
                    _sync(device)
                    t0 = time.perf_counter()
                    out = model(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True)
                    _sync(device)
                    steps.append(time.perf_counter() - t0)
                    ids = out.logits[:, -1].argmax(-1, keepdim=True)
                rates["decode_step_s"] = min(steps[1:] or steps)  # the first step may still allocate
                rates["decode_rows"] = rows
    finally:
        tokenizer.padding_side = pad_side
        if pad is None:
            tokenizer.pad_token = None
        model.train(was_training)
    rates["measure_s"] = time.perf_counter() - start
    return rates


def selection_passes(cfg: dict, task, steps: int, examples: int, world_size: int = 1) -> int:
    """How often training scores the task's selection set: every `eval_steps` steps, or once an epoch; 0 without one."""
    from .methods.untrained import NAME as UNTRAINED
    from .training.args import eval_strategy

    if cfg["method"]["name"] == UNTRAINED or getattr(task, "selection_set", None) is None:
        return 0
    strategy = eval_strategy(cfg["trainer"], True)
    if strategy == "steps":
        return steps // int(cfg["trainer"]["eval_steps"])
    per_epoch = math.ceil(examples / (int(cfg["trainer"]["batch_size"]) * int(cfg["trainer"]["grad_accum"]) * world_size))
    return math.ceil(steps / per_epoch) if strategy == "epoch" and per_epoch else 0


def estimate_seconds(task, tokenizer, cfg: dict, rates: dict[str, float], steps: int, eval_passes: int,
                     eval_limit: int | None = None, in_run_passes: int = 0) -> dict[str, Any]:
    """Seconds of training and of each eval pass (low, high), from the measured rates (module docstring).
    `in_run_passes`: evaluations of the selection set during training; a generation task's pass after training
    takes that set from the one that chose the checkpoint, so it is counted in those, not again."""
    from .tasks.prompts import build_prompt

    r = rates["forward_tokens_per_s"]
    max_length = int(cfg["trainer"]["max_length"])
    sample = random.Random(0).sample(task.train, min(len(task.train), 256))
    if task.kind == "generation":
        texts = [build_prompt(ex.instruction, ex.input, task.prompt_template) + ex.output for ex in sample]
    else:
        texts = [ex.text_a + " " + (ex.text_b or "") for ex in sample]
    lengths = [min(len(ids) + 1, max_length) for ids in tokenizer(texts)["input_ids"]] if texts else []
    batch_size = int(cfg["trainer"]["batch_size"])
    # a batch is padded to its longest sequence: tokens computed per sequence = the mean of the batch maxima
    padded = statistics.mean(max(lengths[i:i + batch_size]) for i in range(0, len(lengths), batch_size)) if lengths else 0
    per_step = batch_size * int(cfg["trainer"]["grad_accum"])
    train_s = steps * per_step * padded * TRAIN_COST / r
    evals = {}
    batch = int(cfg["eval_batch_size"])
    for name, examples in task.eval_sets.items():
        examples = examples[:eval_limit] if eval_limit else examples
        if not examples:
            evals[name] = (0.0, 0.0)
            continue
        if task.kind != "generation":
            tokens = sum(min(len(ids), max_length) for ids in tokenizer([ex.text_a + " " + (ex.text_b or "") for ex in examples])["input_ids"])
            evals[name] = (tokens / r, tokens / r)
            continue
        prompt_lens = [len(ids) for ids in tokenizer([build_prompt(ex.instruction, ex.input, task.prompt_template) for ex in examples])["input_ids"]]
        answer_lens = [len(ids) + 1 for ids in tokenizer([ex.output for ex in examples], add_special_tokens=False)["input_ids"]]
        # continuous batching keeps `batch` rows decoding together: steps ~ generated tokens / batch
        rows = min(batch, len(examples))
        prefill = sum(prompt_lens) / r
        low_tokens = sum(min(task.max_new_tokens, n) for n in answer_lens)
        high_tokens = len(examples) * task.max_new_tokens
        step = rates["decode_step_s"] * DECODE_CONTEXT_COST
        evals[name] = (prefill + math.ceil(low_tokens / rows) * step, prefill + math.ceil(high_tokens / rows) * step)
    selection = evals.get(getattr(task, "selection_set", None), (0.0, 0.0)) if in_run_passes else (0.0, 0.0)
    read_back = selection if task.kind == "generation" else (0.0, 0.0)
    low, high = (train_s + eval_passes * sum(v[i] for v in evals.values()) + in_run_passes * selection[i] - read_back[i] for i in (0, 1))
    return {"train_s": train_s, "eval_s": evals, "total_s": (low, high), "padded_train_tokens": padded}


def plan_lines(cfg: dict, task, model, tokenizer, heads: list[str], device: torch.device, measure: bool = True,
               train_examples: int | None = None, before_done: bool = False) -> list[str]:
    return build_plan(cfg, task, model, tokenizer, heads, device, measure, train_examples, before_done)["lines"]


def build_plan(cfg: dict, task, model, tokenizer, heads: list[str], device: torch.device, measure: bool = True,
               train_examples: int | None = None, before_done: bool = False) -> dict[str, Any]:
    """{"lines": the plan's lines, "rates": the measurement, "estimate": estimate_seconds(...)}. `train_examples`:
    what training will use after tokenization (examples whose prompt fills max_length are dropped); default: all.
    `before_done`: the before pass was scored already (by a killed attempt or another run of the sweep): not estimated."""
    from .methods.untrained import NAME as UNTRAINED
    from .pipeline import method_tag

    plan: dict[str, Any] = {"rates": None, "estimate": None}

    world = int(os.environ.get("WORLD_SIZE", "1"))
    used = len(task.train) if train_examples is None else int(train_examples)
    untrained = cfg["method"]["name"] == UNTRAINED  # nothing trained: the run is its one eval pass
    steps = 0 if untrained else train_steps(cfg["trainer"], used, world)
    per_step = int(cfg["trainer"]["batch_size"]) * int(cfg["trainer"]["grad_accum"]) * world
    n = torch.get_num_threads()
    threads = f", {n} thread{'s' if n > 1 else ''}" if device.type == "cpu" else ""
    lines = [f"plan: {method_tag(cfg['method'])} on {cfg['model']['name']} / {task.name} ({device.type}{threads})"]
    counted = count_trainable(cfg, task, heads)
    if counted:
        trainable, total = counted
        lines.append(f"  trainable parameters: {trainable:,} ({100.0 * trainable / total:.4f} % of {total:,})")
    dropped = len(task.train) - used
    if untrained:
        lines.append("  train: nothing (method=untrained scores the model as loaded)")
    else:
        lines.append(f"  train: {used:,} examples; {steps:,} steps of {per_step} sequences"
                     + (f" ({dropped:,} of {len(task.train):,} dropped: their prompt fills max_length)" if dropped > 0 else "")
                     + (f" (max_length {cfg['trainer']['max_length']})" if task.kind != "generation" else ""))
    passes = 2 if cfg["eval_before"] and not before_done else 1
    sets = ", ".join(f"{name} {len(ex):,} items" for name, ex in task.eval_sets.items())
    gen = f"; max_new_tokens {task.max_new_tokens}, batch {cfg['eval_batch_size']}" if task.kind == "generation" else ""
    lines.append(f"  eval {'before and after training' if passes == 2 else 'once' if untrained else 'after training'}: {sets}{gen}")
    in_run = selection_passes(cfg, task, steps, used, world)
    if in_run:
        lines.append(f"  eval during training: {task.selection_set} {in_run} time{'s' if in_run > 1 else ''}, to choose the checkpoint"
                     + ("; the pass after training reads the chosen one back" if task.kind == "generation" else ""))
    if cfg["eval_before"] and before_done:
        lines.append("  eval before training: scored already (an earlier attempt, or another run of this output_root); read back")
    if measure:
        try:
            rates = measure_rates(model, tokenizer, task, cfg, device)
            est = estimate_seconds(task, tokenizer, cfg, rates, steps, passes, in_run_passes=in_run)
            plan.update(rates=rates, estimate=est)
            parts = [] if untrained else [f"training {fmt_duration(est['train_s'])}"]
            if task.kind == "generation":
                parts += [f"eval {name} {fmt_range(*v)} per pass" for name, v in est["eval_s"].items()]
                basis = (f"from a forward rate of {rates['forward_tokens_per_s']:,.0f} tokens/s and a decode step of "
                         f"{rates['decode_step_s']:.2f} s at batch {rates['decode_rows']}, measured just now; low end: answers "
                         f"as long as the references, high end: every answer runs to max_new_tokens")
            else:
                parts += [f"eval {name} {fmt_duration(v[1])} per pass" for name, v in est["eval_s"].items()]
                basis = f"from a forward rate of {rates['forward_tokens_per_s']:,.0f} tokens/s, measured just now"
            lines.append(f"  estimate on this machine: {fmt_range(*est['total_s'])} ({'; '.join(parts)})")
            lines.append(f"    ({basis})")
            n_max = max(len(v) for v in task.eval_sets.values())
            if passes == 2 or n_max > SHORT_EVAL:
                short = estimate_seconds(task, tokenizer, cfg, rates, steps, 1, eval_limit=SHORT_EVAL, in_run_passes=in_run)
                lines.append(f"  shorter look: eval_before=false task.max_eval_samples={SHORT_EVAL} "
                             f"(and trainer.max_steps=... for less training) -> {fmt_range(*short['total_s'])}")
        except Exception as error:  # the plan never stops a run
            log.warning("no time estimate (%s: %s)", type(error).__name__, error)
            lines.append(f"  shorter look: eval_before=false task.max_eval_samples={SHORT_EVAL}")
    plan["lines"] = lines
    return plan


def announce_plan(cfg: dict, task, model, tokenizer, heads: list[str], device: torch.device, train_examples: int | None = None,
                  before_done: bool = False) -> list[str]:
    """Prints the plan (module docstring) on rank 0; returns its lines."""
    if int(os.environ.get("RANK", "0")) != 0:
        return []
    t0 = time.perf_counter()
    lines = plan_lines(cfg, task, model, tokenizer, heads, device, train_examples=train_examples, before_done=before_done)
    print("\n".join(lines), flush=True)
    log.debug("plan computed in %.1f s", time.perf_counter() - t0)
    return lines
