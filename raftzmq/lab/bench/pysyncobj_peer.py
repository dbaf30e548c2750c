"""The PySyncObj peer of `raftzmq bench kv`: PySyncObj (the Python Raft library people use) measured closed loop on
this machine, in the same run as our cluster, so the two figures share the machine's load.

PySyncObj is an optional extra (`pip install .[bench]`), never a dependency of raftzmq: this module imports it only
inside the node processes it starts (`python -m raftzmq.lab.bench.pysyncobj_peer node ...`), and `available()`
says whether it is installed.

How it is measured, as its own benchmarks do: the commands are submitted inside its node processes (a replicated
`set(key, value)` on a SyncObj), with a callback per command; a closed-loop client submits its next command from
the callback of the previous one. Nodes talk TCP on 127.0.0.1; PySyncObj keeps its log in memory and never fsyncs
(no journal file, no full dump file). Two configurations:
  default   SyncObjConf() as shipped (commands batched on its 50 ms autoTick; appendEntriesPeriod 0.1 s)
  nobatch   appendEntriesUseBatch=False: every command wakes the node (its pipe notifier) and is sent at once:
            its fastest closed-loop configuration
Placement: `leader` puts every client in the leader's process (no forwarding hop: its best case); `spread` puts
client i on node i mod N (followers forward to the leader, as in its testobj benchmarks).

The conversation with a node process is line-based JSON on its stdin/stdout: it prints {"ready": ...} once a
leader is known and a probe command committed; the parent answers {"go": T0, "clients": K, "warmup": W,
"duration": D} (T0 a CLOCK_MONOTONIC time shared by every process on the host); the node prints {"result": ...}
after T0 + W + D and keeps serving its peers until it reads {"exit": true} or end of input.
"""
from __future__ import annotations

import importlib.util
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from ...evidence.stats import quantile

__all__ = ["CONFIGS", "PLACEMENTS", "LineProcess", "available", "run_pysyncobj", "node_main"]

CONFIGS = ("default", "nobatch")
PLACEMENTS = ("leader", "spread")
READY_TIMEOUT_S = 60.0
DRAIN_S = 10.0  # after the window: commands still in flight are waited for at most this long


def available() -> bool:
    """Whether PySyncObj is installed (the `bench` extra)."""
    return importlib.util.find_spec("pysyncobj") is not None


# ------------------------------------------------------------------------------------------- the node process

def _conf(name: str) -> Any:
    from pysyncobj import SyncObjConf  # type: ignore[import-not-found, import-untyped, unused-ignore]
    if name == "default":
        return SyncObjConf()
    if name == "nobatch":
        return SyncObjConf(appendEntriesUseBatch=False)
    raise ValueError(f"unknown PySyncObj configuration {name!r} (one of {', '.join(CONFIGS)})")


