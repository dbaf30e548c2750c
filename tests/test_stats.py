"""evidence/stats.py: the one quantile rule (nearest rank) behind every p50/p90/p99 and median raftzmq prints."""
from __future__ import annotations

import math
import random

import pytest

from raftzmq.evidence.stats import median, quantile


def test_nearest_rank_on_known_values():
    hundred = list(range(1, 101))
    assert [quantile(hundred, q) for q in (0.0, 0.01, 0.07, 0.5, 0.9, 0.99, 1.0)] == [1, 1, 7, 50, 90, 99, 100]
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0  # any order
    assert median([4, 1, 3, 2]) == 2  # an even count: the lower middle value, one that was observed
    assert median([5]) == 5 and quantile([5], 0.99) == 5
    assert median(x for x in (9, 7, 8)) == 8  # any iterable


def test_the_rule_is_the_definition_and_always_an_observed_value():
    rng = random.Random(3)
    for _ in range(300):
        values = [rng.uniform(0, 10) for _ in range(rng.randrange(1, 40))]
        q = rng.choice([0.1, 0.5, 0.9, 0.99, rng.random()])
        got = quantile(values, q)
        assert got in values
        # the smallest value with at least q*n of the values at or below it
        at_or_below = sum(v <= got for v in values)
        assert at_or_below >= math.ceil(round(q * len(values), 9))
        assert all(sum(v <= w for v in values) < q * len(values) - 1e-9 for w in values if w < got)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="no values"):
        quantile([], 0.5)
    with pytest.raises(ValueError, match="no values"):
        median([])
    for q in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="q must be in"):
            quantile([1, 2], q)
