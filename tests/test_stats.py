"""Paired bootstrap statistics (neuroada.analysis.stats) and the GLUE study's report (neuroada.analysis.study_report)."""
from __future__ import annotations

import gzip
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import f1_score, matthews_corrcoef

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from fixture_results import GLUE_EDGE, GLUE_STUDY_ARMS, GLUE_STUDY_TASKS, glue_study_record, make_glue_study_fixture  # noqa: E402

from neuroada.analysis import load_records, stats  # noqa: E402
from neuroada.analysis import study_report as sr  # noqa: E402
from neuroada.analysis.stats import Interval, Items, Verdict  # noqa: E402
from neuroada.analysis.tables.render import render_latex  # noqa: E402
from neuroada.tasks.metrics import glue_metrics  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TASKS = {"cola": "matthews_correlation", "sst2": "accuracy", "stsb": "pearson"}


def cell(metric, pred, gold, keys=None) -> Items:
    pred, gold = np.asarray(pred, float), np.asarray(gold, float)
    keys = np.arange(len(gold)) if keys is None else np.asarray(keys)
    correct = (pred == gold).astype(float) if metric != "pearson" else None
    return Items(metric, keys, pred, gold, correct)


def synthetic(methods: dict, seeds=(1, 2, 3), n=200, rng_seed=0, tasks=TASKS) -> dict:
    """(method, seed, task) -> Items; methods: name -> probability of a right answer (classification) or noise
    sd (STS-B is gold + noise x (1 - p) x 4)."""
    rng = np.random.default_rng(rng_seed)
    out = {}
    for s in seeds:
        for t, metric in tasks.items():
            gold = rng.uniform(0, 5, n) if metric == "pearson" else (rng.random(n) < 0.65).astype(float)
            for m, p in methods.items():
                if metric == "pearson":
                    pred = gold + rng.normal(0, 4 * (1 - p) + 1e-9, n)
                else:
                    pred = np.where(rng.random(n) < p, gold, 1 - gold)
                out[(m, s, t)] = cell(metric, pred, gold)
    return out


# ---------------------------------------------------------------- metrics are recomputed, not averaged


@pytest.mark.parametrize("metric", ["matthews_correlation", "pearson", "accuracy", "f1"])
def test_weighted_metric_equals_the_metric_of_the_resampled_items(metric):
    """A bootstrap replicate (item weights = draw counts) scores exactly as the library metric on the repeated items."""
    rng = np.random.default_rng(3)
    n = 120
    gold = rng.uniform(0, 5, n) if metric == "pearson" else (rng.random(n) < 0.6).astype(float)
    preds = np.stack([gold + rng.normal(0, 1, n), gold + rng.normal(0, 2, n)]) if metric == "pearson" else \
        np.stack([np.where(rng.random(n) < p, gold, 1 - gold) for p in (0.8, 0.6)])
    correct = (preds == gold).astype(float)
    w = stats._weights(rng, 5, n)
    assert (w.sum(1) == n).all()
    got = stats._metric(metric, preds, gold, correct, w)
    for r in range(5):
        idx = np.repeat(np.arange(n), w[r].astype(int))
        for m in range(2):
            p, g = preds[m][idx], gold[idx]
            want = {"matthews_correlation": lambda: matthews_corrcoef(g, p), "pearson": lambda: pearsonr(p, g)[0],
                    "accuracy": lambda: (p == g).mean(), "f1": lambda: f1_score(g, p, zero_division=0.0)}[metric]()
            assert got[m, r] == pytest.approx(want, abs=1e-10)


def test_mcc_is_not_the_mean_of_per_item_scores_and_matches_glue_metrics():
    gold = [1, 1, 1, 1, 0, 0, 1, 0, 1, 1]
    pred = [1, 1, 1, 0, 0, 1, 1, 0, 1, 1]
    c = cell("matthews_correlation", pred, gold)
    want = glue_metrics("cola", pred, gold)["matthews_correlation"]
    assert c.score() == pytest.approx(want)
    assert abs(c.score() - np.mean(np.equal(pred, gold))) > 0.1


