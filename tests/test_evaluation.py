"""Generation and classification evaluation on tiny in-process models."""

import json

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, LlamaConfig, LlamaForCausalLM

from conftest import byte_tokenizer
from neuroada.evaluation import EvalResult, evaluate_classification, evaluate_generation
from neuroada.tasks import Example

FIELDS = {"index", "row", "prompt", "generation", "extracted", "gold", "correct"}


@pytest.fixture(scope="module")
def tok():
    return byte_tokenizer()


@pytest.fixture(scope="module")
def raw_tok():
    return byte_tokenizer(byte_decoder=False)


@pytest.fixture(scope="module")
def tiny_llama(raw_tok):
    tok = raw_tok
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    return LlamaForCausalLM(config).float()


def math_examples():
    questions = ["What is 2+3?", "Ann has 12 pens and buys 30 more. How many pens does Ann have now?",
                 "Compute 7 times 6.", "A much longer question about apples, oranges and 17 pears in a box?",
                 "Sum 1 and 1.", "x"]
    return [Example(instruction=q, answer=str(i)) for i, q in enumerate(questions)]


class ScriptedModel(torch.nn.Module):
    """Answers each prompt with a fixed text (looked up by instruction), recording the batches it sees."""

    def __init__(self, tok, replies: dict[str, str]):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.tok, self.replies, self.batches = tok, replies, []

    def generate(self, input_ids, attention_mask, generation_config):
        self.batches.append((input_ids.clone(), attention_mask.clone(), generation_config))
        rows = []
        for ids in input_ids:
            prompt = self.tok.decode(ids, skip_special_tokens=True)
            reply = next(r for q, r in self.replies.items() if f"### Instruction:\n{q}\n" in prompt)
            rows.append(self.tok(reply, add_special_tokens=False)["input_ids"] + [self.tok.eos_token_id])
        width = max(map(len, rows)) + 2  # finished rows continue with pad, as generate() does
        pad = generation_config.pad_token_id
        new = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
        return torch.cat([input_ids, new], dim=1)


def test_scripted_generation_is_scored_with_the_extraction_rules(tok):
    examples = [Example(instruction="Q1", answer="42"), Example(instruction="Question two", answer="7"),
                Example(instruction="Q3 is the longest one", answer="1000"), Example(instruction="Q4", answer="3")]
    model = ScriptedModel(tok, {"Q1": "12 + 30 = 42. #### 42", "Question two": "It is 8.",
                                "Q3 is the longest one": "That makes 1,000.", "Q4": "no idea"})
    result = evaluate_generation(model, tok, examples, "number", max_new_tokens=8, batch_size=3)
    assert isinstance(result, EvalResult)
    assert result.metrics == {"accuracy": 0.5, "correct": 2, "n": 4, "truncated_prompts": 0}
    by_gold = {p["gold"]: p for p in result.predictions}
    assert by_gold["42"]["generation"] == "12 + 30 = 42. #### 42" and by_gold["42"]["extracted"] == 42.0
    assert by_gold["7"]["correct"] is False and by_gold["1000"]["correct"] is True
    assert by_gold["3"]["extracted"] is None
    assert [p["index"] for p in result.predictions] == [0, 1, 2, 3]

    # left padding in every batch, pad fallback to EOS, greedy config, tokenizer restored afterwards
    assert tok.padding_side == "right" and tok.pad_token is None
    for input_ids, mask, config in model.batches:
        assert (mask[:, -1] == 1).all() and ((mask == 0).sum() == 0 or (mask[:, 0] == 0).any())
        assert (input_ids[mask == 0] == tok.eos_token_id).all()
        assert config.do_sample is False and config.num_beams == 1 and config.max_new_tokens == 8
    assert any((mask == 0).any() for _, mask, _ in model.batches)


