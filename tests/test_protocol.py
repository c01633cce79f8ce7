"""Protocol fidelity to the NeuroAda release: released presets' prompt, evaluation prompt length, the strict
commonsense rule, training padding side, compact predictions."""
import gzip
import json
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from conftest import byte_tokenizer
from neuroada.evaluation import evaluate_generation
from neuroada.evaluation.generation import generate
from neuroada.tasks import Example
from neuroada.tasks.extraction import extract
from test_evaluation import ScriptedModel
from test_pipeline import REPO

PRESETS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


def _compose(*overrides):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("config", overrides=list(overrides))


@pytest.mark.parametrize("preset", PRESETS)
def test_released_presets_use_the_released_prompt(preset):
    task = _compose(f"experiment={preset}").task
    expected = "plain" if "commonsense" in preset else "alpaca"  # the release: "%s\n" for commonsense, Alpaca for math
    assert task.prompt_template == expected, preset


def test_overlong_eval_prompt_is_cut_to_its_first_tokens_and_counted():
    tok = byte_tokenizer(byte_decoder=False)
    seen = []

    class Echo(torch.nn.Module):  # returns the prompt it was given, so the cut is visible
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def generate(self, input_ids, attention_mask, generation_config):
            seen.extend(int(m.sum()) for m in attention_mask)
            return torch.cat([input_ids, torch.full((len(input_ids), 1), tok.eos_token_id)], dim=1)

    long, short = Example(instruction="x" * 300, answer="1"), Example(instruction="2+2?", answer="4")
    result = evaluate_generation(Echo(), tok, [long, short], "number", max_new_tokens=2, max_prompt_length=200)
    assert result.metrics["truncated_prompts"] == 1 and max(seen) == 200 and min(seen) < 200
    full = evaluate_generation(Echo(), tok, [long], "number", max_new_tokens=2)
    assert full.metrics["truncated_prompts"] == 0 and seen[-1] > 300
    # right truncation (keeps the start, as the release's tokenizer does) and the tokenizer is restored
    assert tok.truncation_side == "right" and tok.padding_side == "right"
    ids = tok(["abc" * 50], truncation=True, max_length=8)["input_ids"][0]
    assert generate(Echo(), tok, ["abc" * 50], 1, max_prompt_length=8) == [""] and len(ids) == 8


def test_strict_commonsense_rule_is_the_releases():
    assert extract("the correct answer is true", "commonsense", "true", commonsense_rule="strict") == "true"
    # the release compares the whole rest with the label: anything after it, or no trigger, is wrong
    assert extract("the correct answer is true, because", "commonsense", "true", commonsense_rule="strict") is None
    assert extract("true", "commonsense", "true", commonsense_rule="strict") is None
    assert extract("true", "commonsense", "true") == "true"  # lenient: first label anywhere
    assert extract("the correct answer is true, because", "commonsense", "true") == "true"
    with pytest.raises(ValueError, match="commonsense_rule must be one of"):
        extract("x", "commonsense", "true", commonsense_rule="fuzzy")


def test_commonsense_rule_reaches_the_evaluation():
    tok = byte_tokenizer()
    model = ScriptedModel(tok, {"B": "the correct answer is false because"})
    cs = [Example(instruction="B", answer="false")]
    assert evaluate_generation(model, tok, cs, "commonsense", 32).metrics["accuracy"] == 1.0
    assert evaluate_generation(model, tok, cs, "commonsense", 32, commonsense_rule="strict").metrics["accuracy"] == 0.0
    assert _compose("task=piqa").task.commonsense_rule == "lenient"


def test_compact_predictions_point_into_the_data(tmp_path):
    tok = byte_tokenizer()
    model = ScriptedModel(tok, {"Q": "5"})
    result = evaluate_generation(model, tok, [Example(instruction="Q", answer="5", row=17)], "number", 4)
    path = result.save_predictions(tmp_path / "after_x.jsonl", compact=True)
    assert path.name == "after_x.jsonl.gz"
    rows = [json.loads(line) for line in gzip.open(path, "rt")]
    assert rows == [{"index": 0, "row": 17, "generation": "5", "extracted": 5.0, "gold": "5", "correct": True}]


@pytest.mark.integration
def test_loaded_items_know_their_source_row(data_dir):
    from neuroada.tasks import load_task

    task = load_task(_compose("task=rte").task, data_dir, load_train=False, run_seed=3)
    rows = [ex.row for ex in task.eval_sets["validation"] + task.eval_sets["test"]]
    assert sorted(rows) == list(range(277))  # RTE dev: the two halves partition the file's rows


def test_training_pads_on_the_right_like_the_release():
    from neuroada.pipeline import _collator
    from neuroada.tasks.task import Task

    tok = byte_tokenizer()
    tok.pad_token, tok.padding_side = tok.eos_token, "left"
    task = Task(name="t", suite="math", kind="generation", train=[], eval_sets={})
    batch = _collator(task, tok)([{"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
                                  {"input_ids": [5], "attention_mask": [1], "labels": [5]}])
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_extraction_rules_rescore_stored_predictions(tmp_path, capsys):
    from neuroada.analysis.extraction_rules import main

    preds = tmp_path / "run" / "predictions"
    preds.mkdir(parents=True)
    rows = [{"generation": "the correct answer is true", "gold": "true"}, {"generation": "true, I think", "gold": "true"},
            {"generation": "12", "gold": "12"}]  # the last is a math item: ignored
    (preds / "before_boolq.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (preds / "after_boolq.jsonl").write_text(json.dumps(rows[0]))
    main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "before: 2 items; correct lenient 2, strict 1; rules disagree on 1" in out
    assert "after: 1 items; correct lenient 1, strict 1; rules disagree on 0" in out


def test_every_generation_strategy_cuts_long_prompts_the_same_way():
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = byte_tokenizer(byte_decoder=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)).eval()
    prompts = ["abc " * 60, "short one", "another rather long prompt " * 8]
    outs = {s: generate(model, tok, prompts, 4, batch_size=2, strategy=s, max_prompt_length=40) for s in ("continuous", "grouped", "hf")}
    assert outs["continuous"] == outs["grouped"] == outs["hf"]
    ids = tok(prompts[0], truncation=True, max_length=40, return_tensors="pt")["input_ids"]
    assert ids.shape[1] == 40
    expected = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False,
                              pad_token_id=tok.eos_token_id)[0, 40:].tolist()
    cut = next((k for k, t in enumerate(expected) if t == tok.eos_token_id), len(expected))
    assert outs["continuous"][0] == tok.decode(expected[:cut], skip_special_tokens=True)
