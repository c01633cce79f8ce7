"""Generation-based evaluation (commonsense, math, addition): batched greedy decoding."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from contextlib import contextmanager

import torch
from transformers import GenerationConfig, PreTrainedModel
from transformers.cache_utils import DynamicLayer

from neuroada.evaluation.progress import progress_bar
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


def _core_model(model):
    """The transformers model under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _can_decode_in_place(model) -> bool:
    """Our pruned greedy loop needs a decoder-only transformers model with a KV cache; anything else
    (test doubles, encoder-decoders) goes through `model.generate`."""
    core = _core_model(model)
    config = getattr(core, "config", None)
    return isinstance(core, PreTrainedModel) and config is not None and not config.is_encoder_decoder


def _greedy_pruned(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
                   eos: list[int], on_row_done=None) -> list[list[int]]:
    """Greedy decoding of one left-padded batch that drops a row (and its KV cache) as soon as it emits an
    EOS token and stops when no row is left. Inputs mirror `model.generate`'s (position ids from the
    attention mask, logits of the last position only), so every row sees the same computation as there;
    only the rows that have already ended are no longer carried along. Returns the new tokens per row,
    EOS included."""
    core = _core_model(model)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(core.forward).parameters else {}
    eos_ids = torch.tensor(eos, device=input_ids.device)
    positions = attention_mask.long().cumsum(-1) - 1
    positions = positions.masked_fill(attention_mask == 0, 0)
    rows = torch.arange(input_ids.shape[0], device=input_ids.device)  # batch row of each active row
    tokens: list[list[int]] = [[] for _ in range(input_ids.shape[0])]
    ids, mask, cache = input_ids, attention_mask, None
    for step in range(max_new_tokens):
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True, **extra)
        cache = out.cache if "cache" in out else out.past_key_values
        next_ids = out.logits[:, -1].float().argmax(dim=-1)
        ended = torch.isin(next_ids, eos_ids) if eos else torch.zeros_like(next_ids, dtype=torch.bool)
        last = step == max_new_tokens - 1
        for row, token, done in zip(rows.tolist(), next_ids.tolist(), ended.tolist()):
            tokens[row].append(token)
            if (done or last) and on_row_done is not None:
                on_row_done(row)
        if last or bool(ended.all()):
            break
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            rows, mask, positions, next_ids = rows[keep], mask[keep], positions[keep], next_ids[keep]
        ids = next_ids[:, None]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        positions = positions[:, -1:] + 1
    return tokens


def _mergeable(cache) -> bool:
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) is DynamicLayer and layer.is_initialized for layer in layers)


def _merge_caches(cache, mask: torch.Tensor, new_cache, new_mask: torch.Tensor) -> torch.Tensor:
    """Appends the rows of `new_cache` to `cache` (in place), left-padding the shorter of the two with zero
    keys/values that the returned attention mask hides. Only plain DynamicCache layers are supported."""
    layers, new_layers = cache.layers, new_cache.layers
    length = max(mask.shape[1], new_mask.shape[1])

    def pad(t: torch.Tensor, n: int) -> torch.Tensor:  # n zero columns on the left of the sequence dim
        return t if n == 0 else torch.cat([t.new_zeros((*t.shape[:-2], n, t.shape[-1])), t], dim=-2)

    for layer, new in zip(layers, new_layers):
        a, b = length - layer.keys.shape[-2], length - new.keys.shape[-2]
        layer.keys = torch.cat([pad(layer.keys, a), pad(new.keys, b)], dim=0)
        layer.values = torch.cat([pad(layer.values, a), pad(new.values, b)], dim=0)
    return torch.cat([torch.nn.functional.pad(mask, (length - mask.shape[1], 0)),
                      torch.nn.functional.pad(new_mask, (length - new_mask.shape[1], 0))], dim=0)


