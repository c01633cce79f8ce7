"""SHiRA (peft's sparse high-rank adapter) and head-only tuning behind the method interface: parameter
counts against NeuroAda, merge, save/load, what trains, early errors, run tags and src/run.py runs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from peft.tuners.shira.mask_functions import random_mask

from conftest import make_tiny_bert, make_tiny_llama
from neuroada.methods import load_head, prepare_method, shira_rank
from neuroada.methods.validation import check_method_fits, validate_method_config
from neuroada.pipeline import method_tag
from neuroada.selection import select_pattern
from neuroada.targets import find_linear_targets

REPO = Path(__file__).resolve().parents[1]
BERT_TARGETS = ["query", "key", "value", "output.dense", "intermediate.dense"]  # conf/model/minilm-l6.yaml


def bert(intermediate: int = 48, hidden: int = 32, seed: int = 0, num_labels: int = 2):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=101, hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=2,
                     num_attention_heads=4, max_position_embeddings=64, num_labels=num_labels)
    return BertForSequenceClassification(cfg).eval()


def shira_cfg(**kw):
    return {"name": "shira", "target_modules": BERT_TARGETS, "r": "match", "k_match": 20, "seed": 3, **kw}


def head_size(model) -> int:
    return sum(p.numel() for p in model.classifier.parameters())


def batch(labels=True):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 101, (4, 9), generator=g)
    out = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    return {**out, "labels": torch.tensor([0, 1, 1, 0])} if labels else out


def train_steps(model, steps=3, lr=1e-2):
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        model(**batch()).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()


def body_count(prepared, head: int) -> int:
    return prepared.params.trainable - head


# ---------------------------------------------------------------------------------------------- SHiRA counts

@pytest.mark.parametrize("mask", ["random", "rows"])
def test_shira_count_is_r_times_m_plus_n_and_matched_to_neuroada_k20(mask):
    """intermediate 1.5 x hidden: no r matches exactly; the matched count is within half of one r's count."""
    neuro = prepare_method(bert(), {"name": "neuroada", "target_modules": BERT_TARGETS, "k": 20}, extra_trainable=["classifier"])
    model = bert()
    per_r = sum(m.in_features + m.out_features for m in find_linear_targets(model, BERT_TARGETS).values())
    shira = prepare_method(model, shira_cfg(mask=mask), extra_trainable=["classifier"])
    head = head_size(bert())
    r = shira_rank(bert(), shira_cfg())
    assert body_count(shira, head) == r * per_r
    assert abs(body_count(shira, head) - body_count(neuro, head)) <= per_r / 2
    assert body_count(neuro, head) == 20 * 2 * (4 * 32 + 48 + 32)  # k * sum(d_out), 2 layers
    assert shira.params.base_total == neuro.params.base_total == sum(p.numel() for p in bert().parameters())


@pytest.mark.parametrize("mask", ["random", "rows"])
def test_shira_matches_neuroada_exactly_on_bert_shaped_encoders(mask):
    """intermediate = 4 x hidden (MiniLM, BERT, RoBERTa): sum(d_out) = 9h, sum(m+n) = 18h, so r = k/2 is exact."""
    neuro = prepare_method(bert(128), {"name": "neuroada", "target_modules": BERT_TARGETS, "k": 20}, extra_trainable=["classifier"])
    shira = prepare_method(bert(128), shira_cfg(mask=mask), extra_trainable=["classifier"])
    assert shira_rank(bert(128), shira_cfg()) == 10
    assert shira.params.trainable == neuro.params.trainable
    assert shira.params.percent == neuro.params.percent


def test_minilm_l6_counts_at_k20_on_its_skeleton():
    """The study's model (config only, meta device): NeuroAda k=20, LoRA and SHiRA r=match all 414,720."""
    from neuroada.models import model_config, model_skeleton
    from neuroada.methods import lora_rank_for_budget

    skeleton = model_skeleton("minilm-l6", num_labels=2)
    targets = list(model_config("minilm-l6")["target_modules"])
    lin = find_linear_targets(skeleton, targets, exclude=["classifier"]).values()
    assert len(lin) == 36
    neuro = 20 * sum(m.out_features for m in lin)
    r = shira_rank(skeleton, {"target_modules": targets, "r": "match", "k_match": 20})
    assert r == lora_rank_for_budget(skeleton, targets, 20) == 10
    assert r * sum(m.in_features + m.out_features for m in lin) == neuro == 414_720
    check_method_fits(skeleton, shira_cfg(target_modules=targets), ["classifier"])


