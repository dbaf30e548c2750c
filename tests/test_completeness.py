"""Completeness before a verdict (issue 21, item 1): evidence missing members, or with a gap, gets "incomplete
evidence" (exit 3, the missing members named) from check, report, timeline and the HTML report's banner, and never
a violation; a complete multi-host set gathered from three `raftzmq node` folders gets a verdict (exit 0).

Every partial case below is built so that judging it would give a false (d) leader-has-majority: the leader's
votes sit in the records that are missing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from logs_fixtures import Run
from raftzmq.cli import main
from raftzmq.evidence.checker import EXIT_INCOMPLETE, check_run
from raftzmq.evidence.html import read_report_data, write_html_report


def _hosts(tmp_path: Path) -> list[Path]:
    """Three `raftzmq node` data folders (one per host) of a 3-node cluster where node 1 won term 1 with node 2's
    vote; node 3 denied it. Each folder holds its node's log and the cluster.json `raftzmq node` writes."""
    whole = tmp_path / "whole"
    r = Run(whole, None, cluster_started=False)
    for n in (1, 2, 3):
        r.start(n)
    r.campaign(1, 1)
    r.grant(2, 1, 1)
    r.persist(3, 1, None)
    r.rec(3, "vote_denied", 1, candidate=1, reason="log_not_up_to_date")
    r.lead(1, 1)
    r.follow(2, 1, 1)
    r.follow(3, 1, 1)
    r.close()
    hosts = []
    for n in (1, 2, 3):
        host = tmp_path / f"host{n}"
        host.mkdir()
        shutil.copy(whole / f"node-{n}.jsonl", host)
        (host / "cluster.json").write_text(json.dumps({"run_id": host.name, "nodes": 3, "spawn": "standalone",
                                                       "control": None, "supervisor_pid": None}))
        hosts.append(host)
    return hosts


def _gather(tmp_path: Path, hosts: list[Path], name: str = "collected") -> Path:
    out = tmp_path / name
    out.mkdir()
    for h in hosts:
        for f in h.glob("node-*.jsonl"):
            shutil.copy(f, out)
    shutil.copy(hosts[0] / "cluster.json", out)
    return out


def _one_member(tmp_path: Path) -> tuple[Path, list[int]]:
    return _hosts(tmp_path)[0], [2, 3]


def _two_of_three(tmp_path: Path) -> tuple[Path, list[int]]:
    h = _hosts(tmp_path)
    return _gather(tmp_path, [h[0], h[2]]), [2]  # node 2, whose vote made node 1 leader, is not gathered


def _all_with_a_gap(tmp_path: Path) -> tuple[Path, list[int]]:
    out = _gather(tmp_path, _hosts(tmp_path))
    log = out / "node-2.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if '"vote_granted"' not in ln]  # node 2's vote is lost from the middle of its file
    assert len(kept) == len(lines) - 1
    log.write_text("".join(kept))
    return out, [2]


PARTIAL = {"one member's folder": _one_member, "two of three": _two_of_three, "every member, one gap": _all_with_a_gap}


@pytest.mark.parametrize("case", sorted(PARTIAL))
def test_no_violation_is_ever_printed_for_incomplete_evidence(tmp_path, case):
    run, missing = PARTIAL[case](tmp_path)
    res = check_run(run)
    assert res.verdict == "incomplete" and res.violations == [] and res.withheld >= 1
    assert sorted(g.node for g in res.incomplete) == missing

    cli = CliRunner()
    got = cli.invoke(main, ["check", str(run)])
    assert got.exit_code == EXIT_INCOMPLETE, got.output
    assert got.output.startswith("INCOMPLETE EVIDENCE")
    assert "VIOLATION" not in got.output and "(d)" not in got.output and "leader-has-majority" not in got.output
    for n in missing:
        assert f"node {n}" in got.output

    as_json = json.loads(cli.invoke(main, ["check", str(run), "--json"]).output)
    assert as_json["verdict"] == "incomplete" and as_json["violations"] == [] and as_json["withheld_violations"] >= 1

    rep = cli.invoke(main, ["report", str(run)])
    assert rep.exit_code == 0 and rep.output.startswith("INCOMPLETE EVIDENCE"), rep.output
    assert "VIOLATION" not in rep.output

    tl = cli.invoke(main, ["timeline", str(run), "-o", str(tmp_path / "t.svg")])
    assert tl.exit_code == 0, tl.output
    svg = (tmp_path / "t.svg").read_text()
    assert "INCOMPLETE" in svg and "leader-has-majority" not in svg

    data = read_report_data(write_html_report(run, tmp_path / "r.html").read_text())
    verdict = data["verdict"]
    assert verdict["verdict"] == "incomplete" and verdict["violations"] == [] and verdict["withheld"] >= 1
    assert sorted(g["node"] for g in verdict["incomplete"]) == missing


def test_a_complete_multi_host_set_gathered_from_three_node_folders_has_a_verdict(tmp_path):
    run = _gather(tmp_path, _hosts(tmp_path))
    got = CliRunner().invoke(main, ["check", str(run)])
    assert got.exit_code == 0 and got.output.startswith("OK"), got.output
    assert "inferred" not in got.output and "cluster size: 3 from cluster.json" in got.output


def test_nodes_option_names_the_members_when_nothing_else_does(tmp_path):
    run = _gather(tmp_path, _hosts(tmp_path))
    (run / "cluster.json").unlink()
    (run / "node-3.jsonl").unlink()
    cli = CliRunner()
    inferred = cli.invoke(main, ["check", str(run)])  # nothing says there were 3: two nodes look complete
    assert inferred.exit_code == 0 and "inferred 2" in inferred.output
    told = cli.invoke(main, ["check", str(run), "--nodes", "3"])
    assert told.exit_code == EXIT_INCOMPLETE and "node 3: no records" in told.output and "--nodes" in told.output
    whole = cli.invoke(main, ["check", str(run), "--nodes", "2"])
    assert whole.exit_code == 0, whole.output


def test_cluster_file_names_the_members_too(tmp_path):
    run = _gather(tmp_path, _hosts(tmp_path))
    (run / "cluster.json").unlink()
    (run / "node-3.jsonl").unlink()
    cli = CliRunner()
    made = cli.invoke(main, ["init-cluster", "127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103",
                             "--out", str(tmp_path / "c.toml"), "--keys", str(tmp_path / "keys")])
    assert made.exit_code == 0, made.output
    told = cli.invoke(main, ["check", str(run), "--cluster", str(tmp_path / "c.toml")])
    assert told.exit_code == EXIT_INCOMPLETE and "node 3: no records" in told.output, told.output
    both = cli.invoke(main, ["check", str(run), "--cluster", str(tmp_path / "c.toml"), "--nodes", "3"])
    assert both.exit_code == 2 and "not both" in both.stderr
    missing = cli.invoke(main, ["check", str(run), "--cluster", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and missing.stderr.startswith("raftzmq: error: ") and "nope.toml" in missing.stderr


def test_members_options_are_for_run_directories_not_histories(tmp_path):
    (tmp_path / "h.jsonl").write_text("")
    got = CliRunner().invoke(main, ["check", "--history", str(tmp_path / "h.jsonl"), "--nodes", "3"])
    assert got.exit_code == 2 and "--nodes and --cluster are for run directories" in got.stderr
