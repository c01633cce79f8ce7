"""The study's tables: main, paper layout, learning rates and the selection ablation."""
from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

import pandas as pd

from ..study import selection_scores
from ..tables import method_label, model_label, task_label
from ._format import MISSING, NOT_RUN, _num, _pm, fmt_lr
from .intervals import IntervalRow, verdict_suffix
from .scores import method_rows
from .spec import LR_TOL, StudySpec


PENDING_MARK = "†"
PENDING_NOTE = (f" {PENDING_MARK}: the method's lr choice on that task is not final yet (its grid partly run or the choice at "
                "its edge, as the lr table says); the cell is the best guess so far and no verdict rests on it.")


def pending_columns(tag: str, benchmarks: Sequence[str], spec: StudySpec, pending: Mapping) -> set:
    """The columns of `benchmarks` whose runs of `tag` sit at an lr choice not final yet (`pending_choices`): a GLUE
    column is its task; every column of a study with `benchmarks` (several test sets of one training task) is
    pending when any of its training tasks is."""
    if spec.benchmarks:
        return set(benchmarks) if any((t, tag) in pending for t in spec.tasks) else set()
    return {b for b in benchmarks if (b, tag) in pending}


def display_method_rows(rows: pd.DataFrame, benchmarks: Sequence[str], spec: StudySpec, latex: bool = False, extra: Sequence[str] = (),
                        pending: Mapping | None = None) -> pd.DataFrame:
    """The display of `method_rows`; with `pending` (`pending_choices`), a cell at an lr choice not final yet, and the
    average over it, carry PENDING_MARK."""
    out = []
    for r in rows.to_dict("records"):
        marked = pending_columns(r["method_tag"], benchmarks, spec, pending or {})
        once = bool(spec.floor_tag) and r["method_tag"] == spec.floor_tag
        if once:  # one evaluation stands at every seed (`floor_records`): no spread, no seed count to show
            r = {**r, **{k: min(v, 1) for k, v in r.items() if k.endswith("_n") or k == "n_seeds"}}
        d = {"Method": r["method"],
             "Trainable params": MISSING if not math.isfinite(r["trainable_params"]) else f"{int(r['trainable_params']):,}",
             "Body (%)": _num(r["body_percent"], ".3f")}
        for b in benchmarks:
            d[task_label(b)] = _pm(r[f"{b}_mean"], r[f"{b}_std"], r[f"{b}_n"], latex) + (PENDING_MARK if b in marked and r[f"{b}_n"] else "")
        if r["n_seeds"]:
            d[spec.suite_label] = _pm(r["avg_mean"], r["avg_std"], r["n_seeds"], latex) + (PENDING_MARK if marked else "")
        else:
            have = sum(r[f"{b}_n"] > 0 for b in benchmarks)
            d[spec.suite_label] = NOT_RUN if have == 0 else f"{MISSING} ({have}/{len(benchmarks)} tasks)"
        seeds = {int(r[f"{b}_n"]) for b in benchmarks}
        d["Seeds"] = "scored once" if once and seeds == {1} else str(seeds.pop()) if len(seeds) == 1 else f"{min(seeds)}-{max(seeds)}"
        for c in extra:
            d[c] = r.get(c, MISSING)
        out.append(d)
    return pd.DataFrame(out)


def main_table(scores: pd.DataFrame, spec: StudySpec, heads: Mapping, memory: pd.DataFrame | None = None) -> pd.DataFrame:
    """`method_rows` of the main methods; with `memory` (`tracked_memory`), each method's tracked training peak
    too: `tracked_peak_gb` and its display column `Tracked peak (GB)`."""
    main = method_rows(scores, spec.main, spec.columns, heads)
    if memory is not None:
        main["tracked_peak_gb"] = main["method_tag"].map(dict(zip(memory["method_tag"], memory["accounted_gb"])))
        main["Tracked peak (GB)"] = main["tracked_peak_gb"].map(lambda v: _num(v, ".2f"))
    return main


