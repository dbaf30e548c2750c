"""Majority arithmetic: the one place every count of votes or live peers goes through."""
import pytest

from raftzmq.protocol.quorum import has_majority, majority


@pytest.mark.parametrize("size, needed", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
def test_majority_is_the_smallest_strict_majority(size, needed):
    assert majority(size) == needed
    # strict majority: `needed` is more than half, `needed - 1` is not
    assert 2 * needed > size
    assert 2 * (needed - 1) <= size


@pytest.mark.parametrize("size", [0, -1])
def test_majority_of_an_empty_cluster_is_an_error(size):
    with pytest.raises(ValueError):
        majority(size)


@pytest.mark.parametrize("size", range(1, 8))
def test_has_majority_exactly_at_the_threshold(size):
    members = tuple(range(1, size + 1))
    assert has_majority(members[: majority(size)], members)
    assert not has_majority(members[: majority(size) - 1], members)


def test_has_majority_ignores_non_members():
    members = (1, 2, 3, 4, 5)
    assert not has_majority([1, 2, 6, 7, 8, 9], members)  # only 1 and 2 count
    assert has_majority([1, 2, 3, 99], members)


def test_has_majority_counts_each_voter_once():
    members = (1, 2, 3, 4, 5)
    assert not has_majority([1, 1, 2, 2, 2], members)
    assert has_majority([1, 1, 2, 3], members)


def test_has_majority_accepts_any_collection():
    assert has_majority({1, 2}, [1, 2, 3])
    assert has_majority(frozenset({2, 3}), (1, 2, 3))
    assert not has_majority(set(), (1,))