def test_undefined_correlations_count_as_zero():
    assert cell("pearson", [2.0] * 5, [1, 2, 3, 4, 5]).score() == 0.0
    assert cell("matthews_correlation", [1] * 6, [1, 0, 1, 0, 1, 1]).score() == 0.0


def test_multiclass_mcc_matches_sklearn():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 3, 90)
    pred = np.where(rng.random(90) < 0.7, gold, rng.integers(0, 3, 90))
    assert cell("matthews_correlation", pred, gold).score() == pytest.approx(matthews_corrcoef(gold, pred))


# ---------------------------------------------------------------- the paired bootstrap


def test_identical_methods_give_an_interval_at_zero():
    items = synthetic({"a": 0.8})
    for key in list(items):
        items[("b", *key[1:])] = items[key]
    iv = stats.paired_difference(items, "a", "b", n_boot=300)
    assert iv.estimate == 0 and iv.low == 0 and iv.high == 0  # paired: the same items on every resample
    assert stats.verdict_c1(iv).status == stats.SUPPORTED  # lower bound 0 > -1: non-inferior
    assert stats.verdict_c2(iv).status == stats.UNDECIDED  # neither above nor below 0


def test_equally_good_independent_methods_give_an_interval_around_zero():
    iv = stats.paired_difference(synthetic({"a": 0.8, "b": 0.8}, n=300), "a", "b", n_boot=500)
    assert iv.low < 0 < iv.high
    assert stats.verdict_c2(iv).status == stats.UNDECIDED


def test_a_method_better_on_every_item_gives_a_positive_interval():
    items = synthetic({"b": 0.7})
    for (m, s, t), c in list(items.items()):
        items[("a", s, t)] = cell(c.metric, c.gold, c.gold)  # always right (Pearson 1)
    iv = stats.paired_difference(items, "a", "b", n_boot=500)
    assert iv.low > 0 and iv.estimate > 10
    assert stats.verdict_c1(iv).status == stats.SUPPORTED and stats.verdict_c2(iv).status == stats.SUPPORTED
    rev = stats.paired_difference(items, "b", "a", n_boot=500)
    assert rev.high < 0 and rev.low <= -1
    assert stats.verdict_c1(rev).status == stats.NOT_SUPPORTED and stats.verdict_c2(rev).status == stats.NOT_SUPPORTED


def test_observed_difference_is_the_mean_over_seeds_of_task_averages():
    items = synthetic({"a": 0.85, "b": 0.75}, seeds=(1, 2))
    iv = stats.paired_difference(items, "a", "b", n_boot=10)
    want = np.mean([np.mean([100 * (items[("a", s, t)].score() - items[("b", s, t)].score()) for t in TASKS]) for s in (1, 2)])
    assert iv.estimate == pytest.approx(want)


def test_bootstrap_is_reproducible_with_a_seed():
    items = synthetic({"a": 0.8, "b": 0.75})
    one = stats.paired_difference(items, "a", "b", n_boot=200, rng_seed=7)
    two = stats.paired_difference(items, "a", "b", n_boot=200, rng_seed=7)
    other = stats.paired_difference(items, "a", "b", n_boot=200, rng_seed=8)
    np.testing.assert_array_equal(one.replicates, two.replicates)
    assert (one.low, one.high) == (two.low, two.high)
    assert not np.array_equal(one.replicates, other.replicates)


def test_seeds_are_resampled():
    """Seed 1: a far better; seed 2: b far better; many items. Item resampling alone would give a narrow interval
    around 0; resampling seeds spreads the replicates to both seeds' differences."""
    items = {}
    rng = np.random.default_rng(1)
    gold = (rng.random(2000) < 0.5).astype(float)
    for s, (pa, pb) in ((1, (0.9, 0.6)), (2, (0.6, 0.9))):
        for m, p in (("a", pa), ("b", pb)):
            items[(m, s, "sst2")] = cell("accuracy", np.where(rng.random(2000) < p, gold, 1 - gold), gold)
    iv = stats.paired_difference(items, "a", "b", n_boot=400)
    assert abs(iv.estimate) < 3
    assert iv.low < -20 and iv.high > 20  # replicates that drew the same seed twice


