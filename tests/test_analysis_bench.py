"""The benchmark JSON -> table and figure (analysis.bench), on a fixture and on the committed GPU measurement."""
import json
import sys
from pathlib import Path

import pytest

from neuroada.analysis.bench import bench_frame, bench_table, write_bench_table
from neuroada.analysis.plots import plot_bench

sys.path.insert(0, str(Path(__file__).parent / "fixtures"))
from fixture_results import fixture_bench  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_bench_frame_reads_model_and_layer_suites(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(fixture_bench()))
    frame = bench_frame([path])
    assert list(frame["shape"].unique()) == ["smollm2-shaped model (8 layers x 576, 16 x 512 tokens)", "llama7b.qkvo (4096x4096, 8192 tokens)"]
    assert frame.loc[frame["method"] == "neuroada", "median_ms"].tolist() == pytest.approx([50.0, 50.0])
    assert set(frame["peak_kind"]) == {"cuda max allocated"}
    table = bench_table(frame)
    assert table.loc[table["Method"] == "lora", "k / r"].iloc[0] == "r=10 (k=20's count)"
    assert table.loc[table["Method"] == "frozen", "k / r"].iloc[0] == "–"
    written = write_bench_table(frame, tmp_path / "tables", "bench", "Fixture")
    md = (tmp_path / "tables" / "bench.md").read_text()
    assert "Fixture GPU" in md and "commit 0123456" in md and "| 2.50 |" in md
    assert {p.suffix for p in written} == {".md", ".tex", ".csv"}
    assert plot_bench(frame, tmp_path / "bench.png").stat().st_size > 0


def test_tracked_total_stands_in_for_the_peak_off_cuda(tmp_path):
    bench = fixture_bench()
    for r in bench["model"]["results"]:
        del r["memory"]["cuda_max_memory_allocated"]
    bench["layers"] = []
    (tmp_path / "cpu.json").write_text(json.dumps(bench))
    frame = bench_frame([tmp_path / "cpu.json"])
    assert set(frame["peak_kind"]) == {"tracked total"}
    assert frame["peak_mib"].tolist() == pytest.approx(frame["tracked_total_mib"].tolist())


@pytest.mark.skipif(not (REPO / "results" / "cuda" / "bench_cuda.json").exists(), reason="no committed GPU benchmark")
def test_committed_gpu_benchmark_has_every_method_against_its_own_frozen_reference():
    frame = bench_frame(sorted((REPO / "results" / "cuda").glob("bench_*.json")))
    for shape, rows in frame.groupby("shape"):
        frozen = rows[rows["method"] == "frozen"]
        assert len(frozen) == 1 and frozen["ratio_to_frozen"].iloc[0] == pytest.approx(1.0), shape
        assert {"lora", "neuroada", "released", "masked", "full"} <= set(rows["method"]), shape
        assert (rows["peak_mib"] > 0).all() and (rows["median_ms"] > 0).all(), shape
