"""Measured step memory (neuroada.memory) on tiny models: each category against what it must be."""
import copy

import pytest
import torch
from torch import nn

from neuroada import NeuroAdaConfig
from neuroada.layer import NeuroAdaLinear
from neuroada.memory import CATEGORIES, MemoryReport, measure_peak, measure_step_memory
from neuroada.methods import prepare_method
from neuroada.released import apply_released_neuroada, released_layers
from neuroada.selection import select_pattern

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def adamw(params):
    return torch.optim.AdamW(params, lr=1e-3)


def nbytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 97, (2, 12), generator=g)
    return {"input_ids": ids, "labels": ids}


def _method(tiny_llama, name, k=4):
    if name == "released":
        return apply_released_neuroada(tiny_llama, NeuroAdaConfig(k=k, target_modules=TARGETS))
    return prepare_method(tiny_llama, {"name": name, "target_modules": TARGETS, "k": k, "r": "match", "k_match": k}).model


def test_full_finetuning_gradients_equal_parameters_and_adamw_state_is_twice(tiny_llama, batch):
    tiny_llama.requires_grad_(True)
    r = measure_step_memory(tiny_llama, batch, adamw)
    params = list(tiny_llama.parameters())
    assert r.parameters == r.trainable_parameters == nbytes(params)
    assert r.gradients == r.parameters
    # exp_avg + exp_avg_sq per parameter, plus one 0-d fp32 `step` per parameter tensor
    assert r.optimizer_state == 2 * r.trainable_parameters + 4 * len(params)
    assert r.activations > 0 and r.n_saved_tensors > 0
    assert r.peak_step is not None and r.peak_step > 0 and r.temporaries is not None


def test_tied_weights_and_shared_storages_count_once():
    from tests.conftest import make_tiny_llama

    model = make_tiny_llama(tie_word_embeddings=True)
    model.requires_grad_(True)
    ids = torch.randint(1, 97, (2, 8))
    r = measure_step_memory(model, {"input_ids": ids, "labels": ids}, adamw, track_peak=False)
    unique = {p.untyped_storage().data_ptr(): p for p in model.parameters()}
    assert r.parameters == nbytes(unique.values())
    assert r.gradients == r.parameters
    assert r.temporaries is None and r.peak_step is None


def test_an_input_shared_by_three_layers_is_counted_once():
    """q/k/v-like: three NeuroAda layers save the same x; the saved activations are exactly x's storage."""
    torch.manual_seed(0)

    class QKV(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v = (nn.Linear(16, 8, bias=False) for _ in range(3))

        def forward(self, x):
            return self.q(x) + self.k(x) + self.v(x)  # add/sum save nothing

    model = QKV().requires_grad_(False)
    for name in ("q", "k", "v"):
        lin = getattr(model, name)
        setattr(model, name, NeuroAdaLinear(lin, select_pattern(lin.weight, "magnitude", 3, name=name)))
    x = torch.randn(5, 16)
    r = measure_step_memory(model, x, adamw)
    assert r.n_saved_tensors >= 3 * 2  # x and delta (and idx) per layer
    assert r.activations == x.numel() * 4  # delta/idx are parameters/buffers; x once
    assert r.buffers == sum(getattr(model, n).neuroada_idx.numel() * 2 for n in ("q", "k", "v"))  # int16 idx
    assert r.trainable_parameters == r.gradients == 3 * 8 * 3 * 4


def test_frozen_backbone_has_no_gradients_or_optimizer_state(tiny_llama, batch):
    tiny_llama.requires_grad_(False)
    r = measure_step_memory(tiny_llama, batch, adamw, step_fn=_step_through_inputs)  # the input-gradient path
    assert r.trainable_parameters == r.gradients == r.optimizer_state == 0
    assert r.activations > 0


def _step_through_inputs(model, b):
    """The loss with the embeddings' output requiring grad: every layer's input then needs a gradient."""
    emb = model.get_input_embeddings()(b["input_ids"])
    if not emb.requires_grad:
        emb.requires_grad_(True)
    return model(inputs_embeds=emb, labels=b["labels"]).loss


def test_neuroada_saves_no_more_than_lora_and_released_saves_the_dense_weights(tiny_llama, batch):
    reports = {name: measure_step_memory(_method(copy.deepcopy(tiny_llama), name), batch, adamw, step_fn=_step_through_inputs)
               for name in ("neuroada", "lora", "released", "full")}
    ours, lora, released, full = (reports[n] for n in ("neuroada", "lora", "released", "full"))
    assert ours.activations <= lora.activations
    assert ours.activations <= full.activations  # full FT saves every layer's input too
    # the released composition saves one dense W' per adapted layer on top of what ours saves
    dense = sum(m.weight.numel() * 4 for m in released_layers(_method(copy.deepcopy(tiny_llama), "released")).values())
    assert released.activations >= ours.activations + dense
    assert released.accounted > ours.accounted
    # equal trainable parameters and optimizer state between the two compositions
    assert released.trainable_parameters == ours.trainable_parameters
    assert released.optimizer_state == ours.optimizer_state


def test_masked_baseline_pays_dense_gradients_state_and_mask(tiny_llama, batch):
    model = _method(copy.deepcopy(tiny_llama), "masked")
    r = measure_step_memory(model, batch, adamw)
    dense = [m.weight for n, m in model.named_modules() if n.endswith(tuple(TARGETS))]
    assert r.gradients == nbytes(dense)
    assert r.buffers >= sum(w.numel() for w in dense)  # one bool per entry: the dense masks


def test_report_fields_and_totals(tiny_llama, batch):
    r = measure_step_memory(_method(tiny_llama, "neuroada"), batch, adamw)
    d = r.to_dict()
    for key in (*CATEGORIES, "accounted", "total", "static", "trainable_parameters", "peak_step", "device"):
        assert key in d
    assert d["accounted"] == r.parameters + r.buffers + r.gradients + r.optimizer_state + r.activations
    assert d["total"] == d["accounted"] + r.temporaries
    assert r.total >= r.static + r.peak_step  # total covers the measured peak
    assert isinstance(r, MemoryReport) and "MB" in str(r)


def test_existing_optimizer_without_warmup(tiny_llama, batch):
    model = _method(tiny_llama, "neuroada")
    opt = adamw([p for p in model.parameters() if p.requires_grad])
    first = measure_step_memory(model, batch, opt, warmup=False)  # state is created inside the measured step
    second = measure_step_memory(model, batch, opt, warmup=False)
    assert first.optimizer_state == second.optimizer_state > 0


def test_measure_peak_sees_a_temporary():
    _, peak = measure_peak(lambda: torch.ones(1000, 1000).sum())
    assert peak >= 4_000_000
