"""The chaos schedule (lab/live/nemesis.py) and the leaderless-with-a-majority figure (lab/live/leaderless.py), without
processes."""
from __future__ import annotations

import pytest

from raftzmq.lab.live.leaderless import longest_leaderless
from raftzmq.lab.live.nemesis import DOWN_KINDS, NEMESES, plan
from raftzmq.protocol.quorum import majority


def test_the_seed_is_the_schedule():
    assert plan(42, 5, 60.0) == plan(42, 5, 60.0)
    assert plan(42, 5, 60.0) != plan(43, 5, 60.0)
    times = [a.at for a in plan(42, 5, 60.0)]
    assert times == sorted(times) and times[-1] < 60.0


@pytest.mark.parametrize("nodes", [3, 5, 7])
def test_never_more_than_a_minority_down_and_undo_reverts_an_open_fault(nodes):
    for seed in range(30):
        open_down: set[int] = set()
        for a in plan(seed, nodes, 60.0):
            if a.kind in DOWN_KINDS:
                open_down.add(a.index)
            elif a.kind == "undo":
                assert a.undoes in open_down
                open_down.remove(a.undoes)
            assert len(open_down) <= nodes - majority(nodes)


def test_a_minute_of_schedule_uses_every_kind_and_kinds_can_be_restricted():
    kinds = {a.kind for a in plan(20261136, 5, 60.0)}  # the seed tests/test_chaos.py runs
    assert set(NEMESES) <= kinds
    only = {a.kind for a in plan(7, 5, 60.0, kinds=("kill", "skew"))}
    assert only <= {"kill", "skew", "undo", "heal"}


# ---------------------------------------------------------------------------------------------- leaderless

S = 1_000_000_000


def rec(t: float, event: str, node: int, by: str = "node", **fields) -> dict:
    return {"mono_ns": int(t * S), "event": event, "node": node, "by": by, **fields}


def started(n: int) -> list[dict]:
    return [rec(0.0, "node_started", i) for i in range(1, n + 1)]


def test_leaderless_counts_from_the_leader_loss_to_the_next_leader():
    records = [*started(5), rec(0.2, "became_leader", 1),
               rec(1.0, "node_killed", 1, by="supervisor", signal="SIGKILL"),
               rec(1.5, "became_leader", 2), rec(3.0, "cluster_stopping", 0, by="supervisor")]
    assert longest_leaderless(records, 5) == pytest.approx(0.5)


def test_no_connected_majority_is_not_counted():
    # 3 of 5 killed: nobody can be elected, so that time does not count; it counts again once 3 are up.
    records = [*started(5), rec(0.1, "became_leader", 1)]
    records += [rec(1.0 + i / 10, "node_killed", i, by="supervisor", signal="SIGKILL") for i in (1, 2, 3)]
    records += [rec(5.0, "node_started", 2), rec(5.3, "became_leader", 2)]
    assert longest_leaderless(records, 5) == pytest.approx(0.3)


def test_a_majorities_ring_leaves_no_connected_majority():
    ring = [[a, b] for a in range(1, 6) for b in range(1, 6) if a != b and (a - b) % 5 in (2, 3)]
    records = [*started(5), rec(0.1, "became_leader", 1), rec(1.0, "link_cut", 0, by="supervisor", cuts=ring),
               rec(1.1, "stepped_down", 1, reason="check_quorum"), rec(9.0, "heal", 0, by="supervisor"),
               rec(9.4, "became_leader", 3)]
    assert longest_leaderless(records, 5) == pytest.approx(0.4)


def test_a_leader_cut_off_in_a_minority_does_not_serve_the_majority():
    records = [*started(5), rec(0.1, "became_leader", 1),
               rec(1.0, "partition", 0, by="supervisor", groups=[[1, 2], [3, 4, 5]]),
               rec(1.8, "became_leader", 3)]
    assert longest_leaderless(records, 5) == pytest.approx(0.8)


def test_a_paused_leader_does_not_serve():
    records = [*started(3), rec(0.1, "became_leader", 1), rec(1.0, "node_paused", 1, by="supervisor"),
               rec(1.6, "became_leader", 2), rec(2.0, "node_resumed", 1, by="supervisor")]
    assert longest_leaderless(records, 3) == pytest.approx(0.6)


def test_a_shape_replaces_the_partition_and_a_simplex_leader_does_not_serve():
    into_3 = [[s, 3] for s in (1, 2, 4, 5)]
    records = [*started(5), rec(0.1, "became_leader", 1),
               rec(1.0, "partition", 0, by="supervisor", groups=[[1, 2], [3, 4, 5]]),
               rec(1.5, "became_leader", 3),
               # the simplex shape replaces the groups: 3 hears nobody (it serves no majority), 1, 2, 4, 5 talk again
               rec(2.0, "link_cut", 0, by="supervisor", cuts=into_3, groups=None),
               rec(2.4, "stepped_down", 3, reason="check_quorum"), rec(2.4, "became_leader", 1),
               rec(3.0, "became_follower", 2, leader=1)]
    assert longest_leaderless(records, 5) == pytest.approx(0.5)