# ---------------------------------------------------------------------------------------------- SHiRA masks

def _shira_layers(prepared):
    return {n.removeprefix("base_model.model."): m for n, m in prepared.model.named_modules() if hasattr(m, "shira_indices")}


def test_shira_random_mask_is_peft_own_seeded_by_the_method_seed():
    prepared = prepare_method(bert(), shira_cfg(r=2, seed=7))
    layers = _shira_layers(prepared)
    assert len(layers) == 12
    for layer in layers.values():
        mask = random_mask(layer.base_layer, 2, random_seed=7)
        expected = torch.stack(torch.where(mask)).to(torch.int)
        assert torch.equal(layer.shira_indices["default"], expected)
    q0, q1 = (layers[f"bert.encoder.layer.{i}.attention.self.query"].shira_indices["default"] for i in (0, 1))
    assert torch.equal(q0, q1)  # peft seeds every layer alike: layers of one shape share one mask
    other = _shira_layers(prepare_method(bert(), shira_cfg(r=2, seed=8)))
    name = "bert.encoder.layer.0.attention.self.query"
    assert not torch.equal(layers[name].shira_indices["default"], other[name].shira_indices["default"])


def test_shira_rows_mask_is_row_balanced_and_on_square_layers_neuroada_random():
    r = 2
    prepared = prepare_method(bert(), shira_cfg(r=r, mask="rows", seed=5))
    layers = _shira_layers(prepared)
    for name, layer in layers.items():
        d_out, d_in = layer.out_features, layer.in_features
        idx = layer.shira_indices["default"].long()
        assert idx.shape[1] == r * (d_in + d_out) == len({(int(a), int(b)) for a, b in idx.T})  # distinct entries
        per_row = torch.bincount(idx[0], minlength=d_out)
        assert per_row.max() - per_row.min() <= 1, name
        if d_in == d_out:  # r(m+n) = 2r per row: NeuroAda's random selection at k = 2r, same entries
            p = select_pattern(layer.base_layer.weight, "random", 2 * r, name=name, seed=5)
            dense = torch.zeros(d_out, d_in, dtype=torch.bool)
            dense[p.row_index(), p.idx.flatten().long()] = True
            assert torch.equal(torch.stack(torch.where(dense)), idx), name
    # layers of one shape get different masks (peft's random mask gives them one mask)
    q0, q1 = (layers[f"bert.encoder.layer.{i}.attention.self.query"].shira_indices["default"] for i in (0, 1))
    assert not torch.equal(q0, q1)


# ------------------------------------------------------------------------------------ SHiRA merge, save, load

@pytest.mark.parametrize("mask", ["random", "rows"])
def test_shira_trains_the_head_and_merges_to_the_same_outputs(mask):
    prepared = prepare_method(bert(), shira_cfg(r=2, mask=mask), extra_trainable=["classifier"])
    trainable = [n for n, p in prepared.model.named_parameters() if p.requires_grad]
    assert any("classifier.modules_to_save" in n for n in trainable) and any("shira_weight" in n for n in trainable)
    assert all("shira_weight" in n or "classifier.modules_to_save" in n for n in trainable)
    assert prepared.mergeable and prepared.name == "shira"
    merged, after = train_then_merge_to_the_same_outputs(prepared)
    assert not torch.allclose(after, bert()(**batch(False)).logits)  # the training changed something


def train_then_merge_to_the_same_outputs(prepared):
    """Trains a few steps, merges; the merged plain BERT (no adapter or wrapper left) gives the same logits."""
    train_steps(prepared.model)
    with torch.no_grad():
        before = prepared.model(**batch(False)).logits
        merged = prepared.merge()
        after = merged(**batch(False)).logits
    assert type(merged).__name__ == "BertForSequenceClassification"
    assert not any(tag in n for n, _ in merged.named_parameters() for tag in ("modules_to_save", "lora_", "shira"))
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
    return merged, after


