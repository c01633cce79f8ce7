"""CUDA checks (skipped without a GPU; run by experiments/cuda/check.sh on a lent GPU): every kernel and
the layer on CUDA against the dense reference, in fp32 and under bf16 autocast, and the merge."""
import pytest
import torch

from neuroada import NeuroAdaConfig, apply_neuroada, merge_neuroada, neuroada_layers
from neuroada.kernels import KERNELS, resolve_kernel, sddmm
from neuroada.selection import select_pattern
from test_neuroada_layer import SELECTIONS_FOR_GRAD, check_layer_against_dense_reference

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CUDA = torch.device("cuda")


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("selection", SELECTIONS_FOR_GRAD)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_kernel_on_cuda_matches_the_dense_reference(kernel, selection, dtype):
    torch.manual_seed(0)
    w = torch.randn(96, 160, device=CUDA)
    p = select_pattern(w, selection, 9, name="w")
    g, x = torch.randn(300, 96, device=CUDA, dtype=dtype), torch.randn(300, 160, device=CUDA, dtype=dtype)
    dense = (g.double().t() @ x.double())[p.row_index(), p.idx.flatten().long()].view(p.idx.shape).float()
    torch.testing.assert_close(sddmm(g, x, p, kernel), dense, rtol=1e-4, atol=1e-3)


def test_auto_kernel_on_cuda_is_the_tiled_cusparse_sddmm():
    assert resolve_kernel("auto", CUDA) == "sampled_addmm_tiled"


@pytest.mark.parametrize("kernel", list(KERNELS))
@pytest.mark.parametrize("selection", SELECTIONS_FOR_GRAD)
def test_layer_on_cuda_matches_the_dense_reference(kernel, selection):
    check_layer_against_dense_reference(kernel, selection, device="cuda", tol=1e-4)


def test_bf16_model_under_autocast_trains_and_merges_exactly_on_cuda(tiny_llama, tiny_batch):
    model = apply_neuroada(tiny_llama.to(device=CUDA, dtype=torch.bfloat16), NeuroAdaConfig(k=4))
    batch = {k: v.to(CUDA) for k, v in tiny_batch.items()}
    with torch.autocast("cuda", dtype=torch.bfloat16):
        model(**batch).loss.backward()
    layers = neuroada_layers(model).values()
    assert all(m.neuroada_delta.grad is not None and m.neuroada_delta.grad.dtype == torch.float32 for m in layers)
    with torch.no_grad():
        for m in layers:
            m.neuroada_delta.normal_(0, 0.02)
        before = model(input_ids=batch["input_ids"]).logits
        merge_neuroada(model)
        assert torch.equal(before, model(input_ids=batch["input_ids"]).logits)
