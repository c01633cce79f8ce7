"""Which runs count: the chosen lrs, the ledger of every record, and its one-line summary."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from .. import result_paths
from ..records import load_records
from ..study import choose_lr, selection_scores
from ._format import fmt_lr
from .scores import UNTRAINED_METHOD
from .spec import LR_TOL, StudySpec


def _lr(rec: Mapping) -> float:
    try:
        return float(rec["config"]["trainer"]["lr"])
    except (KeyError, TypeError, ValueError):
        return math.nan


def chosen_lrs(records: Sequence[Mapping], spec: StudySpec) -> pd.DataFrame:
    """One row per (task, method_tag) seen among the completed records: `lr` (nan when none can be chosen yet),
    `score` (selection-set score of the tuning-seed run at that lr, primary metric x 100), `grid`, `at_edge`,
    `widen`, `flat` (every lr tried scored the same), `source` (`tuned` or `<parent>'s choice`), `pending` (why the choice
    is not final yet: its grid partly run, at the grid's edge, flat, or its parent's pending; "" when final)."""
    cols = ["task", "method_tag", "lr", "score", "grid", "at_edge", "widen", "flat", "source", "pending"]
    completed = [r for r in records if r.get("status") == "completed" and not _floor_run(r, spec)]  # no lr to choose
    own = choose_lr(selection_scores(completed, seed=spec.tune_seed))
    own = {(r.task, r.method_tag): r for r in own.itertuples(index=False)}
    pairs = sorted({(r.get("task"), r.get("method_tag")) for r in completed})
    rows = []

    def pending(task, tag):
        r = own[(task, tag)]
        if len(r.grid) < spec.grid_of(tag):
            return f"{len(r.grid)} of {spec.grid_of(tag)} lrs run"
        if r.flat:
            return f"flat grid: widen to {fmt_lr(r.widen)}"
        return f"at the grid's edge: widen to {fmt_lr(r.widen)}" if r.at_edge else ""

    def own_row(task, tag):
        r = own[(task, tag)]
        return {"task": task, "method_tag": tag, "lr": r.lr, "score": 100 * r.score if math.isfinite(r.score) else math.nan,
                "grid": list(r.grid), "at_edge": bool(r.at_edge), "widen": r.widen, "flat": bool(r.flat), "source": "tuned",
                "pending": pending(task, tag)}

    for task, tag in pairs:
        parent = next((p for rx, p in spec.inherit_lr if re.fullmatch(rx, tag) and p != tag), None)
        tuned_own = (task, tag) in own and tag not in spec.reuses_lr and (len(own[(task, tag)].grid) >= 2 or tag in spec.main or parent is None)
        if tuned_own:
            rows.append(own_row(task, tag))
        elif parent is not None and (task, parent) in own:
            p = own[(task, parent)]
            parent_pending = pending(task, parent)
            rows.append({"task": task, "method_tag": tag, "lr": p.lr, "score": math.nan, "grid": [p.lr], "at_edge": False,
                         "widen": None, "flat": False, "source": f"{parent}'s choice",
                         "pending": f"{parent}'s choice not final ({parent_pending})" if parent_pending else ""})
        elif (task, tag) in own:
            rows.append(own_row(task, tag))
        else:
            rows.append({"task": task, "method_tag": tag, "lr": math.nan, "score": math.nan, "grid": [], "at_edge": False,
                         "widen": None, "flat": False, "source": "not tuned yet", "pending": "not tuned yet"})
    return pd.DataFrame(rows, columns=cols)


def pending_choices(chosen: pd.DataFrame) -> dict:
    """(task, method_tag) -> why its lr choice is not final yet, for every such pair of `chosen_lrs`. Runs at such a
    choice still count (they are the best guess so far), but tables mark them and no verdict rests on them."""
    return {(r.task, r.method_tag): r.pending for r in chosen.itertuples(index=False) if r.pending}


def _floor_run(rec: Mapping, spec: StudySpec) -> bool:
    """A method=untrained run of the study's floor: it trained nothing, so it has no lr and stands at every seed."""
    return bool(spec.floor_tag) and rec.get("method") == UNTRAINED_METHOD


