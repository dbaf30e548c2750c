"""Careless use of a real cluster gets a clear answer (issue 13): a lost log file is "incomplete evidence", a second
start does not take logs/latest from a running cluster, a signal to the process group is a clean stop."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cluster_harness import REPO, Cluster, wait_for
from raftzmq.evidence.checker import EXIT_INCOMPLETE
from raftzmq.evidence.logfile import iter_records

pytestmark = pytest.mark.cluster


@pytest.fixture
def clusters(tmp_path):
    """Clusters started by a test; each is stopped and its processes killed by pid afterwards."""
    made: list[Cluster] = []
    yield made
    for c in made:
        c.cleanup()
    assert not any(c.live_pids() for c in made), "processes left behind"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RAFTZMQ_RUN_DIR"}
    return dict(env, PYTHONPATH=str(REPO), RAFTZMQ_REGISTRY=str(tmp_path / "registry"), RAFTZMQ_LOGS="logs")


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "raftzmq", *args], env=_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


def test_deleting_a_node_log_mid_run_gives_incomplete_evidence(tmp_path, clusters):
    c = Cluster(tmp_path / "run")
    clusters.append(c)
    c.start("--nodes", "3")
    first = c.wait_leader()
    victim = next(n for n in (1, 2, 3) if n != first["leader"])
    log = c.run_dir / f"node-{victim}.jsonl"
    log.unlink()
    c.cli("kill", str(first["leader"]))  # a new election: the victim writes again, into a new file
    second = c.wait_leader(other_than=first["leader"], min_term=first["term"] + 1)
    reopened = wait_for(lambda: log.exists() and [r for r, _ in iter_records(log) if r["event"] == "log_reopened"],
                        5, "the node to reopen its log")
    assert reopened[0]["reason"] == "missing" and reopened[0]["records_before"] > 0
    # status follows the node into its new file instead of freezing it
    wait_for(lambda: c.status()["nodes"][victim - 1]["term"] == second["term"], 5, "status to see the new file")
    c.cli("stop")
    verdict = c.cli("check", str(c.run_dir), check=False)
    assert verdict.returncode == EXIT_INCOMPLETE, verdict.stdout + verdict.stderr
    assert verdict.stdout.startswith("INCOMPLETE EVIDENCE") and f"node {victim}" in verdict.stdout
    assert "OK" not in verdict.stdout and "VIOLATIONS" not in verdict.stdout
    report = c.cli("report", str(c.run_dir))
    assert report.stdout.startswith("INCOMPLETE EVIDENCE: this report cannot see")


def _latest(tmp_path: Path) -> Path:
    return (tmp_path / "logs" / "latest").resolve()


def _run_dir_of(output: str) -> Path:
    return Path(output.split(" running in ")[1].split(" (supervisor pid")[0])


def test_a_second_start_does_not_orphan_the_first_ones_pointer(tmp_path, clusters):
    first = _cli(tmp_path, "start", "--detach", "--nodes", "3")
    assert first.returncode == 0, first.stderr
    a = Cluster(_run_dir_of(first.stdout))
    clusters.append(a)
    assert _latest(tmp_path) == a.run_dir

    refused = _cli(tmp_path, "start", "--detach", "--nodes", "3")
    assert refused.returncode == 2 and str(a.run_dir) in refused.stderr and "--concurrent" in refused.stderr
    assert _latest(tmp_path) == a.run_dir
    assert json.loads(_cli(tmp_path, "status", "--json").stdout)["run_dir"] == str(a.run_dir)

    with socket.socket() as busy:  # a start that fails (port in use) leaves the pointer alone too
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        failed = _cli(tmp_path, "start", "--detach", "--concurrent", "--nodes", "3",
                      "--base-port", str(busy.getsockname()[1]))
    assert failed.returncode == 2 and _latest(tmp_path) == a.run_dir

    second = _cli(tmp_path, "start", "--detach", "--concurrent", "--nodes", "3")
    assert second.returncode == 0, second.stderr
    b = Cluster(_run_dir_of(second.stdout))
    clusters.append(b)
    assert str(a.run_dir) in second.stderr and _latest(tmp_path) == b.run_dir
    listed = [json.loads(line)["run_dir"] for line in _cli(tmp_path, "ps", "--json").stdout.splitlines()]
    assert sorted(listed) == sorted([str(a.run_dir), str(b.run_dir)])

    # Several clusters run: a command acting on logs/latest says which one it acts on.
    st = _cli(tmp_path, "status")
    assert st.returncode == 0 and f"acting on {b.run_dir} (logs/latest); also running: {a.run_dir}" in st.stderr
    read = _cli(tmp_path, "logs")  # the evidence commands read logs/latest too, and say so
    assert read.returncode == 0 and f"acting on {b.run_dir} (logs/latest)" in read.stderr
    restarted = _cli(tmp_path, "restart", "1", "--run-dir", str(b.run_dir))
    assert restarted.returncode == 0 and "node 1 was running (pid" in restarted.stdout, restarted.stdout
    assert "SIGKILLed it" in restarted.stdout and "acting on" not in restarted.stderr

    stopped_b = _cli(tmp_path, "stop", "--run-dir", str(b.run_dir))  # --run-dir: that one only
    assert stopped_b.returncode == 0 and stopped_b.stdout == f"cluster in {b.run_dir} stopped\n"
    dead = _cli(tmp_path, "status")
    assert dead.returncode == 2 and f"no cluster is running in {b.run_dir}" in dead.stderr
    assert f"running now: {a.run_dir}" in dead.stderr
    killed = _cli(tmp_path, "kill", "1")  # logs/latest names the stopped b: refused, and a is named
    assert killed.returncode == 2 and str(a.run_dir) in killed.stderr

    third = _cli(tmp_path, "start", "--detach", "--concurrent", "--nodes", "3")
    assert third.returncode == 0, third.stderr
    c = Cluster(_run_dir_of(third.stdout))
    clusters.append(c)
    everything = _cli(tmp_path, "stop")  # no --run-dir: every cluster of this logs/ directory, each named
    assert everything.returncode == 0, everything.stderr
    assert sorted(everything.stdout.splitlines()) == sorted(f"cluster in {r.run_dir} stopped" for r in (a, c))
    assert _cli(tmp_path, "ps", "--json").stdout.strip() == ""
    assert not a.live_pids() and not c.live_pids()


def test_sigterm_to_the_process_group_is_a_clean_stop(tmp_path, clusters):
    c = Cluster(tmp_path / "run")
    clusters.append(c)
    proc = subprocess.Popen([sys.executable, "-m", "raftzmq", "start", "--nodes", "3", "--transport", "ipc",
                             "--run-dir", str(c.run_dir)], env=c.env, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    c.extra_pids.append(proc.pid)
    try:
        wait_for(lambda: (c.run_dir / "supervisor.pid").exists() and c.leader() is not None, 15, "a leader")
        os.killpg(proc.pid, signal.SIGTERM)  # what `timeout 20 raftzmq start` does
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    exits = [r for r in c.records() if r["event"] == "node_exited"]
    assert sorted(r["node"] for r in exits) == [1, 2, 3] and all(r["code"] == 0 for r in exits), exits
    assert not c.records("node_failed") and "failed" not in out
    assert not list(c.run_dir.glob("*.sock")), "socket files left behind after the stop"
    assert c.cli("check", str(c.run_dir), check=False).returncode == 0
