"""The released code's composition (neuroada.released) computes the same function as our layer."""
import copy

import pytest
import torch
from torch import nn

from neuroada import NeuroAdaConfig, apply_neuroada, merge_neuroada, neuroada_layers
from neuroada.layer import NeuroAdaLinear
from neuroada.released import ReleasedNeuroAdaLinear, apply_released_neuroada, flat_positions, merge_released_neuroada, released_layers
from neuroada.selection import select_pattern

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def _twin_models(tiny_llama, k=3, selection="magnitude"):
    cfg = NeuroAdaConfig(k=k, target_modules=TARGETS, selection=selection)
    ours = apply_neuroada(copy.deepcopy(tiny_llama), cfg)
    theirs = apply_released_neuroada(copy.deepcopy(tiny_llama), cfg)
    a, b = neuroada_layers(ours), released_layers(theirs)
    assert a.keys() == b.keys() and len(a) == 2 * len(TARGETS)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name in a:
            d = torch.randn(a[name].neuroada_delta.shape, generator=g) * 0.05
            a[name].neuroada_delta.copy_(d)
            b[name].delta.copy_(d.flatten())
    return ours, theirs, a, b


@pytest.mark.parametrize("selection", ["magnitude", "random_layer", "partial_rows"])
def test_same_pattern_as_ours(tiny_llama, selection):
    _, _, a, b = _twin_models(tiny_llama, selection=selection)
    for name in a:
        assert torch.equal(b[name].positions, flat_positions(a[name].pattern))
        assert b[name].positions.dtype == torch.int64


@pytest.mark.parametrize("selection", ["magnitude", "partial_rows"])
def test_outputs_and_gradients_match_ours_in_fp32(tiny_llama, tiny_batch, selection):
    ours, theirs, a, b = _twin_models(tiny_llama, selection=selection)
    losses, input_grads = [], []
    for model in (ours, theirs):
        emb = model.get_input_embeddings()(tiny_batch["input_ids"]).detach().requires_grad_(True)
        out = model(inputs_embeds=emb, attention_mask=tiny_batch["attention_mask"], labels=tiny_batch["labels"])
        out.loss.backward()
        losses.append(out.loss.detach())
        input_grads.append(emb.grad)
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(input_grads[0], input_grads[1], rtol=1e-5, atol=1e-6)
    for name in a:
        torch.testing.assert_close(a[name].neuroada_delta.grad.flatten(), b[name].delta.grad, rtol=1e-5, atol=1e-6, msg=name)
    # only the deltas are trainable in both
    assert {n.rsplit(".", 1)[-1] for n, p in theirs.named_parameters() if p.requires_grad} == {"delta"}


def test_merged_weights_are_identical_in_fp32(tiny_llama, tiny_batch):
    ours, theirs, _, _ = _twin_models(tiny_llama)
    merge_neuroada(ours)
    merge_released_neuroada(theirs)
    for (n1, p1), (n2, p2) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2), n1
    ids = tiny_batch["input_ids"]
    assert torch.equal(ours(input_ids=ids).logits, theirs(input_ids=ids).logits)


def test_delta_lives_in_the_weight_dtype_and_a_dense_weight_is_saved():
    lin = nn.Linear(12, 6).to(torch.bfloat16)
    layer = ReleasedNeuroAdaLinear(lin, select_pattern(lin.weight, "magnitude", 2, name="w"))
    assert layer.delta.dtype == torch.bfloat16 and layer.delta.shape == (12,)
    assert not layer.weight.requires_grad
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        y = layer(torch.randn(3, 12, dtype=torch.bfloat16, requires_grad=True))  # inputs of inner layers need grad
    weight_ptr = lin.weight.untyped_storage().data_ptr()
    assert any(t.numel() == 72 and t.untyped_storage().data_ptr() != weight_ptr for t in saved), "no dense W' saved"
    y.float().sum().backward()
    assert layer.delta.grad.dtype == torch.bfloat16


def test_single_layer_matches_neuroada_linear():
    torch.manual_seed(0)
    lin = nn.Linear(40, 24)
    lin.requires_grad_(False)
    p = select_pattern(lin.weight, "random_layer", 5, name="w")
    ours, theirs = NeuroAdaLinear(lin, p), ReleasedNeuroAdaLinear(lin, p)
    with torch.no_grad():
        ours.neuroada_delta.normal_(0, 0.1)
        theirs.delta.copy_(ours.neuroada_delta.flatten())
    x1 = torch.randn(2, 7, 40, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y1, y2 = ours(x1), theirs(x2)
    torch.testing.assert_close(y1, y2, rtol=1e-5, atol=1e-6)
    g = torch.randn_like(y1)
    y1.backward(g)
    y2.backward(g)
    torch.testing.assert_close(ours.neuroada_delta.grad.flatten(), theirs.delta.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-5, atol=1e-6)


def test_rejects_selections_that_need_global_information(tiny_llama):
    with pytest.raises(ValueError, match="per-matrix"):
        apply_released_neuroada(tiny_llama, NeuroAdaConfig(k=2, selection="random_global"))
