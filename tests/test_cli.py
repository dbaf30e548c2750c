"""CLI behaviour that needs no running cluster: help, usage errors, bad configs (exit 2, clear message)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from raftzmq.cli import main
from cluster_harness import REPO

COMMANDS = ["start", "status", "kill", "restart", "stop", "pause", "resume", "partition", "isolate", "heal", "net",
            "transfer", "logs", "check", "report", "timeline", "sim", "chaos", "conform", "bench", "bench sim", "bench cluster", "bench large",
            "skew", "failpoint", "disk", "cut", "uncut", "scenario", "scenario double-vote", "scenario figure8", "fuzz",
            "bench spawn", "bench hotpath", "bench scale", "bench failover", "bench net", "bench wal", "bench flood", "bench lincheck", "bench codec", "bench replication", "bench kv", "help", "ps", "clean", "node", "init-cluster",
            "inspect", "propose", "kv", "kv get", "kv put", "kv delete", "kv cas", "kv append", "workload"]


def test_the_command_list_above_is_complete():
    commands = main.all_commands()
    groups = [c for c in commands.values() if hasattr(c, "commands")]
    listed = set(commands) | {f"{g.name} {sub}" for g in groups for sub in g.commands}
    assert listed == set(COMMANDS)


def test_the_lazy_command_table_names_what_the_modules_define():
    from raftzmq.commands import command_table, registered

    assert {c.name: c for c in registered()} == {n: c for n, c in main.all_commands().items() if n != "help"}
    assert set(command_table()) == {c.name for c in registered()}


def test_start_imports_neither_the_simulator_nor_the_report():
    # `raftzmq start` waits for every import before its first node starts: only the cluster family loads.
    code = ("import sys; from raftzmq.cli import main\n"
            "try:\n    main(['start', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('raftzmq.lab.sim.simulator', 'raftzmq.lab.bench',"
            " 'raftzmq.evidence.html', 'raftzmq.evidence.runview', 'raftzmq.commands.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "['raftzmq.commands.cluster', 'raftzmq.commands.options']"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command):
    result = CliRunner().invoke(main, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output and f"raftzmq {command}" in result.output


@pytest.mark.parametrize("args, needle", [
    (["--nodes", "0"], "nodes"),
    (["--nodes", "100000"], "nodes"),
    (["--election-timeout", "300-150"], "got min 300 and max 150"),
    (["--election-timeout", "fast"], "MIN-MAX"),
    (["--heartbeat", "100"], "heartbeat_ms"),
    (["--config", "no/such.toml"], "no/such.toml"),
])
def test_bad_start_arguments_fail_before_anything_starts(tmp_path, args, needle):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["start", "--run-dir", str(run), *args])
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert not run.exists() or not (run / "cluster.json").exists()


def test_bad_config_file_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("nodes = 5\n[timing]\nheartbeet_ms = 50\n")
    result = CliRunner().invoke(main, ["start", "--config", str(bad), "--run-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert str(bad) in result.output and "timing.heartbeet_ms" in result.output and "heartbeat_ms" in result.output


def test_commands_without_a_cluster_say_so(tmp_path, monkeypatch):
    monkeypatch.setenv("RAFTZMQ_RUN_DIR", str(tmp_path / "none"))
    for args in (["status"], ["kill", "1"], ["partition", "1", "2"], ["heal"], ["transfer", "2"]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "no run directory" in result.output, (args, result.output)


def test_stale_run_dir_without_supervisor_is_reported(tmp_path, monkeypatch):
    run = tmp_path / "old"
    run.mkdir()
    (run / "cluster.json").write_text('{"nodes": 3, "control": "ipc:///nonexistent"}')
    monkeypatch.setenv("RAFTZMQ_RUN_DIR", str(run))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2 and "no cluster is running" in result.output and "--resume" in result.output


def test_net_needs_an_option_and_valid_delay(tmp_path, monkeypatch):
    result = CliRunner().invoke(main, ["net", "--delay", "abc"])
    assert result.exit_code == 2 and "MS" in result.output


@pytest.mark.parametrize("entry", [["cli.py"], ["-m", "raftzmq"]])
def test_shims_run_the_same_cli(entry):
    proc = subprocess.run([sys.executable, *entry, "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "Watch and break Raft on real processes" in proc.stdout


def test_a_cluster_too_large_for_its_heartbeat_gets_a_warning(monkeypatch):
    from raftzmq.commands import cluster
    from raftzmq.runtime.config import ClusterConfig

    monkeypatch.setattr(cluster.os, "sched_getaffinity", lambda pid: {0, 1})
    warned = []
    monkeypatch.setattr(cluster.click, "echo", lambda message, err=False: warned.append(message))
    cluster._warn_if_too_tight(ClusterConfig(nodes=101, heartbeat_ms=50))
    assert warned and "2000 heartbeats/s" in warned[0]
    warned.clear()
    cluster._warn_if_too_tight(ClusterConfig(nodes=101, election_timeout_ms=(500, 1000), heartbeat_ms=100))
    cluster._warn_if_too_tight(ClusterConfig(nodes=5))
    assert not warned


def test_an_unwritable_run_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = CliRunner().invoke(main, ["start", "--run-dir", str(blocker / "run")])
    assert result.exit_code == 2 and "cannot create the run directory" in result.output


def test_bench_net_hands_hints_to_the_cluster_it_starts(monkeypatch):
    from raftzmq.lab.bench import net as bench_net
    seen: dict = {}
    monkeypatch.setattr(bench_net, "net_costs", lambda **kw: seen.update(kw) or {"nodes": kw["nodes"]})
    result = CliRunner().invoke(main, ["bench", "net", "--hints", "on", "--json"])
    assert result.exit_code == 0, result.output
    extra = seen["extra"]
    assert extra[extra.index("--hints") + 1] == "on"


def test_sim_json_names_the_failing_seed_and_how_to_replay_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the failing seed's logs go to logs/sim-<seed>/ here
    clean = CliRunner().invoke(main, ["sim", "--nodes", "3", "--seed", "4", "--duration", "5", "--json"])
    assert clean.exit_code == 0, clean.output
    doc = json.loads(clean.output)
    assert doc["ok"] and doc["run"]["seed"] == 4 and doc["log_dir"] is None and "failing_seed" not in doc
    bad = CliRunner().invoke(main, ["sim", "--nodes", "3", "--persist", "term-only", "--faults", "crash,delay",
                                    "--vote-crash", "0.5", "--seeds", "200", "--json"])
    assert bad.exit_code == 1, bad.output
    doc = json.loads(bad.output)
    assert not doc["ok"] and doc["violations"] and doc["trace"] and "run" not in doc
    assert doc["replay"].startswith(f"raftzmq sim --seed {doc['failing_seed']} ")
    assert doc["log_dir"] == f"logs/sim-{doc['failing_seed']}" and (tmp_path / doc["log_dir"]).is_dir()
