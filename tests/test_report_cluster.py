"""The HTML report of a real run (one process per node): kills are gaps, restarts and planned stops are marks of
their own (the end of the run is one mark, not a kill per node), partitions carry their groups, and `status` and
`logs` point at the report once it exists."""
from __future__ import annotations

import pytest

from cluster_harness import cluster_session
from raftzmq.evidence.html import read_report_data

pytestmark = pytest.mark.cluster


def test_report_of_a_real_run(tmp_path):
    with cluster_session(tmp_path / "run") as c:
        c.start("--nodes", "3")
        first = c.wait_leader()["leader"]
        c.cli("kill", str(first))
        second = c.wait_leader(other_than=first)["leader"]
        c.cli("restart", str(first))
        follower = next(n for n in (1, 2, 3) if n not in (first, second))
        c.cli("partition", str(second), f"{first},{follower}")
        c.cli("heal")
        c.cli("stop", str(follower))  # a planned stop of one node (SIGTERM)
        assert "report:" not in c.cli("status").stdout
        c.cli("report", "--html")
        report = c.run_dir / "report.html"
        assert f"report: {report}" in c.cli("status").stdout
        assert c.status()["report"] == str(report)
        assert str(report) in c.cli("logs").stderr
        c.cli("stop")
        assert str(report) in c.cli("status", check=False).stderr  # the cluster is gone, its report is not
        c.cli("report", "--html")
    data = read_report_data(report.read_text())
    records = c.records()
    assert data["nodes"] == [1, 2, 3] and data["verdict"]["ok"] is True
    kinds = [(m["kind"], m["node"]) for m in data["marks"]]
    assert ("kill", first) in kinds and ("restart", first) in kinds and ("stop", follower) in kinds
    assert kinds.count(("kill", first)) == 1 and sum(k == "kill" for k, _ in kinds) == 1  # the end is no kill
    assert kinds[-1] == ("cluster_stop", 0)
    kill_t = next(m["t"] for m in data["marks"] if m["kind"] == "kill")
    assert any(s[0] == kill_t and s[2] == "down" for s in data["lanes"][str(first)])
    assert any(s[2] == "stopped" for s in data["lanes"][str(follower)])
    assert {s[2] for s in data["lanes"][str(second)]} & {"leader"}
    groups = [s["groups"] for s in data["net"] if s["groups"]]
    assert groups == [[[second], sorted([first, follower])]] or groups == [[[second], [first, follower]]]
    leaders = {r["term"]: [r["node"]] for r in records if r["event"] == "became_leader"}
    assert {t[2]: t[3] for t in data["terms"] if t[3]} == leaders
