"""What authentication and real networking cost: idle CPU per node and failover after a leader kill, for one
network setting (`--auth`, `--net`), measured on a live cluster driven through the CLI.

CPU comes from /proc/<pid>/task/*/schedstat (nanoseconds on the CPU, every thread: the node's loop and zmq's
I/O thread), not from clock ticks. Failover is read from the logs' mono_ns (one host clock for every process,
namespaces included): from the supervisor's `node_killed` record of the leader to the first `became_leader` of
another node.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftzmq.evidence.stats import median
from raftzmq.evidence.logfile import read_run
from raftzmq.lab.live.cli_driver import run_cli
from raftzmq.runtime.cluster.waiting import wait_until

__all__ = ["cpu_ns", "net_costs"]


def cpu_ns(pid: int) -> int:
    """Nanoseconds `pid` has run, summed over its threads."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just exited
    return total


def _status(run: Path) -> dict[str, Any]:
    return json.loads(run_cli("status", "--json", "--run-dir", str(run)).stdout)


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    result = wait_until(predicate, timeout, interval=0.05)
    if not result:
        raise RuntimeError(f"timed out waiting for {what}")
    return result


def _settled(run: Path) -> dict[str, Any] | None:
    st = _status(run)
    ok = st["leader"] is not None and all(n["role"] is not None and n["leader"] == st["leader"]
                                          for n in st["nodes"])
    return st if ok else None


def _idle(run: Path, seconds: float) -> dict[str, Any]:
    st = _wait(lambda: _settled(run), 20, "a settled cluster")
    pids = {n["id"]: n["pid"] for n in st["nodes"]}
    before = {n: cpu_ns(p) for n, p in pids.items()}
    t0 = time.monotonic_ns()
    time.sleep(seconds)  # the measurement window itself
    elapsed = time.monotonic_ns() - t0
    pct = {n: 100.0 * (cpu_ns(p) - before[n]) / elapsed for n, p in pids.items()}
    after = _status(run)
    followers = [v for n, v in pct.items() if n != st["leader"]]
    return {"leader_cpu_pct": round(pct[st["leader"]], 3),
            "follower_cpu_pct_median": round(median(followers), 3),
            "stable": (after["leader"], after["term"]) == (st["leader"], st["term"])}


def _hints_between(records: list[dict[str, Any]], start_ns: int, end_ns: int) -> int:
    """`hint` records (a follower saw its leader's connection close) logged in [start_ns, end_ns]."""
    return sum(1 for r in records if r["event"] == "hint" and start_ns <= r["mono_ns"] <= end_ns)


def _failover(run: Path) -> tuple[float, int]:
    """Kill the leader: (seconds until the next became_leader, `hint` records in between)."""
    st = _wait(lambda: _settled(run), 20, "a settled cluster")
    leader = st["leader"]
    run_cli("kill", str(leader), "--run-dir", str(run))
    _wait(lambda: (lambda s: s["leader"] not in (None, leader))(_status(run)), 20, "a new leader")
    records = [loc.record for loc in read_run(run)]
    killed = max(r["mono_ns"] for r in records if r["event"] == "node_killed" and r["node"] == leader)
    elected = min(r["mono_ns"] for r in records if r["event"] == "became_leader" and r["mono_ns"] > killed)
    run_cli("restart", str(leader), "--run-dir", str(run))
    return (elected - killed) / 1e9, _hints_between(records, killed, elected)


def _heal_recovery(run: Path, hold_s: float, nodes: int) -> tuple[float, int]:
    """Cut the leader and one follower off for `hold_s` seconds, heal: (seconds from the `heal` record until both
    follow the majority's leader again (their `became_follower` records), `hint` records while cut off)."""
    st = _wait(lambda: _settled(run), 20, "a settled cluster")
    minority = [st["leader"], st["leader"] % nodes + 1]
    majority = [m for m in range(1, nodes + 1) if m not in minority]
    run_cli("partition", ",".join(map(str, minority)), ",".join(map(str, majority)), "--run-dir", str(run))
    _wait(lambda: _status(run)["leader"] in majority, 20, "a leader in the majority")
    time.sleep(hold_s)  # the partition's duration is the experiment's parameter
    run_cli("heal", "--run-dir", str(run))
    _wait(lambda: _settled(run), 60, "everyone following one leader after heal")
    records = [loc.record for loc in read_run(run)]
    healed = max(r["mono_ns"] for r in records if r["event"] == "heal")
    cut = max(r["mono_ns"] for r in records if r["event"] == "partition")
    back = [min(r["mono_ns"] for r in records if r["event"] == "became_follower" and r["node"] == m
                and r["mono_ns"] > healed and r.get("leader") is not None) for m in minority]
    return (max(back) - healed) / 1e9, _hints_between(records, cut, healed)


def net_costs(*, nodes: int = 5, failovers: int = 10, idle_s: float = 10.0, partitions: int = 0,
              hold_s: float = 5.0, extra: list[str] | None = None,
              progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Idle CPU over `idle_s` seconds, `failovers` leader kills (each followed by a restart), then `partitions`
    partitions of `hold_s` seconds each, timing the rejoin after heal."""
    with tempfile.TemporaryDirectory(prefix="raftzmq-bench-") as tmp:
        run = Path(tmp) / "run"
        run_cli("start", "--detach", "--run-dir", str(run), "--nodes", str(nodes), *(extra or []))
        try:
            idle = _idle(run, idle_s)
            progress(f"idle: {idle}")
            samples, kill_hints = [], 0
            for i in range(failovers):
                seconds, hints = _failover(run)
                samples.append(seconds)
                kill_hints += hints
                progress(f"failover {i + 1}/{failovers}: {seconds:.3f} s, {hints} hint records")
            rejoin, cut_hints = [], 0
            for i in range(partitions):
                seconds, hints = _heal_recovery(run, hold_s, nodes)
                rejoin.append(seconds)
                cut_hints += hints
                progress(f"partition {i + 1}/{partitions} of {hold_s:g} s: rejoined {seconds:.3f} s after heal, "
                         f"{hints} hint records while cut")
        finally:
            try:
                run_cli("stop", "--run-dir", str(run), timeout=60)
            except RuntimeError:
                pass
    return {"nodes": nodes, "settings": " ".join(extra or []) or "loopback, no auth", **idle,
            "failover_median_s": round(median(samples), 3) if samples else None,
            "failover_max_s": round(max(samples), 3) if samples else None,
            "failover_samples_s": [round(s, 3) for s in samples],
            "hint_records_after_kills": kill_hints,
            "partition_hold_s": hold_s, "rejoin_after_heal_s": [round(s, 3) for s in rejoin],
            "hint_records_while_partitioned": cut_hints,
            "loadavg": os.getloadavg()}
