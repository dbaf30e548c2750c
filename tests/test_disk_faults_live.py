"""Disk faults on a live cluster (issue 10, item 4): each fault makes the node's next persist fail; the node logs
why and exits with its storage code (4) without answering what it could not make durable; `status` shows why;
the others keep a leader. One 5-node cluster serves every fault (a restart gives the node a working disk)."""
from __future__ import annotations

import json
import os

import pytest

from cluster_harness import Cluster, cluster_session, wait_for
from raftzmq.runtime.node.diskfaults import DISK_FAULTS, STATE_FAULTS
from raftzmq.runtime.cluster.propose import node_info, propose
from raftzmq.runtime.node.process import EXIT_STORAGE

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with cluster_session(tmp_path_factory.mktemp("disk") / "run") as c:
        c.start("--nodes", "5")
        yield c


def _arm(c: Cluster, node: int, fault: str) -> None:
    c.cli("disk", str(node), fault)
    inc = c.status()["nodes"][node - 1]["incarnation"]
    wait_for(lambda: [r for r in c.records("faults_applied", node) if r["incarnation"] == inc and r["disk"] == fault],
             5, f"node {node} to apply disk fault {fault}")


def _failed(c: Cluster, node: int) -> dict:
    def done():
        n = c.status()["nodes"][node - 1]
        return n if n["failed"] else None
    return wait_for(done, 10, f"node {node} to fail on its disk")


@pytest.mark.parametrize("fault", STATE_FAULTS)  # what an election makes a node meet
def test_disk_fault_stops_the_node_with_its_reason_and_the_others_keep_a_leader(cluster, fault):
    st = cluster.wait_leader(timeout=10)
    leader, term = st["leader"], st["term"]
    follower, target = [n["id"] for n in st["nodes"] if n["id"] != leader][:2]
    inc = st["nodes"][follower - 1]["incarnation"]
    _arm(cluster, follower, fault)
    cluster.cli("transfer", str(target), check=False)  # a new term: every node must persist it

    node = _failed(cluster, follower)
    assert node["exit_code"] == EXIT_STORAGE and not node["alive"]
    code = DISK_FAULTS[fault][1]
    assert f"injected: {fault}" in node["failed"] and os.strerror(code) in node["failed"]
    assert node["failed"].startswith(f"disk fault {fault}: ")  # the armed fault is named in the reason
    shown = cluster.cli("status").stdout
    assert f"node {follower} failed" in shown and f"failed: disk fault {fault}" in shown  # the human view too
    mine = [r for r in cluster.records(node=follower) if r["by"] == "node" and r["incarnation"] == inc]
    assert not [r for r in mine if r["event"] in ("state_persisted", "vote_granted") and r["term"] > term], mine
    assert mine[-1]["event"] == "node_failed" and "storage fatal error" in mine[-1]["reason"]

    after = cluster.wait_leader(timeout=10, min_term=term + 1)
    assert after["leader"] != follower

    cluster.cli("restart", str(follower))  # a new incarnation: a working disk, and the node rejoins
    wait_for(lambda: cluster.status()["nodes"][follower - 1]["role"] == "follower", 10, "the node to rejoin")


def test_a_voter_whose_disk_fails_never_answers_the_vote(tmp_path):
    """3 nodes: the leader is killed, so the survivor can only win with the faulty node's vote. The faulty node's
    timers run slow (skew), so the survivor asks first; the faulty node fails to persist the new term/vote and
    exits without answering. The survivor's election times out unanswered; a good disk (restart) elects a leader.
    (A node that sent its vote before it was durable would have elected the survivor.)

    PreVote and CheckQuorum are off: with them, the slow clock also stretches the voter's lease, which ends only
    up to one election timeout of its own before that timeout fires, so the voter could campaign first (and fail on
    its own vote) before the survivor's pre-vote got through; without them the survivor asks at once."""
    with cluster_session(tmp_path / "run") as c:
        c.start("--nodes", "3", "--no-prevote", "--no-check-quorum")
        st = c.wait_leader(timeout=10)
        leader, term = st["leader"], st["term"]
        voter, survivor = [n["id"] for n in st["nodes"] if n["id"] != leader]
        c.cli("skew", str(voter), "0.1")
        _arm(c, voter, "fsync:EIO")
        c.cli("kill", str(leader))
        assert _failed(c, voter)["exit_code"] == EXIT_STORAGE
        asked = wait_for(lambda: [r for r in c.records("became_candidate", survivor) if r["term"] > term], 10,
                         "the survivor to campaign")[0]
        wait_for(lambda: [r for r in c.records("election_timeout", survivor) if r["seq"] > asked["seq"]
                          and r["incarnation"] == asked["incarnation"]], 10, "the survivor's election to time out")
        assert not [r for r in c.records("became_leader") if r["term"] > term]
        assert not [r for r in c.records("vote_granted", voter) if r["term"] > term]
        c.cli("heal")  # the voter's clock back to normal too
        c.cli("restart", str(voter))
        assert c.wait_leader(timeout=10, min_term=term + 1)["leader"] in (voter, survivor)


def _client_endpoints(c: Cluster) -> dict[int, str]:
    doc = json.loads((c.run_dir / "cluster.json").read_text())
    return {int(k): v for k, v in doc["client_endpoints"].items()}


@pytest.mark.parametrize("fault", ["append:EIO", "append:ENOSPC", "torn"])  # what only the log meets
def test_a_log_fault_stops_the_follower_before_it_acknowledges_and_a_restart_catches_up(cluster, fault):
    """The follower's next append fails (exit 4, `node_failed` says why) or is torn (it SIGKILLs itself half-way
    through the write); it acknowledges nothing it could not make durable, the others commit without it, and its
    restart cuts a torn tail (`log_tail_cut`), loads its log and catches up."""
    st = cluster.wait_leader(timeout=10)
    follower = next(n["id"] for n in st["nodes"] if n["id"] != st["leader"])
    inc = st["nodes"][follower - 1]["incarnation"]
    _arm(cluster, follower, fault)
    result = propose(_client_endpoints(cluster), f"after {fault}".encode(), 10.0)
    assert result.committed, result  # a majority without the follower
    wait_for(lambda: not cluster.status()["nodes"][follower - 1]["alive"], 10, "the follower to stop")
    node = cluster.status()["nodes"][follower - 1]
    mine = [r for r in cluster.records(node=follower) if r["by"] == "node" and r["incarnation"] == inc]
    assert not [r for r in mine if r["event"] == "log_appended" and r["last"] >= result.index], \
        "nothing logged as durable that the disk refused"
    if fault == "torn":
        assert node["exit_code"] is not None and node["exit_code"] < 0  # a crash (SIGKILL), not a failure
    else:
        assert node["exit_code"] == EXIT_STORAGE and f"injected: {fault}" in node["failed"]
    cluster.cli("restart", str(follower))
    again = inc + 1

    def caught_up():
        got = node_info(_client_endpoints(cluster), timeout_s=1.0)
        mine, lead = got.get(follower), got.get(cluster.status()["leader"] or 0)
        return mine is not None and lead is not None and mine.commit >= result.index and mine.index == lead.index
    wait_for(caught_up, 15, "the restarted follower to catch up")
    recs = [r for r in cluster.records(node=follower) if r["by"] == "node" and r["incarnation"] == again]
    events = [r["event"] for r in recs]
    assert events[:2] == ["node_started", "log_tail_cut"] if fault == "torn" else events[0] == "node_started"
    assert "log_loaded" in events[:3]
