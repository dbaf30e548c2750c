"""`raftzmq bench wal`: what the write-ahead log costs over the bare system calls it makes durable with.

Per round, in one directory on the disk under test (default: a temporary directory under the logs root), and
alternating so that both see the same disk:
  - wal:   WriteAheadLog.append(batch) + sync()        (encode, checksum, digest chain, write loop, one fsync)
  - floor: os.write(fd, the same number of bytes) + os.fsync(fd) on an O_APPEND file of its own
for a batch of 1 entry and a batch of 100 entries, each entry of `size` bytes (1 KB by default). Each file grows
by 2 x `rounds` batches. Reported: medians (and p90) in microseconds, and the ratio wal/floor of the medians;
and, from interleaved rounds without the fsync, the medians of append alone and os.write alone (the CPU the log
adds, which the fsync's variance hides).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftzmq.evidence.stats import median
from raftzmq.protocol.messages import Entry
from raftzmq.runtime.node.wal import RECORD_OVERHEAD, WriteAheadLog

__all__ = ["bench_wal"]


def _p90(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def bench_wal(directory: Path, rounds: int = 200, size: int = 1024, batches: tuple[int, ...] = (1, 100),
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-wal-", dir=directory))
    out: dict[str, Any] = {"directory": str(work.parent), "rounds": rounds, "entry_bytes": size,
                           "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg())}
    try:
        for batch in batches:
            if progress:
                progress(f"batch of {batch} x {size} B: {rounds} rounds")
            out[f"batch_{batch}"] = _one(work, rounds, size, batch)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _one(work: Path, rounds: int, size: int, batch: int) -> dict[str, Any]:
    log = WriteAheadLog.open(work / f"wal-{batch}.wal")
    fd = os.open(work / f"floor-{batch}", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    payload = bytes(size)
    raw = bytes((RECORD_OVERHEAD + size) * batch)
    wal_us: list[float] = []
    floor_us: list[float] = []
    append_us: list[float] = []  # the same without the fsync: what the log adds in CPU, hidden by fsync noise
    write_us: list[float] = []
    index = 1
    try:
        for r in range(rounds):
            for synced in (True, False):
                entries = [Entry(index + i, 1, payload) for i in range(batch)]  # built outside the timed part
                index += batch
                for which in ((0, 1) if r % 2 == 0 else (1, 0)):  # alternate who goes first
                    t0 = time.perf_counter_ns()
                    if which == 0:
                        log.append(entries)
                        if synced:
                            log.sync()
                    else:
                        os.write(fd, raw)
                        if synced:
                            os.fsync(fd)
                    took = (time.perf_counter_ns() - t0) / 1000
                    ((wal_us if synced else append_us) if which == 0 else (floor_us if synced else write_us)).append(
                        took)
    finally:
        log.close()
        os.close(fd)
    wal_med, floor_med = median(wal_us), median(floor_us)
    return {"entries": batch, "bytes": len(raw), "wal_median_us": round(wal_med, 1),
            "wal_p90_us": round(_p90(wal_us), 1), "floor_median_us": round(floor_med, 1),
            "floor_p90_us": round(_p90(floor_us), 1), "ratio_of_medians": round(wal_med / floor_med, 3),
            "append_only_median_us": round(median(append_us), 1),
            "write_only_median_us": round(median(write_us), 1)}
