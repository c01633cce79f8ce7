"""Activation checkpointing (HF's, reentrant and non-reentrant) gives every method the gradients it gets without it.

NeuroAda writes the selected entries of the frozen weight in place for each forward and backward and writes
the original values back (`layer.swapped_weight`). Under checkpointing the forward of a layer runs a second
time inside backward; these tests check that the gradients do not change, that the frozen weights are
bit-identical after every step, and that nothing stale survives an optimizer update between steps.
"""
from __future__ import annotations

import warnings

import pytest
import torch

from conftest import make_tiny_llama
from neuroada import cpu_extension, layer
from neuroada.config import LLAMA_TARGETS
from neuroada.memory import checkpointing_mode, enable_activation_checkpointing
from neuroada.methods import prepare_method

METHODS = ["neuroada", "lora", "dora", "masked", "full"]
MODES = ["non_reentrant", "reentrant"]


def _cfg(name: str) -> dict:
    # LoRA/DoRA with dropout: the recomputation must replay the same dropout masks (checkpoint keeps the RNG state)
    return {"name": name, "target_modules": list(LLAMA_TARGETS), "k": 3, "r": 2, "alpha": 4, "dropout": 0.1}


def _prepared(name: str, mode: str, dtype=torch.float32):
    model = prepare_method(make_tiny_llama(dtype=dtype), _cfg(name)).model.train()
    with warnings.catch_warnings():  # use_cache / deprecation notices
        warnings.simplefilter("ignore")
        enable_activation_checkpointing(model, mode)
    return model


def _frozen(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}


def _steps(name: str, mode: str, batch, *, steps: int = 1, dtype=torch.float32, autocast: bool = False):
    """Gradients of every trainable tensor after each of `steps` steps (AdamW between them), the trained values,
    and the frozen weights, checked bit-identical to the start after every backward."""
    model = _prepared(name, mode, dtype)
    frozen = _frozen(model)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    opt = torch.optim.AdamW(trainable.values(), lr=1e-2, weight_decay=0.0)
    grads = []
    for step in range(steps):
        torch.manual_seed(100 + step)  # the same dropout masks with and without checkpointing
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = model(**batch).loss
        loss.backward()
        for n, p in model.named_parameters():
            if not p.requires_grad:
                assert torch.equal(p.detach(), frozen[n]), f"{n} changed by step {step} ({mode})"
        grads.append({n: p.grad.detach().clone() for n, p in trainable.items() if p.grad is not None})
        opt.step()
        opt.zero_grad(set_to_none=True)
    return grads, {n: p.detach().clone() for n, p in trainable.items()}, model


def _assert_same(a: dict, b: dict, what: str, **tol):
    assert a.keys() == b.keys(), f"{what}: {sorted(a.keys() ^ b.keys())[:5]}"
    for n in a:
        torch.testing.assert_close(b[n], a[n], msg=lambda m, n=n: f"{what} {n}: {m}", **tol)


def test_checkpointing_mode_names():
    assert [checkpointing_mode(v) for v in (False, None, "none", True, "non_reentrant", "reentrant")] == \
        ["none", "none", "none", "non_reentrant", "non_reentrant", "reentrant"]
    with pytest.raises(ValueError, match="checkpointing"):
        checkpointing_mode("sometimes")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", METHODS)
def test_gradients_equal_without_checkpointing(name, mode, tiny_batch):
    """fp32: every trainable tensor gets the gradient it gets without checkpointing (float tolerance), and the
    frozen weights are bit-identical after backward."""
    ref, _, _ = _steps(name, "none", tiny_batch)
    got, _, model = _steps(name, mode, tiny_batch)
    layers = model.get_base_model().model.layers if hasattr(model, "get_base_model") else model.model.layers
    assert all(m.gradient_checkpointing for m in layers)  # really on
    n_trainable = sum(p.requires_grad for p in model.parameters())
    assert len(ref[0]) == n_trainable, "every trainable tensor has a gradient"
    _assert_same(ref[0], got[0], f"{name} {mode} grad", rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["neuroada", "masked", "lora"])
