"""The election's behaviour is pinned: simulator digests per configuration and seed (tests/sim_golden.py)."""
from __future__ import annotations

import json

import pytest

import sim_golden


@pytest.mark.parametrize("name", list(sim_golden.CONFIGS))
def test_simulated_runs_replay_their_golden_digests(name):
    want = json.loads(sim_golden.GOLDEN.read_text())[name]
    got = sim_golden.compute([name])[name]
    assert got["totals"] == want["totals"]
    assert got["digests"] == want["digests"], [s for s in got["digests"] if got["digests"][s] != want["digests"][s]]