def test_items_are_paired_by_row_and_resampled_within_each_seed():
    """The runs list their items in different orders: pairing goes by `row`."""
    gold = np.array([1, 0, 1, 1, 0, 1, 0, 0] * 10, float)
    order = np.random.default_rng(0).permutation(len(gold))
    a = cell("accuracy", gold, gold)
    b = cell("accuracy", gold[order], gold[order], keys=order)  # the same (right) answers, listed in another order
    rows = [{"row": int(k), "prediction": int(p), "gold": int(g), "correct": bool(p == g)} for k, p, g in zip(order, gold[order], gold[order])]
    b2 = stats.items_from_rows(rows, "accuracy")
    np.testing.assert_array_equal(b2.keys, np.arange(len(gold)))
    iv = stats.paired_difference({("a", 1, "t"): a, ("b", 1, "t"): b2}, "a", "b", n_boot=50)
    assert iv.low == iv.high == 0
    del b


def test_missing_cells_leave_seeds_out_and_make_the_verdict_undecided():
    items = synthetic({"a": 0.9, "b": 0.6})
    del items[("b", 3, "cola")]
    iv = stats.paired_difference(items, "a", "b", n_boot=100, seeds=(1, 2, 3), benchmarks=list(TASKS))
    assert iv.seeds == (1, 2) and iv.missing == (("b", 3, "cola"),)
    v = stats.verdict_c1(iv)
    assert v.status == stats.UNDECIDED and "missing runs (b: cola s3)" in v.reason
    none = stats.paired_difference(items, "a", "zzz", n_boot=10, seeds=(1,), benchmarks=["cola"])
    assert not none.ok and stats.verdict_c2(none).status == stats.UNDECIDED


def test_ratio_interval_for_c3():
    items = synthetic({"k20": 0.9, "k1": 0.88, "floor": 0.6}, n=400)
    iv = stats.ratio_interval(items, "k1", "k20", "floor", n_boot=400)
    assert 0.8 < iv.estimate < 1.0 and iv.low < iv.estimate < iv.high
    assert iv.denominator.low > 0
    same = stats.ratio_interval({**items, **{("k1", s, t): c for (m, s, t), c in items.items() if m == "k20"}}, "k1", "k20", "floor", n_boot=100)
    assert same.estimate == pytest.approx(1.0) and same.low == pytest.approx(1.0) and same.high == pytest.approx(1.0)
    assert stats.verdict_c3(same).status == stats.SUPPORTED
    flat = stats.ratio_interval(synthetic({"k20": 0.6, "k1": 0.6, "floor": 0.6}), "k1", "k20", "floor", n_boot=200)
    v = stats.verdict_c3(flat)
    assert v.status == stats.UNDECIDED and "does not clearly beat the floor" in v.reason


def test_two_thousand_replicates_over_five_tasks_three_seeds_500_items_take_seconds():
    tasks = {"cola": "matthews_correlation", "sst2": "accuracy", "mrpc": "accuracy", "stsb": "pearson", "rte": "accuracy"}
    items = synthetic({"a": 0.85, "b": 0.8}, n=500, tasks=tasks)
    start = time.perf_counter()
    iv = stats.paired_difference(items, "a", "b", n_boot=2000)
    elapsed = time.perf_counter() - start
    assert iv.ok and len(iv.replicates) == 2000
    assert elapsed < 30, elapsed  # ~0.5 s on a quiet core; generous for a shared machine


# ---------------------------------------------------------------- decision rules at their boundaries


def iv(lo, hi, est=None, den=None) -> Interval:
    est = (lo + hi) / 2 if est is None else est
    return Interval(est, lo, hi, 0.95, 100, (1, 2, 3), ("cola",), (), np.zeros(0), den)


@pytest.mark.parametrize("lo,hi,status", [(-0.99, 2.0, "supported"), (-0.5, -0.1, "supported"), (-1.0, -0.1, "not supported"),
                                          (-3.0, -1.5, "not supported"), (-1.5, 0.5, "undecided"), (-1.0, 0.0, "undecided")])
