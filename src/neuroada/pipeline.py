"""One run: compose -> load task and model -> evaluate -> apply method -> train -> merge -> evaluate -> record."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import DictConfig, OmegaConf
from transformers import DataCollatorForSeq2Seq, DataCollatorWithPadding, TrainerState, set_seed

from .evaluation import evaluate_classification, evaluate_generation
from .attempts import AttemptClock, TickOnSave
from .evaluation.finished_sets import EvalCache, FinishedSets, InRunScores, SharedScores
from .memory import tracked_training_memory
from .methods import prepare_method
from .methods.untrained import NAME as UNTRAINED
from . import run_guard
from .config_checks import check_run_config, check_task_data
from .methods.validation import check_method_fits, validate_method_config
from .models import head_modules, head_param_count, load_model, model_skeleton
from .plan import announce_plan
from .records import config_hash, data_hashes, git_state, library_versions, now_iso, portable_path, write_record
from .tasks import Task, load_task, resolve_data_dir
from .tasks.datasets import tokenize_for_causal_lm, tokenize_for_classification
from .training import (KillAtStep, NeuroAdaTrainer, PatternConsistencyCheck, ResourceMonitor, StopAtCheckpoint, StopAtChosenStep,
                       StopRequested, stop_requested, training_arguments)
from .training.args import eval_strategy
from .training.checkpoints import checkpoint_step, finished_training, last_complete_checkpoint, mean_training_loss
from .training.selection import classification_metrics, generation_metrics, selection_record

log = logging.getLogger(__name__)
# Keys that do not change a run's result: left out of its id, so the same run resumes wherever it logs.
# eval_test only says which eval sets are scored yet: a tuning run (false) is completed later by the same run (true).
VOLATILE_KEYS = ("output_root", "logger", "eval_batch_size", "resume", "data_dir", "debug", "predictions", "eval_test")
PREDICTIONS = ("full", "compact")


def method_tag(m: dict) -> str:
    name = m["name"]
    if name in ("neuroada", "masked"):
        sel = "" if m.get("selection", "magnitude") == "magnitude" else f"-{m['selection']}"
        return f"{name}-k{m['k']}{sel}"
    if name in ("lora", "dora", "shira"):
        mask = "" if m.get("mask", "random") == "random" else f"-{m['mask']}"  # shira's row-balanced mask
        return f"{name}-r{m['r']}" + (f"k{m['k_match']}" if m["r"] == "match" else "") + mask
    return name  # full, head_only


def run_id(cfg: dict) -> str:
    base = cfg.get("run_name") or f"{cfg['model']['name']}_{cfg['task']['name']}_{method_tag(cfg['method'])}_s{cfg['seed']}"
    return f"{base}_{config_hash(cfg, VOLATILE_KEYS)}"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda but no CUDA device is available; use device=cpu or device=auto")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; accepted: auto, cpu, cuda")
    return torch.device(name)


def evaluate(model, tokenizer, task: Task, cfg: dict, out_dir: Path, tag: str, scored: dict, cache: EvalCache,
             after_set: Callable[[str], None]) -> dict[str, dict]:
    """Metrics per eval set; predictions go to <out_dir>/predictions/<tag>_<set>.jsonl. `scored` names the model
    scored (after training: its step and checkpoint); a set that `cache` holds for the same items, settings, model
    and commit is read back, not scored again. `after_set("<tag>_<set>")` is called once each set is scored."""
    results = {}
    for set_name, examples in task.eval_sets.items():
        predictions = _predictions_path(out_dir, tag, set_name, cfg)
        key = cache.key(examples, scored)
        done = cache.take(tag, set_name, key, predictions)
        if done is not None:
            results[set_name] = done
            continue
        if task.kind == "generation":
            res = evaluate_generation(model, tokenizer, examples, task.answer_type_for(set_name), task.max_new_tokens,
                                      batch_size=cfg["eval_batch_size"], aqua_fix=task.aqua_fix, prompt_template=task.prompt_template,
                                      max_prompt_length=cfg["trainer"]["max_length"], commonsense_rule=task.commonsense_rule,
                                      desc=f"eval {tag} {set_name}")
        else:
            res = evaluate_classification(model, tokenizer, examples, task.name, task.num_labels,
                                          batch_size=cfg["eval_batch_size"], max_length=cfg["trainer"]["max_length"],
                                          desc=f"eval {tag} {set_name}")
        res.save_predictions(predictions, compact=cfg.get("predictions") == "compact")
        cache.save(tag, set_name, key, res.metrics, predictions)
        results[set_name] = res.metrics
        log.info("%s %s: %s", tag, set_name, {k: round(v, 4) if isinstance(v, float) else v for k, v in res.metrics.items()})
        after_set(f"{tag}_{set_name}")
    return results


def _predictions_path(out_dir: Path, tag: str, set_name: str, cfg: dict) -> Path:
    return out_dir / "predictions" / f"{tag}_{set_name}.jsonl{'.gz' if cfg.get('predictions') == 'compact' else ''}"


def _all_found(task: Task, cfg: dict, run_dir: Path, cache: EvalCache, tag: str, scored: dict) -> bool:
    """Whether `cache` holds every set of a pass (the plan then leaves that pass out)."""
    return all(cache.find(tag, s, cache.key(examples, scored), _predictions_path(run_dir, tag, s, cfg))[0] is not None
               for s, examples in task.eval_sets.items())


def _set_scored(cfg: dict, clock: AttemptClock) -> Callable[[str], None]:
    def done(name: str) -> None:
        clock.tick()
        if (cfg.get("debug") or {}).get("kill_after") == name:  # test aid (`+debug.kill_after=after_<set>`):
            os._exit(137)  # dies like a killed job (no cleanup) once that set is scored
        stop = stop_requested(cfg["output_root"])
        if stop is not None:  # the relaunch reads this set back (eval_done/) and goes on with the next
            raise StopRequested(f"stopped after scoring {name} because {stop} exists; remove it and run the same command to resume")
    return done


def _shared_before(cfg: dict, device: torch.device, git: dict) -> SharedScores | None:
    """Where the runs of one output_root share the untrained model's scores; None on an edited or unknown tree."""
    if not git.get("commit") or git.get("dirty") is not False:
        return None
    return SharedScores(Path(cfg["output_root"]), {"model": cfg["model"], "dtype": cfg["dtype"], "device": device.type, "seed": cfg["seed"],
                                                   "task": cfg["task"], "max_length": cfg["trainer"]["max_length"], "commit": git["commit"]})