@pytest.mark.parametrize("name", ["shira", "lora", "dora"])
def test_peft_methods_train_and_merge_bert_s_two_part_head(name):
    """conf/model/minilm-l6.yaml's head is [pooler, classifier]: both trained, and the merge (peft's generic unload
    fails on a non-Linear modules_to_save module, huggingface/peft#3114) gives the same outputs."""
    cfg = shira_cfg(r=2) if name == "shira" else {"name": name, "target_modules": BERT_TARGETS, "r": 2}
    prepared = prepare_method(bert(), cfg, extra_trainable=["pooler", "classifier"])
    trainable = [n for n, p in prepared.model.named_parameters() if p.requires_grad]
    assert any("pooler.modules_to_save" in n for n in trainable) and any("classifier.modules_to_save" in n for n in trainable)
    merged, _ = train_then_merge_to_the_same_outputs(prepared)
    assert not torch.equal(merged.bert.pooler.dense.weight, bert().bert.pooler.dense.weight)  # the trained pooler is kept


@pytest.mark.parametrize("mask", ["random", "rows"])
def test_shira_save_load_round_trip(tmp_path, mask):
    prepared = prepare_method(bert(), shira_cfg(r=2, mask=mask, seed=11), extra_trainable=["classifier"])
    train_steps(prepared.model)
    out = prepared.save(tmp_path / "adapter")
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "adapter_config.json").read_text())["mask_type"] == mask
    loaded = PeftModel.from_pretrained(bert(), out).eval()
    for name, layer in _shira_layers(prepared).items():
        twin = loaded.base_model.model.get_submodule(name)
        assert torch.equal(twin.shira_indices["default"].long(), layer.shira_indices["default"].long()), name
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch(False)).logits, prepared.model(**batch(False)).logits)


def test_shira_on_a_causal_lm(tiny_batch):
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    prepared = prepare_method(make_tiny_llama(), {"name": "shira", "target_modules": targets, "r": 2, "seed": 0})
    prepared.model(**tiny_batch).loss.backward()
    grads = [p.grad for n, p in prepared.model.named_parameters() if "shira_weight" in n]
    assert len(grads) == 14 and all(g is not None and g.abs().sum() > 0 for g in grads)


# ----------------------------------------------------------------------------------------- SHiRA errors

@pytest.mark.parametrize("bad, match", [
    ({"r": 0}, "r must be an integer >= 1 or 'match', got 0"),
    ({"r": "big"}, "r must be an integer >= 1 or 'match', got 'big'"),
    ({"r": 2.5}, "r must be an integer"),
    ({"r": "match", "k_match": 0}, "r=match needs k_match >= 1"),
    ({"target_modules": []}, "target_modules is empty"),
    ({"mask": "magnitude"}, "unknown mask 'magnitude'; accepted: random, rows"),
    ({"seed": "x"}, "seed must be an integer or null"),
])
def test_shira_bad_config_is_an_early_error(bad, match):
    with pytest.raises(ValueError, match=match):
        validate_method_config(shira_cfg(**bad))
    with pytest.raises(ValueError, match=match):
        prepare_method(bert(), shira_cfg(**bad))


def test_shira_r_too_large_for_a_layer_is_caught_on_the_skeleton():
    from neuroada.models import model_skeleton

    skeleton = model_skeleton("tiny-bert", num_labels=2)  # hidden 32, intermediate 64: r(m+n) <= mn needs r <= 16
    with pytest.raises(ValueError, match=r"shira: r=17 asks for r\*\(m\+n\) = 1,088 trainable entries of .*query \(32 x 32 = 1,024 weights\); r <= 16 fits"):
        check_method_fits(skeleton, shira_cfg(r=17), ["classifier"])
    check_method_fits(skeleton, shira_cfg(r=16), ["classifier"])
    with pytest.raises(ValueError, match="match no nn.Linear"):
        check_method_fits(skeleton, shira_cfg(target_modules=["nope"]), ["classifier"])


