"""Atomic files: a failed or killed writer leaves the old file whole and no temporary behind."""
import gzip
import os
import stat

import pytest

from neuroada.evaluation.result import EvalResult
from neuroada.io_utils import atomic_copy, atomic_path, atomic_write_text


def test_a_failed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    atomic_write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n" and os.listdir(path.parent) == ["file.txt"]


def test_two_writers_of_one_path_get_their_own_temporary_and_the_last_rename_wins(tmp_path):
    path = tmp_path / "shared.txt"
    with atomic_path(path) as a, atomic_path(path) as b:
        assert a != b
        a.write_text("a")
        b.write_text("b")
    assert path.read_text() == "a" and os.listdir(tmp_path) == ["shared.txt"]  # `a` is renamed last (exits last)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_a_copy_is_whole_and_follows_the_umask(tmp_path, umask):
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 100)
    old = os.umask(umask)
    try:
        atomic_copy(src, tmp_path / "out" / "dst.bin")
    finally:
        os.umask(old)
    dst = tmp_path / "out" / "dst.bin"
    assert dst.read_bytes() == src.read_bytes() and stat.S_IMODE(dst.stat().st_mode) == 0o666 & ~umask


def test_compact_predictions_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    result = EvalResult({"accuracy": 1.0}, [{"row": i, "prompt": "p", "output": "x"} for i in range(3)])
    path = result.save_predictions(tmp_path / "after_x.jsonl", compact=True)
    assert path.name == "after_x.jsonl.gz" and gzip.open(path, "rt").read().count("\n") == 3
    bad = EvalResult({"accuracy": 1.0}, [{"row": 0, "output": object()}])  # not JSON: the writer fails mid-way
    with pytest.raises(TypeError):
        bad.save_predictions(tmp_path / "after_x.jsonl", compact=True)
    assert gzip.open(path, "rt").read().count("\n") == 3 and sorted(os.listdir(tmp_path)) == ["after_x.jsonl.gz"]


def test_a_compact_path_that_names_its_gz_is_written_as_named(tmp_path):
    result = EvalResult({"accuracy": 1.0}, [{"row": 0, "prompt": "p", "output": "x"}])
    path = result.save_predictions(tmp_path / "after_x.jsonl.gz", compact=True)
    assert path == tmp_path / "after_x.jsonl.gz" and os.listdir(tmp_path) == ["after_x.jsonl.gz"]
    assert gzip.open(path, "rt").read() == '{"row": 0, "output": "x"}\n'