def test_two_steps_with_an_update_between(name, mode, tiny_batch):
    """No stale values: the second step's gradients (after AdamW changed the trainable tensors, NeuroAda's deltas
    that the in-place swap writes) and the trained values equal the run without checkpointing."""
    ref, ref_vals, _ = _steps(name, "none", tiny_batch, steps=2)
    got, got_vals, _ = _steps(name, mode, tiny_batch, steps=2)
    for step in range(2):
        _assert_same(ref[step], got[step], f"{name} {mode} step {step} grad", rtol=1e-5, atol=1e-7)
    _assert_same(ref_vals, got_vals, f"{name} {mode} trained", rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_neuroada_pure_pytorch_swap_under_checkpointing(mode, tiny_batch):
    """The same with the PyTorch weight swap and kernel (no C++ extension)."""
    with cpu_extension.disabled():
        ref, ref_vals, _ = _steps("neuroada", "none", tiny_batch, steps=2)
        got, got_vals, _ = _steps("neuroada", mode, tiny_batch, steps=2)
    for step in range(2):
        _assert_same(ref[step], got[step], f"pytorch path {mode} step {step}", rtol=1e-5, atol=1e-7)
    _assert_same(ref_vals, got_vals, "pytorch path trained", rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["neuroada", "lora"])
def test_bf16_autocast_under_checkpointing(name, mode, tiny_batch):
    """bf16 weights under bf16 autocast (the paper's precision): the recomputed forward is the same computation,
    so the gradients agree to bf16 rounding at most (here: exactly, CPU kernels are deterministic)."""
    ref, _, _ = _steps(name, "none", tiny_batch, dtype=torch.bfloat16, autocast=True)
    got, _, _ = _steps(name, mode, tiny_batch, dtype=torch.bfloat16, autocast=True)
    _assert_same(ref[0], got[0], f"{name} {mode} bf16 grad", rtol=1e-2, atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_recomputed_forward_sees_the_restored_weight(mode, tiny_batch, monkeypatch):
    """Every entry to the weight swap (forward, recomputed forward, backward) finds the frozen weight as it was
    before the step: each swap has been undone before the next one starts. With checkpointing each adapted
    Linear's forward runs twice (once more inside backward)."""
    model = _prepared("neuroada", mode)
    frozen = _frozen(model)
    originals = {id(p): frozen[n] for n, p in model.named_parameters() if not p.requires_grad}
    real = layer.swapped_weight
    entries = []

    def checking(weight, delta, p, dtype):
        entries.append(torch.equal(weight.detach(), originals[id(weight)]))
        return real(weight, delta, p, dtype)

    monkeypatch.setattr(layer, "swapped_weight", checking)
    model(**tiny_batch).loss.backward()
    n_linear = 7 * 2  # q, k, v, o, gate, up, down in 2 layers
    # forward + recomputed forward + backward (grad of x): 3 per Linear, layer 0's q/k/v included, because HF
    # marks the embedding output as requiring grad when it turns checkpointing on
    assert len(entries) == 3 * n_linear and all(entries), entries


def test_training_arguments_carry_the_checkpointing_mode(tmp_path):
    """`trainer.gradient_checkpointing` / `trainer.gradient_checkpointing_reentrant` reach the HF Trainer's arguments."""
    from omegaconf import OmegaConf

    from neuroada.training import training_arguments

    REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
    t = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "trainer" / "default.yaml"))
    assert t["gradient_checkpointing"] is False and t["gradient_checkpointing_reentrant"] is False
    kw = dict(seed=0, report_to=[], run_name="x", use_cpu=True)
    off = training_arguments(t, str(tmp_path), **kw)
    assert not off.activation_checkpointing
    on = training_arguments({**t, "gradient_checkpointing": True}, str(tmp_path), **kw)
    assert on.activation_checkpointing and on.activation_checkpointing_kwargs == {"use_reentrant": False}
    re = training_arguments({**t, "gradient_checkpointing": True, "gradient_checkpointing_reentrant": True}, str(tmp_path), **kw)
    assert re.activation_checkpointing_kwargs == {"use_reentrant": True}
    legacy = {k: v for k, v in t.items() if k != "gradient_checkpointing_reentrant"}  # configs written before the key existed
    assert training_arguments({**legacy, "gradient_checkpointing": True}, str(tmp_path), **kw).activation_checkpointing_kwargs == {"use_reentrant": False}