def _train_features(task: Task, tokenizer, max_length: int) -> list[dict]:
    if task.kind == "generation":
        feats = tokenize_for_causal_lm(task.train, tokenizer, max_length, prompt_template=task.prompt_template)
    else:
        feats = tokenize_for_classification(task.train, tokenizer, max_length)
    if not feats:
        raise ValueError(f"task {task.name!r} has no training examples after tokenization with trainer.max_length={max_length}: "
                         "every prompt fills it (no target token is left); raise trainer.max_length")
    return feats


def _selection(task: Task, tokenizer, cfg: dict, in_run: InRunScores | None) -> dict:
    """What the Trainer needs to evaluate the selection set during training: classification goes through its
    own loop with the task's metric; generation through greedy decoding and the task's extraction, each
    evaluation kept in `in_run` for the pass after training."""
    examples = task.eval_sets[task.selection_set]
    if task.kind != "generation":
        return {"eval_dataset": tokenize_for_classification(examples, tokenizer, cfg["trainer"]["max_length"]),
                "compute_metrics": classification_metrics(task.name, task.num_labels, task.primary_metric)}

    def score(model, step: int):
        result = evaluate_generation(
            model, tokenizer, examples, task.answer_type_for(task.selection_set), task.max_new_tokens, batch_size=cfg["eval_batch_size"],
            aqua_fix=task.aqua_fix, prompt_template=task.prompt_template, max_prompt_length=cfg["trainer"]["max_length"],
            commonsense_rule=task.commonsense_rule, desc=f"eval step {step} {task.selection_set}")
        if in_run is not None:
            in_run.save(step, result)
        return result
    return {"eval_dataset": examples, "selection_fn": generation_metrics(score, task.primary_metric)}