# -------------------------------------------------------------------------------------------- head only

def test_head_only_trains_the_head_alone():
    model = bert()
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    prepared = prepare_method(model, {"name": "head_only"}, extra_trainable=["classifier"])
    assert prepared.name == "head_only" and prepared.model is model and not prepared.mergeable
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"classifier.weight", "classifier.bias"}
    report = prepared.params
    assert report.trainable == head_size(model) == 2 * 32 + 2
    assert report.base_total == sum(start[n].numel() for n in start)
    model.train()
    model(**batch()).loss.backward()
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("classifier."))
    assert model.classifier.weight.grad.abs().sum() > 0
    torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1).step()
    for n, p in model.named_parameters():
        assert torch.equal(p, start[n]) != n.startswith("classifier."), n  # body bit-identical, head moved
    assert prepared.merge() is model  # nothing to merge


def test_every_method_counts_the_head_as_head_only_does():
    """trainable(method) = its body's count + the head, the same head head_only reports."""
    head = prepare_method(bert(), {"name": "head_only"}, extra_trainable=["classifier"]).params.trainable
    sum_d_out = 2 * (4 * 32 + 48 + 32)
    for cfg, body in [({"name": "neuroada", "k": 3}, 3 * sum_d_out), ({"name": "masked", "k": 3}, 3 * sum_d_out),
                      ({"name": "lora", "r": 2}, None), ({"name": "shira", "r": 2, "seed": 0}, None)]:
        model = bert()
        per_r = sum(m.in_features + m.out_features for m in find_linear_targets(model, BERT_TARGETS).values())
        p = prepare_method(model, {**cfg, "target_modules": BERT_TARGETS}, extra_trainable=["classifier"]).params
        assert p.trainable - head == (body if body is not None else 2 * per_r), cfg["name"]


def test_head_only_save_load_round_trip(tmp_path):
    prepared = prepare_method(bert(), {"name": "head_only"}, extra_trainable=["classifier"])
    train_steps(prepared.model)
    out = prepared.save(tmp_path / "adapter")
    assert [p.name for p in out.iterdir()] == ["head.safetensors"]
    fresh = bert(seed=0)
    assert not torch.equal(fresh.classifier.weight, prepared.model.classifier.weight)
    loaded = load_head(fresh, out)
    with torch.no_grad():
        torch.testing.assert_close(loaded(**batch(False)).logits, prepared.model(**batch(False)).logits, rtol=0, atol=0)
    with pytest.raises(ValueError, match="match no parameter"):
        load_head(make_tiny_llama(), out)


def test_head_only_without_a_head_is_a_clear_error():
    with pytest.raises(ValueError, match=r"method=head_only trains only a sequence-classification head .*no classification head was given"):
        prepare_method(make_tiny_llama(), {"name": "head_only"})
    with pytest.raises(ValueError, match=r"method=head_only .* task 'addition' is a generation task"):
        validate_method_config({"name": "head_only"}, task={"name": "addition", "kind": "generation"})
    validate_method_config({"name": "head_only"}, task={"name": "stsb", "kind": "regression"})  # a head: fine
    from neuroada.models import model_skeleton

    with pytest.raises(ValueError, match="method=head_only"):
        check_method_fits(model_skeleton("tiny-llama"), {"name": "head_only"}, [])


@pytest.mark.parametrize("override, match, skeleton", [
    ("method=head_only", r"method=head_only .* task 'addition' is a generation task", False),
    ("method=shira method.r=0", "shira: r must be an integer >= 1 or 'match', got 0", False),
    ("method=shira method.mask=top", "shira: unknown mask 'top'", False),
    ("method=shira method.r=22", r"shira: r=22 asks for .*k_proj \(32 x 64 = 2,048 weights\); r <= 21 fits", True),
])
def test_bad_shira_or_head_only_run_fails_before_the_model_loads(tmp_path, monkeypatch, override, match, skeleton):
    """Config errors before the task's data and model; r too large for a layer on the meta skeleton."""
    from hydra import compose, initialize_config_dir

    import neuroada.pipeline as pipeline

    def no_load(*a, **k):
        raise AssertionError("loaded before the method/task check")

    monkeypatch.setattr(pipeline, "load_model", no_load)
    if not skeleton:
        monkeypatch.setattr(pipeline, "model_skeleton", no_load)
        monkeypatch.setattr(pipeline, "load_task", no_load)
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["model=tiny-llama", "task=addition", "logger=none", f"output_root={tmp_path}", *override.split()])
    with pytest.raises(ValueError, match=match):
        pipeline.run(cfg)


