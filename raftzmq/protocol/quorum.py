"""Majority arithmetic, in one place so that every count of votes or live peers agrees."""
from __future__ import annotations

from collections.abc import Collection

__all__ = ["majority", "has_majority"]


def majority(cluster_size: int) -> int:
    """Smallest number of nodes that forms a strict majority: 1 of 1, 2 of 2 or 3, 3 of 4 or 5."""
    if cluster_size < 1:
        raise ValueError(f"cluster size must be >= 1, got {cluster_size}")
    return cluster_size // 2 + 1


def has_majority(voters: Collection[int], members: Collection[int]) -> bool:
    """True when the distinct members among `voters` form a strict majority of `members`."""
    return len(set(voters) & set(members)) >= majority(len(members))
