import math

import pytest

from neuroada.tasks.metrics import accuracy, glue_metrics, primary_metric


def test_accuracy():
    assert accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    assert math.isnan(accuracy([], []))


def test_cola_matthews():
    metrics = glue_metrics("cola", [1, 1, 0, 0, 1], [1, 0, 0, 0, 1])
    # tp=2 fp=1 tn=2 fn=0 -> (4 - 0) / sqrt(3 * 2 * 2 * 3)
    assert metrics["matthews_correlation"] == pytest.approx(4 / 6)
    assert metrics["accuracy"] == pytest.approx(0.8)
    assert glue_metrics("cola", [1, 1, 1], [1, 0, 1])["matthews_correlation"] == 0.0  # constant prediction


def test_mrpc_and_qqp_report_f1_of_the_positive_class():
    for task in ("mrpc", "qqp"):
        metrics = glue_metrics(task, [1, 1, 0, 0], [1, 0, 1, 0])
        assert metrics == {"accuracy": 0.5, "f1": pytest.approx(0.5)}
    assert "f1" not in glue_metrics("sst2", [1], [1])


def test_stsb_pearson_and_spearman():
    metrics = glue_metrics("stsb", [0.0, 1.0, 2.0, 10.0], [1.0, 2.0, 3.0, 4.0])
    assert metrics["spearmanr"] == pytest.approx(1.0)
    assert 0.8 < metrics["pearson"] < 0.95
    assert math.isnan(glue_metrics("stsb", [1.0, 1.0, 1.0], [1.0, 2.0, 3.0])["pearson"])


def test_primary_metric():
    assert primary_metric("cola") == "matthews_correlation"
    assert primary_metric("stsb") == "pearson"
    assert primary_metric("rte") == "accuracy"