def _say(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def node_main(argv: list[str]) -> int:
    """`python -m raftzmq.lab.bench.pysyncobj_peer node SELF PARTNER,PARTNER CONFIG`: one PySyncObj node."""
    from pysyncobj import FAIL_REASON, SyncObj, replicated

    self_addr, partners, config = argv[0], [p for p in argv[1].split(",") if p], argv[2]

    class Store(SyncObj):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(self_addr, partners, _conf(config))
            self.data: dict[str, int] = {}

        @replicated  # type: ignore[misc]
        def set(self, key: str, value: int) -> None:
            self.data[key] = value

    obj = Store()
    try:
        probe = threading.Event()
        outcome: list[Any] = []

        def probed(res: Any, err: Any) -> None:
            outcome.append(err)
            probe.set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        sent = False
        while not probe.is_set() and time.monotonic() < deadline:
            if not sent and obj._getLeader() is not None:
                obj.set("probe", 0, callback=probed)
                sent = True
            probe.wait(0.05)  # polls PySyncObj's state, which offers no event to wait on
            if probe.is_set() and outcome[-1] != FAIL_REASON.SUCCESS:
                probe.clear()
                sent = False
        if not probe.is_set():
            _say({"error": "no leader or the probe command did not commit"})
            return 1
        _say({"ready": True, "self": self_addr, "leader": _leader(obj)})
        for line in sys.stdin:  # one closed-loop window per "go"; serve the peers until "exit" or end of input
            doc = json.loads(line)
            if doc.get("exit"):
                break
            if doc.get("ask"):
                _say({"leader": _leader(obj)})
                continue
            result = _closed_loop(obj, FAIL_REASON.SUCCESS, doc["go"], int(doc["clients"]), float(doc["warmup"]),
                                  float(doc["duration"]), self_addr)
            _say({"result": result})
        return 0
    finally:
        obj.destroy()


def _leader(obj: Any) -> str:
    leader = obj._getLeader()
    return str(getattr(leader, "address", leader)) if leader is not None else ""


def _closed_loop(obj: Any, success: Any, t0: float, clients: int, warmup: float, duration: float,
                 tag: str) -> dict[str, Any]:
    """`clients` closed loops from t0: latencies (µs) and counts of the commands that completed in the window
    [t0 + warmup, t0 + warmup + duration)."""
    start, end = t0 + warmup, t0 + warmup + duration
    lat_us: list[int] = []
    counts = {"ok": 0, "errors": 0, "outside": 0}
    lock = threading.Lock()
    in_flight = [0]
    idle = threading.Event()
    if clients == 0:
        idle.set()

    def submit(c: int, n: int) -> None:
        sent = time.monotonic()

        def done(res: Any, err: Any) -> None:
            now = time.monotonic()
            with lock:
                if start <= now < end:
                    if err == success:
                        counts["ok"] += 1
                        lat_us.append(int((now - sent) * 1e6))
                    else:
                        counts["errors"] += 1
                else:
                    counts["outside"] += 1
                go_on = now < end
                if not go_on:
                    in_flight[0] -= 1
                    if in_flight[0] == 0:
                        idle.set()
            if go_on:
                submit(c, n + 1)
        obj.set(f"{tag}/{c}", n, callback=done)

    wait = t0 - time.monotonic()
    if wait > 0:
        time.sleep(wait)  # every node begins at the same instant t0
    with lock:
        in_flight[0] = clients
    for c in range(clients):
        submit(c, 0)
    idle.wait(max(0.0, end - time.monotonic()) + DRAIN_S)
    with lock:
        return {"ok": counts["ok"], "errors": counts["errors"], "outside": counts["outside"],
                "in_flight_left": in_flight[0], "lat_us": list(lat_us)}


# ------------------------------------------------------------------------------------------------ the parent

def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class LineProcess:
    """A child process spoken to in JSON lines (stdin/stdout); its stderr goes to `log`."""

    def __init__(self, args: list[str], log: IO[str], name: str = "PySyncObj node") -> None:
        self.name = name
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                     bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def expect(self, key: str, deadline: float) -> dict[str, Any]:
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(f"{self.name} pid {self.proc.pid}: no {key!r} in time") from None
            if line is None:
                raise RuntimeError(f"{self.name} pid {self.proc.pid} exited (code {self.proc.poll()}) "
                                   f"before {key!r}")
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if "error" in doc:
                raise RuntimeError(f"{self.name} pid {self.proc.pid}: {doc['error']}")
            if key in doc:
                return dict(doc)

    def send(self, doc: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(doc) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def stop(self) -> None:
        self.send({"exit": True})
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def run_pysyncobj(clients: list[int], *, config: str = "nobatch", nodes: int = 3, duration_s: float = 5.0,
                  warmup_s: float = 1.0, placement: str = "leader", log: IO[str] | None = None,
                  progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """One PySyncObj cluster of `nodes` processes, and for each count in `clients` a closed-loop window:
    {"config", "nodes", "placement", "runs": [{"clients", "ops_per_s", "p50_ms", "p99_ms", "ok", "errors",
    "load"}]}. Raises RuntimeError when PySyncObj is missing or its cluster does not come up."""
    if not available():
        raise RuntimeError("PySyncObj is not installed (pip install 'raftzmq[bench]' or pip install pysyncobj)")
    if config not in CONFIGS or placement not in PLACEMENTS:
        raise ValueError(f"config in {CONFIGS}, placement in {PLACEMENTS}")
    addrs = [f"127.0.0.1:{p}" for p in _free_ports(nodes)]
    sink = log if log is not None else open(os.devnull, "w")
    procs: list[LineProcess] = []
    runs = []
    try:
        for a in addrs:
            partners = ",".join(b for b in addrs if b != a)
            procs.append(LineProcess([sys.executable, "-m", "raftzmq.lab.bench.pysyncobj_peer", "node", a, partners,
                                config], sink))
        deadline = time.monotonic() + READY_TIMEOUT_S
        for p in procs:
            p.expect("ready", deadline)
        for count in clients:
            runs.append(_window(procs, addrs, count, placement, warmup_s, duration_s, progress, config))
    finally:
        for p in procs:
            p.stop()
        if log is None:
            sink.close()
    return {"config": config, "nodes": nodes, "placement": placement, "fsync": False, "runs": runs}


def _sleep_until(t: float) -> None:
    wait = t - time.monotonic()
    if wait > 0:
        time.sleep(wait)  # a measurement window's edge (not synchronisation)


def _cpu_in_window(procs: list[LineProcess], addrs: list[str], leader: str | None, start: float,
                   end: float) -> dict[str, Any]:
    """The node processes' CPU (% of one core) over [start, end) (CLOCK_MONOTONIC): the leader's (its clients
    run in it) and the others', as bench kv reports ours."""
    from ...runtime.cluster.procstat import cpu_seconds
    _sleep_until(start)
    c0, t_a = [cpu_seconds(p.proc.pid) for p in procs], time.monotonic()
    _sleep_until(end)
    c1, span = [cpu_seconds(p.proc.pid) for p in procs], max(1e-9, time.monotonic() - t_a)
    pct = [round(100 * (b - a) / span, 1) for a, b in zip(c0, c1)]
    lead = addrs.index(leader) if leader in addrs else None
    return {"leader": pct[lead] if lead is not None else None,
            "others": [v for i, v in enumerate(pct) if i != lead]}


def _window(procs: list[LineProcess], addrs: list[str], count: int, placement: str, warmup_s: float,
            duration_s: float, progress: Callable[[str], None], config: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10.0
    for p in procs:
        p.send({"ask": True})
    leaders = {p.expect("leader", deadline)["leader"] for p in procs}
    leader = leaders.pop() if len(leaders) == 1 else None
    share = [0] * len(procs)
    for c in range(count):
        if placement == "leader" and leader in addrs:
            share[addrs.index(leader)] += 1
        else:
            share[c % len(procs)] += 1
    t0 = time.monotonic() + 0.2
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    for p, k in zip(procs, share):
        p.send({"go": t0, "clients": k, "warmup": warmup_s, "duration": duration_s})
    cpu = _cpu_in_window(procs, addrs, leader, t0 + warmup_s, t0 + warmup_s + duration_s)
    results = [p.expect("result", t0 + warmup_s + duration_s + DRAIN_S + 30)["result"] for p in procs]
    lat = [v for r in results for v in r["lat_us"]]
    ok = sum(r["ok"] for r in results)
    out = {"clients": count, "ops_per_s": round(ok / duration_s, 1), "ok": ok,
           "errors": sum(r["errors"] for r in results), "p50_ms": round(quantile(lat, 0.5) / 1000, 3) if lat else None,
           "p99_ms": round(quantile(lat, 0.99) / 1000, 3) if lat else None, "load": load,
           "leader_known": leader is not None, "cpu_pct": cpu}
    progress(f"pysyncobj {config}: {count} clients: {out['ops_per_s']} ops/s, p50 {out['p50_ms']} ms")
    return out


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "node":
        sys.exit(node_main(sys.argv[2:]))
    sys.exit("usage: python -m raftzmq.lab.bench.pysyncobj_peer node SELF PARTNERS CONFIG")