def _greedy_continuous(model, tokenizer, prompts: Sequence[str], order: list[int], max_new_tokens: int, eos: list[int],
                       batch_size: int, on_item_done=None, cut: dict | None = None) -> dict[int, list[int]]:
    """Greedy decoding with continuous batching: up to `batch_size` prompts decode together; a row leaves
    as soon as it emits EOS (or reaches `max_new_tokens`) and the next prompt of `order` takes its place
    (prefilled on its own, its KV cache left-padded to the batch's). Each row gets the inputs
    `model.generate` gives it (position ids from its attention mask, logits of the last position), so its
    greedy tokens are the same; only the company it keeps changes. Returns the new tokens per prompt
    index, EOS included."""
    core = _core_model(model)
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(core.forward).parameters else {}
    device = model_device(model)
    pending = list(reversed(order))  # pop() takes the next prompt
    tokens: dict[int, list[int]] = {}
    rows: list[int] = []  # prompt index of each active row
    cache = mask = positions = next_ids = None
    while pending or rows:
        if pending and len(rows) < batch_size:  # fill the free slots: prefill the next prompts together
            new = [pending.pop() for _ in range(min(batch_size - len(rows), len(pending)))]
            batch = tokenizer([prompts[i] for i in new], return_tensors="pt", padding=True, **(cut or {})).to(device)
            new_mask = batch["attention_mask"]
            new_pos = (new_mask.long().cumsum(-1) - 1).masked_fill(new_mask == 0, 0)
            out = model(input_ids=batch["input_ids"], attention_mask=new_mask, position_ids=new_pos, use_cache=True, **extra)
            new_cache = out.cache if "cache" in out else out.past_key_values
            if not _mergeable(new_cache):  # checked on the first prefill, before any prompt is reported done
                raise NotImplementedError("continuous batching needs a DynamicCache of plain layers")
            emitted = out.logits[:, -1].float().argmax(dim=-1)
            if rows:
                mask = _merge_caches(cache, mask, new_cache, new_mask)
                positions, next_ids = torch.cat([positions, new_pos[:, -1:]]), torch.cat([next_ids, emitted])
            else:
                cache, mask, positions, next_ids = new_cache, new_mask, new_pos[:, -1:], emitted
            first = len(rows)
            rows += new
        else:  # one step for every active row
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
            positions = positions + 1
            out = model(input_ids=next_ids[:, None], attention_mask=mask, position_ids=positions, cache=cache, use_cache=True, **extra)
            cache = out.cache if "cache" in out else out.past_key_values
            next_ids = emitted = out.logits[:, -1].float().argmax(dim=-1)
            first = 0
        ended = torch.zeros(len(rows), dtype=torch.bool)
        for r, token in enumerate(emitted.tolist(), start=first):
            seq = tokens.setdefault(rows[r], [])
            seq.append(token)
            if token in eos or len(seq) >= max_new_tokens:
                ended[r] = True
                if on_item_done is not None:
                    on_item_done(rows[r])
        if bool(ended.any()):
            keep = (~ended).nonzero().squeeze(1)
            rows = [rows[r] for r in keep.tolist()]
            if not rows:
                cache = mask = positions = next_ids = None
                continue
            keep = keep.to(device)
            cache.batch_select_indices(keep)
            mask, positions, next_ids = mask[keep], positions[keep], next_ids[keep]
            unused = int((mask.sum(0) == 0).long().cumprod(0).sum())  # leading columns no remaining row attends to
            if unused:
                for layer in cache.layers:
                    layer.keys, layer.values = layer.keys[..., unused:, :], layer.values[..., unused:, :]
                mask = mask[:, unused:]
    return tokens


STRATEGIES = ("continuous", "grouped", "hf")


