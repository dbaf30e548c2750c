"""`raftzmq check RUN` judges a workload's history.jsonl in the run folder beside the Raft logs: the worst verdict
decides the exit code, and a run without a history is judged on its logs alone, as before."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from raftzmq.cli import main

GOOD = [
    {"process": 0, "type": "invoke", "f": "put", "key": "x", "value": 1},
    {"process": 0, "type": "ok", "f": "put", "key": "x", "value": 1},
    {"process": 1, "type": "invoke", "f": "get", "key": "x", "value": None},
    {"process": 1, "type": "ok", "f": "get", "key": "x", "value": 1},
]
STALE = GOOD[:2] + [
    {"process": 1, "type": "invoke", "f": "get", "key": "x", "value": None},
    {"process": 1, "type": "ok", "f": "get", "key": "x", "value": None},  # after an acknowledged put: stale
]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("sim") / "run"
    result = CliRunner().invoke(main, ["sim", "--seed", "3", "--nodes", "3", "--duration", "3", "--faults", "none",
                                       "--log-dir", str(run)])
    assert result.exit_code == 0, result.output
    return run


def _copy(run, tmp_path, history=None, raw=None):
    dst = tmp_path / "run"
    dst.mkdir()
    for f in run.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    if history is not None:
        (dst / "history.jsonl").write_text("".join(json.dumps(op) + "\n" for op in history))
    if raw is not None:
        (dst / "history.jsonl").write_text(raw)
    return dst


def test_a_run_without_a_history_is_judged_on_its_logs(clean_run):
    result = CliRunner().invoke(main, ["check", str(clean_run)])
    assert result.exit_code == 0, result.output
    assert "client history" not in result.output


def test_a_linearizable_history_keeps_a_clean_run_clean(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path, GOOD)
    result = CliRunner().invoke(main, ["check", str(run)])
    assert result.exit_code == 0, result.output
    assert "client history history.jsonl: LINEARIZABLE (2 operations)" in result.output


def test_a_stale_read_in_the_history_fails_the_run_even_with_clean_logs(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path, STALE)
    result = CliRunner().invoke(main, ["check", str(run)])
    assert result.exit_code == 1, result.output
    assert "NOT LINEARIZABLE" in result.output
    doc = json.loads(CliRunner().invoke(main, ["check", str(run), "--json"]).output)
    assert doc["history"]["verdict"] == "not linearizable"


def test_an_unreadable_history_is_exit_2_naming_it(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path, raw='{"process": 0, "type": "invoke"\n')
    result = CliRunner().invoke(main, ["check", str(run)])
    assert result.exit_code == 2, result.output
    assert "history.jsonl: cannot be checked" in result.output


def test_an_acknowledged_write_the_workload_found_lost_fails_the_run(clean_run, tmp_path):
    run = _copy(clean_run, tmp_path, GOOD)
    (run / "workload.json").write_text(json.dumps({"history_path": str(run / "history.jsonl"),
                                                   "final": {"lost": [{"key": "x", "acked": 1, "read": None}]}}))
    result = CliRunner().invoke(main, ["check", str(run)])
    assert result.exit_code == 1, result.output
    assert "acknowledged writes lost: 1" in result.output
