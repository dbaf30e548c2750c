"""One short chaos run against a live cluster: random faults, heal, converge, and a clean check."""
import json

import pytest

from raftzmq.lab.chaos import run_chaos
from cluster_harness import Cluster

pytestmark = pytest.mark.cluster


def test_short_chaos_run_converges_and_checks_clean(tmp_path):
    c = Cluster(tmp_path / "run")
    try:
        result = run_chaos(c.run_dir, nodes=5, duration=6.0, seed=7)
    finally:
        c.cleanup()
    assert not c.live_pids()
    assert sum(result.faults.values()) >= 4, result.faults
    assert result.converged and result.check_ok, result.to_dict()
    assert result.recovery["failovers"] >= 1
    assert json.loads((c.run_dir / "chaos.json").read_text())["seed"] == 7