def test_commonsense_and_aqua_flags(tok):
    model = ScriptedModel(tok, {"B": "the correct answer is false", "P": "the correct answer is solution2",
                                "M": "Answer: (C)"})
    cs = [Example(instruction="B", answer="false"), Example(instruction="P", answer="solution1")]
    result = evaluate_generation(model, tok, cs, "commonsense", max_new_tokens=32)
    assert [p["extracted"] for p in result.predictions] == ["false", "solution2"]
    assert result.metrics["accuracy"] == 0.5
    aqua = [Example(instruction="M", answer="C")]
    assert evaluate_generation(model, tok, aqua, "letter", 32).predictions[0]["extracted"] == "A"
    assert evaluate_generation(model, tok, aqua, "letter", 32, aqua_fix=True).metrics["accuracy"] == 1.0


def test_tiny_llama_batched_equals_unbatched_and_restores_state(raw_tok, tiny_llama):
    tok = raw_tok
    examples = math_examples()
    tok.padding_side = "right"
    tiny_llama.train()
    batched = evaluate_generation(tiny_llama, tok, examples, "number", max_new_tokens=6, batch_size=4)
    single = evaluate_generation(tiny_llama, tok, examples, "number", max_new_tokens=6, batch_size=1)
    generations = [p["generation"] for p in batched.predictions]
    assert generations == [p["generation"] for p in single.predictions]
    assert len(set(generations)) > 1 and all(len(g.split(" ")) == 6 for g in generations)  # 6 tokens
    assert tiny_llama.training and tok.padding_side == "right" and tok.pad_token is None
    assert all(set(p) == FIELDS for p in batched.predictions)
    assert [p["prompt"] for p in batched.predictions][0].endswith("What is 2+3?\n\n### Response:\n")
    assert batched.metrics["n"] == 6 and 0.0 <= batched.metrics["accuracy"] <= 1.0


