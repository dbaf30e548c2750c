"""Plug-in cores on real processes: a core written in tests/ against docs/core-contract.md alone, and the JSON
child-process example, elect and re-elect on a live cluster, and come out of a short chaos run checked clean."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cluster_harness import REPO, Cluster, wait_for
from raftzmq.runtime.cluster.rundir import pid_alive
from raftzmq.evidence.checker import check_run
from raftzmq.lab.live.chaos import run_chaos

pytestmark = pytest.mark.cluster

CONTRACT_CORE = f"{REPO}/tests/contract_core.py:ContractCore"
PAPER = ("--no-prevote", "--no-check-quorum")  # these cores implement the paper's election only


def _children_of(pids: set[int]) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=,ppid=", "-e"], capture_output=True, text=True).stdout.split("\n")
    rows = [tuple(map(int, line.split())) for line in out if line.strip()]
    return {pid for pid, ppid in rows if ppid in pids}


def test_contract_core_runs_a_live_five_node_cluster(tmp_path):
    c = Cluster(tmp_path / "run")
    try:
        c.start("--nodes", "5", "--core", CONTRACT_CORE, *PAPER)
        first = c.wait_leader(timeout=10)
        c.cli("kill", str(first["leader"]))
        second = c.wait_leader(timeout=10, other_than=first["leader"], min_term=first["term"] + 1)
        c.cli("restart", str(first["leader"]))
        c.wait_leader(timeout=10)
    finally:
        c.cleanup()
    assert not c.live_pids()
    assert second["leader"] != first["leader"]
    result = check_run(c.run_dir)
    assert result.ok, result.violations
    assert result.stats["leaders_elected"] >= 2
    assert c.records("node_started") and not c.records("node_failed")


def test_contract_core_under_a_short_chaos(tmp_path):
    c = Cluster(tmp_path / "run")
    try:
        result = run_chaos(c.run_dir, nodes=5, duration=5.0, seed=11, extra=["--core", CONTRACT_CORE, *PAPER])
    finally:
        c.cleanup()
    assert not c.live_pids()
    assert sum(result.faults.values()) >= 3, result.faults
    assert result.converged and result.check_ok, result.to_dict()


def test_jsonl_child_core_runs_a_live_cluster(tmp_path):
    c = Cluster(tmp_path / "run")
    spec = f"exec:{sys.executable} {REPO}/examples/jsonl_core.py"
    try:
        c.start("--nodes", "3", "--core", spec, *PAPER)
        first = c.wait_leader(timeout=10)
        core_pids = _children_of({n["pid"] for n in first["nodes"]})
        assert len(core_pids) == 3  # one core process per node
        c.cli("kill", str(first["leader"]))
        c.wait_leader(timeout=10, other_than=first["leader"], min_term=first["term"] + 1)
    finally:
        c.cleanup()
    assert not c.live_pids()
    # A core process ends with its node (its stdin closes), killed or stopped.
    wait_for(lambda: not any(pid_alive(p) for p in core_pids), 5, "the core processes to exit")
    assert check_run(c.run_dir).ok


BREAKS_AS_LEADER = '''
from raftzmq.protocol import ElectionCore, Event


class BreaksAsLeader(ElectionCore):
    """Correct until it leads; then it claims a durable write it never asked for (a reserved event)."""

    def tick(self, now):
        out = super().tick(now)
        if self.role == "leader":
            out.events.append(Event("state_persisted", self.term, {"voted_for": self.id}))
        return out
'''


def test_a_core_that_breaks_the_contract_live_stops_its_node_with_the_rule_not_a_traceback(tmp_path):
    core = tmp_path / "breaks.py"
    core.write_text(BREAKS_AS_LEADER)
    c = Cluster(tmp_path / "run")
    try:
        # Whether `start` still sees a leader before they fail does not matter here.
        c.cli("start", "--detach", "--run-dir", str(c.run_dir), "--nodes", "3", "--core", f"{core}:BreaksAsLeader",
              check=False)
        failed = wait_for(lambda: [n for n in c.status()["nodes"] if n["failed"]], 15, "a node to fail")
    finally:
        c.cleanup()
    assert "written by the embedding" in failed[0]["failed"]
    records = c.records("node_failed", node=failed[0]["id"])
    assert records and "state_persisted" in records[0]["reason"]
    exited = [r for r in c.records("node_exited") if r["node"] == failed[0]["id"]]
    assert exited and exited[0]["code"] == 5
    assert "Traceback" not in (c.run_dir / f"node-{failed[0]['id']}.err").read_text()