def test_c1_rule(lo, hi, status):
    assert stats.verdict_c1(iv(lo, hi)).status == status


@pytest.mark.parametrize("lo,hi,status", [(0.01, 2.0, "supported"), (0.0, 2.0, "undecided"), (-2.0, -0.01, "not supported"),
                                          (-2.0, 0.0, "undecided"), (-1.0, 1.0, "undecided")])
def test_c2_rule(lo, hi, status):
    assert stats.verdict_c2(iv(lo, hi)).status == status


@pytest.mark.parametrize("lo,hi,den_lo,status", [(0.9, 1.1, 5.0, "supported"), (0.5, 0.899, 5.0, "not supported"),
                                                 (0.85, 0.95, 5.0, "undecided"), (0.95, 1.0, 0.0, "undecided")])
def test_c3_rule(lo, hi, den_lo, status):
    assert stats.verdict_c3(iv(lo, hi, den=iv(den_lo, 10.0))).status == status


def test_missing_interval_and_combination():
    assert stats.verdict_c1(None).status == stats.UNDECIDED
    s, n, u = Verdict(stats.SUPPORTED, ""), Verdict(stats.NOT_SUPPORTED, ""), Verdict(stats.UNDECIDED, "")
    assert stats.combine_verdicts([s, s]) == stats.SUPPORTED
    assert stats.combine_verdicts([s, u]) == stats.UNDECIDED
    assert stats.combine_verdicts([u, n, s]) == stats.NOT_SUPPORTED
    assert stats.combine_verdicts([]) == stats.UNDECIDED


# ---------------------------------------------------------------- loading predictions


def test_load_items_reads_compact_and_full_predictions(tmp_path):
    rows = [{"index": i, "row": 10 - i, "prediction": i % 2, "gold": 1, "correct": i % 2 == 1} for i in range(6)]
    rec = {"run_id": "r", "status": "completed", "task": "sst2", "suite": "glue", "method_tag": "m", "seed": 1, "primary_metric": "accuracy",
           "metrics": {"validation": {"accuracy": 0.5}, "test": {"accuracy": 0.5}}, "selection": {"set": "validation"},
           "_path": str(tmp_path / "record.json")}
    (tmp_path / "predictions").mkdir()
    with gzip.open(tmp_path / "predictions" / "after_test.jsonl.gz", "wt") as h:
        h.writelines(json.dumps(r) + "\n" for r in rows)
    got = stats.load_items(rec)
    assert list(got) == ["sst2"] and got["sst2"].score() == 0.5 and list(got["sst2"].keys) == [5, 6, 7, 8, 9, 10]
    (tmp_path / "predictions" / "after_test.jsonl.gz").unlink()
    (tmp_path / "predictions" / "after_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert stats.load_items(rec)["sst2"].score() == 0.5
    gen = dict(rec, suite="commonsense", task="commonsense15k", metrics={"boolq": {"accuracy": 0.5}, "validation": {}})
    (tmp_path / "predictions" / "after_boolq.jsonl").write_text("".join(json.dumps({"index": i, "extracted": "x", "gold": "y", "correct": i < 3}) + "\n" for i in range(6)))
    assert stats.load_items(gen)["boolq"].score() == 0.5  # generation rows: `correct`, no numeric prediction


# ---------------------------------------------------------------- the GLUE study report on the synthetic study


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = make_glue_study_fixture(tmp_path_factory.mktemp("results"))
    records = load_records(root)
    chosen = sr.chosen_lrs(records, sr.GLUE_STUDY)
    ledger = sr.run_ledger(records, chosen, sr.GLUE_STUDY)
    counted = [r for r, keep in zip(records, ledger["counted"]) if keep]
    return {"root": root, "records": records, "chosen": chosen, "ledger": ledger, "counted": counted, "scores": sr.scores_frame(counted)}


def test_fixture_study_records_have_the_pipelines_schema():
    import ast

    tree = ast.parse((REPO / "src" / "neuroada" / "pipeline.py").read_text())
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "record" for t in node.targets) and isinstance(node.value, ast.Dict):
            keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
    assert {"selection", "resplit_seed", "metrics"} <= keys
    method, grid, chosen, skill, body = GLUE_STUDY_ARMS["neuroada-k20"]
    rec, preds = glue_study_record("cola", "neuroada-k20", 1, grid[chosen], skill, body, method)
    assert keys <= set(rec), keys - set(rec)
    assert set(preds) == {"after_test", "after_validation"} and set(preds["after_test"][0]) == {"index", "row", "prediction", "gold", "correct"}


