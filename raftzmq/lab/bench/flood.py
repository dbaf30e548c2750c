"""`raftzmq bench flood`: what a flood of hostile frames costs a cluster, and whether it moves leadership.

One target cluster (default timings, 150-300 ms), and optionally a second cluster running beside it as load, as
the issue's target asks ("while the machine runs a second cluster"). Per run: the target's node CPU in an idle
window of the fuzz's length before, then `raftzmq fuzz` at full rate (lab/live/fuzz.py: every frame one the
codec must reject, sent as fast as one process can), with the nodes' CPU from schedstat over it. Reported: frames,
the frames per second the fuzzer reached, how many the budgets threw away undecoded (`frames_throttled`), the CPU
per hostile frame (the fuzz window's node CPU minus the idle window's, over the frames), elections in the target
during the fuzz (became_candidate records; 0 is the target), and whether the leader and term held. Load average
beside each run.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftzmq.evidence.logfile import read_run
from raftzmq.evidence.stats import median
from raftzmq.lab.bench.hotpath import cpu_ns, load_average, stop_cluster
from raftzmq.lab.live.cli_driver import run_cli
from raftzmq.lab.live.fuzz import run_fuzz
from raftzmq.runtime.cluster.control import ControlClient
from raftzmq.runtime.cluster.rundir import RunDir

__all__ = ["flood"]


def _node_pids(run: Path) -> list[int]:
    st = ControlClient(RunDir(run)).request("status")
    return [n["pid"] for n in st["nodes"] if n["pid"]]


def _cpu(pids: list[int]) -> int:
    return sum(cpu_ns(p) for p in pids)


def one_run(tmp: Path, frames: int, second: bool, extra: list[str], seed: int,
            progress: Callable[[str], None]) -> dict[str, Any]:
    target, other = tmp / "target", tmp / "second"
    started: list[Path] = []
    try:
        if second:
            run_cli("start", "--detach", "--run-dir", str(other), "--concurrent", *extra)
            started.append(other)
        run_cli("start", "--detach", "--run-dir", str(target), "--concurrent", *extra)
        started.append(target)
        pids = _node_pids(target)
        load0 = load_average()
        t_idle, c_idle = time.monotonic(), _cpu(pids)
        # The idle window: as long as the fuzz will take, guessed from the frames (refined below).
        time.sleep(min(10.0, max(2.0, frames / 40_000)))  # the idle baseline window itself
        idle_cpu_per_s = (_cpu(pids) - c_idle) / (time.monotonic() - t_idle)
        c0, t0, t0_ns = _cpu(pids), time.monotonic(), time.monotonic_ns()
        result = run_fuzz(target, frames=frames, seed=seed, progress=progress)
        fuzz_s = result.seconds
        cpu = _cpu(pids) - c0
        window = time.monotonic() - t0  # the fuzz and the accounting wait after it
        records = [loc.record for loc in read_run(target)]
        during = [r for r in records if r["mono_ns"] >= t0_ns and r.get("by") == "node"]
        throttled = sum(r["frames"] for r in during if r["event"] == "frames_throttled")
        extra_cpu = max(0.0, cpu - idle_cpu_per_s * window)
        return {
            "load": load0, "load_after": load_average(), "second_cluster": second,
            "frames": result.frames, "fuzz_s": round(fuzz_s, 2),
            "frames_per_s": round(result.frames / max(fuzz_s, 1e-9)),
            "throttled_undecoded": throttled,
            "cpu_us_per_frame": round(extra_cpu / 1e3 / max(result.frames, 1), 2),
            "node_cpu_pct_during": round(100 * cpu / 1e9 / window / max(len(pids), 1), 1),
            "elections_during": sum(r["event"] == "became_candidate" for r in during),
            "leader_term_held": (result.before["leader"], result.before["term"])
            == (result.after["leader"], result.after["term"]),
            "fuzz_ok": result.ok, "problems": result.problems[:3],
        }
    finally:
        for run in reversed(started):
            stop_cluster(run, 5)


def flood(*, frames: int = 200_000, runs: int = 3, second: bool = True, extra: list[str] | None = None,
          seed: int = 1, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    samples = []
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="raftzmq-flood-") as tmp:
            samples.append(one_run(Path(tmp), frames, second, extra or [], seed + i, progress))
        progress(f"flood run {i + 1}/{runs}: {samples[-1]}")
    cpu = [s["cpu_us_per_frame"] for s in samples]
    return {
        "median cpu_us_per_frame": round(median(cpu), 2),
        "elections during the floods": sum(s["elections_during"] for s in samples),
        "runs with leader and term held": sum(s["leader_term_held"] for s in samples),
        "samples": samples,
    }
