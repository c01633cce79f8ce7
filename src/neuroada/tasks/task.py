"""A task: its train examples, its evaluation sets and how to score them."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from neuroada.tasks import glue
from neuroada.tasks.errors import MissingDataError
from neuroada.tasks.example import Example
from neuroada.tasks.extraction import ANSWER_TYPES, COMMONSENSE_RULES
from neuroada.tasks.metrics import primary_metric
from neuroada.tasks.prompts import TEMPLATES
from neuroada.tasks.registry import SUITES
from neuroada.tasks.sources import load_source, resolve_data_dir

log = logging.getLogger(__name__)
KINDS = ("generation", "classification", "regression")


@dataclass
class Task:
    name: str
    suite: str
    kind: str
    train: list[Example]
    eval_sets: dict[str, list[Example]]
    answer_type: str | None = None  # default for all eval sets; see answer_type_for
    max_new_tokens: int | None = None
    num_labels: int | None = None
    prompt_template: str = "alpaca"
    aqua_fix: bool = False
    commonsense_rule: str = "lenient"  # answer extraction for commonsense: lenient (default) | strict (the release)
    primary_metric: str = "accuracy"
    eval_answer_types: dict[str, str] = field(default_factory=dict)
    missing_eval_sets: list[str] = field(default_factory=list)
    selection_set: str | None = None  # the eval set that chooses the checkpoint (never reported as a test score)
    resplit_seed: int | None = None   # the seed of GLUE's dev re-split, when there is one

    def answer_type_for(self, eval_name: str) -> str | None:
        """The answer type of one eval set (AQuA inside the math suite is `letter`)."""
        return self.eval_answer_types.get(eval_name, self.answer_type)

    def trained_questions(self) -> dict[str, list[int]]:
        """{eval set: keys of its items whose question is also a training item's}, sets with none left out. A key
        is the item's `row` in its source file, else its position: the key its predictions carry. Math10K holds
        most MultiArith and AddSub test questions; an analysis can score the items not trained on."""
        seen = {ex.question for ex in self.train} - {""}
        return {name: keys for name, examples in self.eval_sets.items()
                if (keys := [ex.row if ex.row is not None else i for i, ex in enumerate(examples) if ex.question in seen])}


def _subsample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """A seeded subset that keeps the file order (deterministic for a given seed)."""
    if limit is None or limit >= len(examples):
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), int(limit)))
    return [examples[i] for i in keep]


def _as_dict(task_cfg: Mapping | DictConfig) -> dict[str, Any]:
    if isinstance(task_cfg, DictConfig):
        return OmegaConf.to_container(task_cfg, resolve=True)
    return dict(task_cfg)


def _check(cfg: dict) -> None:
    for key in ("name", "suite", "kind", "eval_sets"):
        if key not in cfg:
            raise ValueError(f"task config lacks {key!r}: {cfg}")
    if cfg["suite"] not in SUITES:
        raise ValueError(f"task {cfg['name']!r}: suite {cfg['suite']!r} not in {SUITES}")
    if cfg["kind"] not in KINDS:
        raise ValueError(f"task {cfg['name']!r}: kind {cfg['kind']!r} not in {KINDS}")
    if cfg["kind"] == "generation" and cfg.get("answer_type") not in ANSWER_TYPES:
        raise ValueError(f"task {cfg['name']!r}: answer_type must be one of {ANSWER_TYPES}")
    per_set = {name: (src or {}).get("answer_type") for name, src in (cfg.get("eval_sets") or {}).items()}
    if cfg.get("train_holdout"):
        per_set[f"train_holdout ({cfg['train_holdout'].get('name')})"] = cfg["train_holdout"].get("answer_type")
    for set_name, answer_type in per_set.items():
        if answer_type is not None and answer_type not in ANSWER_TYPES:
            raise ValueError(f"task {cfg['name']!r}: eval set {set_name}: answer_type {answer_type!r} is not one of {ANSWER_TYPES}")
    if cfg.get("commonsense_rule", "lenient") not in COMMONSENSE_RULES:
        raise ValueError(f"task {cfg['name']!r}: commonsense_rule must be one of {COMMONSENSE_RULES}, "
                         f"got {cfg['commonsense_rule']!r}")
    if cfg.get("prompt_template", "alpaca") not in TEMPLATES:
        raise ValueError(f"task {cfg['name']!r}: prompt_template must be one of {TEMPLATES}")


def resplit_seed(cfg: Mapping, run_seed: int | None) -> int:
    """`task.resplit_seed`: "run" (default) splits the dev set with the run's seed, as the release and
    LoReFT do (each seed sees another split); an integer fixes the split across seeds (paired comparisons).
    Without a run (library use, `run_seed=None`), "run" falls back to the task's own `seed`."""
    value = cfg.get("resplit_seed", "run")
    if value == "run":
        return int(run_seed if run_seed is not None else cfg.get("seed", 42))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"task {cfg['name']!r}: resplit_seed must be 'run' or an integer, got {value!r}") from None


