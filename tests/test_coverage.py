"""Evidence that knows it is incomplete: lost records, incarnations and files give "incomplete evidence" (exit 3),
never a verdict computed from part of the records; the log writer reopens a file that disappeared."""
from __future__ import annotations

import io
import json
import os

from click.testing import CliRunner

from logs_fixtures import Run, clean_run
from raftzmq.cli import main
from raftzmq.evidence.checker import EXIT_INCOMPLETE, check_run, run_check
from raftzmq.evidence.logfile import LogTail, LogWriter, iter_records


def kinds(result):
    return sorted({g.kind for g in result.incomplete})


def lines(path):
    return [rec for rec, _ in iter_records(path)]


# ------------------------------------------------------------------------------------------- the writer


def test_writer_reopens_a_deleted_file_and_says_so(tmp_path):
    path = tmp_path / "node-1.jsonl"
    w = LogWriter(path, by="node", node=1, incarnation=1)
    w.write("node_started", term=0, voted_for=None, persist_mode="term+vote")
    w.write("election_timeout", term=0)
    path.unlink()
    w.write("became_candidate", term=1)
    got = lines(path)
    assert [r["event"] for r in got] == ["log_reopened", "became_candidate"]
    assert got[0]["reason"] == "missing" and got[0]["records_before"] == 2 and got[0]["seq"] == 3
    assert got[1]["seq"] == 4 and w.reopened == 1


def test_writer_notices_a_replaced_file(tmp_path):
    path = tmp_path / "supervisor.jsonl"
    w = LogWriter(path, by="supervisor", node=0)
    w.write("heal")
    (tmp_path / "other").write_text("")
    os.replace(tmp_path / "other", path)
    w.write("heal")
    got = lines(path)
    assert [r["event"] for r in got] == ["log_reopened", "heal"] and got[0]["reason"] == "replaced"


def test_writer_with_an_intact_file_never_reopens(tmp_path):
    path = tmp_path / "node-1.jsonl"
    w = LogWriter(path, by="node", node=1, incarnation=1)
    for term in range(5):
        w.write("election_timeout", term=term)
    assert w.reopened == 0 and [r["seq"] for r in lines(path)] == [1, 2, 3, 4, 5]


def test_tail_starts_over_on_a_file_written_anew(tmp_path):
    path = tmp_path / "node-1.jsonl"
    w = LogWriter(path, by="node", node=1, incarnation=1)
    for term in range(3):
        w.write("election_timeout", term=term)
    tail = LogTail(tmp_path)
    assert len(tail.poll()) == 3
    path.unlink()
    for term in range(3, 8):  # the new file grows past the old read position before the next poll
        w.write("election_timeout", term=term)
    events = [loc.record["event"] for loc in tail.poll()]
    assert events[0] == "log_reopened" and len(events) == 6


# ------------------------------------------------------------------------------------------- the checker


def _elected_then_node_3_log_deleted(tmp_path) -> Run:
    """Node 1 elected in term 1 with node 3's vote; then node 3's log file is deleted (the writer is still open)."""
    r = Run(tmp_path, 3)
    for n in (1, 2, 3):
        r.start(n)
    r.elect(1, 1, voters=[3], followers=[2, 3])
    (tmp_path / "node-3.jsonl").unlink()
    return r


def test_a_complete_run_has_a_verdict(tmp_path):
    clean_run(tmp_path)
    res = check_run(tmp_path)
    assert res.complete and res.verdict == "ok"


def test_a_deleted_node_log_is_incomplete_evidence_not_a_violation(tmp_path):
    # Node 3's votes made node 1 leader; without them (d) would claim node 1 had no majority.
    r = _elected_then_node_3_log_deleted(tmp_path)
    r.close()
    res = check_run(tmp_path)
    assert res.verdict == "incomplete" and not res.ok
    assert kinds(res) == ["missing_file"]
    assert res.violations == [] and res.withheld == 1  # the (d) it would claim is withheld, not reported
    out = io.StringIO()
    assert run_check(tmp_path, False, out) == EXIT_INCOMPLETE
    text = out.getvalue()
    assert text.startswith("INCOMPLETE EVIDENCE") and "node 3" in text and "artefacts" in text


def test_a_log_deleted_while_the_node_runs_is_incomplete(tmp_path):
    r = _elected_then_node_3_log_deleted(tmp_path)
    r.follow(3, 1, 1)  # the writer reopens the file and logs log_reopened first
    r.close()
    res = check_run(tmp_path)
    assert res.verdict == "incomplete" and "log_reopened" in kinds(res)


