"""`raftzmq skew` and `raftzmq failpoint` on a live cluster (issue 10, items 2 and 3)."""
from __future__ import annotations

import pytest

from cluster_harness import wait_for

pytestmark = pytest.mark.cluster


def test_a_leader_whose_timers_run_slow_is_deposed_and_the_skew_survives_its_restart(cluster):
    cluster.start("--nodes", "3")
    st = cluster.wait_leader(timeout=10)
    slow, term = st["leader"], st["term"]
    cluster.cli("skew", str(slow), "0.2")  # heartbeats every 250 ms real: beyond the followers' 150-300 ms
    assert f"node {slow}: timers at 0.2x" in cluster.cli("status").stdout
    after = cluster.wait_leader(timeout=10, other_than=slow, min_term=term + 1)
    assert [r for r in cluster.records("faults_applied", slow) if r["skew"] == 0.2]

    cluster.cli("restart", str(slow))  # its clock is still slow in the next incarnation, from the start
    first = wait_for(lambda: [r for r in cluster.records(node=slow) if r["by"] == "node" and r["incarnation"] == 2
                              and r["event"] == "faults_applied"], 10, "the restarted node to apply its skew")[0]
    before = [r["event"] for r in cluster.records(node=slow) if r["by"] == "node" and r["incarnation"] == 2
              and r["seq"] < first["seq"]]
    # applied with net.json, before any timer could fire (after the start-up records)
    assert first["skew"] == 0.2 and set(before) <= {"node_started", "log_tail_cut", "log_loaded", "net_applied"}
    cluster.cli("skew", str(slow), "1")
    assert "timers at" not in cluster.cli("status").stdout
    assert cluster.wait_leader(timeout=10, min_term=after["term"])["leader"] is not None


def test_a_follower_whose_timers_run_fast_does_not_disrupt_with_prevote(cluster):
    cluster.start("--nodes", "3")
    st = cluster.wait_leader(timeout=10)
    fast = next(n["id"] for n in st["nodes"] if n["id"] != st["leader"])
    cluster.cli("skew", str(fast), "5")  # election timeouts of 30-60 ms real against 50 ms heartbeats
    skewed = wait_for(lambda: [r for r in cluster.records("faults_applied", fast) if r["skew"] == 5], 5,
                      "the node to apply its skew")[0]
    denied = wait_for(lambda: [r for r in cluster.records("prevote_denied") if r["candidate"] == fast
                               and r["mono_ns"] > skewed["mono_ns"]], 10, "the fast node's pre-votes to be denied")
    assert denied[0]["reason"] == "leader_alive"
    now = cluster.status()
    assert (now["leader"], now["term"]) == (st["leader"], st["term"])  # PreVote kept it from raising the term
    cluster.cli("heal")


def test_failpoint_before_rename_kills_the_node_with_its_old_state_on_disk(cluster):
    cluster.start("--nodes", "3")
    st = cluster.wait_leader(timeout=10)
    leader, term = st["leader"], st["term"]
    victim, target = [n["id"] for n in st["nodes"] if n["id"] != leader]
    cluster.cli("failpoint", str(victim), "before_rename")
    wait_for(lambda: [r for r in cluster.records("faults_applied", victim) if "before_rename" in r["failpoints"]],
             5, "the node to arm the failpoint")
    cluster.cli("transfer", str(target), check=False)  # a new term: the victim must persist it
    dead = wait_for(lambda: (lambda n: not n["alive"] and n)(cluster.status()["nodes"][victim - 1]), 10,
                    "the node to kill itself")
    assert dead["exit_code"] == -9
    # not an unexplained death: the node said where it died, and status says "failed: failpoint before_rename"
    assert wait_for(lambda: cluster.status()["nodes"][victim - 1]["failed"], 5, "the failure reason") == \
        "failpoint before_rename"
    (hit,) = cluster.records("failpoint_hit", victim)
    assert hit["name"] == "before_rename" and hit["term"] == term  # the new term never became durable
    assert "failed: failpoint before_rename" in cluster.cli("status").stdout
    leftovers = sorted(p.name for p in cluster.run_dir.glob(f".node-{victim}.state.tmp-*"))
    assert leftovers, "the temp file with the new term was written before the rename"
    cluster.cli("restart", str(victim))
    back = [r for r in cluster.records("node_started", victim) if r["incarnation"] == 2][0]
    assert back["term"] == term  # the rename never happened: the old state, not the temp file
    assert not list(cluster.run_dir.glob(f".node-{victim}.state.tmp-*"))  # the stale temp was removed
