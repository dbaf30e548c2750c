"""`raftzmq node --cluster FILE --id N`: three standalone node processes (as on three hosts, here on loopback
with CURVE) elect a leader, stop cleanly on SIGTERM, and their collected logs pass `raftzmq check`."""
from __future__ import annotations

import shutil
import signal
import sys

import pytest

from proc_helpers import Procs, free_tcp_ports, repo_env, wait_until
from raftzmq.evidence.logfile import read_run

pytestmark = pytest.mark.cluster


@pytest.fixture
def procs(tmp_path):
    with Procs(tmp_path / "proc-out") as p:
        yield p


def _cli(*args):
    return [sys.executable, "-m", "raftzmq", *args]


def test_three_standalone_nodes_from_a_cluster_file_elect_and_their_logs_check(tmp_path, procs):
    env = repo_env()
    ports = free_tcp_ports(3)
    init = procs.spawn(_cli("init-cluster", *(f"127.0.0.1:{p}" for p in ports), "--out", str(tmp_path / "c.toml"),
                            "--keys", str(tmp_path / "keys")), env=env, name="init")
    assert init.wait(60) == 0, init.stderr_text()
    nodes = [procs.spawn(_cli("node", "--cluster", str(tmp_path / "c.toml"), "--id", str(n), "--data-dir",
                              str(tmp_path / f"host{n}"), "--key", str(tmp_path / "keys" / f"node-{n}.key")),
                         env=env, name=f"node{n}") for n in (1, 2, 3)]

    def events(name):
        return {loc.record["node"] for n in (1, 2, 3) if (tmp_path / f"host{n}" / f"node-{n}.jsonl").exists()
                for loc in read_run(tmp_path / f"host{n}") if loc.record["event"] == name}

    # All three started (their SIGTERM handlers are in place from then on) and one of them leads.
    wait_until(lambda: events("node_started") == {1, 2, 3} and events("became_leader"), 60,
               "three started nodes and a leader among them",
               diagnostics=lambda: "\n".join(p.stderr_text() for p in nodes))
    for p in nodes:
        p.signal(signal.SIGTERM)
    assert [p.wait(20) for p in nodes] == [0, 0, 0]
    one = procs.spawn(_cli("check", str(tmp_path / "host1")), env=env, name="check-one")  # one host's folder
    assert one.wait(60) == 3, one.stdout_text()
    assert "node 2: no records" in one.stdout_text() and "node 3: no records" in one.stdout_text()
    assert "VIOLATION" not in one.stdout_text() and "leader-has-majority" not in one.stdout_text()
    collected = tmp_path / "collected"  # what docs/multi-host.md says to do with the hosts' logs
    collected.mkdir()
    for n in (1, 2, 3):
        shutil.copy(tmp_path / f"host{n}" / f"node-{n}.jsonl", collected)
    shutil.copy(tmp_path / "host1" / "cluster.json", collected)
    check = procs.spawn(_cli("check", str(collected)), env=env, name="check")
    assert check.wait(60) == 0, check.stdout_text()
    assert "inferred" not in check.stdout_text() + check.stderr_text()
    assert not [loc for loc in read_run(collected) if loc.record["event"] in ("auth_rejected", "message_rejected")]
