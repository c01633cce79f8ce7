"""The decoder study's report (study_report.DECODER_STUDY, MATH_STUDY) on its synthetic fixture: DoRA at LoRA's
choice, the untrained floor from a method=untrained run or else the one run that evaluated before training, no C2, the reported rows beside ours;
arithmetic scored on every test item and on the items not trained on."""
import sys
from pathlib import Path

import pytest

from neuroada.analysis import load_records, load_reference
from neuroada.analysis import stats
from neuroada.analysis import study_report as sr
from neuroada.analysis.study import selection_scores

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from fixture_results import DECODER_ITEMS, DECODER_UNTRAINED_SKILL, MATH_TRAINED, make_decoder_study_fixture, untrained_record  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPEC = sr.DECODER_STUDY
MATH = sr.MATH_STUDY


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    records = load_records(make_decoder_study_fixture(tmp_path_factory.mktemp("results")))
    chosen = sr.chosen_lrs(records, SPEC)
    ledger = sr.run_ledger(records, chosen, SPEC)
    counted = [r for r, keep in zip(records, ledger["counted"]) if keep]
    return records, chosen, counted


def test_dora_takes_loras_choice_and_is_not_tuned(study):
    _, chosen, counted = study
    dora = chosen[chosen["method_tag"] == sr.DORA].iloc[0]
    lora = chosen[chosen["method_tag"] == sr.LORA].iloc[0]
    assert dora["lr"] == lora["lr"] == pytest.approx(1e-3) and dora["source"] == f"{sr.LORA}'s choice"
    assert sorted(r["seed"] for r in counted if r["method_tag"] == sr.DORA) == [1, 2]


def test_untrained_floor_comes_from_the_before_pass_at_every_seed(study):
    _, _, counted = study
    floor = sr.floor_records(counted, SPEC)
    assert [f["seed"] for f in floor] == list(SPEC.seeds)
    assert all(f["method_tag"] == sr.UNTRAINED and f["trainable_params"] == 0 for f in floor)
    scores = sr.scores_frame(floor)
    assert set(scores["benchmark"]) == set(SPEC.columns)
    assert scores["score"].tolist() == pytest.approx([100 * DECODER_UNTRAINED_SKILL] * len(scores))
    items = stats.collect_items(floor)  # read at the records' `scored_phase`: the before pass, not the DoRA run's after
    assert set(items) == {(sr.UNTRAINED, s, b) for s in SPEC.seeds for b in SPEC.columns}
    assert [i.score() for i in items.values()] == pytest.approx([DECODER_UNTRAINED_SKILL] * len(items), abs=1 / DECODER_ITEMS)
    assert stats.collect_items(floor, phase="after")[(sr.UNTRAINED, 1, SPEC.columns[0])].score() != pytest.approx(DECODER_UNTRAINED_SKILL, abs=1 / DECODER_ITEMS)
    assert sr.floor_records([r for r in counted if not r.get("metrics_before")], SPEC) == []


def test_a_method_untrained_run_is_the_floor_before_any_before_pass(study):
    """Where a study has both, the run of its own (its after pass) is the floor, not a trained run's before pass."""
    _, _, counted = study
    own, _ = untrained_record(arithmetic=False)
    floor = sr.floor_records([*counted, own], SPEC)
    assert [f["seed"] for f in floor] == list(SPEC.seeds) and {f["run_id"] for f in floor} == {own["run_id"]}
    assert all(f["scored_phase"] == "after" and f["metrics"] == own["metrics"] for f in floor)
    assert sr.floor_records([{**own, "status": "failed"}, *counted], SPEC)[0]["scored_phase"] == "before"


def test_claims_are_c1_and_c3_only_and_c3_uses_the_untrained_floor(study):
    _, _, counted = study
    floor = sr.floor_records(counted, SPEC)
    items = stats.collect_items([*(r for r in counted if r["method_tag"] in SPEC.table_tags), *floor])
    rows = sr.interval_rows(items, SPEC)
    claims = sr.claim_sentences(rows, SPEC)
    assert set(claims) == {"C1", "C3"}
    c3 = next(r for r in rows if r.claim == "C3")
    assert c3.interval.ok and c3.interval.denominator.estimate == pytest.approx(100 * (round(0.62 * DECODER_ITEMS) - round(DECODER_UNTRAINED_SKILL * DECODER_ITEMS)) / DECODER_ITEMS)
    assert "masked" in claims["C1"][1].lower()  # the masked comparison is listed as not run yet
    assert "Untrained" in sr.intervals_note(SPEC) and "C2" not in sr.intervals_note(SPEC)


