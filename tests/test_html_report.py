"""`raftzmq report --html` from simulator runs: what the page's data says is checked against the raw records
(independently of the code that built it), and the checker's verdict reaches the banner with working links."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from cluster_harness import REPO
from raftzmq.cli import main
from raftzmq.evidence.logfile import read_run
from report_runs import html_report, sim


@pytest.fixture(scope="module")
def sim_report(tmp_path_factory):
    run = tmp_path_factory.mktemp("sim") / "s11"
    assert sim(run, "--seed", "11", "--duration", "20").returncode == 0
    path, data = html_report(run)
    return run, path, data, [loc.record for loc in read_run(run)]


@pytest.fixture(scope="module")
def violating_report(tmp_path_factory):
    run = tmp_path_factory.mktemp("sim") / "bad"
    found = sim(run, "--nodes", "3", "--persist", "term-only", "--faults", "crash,delay", "--vote-crash", "0.5",
                "--seeds", "200")
    assert found.returncode == 1, found.stdout + found.stderr  # the unsafe mode breaks an invariant
    path, data = html_report(run)
    return run, path, data


def ms(rec, first_ns):
    return round((rec["mono_ns"] - first_ns) / 1e6, 3)


def test_report_is_written_in_the_run_dir_and_is_self_contained(sim_report):
    run, path, data, _ = sim_report
    assert path == run / "report.html"
    page = path.read_text()
    assert "<script src" not in page and "<link" not in page and "http://" not in page.replace(
        "http://www.w3.org/2000/svg", "")
    assert data["title"].endswith("s11") and data["version"] == 1


def test_lanes_cover_each_node_without_gaps_or_overlaps(sim_report):
    _, _, data, records = sim_report
    started = next(r for r in records if r["event"] == "cluster_started")
    assert data["nodes"] == list(range(1, started["nodes"] + 1))
    for node in data["nodes"]:
        lane = data["lanes"][str(node)]
        first = next(r for r in records if r["node"] == node)
        assert lane[0][0] == ms(first, data["first_ns"])
        assert lane[-1][1] == data["t_end_ms"]
        assert all(a[1] == b[0] for a, b in zip(lane, lane[1:]))  # contiguous
        assert {seg[2] for seg in lane} <= set(data["style"]["roles"])


def test_every_election_is_a_leader_segment_and_a_term_with_its_leader(sim_report):
    _, _, data, records = sim_report
    won = [r for r in records if r["event"] == "became_leader"]
    assert won
    for r in won:
        starts = {(seg[0], seg[3]) for seg in data["lanes"][str(r["node"])] if seg[2] == "leader"}
        assert (ms(r, data["first_ns"]), r["term"]) in starts
    leaders = defaultdict(list)
    for r in won:
        leaders[r["term"]].append(r["node"])
    assert {t[2]: t[3] for t in data["terms"] if t[3]} == leaders
    assert [t[2] for t in data["terms"]] == sorted({t[2] for t in data["terms"]})  # terms only go up


def test_faults_are_marked_where_the_supervisor_says(sim_report):
    _, _, data, records = sim_report
    marks = defaultdict(list)
    for m in data["marks"]:
        marks[m["kind"]].append((m["t"], m["node"]))
    sup = [r for r in records if r["by"] == "supervisor"]
    kills = [(ms(r, data["first_ns"]), r["node"]) for r in sup if r["event"] == "node_killed"]
    assert kills and marks["kill"] == kills
    for t, node in kills:  # a kill is a gap in its node's lane from that moment
        assert any(seg[0] == t and seg[2] == "down" for seg in data["lanes"][str(node)])
    pauses = [(ms(r, data["first_ns"]), r["node"]) for r in sup if r["event"] == "node_paused"]
    assert marks["pause"] == pauses
    for t, node in pauses:
        assert any(seg[0] == t and seg[2] == "paused" for seg in data["lanes"][str(node)])
    partitions = [r for r in sup if r["event"] == "partition"]
    assert partitions and len(marks["partition"]) == len(partitions)
    span_from = {s["t0"]: s for s in data["net"]}
    for r in partitions:  # the network row shows each partition's groups from its moment on
        assert span_from[ms(r, data["first_ns"])]["groups"] == r["groups"]
    restarts = [r for r in sup if r["event"] == "node_spawned" and r["incarnation"] > 1]
    assert len(marks["restart"]) == len(restarts) > 0


def test_votes_failovers_and_verdict_of_a_clean_run(sim_report):
    run, _, data, records = sim_report
    granted = [r for r in records if r["event"] == "vote_granted" and r["candidate"] != r["node"]]
    assert sorted((v[2], v[3], v[4]) for v in data["votes"] if v[1] == "vote" and v[5]) == \
        sorted((r["node"], r["candidate"], r["term"]) for r in granted)
    assert data["verdict"]["ok"] is True and data["verdict"]["violations"] == []
    assert subprocess.run([sys.executable, "-m", "raftzmq", "check", str(run)], cwd=REPO,
                          capture_output=True).returncode == 0
    assert len(data["failovers"]) == data["summary"]["failovers"] + data["summary"]["unresolved_failovers"]
    assert len(data["records"]) == len(records)


def test_the_verdict_names_each_violation_and_links_to_its_records(violating_report):
    run, _, data = violating_report
    checked = json.loads(subprocess.run([sys.executable, "-m", "raftzmq", "check", str(run), "--json"], cwd=REPO,
                                        capture_output=True, text=True).stdout)
    verdict = data["verdict"]
    assert verdict["ok"] is False
    assert [(v["invariant"], v["where"]) for v in verdict["violations"]] == \
        [(v["invariant"], v["where"]) for v in checked["violations"]]
    for v in verdict["violations"]:
        assert len(v["recs"]) == len(v["where"])
        for where, index in zip(v["where"], v["recs"]):
            file_index, line, _, _ = data["records"][index]
            assert f"{data['files'][file_index]}:{line}" == Path(where).name
    two_leaders = [v for v in verdict["violations"] if v["invariant"] == "a"]
    for v in two_leaders:
        term = data["records"][v["recs"][0]][3]["term"]
        assert len(next(t for t in data["terms"] if t[2] == term)[3]) == 2


def test_output_option_and_errors(tmp_path, sim_report):
    run = sim_report[0]
    out = tmp_path / "r.html"
    assert html_report(run, "-o", str(out))[0] == out
    result = CliRunner().invoke(main, ["report", str(tmp_path / "missing"), "--html"])
    assert result.exit_code == 2 and "missing" in result.output
    result = CliRunner().invoke(main, ["report", str(run), "-o", str(out)])
    assert result.exit_code == 2 and "--html" in result.output
    for bad in (tmp_path, tmp_path / "no" / "such.html"):  # a directory, a missing one: clear, nothing left
        result = CliRunner().invoke(main, ["report", str(run), "--html", "-o", str(bad)])
        assert result.exit_code == 2 and str(bad) in result.output and "Traceback" not in result.output
    assert not list(tmp_path.glob(".*.tmp"))


def test_data_cannot_close_its_script_element(tmp_path):
    from logs_fixtures import Run
    r = Run(tmp_path / "run")
    r.start(1)
    r.rec(1, "node_stopping", 0, reason="</script><script>alert(1)</script>")
    r.close()
    path, data = html_report(tmp_path / "run")
    assert "</script><script>alert" not in path.read_text()
    assert any(rec[3].get("reason", "").startswith("</script>") for rec in data["records"])


def test_cut_links_are_shown_when_the_supervisor_reports_them(tmp_path):
    from logs_fixtures import Run
    r = Run(tmp_path / "run")
    for n in (1, 2, 3):
        r.start(n)
    r.sup.write("link_cut", cuts=[[1, 2], [3, 1]], version=1)  # the supervisor's `cut` (docs/log-schema.md)
    r.rec(1, "election_timeout", 0)
    r.sup.write("heal", version=2)
    r.rec(2, "election_timeout", 0)
    r.close()
    _, data = html_report(tmp_path / "run")
    cut = [s for s in data["net"] if s["cuts"]]
    assert len(cut) == 1 and cut[0]["cuts"] == [[1, 2], [3, 1]] and cut[0]["partitioned"]
    assert "cut 1→2, 3→1" in cut[0]["label"]
    assert [(m["kind"], m["label"]) for m in data["marks"] if m["node"] == 0][-2:] == [
        ("partition", "cut 1→2, 3→1"), ("heal", "heal")]


def test_missing_records_make_an_incomplete_verdict_not_ok(tmp_path, sim_report):
    import shutil
    run = tmp_path / "gap"
    shutil.copytree(sim_report[0], run)
    lines = (run / "node-1.jsonl").read_text().splitlines(keepends=True)
    # one record lost, one no invariant depends on (losing a state_persisted would also fail (e))
    k = next(i for i, line in enumerate(lines) if i > 0 and '"event":"election_timeout"' in line)
    (run / "node-1.jsonl").write_text("".join(lines[:k] + lines[k + 1:]))
    _, data = html_report(run)
    verdict = data["verdict"]
    assert verdict["ok"] is False and verdict["verdict"] == "incomplete" and verdict["violations"] == []
    assert any(g["kind"] == "seq_gap" and g["node"] == 1 for g in verdict["incomplete"])
    for gap in verdict["incomplete"]:
        if gap["where"]:
            file_index, line, _, _ = data["records"][gap["rec"]]
            assert f"{data['files'][file_index]}:{line}" == Path(gap["where"]).name


def test_checking_records_already_read_gives_the_verdict_of_check_run(tmp_path, sim_report, violating_report):
    import shutil
    from raftzmq.evidence.checker import check_located, check_run
    gap = tmp_path / "gap"
    shutil.copytree(sim_report[0], gap)
    lines = (gap / "node-3.jsonl").read_text().splitlines(keepends=True)
    (gap / "node-3.jsonl").write_text("".join(lines[:7] + lines[8:]))
    for run in (sim_report[0], violating_report[0], gap):
        assert check_located(run, read_run(run)).to_dict() == check_run(run).to_dict()
