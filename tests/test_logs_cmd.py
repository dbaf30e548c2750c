"""`raftzmq logs` and `raftzmq check` on hand-made runs: merged order, filters, JSON, following new files."""
from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from cluster_harness import REPO
from logs_fixtures import Run, clean_run
from proc_helpers import Procs, wait_until
from raftzmq.cli import main


def test_logs_are_merged_by_time_and_filtered(tmp_path):
    clean_run(tmp_path / "run")
    result = CliRunner().invoke(main, ["logs", "--run-dir", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["mono_ns"] for r in records] == sorted(r["mono_ns"] for r in records)
    assert {r["by"] for r in records} == {"node", "supervisor"}
    only = CliRunner().invoke(main, ["logs", "--run-dir", str(tmp_path / "run"), "--json",
                                     "--event", "became_leader", "--node", "1"])
    leaders = [json.loads(line) for line in only.output.splitlines()]
    assert leaders and all(r["event"] == "became_leader" and r["node"] == 1 for r in leaders)


def test_human_format_names_node_term_and_fields(tmp_path):
    clean_run(tmp_path / "run")
    out = CliRunner().invoke(main, ["logs", "--run-dir", str(tmp_path / "run"), "--event", "vote_granted"]).output
    line = out.splitlines()[0]
    assert "node " in line and "vote_granted" in line and "candidate=" in line and " t1 " in line


def test_logs_follow_picks_up_new_records_and_new_nodes(tmp_path):
    run = Run(tmp_path / "run", nodes=3)
    run.start(1)
    env = {"PYTHONPATH": str(REPO)}
    with Procs(tmp_path / "procs") as procs:
        follower = procs.spawn([sys.executable, "-m", "raftzmq", "logs", "-f", "--json", "--run-dir", str(run.dir)],
                               name="logs-f", env=env)
        seen = lambda: [json.loads(l) for l in follower.stdout_text().splitlines() if l.strip()]
        wait_until(lambda: any(r["event"] == "node_started" for r in seen()), 10, "the existing record")
        run.start(4)  # a node file that did not exist when following began
        run.campaign(4, term=1)
        wait_until(lambda: any(r["event"] == "became_candidate" and r["node"] == 4 for r in seen()), 10,
                   "records of a new node file")
    run.close()


def test_check_reports_violation_with_location_and_exit_1(tmp_path):
    run = clean_run(tmp_path / "run")
    run.start(3, term=5)
    run.lead(3, 1)  # a second leader of term 1, and without votes
    proc = subprocess.run([sys.executable, "-m", "raftzmq", "check", str(run.dir)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO)}, timeout=60)
    assert proc.returncode == 1
    assert "node-3.jsonl:" in proc.stdout and "one-leader-per-term" in proc.stdout


def test_check_of_missing_dir_is_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["check", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "nope" in result.output
