"""bench scale's start-up profile and medians, on synthetic records (the live runs are benchmarks, not tests)."""
from __future__ import annotations

from raftzmq.lab.bench.scale import medians, startup_profile


def _rec(event: str, t: float, node: int = 0, **fields):
    return {"event": event, "mono_ns": int(t * 1e9), "node": node, **fields}


def test_the_profile_names_each_milestone_after_the_command_and_follows_the_named_candidate():
    t0 = int(10 * 1e9)
    records = [_rec("cluster_started", 10.3), _rec("node_spawned", 10.31, 1), _rec("node_spawned", 10.32, 2),
               _rec("node_started", 10.4, 2), _rec("node_started", 10.5, 1),
               _rec("timers_connecting", 10.51, first=2), _rec("timer_released", 10.55, 1),
               _rec("timer_released", 10.6, 2), _rec("timers_released", 10.62, first=2)]
    prof = startup_profile(records, t0)
    assert prof == {"cluster_started_s": 0.3, "last_spawned_s": 0.32, "first_node_started_s": 0.4,
                    "last_node_started_s": 0.5, "connecting_s": 0.51, "released_s": 0.62,
                    "first_candidate_s": 0.6}


def test_a_start_without_the_barrier_records_has_none_for_them():
    prof = startup_profile([_rec("cluster_started", 1.0)], int(0.5e9))
    assert prof["connecting_s"] is None and prof["first_candidate_s"] is None and prof["cluster_started_s"] == 0.5


def test_medians_skip_missing_figures_and_count_failures():
    samples = [{"command_s": 1.0, "load": "9.0 1 1"}, {"command_s": 3.0, "load": "7.5 1 1"},
               {"command_s": 2.0, "load": "8.0 1 1", "first_leader_s": 1.5}, {"failed": "x", "load": "8.5 1 1"}]
    m = medians(samples)
    assert m["command_s"] == 2.0 and m["first_leader_s"] == 1.5 and m["failed"] == 1 and m["runs"] == 4
    assert m["load_1min_range"] == [7.5, 9.0]