def test_recomputed_scores_equal_the_records_metrics(study):
    for rec in study["counted"]:
        items = stats.load_items(rec)
        assert set(items) == {rec["task"]}
        assert items[rec["task"]].score() == pytest.approx(rec["metrics"]["test"][rec["primary_metric"]], abs=1e-9)


def test_lr_choices_ledger_and_heads(study):
    chosen = study["chosen"].set_index(["task", "method_tag"])
    assert chosen.loc[("rte", "lora-rmatchk20"), "at_edge"] and chosen.loc[("rte", "lora-rmatchk20"), "lr"] == 3e-3
    assert chosen.loc[("cola", "neuroada-k20"), "lr"] == 3e-3 and not chosen.loc[("cola", "neuroada-k20"), "at_edge"]
    assert chosen.loc[("rte", "lora-r4"), "source"] == "lora-rmatchk20's choice" and chosen.loc[("rte", "lora-r4"), "lr"] == 3e-3
    assert chosen.loc[("sst2", "neuroada-k20-random"), "lr"] == 3e-3
    edges = chosen[chosen["at_edge"]].index.tolist()
    assert edges == [GLUE_EDGE]
    ledger = study["ledger"]
    assert (ledger["status"] == "failed").sum() == 1
    assert ledger["counted"].sum() == 5 * (5 * 3 + 2 * 3)  # 5 tasks x (5 tuned arms + 2 followers) x 3 seeds
    assert set(ledger.loc[~ledger["counted"] & (ledger["status"] == "completed"), "reason"]) == {"tuning run at an lr not chosen"}
    summary = sr.ledger_summary(ledger, sr.incomplete_runs(study["root"]))
    assert "1 failed" in summary and "1 run folder(s) without a record" in summary and "another commit" not in summary
    resumed = ledger.copy()
    resumed.loc[resumed["counted"].idxmax(), "code_versions"] = 2  # paused on one commit, finished on the next
    assert "1 counted run(s) were resumed on another commit" in sr.ledger_summary(resumed)
    assert "trained again" not in summary
    again = ledger.copy()
    again.loc[again.index[again["counted"]][:2], "retrained"] = ["reproduced", "differs"]  # checkpoints gone: trained again
    assert ("2 counted run(s) were trained again to score their test sets (the tuning run's checkpoint was gone); 1 of them "
            "did not reproduce the selection score") in sr.ledger_summary(again)
    assert sr.head_params(study["scores"]) == {"cola": 770, "sst2": 770, "mrpc": 770, "rte": 770, "stsb": 385}


def test_head_size_comes_from_the_records_when_they_name_it(study):
    """Records since session 7 carry `head_params` (MiniLM: pooler + classifier), which beats the classifier-only fallback."""
    scores = study["scores"].copy()
    pooler_and_classifier = (384 * 384 + 384) + (384 * 2 + 2)
    scores.loc[scores["task"] == "cola", "head_params"] = pooler_and_classifier
    heads = sr.head_params(scores)
    assert heads["cola"] == pooler_and_classifier and heads["stsb"] == 385