def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int = 16, *,
             strategy: str = "continuous", on_item_done: Callable[[int], None] | None = None,
             max_prompt_length: int | None = None) -> list[str]:
    """Greedy continuations of `prompts` (special tokens removed, cut at the first EOS), in order.

    Every strategy is greedy and gives the same text per prompt; they differ in speed:
    - "continuous" (default): prompts sorted by token count, longest first (any OOM shows at the start);
      up to `batch_size` decode together, a row leaves at its EOS and the next prompt takes its slot
      (`_greedy_continuous`), so the batch stays full until the last prompts;
    - "grouped": batches of prompts sorted by token count; a row leaves its batch at EOS and the batch
      stops when its last row has ended (`_greedy_pruned`);
    - "hf": the previous way, kept for comparison (experiments/bench/generation_speed.py): batches of
      prompts sorted by character count, `model.generate` per batch, which stops when every row has ended
      but keeps computing the rows that ended (as padding) until then.
    Models that are not decoder-only transformers models (test doubles) always go through `model.generate`.
    `on_item_done(i)` is called as prompt `i` finishes. `max_prompt_length` cuts longer prompts to their first
    tokens, as the release does (its tokenizer has `model_max_length` = the training max length, right truncation).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown generation strategy {strategy!r}; accepted: {', '.join(STRATEGIES)}")
    eos = _eos_ids(model, tokenizer)
    cut = {"truncation": True, "max_length": max_prompt_length} if max_prompt_length else {}
    if strategy != "hf" and not _can_decode_in_place(model):
        strategy = "model.generate"
    if strategy in ("continuous", "grouped"):
        lengths = [len(ids) for ids in tokenizer(list(prompts), **cut)["input_ids"]] if prompts else []
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
    else:
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    new_tokens: dict[int, list[int]] = {}
    was_training = model.training
    model.eval()
    try:
        with padding_for_generation(tokenizer), torch.inference_mode():
            if strategy == "continuous":
                try:
                    new_tokens = _greedy_continuous(model, tokenizer, prompts, order, max_new_tokens, eos, batch_size, on_item_done, cut)
                except NotImplementedError:  # a cache we cannot merge: fixed batches
                    strategy = "grouped"
            config = GenerationConfig(
                max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                pad_token_id=tokenizer.pad_token_id, eos_token_id=eos, bos_token_id=tokenizer.bos_token_id,
            )
            for start in range(0, len(order) if strategy != "continuous" else 0, batch_size):
                index = order[start: start + batch_size]
                batch = tokenizer([prompts[i] for i in index], return_tensors="pt", padding=True, **cut).to(model_device(model))
                if strategy == "grouped":
                    done = (lambda row, index=index: on_item_done(index[row])) if on_item_done else None
                    rows = _greedy_pruned(model, batch["input_ids"], batch["attention_mask"], max_new_tokens, eos, done)
                else:
                    sequences = model.generate(**batch, generation_config=config)
                    rows = sequences[:, batch["input_ids"].shape[1]:].tolist()
                    for i in index if on_item_done is not None else ():
                        on_item_done(i)
                new_tokens.update(zip(index, rows))
    finally:
        model.train(was_training)
    outputs = []
    for i in range(len(prompts)):
        row = new_tokens[i]
        cut = next((k for k, t in enumerate(row) if t in eos), len(row))
        outputs.append(tokenizer.decode(row[:cut], skip_special_tokens=True))
    return outputs


def evaluate_generation(model, tokenizer, examples: Sequence[Example], answer_type: str, max_new_tokens: int,
                        batch_size: int = 16, aqua_fix: bool = False, prompt_template: str = "alpaca", *,
                        max_prompt_length: int | None = None, commonsense_rule: str = "lenient",
                        progress: bool = True, desc: str = "eval") -> EvalResult:
    """Accuracy of greedy generations under the LLM-Adapters extraction rules (see
    neuroada.tasks.extraction; `aqua_fix` switches AQuA to the corrected letter rule, `commonsense_rule`
    to the release's strict one). Prompts longer than `max_prompt_length` tokens are cut as the release
    does; `truncated_prompts` counts them. `progress` shows a bar (items done / total, items/s, ETA)
    labelled `desc` on stderr."""
    prompts = [build_prompt(ex.instruction, ex.input, prompt_template) for ex in examples]
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]] if max_prompt_length else []
    with progress_bar(len(prompts), desc, enabled=progress) as bar:
        generations = generate(model, tokenizer, prompts, max_new_tokens, batch_size, max_prompt_length=max_prompt_length,
                               on_item_done=lambda i: bar.update(1))
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