def _after_pass(model, tokenizer, task: Task, cfg: dict, run_dir: Path, scored: dict, cache: EvalCache, set_scored,
                in_run: InRunScores | None, best_step: int | None) -> dict[str, dict]:
    """The pass after training; the selection set's scores come from the evaluation that chose the checkpoint when
    it was kept (`in_run`), the other sets are scored."""
    taken = None
    if in_run is not None and best_step is not None and task.selection_set in task.eval_sets:
        taken = in_run.take(best_step, _predictions_path(run_dir, "after", task.selection_set, cfg))
    if taken is None:
        return evaluate(model, tokenizer, task, cfg, run_dir, "after", scored, cache, set_scored)
    rest = dataclasses.replace(task, eval_sets={k: v for k, v in task.eval_sets.items() if k != task.selection_set})
    after = evaluate(model, tokenizer, rest, cfg, run_dir, "after", scored, cache, set_scored)
    return {name: taken if name == task.selection_set else after[name] for name in task.eval_sets}


def _collator(task: Task, tokenizer):
    if task.kind == "generation":
        tokenizer.padding_side = "right"  # as the release pads training batches (generation pads left on its own)
        return DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100, return_tensors="pt")
    return DataCollatorWithPadding(tokenizer, return_tensors="pt")


def _data_files(task_cfg: dict, data_dir: Path) -> list[Path]:
    specs = task_cfg.get("train") or []
    specs = specs if isinstance(specs, list) else [specs]
    specs = specs + list((task_cfg.get("eval_sets") or {}).values())
    return [data_dir / s["path"] for s in specs if isinstance(s, dict) and s.get("path") and (data_dir / s["path"]).exists()]


def _setup_wandb(cfg: dict, run_dir: Path) -> list[str]:
    if cfg["logger"]["name"] == "none":
        return []
    if cfg["logger"]["name"] != "wandb":
        raise ValueError(f"unknown logger {cfg['logger']['name']!r}; accepted: wandb, none")
    os.environ["WANDB_MODE"] = str(cfg["logger"]["mode"])
    os.environ.setdefault("WANDB_PROJECT", cfg["logger"]["project"])
    os.environ["WANDB_DIR"] = str(run_dir)
    os.environ.setdefault("WANDB_SILENT", "true")
    return ["wandb"]


def _finish_wandb(summary: dict) -> str | None:
    import wandb

    if wandb.run is None:
        return None
    wandb.log(summary)
    wandb.run.summary.update(summary)
    run_dir = wandb.run.dir
    wandb.finish()
    return str(Path(run_dir).parent)


def _flat_metrics(prefix: str, metrics: dict[str, dict]) -> dict[str, float]:
    return {f"{prefix}/{s}/{k}": v for s, m in metrics.items() for k, v in m.items() if isinstance(v, (int, float))}


def _scored_sets(task: Task, eval_test: bool) -> Task:
    """The task as its passes score it: every eval set, or (eval_test=false) only the selection set."""
    if eval_test:
        return task
    if task.selection_set is None:
        raise ValueError(f"eval_test=false scores only the task's selection set, and task {task.name!r} has none "
                         f"(its eval sets: {', '.join(task.eval_sets)}); use eval_test=true, or a task with a selection_set")
    return dataclasses.replace(task, eval_sets={task.selection_set: task.eval_sets[task.selection_set]})


