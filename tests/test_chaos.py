"""A 60 s chaos run with a fixed seed and every fault kind against a live cluster (issue 10, "Must show"): the
schedule is the seed's, the faults really happened (failpoint crashes and disk errors included), the check is
clean and one leader is agreed after healing; nothing is left running."""
import json

import pytest

from raftzmq.lab.live.chaos import run_chaos
from raftzmq.lab.live.nemesis import NEMESES, plan
from raftzmq.runtime.node.process import EXIT_STORAGE
from cluster_harness import Cluster, cluster_session

pytestmark = pytest.mark.cluster

SEED, DURATION = 20261136, 60.0  # a seed whose minute holds every kind at least 4 times


def test_a_minute_of_every_fault_kind_checks_clean_and_converges(tmp_path):
    with cluster_session(tmp_path / "run", check=False) as c:  # the run checks itself: result.check_ok
        result = run_chaos(c.run_dir, nodes=5, duration=DURATION, seed=SEED, kinds=NEMESES)
    assert result.converged and result.check_ok, result.violations
    assert set(NEMESES) <= set(result.faults), result.faults
    saved = json.loads((c.run_dir / "chaos.json").read_text())
    assert saved["seed"] == SEED and saved["schedule"] == [a.to_dict() for a in plan(SEED, 5, DURATION, NEMESES)]
    exits = [r for r in c.records("node_exited")]
    killed = {r["pid"] for r in c.records("node_killed")}
    assert [r for r in exits if r["code"] == EXIT_STORAGE], "no disk fault took effect"
    assert [r for r in exits if r["code"] == -9 and r["pid"] not in killed], "no failpoint crash took effect"
    assert result.recovery["failovers"] >= 5
    assert 0 < result.recovery["longest_leaderless_with_majority_s"] < DURATION


@pytest.mark.parametrize("where", ["chaos", "scenario"])
def test_a_run_that_fails_midway_still_stops_every_process(tmp_path, monkeypatch, where):
    from raftzmq.lab.live import chaos, scenario
    from raftzmq.runtime.cluster.rundir import RunDir

    def boom(*args, **kwargs):
        raise RuntimeError("a nemesis bug")

    if where == "chaos":
        monkeypatch.setattr(chaos.Executor, "run", boom)
        run = lambda run_dir: run_chaos(run_dir, nodes=3, duration=5.0, seed=1)  # noqa: E731
    else:
        monkeypatch.setattr(scenario._Script, "run", boom)
        run = lambda run_dir: scenario.double_vote(run_dir)  # noqa: E731
    c = Cluster(tmp_path / "run")
    try:
        with pytest.raises(RuntimeError, match="a nemesis bug"):
            run(c.run_dir)
        assert RunDir(c.run_dir).live_supervisor() is None  # stopped by the run itself, not by this cleanup
        assert c.pids() and not c.live_pids()
    finally:
        c.cleanup()