def test_main_table_and_claims(study):
    spec = sr.GLUE_STUDY
    heads = sr.head_params(study["scores"])
    main = sr.main_table(study["scores"], spec, heads).set_index("method_tag")
    assert main.loc["neuroada-k20", "body_params"] == 20 * 20_736 and main.loc["full", "body_percent"] == pytest.approx(100)
    assert main.loc["head_only", "body_percent"] == 0 and main.loc["neuroada-k20", "n_seeds"] == 3
    disp = sr.display_method_rows(main.reset_index(), spec.tasks, spec)
    assert (disp.set_index("Method").loc["DoRA (r matched to k=20)"] == "not run yet").sum() == 6
    items = stats.collect_items(study["counted"])
    rows = sr.interval_rows(items, spec)
    by = {(r.claim, r.b): r for r in rows}
    assert by[("C2", "neuroada-k20-random")].interval.estimate > 0  # magnitude's skill is higher in the fixture
    assert "missing runs" in by[("C1", "dora-rmatchk20")].verdict.reason
    assert by[("C3", "neuroada-k20")].verdict.status in (stats.SUPPORTED, stats.NOT_SUPPORTED, stats.UNDECIDED)
    claims = sr.claim_sentences(rows, spec)
    assert set(claims) == {"C1", "C2", "C3"}
    assert claims["C1"][0] == stats.UNDECIDED and "missing runs (dora-rmatchk20: every run)" in claims["C1"][1]
    assert claims["C2"][0] == stats.UNDECIDED and "neuroada-k20-gradient: every run" in claims["C2"][1]
    assert claims["C3"][0] != stats.UNDECIDED or "missing" not in claims["C3"][1]
    sel = sr.selection_table(study["scores"], rows, spec, heads)
    assert list(sel["Selection"]) == ["magnitude", "reverse", "random", "gradient"]
    pts = sr.frontier_points(study["scores"], spec)
    assert set(pts["size"]) == {"k=1", "k=20", "r=4", "r=match k=20"} and (pts["n_seeds"] == 3).all()


def test_the_frontier_axis_names_parameter_counts_even_within_one_decade(study):
    """The study's points span less than a decade (~40k-190k on GLUE): a plain log axis then shows no label at all."""
    import matplotlib.pyplot as plt

    scores = study["scores"][study["scores"]["trainable_params"] > 100_000]  # the fixture's k=1 point is a decade below
    pts = sr.frontier_points(scores, sr.GLUE_STUDY)
    assert len(pts) >= 2 and pts["params"].max() < 10 * pts["params"].min()
    fig = sr.frontier_figure(scores, sr.GLUE_STUDY)
    ax = fig.axes[0]
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    shown = [t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi and t.get_text()]
    plt.close(fig)
    assert len(shown) >= 2 and all(t[-1] in "kMB" or t[-1].isdigit() for t in shown), shown
    assert sr.figures._param_count(45_000) == "45k" and sr.figures._param_count(1_500_000) == "1.5M"


