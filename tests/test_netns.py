"""`--net netns` (issue 14, "Must show"): a 5-node cluster whose nodes live in their own network namespaces and
talk real TCP; kills, packet-level partitions, heal; nothing of it left afterwards, even after a supervisor
SIGKILL; with `--auth curve`, an outsider inside a member's namespace changes nothing.

Needs root, `ip` and `nft`: skipped otherwise, saying so. Every run's namespaces share a random tag; the
fixture deletes whatever carries its run's tag even when a test fails, after checking that `stop` (or
`clean --net`) already did.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cluster_harness import REPO, Cluster, wait_for
from raftzmq.cli import main
from raftzmq.runtime.cluster import netns
from raftzmq.runtime.cluster.control import ControlClient
from raftzmq.runtime.cluster.rundir import RunDir

pytestmark = [pytest.mark.cluster]

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"),
    reason="network namespaces need root and the ip and nft tools (`apt-get install iproute2 nftables`)")


def _tag(c: Cluster) -> str | None:
    try:
        return json.loads((c.run_dir / "cluster.json").read_text()).get("netns_tag")
    except (OSError, ValueError):
        return None


def _ours(tag: str) -> list[str]:
    return [n for n in netns.list_namespaces() if n.startswith(f"{netns.PREFIX}{tag}-")]


def _remove_namespaces(c: Cluster) -> None:
    """After the cluster's stop: its namespaces must already be gone; delete whatever is left either way."""
    tag = _tag(c)  # cluster.json outlives the stop
    left = _ours(tag) if tag else []
    if tag:
        netns.delete_run(tag)  # whatever happened above, nothing of this run survives the test
    netns.sweep_stale()  # nor of a run that died before it could say its tag
    assert not left, f"namespaces left after stop: {left}"
    assert not (netns.REGISTRY / f"{tag}.json").exists()


CLUSTER_SESSION = {"after_cleanup": _remove_namespaces}  # for conftest's `cluster` fixture


def _in_namespace(pid: int, name: str) -> bool:
    return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/run/netns/{name}").st_ino


def _established(namespace: str, peer: int) -> int:
    """TCP connections in `namespace` that are established with node `peer`'s address."""
    out = subprocess.run(["ip", "netns", "exec", namespace, "ss", "-Htn", "state", "established", "dst",
                          netns.node_address(peer)], capture_output=True, text=True, timeout=30, check=True).stdout
    return len(out.splitlines())


def _agree(c: Cluster, members=range(1, 6), other_than=None):
    st = c.status()
    nodes = [n for n in st["nodes"] if n["id"] in members]
    leaders = {n["leader"] for n in nodes}
    ok = len(leaders) == 1 and None not in leaders and other_than not in leaders
    return st if ok else None


@needs_root
def test_netns_cluster_elects_fails_over_partitions_and_heals(cluster):
    cluster.start("--nodes", "5", "--net", "netns")
    st = wait_for(lambda: _agree(cluster), 10, "all five nodes agreeing on a leader")
    tag = _tag(cluster)
    for n in st["nodes"]:
        assert _in_namespace(n["pid"], f"rzq{tag}-{n['id']}")
        assert n["endpoint"] == f"tcp://10.77.0.{n['id']}:7000"
    assert set(st["net"]["packet_level"]) == {"partition", "isolate", "cut", "loss"}  # delay stays in the nodes

    old = st["leader"]
    witness = f"rzq{tag}-{old % 5 + 1}"
    assert _established(witness, old) == 2  # its DEALER to the leader, and the leader's DEALER to it
    cluster.cli("kill", str(old))
    st = wait_for(lambda: _agree(cluster, [m for m in range(1, 6) if m != old], other_than=old), 10,
                  "a new leader after the kill")
    wait_for(lambda: _established(witness, old) == 0, 10, "a kill closing the TCP connections (FIN/RST)")
    cluster.cli("restart", str(old))
    st = wait_for(lambda: _agree(cluster), 10, "the restarted node following")

    leader = st["leader"]
    minority = [leader, leader % 5 + 1]
    majority = [m for m in range(1, 6) if m not in minority]
    cluster.cli("partition", ",".join(map(str, minority)), ",".join(map(str, majority)))
    wait_for(lambda: _agree(cluster, majority, other_than=leader), 10, "a leader in the majority")
    wait_for(lambda: cluster.status()["nodes"][leader - 1]["role"] != "leader", 10,
             "the cut-off leader stepping down (CheckQuorum)")
    # Packet level: the nodes were never told about the partition, the kernel dropped the packets, and TCP
    # still believes in every connection across it (no FIN, no RST: what a cable pulled out looks like).
    assert _established(f"rzq{tag}-{majority[0]}", leader) == 2
    assert all(r["groups"] is None for r in cluster.records("net_applied"))
    assert not [r for r in cluster.records("message_dropped") if r["reason"] == "partition"]

    cluster.cli("heal")
    wait_for(lambda: _agree(cluster), 20, "one leader for all five after heal (TCP retransmits resume)")
    cluster.cli("stop")


