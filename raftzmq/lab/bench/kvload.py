"""A closed-loop load process of `raftzmq bench kv`: `threads` clients, each with its own socket, each sending its
next command as soon as the last one is answered.

One Python process tops out at a few thousand requests a second (the GIL), so the benchmark spreads its clients
over a bounded number of these processes (`python -m raftzmq.lab.bench.kvload SPEC`, SPEC a JSON object). The
conversation is line-based JSON, as with the PySyncObj peer: the process builds its clients (a KV client registers
its session with one write), prints {"ready": true}, reads {"go": T0, "warmup": W, "duration": D} (T0 on
CLOCK_MONOTONIC, shared by every process of the host) and prints {"result": ...} about the commands that completed
in [T0 + W, T0 + W + D).

How the clients are driven. Measured windows multiplex: the clients of one load process share one DEALER to the
leader and one thread; each client keeps exactly one command outstanding and sends its next when the answer comes
(a closed loop per client, without a thread per client: Python threads would spend the load processes' CPU, on a
machine whose CPU the nodes need). A KV client registers its session first (a `register` through the log), then
sends `put` with its session and seq. The recorded window (a history for the checker) runs one thread per client
with raftzmq.client.Client, which retries and follows redirects as users' clients do. The multiplexed clients
spend little CPU of their own (they share the machine with the nodes): a put's frame is built directly
(`put_frame`, byte for byte what kvwire.encode_request writes) and an answer's header alone is read
(kvwire.peek_response); a client answered not_leader or retry resends after RETRY_BACKOFF_S, to the leader the
answer names, instead of at once (a closed loop on a node that no longer leads would only burn CPU).

Two APIs:
  kv    raftzmq.client.Client (the KV wire: sessions, exactly once): `put` of a small value on the client's own
        key (or, with "op": "get", a get of it: how the nodes serve reads, --reads); with "mix", the Jepsen-style workload's operations (lab/live/workload.generate: get/put/cas/append/
        delete on `keys` shared keys, unique values), recorded as a history (workload.Recorder) for the checker
  raw   the node's raw propose (protocol/clientwire.py, as `raftzmq propose`): an opaque command of `payload`
        bytes to the leader, answered at its commit; no session, no state machine
"""
from __future__ import annotations

import heapq
import json
import struct
import sys
import threading
import time
from typing import Any

import zmq

from raftzmq.protocol.kvstore import OP_CODES
from raftzmq.protocol.kvwire import WIRE_VERSION, peek_response

__all__ = ["main", "shared_clock", "put_frame"]

ATTEMPT_TIMEOUT_S = 5.0
RETRY_BACKOFF_S = 0.01  # a client answered not_leader or retry resends after this (no busy loop on a non-leader)


_NOBLOCK = int(zmq.NOBLOCK)
_PUT_HEAD = struct.Struct(">BQBQQQH")  # wire version, request id, op, client, seq, stamp, key length


def put_frame(request_id: int, session: int, seq: int, key: bytes, value: int) -> bytes:
    """The KV wire's request frame for `put key value` (an int value) with (session, seq): byte for byte what
    kvwire.encode_request writes for that command (tests/test_bench_kv.py checks), built without its checks."""
    text = b"%d" % value
    return (_PUT_HEAD.pack(WIRE_VERSION, request_id, OP_CODES["put"], session, seq, 0, len(key)) + key
            + len(text).to_bytes(4, "big") + text)


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