# ------------------------------------------------------------------------------------------------- tags

def test_method_tags_are_distinct_and_readable():
    tags = [method_tag(m) for m in (
        {"name": "shira", "r": 7}, {"name": "shira", "r": "match", "k_match": 20}, {"name": "shira", "r": "match", "k_match": 20, "mask": "rows"},
        {"name": "shira", "r": 7, "mask": "random"}, {"name": "head_only"}, {"name": "lora", "r": "match", "k_match": 20}, {"name": "full"})]
    assert tags == ["shira-r7", "shira-rmatchk20", "shira-rmatchk20-rows", "shira-r7", "head_only", "lora-rmatchk20", "full"]


# ------------------------------------------------------------------------------------- through src/run.py

@pytest.mark.integration
def test_shira_and_head_only_run_through_src_run_py(tmp_path, data_dir):
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "src/run.py", "-m", "method=shira,head_only", "model=tiny-bert", "task=sst2", f"data_dir={data_dir}",
           "task.max_train_samples=32", "task.max_eval_samples=16", "trainer.max_steps=2", "trainer.batch_size=8",
           "trainer.max_length=32", "trainer.lr=1e-2", "eval_before=false", "logger=none", "eval_batch_size=16",
           f"output_root={tmp_path}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    records = {r["method"]: r for r in (json.loads(p.read_text()) for p in tmp_path.glob("*/record.json"))}
    assert set(records) == {"shira", "head_only"}
    shira, head = records["shira"], records["head_only"]
    assert shira["method_tag"] == "shira-rmatchk20" and head["method_tag"] == "head_only"
    assert head["trainable_params"] == (32 * 32 + 32) + (2 * 32 + 2)  # tiny-bert (hidden 32, 2 labels): pooler + classifier
    assert shira["head_params"] == head["head_params"] == head["trainable_params"]  # every record names its head's share
    sum_d_out, per_r = 2 * (4 * 32 + 64 + 32), 2 * (4 * 64 + 96 + 96)
    r = round(20 * sum_d_out / per_r)
    assert shira["trainable_params"] - head["trainable_params"] == r * per_r
    assert shira["total_params"] == head["total_params"]
    for rec in records.values():
        assert rec["train"]["steps"] == 2 and set(rec["metrics"]) == {"validation", "test"}
        assert 0.0 <= rec["metrics"]["test"]["accuracy"] <= 1.0
    assert (tmp_path / shira["run_id"] / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / head["run_id"] / "adapter" / "head.safetensors").is_file()


@pytest.mark.integration
def test_killed_shira_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    """peft's SHiRA checkpoints (weights and indices) through the trainer's resume; tiny-llama, addition."""
    from safetensors.torch import load_file
    from test_reliability import only_record, run_cli

    method = "method=shira method.mask=rows method.r=2"
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run_cli(straight, *method.split(), "eval_before=false")
    died = run_cli(killed, *method.split(), "eval_before=false", "+debug.kill_at_step=2", check=False)
    assert died.returncode == 137, died.stderr[-2000:]
    run_cli(killed, *method.split(), "eval_before=false")
    a, b = only_record(straight), only_record(killed)
    assert b["train"]["resumed_from"].endswith("checkpoint-2") and a["metrics"] == b["metrics"]
    wa = load_file(straight / a["run_id"] / "adapter" / "adapter_model.safetensors")
    wb = load_file(killed / b["run_id"] / "adapter" / "adapter_model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert any("shira_indices" in k for k in wa)
