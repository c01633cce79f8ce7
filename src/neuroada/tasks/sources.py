"""Reading one data source (a local file in the data directory, else the hub) into Examples.

A source is a mapping from a task yaml::

    format: llm_adapters_json | gsm8k_jsonl | glue_tsv | hf_disk | hub | synthetic
    path: relative/to/data_dir          # not for hub / synthetic
    schema: hellaswag                   # hf_disk / hub only: which row converter applies
    hub: {id: ..., config: ..., split: ..., data_files: ...}   # optional fallback

The hub is tried only when the local file is missing and the hub is reachable; if both fail the
error says where we looked and how to provide the data.
"""

from __future__ import annotations

import dataclasses

import json
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import urlparse

from neuroada.tasks import glue, synthetic
from neuroada.tasks.errors import MalformedDataError, MissingDataError
from neuroada.tasks.example import Example

REPO_ROOT = Path(__file__).resolve().parents[3]
DATA_DIR_ENV = "NEUROADA_DATA_DIR"
FORMATS = ("llm_adapters_json", "gsm8k_jsonl", "glue_tsv", "hf_disk", "hub", "synthetic")


def resolve_data_dir(value: str | os.PathLike | None = None) -> Path:
    """Explicit value, else $NEUROADA_DATA_DIR, else <repo root>/../shared/data.

    The default is returned even when it does not exist, so that a later MissingDataError names it
    (tasks that need no files, such as `addition`, still work)."""
    if value not in (None, ""):
        return Path(value).expanduser().resolve()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


# ---- row converters: raw record (file row or hub row) -> Example --------------------------------

def _field(record: Mapping, key: str, where: str, default: str | None = None) -> str:
    if key not in record or record[key] is None:
        if default is not None:
            return default
        raise MalformedDataError(where, f"missing key {key!r} (has {sorted(record)})")
    return str(record[key])


def from_llm_adapters(record: Mapping, where: str) -> Example:
    if not isinstance(record, Mapping):
        raise MalformedDataError(where, f"expected an object, got {type(record).__name__}")
    return Example(
        instruction=_field(record, "instruction", where),
        input=_field(record, "input", where, default=""),
        output=_field(record, "output", where),
        answer=_field(record, "answer", where).strip(),
    )


def from_gsm8k(record: Mapping, where: str) -> Example:
    """Official GSM8K: the chain of thought (ending in '#### N') is the target, N the answer.
    Calculator annotations <<a*b=c>> are kept verbatim, as in the released data."""
    question = _field(record, "question", where)
    solution = _field(record, "answer", where)
    if "####" not in solution:
        raise MalformedDataError(where, "answer has no '#### <number>' line")
    answer = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return Example(instruction=question, input="", output=solution, answer=answer)


def from_hellaswag(record: Mapping, where: str) -> Example:
    """Hub HellaSwag schema -> the LLM-Adapters commonsense prompt (same wording as Commonsense170K)."""
    try:
        endings = list(record["endings"])
        label = int(record["label"])
        context = f"{record['activity_label']}: {record['ctx']}"
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedDataError(where, f"not a labelled HellaSwag row ({error!r})") from None
    if len(endings) != 4 or not 0 <= label < 4:
        raise MalformedDataError(where, f"expected 4 endings and a label 0-3, got {len(endings)}, {label}")
    options = " ".join(f"Ending{i}: {ending}" for i, ending in enumerate(endings, 1))
    instruction = (
        f"Please choose the correct ending to complete the given sentence: {context}\n\n{options}\n\n"
        "Answer format: ending1/ending2/ending3/ending4"
    )
    answer = f"ending{label + 1}"
    return Example(instruction=instruction, output=f"the correct answer is {answer}", answer=answer)


ROW_CONVERTERS: dict[str, Callable[[Mapping, str], Example]] = {
    "llm_adapters": from_llm_adapters,
    "gsm8k": from_gsm8k,
    "hellaswag": from_hellaswag,
}
FORMAT_SCHEMA = {"llm_adapters_json": "llm_adapters", "gsm8k_jsonl": "gsm8k", "glue_tsv": "glue"}


# ---- local readers -----------------------------------------------------------------------------

def _read_json_list(path: Path) -> Iterable[tuple[dict, str]]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MalformedDataError(f"{path} line {error.lineno}", f"invalid JSON ({error.msg})") from None
    if not isinstance(records, list):
        raise MalformedDataError(str(path), "expected a JSON list of records")
    return ((record, f"{path} record {i}") for i, record in enumerate(records))


def _read_jsonl(path: Path) -> Iterable[tuple[dict, str]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path} line {lineno}"
            try:
                rows.append((json.loads(line), where))
            except json.JSONDecodeError as error:
                raise MalformedDataError(where, f"invalid JSON ({error.msg})") from None
    return rows


