"""Disconnect hints in the simulator: a crash closes the dead node's connections (each survivor notices after a
small delay), a pause or a partition closes nothing; hints on stays safe; hints off replays as before."""
from __future__ import annotations

from dataclasses import replace

from raftzmq.evidence.report import failovers
from raftzmq.lab.sim.simulator import HINT_DELAY, SimConfig, Simulator, run_seed
from raftzmq.protocol.core import LEADER

HINTED = SimConfig(nodes=5, duration=20.0, hints=True, record_logs=True)


def merged(result):
    return sorted((r for records in result.files.values() for r in records), key=lambda r: r["mono_ns"])


def test_hints_on_few_hundred_seeds_all_faults_clean():
    cfg = replace(HINTED, duration=10.0, record_logs=False)
    assert [s for s in range(200) if not run_seed(cfg, s).ok] == []


def test_crashes_bring_hints_and_most_crash_failovers_come_through_them_pauses_and_partitions_none():
    crash = run_seed(replace(HINTED, faults=frozenset({"crash"}), vote_crash=0.0, fault_interval=2.0), 3)
    records = merged(crash)
    kills = [r for r in records if r["event"] == "node_killed"]
    hints = [r for r in records if r["event"] == "hint"]
    assert hints and all(any(0 < h["mono_ns"] - k["mono_ns"] <= HINT_DELAY[1] * 1e9 and h["peer"] == k["node"]
                             for k in kills) for h in hints)
    lost = [f for f in failovers(records, 5) if f.cause == "node_killed" and f.seconds is not None]
    assert lost and sum(f.via_hint for f in lost) >= 0.8 * len(lost)
    for kinds in ({"pause"}, {"partition"}):
        quiet = run_seed(replace(HINTED, faults=frozenset(kinds)), 3)
        assert not [r for r in merged(quiet) if r["event"] == "hint"], kinds


def test_hints_change_a_run_only_through_crashes():
    """Without crashes nothing closes, so the same seed runs the same with hints on and off; hints off models no
    close at all."""
    calm = SimConfig(nodes=5, duration=10.0, faults=frozenset({"pause", "partition", "loss", "delay"}))
    assert run_seed(calm, 11).summary() == run_seed(replace(calm, hints=True), 11).summary()
    off = run_seed(SimConfig(nodes=5, duration=10.0), 11)
    assert not [rec for rec in merged(off) if rec["event"] == "hint"]
    on = run_seed(SimConfig(nodes=5, duration=10.0, hints=True), 11)
    assert [rec for rec in merged(on) if rec["event"] == "hint"]


def test_a_false_hint_at_one_follower_does_not_unseat_the_live_leader():
    sim = Simulator(replace(HINTED, faults=frozenset(), duration=3.0), 5)
    sim._call_at(2.0, lambda: false_hint(sim))
    result = sim.run()
    records = merged(result)
    leaders = [r for r in records if r["event"] == "became_leader"]
    assert len(leaders) == 1 and result.ok
    assert [r["event"] for r in records if r["mono_ns"] >= 2e9 and r["event"] in ("hint", "became_precandidate")] \
        == ["hint", "became_precandidate"]
    assert {r["reason"] for r in records if r["event"] == "prevote_denied"} == {"leader_alive"}


def false_hint(sim: Simulator) -> None:
    leader = next(n for n in sim.nodes[1:] if n.core is not None and n.core.role == LEADER)
    follower = next(n for n in sim.nodes[1:] if n is not leader)
    sim._hint(follower, follower.gen, leader.id)