def _with_deferred(record: dict, deferred: dict) -> dict:
    """The record of a run that scored its selection set only (`deferred`), completed by an attempt that scored
    the rest from its kept checkpoint and trained nothing: training figures stay the tuning attempt's."""
    return {**record, "train": {**deferred["train"], "resumed_from": record["train"]["resumed_from"]},
            "peak_memory": deferred["peak_memory"], "wall_time_s": deferred["wall_time_s"] + record["wall_time_s"],
            "test_scored_later": {"created": deferred["created"], "wall_time_s": record["wall_time_s"]}}


def _with_deferred_retrained(record: dict, deferred: dict, selection_set: str, metric: str) -> dict:
    """The same completion when the tuning run's checkpoint was gone (a study resumed on a fresh machine keeps records,
    not weights): the run was trained again from its seed up to the step its selection set chose (`StopAtChosenStep`),
    and whether that reproduced the tuning run's selection score (the one its lr was chosen on) is recorded; training is
    deterministic on CPU, so a mismatch is a fault to look at. The training figures and the selection curve stay the
    tuning attempt's (the retrain evaluated the chosen step only); the retrain's are in `test_scored_later`."""
    tuned = (deferred.get("metrics") or {}).get(selection_set, {}).get(metric)
    again = (record.get("metrics") or {}).get(selection_set, {}).get(metric)
    retrain = {"steps": record["train"]["steps"], "train_time_s": record["train"]["train_time_s"], "wall_time_s": record["wall_time_s"]}
    return {**record, "train": {**deferred["train"], "resumed_from": record["train"]["resumed_from"]},
            "selection": deferred.get("selection") or record.get("selection"),
            "test_scored_later": {"created": deferred["created"], "retrained": True, "retrain": retrain,
                                  "tuning_selection_score": tuned, "selection_score_reproduced": tuned == again}}