MAIN_NOTE = ("Primary metric x 100 on the test half of each seed's re-split dev set (MCC for CoLA, Pearson for STS-B, "
             "accuracy otherwise), mean ± sample std over seeds at each method's chosen lr; only runs at the chosen lr count. "
             "{avg} = mean over the five tasks of each seed with all five, then mean ± std over those seeds. Trainable params: "
             "the count on a two-label task, classification head included (STS-B's head has half the parameters); Body (%) = "
             "(trainable - head) / (all parameters - head), the head being the head-only run's trainable count. "
             "An undefined correlation (constant predictions) counts as 0.")


TRACKED = ("accounted", "parameters", "gradients", "optimizer_state", "activations")


def tracked_memory(records: Iterable[Mapping], tags: Sequence[str]) -> pd.DataFrame:
    """Per method tag: the tracked training peak of its runs (`peak_memory.tracked_bytes`: parameters, gradients,
    optimizer state and saved activations at the step's peak; `accounted` = their sum), mean over runs, in GB."""
    rows = []
    for tag in tags:
        runs = [(r.get("peak_memory") or {}).get("tracked_bytes") for r in records if r.get("method_tag") == tag]
        runs = [t for t in runs if t]
        row = {"method_tag": tag, "runs": len(runs)}
        for key in TRACKED:
            vals = [t[key] for t in runs if t.get(key) is not None]
            row[f"{key}_gb"] = sum(vals) / len(vals) / 1e9 if vals else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["method_tag", "runs", *(f"{k}_gb" for k in TRACKED)])