def load_task(task_cfg: Mapping | DictConfig, data_dir: str | os.PathLike | None = None, *,
              load_train: bool = True, run_seed: int | None = None) -> Task:
    """Build a Task from a conf/task/<name>.yaml mapping, reading data under `data_dir`
    (see resolve_data_dir). `load_train=False` skips the train sources (evaluation-only runs);
    `run_seed` seeds GLUE's dev re-split unless the task fixes `resplit_seed`."""
    cfg = _as_dict(task_cfg)
    _check(cfg)
    name, seed = cfg["name"], int(cfg.get("seed", 42))
    root = resolve_data_dir(data_dir)
    t0 = time.perf_counter()
    log.info("task %s: loading data (%s)", name, root)

    train: list[Example] = []
    if load_train and cfg.get("train"):
        sources = cfg["train"] if isinstance(cfg["train"], list) else [cfg["train"]]
        for source in sources:
            train.extend(load_source(source, root, name, data_dir))
        holdout = cfg.get("train_holdout")
        if holdout:  # a seeded part of the train file becomes an eval set (model selection), disjoint from training:
            # a training item that repeats a held-out question is dropped too (Math10K: 364 of 9,919 items repeat one)
            held = set(random.Random(seed).sample(range(len(train)), int(holdout["size"])))
            held_out = [ex for i, ex in enumerate(train) if i in held]
            asked = {ex.question for ex in held_out}
            train = [ex for i, ex in enumerate(train) if i not in held and ex.question not in asked]
        train = _subsample(train, cfg.get("max_train_samples"), seed)

    eval_sets, missing, answer_types = {}, [], {}
    for set_name, source in cfg["eval_sets"].items():
        try:
            eval_sets[set_name] = load_source(source, root, name, data_dir)
        except MissingDataError as error:
            if len(cfg["eval_sets"]) == 1:
                raise
            if not cfg.get("skip_missing_eval_sets", False):
                raise MissingDataError(
                    f"{error} Or set task.skip_missing_eval_sets=true to evaluate on the other sets.",
                    path=error.path, task=name) from error
            log.warning("task %s: skipping eval set %s: %s", name, set_name, error)
            missing.append(set_name)
            continue
        if source.get("answer_type"):
            answer_types[set_name] = source["answer_type"]

    if not eval_sets:
        raise MissingDataError(f"task {name!r}: none of its eval sets is available", task=name)
    if load_train and cfg.get("train_holdout"):
        eval_sets[cfg["train_holdout"]["name"]] = held_out
        if cfg["train_holdout"].get("answer_type"):
            answer_types[cfg["train_holdout"]["name"]] = cfg["train_holdout"]["answer_type"]
    split_seed, selection_set = None, cfg.get("selection_set")
    if cfg.get("resplit") == "loreft":
        if len(eval_sets) != 1:
            raise ValueError(f"task {name!r}: resplit=loreft needs exactly one eval set (the dev set)")
        split_seed = resplit_seed(cfg, run_seed)
        selection, test = glue.loreft_resplit(next(iter(eval_sets.values())), split_seed)
        eval_sets = {"validation": selection, "test": test}
        selection_set = selection_set or "validation"
    elif cfg.get("resplit") is not None:
        raise ValueError(f"task {name!r}: unknown resplit {cfg['resplit']!r} (only 'loreft')")

    if selection_set is not None and selection_set not in eval_sets:
        raise ValueError(f"task {name!r}: selection_set {selection_set!r} is not one of its eval sets {sorted(eval_sets)}")
    limit = cfg.get("max_eval_samples")
    eval_sets = {k: _subsample(v, limit, seed) for k, v in eval_sets.items()}
    log.info("task %s: %d train examples; eval %s (%.1f s)", name, len(train),
             ", ".join(f"{k} {len(v)}" for k, v in eval_sets.items()), time.perf_counter() - t0)

    return Task(
        name=name, suite=cfg["suite"], kind=cfg["kind"], train=train, eval_sets=eval_sets,
        answer_type=cfg.get("answer_type"), max_new_tokens=cfg.get("max_new_tokens"),
        num_labels=cfg.get("num_labels"), prompt_template=cfg.get("prompt_template", "alpaca"),
        aqua_fix=bool(cfg.get("aqua_fix", False)), commonsense_rule=cfg.get("commonsense_rule", "lenient"),
        primary_metric=cfg.get("primary_metric") or (primary_metric(name) if cfg["suite"] == "glue" else "accuracy"),
        eval_answer_types=answer_types, missing_eval_sets=missing,
        selection_set=selection_set, resplit_seed=split_seed,
    )