def test_generation_matches_manual_greedy_decoding(raw_tok, tiny_llama):
    tok = raw_tok
    example = math_examples()[1]
    [prediction] = evaluate_generation(tiny_llama, tok, [example], "number", max_new_tokens=5).predictions
    ids = tok(prediction["prompt"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        for _ in range(5):
            next_id = tiny_llama(ids).logits[0, -1].argmax()
            if next_id == tok.eos_token_id:
                break
            ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
    prompt_len = len(tok(prediction["prompt"])["input_ids"])
    assert prediction["generation"] == tok.decode(ids[0, prompt_len:], skip_special_tokens=True)


def test_predictions_jsonl(tmp_path, tok):
    model = ScriptedModel(tok, {"Q": "5"})
    result = evaluate_generation(model, tok, [Example(instruction="Q", answer="5")], "number", 4)
    path = result.save_predictions(tmp_path / "out" / "preds.jsonl")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [{"index": 0, "row": None, "prompt": rows[0]["prompt"], "generation": "5", "extracted": 5.0,
                     "gold": "5", "correct": True}]


@pytest.fixture(scope="module")
def tiny_bert():
    def build(num_labels):
        torch.manual_seed(0)
        config = BertConfig(vocab_size=270, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=128, num_labels=num_labels)
        return BertForSequenceClassification(config).eval()
    return build


def test_classification_metrics_and_predictions(tiny_bert):
    tok = byte_tokenizer(with_cls=True)
    examples = [Example(text_a=f"sentence {i}", text_b=f"other {i * 7}", label=i % 2) for i in range(10)]
    model = tiny_bert(2)
    result = evaluate_classification(model, tok, examples, "mrpc", num_labels=2, batch_size=4)
    assert set(result.metrics) == {"accuracy", "f1", "n"} and result.metrics["n"] == 10
    with torch.no_grad():
        expected = [model(**tok(ex.text_a, ex.text_b, return_tensors="pt")).logits.argmax().item()
                    for ex in examples]
    assert [p["prediction"] for p in result.predictions] == expected  # padding does not change results
    assert result.metrics["accuracy"] == sum(p == ex.label for p, ex in zip(expected, examples)) / 10
    assert all(p["correct"] == (p["prediction"] == p["gold"]) for p in result.predictions)


def test_regression_and_cola(tiny_bert):
    tok = byte_tokenizer(with_cls=True)
    stsb = [Example(text_a="a" * i, text_b="b", label=float(i % 5)) for i in range(1, 9)]
    result = evaluate_classification(tiny_bert(1), tok, stsb, "stsb", num_labels=1)
    assert set(result.metrics) == {"pearson", "spearmanr", "n"}
    assert all(isinstance(p["prediction"], float) and p["correct"] is None for p in result.predictions)
    cola = [Example(text_a="word " * i, label=i % 2) for i in range(6)]
    assert "matthews_correlation" in evaluate_classification(tiny_bert(2), tok, cola, "cola", 2).metrics


def _eos_midway(tok, model, prompts):
    """Two extra EOS ids (set on the model's generation config) that rows of `prompts` emit at different
    steps, so that rows of one batch end at different times. Returns the previous eos setting."""
    from neuroada.evaluation.generation import generate

    free = generate(model, tok, prompts, 16, 4, strategy="hf")
    ids = [tok.convert_tokens_to_ids(g.split(" ")) for g in free]
    before = model.generation_config.eos_token_id
    model.generation_config.eos_token_id = [tok.eos_token_id, ids[0][4], ids[3][7]]
    return before


@pytest.mark.parametrize("strategy", ["continuous", "grouped"])
def test_faster_generation_gives_the_previous_outputs_in_order(raw_tok, tiny_llama, strategy):
    """Continuous batching (the default: a row leaves at EOS and the next prompt takes its slot) and fixed
    batches that drop ended rows return, per prompt and in the original order, exactly what the previous
    way (`model.generate` per batch of prompts ordered by characters) and unbatched decoding return, while
    computing fewer rows."""
    from neuroada.evaluation.generation import generate

    tok = raw_tok
    prompts = [p["prompt"] for p in evaluate_generation(tiny_llama, tok, math_examples(), "number", 1, progress=False).predictions]
    prompts += [prompts[1] + " Think.", "### Instruction:\nHow many legs do 3 spiders have?\n\n### Response:\n", prompts[3] * 2]
    before = _eos_midway(tok, tiny_llama, prompts)
    rows_computed = []
    hook = tiny_llama.model.embed_tokens.register_forward_hook(lambda m, i, o: rows_computed.append(o.shape[0]))
    try:
        for batch_size in (3, 4, 8):
            rows_computed.clear()
            old = generate(tiny_llama, tok, prompts, 16, batch_size, strategy="hf")
            old_rows = sum(rows_computed)
            rows_computed.clear()
            done = []
            new = generate(tiny_llama, tok, prompts, 16, batch_size, strategy=strategy, on_item_done=done.append)
            assert new == old, batch_size
            assert sorted(done) == list(range(len(prompts)))
            assert sum(rows_computed) < old_rows, "no ended row was dropped"
        lengths = {len(g.split(" ")) for g in new}
        assert min(lengths) < 16 and max(lengths) == 16, lengths  # rows did end at different steps
        assert new == generate(tiny_llama, tok, prompts, 16, 1, strategy="hf")
    finally:
        hook.remove()
        tiny_llama.generation_config.eos_token_id = before


def test_generation_evaluation_reports_progress(raw_tok, tiny_llama, capsys):
    evaluate_generation(tiny_llama, raw_tok, math_examples(), "number", max_new_tokens=3, batch_size=4, desc="eval after addition")
    err = capsys.readouterr().err
    assert "eval after addition" in err and "0/6" in err and "6/6" in err and "item/s" in err
    evaluate_generation(tiny_llama, raw_tok, math_examples(), "number", max_new_tokens=3, progress=False)
    assert "6/6" not in capsys.readouterr().err


def test_classification_evaluation_reports_progress(tiny_bert, capsys):
    tok = byte_tokenizer(with_cls=True)
    examples = [Example(text_a=f"sentence {i}", label=i % 2) for i in range(5)]
    evaluate_classification(tiny_bert(2), tok, examples, "sst2", 2, batch_size=2, desc="eval before validation")
    err = capsys.readouterr().err
    assert "eval before validation" in err and "0/5" in err and "5/5" in err
