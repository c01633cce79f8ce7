"""Tokenization of Examples for training."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from neuroada.tasks.example import Example
from neuroada.tasks.prompts import build_prompt

log = logging.getLogger(__name__)
IGNORE_INDEX = -100


def tokenize_for_causal_lm(examples: Sequence[Example], tokenizer, max_length: int,
                           prompt_template: str = "alpaca") -> list[dict[str, list[int]]]:
    """prompt + output + EOS, cut to `max_length`, with labels = -100 on the prompt tokens.

    As in the NeuroAda release and LoReFT (`output_ids[:base_prompt_length] = IGNORE_INDEX`), the prompt is
    tokenized on its own and its length masks the start of the full sequence, so only the target is learnt.
    LLM-Adapters' default (`train_on_inputs=True`) also trains on the prompt; we do not. Our templates end in a
    line break, so the prompt tokens are a prefix of the full tokenization (checked; a mismatch is logged). EOS is appended as an id, not as text.
    Examples whose prompt fills `max_length` leave no target token and are dropped (logged); the release
    keeps them with every label masked, which contributes nothing to the loss either. Padding is on the
    right at training, as in the release (`padding_side="right"`; see `_collator` in pipeline.py)."""
    if tokenizer.eos_token_id is None:
        raise ValueError("tokenizer has no eos_token; the target needs one to learn to stop")
    prompts = [build_prompt(ex.instruction, ex.input, prompt_template) for ex in examples]
    prompt_ids = tokenizer(prompts, add_special_tokens=True)["input_ids"]
    full_ids = tokenizer([p + ex.output for p, ex in zip(prompts, examples)], add_special_tokens=True)["input_ids"]
    features, dropped, not_prefix = [], 0, 0
    for prompt, full in zip(prompt_ids, full_ids):
        not_prefix += full[: len(prompt)] != prompt
        ids = (full + [tokenizer.eos_token_id])[:max_length]
        if len(prompt) >= len(ids):
            dropped += 1
            continue
        labels = [IGNORE_INDEX] * len(prompt) + ids[len(prompt):]
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    if dropped:
        log.warning("dropped %d of %d examples whose prompt fills max_length=%d", dropped, len(examples), max_length)
    if not_prefix:
        log.warning("%d prompts did not tokenize as a prefix of prompt+output; masking may be off by a token",
                    not_prefix)
    return features


def tokenize_for_classification(examples: Sequence[Example], tokenizer, max_length: int) -> list[dict]:
    """GLUE: (text_a[, text_b]) pairs, truncated to `max_length`; `labels` is the class index or score."""
    if not examples:
        return []
    pairs = examples[0].text_b is not None
    encoded = tokenizer(
        [ex.text_a for ex in examples],
        [ex.text_b for ex in examples] if pairs else None,
        truncation=True, max_length=max_length,
    )
    keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded]
    return [{**{k: encoded[k][i] for k in keys}, "labels": ex.label} for i, ex in enumerate(examples)]
