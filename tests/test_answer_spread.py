"""Answer spread: a run that gives one answer to every item is seen as such, beside the best constant answer."""
import gzip
import json

import pytest

from neuroada.analysis.answer_spread import answer_spread, collapsed_share, spread_table

GOLD = ["answer1"] * 5 + ["answer2"] * 3 + ["answer3"] * 2  # the best constant answer scores 50 %


def run_record(tmp_path, tag, seed, answers):
    run = tmp_path / f"{tag}_{seed}"
    (run / "predictions").mkdir(parents=True)
    with gzip.open(run / "predictions" / "after_arc_easy.jsonl.gz", "wt") as f:
        for i, (a, g) in enumerate(zip(answers, GOLD)):
            f.write(json.dumps({"index": i, "row": 10 + i, "extracted": a, "gold": g, "correct": a == g}) + "\n")
    return {"run_id": run.name, "_path": str(run / "record.json"), "status": "completed", "method_tag": tag, "seed": seed,
            "suite": "commonsense", "task": "commonsense15k", "metrics": {"arc_easy": {"accuracy": 0.0}, "validation": {}},
            "selection": {"set": "validation"}}


def test_a_constant_answer_shows_as_a_full_share_and_scores_its_gold_frequency(tmp_path):
    collapsed = run_record(tmp_path, "neuroada-k20", 1, ["answer2"] * 10)
    varied = run_record(tmp_path, "lora-rmatchk20", 1, GOLD[:8] + [None, "answer1"])
    spread = answer_spread([collapsed, varied])
    by = spread.set_index("method_tag")
    assert by.loc["neuroada-k20", "top_share"] == 100 and by.loc["neuroada-k20", "accuracy"] == pytest.approx(30)
    assert by.loc["neuroada-k20", "distinct"] == 1 and by.loc["neuroada-k20", "top_answer"] == "answer2"
    assert by.loc["lora-rmatchk20", "top_share"] == 60 and by.loc["lora-rmatchk20", "distinct"] == 3  # answer1, answer2 and None (nothing extracted)
    assert by.loc["lora-rmatchk20", "accuracy"] == pytest.approx(80)
    assert (spread["constant_accuracy"] == 50).all() and list(spread["benchmark"]) == ["arc_easy", "arc_easy"]
    assert collapsed_share(spread) == (1, 2)
    table = spread_table(spread, ["neuroada-k20", "neuroada-k1", "lora-rmatchk20"], ["arc_easy"])
    assert list(table["Method"]) == ["NeuroAda (k=20)", "LoRA (r matched to k=20)", "Best constant answer (same items)"]
    assert list(table["ARC-e"]) == ["30.0 (100 %)", "80.0 (60 %)", "50.0"]


def test_sets_without_predictions_and_the_selection_set_are_left_out(tmp_path):
    rec = run_record(tmp_path, "full", 2, GOLD)
    rec["metrics"]["boolq"] = {"accuracy": 0.5}  # no predictions file
    spread = answer_spread([rec])
    assert list(spread["benchmark"]) == ["arc_easy"] and spread_table(spread.iloc[0:0], ["full"], ["arc_easy"]).empty


def test_on_a_set_of_mixed_formats_the_constant_is_one_answer_per_format():
    from neuroada.analysis.answer_spread import answer_format, best_constant_correct

    assert [answer_format(g) for g in ("answer3", "option1", "solution2", "ending4", "true", "false", "0", "12.5", "B")] == [
        "answer", "option", "solution", "ending", "word", "word", "number", "number", "word"]
    golds = ["answer1"] * 3 + ["answer2"] * 2 + ["solution2"] * 2 + ["solution1"] + ["true"] + ["false"] * 2
    assert best_constant_correct(golds) == 3 + 2 + 2  # answer1, solution2, false
    assert best_constant_correct(["1", "0", "1"]) == 2  # GLUE's class indices: one format


def test_agreement_pairs_methods_on_a_seed_and_seeds_of_a_method_never_both_differing(tmp_path):
    from neuroada.analysis.answer_spread import agreement_table, answer_agreement
    same = ["answer1"] * 8 + ["answer2", "answer3"]
    runs = [run_record(tmp_path, "neuroada-k20", 1, same), run_record(tmp_path, "neuroada-k1", 1, same),
            run_record(tmp_path, "neuroada-k20", 2, GOLD), run_record(tmp_path, "neuroada-k1", 3, GOLD)]
    agreement = answer_agreement(runs)
    pairs = {(r.method_a, r.seed_a, r.method_b, r.seed_b): r for r in agreement.itertuples()}
    assert set(pairs) == {("neuroada-k20", 1, "neuroada-k1", 1), ("neuroada-k20", 1, "neuroada-k20", 2),
                          ("neuroada-k1", 1, "neuroada-k1", 3)}  # k20 s2 vs k1 s3: neither shared, left out
    alike = pairs[("neuroada-k20", 1, "neuroada-k1", 1)]
    assert alike.agree == 100 and alike.chance == pytest.approx(100 * (0.8 ** 2 + 0.1 ** 2 + 0.1 ** 2)) and alike.n == 10
    seeds = pairs[("neuroada-k20", 1, "neuroada-k20", 2)]  # same answers on items 0-4 (answer1) and 9 (answer3)
    assert seeds.agree == pytest.approx(60) and seeds.chance == pytest.approx(100 * (0.8 * 0.5 + 0.1 * 0.3 + 0.1 * 0.2))
    table = agreement_table(agreement, "neuroada-k20", ["neuroada-k20", "neuroada-k1"], ["arc_easy"])
    assert list(table["Runs compared"]) == ["NeuroAda (k=20) vs NeuroAda (k=1), same seed", "NeuroAda (k=20), one seed vs another",
                                            "NeuroAda (k=1), one seed vs another"]
    assert list(table["ARC-e"]) == ["100 (66)", "60 (45)", "60 (45)"] and table["All"][0] == "100.0 (66.0)"
    assert list(table["Pairs"]) == [1, 1, 1]
