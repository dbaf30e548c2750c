"""`raftzmq bench hotpath`: what a node costs per message against the floor, measured in one run.

The floor is a bare pyzmq cluster of the same shape doing only the same traffic: one "leader" process sends a
heartbeat-sized frame to each of N-1 "followers" every heartbeat interval over a DEALER per peer, each follower
answers over its own DEALER to the leader's ROUTER, and the leader drains the answers. No decoding, no core, no
logs. A raftzmq cluster of the same size and timings runs beside it in the same window, so both see the same
machine load, and the results are ratios to the floor.

CPU comes from /proc/<pid>/task/*/schedstat (ns, all threads: the Python thread and libzmq's I/O thread).
Timer lateness is "actual wake minus intended wake" of the heartbeat timer: the floor leader measures its own;
a raftzmq node reports its tick lateness in its `loop_stats` record at stop (docs/log-schema.md).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftzmq.evidence.stats import median, quantile
from raftzmq.evidence.logfile import read_run
from raftzmq.runtime.cluster.resources import free_ports
from raftzmq.runtime.cluster.rundir import pid_alive
from raftzmq.runtime.cluster.spawn import child_env
from raftzmq.runtime.cluster.waiting import wait_until
from raftzmq.lab.live.cli_driver import run_cli
from raftzmq.protocol import AppendEntries, AppendResponse, Codec

__all__ = ["hotpath", "cpu_ns", "load_average", "floor_main", "stop_cluster"]

# The floor sends frames of the same size as raftzmq's (wire version 4), without decoding them.
_HEARTBEAT_FRAME = Codec.encode(AppendEntries(1, 1, 2))
_ANSWER_FRAME = Codec.encode(AppendResponse(1, 2, 1, success=True))


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of `pid` in ns (schedstat's first field), 0 if it is gone."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def stop_cluster(run: Path, nodes: int) -> None:
    """`raftzmq stop`; if that fails (a supervisor too busy to answer), SIGTERM and then SIGKILL the supervisor
    by its pid, so that a benchmark never leaves a cluster behind (its nodes die with it)."""
    try:
        run_cli("stop", "--run-dir", str(run), timeout=60 + nodes)
        return
    except (RuntimeError, subprocess.TimeoutExpired):
        pass
    try:
        pid = int((run / "supervisor.pid").read_text())
    except (OSError, ValueError):
        return
    for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_until(lambda: not pid_alive(pid), grace, interval=0.1):
            return


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ------------------------------------------------------------------ the floor (runs in its own processes)

def floor_main(argv: list[str] | None = None) -> None:
    """`python -m raftzmq.lab.bench.hotpath leader|follower JSON`: one floor process."""
    role, spec = (argv or sys.argv[1:])[:2]
    cfg = json.loads(spec)
    (_floor_leader if role == "leader" else _floor_follower)(cfg)


def _socket(ctx: Any, kind: int, zmq: Any) -> Any:
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, 0)
    return s


def _floor_follower(cfg: dict[str, Any]) -> None:
    import zmq

    ctx = zmq.Context(io_threads=1)
    router, dealer = _socket(ctx, zmq.ROUTER, zmq), _socket(ctx, zmq.DEALER, zmq)
    router.bind(cfg["bind"])
    dealer.setsockopt(zmq.IMMEDIATE, 1)
    dealer.connect(cfg["leader"])
    while True:  # killed by the bench
        if router.poll(1000):
            while True:
                try:
                    router.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    dealer.send(_ANSWER_FRAME, zmq.NOBLOCK)
                except zmq.Again:
                    pass


def _floor_leader(cfg: dict[str, Any]) -> None:
    import zmq

    ctx = zmq.Context(io_threads=1)
    router = _socket(ctx, zmq.ROUTER, zmq)
    router.bind(cfg["bind"])
    dealers = []
    for ep in cfg["peers"]:
        d = _socket(ctx, zmq.DEALER, zmq)
        d.setsockopt(zmq.IMMEDIATE, 1)
        d.connect(ep)
        dealers.append(d)
    interval, answers = cfg["heartbeat_ms"] / 1000, 0
    late: list[float] = []
    due = time.monotonic() + interval
    end = None
    while True:
        now = time.monotonic()
        if end is None and answers >= len(dealers) * 3:  # every peer answers: the floor is up; measure from here
            print("ready", flush=True)
            end, late = now + cfg["seconds"], []
        if end is not None and now >= end:
            break
        if router.poll(max(0, int((due - now) * 1000 + 0.999))):
            while True:
                try:
                    router.recv_multipart(zmq.NOBLOCK)
                    answers += 1
                except zmq.Again:
                    break
        now = time.monotonic()
        if now >= due:
            late.append(now - due)
            for d in dealers:
                try:
                    d.send(_HEARTBEAT_FRAME, zmq.NOBLOCK)
                except zmq.Again:
                    pass
            due = now + interval  # as the core does: the next round counts from this one
    print(json.dumps({"rounds": len(late), "answers": answers, **_percentiles_us(late)}), flush=True)


def _percentiles_us(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"late_p50_us": None, "late_p99_us": None}
    return {"late_p50_us": round(quantile(samples, 0.5) * 1e6), "late_p99_us": round(quantile(samples, 0.99) * 1e6)}


class _Floor:
    """A floor cluster of `nodes` processes (1 leader, nodes-1 followers) running for `seconds`."""

    def __init__(self, nodes: int, heartbeat_ms: int, seconds: float) -> None:
        ports = free_ports("127.0.0.1", nodes)
        eps = [f"tcp://127.0.0.1:{p}" for p in ports]
        env = child_env()
        cmd = [sys.executable, "-m", "raftzmq.lab.bench.hotpath"]
        self.followers: list[subprocess.Popen[str]] = [
            subprocess.Popen([*cmd, "follower", json.dumps({"bind": ep, "leader": eps[0]})], env=env, text=True)
            for ep in eps[1:]]
        self.leader = subprocess.Popen([*cmd, "leader", json.dumps({
            "bind": eps[0], "peers": eps[1:], "heartbeat_ms": heartbeat_ms, "seconds": seconds})],
            env=env, stdout=subprocess.PIPE, text=True)

    def wait_ready(self) -> None:
        assert self.leader.stdout is not None
        if self.leader.stdout.readline().strip() != "ready":
            raise RuntimeError("the floor cluster did not come up")

    def result(self, timeout: float) -> dict[str, Any]:
        out, _ = self.leader.communicate(timeout=timeout)
        return json.loads(out.strip().splitlines()[-1])

    def stop(self) -> None:
        procs: list[subprocess.Popen[str]] = [self.leader, *self.followers]
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


# ------------------------------------------------------------------ one measured window

def _status(run: Path) -> dict[str, Any]:
    return json.loads(run_cli("status", "--json", "--run-dir", str(run)).stdout)


def _window(pids: dict[str, list[int]], seconds: float) -> tuple[dict[str, list[int]], float]:
    before = {k: [cpu_ns(p) for p in v] for k, v in pids.items()}
    t0 = time.monotonic()
    time.sleep(seconds)  # the measurement window itself
    elapsed = time.monotonic() - t0
    return {k: [cpu_ns(p) - b for p, b in zip(v, before[k])] for k, v in pids.items()}, elapsed


def _loop_stats(run: Path, leader: int) -> dict[str, Any]:
    stats = {r["node"]: r for r in (loc.record for loc in read_run(run)) if r["event"] == "loop_stats"}
    follower_late = [r["late_p99_us"] for n, r in stats.items() if n != leader and r.get("late_p99_us") is not None]
    lead = stats.get(leader, {})
    return {"leader_late_p50_us": lead.get("late_p50_us"), "leader_late_p99_us": lead.get("late_p99_us"),
            "leader_ticks": lead.get("ticks"), "leader_wakes": lead.get("wakes"),
            "follower_wakes_median": median([r["wakes"] for n, r in stats.items() if n != leader])
            if len(stats) > 1 else None,
            "follower_late_p99_us_median": median(follower_late) if follower_late else None}


def _one_run(nodes: int, heartbeat_ms: int, seconds: float, extra: list[str], tmp: Path, i: int) -> dict[str, Any]:
    run = tmp / f"run-{nodes}-{i}"
    run_cli("start", "--detach", "--run-dir", str(run), "--nodes", str(nodes), "--wait", str(30 + nodes * 0.3),
            *extra, timeout=120 + nodes)
    floor = None
    try:
        time.sleep(2.0)  # let the start-up settle: the window is for an idle, stable cluster
        st = _status(run)
        leader = st["leader"]
        followers = [n["pid"] for n in st["nodes"] if n["id"] != leader and n["pid"]]
        lpid = next(n["pid"] for n in st["nodes"] if n["id"] == leader)
        floor = _Floor(min(nodes, 5), heartbeat_ms, seconds + 1)
        floor.wait_ready()
        load = load_average()
        probe = {"raft_leader": [lpid], "raft_followers": followers[:4], "floor_leader": [floor.leader.pid],
                 "floor_followers": [p.pid for p in floor.followers]}
        used, elapsed = _window(probe, seconds)
        floor_res = floor.result(timeout=seconds + 30)
        stable = (_status(run)["leader"], _status(run)["term"]) == (leader, st["term"])
    finally:
        if floor is not None:
            floor.stop()
        stop_cluster(run, nodes)
    rounds = elapsed / (heartbeat_ms / 1000)  # nominal heartbeat rounds in the window (same for both)
    per = {k: median(v) / rounds / 1000 for k, v in used.items()}  # µs per round / heartbeat
    return {"load": load, "stable": stable, "seconds": round(elapsed, 1),
            "floor_follower_us": round(per["floor_followers"], 1), "floor_leader_us": round(per["floor_leader"], 1),
            "raft_follower_us": round(per["raft_followers"], 1), "raft_leader_us": round(per["raft_leader"], 1),
            "follower_ratio": round(per["raft_followers"] / per["floor_followers"], 3),
            "leader_ratio": round(per["raft_leader"] / per["floor_leader"], 3),
            "floor_leader_late_p50_us": floor_res["late_p50_us"], "floor_leader_late_p99_us": floor_res["late_p99_us"],
            **_loop_stats(run, leader)}


def hotpath(*, nodes: list[int], runs: int = 3, seconds: float = 10.0, heartbeat_ms: int = 50,
            extra: list[str] | None = None, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Per cluster size: `runs` windows of `seconds`, each with the floor (≤ 5 processes) running beside the
    cluster; medians over runs. CPU is µs per heartbeat answered (follower) and per heartbeat round (leader)."""
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="raftzmq-hot-") as tmp:
        for n in nodes:
            samples, failures = [], []
            for i in range(runs):
                try:
                    samples.append(_one_run(n, heartbeat_ms, seconds, extra or [], Path(tmp), i))
                except (RuntimeError, StopIteration, KeyError, subprocess.TimeoutExpired) as exc:
                    failures.append(f"run {i + 1}: {exc}"[:300])
                    progress(failures[-1])
                    continue
                progress(f"{n} nodes, run {i + 1}/{runs}: {samples[-1]}")
            if not samples:
                result[f"{n} nodes"] = {"failures": failures}
                continue
            keys = [k for k, v in samples[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            med = {k: median(s[k] for s in samples if s[k] is not None)
                   for k in keys if any(s[k] is not None for s in samples)}
            result[f"{n} nodes"] = {"median": med, "loads": [s["load"] for s in samples],
                                    "stable": [s["stable"] for s in samples], "samples": samples,
                                    "failures": failures}
    return result


if __name__ == "__main__":
    floor_main()