def test_a_seq_gap_is_incomplete(tmp_path):
    r = Run(tmp_path, 3)
    for n in (1, 2, 3):
        r.start(n)
    r.elect(1, 1, voters=[2, 3])
    r.close()
    path = tmp_path / "node-2.jsonl"
    kept = path.read_text().splitlines(keepends=True)
    path.write_text("".join(kept[:1] + kept[2:]))  # lose one record in the middle
    res = check_run(tmp_path)
    assert kinds(res) == ["seq_gap"] and "seq 2..2 are lost" in res.incomplete[0].message


def test_a_missing_incarnation_is_incomplete(tmp_path):
    r = Run(tmp_path, 3)
    for n in (1, 2, 3):
        r.start(n)
    r.elect(1, 1, voters=[2, 3])
    r.kill(2)
    r.start(2, term=1, voted_for=1)
    r.close()
    path = tmp_path / "node-2.jsonl"
    path.write_text("".join(l for l in path.read_text().splitlines(keepends=True) if '"incarnation":1' not in l))
    res = check_run(tmp_path)
    assert kinds(res) == ["missing_incarnation"] and "incarnation 1" in res.incomplete[0].message


def test_a_node_that_refused_to_start_before_logging_is_not_a_gap(tmp_path):
    r = Run(tmp_path, 3)
    for n in (1, 2):
        r.start(n)
    r.sup.write("node_spawned", node=3, pid=3001, incarnation=1)
    r.sup.write("node_exited", node=3, pid=3001, code=3, signal=None)
    r.elect(1, 1, voters=[2])
    r.close()
    assert check_run(tmp_path).verdict == "ok"


def test_a_live_run_without_its_supervisor_log_is_incomplete(tmp_path):
    clean_run(tmp_path)
    (tmp_path / "cluster.json").write_text(json.dumps({"nodes": 3}))
    (tmp_path / "supervisor.jsonl").unlink()
    assert kinds(check_run(tmp_path)) == ["missing_supervisor_log"]


def test_check_and_report_commands_say_what_is_missing(tmp_path):
    r = _elected_then_node_3_log_deleted(tmp_path)
    r.close()
    result = CliRunner().invoke(main, ["check", str(tmp_path), "--json"])
    assert result.exit_code == EXIT_INCOMPLETE
    doc = json.loads(result.output)
    assert doc["verdict"] == "incomplete" and doc["incomplete"][0]["kind"] == "missing_file"
    report = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert report.exit_code == 0 and report.output.startswith("INCOMPLETE EVIDENCE: this report cannot see")
    assert "node 3" in report.output
    assert json.loads(CliRunner().invoke(main, ["report", str(tmp_path), "--json"]).output)["complete"] is False


def test_a_node_killed_before_its_first_record_is_not_a_gap_but_a_lost_file_is(tmp_path):
    r = Run(tmp_path, 3)
    for n in (1, 2, 3):
        r.start(n)
    r.elect(1, 1, voters=[2, 3])
    r.kill(3)
    r.sup.write("node_exited", node=3, pid=3001, code=-9, signal="SIGKILL")
    r.sup.write("node_spawned", node=3, pid=3002, incarnation=2)  # restarted and killed again at once
    r.sup.write("node_exited", node=3, pid=3002, code=-9, signal="SIGKILL")
    r.incs[3] = 2
    r.start(3, term=1, voted_for=1)  # incarnation 3
    r.close()
    assert check_run(tmp_path).verdict == "ok"
    # The same history, but incarnation 1's records are gone too: the file was replaced, nothing proves 2 silent.
    path = tmp_path / "node-3.jsonl"
    path.write_text("".join(l for l in path.read_text().splitlines(keepends=True) if '"incarnation":1' not in l))
    assert kinds(check_run(tmp_path)) == ["missing_incarnation"]


def test_every_documented_event_is_in_the_readers_tables():
    import re
    from pathlib import Path

    from raftzmq.evidence.logfile import NODE_EVENT_FIELDS, SUPERVISOR_EVENT_FIELDS

    schema = (Path(__file__).resolve().parent.parent / "docs" / "log-schema.md").read_text()

    def documented(section: str) -> set[str]:
        body = schema.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
        rows = [line.split("|")[1] for line in body.splitlines() if line.startswith("| `")]
        return {name for cell in rows for name in re.findall(r"`(\w+)`", cell)}

    assert documented("Node events") == set(NODE_EVENT_FIELDS)
    assert documented("Supervisor events") == set(SUPERVISOR_EVENT_FIELDS)
