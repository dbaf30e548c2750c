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


def test_the_scale_table_puts_the_user_facing_median_first_and_every_run_beside_it():
    from raftzmq.commands.bench import _scale_table
    from raftzmq.lab.bench.scale import medians

    samples = [{"nodes": 5, "load": "0.10 0.2 0.3", "command_s": 0.31, "first_leader_s": 0.27, "stable_term": 1,
                "last_node_started_s": 0.25, "elections_until_stable": 1, "elections_in_hold": 0},
               {"nodes": 5, "load": "0.40 0.2 0.3", "command_s": 0.29, "first_leader_s": 0.26, "stable_term": 2,
                "last_node_started_s": 0.24, "elections_until_stable": 2, "elections_in_hold": 1},
               {"nodes": 5, "load": "0.40 0.2 0.3", "command_s": None, "failed": "no leader in 30 s"}]
    table = _scale_table({"5 nodes": {"median": medians(samples), "samples": samples}})
    row = next(line for line in table.splitlines() if line.startswith("5 nodes "))
    cells = row.split()
    assert cells[2] == "0.29"  # nearest-rank median of 0.31 and 0.29 (the lower middle)
    assert cells[5] == "1,2"  # terms are listed, not averaged
    assert "0.31 0.29 failed" in row and row.endswith("0.10 0.40")
    assert "5 nodes: failed 1" in table and "elections_in_hold 0" in table