def _read_hf_disk(path: Path) -> Iterable[tuple[dict, str]]:
    import datasets

    return ((row, f"{path} row {i}") for i, row in enumerate(datasets.load_from_disk(str(path))))


# ---- hub ---------------------------------------------------------------------------------------

def hub_available(hub: Mapping) -> bool:
    """False when HF offline mode is set or the host does not answer within 3 s."""
    if any(os.environ.get(v, "").lower() in ("1", "true", "yes", "on")
           for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return False
    files = hub.get("data_files")
    url = files if isinstance(files, str) else None
    host = urlparse(url).hostname if url and "://" in url else "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=3).close()
        return True
    except OSError:
        return False


def _read_hub(hub: Mapping) -> list[tuple[dict, str]]:
    import datasets

    kwargs = {"data_files": hub["data_files"]} if hub.get("data_files") else {}
    dataset = datasets.load_dataset(hub["id"], hub.get("config"), split=hub.get("split", "train"), **kwargs)
    label = f"hub {hub['id']}" + (f"/{hub['config']}" if hub.get("config") else "")
    return [(dict(row), f"{label} row {i}") for i, row in enumerate(dataset)]


def _hub_hint(hub: Mapping | None) -> str:
    if not hub:
        return ""
    what = hub.get("data_files") or "/".join(str(x) for x in (hub["id"], hub.get("config")) if x)
    return f", or run with network access to fetch it from the hub ({what}, split {hub.get('split', 'train')})"


def data_dir_origin(value: str | os.PathLike | None = None) -> str:
    """Where the data directory came from, as the user gave it (error messages show it beside the resolved path)."""
    if value not in (None, ""):
        return f"data_dir={value}"
    if os.environ.get(DATA_DIR_ENV):
        return f"{DATA_DIR_ENV}={os.environ[DATA_DIR_ENV]}"
    return "the default ../shared/data beside the repository"


def missing(path: Path, task: str, spec: Mapping, reason: str = "", where: str = "") -> MissingDataError:
    """`where`: the data directory as given and as resolved (see `data_dir_origin`)."""
    sample = path.with_name("train_sample.tsv")
    sample_hint = (
        f" A sample exists at {sample}; set this source's path to use it." if sample.exists() and sample != path else ""
    )
    message = (
        f"task {task!r}: data file not found: {path}{reason}{f' ({where})' if where else ''}. Provide it by pointing "
        f"NEUROADA_DATA_DIR (or data_dir=...) at a folder that holds {spec.get('path')}{_hub_hint(spec.get('hub'))}.{sample_hint}"
    )
    return MissingDataError(message, path=path, task=task)


# ---- entry point -------------------------------------------------------------------------------

def load_source(spec: Mapping, data_dir: Path, task: str, given: str | os.PathLike | None = None) -> list[Example]:
    """The Examples of one source; `given` is the data directory as the user gave it (for error messages)."""
    where = f"data directory: {data_dir_origin(given)}, resolved to {data_dir}"
    fmt = spec.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"task {task!r}: unknown source format {fmt!r}; choose one of {FORMATS}")
    if fmt == "synthetic":
        return synthetic.load(spec)
    schema = FORMAT_SCHEMA.get(fmt) or spec.get("schema")
    if fmt == "glue_tsv":
        glue_task = spec.get("glue_task", task)
        convert = lambda row, where: glue.convert(glue_task, row, where)  # noqa: E731
    elif schema in ROW_CONVERTERS:
        convert = ROW_CONVERTERS[schema]
    else:
        raise ValueError(f"task {task!r}: source needs a schema among {sorted(ROW_CONVERTERS)}, got {schema!r}")

    hub = spec.get("hub")
    path = data_dir / spec["path"] if spec.get("path") and fmt != "hub" else None
    if path is not None and path.exists():
        readers = {"llm_adapters_json": _read_json_list, "gsm8k_jsonl": _read_jsonl, "hf_disk": _read_hf_disk,
                   "glue_tsv": lambda p: glue.read_tsv(spec.get("glue_task", task), p)}
        rows = readers[fmt](path)
    elif hub and hub_available(hub):
        try:
            rows = _read_hub(hub)
        except Exception as error:  # any hub failure becomes the clear missing-data error
            raise missing(path or Path("<none>"), task, spec, f" and the hub load failed ({error!r})", where) from error
    elif path is None:
        raise MissingDataError(f"task {task!r}: source has no local path and the hub is not reachable "
                               f"({_hub_hint(hub).lstrip(', ') or 'no hub entry'})", task=task)
    else:
        raise missing(path, task, spec, where=where)
    # `row` = position in the source, so compact predictions can point into the data instead of copying it
    return [dataclasses.replace(convert(row, where), row=i) for i, (row, where) in enumerate(rows)]
