"""`raftzmq bench failover` (Figure 16): its outputs agree with the logs they come from, `--from` reproduces the
live table, the model matches the issue's reference points, and the kill phase is uniform (checked on the
simulator, where a mutant that always kills right after a heartbeat is caught)."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cluster_harness import Cluster, REPO
from raftzmq.evidence.logfile import read_run
from raftzmq.lab.bench import failover as bench_failover, failover_sim
from raftzmq.lab.bench.failover import run_failover
from raftzmq.lab.bench.failover_sim import run_sim_trials
from raftzmq.lab.bench.failover_trials import disruptions, read_csv, trials_from_run
from raftzmq.lab.bench.fig16 import model_trials, parse_ranges, summarize
from raftzmq.lab.bench.fig16_svg import render_cdf_svg


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "raftzmq", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _expected_from_logs(run_dir: Path) -> list[tuple[int, float, int]]:
    """(kill mono_ns, downtime ms, terms) per SIGKILL of the current leader, straight from the raw records."""
    leader, term, pending, out = None, 0, None, []
    for rec in (loc.record for loc in read_run(run_dir)):
        if rec["event"] == "cluster_stopping":
            break
        if rec["event"] == "became_leader" and rec["term"] > term:
            if pending is not None:
                out.append((pending[0], (rec["mono_ns"] - pending[0]) / 1e6, rec["term"] - pending[1]))
                pending = None
            leader, term = rec["node"], rec["term"]
        elif rec["event"] == "node_killed" and rec["by"] == "supervisor" and rec["node"] == leader and not pending:
            assert rec["signal"] == "SIGKILL"
            pending = (rec["mono_ns"], term)
    return out


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(q * len(ordered)) - 1]


def _svg_series(svg: str) -> dict[tuple[str, str], list[float]]:
    root = ET.fromstring(svg)
    return {(p.get("data-source"), p.get("data-range")): [float(v) for v in p.get("data-values").split()]
            for p in root.iter("{http://www.w3.org/2000/svg}path")}


@pytest.mark.cluster
def test_bench_failover_end_to_end_agrees_with_its_logs_and_from_reproduces_it(tmp_path):
    out = tmp_path / "fig16"
    try:
        live = _cli("bench", "failover", "--timeouts", "50-100", "--trials", "3", "--sim", "--seed", "5",
                    "--out", str(out))
    finally:
        if (out / "real-50-100").is_dir():
            Cluster(out / "real-50-100").cleanup()
    assert live.returncode == 0, live.stderr
    assert re.search(r"trial 3 killed leader \d .* 3/3, ETA", live.stderr)

    expected = _expected_from_logs(out / "real-50-100")
    assert len(expected) == 3
    rows = [r for r in read_csv(out / "trials.csv") if r["source"] == "real"]
    assert [(int(r["kill_mono_ns"]), float(r["downtime_ms"]), int(r["terms"])) for r in rows] == \
        [(k, round(d, 3), t) for k, d, t in expected]
    assert all(r["loaded"] in ("True", "False") and r["load1"] for r in rows)  # load recorded per trial

    downtimes = [round(d, 3) for _, d, _ in expected]
    real = json.loads((out / "summary.json").read_text())["ranges"]["50-100"]["real"]
    assert real["trials"] == 3
    assert (real["min"], real["p50"], real["max"]) == (min(downtimes), _nearest_rank(downtimes, 0.5), max(downtimes))
    real_row = next(line for line in live.stdout.splitlines() if line.startswith("  real "))
    assert real_row.split()[1:5] == ["3", f"{min(downtimes):.1f}", f"{_nearest_rank(downtimes, 0.5):.1f}",
                                     f"{_nearest_rank(downtimes, 0.9):.1f}"]

    series = _svg_series((out / "fig16.svg").read_text())
    assert series[("real", "50-100")] == sorted(downtimes)
    sim_rows = [r for r in read_csv(out / "trials.csv") if r["source"] == "sim"]
    assert series[("sim", "50-100")] == sorted(float(r["downtime_ms"]) for r in sim_rows) and len(sim_rows) == 3
    assert {("model", "50-100"), ("paper", "50-100")} <= set(series)

    live_csv = (out / "trials.csv").read_text()
    (out / "trials.csv").unlink()
    again = _cli("bench", "failover", "--from", str(out))
    assert again.returncode == 0, again.stderr
    assert again.stdout == live.stdout
    assert (out / "trials.csv").read_text() == live_csv


def _write_records(run_dir: Path, records: list[dict]) -> None:
    run_dir.mkdir()
    (run_dir / "cluster.json").write_text(json.dumps({"nodes": 5}))
    lines = {}
    for r in records:
        name = "supervisor.jsonl" if r["by"] == "supervisor" else f"node-{r['node']}.jsonl"
        lines.setdefault(name, []).append(json.dumps(r))
    for name, text in lines.items():
        (run_dir / name).write_text("\n".join(text) + "\n")


def _rec(ms: float, event: str, node: int, by: str = "node", term: int = 1, **fields) -> dict:
    base = {"ts": ms / 1000, "mono_ns": int(ms * 1e6), "event": event, "by": by, "node": node, **fields}
    return base | ({"term": term, "incarnation": 1, "seq": int(ms) + 1} if by == "node" else {})


def test_a_trial_is_a_kill_of_the_leader_until_a_higher_term_leads(tmp_path):
    _write_records(tmp_path / "run", [
        _rec(0, "became_leader", 1, term=1),
        _rec(100, "node_killed", 3, by="supervisor", pid=1, signal="SIGKILL"),  # a follower: not a trial
        _rec(200, "node_killed", 1, by="supervisor", pid=1, signal="SIGKILL"),
        _rec(340, "election_timeout", 2, term=1),
        _rec(341, "became_precandidate", 2, term=1),
        _rec(346, "state_persisted", 2, term=2, voted_for=2),
        _rec(347, "state_persisted", 3, term=2, voted_for=2),  # a voter's persist: not the winner's own
        _rec(348, "vote_granted", 3, term=2, candidate=2),
        _rec(350, "vote_granted", 4, term=2, candidate=2),
        _rec(351, "vote_granted", 5, term=2, candidate=2),
        _rec(352, "became_leader", 2, term=2),
        _rec(900, "node_killed", 2, by="supervisor", pid=1, signal="SIGKILL"),  # never recovered
    ])
    trials, unrecovered = trials_from_run(tmp_path / "run", source="real", label="150-300")
    assert [(t.leader, t.new_leader, t.downtime_ms, t.terms, t.detect_ms, t.prevote_ms, t.vote_ms, t.voter_ms)
            for t in trials] == [(1, 2, 152.0, 1, 140.0, 5.0, 6.0, 4.0)]
    assert unrecovered == 1
    assert disruptions(tmp_path / "run", 5) == {"kills": 3, "kills_missing_the_leader": 1, "other_leader_losses": {}}


def test_a_failover_without_a_timeout_has_no_detect_time(tmp_path):
    # A hinted failover logs no election_timeout; a later, unrelated timeout is not its detection.
    _write_records(tmp_path / "run", [
        _rec(0, "became_leader", 1, term=1),
        _rec(100, "node_killed", 1, by="supervisor", pid=1, signal="SIGKILL"),
        _rec(103, "hint", 2, term=1, peer=1, closed="tcp://127.0.0.1:1"),
        _rec(112, "became_leader", 2, term=2),
        _rec(2500, "election_timeout", 3, term=2),
    ])
    trials, _ = trials_from_run(tmp_path / "run", source="real", label="150-300")
    assert [(t.downtime_ms, t.detect_ms) for t in trials] == [(12.0, None)]


def test_model_matches_the_issue_reference_points():
    # Issue 7: Monte Carlo of the model, 5 nodes, 150-300 ms: median ~144 ms at heartbeat 75, ~154 at 50;
    # 12-24 ms at heartbeat 6: ~14 ms.
    for rng, hb, p50 in (((150, 300), 75, 144), ((150, 300), 50, 154), ((12, 24), 6, 14)):
        downtimes, _ = model_trials(rng, heartbeat_ms=hb, trials=20_000, seed=1)
        assert abs(summarize(downtimes).p50 - p50) <= 0.05 * p50, (rng, hb, summarize(downtimes))


def test_model_splits_votes_only_when_candidates_crowd():
    # With 4 survivors and a quorum of 3, a term fails only if 3 of them time out within one vote window:
    # impossible when the range is far wider than the window, almost certain when it is narrower.
    _, wide = model_trials((150, 300), heartbeat_ms=75, trials=5000, one_way_ms=0.01, persist_ms=0.01, late_ms=0)
    _, narrow = model_trials((150, 151), heartbeat_ms=75, trials=500, one_way_ms=0.25, persist_ms=0.5)
    assert sum(t > 1 for t in wide) / len(wide) < 0.002
    assert sum(t > 1 for t in narrow) / len(narrow) > 0.5


def _sim_detect_mean(tmp: Path, monkeypatch=None) -> float:
    run_sim_trials(tmp, timeout_ms=(100, 200), heartbeat_ms=50, nodes=5, trials=300, one_way_ms=0.05,
                   jitter_ms=0.01, persist_ms=0.5, settle_s=0.4, seed=11)
    trials, _ = trials_from_run(tmp, source="sim", label="100-200")
    assert len(trials) == 300
    return sum(t.detect_ms for t in trials) / len(trials)


def test_the_kill_phase_is_uniform_over_the_heartbeat_interval(tmp_path, monkeypatch):
    # detect = min(T_i) - phase: E = 100 + 100/5 - 50/2 = 95 ms for a uniform phase; the standard error of the
    # mean over 300 trials is ~1.3 ms. A driver that kills at a fixed phase (just after a heartbeat) gives ~120.
    assert abs(_sim_detect_mean(tmp_path / "uniform") - 95.0) < 5.0

    class RightAfterHeartbeat(failover_sim._Driver):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.rng.uniform = lambda a, b: 0.0  # the mutant: no random wait before the kill
    monkeypatch.setattr(failover_sim, "_Driver", RightAfterHeartbeat)
    assert abs(_sim_detect_mean(tmp_path / "fixed") - 95.0) > 5.0


def test_svg_carries_the_values_it_draws():
    svg = render_cdf_svg([("12-24", {"real": [30.0, 10.0, 20.0], "model": [11.0, 12.0]}, [(15, 0.0), (30, 0.5)])],
                         "t")
    series = _svg_series(svg)
    assert series[("real", "12-24")] == [10.0, 20.0, 30.0]
    assert series[("paper", "12-24")] == [15.0, 30.0]
    steps = re.findall(r"H([\d.]+)V([\d.]+)", re.search(r'd="([^"]+)"[^>]*data-source="real"', svg)[1])
    xs, ys = [float(x) for x, _ in steps], [float(y) for _, y in steps]
    assert len(steps) == 3 and xs == sorted(xs) and ys == sorted(ys, reverse=True)  # up by one third per value
    assert ys[0] - ys[1] == pytest.approx(ys[1] - ys[2], abs=0.15)


@pytest.mark.parametrize("args, message", [
    (["--timeouts", "24-12"], "bad timeout range '24-12'"),
    (["--timeouts", "12-24", "--heartbeat", "7"], "more than half the minimum"),
    (["--heartbeat", "fast"], "--heartbeat must be"),
    (["--from", "/nonexistent/run"], "not a bench failover run directory"),
    (["--core", "no_such_module_xyz:Core"], "cannot import no_such_module_xyz"),
    (["--core", "examples/minimal_core.py:NoSuchClass"], "has no class NoSuchClass"),
])
def test_bad_input_is_one_line_and_exit_2(args, message):
    proc = _cli("bench", "failover", *args, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_core_spec_reaches_start_the_simulator_and_the_run_metadata(tmp_path, monkeypatch):
    # No cluster: `start` and the simulator are stand-ins that record what they were given; the metadata and
    # `--from` are the real ones.
    spec = f"{REPO}/tests/contract_core.py:ContractCore"
    starts, sims = [], []

    def fake_start(*argv, **_):
        starts.append(list(argv))
        raise RuntimeError("no cluster in this test")  # the range stops early, as a broken start would
    monkeypatch.setattr(bench_failover, "run_cli", fake_start)
    monkeypatch.setattr(bench_failover, "measure_costs", lambda _out: {
        "one_way_ms": {"median": 0.1, "p90": 0.2}, "persist_ms": {"median": 1.0}})
    monkeypatch.setattr(bench_failover, "run_sim_trials", lambda path, **kw: sims.append(kw))
    out = tmp_path / "run"
    run_failover(out, ranges=[(150, 300)], trials=2, nodes=5, heartbeat="half", seed=1, sim=True,
                 progress=lambda _m: None, core=spec)
    assert starts[0][starts[0].index("--core") + 1] == spec
    assert sims[0]["core"] == spec
    assert json.loads((out / bench_failover.META).read_text())["core"] == spec
    shown = _cli("bench", "failover", "--from", str(out), "--json", timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["core"] == spec and f"core {spec}," in json.loads(shown.stdout)["table"]


def test_parse_ranges_all_is_the_papers_nine():
    assert len(parse_ranges("all")) == 9 and parse_ranges("12-24, 150-151") == [(12, 24), (150, 151)]


def _fake_run(out: Path, hints: bool) -> list[float]:
    """A run directory whose 'real' logs come from the simulator (same record format): cheap, and real enough for
    the report. Returns the downtimes its trials.csv gives."""
    out.mkdir()
    costs = {"one_way_ms": {"median": 0.1, "p90": 0.2}, "persist_ms": {"median": 1.0, "p90": 2.0},
             "persist_in_run_ms": 1.0}
    (out / "failover.json").write_text(json.dumps({
        "ranges": [[150, 300]], "trials": 4, "nodes": 5, "heartbeat": "half", "heartbeat_ms": {"150-300": 75},
        "seed": 3, "sim": False, "hints": hints, "core": "builtin", "costs": {"150-300": costs}}))
    run_sim_trials(out / "real-150-300", timeout_ms=(150, 300), heartbeat_ms=75, nodes=5, trials=4, one_way_ms=0.1,
                   jitter_ms=0.05, persist_ms=1.0, settle_s=0.6, seed=3, hints=hints)
    trials, _ = trials_from_run(out / "real-150-300", source="real", label="150-300")
    return sorted(t.downtime_ms for t in trials)


def test_from_several_runs_draws_them_on_one_chart(tmp_path):
    on, off = _fake_run(tmp_path / "on", True), _fake_run(tmp_path / "off", False)
    assert len(on) == len(off) == 4 and max(on) < min(off)  # hints: milliseconds; timeouts: over 100 ms
    chart = tmp_path / "both.svg"
    proc = _cli("bench", "failover", "--from", str(tmp_path / "on"), "--from", str(tmp_path / "off"),
                "--out", str(chart), timeout=120)
    assert proc.returncode == 0, proc.stderr
    series = _svg_series(chart.read_text())
    assert [round(v, 3) for v in series[("real hints on", "150-300")]] == [round(v, 3) for v in on]
    assert [round(v, 3) for v in series[("real hints off", "150-300")]] == [round(v, 3) for v in off]
    assert {("paper", "150-300"), ("model", "150-300")} <= set(series)
    assert "real, hints on" in chart.read_text() and "real, hints off" in chart.read_text()  # the legend
    no_chart = _cli("bench", "failover", "--from", str(tmp_path / "on"), "--from", str(tmp_path / "off"), timeout=60)
    assert no_chart.returncode == 2 and "--out FILE.svg" in no_chart.stderr