def test_paper_table_puts_reported_rows_first_and_labels_them(study):
    _, _, counted = study
    floor = sr.floor_records(counted, SPEC)
    scores = sr.scores_frame(counted + floor)
    main = sr.main_table(scores, SPEC, sr.head_params(scores))
    memory = sr.tracked_memory(counted, SPEC.main)
    table = sr.paper_table(main, load_reference(REPO / "results" / "reference"), SPEC, "smollm2-135m", memory)
    reported = table[table["Source"] == "reported"]
    assert len(reported) >= 4 and (table.index[table["Source"] == "reported"] < table.index[table["Source"] != "reported"].min()).all()
    ours = table[table["Source"] != "reported"]
    assert len(ours) == len(SPEC.main) and ours["Model"].nunique() == 1
    assert ours.loc[ours["Method"] == "NeuroAda (k=20)", "Tracked peak (GB)"].iloc[0] != "–"
    assert main.loc[main["method_tag"] == sr.UNTRAINED, "body_percent"].iloc[0] == 0


def test_intervals_and_claims_pages_returned_are_the_pages_written(study, tmp_path):
    _, _, counted = study
    items = stats.collect_items(r for r in counted if r["method_tag"] in SPEC.table_tags)
    rows, intervals_md, claims_md = sr.write_intervals_and_claims(tmp_path, items, SPEC, "Intervals", "Claims", "n runs")
    assert intervals_md == (tmp_path / f"{SPEC.name}_intervals.md").read_text()
    assert claims_md == (tmp_path / f"{SPEC.name}_claims.md").read_text()
    assert intervals_md.startswith("**Intervals**") and sr.intervals_note(SPEC) in intervals_md
    assert len(rows) == len((tmp_path / f"{SPEC.name}_intervals.csv").read_text().splitlines()) - 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{SPEC.name}_{n}" for n in ("intervals.md", "intervals.csv", "claims.md"))


# --- the arithmetic half (study_report.MATH_STUDY): the same records folder, task math10k, one seed


@pytest.fixture(scope="module")
def math_study(tmp_path_factory):
    records = load_records(make_decoder_study_fixture(tmp_path_factory.mktemp("results")))
    ledger = sr.run_ledger(records, sr.chosen_lrs(records, MATH), MATH)
    counted = [r for r, keep in zip(records, ledger["counted"]) if keep]
    return records, ledger, counted


def test_math_study_counts_only_the_arithmetic_runs_of_the_shared_folder(math_study):
    records, ledger, counted = math_study
    assert MATH.runs_folder == SPEC.runs_folder == "decoder_study" and MATH.name != SPEC.name
    assert {r["task"] for r in counted} == {"math10k"}
    assert sorted(r["method_tag"] for r in counted) == sorted(t for t in MATH.main if t != sr.UNTRAINED and t != "masked-k20")
    commonsense = ledger[ledger["task"] == "commonsense15k"]
    assert len(commonsense) and (commonsense["reason"] == "of another task (commonsense15k)").all()
    floor = sr.floor_records(records, MATH)
    assert [f["seed"] for f in floor] == [1] and floor[0]["task"] == "math10k"
    # the arithmetic floor is a method=untrained run: no lr to choose, not counted, marked as the floor
    assert floor[0]["method"] == "untrained" and floor[0]["scored_phase"] == "after" and not floor[0]["metrics_before"]
    (row,) = ledger[ledger["method_tag"] == sr.UNTRAINED].itertuples()
    assert row.floor and not row.counted and row.task == "math10k"
    assert sr.UNTRAINED not in set(sr.chosen_lrs(records, MATH)["method_tag"])
    assert sr.UNTRAINED not in set(selection_scores(records)["method_tag"])  # what the launcher's `study choose` reads
    summary = sr.ledger_summary(ledger)
    assert "1 of the untrained model (the floor row)" in summary and "discarded: 1 the untrained" not in summary


def _accuracy_without(record, eval_set, phase, dropped):
    rows = stats.read_predictions(stats.predictions_path(record, eval_set, phase))
    kept = [r for r in rows if r["row"] not in dropped]
    return 100 * sum(r["correct"] for r in kept) / len(kept)


