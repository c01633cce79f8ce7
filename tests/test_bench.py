"""Smoke test of experiments/bench/bench.py on tiny shapes (no timing assertion); every SDDMM kernel and the
fused C++ weight swap against references."""
import contextlib
import importlib.util
import json
import statistics
import sys
from pathlib import Path

import pytest
import torch

from neuroada import cpu_extension, kernels
from neuroada.kernels import KERNELS, sampled_addmm_tiled, sampled_cpu
from neuroada.selection import select_pattern

BENCH_DIR = Path(__file__).resolve().parents[1] / "experiments" / "bench"


@pytest.fixture
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("neuroada_bench_under_test", BENCH_DIR / "bench.py")
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)  # dataclasses look their module up
    spec.loader.exec_module(mod)
    # tiny stand-ins for the real shapes (labels kept: the 7B estimate is keyed by them)
    monkeypatch.setattr(mod, "LLAMA7B_SHAPES", [("llama7b.qkvo", 24, 24), ("llama7b.gate_up", 40, 24), ("llama7b.down", 24, 40)])
    monkeypatch.setattr(mod, "SMOLLM2_SHAPES", [("smollm2.qo", 24, 24), ("smollm2.down", 24, 40)])  # in_features >= k=20
    monkeypatch.setattr(mod, "SMOLLM2_CONFIG", {**mod.SMOLLM2_CONFIG, "vocab_size": 64, "hidden_size": 24, "intermediate_size": 32,
                                                 "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64})
    return mod


def test_bench_all_suites_on_tiny_shapes(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("NEUROADA_CPU_EXTENSION", "1")  # the default; recorded because it changes what is timed
    result = bench.main(["--suite", "all", "--tokens", "16", "--batch", "2", "--layers", "1", "--repeats", "2", "--large-repeats", "2",
                         "--extra-repeats", "1", "--warmup", "1", "--out", str(tmp_path), "--tag", "tiny"], log=lambda *a: None)
    data = json.loads((tmp_path / "tiny.json").read_text())
    assert data["command"].startswith("python experiments/bench/bench.py")
    for key in ("torch", "threads", "device", "dtype", "git_commit", "cpu", "env_vars"):
        assert key in data["env"]
    assert data["env"]["device"] == "cpu" and data["env"]["dtype"] == "float32"
    assert data["env"]["env_vars"]["NEUROADA_CPU_EXTENSION"] == "1"
    for png in ("tiny_model_time.png", "tiny_model_memory.png", "tiny_layers_time.png"):
        assert (tmp_path / png).stat().st_size > 0

    groups = [data["model"], *data["layers"]]
    assert len(data["layers"]) == 5
    assert [r["repeats"] for r in data["layers"]] == [2, 2, 2, 2, 2]
    for group in groups:
        results = group["results"]
        frozen = [r for r in results if r["method"] == "frozen"]
        assert len(frozen) == 1 and frozen[0]["ratio_to_frozen"] == 1.0
        assert group["frozen_median_s"] == pytest.approx(statistics.median(frozen[0]["times_s"]), abs=1e-5)
        for r in results:
            assert len(r["times_s"]) == 2
            # the ratio is against the frozen median measured in the same group (same process)
            assert r["ratio_to_frozen"] == pytest.approx(r["median_s"] / group["frozen_median_s"])
            paired = [t / f for t, f in zip(r["times_s"], frozen[0]["times_s"])]
            assert r["ratio_to_frozen_paired"] == pytest.approx(statistics.median(paired), rel=1e-3)  # times_s are rounded to 1 ns
            lo, hi = r["ratio_to_frozen_paired_quartiles"]
            assert lo <= r["ratio_to_frozen_paired"] <= hi
            mem = r["memory"]
            for cat in ("parameters", "buffers", "gradients", "optimizer_state", "activations", "temporaries", "accounted", "total"):
                assert mem[cat] is not None and mem[cat] >= 0, (r["method"], cat)
        methods = {(r["method"], r["k"]) for r in results}
        for k in (1, 20):
            large = group.get("shape", "").startswith("llama7b")
            expected = ["lora", "neuroada", "released", "masked", "neuroada[sampled_addmm_tiled]", "neuroada[pytorch]"]
            expected += [] if large else ["dora", "neuroada[sampled_addmm]", "neuroada[dense_gather]"]
            for m in expected:
                assert (m, k) in methods, (m, k)
            assert ("neuroada[gather_bmm]", k) not in methods  # slow: timed alone in the kernels suite
        assert ("full", None) in methods
        # the automatic kernel is not timed twice
        assert ("neuroada[sampled_cpu]", 20) not in methods
        auto = next(r for r in results if r["method"] == "neuroada" and r["k"] == 20)
        assert auto["kernel"] == "auto" and auto["kernel_resolved"] == "sampled_cpu"
        assert auto["cpu_extension"] == cpu_extension.available()
        assert next(r for r in results if r["method"] == "neuroada[pytorch]" and r["k"] == 20)["cpu_extension"] is False
        lora = next(r for r in results if r["method"] == "lora" and r["k"] == 20)
        assert lora["r"] >= 1 and lora["trainable"] > 0

    model = {(r["method"], r["k"]): r for r in data["model"]["results"]}
    assert model[("frozen", None)]["memory"]["gradients"] == 0
    assert model[("full", None)]["memory"]["gradients"] == model[("full", None)]["memory"]["parameters"]
    assert model[("neuroada", 20)]["memory"]["activations"] <= model[("lora", 20)]["memory"]["activations"]
    assert model[("released", 20)]["memory"]["activations"] > model[("neuroada", 20)]["memory"]["activations"]

    extras = data["extras"]
    assert len(extras["merge"]) == len(extras["selection"]) == 6
    assert set(extras["selection_7b_estimate"]) == {"1", "20"}
    est = extras["selection_7b_estimate"]["20"]["seconds"]
    per = {s["shape"]: s["median_s"] for s in extras["selection"] if s["k"] == 20}
    assert est == pytest.approx(32 * (4 * per["llama7b.qkvo"] + 2 * per["llama7b.gate_up"] + per["llama7b.down"]))
    assert all(s["peak_bytes"] is not None for s in extras["selection"])
    assert {r["fastest"] for r in data["kernels"]} <= set(KERNELS)
    assert result["_path"].endswith("tiny.json")


def test_bench_rejects_a_method_list_without_the_frozen_reference(bench):
    with pytest.raises(SystemExit):
        bench.parse_args(["--methods", "lora", "neuroada"])


def _dense_expected(g, x, p):
    return (g.double().t() @ x.double())[p.row_index(), p.idx.flatten().long()].view(p.idx.shape).float()


@pytest.mark.parametrize("selection", ["magnitude", "random_layer", "partial_rows"])
@pytest.mark.parametrize("tile", [None, 1, 7, 64])
def test_tiled_kernel_matches_the_dense_reference(selection, tile):
    torch.manual_seed(2)
    w = torch.randn(33, 50)
    p = select_pattern(w, selection, 7, name="w")
    g, x = torch.randn(19, 33), torch.randn(19, 50)
    torch.testing.assert_close(sampled_addmm_tiled(g, x, p, tile=tile), _dense_expected(g, x, p), rtol=1e-5, atol=1e-5)


needs_compiler = pytest.mark.skipif(not cpu_extension.available(), reason="no C++ toolchain for the CPU extension")


@needs_compiler
@pytest.mark.parametrize("selection", ["magnitude", "random_layer", "partial_rows", "random"])
@pytest.mark.parametrize("shape,k,tokens,tile", [((33, 50), 7, 19, None), ((40, 24), 1, 130, 64), ((17, 9), 9, 8, 3),
                                                  ((64, 96), 5, 257, 128), ((24, 40), 40, 33, 8),
                                                  ((130, 70), 9, 300, 16), ((70, 130), 3, 1000, None)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_cpu_kernel_matches_the_dense_reference(selection, shape, k, tokens, tile, threads, num_threads):
    """Tiles, remainders of the 8x8 transposes, of the 64-row blocks and of the 4-entry blocks, whole rows,
    int16/int32 indices; threads splitting the rows (few tiles) and the tokens (many tiles, uneven parts)."""
    num_threads(threads)
    torch.manual_seed(3)
    w = torch.randn(*shape)
    p = select_pattern(w, selection, k, name="w")
    g, x = torch.randn(tokens, shape[0]), torch.randn(tokens, shape[1])
    torch.testing.assert_close(sampled_cpu(g, x, p, tile=tile), _dense_expected(g, x, p), rtol=1e-5, atol=1e-4)
    p32 = type(p)(p.idx.to(torch.int32), p.rows, p.shape)
    p64 = type(p)(p.idx.long(), p.rows, p.shape)
    torch.testing.assert_close(sampled_cpu(g, x, p32, tile=tile), sampled_cpu(g, x, p64, tile=tile), rtol=0, atol=0)


@needs_compiler
def test_cpu_kernel_handles_non_contiguous_and_bf16_inputs():
    torch.manual_seed(4)
    w = torch.randn(30, 20)
    p = select_pattern(w, "magnitude", 4, name="w")
    g, x = torch.randn(30, 12).t(), torch.randn(20, 12).t()  # (12, 30) and (12, 20), transposed views
    torch.testing.assert_close(sampled_cpu(g, x, p), _dense_expected(g, x, p), rtol=1e-5, atol=1e-5)
    gb, xb = g.bfloat16(), x.bfloat16()
    torch.testing.assert_close(sampled_cpu(gb, xb, p), _dense_expected(gb.float(), xb.float(), p), rtol=1e-5, atol=1e-4)
    empty = sampled_cpu(torch.zeros(0, 30), torch.zeros(0, 20), p)
    assert empty.shape == p.idx.shape and not empty.any()


def test_every_kernel_in_the_layer_gives_the_same_gradients():
    from torch import nn

    from neuroada.layer import NeuroAdaLinear

    lin = nn.Linear(48, 20, bias=True).requires_grad_(False)
    p = select_pattern(lin.weight, "magnitude", 5, name="w")
    grads = []
    for kernel in KERNELS:
        layer = NeuroAdaLinear(lin, p, kernel)
        with torch.no_grad():
            layer.neuroada_delta.copy_(torch.linspace(-0.1, 0.1, layer.neuroada_delta.numel()).view_as(layer.neuroada_delta))
        x = torch.randn(3, 100, 48, generator=torch.Generator().manual_seed(0), requires_grad=True)
        layer(x).square().sum().backward()
        grads.append((layer.neuroada_delta.grad, x.grad))
    for delta_grad, x_grad in grads[1:]:
        torch.testing.assert_close(grads[0][0], delta_grad, rtol=1e-5, atol=1e-4)
        assert torch.equal(grads[0][1], x_grad)


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("selection", ["magnitude", "partial_rows"])
def test_fused_swap_writes_the_merged_values_and_restores(dtype, selection):
    from neuroada.layer import merged_values, swapped_weight

    torch.manual_seed(5)
    w = torch.randn(24, 40).to(dtype)
    p = select_pattern(w, selection, 6, name="w")
    delta = torch.randn(p.idx.shape) * 1e-3  # small: exercises the rounding to W's dtype
    before = w.clone()
    version = w._version
    with swapped_weight(w, delta, p, dtype) as fused:
        got = fused.clone()
    with cpu_extension.disabled(), swapped_weight(w, delta, p, dtype) as ref:
        assert torch.equal(got, ref)
    assert torch.equal(w, before) and w._version == version
    merged = before.clone()
    if p.uniform:
        merged.scatter_(1, p.idx.long(), merged_values(before, delta, p))
    else:
        merged[p.rows.long(), p.idx.long()] = merged_values(before, delta, p)
    assert torch.equal(got, merged)


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_extension_and_pytorch_paths_agree_and_merge_exactly(tiny_llama, tiny_batch, dtype):
    """The default CPU path (C++ kernel + fused swap) against the pure-PyTorch one, on a whole model."""
    import copy

    from neuroada import NeuroAdaConfig, apply_neuroada, merge_neuroada, neuroada_layers

    base = tiny_llama.to(dtype)
    models = [apply_neuroada(copy.deepcopy(base), NeuroAdaConfig(k=4, kernel=kernel)) for kernel in ("sampled_addmm", "auto")]
    for model in models:
        torch.manual_seed(6)
        with torch.no_grad():
            for m in neuroada_layers(model).values():
                m.neuroada_delta.normal_(0, 0.02)
    outs = []
    for model, context in zip(models, (cpu_extension.disabled(), contextlib.nullcontext())):
        with context:
            loss = model(**tiny_batch).loss
            loss.backward()
        outs.append((loss.detach(), [m.neuroada_delta.grad for m in neuroada_layers(model).values()]))
    assert torch.equal(outs[0][0], outs[1][0])  # same forward, bit for bit
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=2e-2, atol=2e-3)
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(a, b, **tol)
    ids = tiny_batch["input_ids"]
    with torch.no_grad():
        before = models[1](input_ids=ids).logits
        merge_neuroada(models[1])
        assert torch.equal(before, models[1](input_ids=ids).logits)


def test_auto_kernel_is_the_cpp_kernel_on_cpu_and_falls_back_without_it():
    assert kernels.resolve_kernel("auto", torch.device("cpu")) == "sampled_cpu"
    torch.manual_seed(7)
    p = select_pattern(torch.randn(12, 30), "magnitude", 3, name="w")
    g, x = torch.randn(40, 12), torch.randn(40, 30)
    with cpu_extension.disabled():
        assert cpu_extension.load() is None
        torch.testing.assert_close(sampled_cpu(g, x, p), _dense_expected(g, x, p), rtol=1e-5, atol=1e-5)


@needs_compiler
def test_cpu_extension_runs_on_torchs_threads(num_threads):
    """Built without OpenMP, at::parallel_for silently runs serially (1 thread); the extension must use
    torch's pool, so on 2 threads it must see 2."""
    num_threads(2)
    assert cpu_extension.load().parallel_threads() == 2
