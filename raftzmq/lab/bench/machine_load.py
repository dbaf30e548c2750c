"""How busy the machine was while a benchmark ran: /proc/loadavg and /proc/stat sampled by a background thread.

Each sample covers the interval since the previous one: `busy` is the share of all CPUs' time spent not idle
(steal included: time our VM wanted a CPU and the host gave it to someone else), `steal` that share alone,
`load1` the 1-minute load average and `running` the runnable tasks at the sample. A benchmark trial is flagged
as taken under load when the interval around its critical moment was busy (≥ BUSY_LIMIT of the machine) or
saw steal (≥ STEAL_LIMIT): then other processes competed with the cluster for the CPUs.
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["BUSY_LIMIT", "STEAL_LIMIT", "LoadSampler", "read_samples", "load_at", "is_loaded", "summarize_load",
           "run_queue_wait"]

BUSY_LIMIT = 0.75
STEAL_LIMIT = 0.05


def _cpu_times() -> list[int]:
    with open("/proc/stat") as f:
        fields = f.readline().split()
    # user nice system idle iowait irq softirq steal (guest time is already counted in user)
    return [int(x) for x in fields[1:9]]


def _loadavg() -> tuple[float, int]:
    with open("/proc/loadavg") as f:
        parts = f.read().split()
    return float(parts[0]), int(parts[3].split("/")[0])


class LoadSampler:
    """Appends one JSON line per `period_s` to `path` until stopped (use as a context manager)."""

    def __init__(self, path: Path, period_s: float = 0.5) -> None:
        self.path, self.period_s = path, period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        prev = _cpu_times()
        with open(self.path, "a") as out:
            stopping = False
            while not stopping:  # one last sample at the stop, so the final interval is covered too
                stopping = self._stop.wait(self.period_s)
                now = _cpu_times()
                delta = [b - a for a, b in zip(prev, now)]
                prev = now
                total = sum(delta) or 1
                load1, running = _loadavg()
                sample = {"mono_ns": time.monotonic_ns(), "busy": round(1 - (delta[3] + delta[4]) / total, 4),
                          "steal": round(delta[7] / total, 4), "load1": load1, "running": running,
                          "cpus": os.cpu_count()}
                out.write(json.dumps(sample) + "\n")
                out.flush()


def read_samples(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_at(samples: list[dict[str, Any]], mono_ns: int) -> dict[str, Any] | None:
    """The sample whose interval contains `mono_ns` (the first one taken at or after it)."""
    for s in samples:
        if s["mono_ns"] >= mono_ns:
            return s
    return None


def is_loaded(sample: dict[str, Any] | None) -> bool | None:
    if sample is None:
        return None
    return sample["busy"] >= BUSY_LIMIT or sample["steal"] >= STEAL_LIMIT


def summarize_load(samples: list[dict[str, Any]]) -> dict[str, Any]:
    if not samples:
        return {"samples": 0}
    def mean(key: str) -> float:
        return round(sum(s[key] for s in samples) / len(samples), 3)
    return {"samples": len(samples), "load1_mean": mean("load1"), "load1_max": max(s["load1"] for s in samples),
            "busy_mean": mean("busy"), "steal_mean": mean("steal"), "steal_max": max(s["steal"] for s in samples),
            "cpus": samples[-1]["cpus"]}


def run_queue_wait(pid: int) -> dict[str, float] | None:
    """A process' main thread from /proc/<pid>/schedstat: CPU time, time spent runnable but waiting for a CPU,
    and how often it was scheduled. wait / scheduled is how late, on average, it ran after being woken (a timer
    that fired, a message that arrived): on a machine with more runnable tasks than CPUs this is the timer
    lateness that poll rounding alone does not explain."""
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            cpu_ns, wait_ns, slices = (int(x) for x in f.read().split()[:3])
    except (OSError, ValueError):
        return None
    return {"cpu_ms": cpu_ns / 1e6, "wait_ms": wait_ns / 1e6, "scheduled": slices,
            "wait_per_run_ms": round(wait_ns / 1e6 / slices, 4) if slices else 0.0}
