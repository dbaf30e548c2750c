"""The simulator with client proposals (`raftzmq sim --proposals RATE`): logs replicate and commit under every fault,
the replication checker judges every record as it is written, runs replay exactly, and an unsafe disk that loses
unsynced log tails is caught losing committed entries."""
from __future__ import annotations

from collections import Counter
from dataclasses import replace

from click.testing import CliRunner

from raftzmq.commands.sim import replay_command, sim
from raftzmq.evidence.checker import check_run
from raftzmq.lab.sim.simulator import SimConfig, Simulator, run_seed, write_logs

REPL = SimConfig(nodes=5, duration=10.0, proposals=20.0)


def invariants(result):
    return sorted({v.invariant for v in result.violations})


def events(result, name):
    return [r for f, recs in result.files.items() if f.startswith("node-") for r in recs if r["event"] == name]


def test_proposals_replicate_commit_and_apply_the_same_entries_everywhere():
    r = run_seed(replace(REPL, faults=frozenset()), 1)
    assert r.ok, r.violations
    assert r.replication["accepted"] >= 150 and r.replication["max_commit"] >= r.replication["accepted"] - 5
    applied = {}
    for rec in events(r, "entries_applied"):
        applied.setdefault(rec["node"], []).append((rec["first"], rec["last"], rec["digest"]))
    assert sorted(applied) == [1, 2, 3, 4, 5]
    # every node applies 1..n in order, once, and the digests at the shared indexes agree
    at: dict[int, set[str]] = {}
    for node, runs in applied.items():
        assert runs[0][0] == 1 and all(b[0] == a[1] + 1 for a, b in zip(runs, runs[1:]))
        for first, last, digest in runs:
            at.setdefault(last, set()).add(digest)
    assert all(len(d) == 1 for d in at.values())


def test_every_incarnation_logs_log_loaded_right_after_node_started():
    r = run_seed(replace(REPL, faults=frozenset({"crash"})), 2)
    assert r.ok, r.violations
    for name, recs in r.files.items():
        if not name.startswith("node-"):
            continue
        for k, rec in enumerate(recs):
            if rec["event"] == "node_started":
                nxt = recs[k + 1]["event"]
                if nxt == "log_tail_cut":
                    nxt = recs[k + 2]["event"]
                assert nxt == "log_loaded", (name, k)
    assert len(events(r, "node_started")) > 5


def test_commit_advanced_comes_before_the_entries_applied_it_allows():
    r = run_seed(REPL, 3)
    assert r.ok, r.violations
    for name, recs in r.files.items():
        commit = 0
        for rec in recs:
            if rec["event"] in ("node_started",):
                commit = 0
            elif rec["event"] == "log_loaded":
                commit = rec["commit"]
            elif rec["event"] == "commit_advanced":
                commit = rec["commit"]
            elif rec["event"] == "entries_applied":
                assert rec["last"] <= commit, (name, rec)
                assert rec["term"] >= 1  # the node's current term, never 0


def test_a_few_dozen_seeds_with_every_fault_are_clean_and_exercise_recovery():
    cfg = replace(REPL, record_logs=False)
    tails = lost = 0
    for seed in range(30):
        r = run_seed(cfg, seed)
        assert r.ok, (seed, invariants(r), r.violations[:1])
        assert r.stats["replication"]["records"] > 0  # the replication checker ran on this seed
        tails += r.replication["tails_cut"]
        lost += r.replication["lost_entries"]
    assert tails > 0 and lost > 0  # torn tails were cut and unsynced entries lost (crashes inside an fsync)


def test_same_seed_with_proposals_gives_identical_records_and_another_seed_does_not():
    a, b, c = (Simulator(REPL, s).run() for s in (5, 5, 6))
    assert a.files == b.files and a.summary() == b.summary()
    assert a.files != c.files


def test_unsafe_disk_loses_a_committed_entry_and_the_checker_catches_it_safe_disk_never(tmp_path):
    """--disk unsafe-no-fsync: a crash drops the unsynced tail of a log that the node had acknowledged (and the
    cluster committed): invariant (k) committed-never-lost. The same seeds on the safe disk are clean."""
    unsafe = SimConfig(nodes=3, duration=10.0, proposals=50.0, disk="unsafe-no-fsync", faults=frozenset({"crash"}))
    caught = None
    for seed in range(20):
        r = run_seed(unsafe, seed)
        assert run_seed(replace(unsafe, disk="safe", record_logs=False), seed).ok
        if "k" in invariants(r):
            caught = r
            break
    assert caught is not None
    k = [v for v in caught.violations if v.invariant == "k"]
    assert "committed" in k[0].message
    # the written logs say the same to `raftzmq check`
    d = write_logs(caught, tmp_path / "run")
    assert "k" in {v.invariant for v in check_run(d).violations}


def test_cli_proposals_flag_summary_and_replay_line():
    out = CliRunner().invoke(sim, ["--seeds", "2", "--proposals", "10", "--duration", "5"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "replication:" in out.output and "commands proposed" in out.output
    assert "--proposals 10" in replay_command(SimConfig(proposals=10.0), 3)
    bad = CliRunner().invoke(sim, ["--proposals", "-1"])
    assert bad.exit_code == 2


def test_election_only_runs_write_no_replication_records():
    r = run_seed(SimConfig(nodes=5, duration=10.0), 4)
    names = Counter(rec["event"] for recs in r.files.values() for rec in recs)
    assert not {"log_loaded", "log_appended", "commit_advanced", "entries_applied"} & set(names)


def test_an_election_only_plug_in_core_runs_with_proposals_and_simply_replicates_nothing():
    import os

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cfg = SimConfig(nodes=3, duration=5.0, prevote=False, check_quorum=False, proposals=20.0,
                    core=f"{repo}/examples/minimal_core.py:MinimalCore")
    r = run_seed(cfg, 1)
    assert r.ok and r.replication["accepted"] == 0 and r.replication["max_commit"] == 0


def test_a_v2_plug_in_core_behind_the_contract_checks_replicates_and_restarts_with_its_log():
    cfg = SimConfig(nodes=5, duration=10.0, proposals=20.0, faults=frozenset({"crash"}),
                    core="raftzmq.protocol.core:ElectionCore")
    r = run_seed(cfg, 1)
    assert r.ok, r.violations
    assert r.replication["max_commit"] > 100
    assert any(rec["last"] > 0 for rec in events(r, "log_loaded"))  # a restart recovered a log
