"""KV reads on live clusters: ReadIndex (the default) gives a linearizable history without a log entry per read,
and the stale-read mutant store (`--reads stale`: every node answers gets from its own store) gives one the
checker rejects with a minimal window.

The workload is lab/live/workload.py's; each process writes through a client that finds the leader and reads
through a client pinned to a follower (what a store that spreads reads over its replicas does). With ReadIndex
the follower refuses and names the leader, so the read is served by the leader; the mutant answers from the
follower's store, which learns each commit one AppendEntries later than the leader. Bounded waits, no sleeps."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cluster_harness import Cluster, cluster_session
from raftzmq.client import Client
from raftzmq.evidence.history import read_history
from raftzmq.evidence.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, check_history
from raftzmq.lab.live.workload import generate, run_live
from raftzmq.protocol.kvstore import Command
from raftzmq.runtime.cluster.propose import node_info

pytestmark = pytest.mark.cluster


def _endpoints(c: Cluster) -> dict[int, str]:
    doc = json.loads((c.run_dir / "cluster.json").read_text())
    return {int(k): v for k, v in doc["client_endpoints"].items()}


class SplitClient:
    """Writes to the leader (found by the client), gets to one follower's endpoint first."""

    def __init__(self, run_dir: Path, follower_endpoint: str, seed: int) -> None:
        self.writer = Client(str(run_dir), timeout=5.0, seed=seed)
        self.reader = Client(follower_endpoint, timeout=5.0, seed=seed + 1000)

    def execute(self, cmd: Command) -> Any:
        return (self.reader if cmd.op == "get" else self.writer).execute(cmd)

    def close(self) -> None:
        self.writer.close()
        self.reader.close()


def _workload(c: Cluster, path: Path, *, seed: int, duration: float, rate: float, keys: int) -> None:
    leader = c.wait_leader(timeout=10)["leader"]
    eps = _endpoints(c)
    followers = [eps[n] for n in sorted(eps) if n != leader]
    clients = [SplitClient(c.run_dir, followers[p % len(followers)], seed * 100 + p) for p in range(4)]
    try:
        with path.open("w") as out:
            run_live(clients, generate(seed, 4, keys, rate=rate, duration=duration,
                                       mix={"get": 0.5, "put": 0.3, "append": 0.2}), out, duration, drain_s=6.0)
    finally:
        for cl in clients:
            cl.close()


@pytest.mark.parametrize("reads", ["index", "lease"])
def test_index_and_lease_reads_give_a_linearizable_history_without_a_log_entry_per_read(tmp_path, reads):
    """ReadIndex (the default), and lease reads with clocks that agree: linearizable, no entry per read."""
    with cluster_session(tmp_path / "run") as c:
        c.start("--nodes", "3", "--reads", reads)
        path = tmp_path / "history.jsonl"
        _workload(c, path, seed=3, duration=3.0, rate=120, keys=2)
        history = read_history(path)
        result = check_history(history)
        assert result.verdict == LINEARIZABLE, result.to_dict()
        gets = [op for op in history.operations if op.f == "get" and op.status == "ok"]
        writes = [op for op in history.operations if op.f != "get"]
        assert len(gets) >= 50
        last = max(r.index for r in node_info(_endpoints(c), timeout_s=2.0).values())
        # entries: the writes, a session registration per writer, no-ops; none for the reads
        assert last <= len(writes) + 4 + 3, (last, len(writes), len(gets))


def test_the_stale_read_mutant_store_is_rejected_with_a_minimal_window(tmp_path):
    """`--reads stale` on a live cluster: reads at followers miss acknowledged writes; `raftzmq check --history`
    exits 1 and names a minimal window ending in a get. Slower heartbeats let followers lag a little more; the
    workload is repeated (at most 3 times) until a stale read was caught."""
    with cluster_session(tmp_path / "run") as c:
        c.start("--nodes", "3", "--reads", "stale", "--election-timeout", "400-800", "--heartbeat", "150")
        for attempt in range(3):
            path = tmp_path / f"history-{attempt}.jsonl"
            _workload(c, path, seed=7 + attempt, duration=2.5, rate=200, keys=1)
            result = check_history(read_history(path))
            if result.verdict == NOT_LINEARIZABLE:
                break
        assert result.verdict == NOT_LINEARIZABLE, "no stale read in 3 workloads"
        window = result.window
        assert window is not None and window.minimal and window.culprit.f == "get"
        assert len(window.operations) <= 4  # e.g. the write read, the acknowledged write it missed, the read
        proc = c.cli("check", "--history", str(path), check=False)
        assert proc.returncode == 1 and "not linearizable" in proc.stdout.lower(), proc.stdout + proc.stderr


@pytest.mark.parametrize("reads,linearizable", [("lease", False), ("index", True)])
def test_lease_skew_a_slow_leader_clock_breaks_lease_reads_and_not_readindex(tmp_path, reads, linearizable):
    """`raftzmq scenario lease-skew` (lab/live/leaseskew.py): the old leader, clock at 0.1x and cut off, still
    serves x=1 from its lease after the new leader acknowledged x=2 (not linearizable); with ReadIndex the get
    gets no answer and the history is linearizable. The Raft logs are clean in both."""
    from raftzmq.evidence.checker import check_run
    from raftzmq.lab.live.leaseskew import lease_skew

    result = lease_skew(tmp_path / "run", reads=reads)
    assert result.linearizable is linearizable
    if linearizable:
        assert result.read == ["info", None]
    else:
        assert result.read == ["ok", 1]
        assert result.lin is not None and result.lin.window is not None and result.lin.window.culprit.f == "get"
    assert check_run(tmp_path / "run").ok


def test_index_reads_through_a_leader_kill_stay_linearizable(tmp_path):
    """The leader is SIGKILLed in the middle of a read-heavy workload: reads waiting at the core of the dead
    leader are never answered (indefinite), the new leader refuses reads until its no-op commits (`retry`), and
    the history stays linearizable."""
    with cluster_session(tmp_path / "run") as c:
        c.start("--nodes", "3")
        leader = c.wait_leader(timeout=10)["leader"]
        eps = _endpoints(c)
        clients = [Client(eps, timeout=5.0, seed=p) for p in range(4)]
        killed: list[int] = []

        def nemesis(elapsed: float) -> None:
            if elapsed >= 1.0 and not killed:
                killed.append(leader)
                c.cli("kill", str(leader))

        path = tmp_path / "history.jsonl"
        try:
            with path.open("w") as out:
                run_live(clients, generate(5, 4, 2, rate=150, duration=3.5,
                                           mix={"get": 0.6, "put": 0.25, "append": 0.15}), out, 3.5, drain_s=6.0,
                         on_tick=nemesis, tick_s=0.25)
        finally:
            for cl in clients:
                cl.close()
        assert killed == [leader]
        history = read_history(path)
        result = check_history(history)
        assert result.verdict == LINEARIZABLE, result.to_dict()
        late = [op for op in history.operations if op.f == "get" and op.status == "ok" and op.call_time
                and op.call_time > 2.5e9]
        assert late, "reads were served again after the failover"
