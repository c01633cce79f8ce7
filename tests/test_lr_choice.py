"""The study's learning-rate chooser: best lr on the selection set, widening at an edge and on a flat grid,
and the tab-separated line the launchers parse."""
import math

import pandas as pd

from neuroada.analysis import study


def scores(rows):
    return pd.DataFrame(rows, columns=["task", "method_tag", "lr", "score"])


def one(table):
    assert len(table) == 1
    return table.iloc[0]


def test_an_interior_best_is_chosen_and_not_widened():
    r = one(study.choose_lr(scores([("rte", "m", 1e-3, 0.52), ("rte", "m", 3e-3, 0.58), ("rte", "m", 1e-2, 0.55)])))
    assert r.lr == 3e-3 and not r.at_edge and r.widen is None and not r.flat


def test_a_best_at_the_top_edge_is_widened_upwards_with_the_same_log_spacing():
    r = one(study.choose_lr(scores([("rte", "m", 1e-3, 0.52), ("rte", "m", 3e-3, 0.55), ("rte", "m", 1e-2, 0.58)])))
    assert r.lr == 1e-2 and r.at_edge and math.isclose(r.widen, 1e-2 * 1e-2 / 3e-3) and not r.flat


def test_a_best_at_the_bottom_edge_is_widened_downwards():
    r = one(study.choose_lr(scores([("rte", "m", 1e-3, 0.60), ("rte", "m", 3e-3, 0.55), ("rte", "m", 1e-2, 0.50)])))
    assert r.lr == 1e-3 and r.at_edge and math.isclose(r.widen, 1e-3 * 1e-3 / 3e-3)


def test_a_flat_grid_keeps_the_smallest_lr_and_is_widened_upwards():
    """CoLA's MCC at 0 for every lr: the tie rule picks the smallest, but the grid grows towards larger lrs."""
    r = one(study.choose_lr(scores([("cola", "m", 1e-3, 0.0), ("cola", "m", 3e-3, 0.0), ("cola", "m", 1e-2, 0.0)])))
    assert r.lr == 1e-3 and r.flat and r.at_edge and r.widen > 1e-2


def test_the_cli_line_holds_the_fields_the_launchers_read(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(study, "load_records", lambda root: [])
    monkeypatch.setattr(study, "selection_scores", lambda records, seed=1: scores(
        [("cola", "m", 1e-3, 0.0), ("cola", "m", 3e-3, 0.0), ("rte", "m", 1e-3, 0.5), ("rte", "m", 3e-3, 0.6)]))
    assert study.main(["choose", str(tmp_path)]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    cola, rte = lines
    assert cola[:3] == ["cola", "m", "0.001"] and cola[5] == "widen=0.009" and cola[6] == "flat"
    assert rte[:3] == ["rte", "m", "0.003"] and rte[5] == "widen=0.009" and len(rte) == 6


def test_a_tie_between_an_edge_and_an_inner_lr_goes_inside_and_is_not_widened():
    """NeuroAda k=1 on MRPC: the same selection accuracy at the three lowest lrs (the majority class); the old rule
    (the smaller lr) chose the edge and widened downwards onto the same plateau, run after run."""
    r = one(study.choose_lr(scores([("mrpc", "m", 2.7e-4, 0.745), ("mrpc", "m", 9e-4, 0.745), ("mrpc", "m", 3e-3, 0.745),
                                    ("mrpc", "m", 1e-2, 0.725), ("mrpc", "m", 3e-2, 0.730)])))
    assert r.lr == 9e-4 and not r.at_edge and r.widen is None and not r.flat


def test_a_tie_at_both_edges_alone_keeps_the_smaller_lr_and_widens_it():
    r = one(study.choose_lr(scores([("rte", "m", 1e-3, 0.6), ("rte", "m", 3e-3, 0.5), ("rte", "m", 1e-2, 0.6)])))
    assert r.lr == 1e-3 and r.at_edge and math.isclose(r.widen, 1e-3 * 1e-3 / 3e-3) and not r.flat