class _Mux:
    """`n` closed-loop clients over one DEALER (see the module docstring)."""

    def __init__(self, ctx: zmq.Context[Any], endpoint: str, api: str, n: int, first: int, payload: int,
                 op: str = "put") -> None:
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.endpoint = endpoint
        self.api, self.n, self.first, self.op = api, n, first, op
        self.pad = b"x" * max(0, payload - 12)
        self.rid = (first + 1) << 32
        self.sessions = [0] * n
        self.seq = [0] * n
        self.keys = [f"bench/{first + c}".encode() for c in range(n)]
        self.poller = zmq.Poller()  # one for the run (Socket.poll builds a Poller a call)
        self.poller.register(self.sock, zmq.POLLIN)
        self._dec: Any
        if api == "kv":
            from raftzmq.protocol.kvstore import Command
            from raftzmq.protocol.kvwire import Request, decode_response, encode_request
            self._cmd, self._req, self._enc, self._dec = Command, Request, encode_request, decode_response
        else:
            from raftzmq.protocol.clientwire import ClientRequest, decode_response as dec, encode_request as enc
            self._creq, self._cenc, self._dec = ClientRequest, enc, dec

    def _frame(self, c: int, rid: int) -> bytes:
        if self.api == "kv" and self.op == "get":
            return bytes(self._enc(self._req(rid, self._cmd("get", f"bench/{self.first + c}"))))
        if self.api == "kv":
            self.seq[c] += 1
            return put_frame(rid, self.sessions[c], self.seq[c], self.keys[c], self.seq[c])
        return bytes(self._cenc(self._creq(rid, "propose", (self.first + c).to_bytes(4, "big") +
                                           rid.to_bytes(8, "big") + self.pad)))

    def _status(self, frame: bytes) -> tuple[int, str]:
        """(request id, status) of an answer: the KV wire's header only (kvwire.peek_response)."""
        if self.api == "kv":
            return peek_response(frame)
        resp = self._dec(frame)
        return resp.request_id, resp.status

    def register(self) -> None:
        """A KV session per client, through the log (one at a time: before the window)."""
        if self.api != "kv":
            return
        for c in range(self.n):
            self.rid += 1
            self.sock.send(bytes(self._enc(self._req(self.rid, self._cmd("register")))))
            until = time.monotonic() + ATTEMPT_TIMEOUT_S * 2
            while True:
                left = until - time.monotonic()
                if left <= 0 or not self.sock.poll(int(left * 1000) + 1):
                    raise RuntimeError("no answer to register")
                resp = self._dec(self.sock.recv())
                if resp.request_id == self.rid:
                    if resp.status != "ok":
                        raise RuntimeError(f"register: {resp.status} {resp.message}")
                    self.sessions[c] = int(resp.value)
                    break

    def run(self, t0: float, warmup: float, duration: float) -> dict[str, Any]:
        start, end = t0 + warmup, t0 + warmup + duration
        lat_us: list[int] = []
        counts = {"ok": 0, "fail": 0, "info": 0, "outside": 0}
        out: dict[int, tuple[int, float]] = {}  # request id -> (client, sent)

        sock, poll, frame_of, status_of = self.sock, self.poller.poll, self._frame, self._status

        def send(c: int) -> None:
            self.rid += 1
            out[self.rid] = (c, time.monotonic())
            sock.send(frame_of(c, self.rid))

        wait = t0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # every load process begins at the same instant t0
        for c in range(self.n):
            send(c)
        drain_until = end + ATTEMPT_TIMEOUT_S
        later: list[tuple[float, int]] = []  # (when, client): resends after a not_leader/retry answer, backed off
        while (out or later) and time.monotonic() < drain_until:
            if later:
                now = time.monotonic()
                while later and later[0][0] <= now:
                    c = heapq.heappop(later)[1]
                    if now < end:
                        send(c)
            if not poll(int(max(0.0, later[0][0] - time.monotonic()) * 1000) + 1 if later else 100):
                now = time.monotonic()
                for rid, (c, sent) in list(out.items()):  # no answer in time: indefinite, the client goes on
                    if now - sent > ATTEMPT_TIMEOUT_S:
                        del out[rid]
                        counts["info"] += 1
                        if now < end:
                            send(c)
                continue
            while True:
                try:
                    frame = sock.recv(_NOBLOCK)
                except zmq.Again:
                    break
                now = time.monotonic()
                rid, status = status_of(frame)
                got = out.pop(rid, None)
                if got is None:
                    continue
                c, sent = got
                kind = "ok" if status == "ok" else "fail" if status in ("fail", "bad_request") else "info"
                if start <= now < end:
                    counts[kind] += 1
                    if kind == "ok":
                        lat_us.append(int((now - sent) * 1e6))
                else:
                    counts["outside"] += 1
                if kind == "info":  # not served now (e.g. a new leader): as raftzmq.client does, back off and
                    self._follow(frame)  # go where the answer says the leader is
                    heapq.heappush(later, (now + RETRY_BACKOFF_S, c))
                elif now < end:
                    send(c)
        return {**counts, "lat_us": lat_us, "stuck": len(out)}

    def _follow(self, frame: bytes) -> None:
        """A not_leader answer naming the leader's client endpoint: send there from now on."""
        if self.api != "kv":
            return
        resp = self._dec(frame)
        if resp.status == "not_leader" and resp.endpoint and resp.endpoint != self.endpoint:
            self.sock.disconnect(self.endpoint)
            self.endpoint = resp.endpoint
            self.sock.connect(self.endpoint)

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
        if api not in ("kv", "raw") or (spec.get("record") and api != "kv"):
            raise ValueError(f"api kv or raw (a recorded window is kv), got {api!r}")
        if spec.get("record"):
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
        mux = None if spec.get("record") else _Mux(ctx, endpoints[leader], api, threads, first,
                                                   int(spec.get("payload", 16)), str(spec.get("op", "put")))
        if mux is not None:
            mux.register()
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
        if mux is not None:
            result = mux.run(float(go["go"]), float(go["warmup"]), float(go["duration"]))
            mux.close()
        else:
            result = _run(clients, plans, recorder, first, float(go["go"]), float(go["warmup"]),
                          float(go["duration"]))
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
