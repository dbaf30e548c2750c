"""Benchmarks of live clusters: cold start to first leader, idle CPU and RSS per node, 101 nodes, and the
cost of fork+exec against a preloaded forkserver for starting node processes.

Everything is measured on real processes driven through the CLI (`python -m raftzmq start --detach`), and the
times come from the logs' mono_ns where possible (one host clock shared by all processes).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftzmq.evidence.logfile import read_run
from raftzmq.evidence.stats import median
from raftzmq.runtime.cluster.procstat import cpu_seconds as _cpu_seconds
from raftzmq.runtime.cluster.spawn import child_env
from raftzmq.runtime.cluster.waiting import wait_until
from raftzmq.lab.live.cli_driver import run_cli

__all__ = ["cold_start", "idle_usage", "large_cluster", "spawn_methods"]

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _status(run: Path) -> dict[str, Any]:
    return json.loads(run_cli("status", "--json", "--run-dir", str(run)).stdout)



def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def _started(run: Path, extra: list[str]) -> int:
    t0 = time.monotonic_ns()
    run_cli("start", "--detach", "--run-dir", str(run), *extra)
    return t0


def _stop(run: Path) -> None:
    try:
        run_cli("stop", "--run-dir", str(run), timeout=60)
    except RuntimeError:
        pass


def cold_start(*, nodes: int = 5, runs: int = 5, extra: list[str] | None = None,
               progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Seconds from invoking `raftzmq start` (interpreter start included) to the first became_leader record."""
    samples = []
    with tempfile.TemporaryDirectory(prefix="raftzmq-bench-") as tmp:
        for i in range(runs):
            run = Path(tmp) / f"run-{i}"
            t0 = _started(run, ["--nodes", str(nodes), *(extra or [])])
            try:
                leader = min(loc.record["mono_ns"] for loc in read_run(run) if loc.record["event"] == "became_leader")
                samples.append(round((leader - t0) / 1e9, 4))
                progress(f"run {i + 1}/{runs}: first leader after {samples[-1]:.3f} s")
            finally:
                _stop(run)
    return {"nodes": nodes, "runs": runs, "samples_s": samples, "median_s": round(median(samples), 3),
            "min_s": round(min(samples), 3), "max_s": round(max(samples), 3)}


