"""Generation-based evaluation (commonsense, math, addition): batched greedy decoding."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from transformers import GenerationConfig

from neuroada.evaluation.result import EvalResult
from neuroada.tasks.example import Example
from neuroada.tasks.extraction import extract, is_correct
from neuroada.tasks.prompts import build_prompt


@contextmanager
def padding_for_generation(tokenizer):
    """Left padding (prompts must end where generation starts) and a pad token (fallback: EOS);
    the tokenizer's own settings are restored on exit."""
    side, pad, cut = tokenizer.padding_side, tokenizer.pad_token, tokenizer.truncation_side
    tokenizer.padding_side, tokenizer.truncation_side = "left", "right"
    if pad is None:
        if tokenizer.eos_token is None:
            raise ValueError("tokenizer has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    try:
        yield tokenizer
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = side, cut
        if pad is None:
            tokenizer.pad_token = None


def _eos_ids(model, tokenizer) -> list[int]:
    ids = {tokenizer.eos_token_id}
    model_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(model_eos if isinstance(model_eos, list) else [model_eos])
    return sorted(i for i in ids if i is not None)


def model_device(model) -> torch.device:
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else next(model.parameters()).device


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 16,
             max_prompt_length: int | None = None) -> list[str]:
    """Greedy continuations of `prompts` (special tokens removed, cut at the first EOS), in order.
    Prompts are batched longest first, which keeps padding low and puts any OOM at the start.
    `max_prompt_length` cuts longer prompts to their first tokens, as the release does (its tokenizer has
    `model_max_length` = the training max length and truncates on the right)."""
    eos = _eos_ids(model, tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    try:
        with padding_for_generation(tokenizer), torch.inference_mode():
            config = GenerationConfig(
                max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=eos, bos_token_id=tokenizer.bos_token_id,
            )
            for start in range(0, len(order), batch_size):
                index = order[start: start + batch_size]
                batch = tokenizer([prompts[i] for i in index], return_tensors="pt", padding=True,
                                  truncation=max_prompt_length is not None, max_length=max_prompt_length).to(model_device(model))
                sequences = model.generate(**batch, generation_config=config)
                new_tokens = sequences[:, batch["input_ids"].shape[1]:].tolist()
                for i, row in zip(index, new_tokens):
                    cut = next((k for k, t in enumerate(row) if t in eos), len(row))
                    outputs[i] = tokenizer.decode(row[:cut], skip_special_tokens=True)
    finally:
        model.train(was_training)
    return outputs


def evaluate_generation(model, tokenizer, examples: Sequence[Example], answer_type: str, max_new_tokens: int,
                        batch_size: int = 16, aqua_fix: bool = False, prompt_template: str = "alpaca",
                        max_prompt_length: int | None = None, commonsense_rule: str = "lenient") -> EvalResult:
    """Accuracy of greedy generations under the LLM-Adapters extraction rules (see
    neuroada.tasks.extraction; `aqua_fix` switches AQuA to the corrected letter rule, `commonsense_rule`
    to the release's strict one). Prompts longer than `max_prompt_length` tokens are cut as the release
    does; `truncated_prompts` counts them."""
    prompts = [build_prompt(ex.instruction, ex.input, prompt_template) for ex in examples]
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]] if max_prompt_length else []
    generations = generate(model, tokenizer, prompts, max_new_tokens, batch_size, max_prompt_length=max_prompt_length)
    predictions = []
    for i, (ex, prompt, text) in enumerate(zip(examples, prompts, generations)):
        extracted = extract(text, answer_type, ex.answer, aqua_fix=aqua_fix, commonsense_rule=commonsense_rule)
        predictions.append({
            "index": i, "row": ex.row, "prompt": prompt, "generation": text, "extracted": extracted,
            "gold": ex.answer, "correct": is_correct(extracted, ex.answer, answer_type),
        })
    correct = sum(p["correct"] for p in predictions)
    n = len(predictions)
    metrics = {"accuracy": correct / n if n else float("nan"), "correct": correct, "n": n,
               "truncated_prompts": sum(length > max_prompt_length for length in lengths)}
    return EvalResult(metrics=metrics, predictions=predictions)
