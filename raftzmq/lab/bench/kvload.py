"""A closed-loop load process of `raftzmq bench kv`: `threads` clients, each with its own socket, each sending its
next command as soon as the last one is answered.

One Python process tops out at a few thousand requests a second (the GIL), so the benchmark spreads its clients
over a bounded number of these processes (`python -m raftzmq.lab.bench.kvload SPEC`, SPEC a JSON object). The
conversation is line-based JSON, as with the PySyncObj peer: the process builds its clients (a KV client registers
its session with one write), prints {"ready": true}, reads {"go": T0, "warmup": W, "duration": D} (T0 on
CLOCK_MONOTONIC, shared by every process of the host) and prints {"result": ...} about the commands that completed
in [T0 + W, T0 + W + D).

Two APIs:
  kv    raftzmq.client.Client (the KV wire: sessions, exactly once): `put` of a small value on the client's own
        key; with "mix", the Jepsen-style workload's operations (lab/live/workload.generate: get/put/cas/append/
        delete on `keys` shared keys, unique values), recorded as a history (workload.Recorder) for the checker
  raw   the node's raw propose (protocol/clientwire.py, as `raftzmq propose`): an opaque command of `payload`
        bytes to the leader, answered at its commit; no session, no state machine
"""
from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import zmq

__all__ = ["main", "shared_clock"]

ATTEMPT_TIMEOUT_S = 5.0


def _say(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


def shared_clock(base_ns: int) -> Any:
    """A clock for workload.Recorder whose history times count from `base_ns` (CLOCK_MONOTONIC) whatever process
    records: the Recorder reads its origin with the first call, which returns `base_ns`; later calls read the
    clock. Histories of several processes then merge by their `time` field."""
    first = [True]

    def clock() -> int:
        if first[0]:
            first[0] = False
            return base_ns
        return time.monotonic_ns()
    return clock


class _Raw:
    """One raw-propose client: a DEALER to the leader's client endpoint."""

    def __init__(self, ctx: zmq.Context[Any], endpoint: str, tag: int, payload: int) -> None:
        from raftzmq.protocol.clientwire import ClientRequest, decode_response, encode_request
        self._req, self._enc, self._dec = ClientRequest, encode_request, decode_response
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.rid = tag << 32
        self.pad = b"x" * max(0, payload - 12)

    def call(self, n: int) -> bool:
        """Propose one command and wait for its answer: True when committed."""
        self.rid += 1
        self.sock.send(self._enc(self._req(self.rid, "propose", n.to_bytes(12, "big") + self.pad)))
        until = time.monotonic() + ATTEMPT_TIMEOUT_S
        while True:
            left = until - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000) + 1):
                return False
            resp = self._dec(self.sock.recv())
            if resp.request_id == self.rid:
                return bool(resp.status == "ok")

    def close(self) -> None:
        self.sock.close(linger=0)


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    api, threads, first = spec["api"], int(spec["threads"]), int(spec["first"])
    endpoints = {int(k): v for k, v in spec["endpoints"].items()}
    leader = int(spec["leader"])
    ctx: zmq.Context[Any] = zmq.Context()
    clients: list[Any] = []
    plans: list[list[Any]] = []
    recorder = None
    out = None
    try:
        if api == "kv":
            from raftzmq.client import Client
            ordered = {leader: endpoints[leader], **endpoints}  # the leader first: no redirect to start with
            for t in range(threads):
                c = Client(ordered, timeout=ATTEMPT_TIMEOUT_S * 2, attempt_timeout=ATTEMPT_TIMEOUT_S,
                           context=ctx, seed=first + t)
                c.put(f"bench/{first + t}", 0)  # registers the session (a write through the log)
                clients.append(c)
            if spec.get("mix"):
                from raftzmq.lab.live.workload import generate
                sched = generate(int(spec["seed"]), int(spec["total"]), int(spec["keys"]), float(spec["rate"]),
                                 float(spec["span"]))
                plans = [[op for _, p, op in sched if p == first + t] for t in range(threads)]
        else:
            clients = [_Raw(ctx, endpoints[leader], first + t, int(spec.get("payload", 16))) for t in range(threads)]
        _say({"ready": True})
        line = sys.stdin.readline()
        if not line:
            return 0
        go = json.loads(line)
        if "go" not in go:  # told to exit before the window
            return 0
        if spec.get("record"):
            from raftzmq.lab.live.workload import Recorder
            out = open(spec["record"], "w")
            recorder = Recorder(out, clock=shared_clock(int(spec["base_ns"])))
        result = _run(clients, plans, recorder, first, float(go["go"]), float(go["warmup"]), float(go["duration"]))
        if recorder is not None:
            recorder.close()
        _say({"result": result})
        return 0
    finally:
        for c in clients:
            c.close()
        if out is not None:
            out.close()
        ctx.term()


def _run(clients: list[Any], plans: list[list[Any]], recorder: Any, first: int, t0: float, warmup: float,
         duration: float) -> dict[str, Any]:
    start, end = t0 + warmup, t0 + warmup + duration
    lock = threading.Lock()
    lat_us: list[int] = []
    counts = {"ok": 0, "fail": 0, "info": 0, "outside": 0}

    def worker(t: int) -> None:
        c = clients[t]
        plan = plans[t] if plans else None
        n = 0
        while time.monotonic() < end:
            n += 1
            began = time.monotonic()
            if plan is not None:
                if n > len(plan):
                    return
                from raftzmq.lab.live.workload import outcome_of
                op = plan[n - 1]
                if recorder is not None:
                    recorder.invoke(first + t, op)
                kind, value = outcome_of(op, c.execute)
                if recorder is not None:
                    recorder.complete(first + t, kind, value)
            elif isinstance(c, _Raw):
                kind = "ok" if c.call(n) else "info"
            else:
                kind = _put(c, f"bench/{first + t}", n)
            now = time.monotonic()
            with lock:
                if start <= now < end:
                    counts[kind] += 1
                    if kind == "ok":
                        lat_us.append(int((now - began) * 1e6))
                else:
                    counts["outside"] += 1

    wait = t0 - time.monotonic()
    if wait > 0:
        time.sleep(wait)  # every load process begins at the same instant t0
    ths = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(len(clients))]
    for th in ths:
        th.start()
    for th in ths:
        th.join(max(0.0, end - time.monotonic()) + ATTEMPT_TIMEOUT_S * 3)
    with lock:
        return {**counts, "lat_us": list(lat_us), "stuck": sum(th.is_alive() for th in ths)}


def _put(c: Any, key: str, n: int) -> str:
    from raftzmq.client import Failed, Indefinite
    try:
        c.put(key, n)
    except Indefinite:
        return "info"
    except Failed:
        return "fail"
    return "ok"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
