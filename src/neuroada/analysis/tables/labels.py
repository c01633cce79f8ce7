"""Names and labels: tasks, suites, models and methods (display labels and orders)."""
from __future__ import annotations

from typing import Iterable, Sequence

from ..records import BENCHMARKS

TASK_LABELS = {
    "boolq": "BoolQ", "piqa": "PIQA", "siqa": "SIQA", "hellaswag": "HellaS", "winogrande": "WinoG", "arc_easy": "ARC-e",
    "arc_challenge": "ARC-c", "obqa": "OBQA", "multiarith": "MultiArith", "gsm8k": "GSM8K", "addsub": "AddSub", "aqua": "AQuA",
    "singleeq": "SingleEq", "svamp": "SVAMP", "mawps": "MAWPS", "cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "stsb": "STS-B",
    "qqp": "QQP", "mnli": "MNLI", "qnli": "QNLI", "rte": "RTE", "addition": "Addition", "avg": "Avg",
}
# The paper's column order (NeuroAda README); tasks of other suites follow in alphabetical order.
SUITE_ORDER = {
    "commonsense": BENCHMARKS["commonsense"],
    "math": ["multiarith", "gsm8k", "addsub", "aqua", "singleeq", "svamp", "mawps"],
    "glue": BENCHMARKS["glue"],
}
PAPER_TRAIN_TASK = {"commonsense": "commonsense170k", "math": "math10k"}
MODEL_LABELS = {"llama-7b": "LLaMA-7B", "llama-13b": "LLaMA-13B", "llama2-7b": "Llama-2-7B", "llama3-8b": "Llama-3-8B",
                "smollm2-135m": "SmolLM2-135M", "tiny-llama": "tiny-llama", "roberta-base": "RoBERTa-base", "roberta-large": "RoBERTa-large"}
MODEL_ORDER = list(MODEL_LABELS)
METHOD_NAMES = {"neuroada": "NeuroAda", "released": "NeuroAda (released code)", "lora": "LoRA", "dora": "DoRA", "full": "Full FT", "masked": "Masked sparse",
                "shira": "SHiRA", "head_only": "Head only",
                "untrained": "Untrained (no fine-tuning)"}
METHOD_ORDER = ["untrained", "head_only", "full", "lora", "dora", "shira", "masked", "released", "neuroada"]


def method_label(tag: str) -> str:
    """`neuroada-k20` -> `NeuroAda (k=20)`, `lora-r32` -> `LoRA (r=32)`, `lora-rmatchk20` -> `LoRA (r matched to
    k=20)`, `full` -> `Full FT`."""
    name, _, rest = str(tag).partition("-")
    base = METHOD_NAMES.get(name, name)
    if not rest:
        return base
    if rest.startswith("rmatchk"):  # LoRA/DoRA with the rank matched to NeuroAda's parameters at k
        return f"{base} (r matched to k={rest[len('rmatchk'):]})"
    if rest[:1] in "kr" and rest[1:].split("-")[0].isdigit():
        extra = rest[1:].split("-", 1)
        label = f"{base} ({rest[0]}={extra[0]}"
        return label + (f", {extra[1]})" if len(extra) > 1 else ")")
    return f"{base} ({rest})"


def task_label(task: str) -> str:
    return TASK_LABELS.get(task, task)


def model_label(model: str) -> str:
    return MODEL_LABELS.get(model, model)


def _order(values: Iterable[str], order: Sequence[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    known = [v for v in order if v in values]
    return known + sorted(v for v in values if v not in known)


def _method_sort_key(tag: str) -> tuple:
    name, _, rest = str(tag).partition("-")
    num = "".join(ch for ch in rest if ch.isdigit())
    return (METHOD_ORDER.index(name) if name in METHOD_ORDER else len(METHOD_ORDER), name, -int(num) if num else 0, rest)