def idle_usage(*, nodes: int = 5, seconds: float = 10.0, extra: list[str] | None = None,
               progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """CPU (% of one core) and RSS per node over `seconds` of a stable cluster at the configured heartbeat."""
    with tempfile.TemporaryDirectory(prefix="raftzmq-bench-") as tmp:
        run = Path(tmp) / "run"
        _started(run, ["--nodes", str(nodes), *(extra or [])])
        try:
            before = _status(run)
            pids = {n["id"]: n["pid"] for n in before["nodes"]}
            sup = int((run / "supervisor.pid").read_text())
            cpu0 = {n: _cpu_seconds(p) for n, p in pids.items()} | {0: _cpu_seconds(sup)}
            t0 = time.monotonic()
            progress(f"measuring {seconds:.0f} s of idle cluster (leader {before['leader']})")
            time.sleep(seconds)  # the measurement window itself
            elapsed = time.monotonic() - t0
            cpu1 = {n: _cpu_seconds(p) for n, p in pids.items()} | {0: _cpu_seconds(sup)}
            rss = {n: _rss_mb(p) for n, p in pids.items()}
            after = _status(run)
        finally:
            _stop(run)
    pct = {n: 100 * (cpu1[n] - cpu0[n]) / elapsed for n in cpu0}
    leader = before["leader"]
    followers = [pct[n] for n in pids if n != leader]
    return {
        "nodes": nodes, "seconds": round(elapsed, 2), "stable": (before["leader"], before["term"]) ==
        (after["leader"], after["term"]),
        "leader_cpu_pct": round(pct[leader], 3), "follower_cpu_pct_median": round(median(followers), 3),
        "follower_cpu_pct_max": round(max(followers), 3), "supervisor_cpu_pct": round(pct[0], 3),
        "rss_mb_median": round(median(rss.values()), 1), "rss_mb_max": round(max(rss.values()), 1),
    }


def large_cluster(*, nodes: int = 101, hold: float = 60.0, extra: list[str] | None = None,
                  progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Time until every node has started and a leader exists; then `hold` seconds counting new terms."""
    with tempfile.TemporaryDirectory(prefix="raftzmq-bench-") as tmp:
        run = Path(tmp) / "run"
        t0 = _started(run, ["--nodes", str(nodes), "--wait", str(60 + nodes * 0.2), *(extra or [])])
        try:
            def up() -> tuple[list[dict[str, Any]], dict[int, int]]:
                records = [loc.record for loc in read_run(run)]
                return records, {r["node"]: r["mono_ns"] for r in records if r["event"] == "node_started"}
            wait_until(lambda: len(up()[1]) == nodes, 60, interval=0.1)
            records, started = up()
            leader_at = min(r["mono_ns"] for r in records if r["event"] == "became_leader")
            all_up = max(started.values()) if len(started) == nodes else None
            st = _status(run)
            term0, leader0 = st["term"], st["leader"]
            progress(f"{len(started)}/{nodes} up, leader {leader0} in term {term0}; holding {hold:.0f} s")
            pids = [n["pid"] for n in st["nodes"] if n["pid"]]
            cpu0, h0 = sum(_cpu_seconds(p) for p in pids), time.monotonic()
            leader_changes = 0
            end = time.monotonic() + hold
            while time.monotonic() < end:
                time.sleep(min(1.0, max(0.0, end - time.monotonic())))  # sampling period of the hold window
                now = _status(run)
                if now["leader"] != leader0:
                    leader_changes += 1
                    leader0 = now["leader"]
            cpu = sum(_cpu_seconds(p) for p in pids) - cpu0
            held = time.monotonic() - h0
            final = _status(run)
            rss = [_rss_mb(p) for p in pids]
        finally:
            _stop(run)
    return {
        "nodes": nodes, "all_up_s": None if all_up is None else round((all_up - t0) / 1e9, 3),
        "all_up_and_leader_s": None if all_up is None else round((max(all_up, leader_at) - t0) / 1e9, 3),
        "first_leader_s": round((leader_at - t0) / 1e9, 3), "hold_s": round(held, 1),
        "term_before": term0, "term_after": final["term"], "leader_changes_seen": leader_changes,
        "cluster_cpu_pct": round(100 * cpu / held, 1), "rss_mb_median": round(median(rss), 1),
    }


# ------------------------------------------------------------------ process start: fork+exec vs forkserver

_CHILD = ("import sys, zmq, raftzmq.runtime.node.process; c = zmq.Context(); s = c.socket(zmq.PUSH); "
          "s.connect(sys.argv[1]); s.send(b'up'); s.close(linger=1000); c.term()")


def _ready_child(endpoint: str) -> None:
    # Runs in a child forked from a forkserver that preloaded zmq and the node module; it creates its own
    # context after the fork, as a node does.
    import zmq

    ctx = zmq.Context()
    sock = ctx.socket(zmq.PUSH)
    sock.connect(endpoint)
    sock.send(b"up")
    sock.close(linger=1000)
    ctx.term()


def _time_until_ready(count: int, launch: Callable[[str], list[Any]], endpoint: str) -> float:
    import zmq

    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.bind(endpoint)
    try:
        t0 = time.monotonic()
        handles = launch(endpoint)
        for _ in range(count):
            if not pull.poll(60_000):
                raise RuntimeError("children did not report within 60 s")
            pull.recv()
        elapsed = time.monotonic() - t0
        for h in handles:
            h.wait() if hasattr(h, "wait") else h.join()
        return elapsed
    finally:
        pull.close(linger=0)
        ctx.term()


def spawn_methods(*, nodes: int = 101, runs: int = 3,
                  progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Seconds until `nodes` processes have imported the node module and opened a ZeroMQ socket, by
    fork+exec (what the supervisor does) and by a forkserver with that module preloaded (its start included)."""
    results: dict[str, list[float]] = {"fork+exec": [], "forkserver": []}
    with tempfile.TemporaryDirectory(prefix="rz-") as tmp:
        for i in range(runs):
            endpoint = f"ipc://{tmp}/ready-{i}.sock"

            def exec_all(ep: str) -> list[Any]:
                return [subprocess.Popen([sys.executable, "-c", _CHILD, ep], env=child_env()) for _ in range(nodes)]

            results["fork+exec"].append(_time_until_ready(nodes, exec_all, endpoint))

            def forkserver_all(ep: str) -> list[Any]:
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["zmq", "raftzmq.runtime.node.process"])
                procs = [ctx.Process(target=_ready_child, args=(ep,)) for _ in range(nodes)]
                for p in procs:
                    p.start()
                return procs

            # A fresh forkserver per run, so its own start is paid each time as a supervisor would.
            from multiprocessing import forkserver

            forkserver._forkserver._stop() if hasattr(forkserver._forkserver, "_stop") else None
            results["forkserver"].append(_time_until_ready(nodes, forkserver_all, endpoint + "f"))
            progress(f"run {i + 1}/{runs}: fork+exec {results['fork+exec'][-1]:.2f} s, "
                     f"forkserver {results['forkserver'][-1]:.2f} s")
    return {"nodes": nodes, "runs": runs,
            **{f"{k}_median_s": round(median(v), 3) for k, v in results.items()},
            "samples": results}
