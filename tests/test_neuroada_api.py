"""Public API: apply, counts, merge exactness, save/load, selections, bad input."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from conftest import make_tiny_bert, make_tiny_llama
from neuroada import NeuroAdaConfig, apply_neuroada, load_adapter, merge_neuroada, neuroada_layers, param_report, save_adapter

PAPER_MODELS = {  # (config, sum of d_out over the seven projections, k=1 %, k=20 %) from DESIGN.md section 1
    "llama-7b": (dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32, vocab_size=32000), 1_359_872, 0.0202, 0.4036),
    "llama-13b": (dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40, vocab_size=32000), 2_129_920, 0.0164, 0.3273),
    "llama3-8b": (dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, vocab_size=128256), 1_376_256, 0.0171, 0.3428),
}


@pytest.mark.parametrize("name", list(PAPER_MODELS))
@pytest.mark.parametrize("k", [1, 20])
def test_trainable_counts_on_paper_models(name, k):
    cfg, sum_d_out, pct1, pct20 = PAPER_MODELS[name]
    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**cfg))
    apply_neuroada(model, NeuroAdaConfig(k=k))
    report = param_report(model)
    assert report.trainable == k * sum_d_out
    assert round(report.percent, 4) == (pct1 if k == 1 else pct20)
    layer = next(iter(neuroada_layers(model).values()))
    assert layer.neuroada_idx.dtype == torch.int16 and layer.neuroada_delta.dtype == torch.float32


def _train_a_little(model, batch, steps=3, lr=1e-2):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        model(**batch).loss.backward()
        opt.step()
        opt.zero_grad()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("selection", ["magnitude", "random_global"])
def test_merge_is_bit_exact(dtype, selection, tiny_batch):
    model = apply_neuroada(make_tiny_llama(dtype=dtype), NeuroAdaConfig(k=4, selection=selection))
    _train_a_little(model, tiny_batch)
    assert any(m.neuroada_delta.abs().sum() > 0 for m in neuroada_layers(model).values())
    with torch.no_grad():
        before = model(input_ids=tiny_batch["input_ids"]).logits
        merge_neuroada(model)
        after = model(input_ids=tiny_batch["input_ids"]).logits
    assert not neuroada_layers(model)
    assert type(model.model.layers[0].self_attn.q_proj) is torch.nn.Linear
    assert torch.equal(before, after)


def test_training_changes_outputs_and_leaves_base_weights(tiny_llama, tiny_batch):
    base = {k: v.clone() for k, v in tiny_llama.state_dict().items()}
    model = apply_neuroada(tiny_llama, NeuroAdaConfig(k=2))
    with torch.no_grad():
        start = model(**tiny_batch).loss.item()
    _train_a_little(model, tiny_batch, steps=5)
    with torch.no_grad():
        assert model(**tiny_batch).loss.item() < start
    now = model.state_dict()
    assert all(torch.equal(now[k], v) for k, v in base.items())  # only the deltas moved


def test_save_load_round_trip(tmp_path, tiny_batch):
    model = apply_neuroada(make_tiny_llama(), NeuroAdaConfig(k=3, selection="partial_rows"))
    _train_a_little(model, tiny_batch)
    out = save_adapter(model, tmp_path / "adapter")
    assert sorted(p.name for p in out.iterdir()) == ["adapter.safetensors", "adapter_config.json"]
    size = (out / "adapter.safetensors").stat().st_size
    nnz = sum(m.neuroada_delta.numel() for m in neuroada_layers(model).values())
    assert size < nnz * (4 + 2 + 2) + 20_000  # fp32 delta + int16 column + int16 row, plus the header
    loaded = load_adapter(make_tiny_llama(), out)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**tiny_batch).logits, model(**tiny_batch).logits, rtol=0, atol=0)
    assert loaded.neuroada_config == model.neuroada_config


def test_load_refuses_a_different_base_model(tmp_path):
    model = apply_neuroada(make_tiny_llama(seed=0), NeuroAdaConfig(k=2))
    save_adapter(model, tmp_path / "a")
    with pytest.raises(ValueError, match="different base model"):
        load_adapter(make_tiny_llama(seed=1), tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="no NeuroAda adapter"):
        load_adapter(make_tiny_llama(), tmp_path / "missing")


def test_bert_names_and_extra_trainable_head():
    model = make_tiny_bert()
    apply_neuroada(model, NeuroAdaConfig(k=2, target_modules=["query", "key", "value", "dense"]), extra_trainable=["classifier"])
    names = set(neuroada_layers(model))
    assert "bert.encoder.layer.0.attention.self.query" in names and "bert.encoder.layer.1.output.dense" in names
    assert all(p.requires_grad for p in model.classifier.parameters())
    assert not model.bert.embeddings.word_embeddings.weight.requires_grad


@pytest.mark.parametrize("selection", ["magnitude", "reverse", "random", "random_layer", "random_global", "partial_rows", "gradient"])
def test_selections_are_deterministic_and_sized(selection, tiny_batch):
    def build():
        m = make_tiny_llama()
        return apply_neuroada(m, NeuroAdaConfig(k=3, selection=selection, seed=7), calibration_batches=[tiny_batch, tiny_batch])

    a, b = build(), build()
    total = sum(d_out for d_out in (m.out_features for m in neuroada_layers(a).values()))
    for (n, la), lb in zip(neuroada_layers(a).items(), neuroada_layers(b).values()):
        assert torch.equal(la.neuroada_idx, lb.neuroada_idx), n
    counts = param_report(a).trainable
    if selection == "partial_rows":
        assert counts == sum(round(0.5 * m.out_features) * 3 for m in neuroada_layers(a).values())
    else:
        assert counts == 3 * total


def test_magnitude_and_reverse_pick_the_extremes():
    w = torch.tensor([[0.1, -5.0, 2.0, 0.01], [3.0, 0.2, -0.3, 4.0]])
    from neuroada.selection import select_pattern

    assert select_pattern(w, "magnitude", 2, name="w").idx.tolist() == [[1, 2], [0, 3]]
    assert select_pattern(w, "reverse", 2, name="w").idx.tolist() == [[0, 3], [1, 2]]
    assert select_pattern(w, "magnitude", 9, name="w").idx.tolist() == [[0, 1, 2, 3]] * 2  # k >= d_in: whole row


def test_index_dtype_is_the_smallest_that_fits():
    from neuroada.selection import index_dtype

    assert index_dtype(32768) == torch.int16 and index_dtype(32769) == torch.int32 and index_dtype(2**31 + 1) == torch.int64


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k=0), "k must be an integer >= 1"),
        (dict(k=2.5), "k must be an integer >= 1"),
        (dict(selection="biggest"), "unknown selection 'biggest'"),
        (dict(kernel="cuda_magic"), "unknown kernel"),
        (dict(target_modules=[]), "target_modules is empty"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NeuroAdaConfig(**kwargs)


def test_targets_matching_nothing_and_misuse(tiny_llama):
    with pytest.raises(ValueError, match=r"match no nn.Linear .* named: \['down_proj'"):
        apply_neuroada(tiny_llama, NeuroAdaConfig(target_modules=["query"]))
    with pytest.raises(ValueError, match="needs calibration_batches"):
        apply_neuroada(make_tiny_llama(), NeuroAdaConfig(selection="gradient"))
    apply_neuroada(tiny_llama, NeuroAdaConfig(k=1))
    with pytest.raises(ValueError, match="already has NeuroAda layers"):
        apply_neuroada(tiny_llama, NeuroAdaConfig(k=1))
    merge_neuroada(tiny_llama)
    with pytest.raises(ValueError, match="no NeuroAda layers"):
        merge_neuroada(tiny_llama)


def test_heads_are_never_targets_even_when_names_match():
    model = make_tiny_bert()
    apply_neuroada(model, NeuroAdaConfig(k=2, target_modules=["re:.*"]), extra_trainable=["classifier", "bert.pooler"])
    assert not any(n.startswith(("classifier", "bert.pooler")) for n in neuroada_layers(model))
    assert all(p.requires_grad for p in model.bert.pooler.parameters())


def test_adapter_carries_the_densely_trained_head_and_loads_onto_a_fresh_model(tmp_path):
    """A GLUE adapter without its head (pooler + classifier) is unusable: save writes it, load puts it back."""
    ids = torch.tensor([[2, 7, 11, 5, 3], [2, 9, 4, 3, 0]])
    mask = (ids != 0).long()
    model = make_tiny_bert(num_labels=1)
    apply_neuroada(model, NeuroAdaConfig(k=2, target_modules=["query", "value"]), extra_trainable=["pooler", "classifier"])
    with torch.no_grad():  # as if trained: the deltas and the head move
        for layer in neuroada_layers(model).values():
            layer.neuroada_delta.normal_(0, 0.1)
        for p in list(model.bert.pooler.parameters()) + list(model.classifier.parameters()):
            p.add_(torch.randn_like(p))
    model.eval()
    expected = model(input_ids=ids, attention_mask=mask).logits
    save_adapter(model, tmp_path / "a")

    fresh = make_tiny_bert(num_labels=1).eval()  # the same base, a fresh (untrained) head
    assert not torch.allclose(fresh(input_ids=ids, attention_mask=mask).logits, expected)
    load_adapter(fresh, tmp_path / "a")  # the fingerprint leaves the trained head out, so the base still matches
    torch.testing.assert_close(fresh(input_ids=ids, attention_mask=mask).logits, expected)
    assert all(p.requires_grad for p in fresh.classifier.parameters()) and fresh.bert.pooler.dense.weight.requires_grad

    with pytest.raises(ValueError, match=r"classifier\.(weight|bias).*shape"):  # a head for another number of labels
        load_adapter(make_tiny_bert(num_labels=3), tmp_path / "a")
