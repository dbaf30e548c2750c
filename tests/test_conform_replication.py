"""conform for contract v2 (issue 18): the replication claims (§5.3-5.4, Figures 7 and 8) hold for the built-in
core and the v2 JSON-lines example, each replication mutant fails its claim and (but one) is caught by a seeded
run with client proposals at its smallest seed, with a replay line that works in a shell; an election-only (v1)
core is judged on election alone."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cluster_harness import REPO
from raftzmq.lab.conform.claims import CLAIMS, REPLICATION_CLAIMS, run_claims
from raftzmq.lab.conform.mutants import REPLICATION
from raftzmq.lab.conform.scorecard import PROPOSALS, conform, core_version, render
from raftzmq.protocol.core import ElectionCore
from raftzmq.runtime.cores.coreload import load_core

V2_EXAMPLE = f"exec:{sys.executable} {REPO}/examples/jsonl_raft_core.py"


def test_builtin_core_holds_every_replication_claim():
    assert core_version(ElectionCore) == 2
    results = run_claims(ElectionCore, 2)
    assert [r.name for r in results] == list(CLAIMS) + list(REPLICATION_CLAIMS)
    bad = [(r.name, r.expected) for r in results if not r.ok]
    assert not bad, bad
    fig7 = next(r for r in results if r.name == "figure7-f")
    assert any("append [4@4 5@4" in line for line in fig7.transcript)  # (f)'s entries 4..11 were replaced


def test_v2_jsonl_example_holds_every_claim_over_the_exec_adapter():
    factory = load_core(V2_EXAMPLE, probe=True)
    try:
        assert core_version(factory) == 2
        bad = [(r.name, r.expected) for r in run_claims(factory, 2) if not r.ok]
        assert not bad, bad
    finally:
        factory.close()
    card = conform(V2_EXAMPLE, seeds=1, sizes=(3,), duration=5.0)  # its seeds run with proposals, checked
    assert card.ok and card.contract == 2 and card.proposals == PROPOSALS, card.to_dict()


def test_v1_core_is_judged_on_election_alone():
    card = conform(f"{REPO}/examples/minimal_core.py:MinimalCore", seeds=1, sizes=(3,), duration=5.0)
    assert card.ok, card.to_dict()
    assert card.contract == 1 and card.proposals == 0
    assert [c.name for c in card.claims] == list(CLAIMS)
    assert card.skipped == list(REPLICATION_CLAIMS)
    assert "contract v1 (election only)" in render(card) and "replication claims skipped" in render(card)
    v1_exec = load_core(f"exec:{sys.executable} {REPO}/examples/jsonl_core.py")
    try:
        assert core_version(v1_exec) == 1
    finally:
        v1_exec.close()


@pytest.mark.parametrize("name", sorted(REPLICATION))
def test_each_replication_mutant_fails_its_claim(name):
    mutant = REPLICATION[name]
    results = {r.name: r for r in run_claims(load_core(f"raftzmq.lab.conform.mutants:{name}"), 2)}
    assert not results[mutant.claim].ok
    assert all(results[c].ok for c in CLAIMS), [c for c in CLAIMS if not results[c].ok]  # election intact


CAUGHT = sorted(n for n, m in REPLICATION.items() if m.finding is not None)


@pytest.mark.parametrize("name", CAUGHT)
def test_each_replication_mutant_is_caught_at_its_smallest_seed_with_a_shell_replay(name, tmp_path):
    mutant = REPLICATION[name]
    spec = f"raftzmq.lab.conform.mutants:{name}"
    card = conform(spec, seeds=4, sizes=(3,), duration=10.0)
    assert card.contract == 2 and card.proposals == PROPOSALS
    f = card.failure
    assert f is not None and mutant.finding in {x.kind for x in f.findings}, f
    assert f"--proposals {PROPOSALS:g}" in f.replay
    # Pasted into a shell, the replay line finds the same first finding and writes logs the checker judges.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(["bash", "-c", f.replay + f" --log-dir {tmp_path}/logs"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"({f.findings[0].kind})" in out.stdout and "Traceback" not in out.stderr
