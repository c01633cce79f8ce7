import json

import pytest
import torch
from peft import LoraConfig, get_peft_model

from neuroada.fingerprint import model_fingerprint
from neuroada.models import load_model, model_config


def _tiny_bert(**overrides):
    return load_model({**model_config("tiny-bert"), **overrides})[0]


def test_same_weights_same_fingerprint():
    fp = model_fingerprint(_tiny_bert())
    assert fp == model_fingerprint(_tiny_bert())
    assert json.loads(json.dumps(fp)) == fp
    assert fp["architecture"] == "BertModel" and fp["hidden_size"] == 32 and fp["vocab_size"] == 30522


def test_different_weights_or_shapes_differ():
    base = model_fingerprint(_tiny_bert())
    other_seed = model_fingerprint(_tiny_bert(seed=1))
    assert other_seed["weights_sha256"] != base["weights_sha256"]
    assert {k for k in base if base[k] != other_seed[k]} == {"weights_sha256"}
    wider = model_fingerprint(_tiny_bert(tiny={**model_config("tiny-bert")["tiny"], "intermediate_size": 96}))
    assert wider != base


def test_one_sampled_value_changes_the_hash():
    model = _tiny_bert()
    before = model_fingerprint(model)
    with torch.no_grad():
        model.encoder.layer[1].attention.self.value.weight[0, 0] += 0.5
    assert model_fingerprint(model) != before


def test_task_head_and_class():
    encoder = model_fingerprint(_tiny_bert())
    classifier = model_fingerprint(load_model("tiny-bert", num_labels=3)[0])
    # The fresh classifier is not part of the base; the class is.
    assert classifier["weights_sha256"] == encoder["weights_sha256"]
    assert classifier["architecture"] == "BertForSequenceClassification" != encoder["architecture"]


def test_dtype_and_adapter_injection_do_not_change_it():
    fp32 = model_fingerprint(_tiny_bert())
    assert model_fingerprint(load_model("tiny-bert", dtype="bfloat16")[0]) == fp32
    peft_model = get_peft_model(_tiny_bert(), LoraConfig(r=4, target_modules=["query", "value"]))
    with torch.no_grad():  # nonzero LoRA weights must not leak into the base identity
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.fill_(1.0)
    assert model_fingerprint(peft_model) == fp32


@pytest.mark.integration
def test_real_model_differs_from_tiny():
    minilm = model_fingerprint(load_model("minilm-l6")[0])
    assert minilm["num_weights"] == 40 and minilm != model_fingerprint(_tiny_bert())