@pytest.mark.integration
@pytest.mark.parametrize("mode", MODES)
def test_smollm2_step_with_checkpointing(mode):
    """One real SmolLM2-135M step (NeuroAda k=20, batch 2 x 32): the same delta gradients with and without
    checkpointing, frozen weights untouched."""
    from neuroada.models import load_model

    grads = {}
    for m in ("none", mode):
        model, tok = load_model("smollm2-135m")
        base = _frozen(model.requires_grad_(False))
        batch = tok(["The capital of France is Paris, and the capital of Italy is Rome.", "Two plus two is four."],
                    return_tensors="pt", padding="max_length", max_length=32, truncation=True)
        batch["labels"] = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        net = prepare_method(model, {"name": "neuroada", "k": 20, "target_modules": list(LLAMA_TARGETS)}).model.train()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enable_activation_checkpointing(net, m)
        net(**batch).loss.backward()
        grads[m] = {n: p.grad.clone() for n, p in net.named_parameters() if p.requires_grad}
        assert len(grads[m]) == 7 * 30
        for n, p in net.named_parameters():
            if not p.requires_grad:
                assert torch.equal(p.detach(), base[n]), n
    _assert_same(grads["none"], grads[mode], f"smollm2 {mode}", rtol=1e-4, atol=1e-6)


PIPELINE = ["task=addition", "task.train.size=16", "task.eval_sets.addition.size=2", "task.max_new_tokens=4", "trainer.max_steps=2",
            "trainer.batch_size=4", "trainer.logging_steps=1", "trainer.save_steps=100", "eval_batch_size=2",
            "eval_before=false", "logger=none", "trainer.gradient_checkpointing=true"]


def _pipeline(tmp_path, *overrides):
    from hydra import compose, initialize_config_dir

    from neuroada.pipeline import run

    REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[*PIPELINE, f"output_root={tmp_path}", *overrides])
    return run(cfg)


def _check_record(record):
    assert record["status"] == "completed" and record["train"]["steps"] == 2
    assert record["config"]["trainer"]["gradient_checkpointing"] is True
    losses = [h["loss"] for h in record["train"]["log_history"] if "loss" in h]
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))


@pytest.mark.integration
@pytest.mark.parametrize("name,reentrant", [("neuroada", False), ("neuroada", True), ("lora", False), ("dora", True), ("masked", False),
                                            ("full", True)])
def test_pipeline_runs_every_method_with_checkpointing(name, reentrant, tmp_path):
    """`trainer.gradient_checkpointing=true` through the Hydra pipeline and the HF Trainer (tiny-llama, 2 steps)."""
    extra = ["method.k=2"] if name in ("neuroada", "masked") else (["++method.r=2"] if name in ("lora", "dora") else [])
    _check_record(_pipeline(tmp_path, "model=tiny-llama", f"method={name}", *extra, f"trainer.gradient_checkpointing_reentrant={str(reentrant).lower()}"))


@pytest.mark.integration
def test_pipeline_smollm2_step_with_checkpointing(tmp_path):
    """A real SmolLM2-135M run, NeuroAda k=20, 2 steps of batch 4, `trainer.gradient_checkpointing=true`."""
    _check_record(_pipeline(tmp_path, "model=smollm2-135m", "method=neuroada", "method.k=20"))
