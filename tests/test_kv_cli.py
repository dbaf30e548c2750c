"""`raftzmq kv` and `raftzmq workload`: without a client endpoint they say so (exit 2); against the fake cluster
(tests/kvfake.py, through --endpoint or a run directory's client_endpoints) they work, with --json."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kvfake import endpoint_args as eps
from raftzmq.cli import main
from raftzmq.client import NO_ENDPOINT_MESSAGE
from raftzmq.evidence.history import read_history


@pytest.mark.parametrize("args", [["kv", "get", "x"], ["kv", "put", "x", "1"], ["kv", "cas", "x", "1", "2"],
                                  ["kv", "delete", "x"], ["kv", "append", "x", "a"], ["workload", "--duration", "1"]])
def test_without_a_client_endpoint_one_line_exit_2(tmp_path, monkeypatch, args):
    monkeypatch.setenv("RAFTZMQ_LOGS", str(tmp_path / "nologs"))
    monkeypatch.delenv("RAFTZMQ_RUN_DIR", raising=False)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert result.output.startswith(f"raftzmq: error: {NO_ENDPOINT_MESSAGE}")
    run = tmp_path / "run"
    run.mkdir()
    (run / "cluster.json").write_text(json.dumps({"endpoints": {"1": "ipc://x"}}))  # a cluster, no client endpoint
    result = CliRunner().invoke(main, [*args, "--run-dir", str(run)])
    assert result.exit_code == 2 and result.output.strip() == f"raftzmq: error: {NO_ENDPOINT_MESSAGE}"


def test_kv_commands_against_the_fake_cluster(fake, tmp_path):
    r = CliRunner()
    assert r.invoke(main, ["kv", "put", "x", "[1]", *eps(fake)]).output.strip() == "ok"
    assert fake.value("x") == [1]
    out = r.invoke(main, ["kv", "get", "x", "--json", *eps(fake)])
    doc = json.loads(out.output)
    assert out.exit_code == 0 and doc["value"] == [1] and doc["ok"] is True
    assert r.invoke(main, ["kv", "append", "x", "b", *eps(fake)]).exit_code == 0 and fake.value("x") == [1, "b"]
    miss = r.invoke(main, ["kv", "cas", "x", "7", "8", "--json", *eps(fake)])
    assert miss.exit_code == 1 and json.loads(miss.output)["swapped"] is False
    assert r.invoke(main, ["kv", "cas", "x", '[1,"b"]', "s", *eps(fake)]).exit_code == 0 and fake.value("x") == "s"
    bad = r.invoke(main, ["kv", "append", "x", "5", *eps(fake)])  # a number: refused before sending
    assert bad.exit_code == 2 and bad.output.startswith("raftzmq: error: bad request")
    run = tmp_path / "run"
    run.mkdir()
    (run / "cluster.json").write_text(json.dumps({"client_endpoints": {str(n): e for n, e in fake.endpoints.items()}}))
    assert r.invoke(main, ["kv", "delete", "x", "--run-dir", str(run)]).exit_code == 0 and fake.value("x") is None


def test_kv_timeout_is_indefinite_exit_3(fake):
    fake.silent = {1, 2, 3}
    out = CliRunner().invoke(main, ["kv", "put", "x", "1", "--timeout", "0.3", "--json", *eps(fake)])
    assert out.exit_code == 3 and json.loads(out.output)["outcome"] == "indefinite"


def test_workload_command_records_and_checks(fake, tmp_path):
    path = tmp_path / "h.jsonl"
    out = CliRunner().invoke(main, ["workload", "--clients", "3", "--keys", "2", "--rate", "200", "--duration", "1",
                                    "--history", str(path), "--json", *eps(fake)])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output.strip().splitlines()[-1])
    assert doc["verdict"] == "linearizable" and doc["counts"]["ok"] > 50
    assert len(read_history(path).operations) == doc["counts"]["invoke"] + doc["final"]["keys_read"]  # + final reads
    nem = CliRunner().invoke(main, ["workload", "--nemesis", "kill", *eps(fake)])  # faults need the supervisor
    assert nem.exit_code == 2 and "needs the cluster's run directory" in nem.output
