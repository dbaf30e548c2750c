"""The small rough edges of issue 21 (item 5), each with a test: fuzz against a CURVE cluster says why at once;
conform without failovers prints no "None"; check's errors carry the "raftzmq: error:" prefix; a core without
PreVote run with PreVote on is warned about; bench cluster prints milliseconds, not nanoseconds; --base-port with
--transport ipc is refused. (`restart` of a running node saying it killed it: tests/test_careless_cluster.py.)"""
from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.lab.bench import cluster as bench_cluster
from raftzmq.lab.conform.scorecard import Scorecard, render
from raftzmq.runtime.cores.coreload import ignores_prevote

MINIMAL = "examples/minimal_core.py:MinimalCore"


def test_fuzz_against_a_curve_cluster_says_why_at_once(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "cluster.json").write_text(json.dumps({"run_id": "x", "nodes": 3, "auth": "curve", "control": "ipc://x",
                                                  "endpoints": {}}))
    started = time.monotonic()
    got = CliRunner().invoke(main, ["fuzz", "--run-dir", str(run)])
    assert time.monotonic() - started < 5  # not 20 s of waiting for frames nobody takes
    assert got.exit_code == 2 and got.stderr.startswith("raftzmq: error: ")
    assert "--auth curve" in got.stderr and "auth_rejected" in got.stderr and "took no frame" not in got.stderr


def test_conform_without_failovers_prints_no_none():
    card = Scorecard("x", [], seeds_run=3, sizes=(3,), liveness={
        "cold_start_runs": 3, "first_leader_median_s": None, "first_leader_max_s": None, "simulated_s": 0,
        "leaderless_fraction": None, "elections_per_s": None, "failovers": 0, "failover_median_s": None,
        "failover_p99_s": None, "unresolved_failovers": 0})
    text = render(card)
    assert "None" not in text and "0 failovers," in text and "no leader in any cold start" in text


@pytest.mark.parametrize("args", [["check", "no/such/run"], ["check", "--run-dir", "no/such/run", "--json"]])
def test_check_errors_carry_the_prefix_every_command_uses(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = CliRunner().invoke(main, args)
    assert got.exit_code == 2
    if "--json" in args:
        assert json.loads(got.stdout)["error"].startswith("no/such/run")
    else:
        assert got.stderr.startswith("raftzmq: error: no/such/run") and "\n" == got.stderr[-1]


def test_a_core_without_prevote_run_with_prevote_on_is_warned_about(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ignores_prevote(f"{_repo()}/{MINIMAL}")
    assert not ignores_prevote("builtin") and not ignores_prevote("raftzmq.lab.conform.mutants:NoStepDown")
    core = f"{_repo()}/{MINIMAL}"
    warned = CliRunner().invoke(main, ["sim", "--core", core, "--seeds", "1", "--duration", "0.2", "--no-check-quorum"])
    assert "raftzmq: warning: core" in warned.stderr and "does not do PreVote" in warned.stderr, warned.output
    quiet = CliRunner().invoke(main, ["sim", "--core", core, "--seeds", "1", "--duration", "0.2", "--no-prevote",
                                      "--no-check-quorum"])
    assert "warning" not in quiet.stderr
    builtin = CliRunner().invoke(main, ["sim", "--seeds", "1", "--duration", "0.2"])
    assert "warning" not in builtin.stderr


def _repo() -> str:
    from pathlib import Path
    return str(Path(__file__).resolve().parent.parent)


def test_bench_cluster_prints_milliseconds_not_nanoseconds(monkeypatch):
    monkeypatch.setattr(bench_cluster, "cold_start", lambda **kw: {
        "nodes": 5, "runs": 1, "samples_s": [0.376292844], "median_s": 0.376292844, "min_s": 0.376292844,
        "max_s": 0.376292844})
    monkeypatch.setattr(bench_cluster, "idle_usage", lambda **kw: {
        "leader_cpu_pct": 1.5, "follower_cpu_pct_median": 0.5, "follower_cpu_pct_max": 0.7,
        "supervisor_cpu_pct": 0.1, "rss_mb_median": 30.0, "rss_mb_max": 31.0, "stable": True})
    got = CliRunner().invoke(main, ["bench", "cluster", "--runs", "1", "--idle", "0.1"])
    assert got.exit_code == 0, got.output
    assert "0.376292844" not in got.output and "0.376" in got.output


def test_base_port_with_ipc_is_refused_not_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    got = CliRunner().invoke(main, ["start", "--detach", "--transport", "ipc", "--base-port", "20000"])
    assert got.exit_code == 2 and got.stderr.startswith("raftzmq: error: ") and "base_port" in got.stderr
    assert "with ipc the nodes listen on sockets in the run directory" in got.stderr
    assert not (tmp_path / "logs").exists()
