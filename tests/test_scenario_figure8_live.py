"""`raftzmq scenario figure8 --live` (issue 18, deliver 5): on 5 real processes, the Figure 8 mutant lets two nodes
apply different entries at one index (exit 1, and `raftzmq check` of the run says state-machine-safety); the
built-in core, driven through the same script, refuses the stale node (exit 0). Every attempt's cluster is
stopped and its processes SIGKILLed by pid afterwards, even when the test fails."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cluster_harness import REPO, Cluster
from raftzmq.cli import main
from raftzmq.evidence.logfile import read_run

pytestmark = pytest.mark.cluster

MUTANT = "raftzmq.lab.conform.mutants:CommitsOldTerm"


@pytest.fixture
def f8_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "f8"
    try:
        yield root
    finally:
        clusters = [Cluster(p) for p in sorted(root.glob("attempt-*"))]
        for c in clusters:
            c.cleanup()
        assert not any(c.live_pids() for c in clusters), "processes left behind"


def _run(root: Path, *args: str) -> tuple[int, dict]:
    proc = Cluster(root).cli("scenario", "figure8", "--live", "--run-dir", str(root), "--json", *args, check=False,
                             timeout=600)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _applied_terms(run: Path, index: int) -> dict[int, set[int]]:
    """node -> the terms of the entries it held at `index` whenever it applied up to or past it (from the records:
    its log's terms rebuilt from log_loaded / log_appended)."""
    logs: dict[int, list[int]] = {}
    out: dict[int, set[int]] = {}
    for loc in read_run(run):
        r = loc.record
        n = r["node"]
        if r["event"] == "log_loaded":
            logs[n] = [t for t, k in r["terms"] for _ in range(k)]
        elif r["event"] == "log_appended":
            logs[n] = logs.get(n, [])[: r["first"] - 1] + [t for t, k in r["terms"] for _ in range(k)]
        elif r["event"] == "entries_applied" and r["first"] <= index <= r["last"]:
            out.setdefault(n, set()).add(logs[n][index - 1])
    return out


def test_live_figure8_mutant_applies_two_entries_at_one_index_and_exits_1(f8_root):
    code, result = _run(f8_root, "--core", MUTANT)
    assert code == 1 and result["completed"] and result["e_won"] is True, result
    assert result["attempts"] <= 3 and len(result["spoiled"]) == result["attempts"] - 1
    assert "state-machine-safety" in {v["name"] for v in result["violations"]}
    run = f8_root / f"attempt-{result['attempts']}"
    # The property itself, from the records: at the index of X and Y, nodes applied entries of two terms.
    index = int(next(s for s in result["steps"] if " 1. " in s).split("at index ")[1].split()[0])
    applied = _applied_terms(run, index)
    assert len(set().union(*applied.values())) == 2, applied
    verdict = Cluster(f8_root).cli("check", str(f8_root), check=False)
    assert verdict.returncode == 1 and "state-machine-safety" in verdict.stdout, verdict.stdout


def test_live_figure8_builtin_refuses_the_stale_node_and_exits_0(f8_root):
    code, result = _run(f8_root)
    assert code == 0 and result["completed"] and result["e_won"] is False, result
    run = f8_root / f"attempt-{result['attempts']}"
    e = int(next(s for s in result["steps"] if " 2. " in s).split("S5 = node ")[1].split()[0])
    # The stale node really asked and was refused for its log (not for a term), by two nodes holding X.
    refused = {r["node"] for r in read_run(run) and [loc.record for loc in read_run(run)]
               if r["event"] == "vote_denied" and r.get("candidate") == e and r.get("reason") == "log_behind"}
    assert len(refused) >= 2, refused
    index = int(next(s for s in result["steps"] if " 1. " in s).split("at index ")[1].split()[0])
    applied = _applied_terms(run, index)
    assert len(applied) >= 4 and len(set().union(*applied.values())) == 1, applied
    assert Cluster(f8_root).cli("check", str(f8_root), check=False).returncode == 0


def test_live_figure8_options_are_refused_where_they_do_not_apply(tmp_path):
    runner = CliRunner()
    out = runner.invoke(main, ["scenario", "figure8", "--live", "--log-dir", str(tmp_path)])
    assert out.exit_code == 2 and "--log-dir is for the simulator" in out.output
    out = runner.invoke(main, ["scenario", "figure8", "--run-dir", str(tmp_path)])
    assert out.exit_code == 2 and "--run-dir needs --live" in out.output
    out = runner.invoke(main, ["scenario", "figure8", "--live", "--core", "no_such_module:Core"])
    assert out.exit_code == 2 and "cannot import no_such_module" in out.output
    for live in (["--live"], []):  # an election-only core: one line, before any process starts
        out = runner.invoke(main, ["scenario", "figure8", *live, "--core", f"{REPO}/examples/minimal_core.py:MinimalCore"])
        assert out.exit_code == 2 and "election-only" in out.output and "Traceback" not in out.output, out.output


class _FakeCheck:
    ok = True
    violations: list = []

    def to_dict(self) -> dict:
        return {"ok": True}


def _fake_attempts(monkeypatch, spoil: int):
    """figure8_live with no processes: attempts 1..spoil are spoiled, the next completes."""
    import contextlib

    from raftzmq.lab.live import figure8_live as live

    calls: list[Path] = []

    @contextlib.contextmanager
    def cluster(run_dir, *args):
        calls.append(run_dir)
        yield None

    class Attempt:
        def __init__(self, run_dir, client, out, say):
            self.n = len(calls)

        def say(self, text):
            pass

        def run(self):
            if self.n <= spoil:
                raise live.Spoiled(f"cut late in attempt {self.n}")
            return True

    monkeypatch.setattr(live, "detached_cluster", cluster)
    monkeypatch.setattr(live, "_Attempt", Attempt)
    monkeypatch.setattr(live, "check_run", lambda d: _FakeCheck())
    return live, calls


def test_a_spoiled_attempt_is_run_again_in_a_fresh_cluster_at_most_attempts_times(tmp_path, monkeypatch):
    live, calls = _fake_attempts(monkeypatch, spoil=2)
    out = live.figure8_live(tmp_path / "r", attempts=3)
    assert out.completed and out.attempts == 3 and len(out.spoiled) == 2 and len(out.checks) == 3
    assert [p.name for p in calls] == ["attempt-1", "attempt-2", "attempt-3"]
    live, calls = _fake_attempts(monkeypatch, spoil=5)
    out = live.figure8_live(tmp_path / "s", attempts=2)
    assert not out.completed and out.attempts == 2 and out.spoiled == ["cut late in attempt 1",
                                                                      "cut late in attempt 2"]
    monkeypatch.setattr("raftzmq.commands.scenario.render_summary", lambda check: "OK\n")
    result = CliRunner().invoke(main, ["scenario", "figure8", "--live", "--attempts", "2", "--run-dir",
                                       str(tmp_path / "t")])
    assert result.exit_code == 2 and "all 2 attempts were spoiled: cut late in attempt" in result.output
