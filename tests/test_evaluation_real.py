"""End to end on the real offline models and ../shared/data (slow: about 1-2.5 minutes on 2 CPU cores).

SmolLM2-135M-Instruct (untrained for these tasks) on 16 GSM8K test items with max_new_tokens=64
(instead of the protocol's 512: one decoding step of a 16-prompt batch takes 0.4-1 s on 2 shared cores,
and 128 tokens alone took over 3 minutes here) and 16 BoolQ items (max_new_tokens=32, the protocol's);
MiniLM-L6 with a fresh 2-way head on 32 SST-2 dev items. Accuracy itself is not asserted (the models are
not fine-tuned); the predictions, their consistency with the extraction rules and the files are."""

import json

import pytest

from neuroada.evaluation import evaluate_classification, evaluate_generation
from neuroada.models import load_model
from neuroada.tasks import load_task, load_task_config
from neuroada.tasks.extraction import extract

pytestmark = pytest.mark.integration
GSM8K_MAX_NEW_TOKENS = 64


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def smollm2():
    return load_model("smollm2-135m")


def _eval_set(name, data_dir, n):
    task = load_task({**load_task_config(name), "max_eval_samples": n}, data_dir, load_train=False)
    return task, task.eval_sets[name]


def _check_file(result, path):
    result.save_predictions(path)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == result.predictions
    return rows


def test_smollm2_gsm8k(smollm2, data_dir, tmp_path):
    model, tok = smollm2
    task, examples = _eval_set("gsm8k", data_dir, 16)
    side = tok.padding_side
    result = evaluate_generation(model, tok, examples, task.answer_type, GSM8K_MAX_NEW_TOKENS, batch_size=16)
    assert tok.padding_side == side
    rows = _check_file(result, tmp_path / "gsm8k.jsonl")
    assert len(rows) == result.metrics["n"] == 16
    assert result.metrics["correct"] == sum(r["correct"] for r in rows)
    for row, ex in zip(rows, examples):
        assert row["gold"] == ex.answer and row["prompt"].endswith(f"{ex.instruction}\n\n### Response:\n")
        assert row["extracted"] == extract(row["generation"], "number", ex.answer)
        assert len(tok(row["generation"], add_special_tokens=False)["input_ids"]) <= GSM8K_MAX_NEW_TOKENS + 2
    assert sum(bool(r["generation"].strip()) for r in rows) >= 12  # an instruct model answers something


def test_smollm2_boolq_and_batching(smollm2, data_dir, tmp_path):
    model, tok = smollm2
    task, examples = _eval_set("boolq", data_dir, 16)
    result = evaluate_generation(model, tok, examples, task.answer_type, task.max_new_tokens, batch_size=16)
    rows = _check_file(result, tmp_path / "boolq.jsonl")
    assert len(rows) == 16 and {r["gold"] for r in rows} <= {"true", "false"}
    for row in rows:
        assert row["extracted"] in ("true", "false", None)
        assert row["correct"] == (row["extracted"] == row["gold"])
    # left padding must not change greedy outputs: 4 prompts of different lengths, batched vs one by one
    few = examples[:4]
    batched = evaluate_generation(model, tok, few, "commonsense", 8, batch_size=4).predictions
    single = evaluate_generation(model, tok, few, "commonsense", 8, batch_size=1).predictions
    assert [p["generation"] for p in batched] == [p["generation"] for p in single]


def test_minilm_sst2(data_dir, tmp_path):
    task = load_task({**load_task_config("sst2"), "max_eval_samples": 32}, data_dir, load_train=False)
    model, tok = load_model("minilm-l6", num_labels=task.num_labels)
    examples = task.eval_sets["test"]
    result = evaluate_classification(model, tok, examples, task.name, task.num_labels, batch_size=16)
    rows = _check_file(result, tmp_path / "sst2.jsonl")
    assert len(rows) == result.metrics["n"] == 32
    assert {r["prediction"] for r in rows} <= {0, 1} and [r["gold"] for r in rows] == [e.label for e in examples]
    assert result.metrics["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / 32)
