"""What `src/run.py` does with a composed config: run it, print the summary, record failures."""
from __future__ import annotations

import logging
import traceback
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .pipeline import run, run_id
from .records import git_state, library_versions, now_iso
from .run_guard import RunLocked, write_failure
from .training import StopRequested

log = logging.getLogger(__name__)
STOPPED = 3  # exit status of a run (or sweep) stopped by <output_root>/STOP


def summary_lines(record: dict) -> list[str]:
    lines = [f"run {record['run_id']}: {record['method_tag']} on {record['model']} / {record['task']}",
             f"  trainable parameters: {record['trainable_params']:,} ({record['trainable_percent']:.4f} % of {record['total_params']:,})"]
    metric = record["primary_metric"]
    for name, after in record["metrics"].items():
        before = (record.get("metrics_before") or {}).get(name, {})
        b = f"{before[metric]:.4f} -> " if metric in before else ""
        lines.append(f"  {name} {metric}: {b}{after.get(metric, float('nan')):.4f} (n={after.get('n', record['eval_sizes'].get(name))})")
    t = record["train"]
    lines.append(f"  train: {t['steps']} steps in {t['train_time_s']:.0f} s, {t['tokens_per_s'] or 0:.0f} tokens/s; wall {record['wall_time_s']:.0f} s")
    return lines


def record_failure(cfg: dict, error: BaseException) -> Path | None:
    """A `failed` record in the run folder, beside (never over) a completed one; None if it cannot be written."""
    rid = run_id(cfg)
    return write_failure(Path(cfg["output_root"]) / rid, {
        "run_id": rid, "status": "failed", "created": now_iso(), "config": cfg,
        "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc(),
        "versions": library_versions(), "git": git_state(),
    })


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def main(cfg: DictConfig) -> dict | None:
    """In a multirun a failed job is recorded and the sweep goes on; a single run prints the error and exits
    with status 1 (with `debug=true` it re-raises: full traceback). A run stopped by `<output_root>/STOP` exits
    with status 3, a sweep with it."""
    try:
        record = run(cfg)
    except StopRequested as stop:  # not a failure: no failed record; a sweep stops here too, and resumes as it is
        log.warning("%s", stop)
        raise SystemExit(STOPPED) from None
    except Exception as error:
        resolved = OmegaConf.to_container(cfg, resolve=True)
        path = None if isinstance(error, RunLocked) else record_failure(resolved, error)  # the other process owns that folder
        log.error("run failed: %s: %s%s", type(error).__name__, error, f"\n(failure recorded in {path})" if path else "")
        if _in_multirun():
            return None
        debug = resolved.get("debug")
        if debug is True or (isinstance(debug, dict) and debug.get("traceback")):
            raise
        raise SystemExit(1) from None
    if "metrics" in record:  # rank 0
        print("\n".join(summary_lines(record)), flush=True)
    return record
