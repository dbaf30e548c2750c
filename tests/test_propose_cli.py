"""`raftzmq propose` without a cluster, and against endpoints that do not answer: user errors are one line and
exit 2; no answer in time is exit 1 with "its fate is unknown" (never reported as a failure)."""
from __future__ import annotations

import json

from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.protocol.messages import MAX_ENTRY_DATA_BYTES
from raftzmq.runtime.cluster.propose import propose


def test_no_run_directory_is_a_usage_error(tmp_path):
    r = CliRunner().invoke(main, ["propose", "x", "--run-dir", str(tmp_path / "nothing")])
    assert r.exit_code == 2 and r.output.startswith("raftzmq: error: ") and r.output.count("\n") == 1


def test_a_stopped_cluster_is_a_usage_error(tmp_path):
    (tmp_path / "cluster.json").write_text(json.dumps({"nodes": 3, "client_endpoints": {"1": "ipc:///x"}}))
    r = CliRunner().invoke(main, ["propose", "x", "--run-dir", str(tmp_path)])
    assert r.exit_code == 2 and "no cluster is running" in r.output


def test_text_beyond_an_entry_is_refused_before_anything_is_sent(tmp_path):
    r = CliRunner().invoke(main, ["propose", "x" * (MAX_ENTRY_DATA_BYTES + 1), "--run-dir", str(tmp_path)])
    assert r.exit_code == 2 and "at most" in r.output


def test_nobody_answering_is_not_committed_with_an_unknown_or_definite_fate(tmp_path):
    # an ipc endpoint nobody binds: no node answers `info`, so nothing was ever proposed
    result = propose({1: f"ipc://{tmp_path}/nobody.sock"}, b"x", 0.3)
    assert not result.committed and result.attempts == 0 and result.definite
    assert result.to_doc()["fate"] == "not committed"
    assert 0.3 <= result.elapsed_s < 5
