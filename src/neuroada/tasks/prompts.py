"""Prompt templates.

`alpaca` is the LLM-Adapters Alpaca template (with and without input) in the clean form LoReFT and the
NeuroAda release use; LLM-Adapters' own `generate_prompt` carries 16 spaces of source-code indentation
inside the string, which we do not reproduce. `plain` is the released NeuroAda commonsense prompt
(`"%s\\n"`: the bare instruction and a newline), offered for exact replication of that run.
The target appended after the prompt is `Example.output` (commonsense: "the correct answer is <label>").
"""

from __future__ import annotations

ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
PLAIN = "{instruction}\n"

TEMPLATES = ("alpaca", "plain")


def build_prompt(instruction: str, input: str = "", template: str = "alpaca") -> str:
    """The prompt up to (and including) the line break after which the model writes its answer."""
    if template == "alpaca":
        if input:
            return ALPACA_WITH_INPUT.format(instruction=instruction, input=input)
        return ALPACA_NO_INPUT.format(instruction=instruction)
    if template == "plain":
        if input:
            return PLAIN.format(instruction=f"{instruction}\n{input}")
        return PLAIN.format(instruction=instruction)
    raise ValueError(f"unknown prompt template {template!r}; choose one of {TEMPLATES}")