def test_scores_without_trained_items_are_rescored_from_the_predictions(math_study):
    records, _, counted = math_study
    floor = sr.floor_records(records, MATH)
    every = sr.scores_frame(counted + floor)
    unseen = sr.scores_frame(counted + floor, drop_trained=True)
    k20 = next(r for r in counted if r["method_tag"] == sr.K20)
    for name, keys in MATH_TRAINED.items():
        cell = lambda frame, tag: frame.loc[(frame["method_tag"] == tag) & (frame["benchmark"] == name), "score"].item()  # noqa: E731
        assert cell(unseen, sr.K20) == pytest.approx(_accuracy_without(k20, name, "after", set(keys)))
        assert cell(unseen, sr.K20) < cell(every, sr.K20)  # the fixture's runs recall every trained question
        assert cell(unseen, sr.UNTRAINED) == pytest.approx(_accuracy_without(floor[0], name, floor[0]["scored_phase"], set(keys)))
    untouched = [b for b in MATH.columns if b not in MATH_TRAINED]
    pick = lambda frame: frame[frame["benchmark"].isin(untouched)].sort_values(["method_tag", "benchmark"])["score"].tolist()  # noqa: E731
    assert pick(unseen) == pick(every)


def test_items_without_trained_questions_stay_paired_across_methods(math_study):
    _, _, counted = math_study
    items = stats.collect_items(counted, drop_trained=True)
    for name, keys in MATH_TRAINED.items():
        cells = [c for (_, _, b), c in items.items() if b == name]
        assert cells and all(len(c) == DECODER_ITEMS - len(keys) and not set(c.keys) & set(keys) for c in cells)
    rows = sr.interval_rows(items, MATH)
    lora = next(r for r in rows if r.b == sr.LORA)
    assert lora.interval.ok and lora.verdict is not None


def test_dropping_trained_items_needs_records_that_list_them(math_study):
    _, _, counted = math_study
    old = {k: v for k, v in counted[0].items() if k != "trained_questions"}
    with pytest.raises(ValueError, match="trained_questions"):
        stats.collect_items([old], drop_trained=True)
    assert stats.collect_items([old])  # scoring every item does not need the field


def test_a_chosen_tuning_run_counts_only_once_its_test_sets_are_scored(study):
    records, chosen, counted = study
    run = next(r for r in counted if r["seed"] == SPEC.tune_seed and r["method_tag"] == sr.LORA)
    deferred = [{**r, "eval_scope": "selection"} if r is run else r for r in records]
    ledger = sr.run_ledger(deferred, chosen, SPEC).set_index("run_id")
    assert not ledger.loc[run["run_id"], "counted"]
    assert ledger.loc[run["run_id"], "reason"].startswith("test sets not scored yet")
    assert int(ledger["counted"].sum()) == len(counted) - 1
    assert "1 test sets not scored yet" in sr.ledger_summary(ledger.reset_index())
    later = {"created": run["created"], "retrained": True, "tuning_selection_score": 0.4, "selection_score_reproduced": False}
    again = sr.run_ledger([{**r, "test_scored_later": later} if r is run else r for r in records], chosen, SPEC)
    assert again.set_index("run_id").loc[run["run_id"], "retrained"] == "differs" and (again["retrained"] != "").sum() == 1
    assert "1 of them did not reproduce the selection score" in sr.ledger_summary(again)


def test_main_table_shows_the_untrained_model_as_scored_once(study):
    """The floor stands at every seed for the paired intervals, but the table must not claim two seeds and a
    zero spread for one evaluation."""
    _, _, counted = study
    floor = sr.floor_records(counted, SPEC)
    scores = sr.scores_frame(counted + floor)
    shown = sr.display_method_rows(sr.main_table(scores, SPEC, sr.head_params(scores)), SPEC.columns, SPEC)
    untrained = shown[shown["Method"] == "Untrained (no fine-tuning)"].iloc[0]
    assert untrained["Seeds"] == "scored once"
    assert not any("±" in str(untrained[c]) for c in shown.columns)
    trained = shown[shown["Method"] == "NeuroAda (k=20)"].iloc[0]
    assert trained["Seeds"] == str(len(SPEC.seeds)) and "±" in trained[SPEC.suite_label]
