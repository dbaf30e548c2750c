"""Quantiles, one rule for every figure raftzmq prints (p50, p90, p99, medians of runs): the nearest rank.

The q-quantile of n values is the smallest value with at least q*n of the values at or below it, i.e. the value
at 1-based rank ceil(q*n) in sorted order (rank 1 for q = 0). It is always an observed value (no interpolation:
a p99 of failover times is a failover that happened), and the median of an even count is the lower middle one.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar

__all__ = ["quantile", "median"]

N = TypeVar("N", int, float)


def quantile(values: Iterable[N], q: float) -> N:
    """The nearest-rank q-quantile (0 <= q <= 1) of `values` (any order). ValueError when there are none."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile: q must be in [0, 1], got {q!r}")
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of no values")
    rank = math.ceil(round(q * len(ordered), 9))  # rounded first: 0.07 * 100 is 7.000000000000001, rank 7
    return ordered[max(0, rank - 1)]


def median(values: Iterable[N]) -> N:
    """The nearest-rank median: the middle value, the lower of the two middle ones for an even count."""
    return quantile(values, 0.5)
