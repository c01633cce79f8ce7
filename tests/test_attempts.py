"""A run's wall time over all its attempts (a killed run's relaunches)."""
import json

from neuroada.attempts import FILE, AttemptClock


def test_each_launch_adds_an_attempt_and_the_total_counts_earlier_ones_up_to_their_last_tick(tmp_path):
    first = AttemptClock(tmp_path, started=0.0)  # perf_counter() origin: this attempt has run for a while
    first.tick()
    ran = json.loads((tmp_path / FILE).read_text())[0]["wall_s"]
    assert ran > 0
    second = AttemptClock(tmp_path)  # the relaunch
    assert len(second.attempts) == 2 and ran <= second.total <= ran + second.elapsed + 1e-3
    second.tick()
    assert [a["wall_s"] for a in json.loads((tmp_path / FILE).read_text())][0] == ran


def test_resume_false_and_an_unreadable_file_start_the_count_again(tmp_path):
    AttemptClock(tmp_path, started=0.0)
    assert len(AttemptClock(tmp_path, fresh=True).attempts) == 1
    (tmp_path / FILE).write_text('[{"started": "x", "wall_s": 1')  # cut short by a kill mid-write
    clock = AttemptClock(tmp_path)
    assert len(clock.attempts) == 1 and clock.total < 5  # only this attempt, begun just now


def test_other_ranks_do_not_write(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    AttemptClock(tmp_path).tick()
    assert not (tmp_path / FILE).exists()


def test_each_attempt_names_the_code_it_ran_and_a_resume_on_another_commit_shows(tmp_path):
    from neuroada.attempts import code_version

    assert code_version({"commit": "a" * 40, "dirty": False}) == "a" * 40
    assert code_version({"commit": "a" * 40, "dirty": True}) == "a" * 40 + "+dirty"
    assert code_version({"commit": None, "dirty": None}) == "unknown"
    AttemptClock(tmp_path, git={"commit": "a" * 40, "dirty": False}).tick()
    assert AttemptClock(tmp_path, git={"commit": "a" * 40, "dirty": False}).code_versions == ["a" * 40]  # same code twice
    moved = AttemptClock(tmp_path, git={"commit": "b" * 40, "dirty": False})
    assert moved.code_versions == ["a" * 40, "b" * 40]
    assert [a["code"] for a in json.loads((tmp_path / FILE).read_text())] == ["a" * 40, "a" * 40, "b" * 40]
