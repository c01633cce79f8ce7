"""Every method behind one interface: trainable counts, merge, masked-baseline invariance."""
import pytest
import torch

from conftest import make_tiny_bert, make_tiny_llama
from neuroada.config import LLAMA_TARGETS
from neuroada.methods import lora_rank_for_budget, masked_weight_decay_, prepare_method

TARGETS = list(LLAMA_TARGETS)


@pytest.mark.parametrize("name", ["neuroada", "lora", "dora", "shira", "full", "masked"])
def test_each_method_trains_and_merges(name, tiny_batch):
    cfg = {"name": name, "target_modules": TARGETS, "k": 2, "r": 2, "alpha": 4, "seed": 0}
    prepared = prepare_method(make_tiny_llama(), cfg)
    report = prepared.params
    assert 0 < report.trainable <= report.base_total
    opt = torch.optim.AdamW([p for p in prepared.model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        prepared.model(**tiny_batch).loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        before = prepared.model(input_ids=tiny_batch["input_ids"]).logits
        merged = prepared.merge()
        after = merged(input_ids=tiny_batch["input_ids"]).logits
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
    assert not any(n for n, _ in merged.named_parameters() if "lora_" in n or "shira_" in n or "neuroada" in n)


def test_param_percent_follows_the_paper_convention():
    model = make_tiny_llama()
    base = sum(p.numel() for p in model.parameters())
    p = prepare_method(model, {"name": "lora", "target_modules": TARGETS, "r": 2})
    lora_params = sum(p_.numel() for n, p_ in p.model.named_parameters() if "lora_" in n)
    assert p.params.trainable == lora_params and p.params.base_total == base
    assert prepare_method(make_tiny_llama(), {"name": "full"}).params.percent == 100.0


def test_lora_rank_matched_to_neuroada_budget():
    model = make_tiny_llama()
    r = lora_rank_for_budget(model, TARGETS, 20)
    neuro = prepare_method(make_tiny_llama(), {"name": "neuroada", "target_modules": TARGETS, "k": 20}).params.trainable
    lora = prepare_method(model, {"name": "lora", "target_modules": TARGETS, "r": "match", "k_match": 20}).params.trainable
    per_rank = lora // r
    assert abs(lora - neuro) <= per_rank / 2 + 1


def test_masked_entries_stay_bit_identical_under_adamw_with_weight_decay(tiny_batch):
    model = make_tiny_llama()
    prepared = prepare_method(model, {"name": "masked", "target_modules": TARGETS, "k": 3}, weight_decay=0.1)
    masked = {n: p for n, p in model.named_parameters() if hasattr(p, "neuroada_frozen")}
    assert masked and set(masked) == prepared.no_decay
    start = {n: p.detach().clone() for n, p in masked.items()}
    lr, wd = 5e-2, 0.1
    opt = torch.optim.AdamW([{"params": list(masked.values()), "weight_decay": 0.0}], lr=lr)
    for _ in range(5):
        model(**tiny_batch).loss.backward()
        torch.nn.utils.clip_grad_norm_(masked.values(), 1.0)
        masked_weight_decay_(masked.values(), lr, wd)
        opt.step()
        opt.zero_grad()
    for n, p in masked.items():
        frozen = p.neuroada_frozen
        assert torch.equal(p[frozen], start[n][frozen]), n
        assert not torch.equal(p[~frozen], start[n][~frozen]), n
        assert (~frozen).sum(1).eq(3).all()  # every row: exactly k trainable entries


def test_peft_extra_trainable_head_for_encoders():
    prepared = prepare_method(make_tiny_bert(), {"name": "lora", "target_modules": ["query", "value"], "r": 2}, extra_trainable=["classifier"])
    trainable = [n for n, p in prepared.model.named_parameters() if p.requires_grad]
    assert any("classifier" in n for n in trainable) and any("lora_A" in n for n in trainable)


def test_unknown_method_and_bad_targets():
    with pytest.raises(ValueError, match="unknown method 'adapterx'; accepted: neuroada, lora"):
        prepare_method(make_tiny_llama(), {"name": "adapterx"})
    with pytest.raises(ValueError, match="match no nn.Linear"):
        prepare_method(make_tiny_llama(), {"name": "lora", "target_modules": ["nope"], "r": 2})
    with pytest.raises(ValueError, match="match no nn.Linear"):
        prepare_method(make_tiny_llama(), {"name": "masked", "target_modules": ["nope"], "k": 2})


def test_masked_reports_its_selected_entries_as_trainable():
    masked = prepare_method(make_tiny_llama(), {"name": "masked", "target_modules": TARGETS, "k": 3}).params
    neuro = prepare_method(make_tiny_llama(), {"name": "neuroada", "target_modules": TARGETS, "k": 3}).params
    assert masked.trainable == neuro.trainable and masked.base_total == neuro.base_total
