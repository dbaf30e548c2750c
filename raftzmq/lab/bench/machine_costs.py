"""What a message and a persist cost on this machine, for the simulator and the model of bench failover.

- one-way loopback latency: half the round trip of a small frame between this process and an echo process over
  ZeroMQ TCP on 127.0.0.1 (DEALER -> ROUTER, what nodes use), Python on both ends;
- persist: `StateFile.save` (write temp, fsync, rename, fsync directory) in the benchmark's output directory,
  on the same file system as the run's state files.
Samples are spaced (`_GAP_S`) as a node's are: back-to-back fsyncs queue behind each other (on this VM's disk
they took 10-17 ms each against ~4 ms spaced), and a hot ping-pong never pays the wake-up of a sleeping process.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from raftzmq.evidence.stats import quantile
from raftzmq.protocol.core import HardState
from raftzmq.runtime.cluster.spawn import child_env
from raftzmq.runtime.node.storage import StateFile

__all__ = ["measure_costs"]

_GAP_S = 0.005  # between samples: the pause is part of what is measured (an idle process, an idle disk queue)

_ECHO = """
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.ROUTER); s.setsockopt(zmq.LINGER, 0)
port = s.bind_to_random_port("tcp://127.0.0.1"); print(port, flush=True)
while True:
    ident, msg = s.recv_multipart()
    if msg == b"bye": break
    s.send_multipart([ident, msg])
"""


def _quantiles(samples_ms: list[float]) -> dict[str, float]:
    return {"p10": round(quantile(samples_ms, 0.1), 4), "median": round(quantile(samples_ms, 0.5), 4),
            "p90": round(quantile(samples_ms, 0.9), 4), "p99": round(quantile(samples_ms, 0.99), 4),
            "samples": len(samples_ms)}


def _one_way_ms(rounds: int) -> list[float]:
    import zmq

    echo = subprocess.Popen([sys.executable, "-c", _ECHO], stdout=subprocess.PIPE, text=True, env=child_env())
    assert echo.stdout is not None
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"tcp://127.0.0.1:{int(echo.stdout.readline())}")
        out = []
        for i in range(rounds + 10):
            time.sleep(_GAP_S)
            t0 = time.perf_counter_ns()
            sock.send(b"x" * 64)
            if not sock.poll(5000):
                raise RuntimeError("the loopback echo process did not answer within 5 s")
            sock.recv()
            if i >= 10:  # the first round trips include the connection's set-up
                out.append((time.perf_counter_ns() - t0) / 2e6)
        sock.send(b"bye")
        return out
    finally:
        sock.close(linger=100)
        ctx.term()
        try:
            echo.wait(timeout=5)
        except subprocess.TimeoutExpired:
            echo.kill()
            echo.wait()


def _persist_ms(directory: Path, rounds: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix=".persist-", dir=directory) as tmp:
        state = StateFile(Path(tmp) / "node-1.state")
        out = []
        for term in range(1, rounds + 1):
            time.sleep(2 * _GAP_S)
            t0 = time.perf_counter_ns()
            state.save(HardState(term, 1))
            out.append((time.perf_counter_ns() - t0) / 1e6)
        return out


def measure_costs(directory: Path, *, rounds: int = 200) -> dict[str, Any]:
    """{"one_way_ms": quantiles, "persist_ms": quantiles} measured now, in `directory`."""
    return {"one_way_ms": _quantiles(_one_way_ms(rounds)), "persist_ms": _quantiles(_persist_ms(directory, rounds // 3))}