def test_a_choice_not_final_is_marked_and_decides_no_verdict(study):
    """LoRA's RTE choice sits at its grid's top (GLUE_EDGE): its runs still count, but its cells carry †, every run at
    its choice (and at LoRA ranks that inherit it) is flagged, and the C1 verdict against LoRA is undecided for it."""
    spec = sr.GLUE_STUDY
    pending = sr.pending_choices(study["chosen"])
    assert set(pending) == {GLUE_EDGE, ("rte", "lora-r4")}
    assert pending[GLUE_EDGE].startswith("at the grid's edge: widen to 9e-3")
    assert pending[("rte", "lora-r4")].startswith("lora-rmatchk20's choice not final")
    ledger = study["ledger"]
    flagged = ledger[ledger["lr_pending"] != ""]
    assert set(zip(flagged["task"], flagged["method_tag"])) == set(pending) and flagged["counted"].all()
    assert "6 counted run(s), in 2 (task, method) cell(s), are at an lr choice not final yet" in sr.ledger_summary(ledger)

    heads = sr.head_params(study["scores"])
    main = sr.main_table(study["scores"], spec, heads)
    plain = sr.display_method_rows(main, spec.tasks, spec).set_index("Method")
    disp = sr.display_method_rows(main, spec.tasks, spec, pending=pending).set_index("Method")
    lora, k20 = "LoRA (r matched to k=20)", "NeuroAda (k=20)"
    assert disp.loc[lora, "RTE"] == plain.loc[lora, "RTE"] + "†" and disp.loc[lora, "GLUE avg"].endswith("†")
    assert disp.loc[lora, "CoLA"] == plain.loc[lora, "CoLA"] and disp.loc[k20].equals(plain.loc[k20])
    tex = render_latex(sr.display_method_rows(main, spec.tasks, spec, latex=True, pending=pending))
    assert tex.count(r"$^\dagger$") == 2 and r"\textbackslash{}dagger" not in tex

    items = stats.collect_items(study["counted"])
    before = {(r.claim, r.b): r.verdict for r in sr.interval_rows(items, spec)}
    rows = sr.interval_rows(items, spec, pending)
    after = {(r.claim, r.b): r.verdict for r in rows}
    assert "interval" in before[("C1", "lora-rmatchk20")].reason  # the runs alone: a verdict from the interval ...
    assert after[("C1", "lora-rmatchk20")].status == stats.UNDECIDED  # ... but none rests on a choice that may move
    assert after[("C1", "lora-rmatchk20")].reason.startswith("lr not final (lora-rmatchk20 rte: at the grid's edge")
    assert after[("C2", "neuroada-k20-random")] == before[("C2", "neuroada-k20-random")]  # no pending method in it
    assert after[("C1", "dora-rmatchk20")] == before[("C1", "dora-rmatchk20")]  # missing runs keep their verdict
    _, shown = sr.intervals_frame(rows, spec)
    assert (shown["Verdict"] == "undecided (lr not final)").sum() == 1

    partial = [r for r in study["records"] if not (r["task"] == "cola" and r["method_tag"] == "neuroada-k20" and r["seed"] == 1
                                                  and r["config"]["trainer"]["lr"] == 1e-2)]
    assert sr.pending_choices(sr.chosen_lrs(partial, spec))[("cola", "neuroada-k20")] == "2 of 3 lrs run"

    # the status table: one row per main arm, the same † on the lr, and each arm's comparisons with their verdicts
    status = sr.status_table(main, study["chosen"], rows, spec, pending).set_index("Method")
    assert list(status.index) == list(plain.index)
    lrs = status.loc[lora, "lr (CoLA / SST-2 / MRPC / STS-B / RTE)"].split(" / ")
    assert lrs[-1].endswith("†") and not lrs[0].endswith("†") and "†" not in status.loc[k20, "lr (CoLA / SST-2 / MRPC / STS-B / RTE)"]
    assert status.loc[lora, "GLUE avg"] == disp.loc[lora, "GLUE avg"]
    against = f"{k20} − it, 95 % interval (verdict)"
    assert status.loc[lora, against].startswith("+") or status.loc[lora, against].startswith("-")
    assert status.loc[lora, against].endswith("] (C1: undecided (lr not final))")
    assert status.loc[k20, against] == "–" and status.loc[k20, "Other comparisons"] == "–"  # listed under the other arms
    assert status.loc["Head only", against].endswith("(context)")
    k1 = status.loc["NeuroAda (k=1)", "Other comparisons"]
    assert "(C3: " in k1 and "NeuroAda (k=1) − LoRA (r=1): " in k1 and status.loc["NeuroAda (k=1)", against].endswith("(context)")
    assert "NeuroAda (k=1) − LoRA (r=1): " in status.loc["LoRA (r=1)", "Other comparisons"]

    # the lr table's Final column gives the same reason, for the same (task, method) pairs
    _, lr_disp = sr.lr_table(study["records"], study["chosen"], spec)
    final = {(r.Task, r.Method): r.Final for r in lr_disp.itertuples(index=False)}
    assert final[("RTE", lora)] == pending[GLUE_EDGE] and final[("CoLA", lora)] == "yes" and final[("RTE", k20)] == "yes"


