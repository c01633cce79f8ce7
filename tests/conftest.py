import os
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

REPO_ROOT = Path(__file__).resolve().parents[1]
# A relative NEUROADA_DATA_DIR means "relative to where pytest was started"; subprocesses run elsewhere (the repo
# root), so pin that meaning once for the whole session.
if os.environ.get("NEUROADA_DATA_DIR") and not Path(os.environ["NEUROADA_DATA_DIR"]).is_absolute():
    os.environ["NEUROADA_DATA_DIR"] = str(Path(os.environ["NEUROADA_DATA_DIR"]).expanduser().resolve())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real benchmark data (../shared/data beside the repo, or $NEUROADA_DATA_DIR)."""
    path = Path(os.environ.get("NEUROADA_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"benchmark data not found at {path}; set NEUROADA_DATA_DIR")
    return path


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture
def num_threads():
    """Sets torch's intra-op thread count for one test and restores it afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def make_tiny_llama(seed: int = 0, dtype=torch.float32, **overrides):
    """A 2-layer LLaMA with random weights, built in-process (no download)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    kw = dict(vocab_size=97, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
    kw.update(overrides)
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**kw)).to(dtype).eval()


def make_tiny_bert(seed: int = 0, num_labels: int = 2):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=101, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                     max_position_embeddings=64, num_labels=num_labels)
    return BertForSequenceClassification(cfg).eval()


@pytest.fixture
def tiny_llama():
    return make_tiny_llama()


@pytest.fixture
def tiny_batch():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 97, (3, 11), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}


def byte_tokenizer(with_cls: bool = False, byte_decoder: bool = True) -> PreTrainedTokenizerFast:
    """A byte-level tokenizer built in-process (no download): one token per byte, plus specials; no pad.
    Without the byte decoder every token decodes to its own distinct character (random models emit
    invalid UTF-8 that the byte decoder would collapse into U+FFFD)."""
    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    specials = ["<s>", "</s>", "[CLS]", "[SEP]", "[PAD]"]
    vocab.update({s: len(vocab) + i for i, s in enumerate(specials)})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if byte_decoder:
        tok.decoder = decoders.ByteLevel()
    if with_cls:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
            special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
        return PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]")
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
