"""The table at the end of a multirun (`python src/run.py -m ...`), and a non-zero exit when a job failed.

A Hydra callback (registered in conf/config.yaml under `hydra.callbacks`):

- `on_job_end` (in the process that ran the job, whatever the launcher) writes `neuroada_job.json` into the
  job's output folder (`<sweep dir>/<job number>/`): the job's overrides, status, run id, record path and
  the row of the table, taken from the run record (`<output_root>/<run_id>/record.json`);
- `on_multirun_end` (in the launching process) reads those files, prints one table (method tag, k,
  trainable %, before -> after of the primary metric per eval set, time, status) and writes it next to
  the jobs as `<sweep dir>/summary.md` and `summary.json`. If a job failed it lists the failed jobs (with
  their error and record) on stderr and exits with status 1, so a script or CI sees the failure.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)
JOB_FILE = "neuroada_job.json"
EXIT_FAILED = 1


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _method_tag(method: dict) -> str | None:
    try:
        from .pipeline import method_tag

        return method_tag(method)
    except Exception:  # an incomplete method block (a job that failed early)
        return method.get("name")


def row_of(record: dict) -> dict:
    """The summary row of one run record (completed or failed)."""
    cfg = record.get("config") or {}
    method = cfg.get("method") or {}
    metric = record.get("primary_metric", "accuracy")
    evals = {}
    for name, after in (record.get("metrics") or {}).items():
        before = (record.get("metrics_before") or {}).get(name) or {}
        evals[name] = {"before": before.get(metric), "after": after.get(metric), "n": after.get("n")}
    return {
        "run_id": record.get("run_id"),
        "status": record.get("status"),
        "method_tag": record.get("method_tag") or _method_tag(method),
        "k": method.get("k") if method.get("name") in ("neuroada", "masked") else method.get("k_match") if method.get("r") == "match" else None,
        "trainable_percent": record.get("trainable_percent"),
        "metric": metric,
        "evals": evals,
        "wall_time_s": record.get("wall_time_s"),
        "error": record.get("error"),
    }


def varying(overrides: list[list[str]]) -> list[list[str]]:
    """Each job's overrides without those all jobs share (the sweep's own parameters remain)."""
    if len(overrides) < 2:
        return overrides
    common = set(overrides[0]).intersection(*map(set, overrides[1:]))
    return [[o for o in ov if o not in common] for ov in overrides]


def render_table(jobs: list[dict]) -> str:
    """A markdown table, one line per job; the overrides column shows what differs between the jobs."""
    sets = sorted({name for job in jobs for name in (job.get("row") or {}).get("evals", {})})
    metric = next((job["row"]["metric"] for job in jobs if job.get("row")), "accuracy")
    head = ["job", "overrides", "method", "k", "trainable %", *[f"{s} {metric} before -> after" for s in sets], "time", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for job, overrides in zip(jobs, varying([list(job.get("overrides") or []) for job in jobs])):
        row = job.get("row") or {}
        evals = row.get("evals", {})
        cells = [str(job.get("num", "?")), " ".join(overrides) or "-", str(row.get("method_tag") or "-"),
                 str(row["k"]) if row.get("k") is not None else "-",
                 f"{row['trainable_percent']:.4f}" if isinstance(row.get("trainable_percent"), (int, float)) else "-"]
        for s in sets:
            e = evals.get(s)
            cells.append(f"{_fmt(e['before'])} -> {_fmt(e['after'])}" if e else "-")
        cells += [_minutes(row.get("wall_time_s")), job.get("status", "?")]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _find_record(task_cfg: DictConfig) -> tuple[str | None, Path | None, dict | None]:
    """The run id, record path and record of a job that returned no record (a failed run)."""
    try:
        from .pipeline import run_id

        cfg = OmegaConf.to_container(task_cfg, resolve=True)
        rid = run_id(cfg)
        path = Path(cfg["output_root"]) / rid / "record.json"
        return rid, path, json.loads(path.read_text()) if path.is_file() else None
    except Exception as error:  # a summary must not fail on a job that failed oddly
        log.debug("no record found for a failed job: %s", error)
        return None, None, None


class SweepSummary(Callback):
    def __init__(self, filename: str = "summary") -> None:
        self.filename = filename

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        value = job_return._return_value  # .return_value re-raises a job's exception
        job: dict[str, Any] = {"num": config.hydra.job.num, "overrides": list(job_return.overrides or [])}
        if job_return.status == JobStatus.COMPLETED and isinstance(value, dict) and value.get("status") == "completed":
            output_root = OmegaConf.select(job_return.cfg, "output_root")
            job.update(status="completed", run_id=value.get("run_id"), row=row_of(value),
                       record=str(Path(output_root) / value["run_id"] / "record.json") if output_root and value.get("run_id") else None)
        else:
            rid, path, record = _find_record(job_return.cfg)
            error = (f"{type(value).__name__}: {value}" if isinstance(value, BaseException)
                     else (record or {}).get("error") if (record or {}).get("status") == "failed"
                     else f"the run failed without a failure record; see the job's log in {config.hydra.runtime.output_dir}")
            try:
                cfg = OmegaConf.to_container(job_return.cfg, resolve=True)
            except Exception:
                cfg = {}
            row = row_of(record if record and record.get("status") == "failed" else {"config": cfg, "status": "failed"})
            job.update(status="failed", run_id=rid, row={**row, "error": error}, record=str(path) if path else None, error=error)
        out = Path(config.hydra.runtime.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / JOB_FILE).write_text(json.dumps(job, indent=1, default=str) + "\n")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = []
        for path in sweep_dir.glob(f"*/{JOB_FILE}"):
            try:
                jobs.append(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError) as error:
                jobs.append({"num": path.parent.name, "status": "failed", "error": f"unreadable {path}: {error}"})
        if not jobs:
            return
        jobs.sort(key=lambda j: (int(j["num"]) if str(j.get("num", "")).isdigit() else 10**9, str(j.get("num"))))
        table = render_table(jobs)
        failed = [j for j in jobs if j.get("status") != "completed"]
        md, js = sweep_dir / f"{self.filename}.md", sweep_dir / f"{self.filename}.json"
        md.write_text(f"# Sweep summary: {len(jobs) - len(failed)} of {len(jobs)} jobs completed\n\n{table}\n")
        js.write_text(json.dumps({"sweep_dir": str(sweep_dir), "jobs": jobs}, indent=1, default=str) + "\n")
        print(f"\nsweep summary ({len(jobs) - len(failed)} of {len(jobs)} jobs completed):\n{table}\nwritten to {md} and {js.name}", flush=True)
        if failed:
            lines = [f"{len(failed)} of {len(jobs)} jobs failed:"]
            for j, overrides in zip(jobs, varying([list(job.get("overrides") or []) for job in jobs])):
                if j not in failed:
                    continue
                lines.append(f"  job {j.get('num')} ({' '.join(overrides)}): {j.get('error')}"
                             + (f"; record {j['record']}" if j.get("record") else ""))
            sys.stderr.write("\n".join(lines) + "\n")
            sys.stderr.flush()
            sys.exit(EXIT_FAILED)