def paper_table(main: pd.DataFrame, reference: pd.DataFrame, spec: StudySpec, model: str, memory: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's layout: the reported rows of `reference` (other models, `kind` = reported) for the study's
    suite, then ours (mean over seeds) on `model`, each labelled with its source; per benchmark and the average."""
    cols = ["Model", "Method", "Source", *(task_label(b) for b in spec.columns), spec.suite_label, "Tracked peak (GB)"]
    out = []
    ref = reference[(reference["suite"] == spec.reference_suite) & (reference["kind"] == "reported")]
    for (ref_model, tag), g in ref.groupby(["model", "method_tag"], sort=False):
        vals = dict(zip(g["task"], g["value"]))
        out.append({"Model": model_label(ref_model), "Method": method_label(tag), "Source": "reported",
                    **{task_label(b): _num(vals.get(b, math.nan)) for b in spec.columns}, spec.suite_label: _num(vals.get("avg", math.nan)),
                    "Tracked peak (GB)": MISSING})
    mem = {} if memory is None else {r.method_tag: r.accounted_gb for r in memory.itertuples(index=False)}
    for r in main.to_dict("records"):
        out.append({"Model": model_label(model), "Method": r["method"], "Source": f"ours ({r['n_seeds']} seed{'s' * (r['n_seeds'] != 1)})" if r["n_seeds"] else "ours",
                    **{task_label(b): _pm(r[f"{b}_mean"], math.nan, r[f"{b}_n"]) for b in spec.columns},
                    spec.suite_label: _pm(r["avg_mean"], r["avg_std"], r["n_seeds"]) if r["n_seeds"] else NOT_RUN,
                    "Tracked peak (GB)": _num(mem.get(r["method_tag"], math.nan), ".2f")})
    return pd.DataFrame(out, columns=cols)


# ---------------------------------------------------------------------------------------------------------
# learning rates


def lr_table(records: Sequence[Mapping], chosen: pd.DataFrame, spec: StudySpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(long, display): the grid of every (task, main method) and every other tuned tag (2+ lrs), with the
    selection-set score (primary x 100, the run at the tuning seed) of each lr, the choice and the edge flag."""
    scores = selection_scores([r for r in records if r.get("status") == "completed"], seed=spec.tune_seed)
    long_rows, disp = [], []
    tuned_tags = [t for t in spec.main if t not in spec.reuses_lr and t != spec.floor_tag] + sorted(t for t in set(chosen.loc[chosen["source"] == "tuned", "method_tag"]) - set(spec.main)
                                           if len(set(scores.loc[scores["method_tag"] == t, "lr"])) >= 2)
    for tag in tuned_tags:
        for task in spec.tasks:
            g = scores[(scores["task"] == task) & (scores["method_tag"] == tag)].sort_values("lr")
            c = chosen[(chosen["task"] == task) & (chosen["method_tag"] == tag)]
            if g.empty or c.empty:
                disp.append({"Task": task_label(task), "Method": method_label(tag), "Grid (selection-set score)": NOT_RUN,
                             "Chosen lr": MISSING, "Final": MISSING})
                long_rows.append({"task": task, "method_tag": tag, "lr": math.nan, "selection_score": math.nan, "chosen": False,
                                  "at_edge": False, "widen": math.nan, "grid_complete": False, "status": NOT_RUN})
                continue
            c = c.iloc[0]
            cells = []
            for r in g.itertuples(index=False):
                sc = 100 * r.score if math.isfinite(r.score) else math.nan
                is_chosen = math.isclose(r.lr, c.lr, rel_tol=LR_TOL)
                cells.append(f"{fmt_lr(r.lr)}: {_num(sc)}" + ("*" if is_chosen else ""))
                long_rows.append({"task": task, "method_tag": tag, "lr": r.lr, "selection_score": sc, "chosen": is_chosen,
                                  "at_edge": bool(c.at_edge), "widen": c.widen if c.widen is not None else math.nan,
                                  "grid_complete": len(g) >= spec.grid_of(tag), "status": "tuned"})
            disp.append({"Task": task_label(task), "Method": method_label(tag), "Grid (selection-set score)": ", ".join(cells),
                         "Chosen lr": fmt_lr(c.lr), "Final": c.pending or "yes"})  # the ledger's reason, so the two agree
    return pd.DataFrame(long_rows), pd.DataFrame(disp, columns=["Task", "Method", "Grid (selection-set score)", "Chosen lr", "Final"])


LR_NOTE = ("Each lr's score: the primary metric x 100 of the seed-{seed} run's reported checkpoint on the selection half "
           "of the re-split dev set (never the test half); * = chosen (best; ties go to the smaller lr inside the grid, else the smaller). Final: yes, or why the "
           "choice is not final yet: its grid partly run, or the choice at an edge (the "
           "smallest or largest lr tried), so the grid is widened by one more value (same log spacing) before the seeds run; "
           "a flat grid (every lr scored the same, e.g. MCC 0 at all of them) is widened upwards. "
           "Ablation arms not listed run at their parent's choice (selection and k at NeuroAda k=20's, LoRA ranks at LoRA's); "
           "those tuned on their own (GLUE: k 2 and 5, LoRA r 2) are listed once two of their lrs have run.")


# ---------------------------------------------------------------------------------------------------------
# the selection ablation


def selection_table(scores: pd.DataFrame, rows: Sequence[IntervalRow], spec: StudySpec, heads: Mapping, latex: bool = False,
                    pending: Mapping | None = None) -> pd.DataFrame:
    """The C2 ablation: one row per selection at k=20 (magnitude first), per task mean ± std, the average, and
    magnitude minus that selection with its interval and verdict."""
    num = method_rows(scores, spec.selection, spec.columns, heads)
    by_b = {r.b: r for r in rows if r.claim == "C2"}
    deltas, verdicts = [], []
    for tag in spec.selection:
        r = by_b.get(tag)
        if r is None:
            deltas.append("(reference)" if tag == spec.selection[0] else MISSING)
            verdicts.append(MISSING)
            continue
        iv = r.interval
        deltas.append(f"{iv.estimate:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]" if iv is not None and iv.ok else NOT_RUN)
        verdicts.append(r.verdict.status + verdict_suffix(r.verdict))
    num["delta"] = deltas
    num["verdict"] = verdicts
    disp = display_method_rows(num, spec.columns, spec, latex=latex, extra=("delta", "verdict"), pending=pending)
    disp = disp.drop(columns=["Trainable params", "Body (%)"]).rename(columns={"delta": "Magnitude − this (95 % interval)", "verdict": "C2"})
    disp.insert(1, "Selection", [(t.split("-")[2] if t.count("-") >= 2 else "magnitude") for t in spec.selection])
    return disp