def _completed_record(run_dir: Path) -> dict | None:
    try:
        record = json.loads((run_dir / "record.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if record.get("status") == "completed" else None


@dataclasses.dataclass
class Trained:
    """What training leaves for the pass after it and the record."""
    state: TrainerState
    loss: float | None
    peak: dict  # ResourceMonitor.peak() and the tracked bytes by category
    seconds: float  # training's wall time in this attempt
    trained_now: bool  # False: this attempt trained nothing (method=untrained, or an earlier one had finished training)
    resumed_from: str | None = None
    best: str | None = None  # the checkpoint the selection set chose (load_best_model_at_end), else None
    world_size: int = 1
    rank: int = 0


def _nothing_trained(model, resources: ResourceMonitor) -> Trained:
    """method=untrained: no Trainer; the tracked memory is the model's (no gradients, optimizer or activations)."""
    resources.start()
    resources.stop()
    peak = {**resources.peak(), "tracked_bytes": tracked_training_memory(model, None, 0)}
    return Trained(TrainerState(), None, peak, resources.elapsed, trained_now=False)


def _train(cfg: dict, rid: str, run_dir: Path, task: Task, tokenizer, features: list, collate, prepared, evaluation: str,
           device: torch.device, report_to: list, resources: ResourceMonitor, in_run: InRunScores | None, clock: AttemptClock,
           cache: EvalCache, deferred: dict | None) -> Trained:
    """Trains `prepared.model` with the shared Trainer, resuming from the last complete checkpoint; a run killed after
    its final save trains nothing more (that checkpoint, or the best one, is loaded)."""
    args = training_arguments(cfg["trainer"], str(run_dir / "checkpoints"), seed=cfg["seed"], report_to=report_to, run_name=rid,
                              use_cpu=device.type == "cpu", evaluation=evaluation, eval_batch_size=cfg["eval_batch_size"])
    # a chosen tuning run whose checkpoint is gone: trained again only up to the step its selection set chose
    stop_at = ((deferred or {}).get("selection") or {}).get("best_step") if evaluation != "no" else None
    callbacks = [*prepared.callbacks, TickOnSave(clock), StopAtCheckpoint(cfg["output_root"]),
                 *([PatternConsistencyCheck()] if prepared.name == "neuroada" else []), *([StopAtChosenStep(stop_at)] if stop_at else [])]
    if (cfg.get("debug") or {}).get("kill_at_step"):
        callbacks.append(KillAtStep(int(cfg["debug"]["kill_at_step"])))
    trainer = NeuroAdaTrainer(
        model=prepared.model, args=args, train_dataset=features, data_collator=collate, callbacks=callbacks,
        no_decay=prepared.no_decay, lean_checkpoints=prepared.name in ("neuroada", "head_only"), resources=resources,
        **_selection(task, tokenizer, cfg, in_run) if evaluation != "no" else {},
    )
    resume = last_complete_checkpoint(args.output_dir) if cfg["resume"] else None
    if resume:
        log.info("resuming from %s", resume)
    resources.start()
    finished = finished_training(resume, stop_at)
    if finished is not None:  # killed after the final save: evaluate that checkpoint, train nothing more
        log.info("training had finished at %s (step %d); evaluating it", resume, finished.global_step)
        trainer._load_from_checkpoint(resume)
        trainer.state = finished
        if args.load_best_model_at_end and finished.best_model_checkpoint:
            trainer._load_best_model()
        loss = mean_training_loss(finished)
    else:
        if deferred is not None:  # (or a retrain like that was interrupted: it resumes)
            log.warning("run %s: the checkpoint its tuning attempt kept is gone (%s); training it again from its seed%s to "
                        "score its other eval sets%s", rid, args.output_dir, f" up to step {stop_at}, the one it chose" if stop_at else "",
                        f", resuming at {resume}" if resume else "")
        cache.finished.forget("after")  # the model an earlier attempt scored is being trained again
        loss = trainer.train(resume_from_checkpoint=resume).training_loss
    resources.stop()
    peak = {**resources.peak(), "tracked_bytes": tracked_training_memory(trainer.model, trainer.optimizer, trainer.saved_activation_bytes)}
    return Trained(trainer.state, loss, peak, resources.elapsed, trained_now=finished is None, resumed_from=resume,
                   best=trainer.state.best_model_checkpoint if args.load_best_model_at_end else None,
                   world_size=trainer.args.world_size, rank=0 if trainer.is_world_process_zero() else trainer.args.process_index)


@run_guard.exclusive(lambda cfg: Path(cfg["output_root"]) / run_id(cfg))  # the run folder's lock, held for the run
def run(cfg: DictConfig | dict[str, Any]) -> dict:
    """Runs one experiment and returns its record (also written to <output_root>/<run_id>/record.json)."""
    cfg = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    check_run_config(cfg)  # types and ranges of the settings, before anything is read or loaded
    t_start = time.perf_counter()
    rid = run_id(cfg)
    run_dir = Path(cfg["output_root"]) / rid
    done = _completed_record(run_dir)
    run_guard.check_same_data(cfg, run_dir, done)  # a skip or resume on other data is refused
    deferred, eval_test = None, cfg.get("eval_test", True)
    if done is not None and cfg["resume"]:  # the same run finished before: a relaunched sweep skips it
        if done.get("eval_scope") != "selection" or not eval_test:
            log.info("run %s already completed (%s); resume=false reruns it", rid, run_dir / "record.json")
            return done
        deferred = done  # a tuning run (eval_test=false) now chosen: its other sets are scored from its checkpoint
        log.info("run %s scored its selection set only; scoring its other eval sets from its last checkpoint", rid)
    run_dir.mkdir(parents=True, exist_ok=True)
    if not cfg["resume"]:
        FinishedSets(run_dir).forget()  # a rerun scores everything again
    git = git_state()
    clock = AttemptClock(run_dir, fresh=not cfg["resume"], started=t_start, git=git)
    set_scored = _set_scored(cfg, clock)
    device = pick_device(cfg["device"])
    set_seed(cfg["seed"])

    validate_method_config(cfg["method"], task=cfg["task"])  # config and data errors surface before any model is loaded
    if cfg.get("predictions", "full") not in PREDICTIONS:
        raise ValueError(f"predictions must be one of {PREDICTIONS}, got {cfg['predictions']!r}")
    data_dir = resolve_data_dir(cfg.get("data_dir"))
    task = load_task(cfg["task"], data_dir, run_seed=cfg["seed"])
    check_task_data(task, cfg)
    scored_task = _scored_sets(task, eval_test)
    evaluation = eval_strategy(cfg["trainer"], task.selection_set is not None)
    num_labels = task.num_labels if task.kind != "generation" else None
    skeleton = model_skeleton(cfg["model"], num_labels=num_labels)  # meta device: shapes without weights
    heads = head_modules(skeleton, cfg["model"]) if task.kind != "generation" else []  # trained densely by every method
    check_method_fits(skeleton, cfg["method"], heads)  # targets and k against the real layers, before loading
    del skeleton
    model, tokenizer = load_model(cfg["model"], num_labels=num_labels, dtype=cfg["dtype"])
    model.to(device)
    head_params = head_param_count(model, heads)
    features = _train_features(task, tokenizer, cfg["trainer"]["max_length"])
    # what runs, its size and an estimate of its duration (steps from the examples training keeps)
    cache = EvalCache(run_dir, {"eval_batch_size": cfg["eval_batch_size"], "predictions": cfg.get("predictions", "full")},
                      reuse=cfg["resume"], shared=_shared_before(cfg, device, git))
    before_scored = {"commit": git.get("commit")}
    eval_before = cfg["eval_before"] and cfg["method"]["name"] != UNTRAINED
    if cfg["eval_before"] and not eval_before:
        log.info("method=untrained: its one pass scores the model as loaded; eval_before adds no second pass")
    announce_plan({**cfg, "eval_before": eval_before}, scored_task, model, tokenizer, heads, device, train_examples=len(features),
                  before_done=eval_before and _all_found(scored_task, cfg, run_dir, cache, "before", before_scored))

    before = evaluate(model, tokenizer, scored_task, cfg, run_dir, "before", before_scored, cache, set_scored) if eval_before else None

    collate = _collator(task, tokenizer)
    method_cfg = dict(cfg["method"])
    calib = None
    if method_cfg.get("selection") == "gradient":
        bs = cfg["trainer"]["batch_size"]
        calib = [{k: v.to(device) for k, v in collate(features[i:i + bs]).items()} for i in range(0, min(len(features), bs * method_cfg["calibration_batches"]), bs)]
    prepared = prepare_method(model, method_cfg, extra_trainable=heads, calibration_batches=calib, weight_decay=cfg["trainer"]["weight_decay"])
    params = prepared.params
    log.info("%s: %s", prepared.name, params)

    report_to = _setup_wandb(cfg, run_dir)
    resources = ResourceMonitor(device)
    selecting = evaluation != "no" and prepared.name != UNTRAINED
    in_run = (InRunScores(run_dir, cache, task.selection_set, task.eval_sets[task.selection_set], git.get("commit"),
                          compact=cfg.get("predictions") == "compact") if selecting and task.kind == "generation" else None)
    if prepared.name == UNTRAINED:
        trained = _nothing_trained(prepared.model, resources)
    else:
        trained = _train(cfg, rid, run_dir, task, tokenizer, features, collate, prepared, evaluation, device,
                         report_to, resources, in_run, clock, cache, deferred)
    if trained.rank != 0:  # other ranks only train; rank 0 saves, evaluates and records
        return {"run_id": rid, "status": "completed", "rank": trained.rank}

    prepared.save(run_dir / "adapter")
    model = prepared.merge() if cfg["merge"] and prepared.mergeable else prepared.model
    state, best, peak = trained.state, trained.best, trained.peak
    scored = {"step": state.global_step, "checkpoint": Path(best).name if best else None,
              "merged": model is not prepared.model, "commit": git.get("commit")}
    after = _after_pass(model, tokenizer, scored_task, cfg, run_dir, scored, cache, set_scored, in_run,
                        checkpoint_step(best))

    tokens = state.num_input_tokens_seen or 0
    summary = {**_flat_metrics("after", after), **(_flat_metrics("before", before) if before else {}),
               "train/tokens_per_s": tokens / trained.seconds if trained.seconds else 0.0,
               "train/peak_memory_bytes": peak.get("cuda_max_allocated_bytes") or peak["cpu_peak_rss_bytes"],
               **{f"memory/{k}_bytes": v for k, v in peak["tracked_bytes"].items() if v is not None}}
    wandb_dir = _finish_wandb(summary) if report_to else None

    record = {
        "run_id": rid,
        "status": "completed",
        "created": now_iso(),
        "model": cfg["model"]["name"],
        "task": task.name,
        "suite": task.suite,
        "method": prepared.name,
        "method_tag": method_tag(method_cfg),
        "seed": cfg["seed"],
        "config": {**cfg, "data_dir": portable_path(cfg["data_dir"]) if cfg.get("data_dir") else None},
        "trainable_params": params.trainable,
        "head_params": head_params,  # of trainable_params: the classification head every method trains (0 for generation)
        "total_params": params.base_total,
        "trainable_percent": params.percent,
        "primary_metric": task.primary_metric,
        "metrics": after,
        "metrics_before": before,
        "eval_sizes": {k: len(v) for k, v in scored_task.eval_sets.items()},
        "eval_scope": "all" if eval_test else "selection",  # selection: a tuning run, its other sets not scored yet
        "eval_reused": cache.reused,  # <pass>_<set> -> who scored it: an earlier (killed) attempt, or .shared_before/<context>
        "train_examples": 0 if prepared.name == UNTRAINED else len(features),
        "trained_questions": task.trained_questions(),  # eval items whose question is among the task's training items
        "selection": selection_record(state, task.primary_metric, task.selection_set, evaluation) if selecting else None,
        "resplit_seed": task.resplit_seed,
        "train": {"steps": state.global_step, "loss": trained.loss, "resumed_from": portable_path(trained.resumed_from, run_dir),
                  "train_time_s": trained.seconds, "tokens": tokens,
                  "tokens_per_s": tokens / trained.seconds if trained.seconds else None,
                  "log_history": state.log_history},
        "peak_memory": peak,
        "wall_time_s": time.perf_counter() - t_start,  # this attempt (with test sets scored later: both, see _with_deferred)
        "attempts": len(clock.attempts),  # launches it took (a killed run's relaunches add one each)
        "wall_time_all_attempts_s": clock.total,  # a lower bound when killed: time after an attempt's last save is lost
        "attempt_code": clock.code_versions,  # the code each attempt ran: more than one when resumed on another commit
        "device": str(device),
        "world_size": trained.world_size,  # processes; the effective batch is batch_size x grad_accum x this
        "versions": library_versions(),
        "git": git,  # read once at the start: the code this run imported
        "data_dir": portable_path(data_dir),
        "data_sha256": data_hashes(_data_files(cfg["task"], data_dir), root=data_dir) if data_dir else {},
        "wandb_dir": wandb_dir,
    }
    if deferred is not None and not trained.trained_now:
        record = _with_deferred(record, deferred)
    elif deferred is not None:
        record = _with_deferred_retrained(record, deferred, task.selection_set, task.primary_metric)
        if not record["test_scored_later"]["selection_score_reproduced"]:
            log.warning("run %s trained again did not reproduce its tuning run's selection score (%s: %s, now %s); "
                        "its lr was chosen on the earlier one", rid, task.primary_metric,
                        record["test_scored_later"]["tuning_selection_score"], after[task.selection_set].get(task.primary_metric))
    path = write_record(run_dir, record)
    log.info("run record: %s", path)
    return record