def run_ledger(records: Sequence[Mapping], chosen: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """One row per record: run_id, task, method_tag, seed, lr, status, counted, floor, reason. A run counts when it
    completed, belongs to the study's tables, is at its (task, method)'s chosen lr, has scored its test sets (a
    tuning run with eval_test=false has not), and is the latest such run of its (task, method, seed). A completed
    method=untrained run is the floor (`floor`; `floor_records` puts it at every seed), not a counted run."""
    lr_of = {(r.task, r.method_tag): r.lr for r in chosen.itertuples(index=False)}
    pending = pending_choices(chosen)
    rows = []
    for rec in records:
        task, tag, lr = rec.get("task"), rec.get("method_tag"), _lr(rec)
        row = {"run_id": rec.get("run_id"), "task": task, "method_tag": tag, "seed": rec.get("seed"), "lr": lr,
               "status": rec.get("status"), "created": str(rec.get("created", "")), "counted": False, "floor": False, "reason": "",
               "code_versions": len(rec.get("attempt_code") or [None]),  # >1: resumed on another commit
               # trained again to score its test sets (its tuning checkpoint was gone): "reproduced" or "differs"
               "retrained": _retrained(rec),
               "lr_pending": ""}  # a counted run at a choice not final yet: why it is not
        want = lr_of.get((task, tag), math.nan)
        if rec.get("status") != "completed":
            row["reason"] = f"not completed ({rec.get('status')})"
        elif task not in spec.tasks:
            row["reason"] = f"of another task ({task})"
        elif not spec.in_study(tag):
            row["reason"] = "not part of the study's tables"
        elif _floor_run(rec, spec):
            row["floor"], row["reason"] = True, "the untrained model: the floor row at every seed (floor_records)"
        elif not math.isfinite(want):
            row["reason"] = "no chosen lr yet"
        elif not math.isclose(lr, want, rel_tol=LR_TOL):
            row["reason"] = "tuning run at an lr not chosen" if rec.get("seed") == spec.tune_seed else f"not at the chosen lr ({fmt_lr(want)})"
        elif rec.get("eval_scope") == "selection":
            row["reason"] = "test sets not scored yet (a tuning run: its seeds phase scores them)"
        else:
            row["counted"], row["lr_pending"] = True, pending.get((task, tag), "")
        rows.append(row)
    ledger = pd.DataFrame(rows, columns=["run_id", "task", "method_tag", "seed", "lr", "status", "created", "counted", "floor", "reason",
                                         "code_versions", "retrained", "lr_pending"])
    if not ledger.empty:  # one run per (task, method, seed): the latest
        counted = ledger[ledger["counted"]].sort_values("created")
        dup = counted.duplicated(["task", "method_tag", "seed"], keep="last")
        ledger.loc[dup[dup].index, ["counted", "reason", "lr_pending"]] = [False, "superseded by a later run", ""]
    return ledger


@dataclass
class StudyRuns:
    records: list
    chosen: pd.DataFrame
    ledger: pd.DataFrame
    incomplete: list
    summary: str
    counted: list  # the records that count (completed, at the chosen lr, the latest of their cell)
    pending: dict  # `pending_choices`: (task, method_tag) -> why its lr choice is not final yet


def load_study(root: str | Path, spec: StudySpec) -> StudyRuns:
    """Every record under `root`, the lr choices, the ledger of which runs count, and its one-line summary."""
    records = load_records(root)
    chosen = chosen_lrs(records, spec)
    ledger = run_ledger(records, chosen, spec)
    incomplete = incomplete_runs(root)
    counted = [rec for rec, keep in zip(records, ledger["counted"]) if keep] if len(ledger) else []
    return StudyRuns(records, chosen, ledger, incomplete, ledger_summary(ledger, incomplete), counted, pending_choices(chosen))


def open_study(spec: StudySpec, paths=None) -> tuple:
    """(results folders, `load_study` of `<runs>/<spec.runs_folder>`), printing where it reads them."""
    paths = paths or result_paths()
    root = paths.runs / spec.runs_folder
    print(paths)
    print("study records:", root)
    return paths, load_study(root, spec)


def incomplete_runs(root: str | Path) -> list[str]:
    """Run folders under `root` without a record (running, interrupted, or failed before writing one)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and not (p / "record.json").is_file())


def ledger_summary(ledger: pd.DataFrame, incomplete: Sequence[str] = ()) -> str:
    """`N records: C completed (K counted, D discarded: ...), F failed; I run folders without a record`, and how
    many counted runs were trained by more than one code version (paused, then resumed on another commit)."""
    if ledger.empty:
        return f"0 run records yet; {len(incomplete)} run folder(s) without a record (running or interrupted)."
    completed = ledger["status"] == "completed"
    floor = int(ledger["floor"].sum())
    discarded = ledger[completed & ~ledger["counted"] & ~ledger["floor"]]
    reasons = discarded["reason"].str.replace(r" \(.*\)$", "", regex=True).value_counts()
    why = ", ".join(f"{n} {r}" for r, n in reasons.items())
    return (f"{len(ledger)} run records: {int(completed.sum())} completed ({int(ledger['counted'].sum())} counted, "
            + (f"{floor} of the untrained model (the floor row), " if floor else "") + f"{len(discarded)} discarded"
            + (f": {why}" if why else "") + f"), {int((~completed).sum())} failed; {len(incomplete)} run folder(s) without a record "
            "(running or interrupted)." + _pending_text(ledger) + _mixed_code_text(ledger) + _retrained_text(ledger))


def _pending_text(ledger: pd.DataFrame) -> str:
    at = ledger[ledger["counted"] & (ledger["lr_pending"] != "")]
    if at.empty:
        return ""
    cells = at[["task", "method_tag"]].drop_duplicates()
    return (f" {len(at)} counted run(s), in {len(cells)} (task, method) cell(s), are at an lr choice not final yet "
            "(marked †; no verdict rests on them).")


def _retrained(rec: Mapping) -> str:
    later = rec.get("test_scored_later") or {}
    if not later.get("retrained"):
        return ""
    return "reproduced" if later.get("selection_score_reproduced") else "differs"


def _retrained_text(ledger: pd.DataFrame) -> str:
    again = ledger[ledger["counted"] & (ledger["retrained"] != "")]
    if again.empty:
        return ""
    differs = int((again["retrained"] == "differs").sum())
    return (f" {len(again)} counted run(s) were trained again to score their test sets (the tuning run's checkpoint was gone); "
            f"{differs} of them did not reproduce the selection score their lr was chosen on (`test_scored_later` in the record).")


def _mixed_code_text(ledger: pd.DataFrame) -> str:
    mixed = int((ledger["counted"] & (ledger["code_versions"] > 1)).sum())
    return (f" {mixed} counted run(s) were resumed on another commit than they began on (`attempt_code` in the record)."
            if mixed else "")
