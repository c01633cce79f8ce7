"""Prompts and tokenization for training."""

import pytest
from conftest import byte_tokenizer

from neuroada.tasks import Example
from neuroada.tasks.datasets import IGNORE_INDEX, tokenize_for_causal_lm, tokenize_for_classification
from neuroada.tasks.prompts import build_prompt


def test_alpaca_prompt_with_and_without_input():
    assert build_prompt("Add 2 and 3.") == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nAdd 2 and 3.\n\n### Response:\n")
    with_input = build_prompt("Add.", "2 and 3")
    assert with_input.startswith("Below is an instruction that describes a task, paired with an input")
    assert with_input.endswith("### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n### Response:\n")
    assert build_prompt("Q {x}", template="plain") == "Q {x}\n"
    with pytest.raises(ValueError, match="template"):
        build_prompt("x", template="chatml")


def test_causal_lm_labels_mask_the_prompt_and_end_in_eos():
    tok = byte_tokenizer()
    examples = [Example(instruction="What is 2+3?", output="2 + 3 = 5. #### 5", answer="5"),
                Example(instruction="Pick.", input="a or b", output="the correct answer is option1")]
    features = tokenize_for_causal_lm(examples, tok, max_length=512)
    for ex, feature in zip(examples, features):
        prompt_len = len(tok(build_prompt(ex.instruction, ex.input))["input_ids"])
        ids, labels = feature["input_ids"], feature["labels"]
        assert len(ids) == len(labels) == len(feature["attention_mask"]) == prompt_len + len(ex.output) + 1
        assert labels[:prompt_len] == [IGNORE_INDEX] * prompt_len
        assert labels[prompt_len:] == ids[prompt_len:]
        assert ids[-1] == tok.eos_token_id
        assert tok.decode(labels[prompt_len:-1]) == ex.output


def test_causal_lm_truncation_and_dropping():
    tok = byte_tokenizer()
    ex = Example(instruction="x" * 20, output="y" * 50)
    prompt_len = len(tok(build_prompt(ex.instruction))["input_ids"])
    [cut] = tokenize_for_causal_lm([ex], tok, max_length=prompt_len + 10)
    assert len(cut["input_ids"]) == prompt_len + 10 and cut["labels"][-1] != tok.eos_token_id
    assert tokenize_for_causal_lm([ex], tok, max_length=prompt_len) == []
    with pytest.raises(ValueError, match="eos"):
        tokenize_for_causal_lm([ex], byte_tokenizer(with_cls=True), max_length=64)


def test_plain_template_is_used_when_asked():
    tok = byte_tokenizer()
    [feature] = tokenize_for_causal_lm([Example(instruction="Q", output="A")], tok, 64, prompt_template="plain")
    assert tok.decode(feature["input_ids"], skip_special_tokens=True) == "Q\nA"


def test_classification_features_single_and_pair():
    tok = byte_tokenizer(with_cls=True)
    single = tokenize_for_classification([Example(text_a="good", label=1)], tok, max_length=16)
    assert single[0]["labels"] == 1 and tok.decode(single[0]["input_ids"]) == "[CLS]good[SEP]"
    pair = tokenize_for_classification([Example(text_a="ab", text_b="cd", label=2.5)], tok, max_length=5)
    assert len(pair[0]["input_ids"]) == 5 and pair[0]["labels"] == 2.5
    assert tokenize_for_classification([], tok, max_length=5) == []
