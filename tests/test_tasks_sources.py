"""Data directory resolution, malformed files, the hub fallback, and the task config schema."""

import json
from pathlib import Path

import pytest

from neuroada.tasks import MalformedDataError, MissingDataError, list_tasks, load_task, load_task_config
from neuroada.tasks import sources
from neuroada.tasks.sources import load_source, resolve_data_dir


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_resolve_data_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("NEUROADA_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("NEUROADA_DATA_DIR")
    repo_root = Path(__file__).resolve().parents[1]
    assert resolve_data_dir(None) == (repo_root.parent / "shared" / "data").resolve()


def test_data_dir_from_env_is_used_by_load_task(monkeypatch, tmp_path, data_dir):
    monkeypatch.setenv("NEUROADA_DATA_DIR", str(tmp_path))
    with pytest.raises(MissingDataError, match=str(tmp_path)):
        load_task(load_task_config("boolq"))
    monkeypatch.setenv("NEUROADA_DATA_DIR", str(data_dir))
    assert len(load_task(load_task_config("obqa")).eval_sets["obqa"]) == 500


def _write(tmp_path, name, text):
    (tmp_path / name).write_text(text, encoding="utf-8")
    return {"format": "llm_adapters_json" if name.endswith(".json") else "gsm8k_jsonl", "path": name}


def test_bad_json_names_file_and_line(tmp_path):
    spec = _write(tmp_path, "bad.json", '[\n{"instruction": "a", "output": "b", "answer": "c"},\n{oops}\n]')
    with pytest.raises(MalformedDataError, match=r"bad\.json line 3"):
        load_source(spec, tmp_path, "t")


def test_missing_key_names_file_and_record(tmp_path):
    records = [{"instruction": "a", "input": "", "output": "b", "answer": "1"}, {"instruction": "x", "output": "y"}]
    spec = _write(tmp_path, "rec.json", json.dumps(records))
    with pytest.raises(MalformedDataError, match=r"rec\.json record 1: missing key 'answer'"):
        load_source(spec, tmp_path, "t")
    assert isinstance(MalformedDataError("w", "p"), ValueError)


def test_jsonl_errors_name_the_line(tmp_path):
    good = json.dumps({"question": "q", "answer": "so 1 + 1 = 2\n#### 2"})
    spec = _write(tmp_path, "g.jsonl", good + "\n" + json.dumps({"question": "q", "answer": "no marker"}) + "\n")
    with pytest.raises(MalformedDataError, match=r"g\.jsonl line 2: .*####"):
        load_source(spec, tmp_path, "t")
    spec = _write(tmp_path, "h.jsonl", good + "\n\n{not json\n")
    with pytest.raises(MalformedDataError, match=r"h\.jsonl line 3"):
        load_source(spec, tmp_path, "t")


def test_malformed_glue_rows(tmp_path):
    (tmp_path / "rte.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\n")
    with pytest.raises(MalformedDataError, match=r"rte\.tsv line 3: expected at least 4"):
        load_source({"format": "glue_tsv", "path": "rte.tsv"}, tmp_path, "rte")
    (tmp_path / "rte.tsv").write_text("index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
    with pytest.raises(MalformedDataError, match=r"line 2: label 'maybe'"):
        load_source({"format": "glue_tsv", "path": "rte.tsv"}, tmp_path, "rte")


def test_hub_is_only_tried_when_reachable(monkeypatch, tmp_path):
    calls = []

    def fake_load_dataset(name, config=None, split=None, **kwargs):
        calls.append((name, config, split, kwargs))
        return [{"question": "Q?", "answer": "1,000 + 1 = 1001\n#### 1,001"}]

    import datasets
    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    spec = {"format": "gsm8k_jsonl", "path": "gsm8k/train.jsonl",
            "hub": {"id": "openai/gsm8k", "config": "main", "split": "train"}}
    assert sources.hub_available(spec["hub"]) is False  # offline env
    with pytest.raises(MissingDataError, match="openai/gsm8k/main"):
        load_source(spec, tmp_path, "gsm8k")
    assert calls == []

    monkeypatch.setattr(sources, "hub_available", lambda hub: True)
    examples = load_source(spec, tmp_path, "gsm8k")
    assert calls == [("openai/gsm8k", "main", "train", {})]
    assert examples[0].answer == "1001" and examples[0].instruction == "Q?"


def test_hub_glue_rows_use_hub_columns(monkeypatch, tmp_path):
    import datasets
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: [{"premise": "p", "hypothesis": "h", "label": 2}])
    monkeypatch.setattr(sources, "hub_available", lambda hub: True)
    spec = load_task_config("mnli")["eval_sets"]["dev"]
    [example] = load_source(spec, tmp_path, "mnli")
    assert (example.text_a, example.text_b, example.label) == ("p", "h", 2)


def test_hub_failure_becomes_missing_data_error(monkeypatch, tmp_path):
    import datasets

    def broken(*args, **kwargs):
        raise ConnectionError("no route")
    monkeypatch.setattr(datasets, "load_dataset", broken)
    monkeypatch.setattr(sources, "hub_available", lambda hub: True)
    with pytest.raises(MissingDataError, match="no route"):
        load_source(load_task_config("commonsense170k")["train"], tmp_path, "commonsense170k")


REQUIRED = {"name", "suite", "kind", "eval_sets", "max_train_samples", "max_eval_samples"}


@pytest.mark.parametrize("name", list_tasks())
def test_task_config_schema(name):
    cfg = load_task_config(name)
    assert REQUIRED <= set(cfg) and cfg["name"] == name.removesuffix("_study")  # a study variant keeps its task's name
    assert cfg["max_train_samples"] is None and cfg["max_eval_samples"] is None
    sources_ = [cfg["train"], *cfg["eval_sets"].values()]
    assert all(s["format"] in sources.FORMATS for s in sources_)
    assert all("path" in s for s in sources_ if s["format"] not in ("hub", "synthetic"))
    expected_tokens = {"commonsense": 32, "math": 512, "synthetic": 24}
    if cfg["suite"] == "glue":
        assert cfg["kind"] in ("classification", "regression") and cfg["num_labels"] in (1, 2, 3)
        assert cfg["resplit"] == "loreft"
    else:
        assert cfg["kind"] == "generation" and cfg["max_new_tokens"] == expected_tokens[cfg["suite"]]
        assert cfg["answer_type"] in ("commonsense", "number", "letter")


def test_load_task_accepts_a_dictconfig(tmp_path):
    from omegaconf import OmegaConf
    cfg = OmegaConf.create(load_task_config("addition"))
    cfg.eval_sets.addition.size = 5
    assert len(load_task(cfg, tmp_path).eval_sets["addition"]) == 5


def test_unknown_format_and_bad_config_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown source format"):
        load_source({"format": "csv", "path": "x"}, tmp_path, "t")
    with pytest.raises(ValueError, match="suite"):
        load_task({**load_task_config("boolq"), "suite": "vision"}, tmp_path)
