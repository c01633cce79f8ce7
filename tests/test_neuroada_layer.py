"""The sparse layer: gradients against a dense autograd reference, every kernel, memory, dtypes."""
import pytest
import torch
from torch import nn

from neuroada import NeuroAdaConfig, apply_neuroada
from neuroada.kernels import KERNELS, sddmm
from neuroada.layer import NeuroAdaLinear
from neuroada.selection import select_pattern

SELECTIONS_FOR_GRAD = ["magnitude", "random_layer", "partial_rows"]  # uniform and row-varying patterns


def dense_reference(lin: nn.Linear, layer: NeuroAdaLinear, x: torch.Tensor):
    """y = x (W + S)^T + b with S built densely inside autograd (the released code's composition)."""
    p = layer.pattern
    delta = layer.neuroada_delta.detach().clone().requires_grad_(True)
    flat = p.row_index() * lin.in_features + p.idx.flatten().long()
    w = lin.weight.detach().flatten().scatter_add(0, flat, delta.flatten()).view_as(lin.weight)
    xr = x.detach().clone().requires_grad_(True)
    return nn.functional.linear(xr, w, lin.bias), delta, xr


def check_layer_against_dense_reference(kernel: str, selection: str, device: str = "cpu", tol: float = 1e-5) -> None:
    torch.manual_seed(0)
    lin = nn.Linear(40, 24, device=device)
    lin.requires_grad_(False)
    p = select_pattern(lin.weight, selection, 5, name="w")
    layer = NeuroAdaLinear(lin, p, kernel)
    with torch.no_grad():
        layer.neuroada_delta.normal_(0, 0.1)
    x = torch.randn(2, 7, 40, device=device, requires_grad=True)
    y = layer(x)
    g = torch.randn_like(y)
    y.backward(g)
    y_ref, delta_ref, x_ref = dense_reference(lin, layer, x)
    y_ref.backward(g)
    torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol / 10)
    torch.testing.assert_close(layer.neuroada_delta.grad, delta_ref.grad, rtol=tol, atol=tol)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=tol, atol=tol / 10)


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("selection", SELECTIONS_FOR_GRAD)
def test_delta_and_input_gradients_match_dense_reference(kernel, selection):
    check_layer_against_dense_reference(kernel, selection)


@pytest.mark.parametrize("selection", SELECTIONS_FOR_GRAD)
def test_all_kernels_agree(selection):
    torch.manual_seed(1)
    w = torch.randn(33, 50)
    p = select_pattern(w, selection, 7, name="w")
    g, x = torch.randn(19, 33), torch.randn(19, 50)
    dense = (g.t() @ x)
    expected = dense[p.row_index(), p.idx.flatten().long()].view(p.idx.shape)
    for name in KERNELS:
        torch.testing.assert_close(sddmm(g, x, p, name), expected, rtol=1e-5, atol=1e-5, msg=name)


def test_forward_restores_the_frozen_weight_and_starts_at_pretrained():
    torch.manual_seed(0)
    lin = nn.Linear(16, 8)
    lin.requires_grad_(False)
    before = lin.weight.clone()
    x = torch.randn(4, 16)
    ref = lin(x)
    layer = NeuroAdaLinear(lin, select_pattern(lin.weight, "magnitude", 3, name="w"))
    torch.testing.assert_close(layer(x), ref, rtol=0, atol=0)  # zero-initialised deltas
    with torch.no_grad():
        layer.neuroada_delta.fill_(0.5)
    layer(x.requires_grad_()).sum().backward()
    assert torch.equal(lin.weight, before)


def test_gradient_accumulates_in_fp32_for_bf16_weights():
    torch.manual_seed(0)
    lin = nn.Linear(64, 32).to(torch.bfloat16)
    lin.requires_grad_(False)
    layer = NeuroAdaLinear(lin, select_pattern(lin.weight, "magnitude", 4, name="w"))
    x = torch.randn(8, 64, dtype=torch.bfloat16, requires_grad=True)
    y = layer(x)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert layer.neuroada_delta.dtype == torch.float32 and layer.neuroada_delta.grad.dtype == torch.float32
    assert x.grad.dtype == torch.bfloat16
    ref = (x.detach().float().sum(0)[layer.neuroada_idx.long()])  # dy/dW[i, j] summed = sum_n x[n, j]
    torch.testing.assert_close(layer.neuroada_delta.grad, ref, rtol=1e-2, atol=1e-2)


def test_small_delta_is_not_rounded_away_in_bf16():
    """fp32 master deltas accumulate updates smaller than half a bf16 ulp of W (the released code loses them)."""
    lin = nn.Linear(4, 1, bias=False).to(torch.bfloat16)
    lin.requires_grad_(False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[8.0, 0.1, 0.1, 0.1]]))
    layer = NeuroAdaLinear(lin, select_pattern(lin.weight, "magnitude", 1, name="w"))
    for _ in range(40):  # 40 updates of 1e-3: each alone rounds away at |W| = 8 (bf16 ulp 0.0625)
        with torch.no_grad():
            layer.neuroada_delta += 1e-3
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.bfloat16)
    assert layer(x).item() == 8.0625  # 8 + 0.04, rounded once to the nearest bf16


def test_training_step_saves_no_dense_weight_sized_tensor(tiny_llama, tiny_batch):
    model = apply_neuroada(tiny_llama, NeuroAdaConfig(k=3))
    dense_shapes = {tuple(m.weight.shape) for m in model.modules() if isinstance(m, NeuroAdaLinear)}
    saved = []

    def pack(t):
        saved.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(**tiny_batch).loss
    loss.backward()
    assert saved, "the hook saw nothing: the check would be vacuous"
    assert not dense_shapes & set(saved), f"dense (d_out, d_in) tensors saved for backward: {dense_shapes & set(saved)}"
    grads = [m.neuroada_delta.grad for m in model.modules() if isinstance(m, NeuroAdaLinear)]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_autocast_matches_merged_model_bit_for_bit(tiny_llama, tiny_batch):
    from neuroada import merge_neuroada

    model = apply_neuroada(tiny_llama, NeuroAdaConfig(k=4))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, NeuroAdaLinear):
                m.neuroada_delta.normal_(0, 0.02)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        before = model(input_ids=tiny_batch["input_ids"]).logits
        merge_neuroada(model)
        after = model(input_ids=tiny_batch["input_ids"]).logits
    assert torch.equal(before, after)
