"""Link-level faults from the CLI (issue 10, item 1): cut, uncut, partition --ring / --bridge, status and heal;
the simplex leader (every link into it cut, its heartbeats still delivered) is deposed by CheckQuorum."""
from __future__ import annotations

import pytest

from cluster_harness import wait_for
from raftzmq.lab.live.netshapes import bridge_cuts, into_cuts, ring_cuts

MEMBERS = (1, 2, 3, 4, 5)


def test_ring_every_node_sees_a_majority_but_no_two_the_same():
    cuts = ring_cuts(5)
    sees = {a: {b for b in MEMBERS if (a, b) not in cuts and (b, a) not in cuts} for a in MEMBERS}
    assert all(len(v) == 3 for v in sees.values())  # itself and one neighbour each side: a majority of 5
    assert len({frozenset(v) for v in sees.values()}) == 5
    assert all((b, a) in cuts for a, b in cuts)  # both directions
    assert ring_cuts(3) == frozenset()  # with 3 nodes every node's two neighbours are everyone


def test_bridge_halves_meet_only_through_the_bridge():
    cuts = bridge_cuts(5, 3)
    assert (1, 4) in cuts and (4, 1) in cuts and (2, 5) in cuts
    assert not [c for c in cuts if 3 in c] and (1, 2) not in cuts and (4, 5) not in cuts


def test_into_cuts_only_the_links_into_the_node():
    assert into_cuts(5, 2) == {(1, 2), (3, 2), (4, 2), (5, 2)}


@pytest.mark.cluster
def test_simplex_leader_is_deposed_by_check_quorum_and_a_new_leader_is_elected(cluster):
    cluster.start("--nodes", "5", "--election-timeout", "300-600")
    st = cluster.wait_leader(timeout=10)
    leader, term = st["leader"], st["term"]
    for src in MEMBERS:
        if src != leader:
            cluster.cli("cut", str(src), str(leader), "--one-way")
    assert all(f"{src}->{leader}" in cluster.cli("status").stdout for src in MEMBERS if src != leader)
    new = cluster.wait_leader(timeout=10, other_than=leader, min_term=term + 1)
    down = [r for r in cluster.records("stepped_down", leader) if r["term"] == term]
    assert down and down[0]["reason"] == "check_quorum"
    # Its heartbeats were still delivered: no follower's timer ran out in that term before the leader stepped down.
    early = [r for r in cluster.records("election_timeout") if r["term"] == term and r["node"] != leader
             and r["mono_ns"] < down[0]["mono_ns"]]
    assert not early, early
    cluster.cli("uncut", str(next(s for s in MEMBERS if s != leader)), str(leader), "--one-way")
    cluster.cli("heal")
    assert "cut:" not in cluster.cli("status").stdout
    assert cluster.wait_leader(timeout=10, min_term=new["term"])["leader"] is not None


@pytest.mark.cluster
def test_ring_and_bridge_from_the_cli_stay_safe_and_heal_to_one_leader(cluster):
    cluster.start("--nodes", "5")
    st = cluster.wait_leader(timeout=10)
    leader = st["leader"]
    cluster.cli("partition", "--ring")
    assert "cut:" in cluster.cli("status").stdout
    applied = wait_for(lambda: [r for r in cluster.records("net_applied", leader) if r["cuts"]], 5, "the ring")[0]
    # The two nodes across the ring from the leader stop hearing it and time out; the leader still sees a majority
    # (itself and its two neighbours), and its neighbours' lease keeps the far side from electing anyone.
    far = [(leader - 1 + d) % 5 + 1 for d in (2, 3)]
    for node in far:
        wait_for(lambda: [r for r in cluster.records("election_timeout", node) if r["mono_ns"] > applied["mono_ns"]],
                 10, f"node {node} across the ring to time out")
    assert (cluster.status()["leader"], cluster.status()["term"]) == (leader, st["term"])
    cluster.cli("partition", "--bridge", str(far[0]))
    bridged = cluster.wait_leader(timeout=15)
    cluster.cli("heal")
    healed = cluster.wait_leader(timeout=15, min_term=bridged["term"])
    assert "cut:" not in cluster.cli("status").stdout and healed["leader"] is not None
