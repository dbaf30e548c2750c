"""`raftzmq scenario double-vote` on real processes (issue 10, item 5): term-only persistence ends in two leaders
of one term and exit 1 with the checker's verdict; the default is clean and exits 0 - after the restarted voter
was really asked again in the same term and refused."""
from __future__ import annotations

import json

import pytest

from cluster_harness import Cluster

pytestmark = pytest.mark.cluster


CLUSTER_SESSION = {"check": False}  # conftest's `cluster`: the scenario's own verdict is what is tested


def _run(c: Cluster, persist: str) -> tuple[int, dict]:
    proc = c.cli("scenario", "double-vote", "--persist", persist, "--run-dir", str(c.run_dir), "--json", check=False,
                 timeout=120)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _second_request(c: Cluster, result: dict) -> tuple[int, int, int]:
    """(term, voter, second candidate): the term the first leader won by transfer, and who asked again in it."""
    started = c.records("transfer_requested")[0]
    term = min(int(t) for t, ns in result["leaders_per_term"].items() if started["node"] in ns)
    voter = started["leader"]
    second = next(n for n in (1, 2, 3) if n not in (voter, started["node"]))
    return term, voter, second


def test_term_only_double_vote_gives_two_leaders_in_one_term_and_exit_1(cluster):
    code, result = _run(cluster, "term-only")
    assert code == 1 and not result["ok"]
    names = {v["name"] for v in result["check"]["violations"]}
    assert names == {"one-leader-per-term", "one-vote-per-term"}, result["check"]["violations"]
    term, voter, second = _second_request(cluster, result)
    assert sorted(result["leaders_per_term"][str(term)]) == sorted([second, cluster.records(
        "transfer_requested")[0]["node"]])
    grants = [r["candidate"] for r in cluster.records("vote_granted", voter) if r["term"] == term]
    assert len(set(grants)) == 2  # the restarted voter granted its vote of that term twice
    assert cluster.cli("check", str(cluster.run_dir), check=False).returncode == 1


def test_default_persistence_refuses_the_second_vote_and_exits_0(cluster):
    code, result = _run(cluster, "term+vote")
    assert code == 0 and result["ok"], result
    assert all(len(ns) == 1 for ns in result["leaders_per_term"].values())
    term, voter, second = _second_request(cluster, result)
    # The question was really asked: the restarted voter denied the second candidate in that same term.
    denied = [r for r in cluster.records("vote_denied", voter) if r["term"] == term and r["candidate"] == second]
    assert denied and denied[0]["incarnation"] == 2, cluster.records(node=voter)
    assert cluster.cli("check", str(cluster.run_dir), check=False).returncode == 0
