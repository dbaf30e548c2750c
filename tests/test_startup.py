"""The start-up barrier's arithmetic (runtime/node/startup.py)."""
from __future__ import annotations

import pytest

from raftzmq.protocol.quorum import majority
from raftzmq.runtime.node.startup import connected_enough, first_connect_bound_s


@pytest.mark.parametrize("nodes", range(1, 202))
def test_connected_enough_both_ways_always_leaves_a_majority_reachable_both_ways(nodes):
    peers, k = nodes - 1, connected_enough(nodes)
    assert 0 <= k <= peers
    # k peers answer us and k peers we can reach, out of `peers`: at least 2k - peers are both; with ourselves
    # that must be a majority, whichever peers are missing.
    assert max(0, 2 * k - peers) + 1 >= majority(nodes)
    # ... and it is the least such k: one connection fewer each way might leave no majority
    if k > 0:
        assert max(0, 2 * (k - 1) - peers) + 1 < majority(nodes)


def test_the_connect_bound_grows_with_the_cluster():
    assert first_connect_bound_s(5) < first_connect_bound_s(101) <= 3.0