def test_report_from_no_records_says_not_run_yet(tmp_path):
    spec = sr.GLUE_STUDY
    chosen = sr.chosen_lrs([], spec)
    ledger = sr.run_ledger([], chosen, spec)
    scores = sr.scores_frame([])
    main = sr.display_method_rows(sr.main_table(scores, spec, {}), spec.tasks, spec)
    assert (main["GLUE avg"] == "not run yet").all()
    _, lr = sr.lr_table([], chosen, spec)
    assert (lr["Grid (selection-set score)"] == "not run yet").all()
    rows = sr.interval_rows({}, spec)
    claims = sr.claim_sentences(rows, spec)
    assert all(status == stats.UNDECIDED and "missing runs" in text for status, text in claims.values())
    assert sr.ledger_summary(ledger).startswith("0 run records")
    assert sr.plot_frontier(scores, spec, tmp_path / "f.png").stat().st_size > 0
    assert sr.plot_curves([], spec, tmp_path / "c.png").stat().st_size > 0
    assert math.isnan(sr.suite_averages(scores, spec.tasks)["avg"].mean()) or sr.suite_averages(scores, spec.tasks).empty


def test_glue_tasks_of_the_fixture_match_the_spec():
    assert tuple(GLUE_STUDY_TASKS) == sr.GLUE_STUDY.tasks


def test_items_shared_by_every_seed_are_drawn_once_per_replicate_not_once_per_seed():
    """A fixed test set (the decoder study's): an item effect common to all seeds must not shrink as if each seed
    brought new items. Here a beats b on the same 10 of 50 items in every seed: the seeds agree, so the interval
    is that of one seed's 50 items, not of 150 independent ones (sqrt(3) narrower)."""
    n, seeds = 50, (1, 2, 3)
    a = [1] * 30 + [0] * 20
    b = [1] * 20 + [0] * 30

    def cells(keys_of):
        out = {}
        for s in seeds:
            keys = keys_of(s)
            for m, correct in (("a", a), ("b", b)):
                out[(m, s, "set")] = stats.items_from_rows([{"index": k, "correct": bool(c)} for k, c in zip(keys, correct)], "accuracy",
                                                           run_id=f"{m}{s}")
        return out

    crossed = stats.paired_difference(cells(lambda s: list(range(n))), "a", "b", n_boot=4000)
    nested = stats.paired_difference(cells(lambda s: list(range(100 * s, 100 * s + n))), "a", "b", n_boot=4000)
    assert crossed.estimate == pytest.approx(20) and nested.estimate == pytest.approx(20)
    width = lambda iv: iv.high - iv.low  # noqa: E731
    assert width(crossed) / width(nested) == pytest.approx(math.sqrt(3), rel=0.15)
    one_seed = stats.paired_difference({k: v for k, v in cells(lambda s: list(range(n))).items() if k[1] == 1}, "a", "b", n_boot=4000)
    assert width(crossed) == pytest.approx(width(one_seed), rel=0.15)


def test_seeds_to_decide_projects_an_undecided_interval_and_leaves_decided_or_incomplete_ones_alone():
    iv = lambda d, lo, hi, seeds=(1, 2, 3), missing=(): stats.Interval(d, lo, hi, 0.95, 2000, seeds, ("rte",), missing)  # noqa: E731
    # GLUE's NeuroAda - LoRA: supported once d - lo = 1.94 shrinks below d + 1 = 0.53 (3 x 3.66^2 = 40.2 -> 41 seeds);
    # not supported once hi - d = 2.03 shrinks below 0.47 (56 seeds): the sooner of the two
    assert stats.seeds_to_decide(iv(-0.47, -2.41, 1.56), margin=1.0) == 41
    assert stats.seeds_to_decide(iv(-0.47, -2.41, 1.56), margin=None) == 56  # C2: only 'below 0' can decide it
    assert stats.seeds_to_decide(iv(0.5, -0.5, 1.5), margin=None) == 13  # C2: 3 x (1.0 / 0.5)^2 = 12 -> 13
    assert stats.seeds_to_decide(iv(1.15, -0.68, 3.05), margin=1.0) is None  # decided: supported
    assert stats.seeds_to_decide(iv(-2.0, -3.0, -1.0), margin=1.0) is None  # decided: not supported
    assert stats.seeds_to_decide(iv(-0.5, -2.0, 1.0, missing=(("lora", 2, "rte"),)), margin=1.0) is None  # runs missing
