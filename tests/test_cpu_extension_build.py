"""Building the CPU kernels must never hang a run: a build killed midway leaves torch's `lock` file, on which
every later import would wait for ever (a study's next run, a test's subprocess); checkouts with their own
venvs must not rebuild one shared build in turn."""
import os
import sys
import time

import pytest

from neuroada import cpu_extension


def test_a_lock_left_by_a_killed_build_is_removed_and_a_live_one_kept(tmp_path):
    lock = tmp_path / "lock"
    assert cpu_extension.clear_stale_lock(tmp_path) is False  # no build under way
    lock.touch()
    assert cpu_extension.clear_stale_lock(tmp_path) is False and lock.exists()  # a build under way: wait for it
    old = time.time() - cpu_extension.STALE_LOCK_S - 60
    os.utime(lock, (old, old))
    with pytest.warns(UserWarning, match="did not finish"):
        assert cpu_extension.clear_stale_lock(tmp_path) is True
    assert not lock.exists()


def test_each_python_environment_builds_its_own_module(monkeypatch):
    here = cpu_extension._module_name("avx2")
    monkeypatch.setattr(sys, "prefix", sys.prefix + "-another-checkout")
    there = cpu_extension._module_name("avx2")
    assert here != there and here.startswith("neuroada_cpu_avx2_") and here.isidentifier() and there.isidentifier()
