"""`raftzmq bench scale`: how start-up, elections, CPU, memory and log volume grow with the cluster size.

Per size, clusters started as a user would: `raftzmq start --detach` run as a child process, each in its own run
directory. The user-facing figure is `command_s`, from just before the command until it returns, which it does
once `status` shows a leader (interpreter start, imports, every node, the election and the polling included).
Beside it, from the logs' mono_ns against that same moment, the start-up profile: the supervisor's
`cluster_started`, the last `node_spawned` and `node_started`, the barrier's `timers_connecting` and
`timers_released`, the first candidate's `timer_released`, the first `became_leader`, the leader that then holds
(its term, and how many elections and pre-elections it took). Then a hold window (optional) counting new
elections, with the cluster's CPU from /proc/<pid>/task/*/schedstat, each node's RSS, and the bytes the logs grew
by. The load average is recorded beside every run (the machine is shared), and with several runs per size the
medians come first.
"""
from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftzmq.evidence.stats import median
from raftzmq.evidence.logfile import read_run
from raftzmq.lab.bench.hotpath import cpu_ns, load_average, stop_cluster
from raftzmq.lab.live.cli_driver import run_cli

__all__ = ["scale", "one_size"]

_PAGE = 4096


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _pss_mb(pid: int) -> float:
    """Proportional set size: shared pages (the forkserver's preloaded modules, libzmq) split among sharers."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Pss:")) / 1024
    except (OSError, ValueError, StopIteration):
        return 0.0


def _log_bytes(run: Path) -> int:
    return sum(p.stat().st_size for p in run.glob("*.jsonl"))


def _records(run: Path) -> list[dict[str, Any]]:
    return sorted((loc.record for loc in read_run(run)), key=lambda r: r["mono_ns"])


def _start(run: Path, nodes: int, extra: list[str]) -> tuple[int, float, str | None]:
    """(t0 in mono_ns, the command's own wall time in s, failure or None)."""
    t0 = time.monotonic_ns()
    try:
        run_cli("start", "--detach", "--run-dir", str(run), "--nodes", str(nodes), "--wait", str(30 + nodes * 0.3),
                *extra, timeout=120 + nodes)
    except RuntimeError as exc:
        return t0, (time.monotonic_ns() - t0) / 1e9, str(exc).splitlines()[-1][:200]
    return t0, (time.monotonic_ns() - t0) / 1e9, None


def _at(records: list[dict[str, Any]], t0: int, event: str, last: bool = False, node: int | None = None
        ) -> float | None:
    hits = [r["mono_ns"] for r in records if r["event"] == event and (node is None or r.get("node") == node)]
    return round(((hits[-1] if last else hits[0]) - t0) / 1e9, 3) if hits else None


def startup_profile(records: list[dict[str, Any]], t0: int) -> dict[str, Any]:
    """Where a start's time went, each milestone in seconds after t0 (docs/benchmarks.md, start-up profile)."""
    connecting = next((r for r in records if r["event"] == "timers_connecting"), None)
    released = next((r for r in records if r["event"] == "timers_released"), None)
    first = (connecting or released or {}).get("first")
    return {
        "cluster_started_s": _at(records, t0, "cluster_started"),
        "last_spawned_s": _at(records, t0, "node_spawned", last=True),
        "first_node_started_s": _at(records, t0, "node_started"),
        "last_node_started_s": _at(records, t0, "node_started", last=True),
        "connecting_s": _at(records, t0, "timers_connecting"),
        "released_s": _at(records, t0, "timers_released"),
        "first_candidate_s": _at(records, t0, "timer_released", node=first) if first else None,
    }


def _startup(records: list[dict[str, Any]], t0: int, nodes: int, leader: int | None, term: int | None
             ) -> dict[str, Any]:
    started = [r["mono_ns"] for r in records if r["event"] == "node_started"]
    leaders = [r for r in records if r["event"] == "became_leader"]
    stable = next((r for r in leaders if r["node"] == leader and r["term"] == term), None)
    before = [r for r in records if stable is None or r["mono_ns"] <= stable["mono_ns"]]
    return {
        **startup_profile(records, t0),
        "all_up_s": round((max(started) - t0) / 1e9, 3) if len(started) >= nodes else None,
        "first_leader_s": round((leaders[0]["mono_ns"] - t0) / 1e9, 3) if leaders else None,
        "stable_leader_s": round((stable["mono_ns"] - t0) / 1e9, 3) if stable else None,
        "stable_term": term,
        "elections_until_stable": sum(r["event"] == "became_candidate" for r in before),
        "prevotes_until_stable": sum(r["event"] == "became_precandidate" for r in before),
    }


def one_size(nodes: int, hold: float, extra: list[str], tmp: Path,
             progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """One cluster of `nodes`: started, profiled, held for `hold` seconds (0: start-up only), stopped."""
    run = tmp / f"scale-{nodes}"
    load0 = load_average()
    t0, command_s, failed = _start(run, nodes, extra)
    hold_fields: dict[str, Any] = {}
    try:
        if failed is not None:
            records = _records(run) if run.exists() else []
            return {"nodes": nodes, "load": load0, "failed": failed, "command_s": round(command_s, 3),
                    **(_startup(records, t0, nodes, None, None) if records else {}),
                    "log_bytes_startup": _log_bytes(run) if run.exists() else None}
        st = json.loads(run_cli("status", "--json", "--run-dir", str(run)).stdout)
        final = st
        bytes0 = _log_bytes(run)
        if hold > 0:
            final, hold_fields = _hold(run, st, nodes, hold, bytes0, progress)
    except RuntimeError as exc:  # the supervisor did not answer a status request
        return {"nodes": nodes, "load": load0, "failed": str(exc).splitlines()[-1][:200]}
    finally:
        stop_cluster(run, nodes)
    records = _records(run)
    in_hold = [r for r in records if hold_fields and
               hold_fields["_h0_ns"] <= r["mono_ns"] <= hold_fields["_h0_ns"] + hold_fields["hold_s"] * 1e9]
    out = {"nodes": nodes, "load": load0, "load_after": load_average(), "command_s": round(command_s, 3),
           **_startup(records, t0, nodes, final["leader"], final["term"]), "log_bytes_startup": bytes0}
    if hold_fields:
        hold_fields.pop("_h0_ns")
        out.update(hold_fields, elections_in_hold=sum(r["event"] == "became_candidate" for r in in_hold),
                   term_before_after_hold=[st["term"], final["term"]])
    return out


def _hold(run: Path, st: dict[str, Any], nodes: int, hold: float, bytes0: int,
          progress: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    pids = [n["pid"] for n in st["nodes"] if n["pid"]] + [int((run / "supervisor.pid").read_text())]
    cpu0, h0, h0_ns = sum(cpu_ns(p) for p in pids), time.monotonic(), time.monotonic_ns()
    progress(f"{nodes} nodes: leader {st['leader']} in term {st['term']}; holding {hold:.0f} s")
    time.sleep(hold)  # the hold window itself
    held = time.monotonic() - h0
    cpu = sum(cpu_ns(p) for p in pids) - cpu0
    rss = [_rss_mb(p) for p in pids[:-1]]
    pss = [_pss_mb(p) for p in pids[:-1]]
    final = json.loads(run_cli("status", "--json", "--run-dir", str(run)).stdout)
    bytes1 = _log_bytes(run)
    return final, {
        "_h0_ns": h0_ns,
        "hold_s": round(held, 1),
        "cluster_cpu_pct": round(100 * cpu / 1e9 / held, 1),
        "rss_mb_median": round(median(rss), 1), "rss_mb_max": round(max(rss), 1),
        "pss_mb_median": round(median(pss), 1),
        "log_bytes_per_node_per_idle_min": round((bytes1 - bytes0) / nodes * 60 / held),
    }


MEDIAN_KEYS = ("command_s", "first_leader_s", "stable_leader_s", "cluster_started_s", "last_spawned_s",
               "last_node_started_s", "connecting_s", "released_s", "first_candidate_s",
               "elections_until_stable", "prevotes_until_stable", "log_bytes_startup",
               # the hold window's, when there is one
               "elections_in_hold", "cluster_cpu_pct", "rss_mb_median", "rss_mb_max", "pss_mb_median",
               "log_bytes_per_node_per_idle_min")


def medians(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each figure over the runs that have it, and the load range they ran under."""
    out: dict[str, Any] = {"runs": len(samples), "failed": sum("failed" in s for s in samples)}
    for key in MEDIAN_KEYS:
        values = [s[key] for s in samples if isinstance(s.get(key), (int, float))]
        if values:
            out[key] = round(median(values), 3)
    loads = [float(s["load"].split()[0]) for s in samples if s.get("load")]
    if loads:
        out["load_1min_range"] = [min(loads), max(loads)]
    return out


def scale(*, sizes: list[int], hold: float = 60.0, runs: int = 3, extra: list[str] | None = None,
          progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="raftzmq-scale-") as tmp:
        for n in sizes:
            samples = []
            for i in range(runs):
                base = Path(tmp) / f"r{i}"  # each run in its own run directory
                base.mkdir(exist_ok=True)
                samples.append(one_size(n, hold, extra or [], base, progress))
                progress(f"{n} nodes, run {i + 1}/{runs}: {samples[-1]}")
            out[f"{n} nodes"] = {"median": medians(samples), "samples": samples} if runs > 1 else samples[0]
    return out