@needs_root
def test_supervisor_sigkill_leaves_namespaces_that_clean_removes(cluster):
    cluster.start("--nodes", "3", "--net", "netns")
    tag = _tag(cluster)
    assert len(_ours(tag)) == 4  # three nodes and the hub
    pid = int((cluster.run_dir / "supervisor.pid").read_text())
    nodes = [n["pid"] for n in cluster.status()["nodes"]]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in nodes), 10, "nodes dying with the supervisor")
    assert len(_ours(tag)) == 4, "nothing can delete them at a SIGKILL"
    out = cluster.cli("clean", "--net").stdout
    assert not _ours(tag) and "removed 4 namespace(s)" in out, out


@needs_root
def test_netns_curve_outsider_in_a_member_namespace_changes_nothing(cluster):
    cluster.start("--nodes", "5", "--net", "netns", "--auth", "curve")
    before = wait_for(lambda: _agree(cluster), 10, "a settled cluster")
    tag = _tag(cluster)
    proc = subprocess.run(["ip", "netns", "exec", f"rzq{tag}-1", sys.executable, str(REPO / "tests/outsider.py"),
                           str(cluster.run_dir), "2"], env=cluster.env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    outsider_key = proc.stdout.split()[0]
    rejected = wait_for(lambda: {r["node"]: r for r in cluster.records("auth_rejected")}.keys() == set(range(1, 6))
                        and cluster.records("auth_rejected"), 10, "every node refusing the outsider")
    assert {r["public_key"] for r in rejected} == {outsider_key}
    assert {r["address"] for r in rejected} == {"10.77.0.1"}
    after = cluster.status()
    assert [(n["term"], n["role"]) for n in after["nodes"]] == [(n["term"], n["role"]) for n in before["nodes"]]
    assert not cluster.records("message_rejected")
    cluster.cli("stop")


@needs_root
def test_netns_with_ipc_transport_is_refused_and_leaves_nothing(tmp_path):
    before = netns.list_namespaces()
    result = CliRunner().invoke(main, ["start", "--net", "netns", "--transport", "ipc", "--detach", "--run-dir",
                                       str(tmp_path / "r")])
    assert result.exit_code == 2 and "leave out --transport ipc" in result.output, result.output
    assert netns.list_namespaces() == before


def test_netns_without_root_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(main, ["start", "--net", "netns", "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2 and "needs root" in result.output, result.output
    assert not (tmp_path / "r").exists()


@needs_root
def test_netns_one_way_cuts_from_the_leader_are_packet_rules_at_the_receivers(cluster):
    cluster.start("--nodes", "5", "--net", "netns")
    leader = wait_for(lambda: _agree(cluster), 10, "a settled cluster")["leader"]
    followers = [m for m in range(1, 6) if m != leader]
    control = ControlClient(RunDir(cluster.run_dir))
    for f in followers:  # the leader can no longer send to anyone; everyone can still send to it
        control.request("cut", src=leader, dst=f, one_way=True)
    wait_for(lambda: _agree(cluster, followers, other_than=leader), 10, "a new leader among the followers")
    tag = _tag(cluster)
    def rules(node):
        return subprocess.run(["ip", "netns", "exec", f"rzq{tag}-{node}", "nft", "list", "table", "inet",
                               "raftzmq"], capture_output=True, text=True, check=True).stdout
    assert "drop" not in rules(leader)  # one way: the leader still hears everyone
    assert all(f"ip saddr {netns.node_address(leader)} drop" in rules(f) for f in followers)
    assert json.loads((cluster.run_dir / "net.json").read_text())["cuts"] == [], "nodes are not told"
    assert sorted(map(tuple, cluster.status()["net"]["cuts"])) == [(leader, f) for f in followers]
    cluster.cli("heal")
    wait_for(lambda: _agree(cluster), 20, "one leader for all five after heal")
    cluster.cli("stop")


@needs_root
def test_a_start_that_fails_after_the_namespaces_exist_removes_them(tmp_path, monkeypatch):
    from raftzmq.runtime.config import default_config
    from raftzmq.runtime.cluster.errors import SupervisorError
    from raftzmq.runtime.cluster.launch import run_supervisor
    from raftzmq.runtime.cluster.supervisor import Supervisor

    def refuse(self, kind, endpoint):
        assert len(netns.list_namespaces()) > len(before), "the namespaces exist by now"
        raise SupervisorError(f"cannot bind {endpoint}: refused by the test")

    before = netns.list_namespaces()
    monkeypatch.setattr(Supervisor, "_bind", refuse)
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # leave pytest's handlers alone
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    try:
        with pytest.raises(SupervisorError, match="refused by the test"):
            run_supervisor(run, default_config(), net="netns")
        assert netns.list_namespaces() == before
    finally:  # if not, this test's own namespaces go anyway (their owner, this process, is alive: no sweep)
        for tag in {n[len(netns.PREFIX):].split("-")[0] for n in set(netns.list_namespaces()) - set(before)}:
            netns.delete_run(tag)
