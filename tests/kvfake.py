"""A fake KV cluster for client and workload tests: N ROUTER endpoints served by one thread of the test process,
one KVStore behind them (no Raft: the "leader" applies each command at once, in arrival order).

Knobs (set them between operations, or under `lock`): `leader` (which node serves; others answer not_leader),
`hint` (not_leader names the leader or not), `drop_replies` (the leader applies and then loses that many
answers), `retry_replies` (answer `retry` without applying), `silent` (nodes that never answer), `expire_on_drop`.
"""
from __future__ import annotations

import threading
from typing import Any

import zmq

from typing import NamedTuple

from raftzmq.protocol.kvservice import KVService
from raftzmq.protocol.kvstore import Command, KVStore, decode_command
from raftzmq.protocol.kvwire import Response, WireError, decode_frames, decode_response, encode_response
from raftzmq.protocol.messages import Entry


class Proposal(NamedTuple):  # the shape of the core's
    accepted: bool
    index: int
    term: int
    leader: int | None


class FakeCluster:
    def __init__(self, tmp_path: Any, nodes: int = 3, leader: int | None = 1, hint: bool = True,
                 session_ttl_ns: int = 10**12, max_sessions: int = 1000, reads: str = "log") -> None:
        self.endpoints = {n: f"ipc://{tmp_path}/kv-{n}.sock" for n in range(1, nodes + 1)}
        self.store = KVStore(session_ttl_ns, max_sessions)
        self.service = KVService(self.store, self.endpoints, reads=reads)
        self.log: list[Entry] = []
        self.leader, self.hint = leader, hint
        self.drop_replies = 0
        self.retry_replies = 0
        self.silent: set[int] = set()
        self.point: dict[int, int] = {}  # node -> the leader it names, whoever leads (stale views)
        self.expire_on_drop = False  # after a dropped answer, every session expires (the retry finds none)
        self.now_ns = 1
        self.received: dict[int, int] = {n: 0 for n in self.endpoints}
        self.applied: list[Command] = []  # every command applied (the log)
        self.bad: list[bytes] = []  # answers sent to malformed requests
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._ctx = zmq.Context()
        self._socks: dict[int, zmq.Socket[Any]] = {}
        for n, ep in self.endpoints.items():
            s = self._ctx.socket(zmq.ROUTER)
            s.setsockopt(zmq.LINGER, 0)
            s.bind(ep)
            self._socks[n] = s
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        poller = zmq.Poller()
        for s in self._socks.values():
            poller.register(s, zmq.POLLIN)
        by_sock = {s: n for n, s in self._socks.items()}
        while not self._stop.is_set():
            for sock, _ in poller.poll(20):
                parts = sock.recv_multipart()
                with self.lock:
                    reply = self._handle(by_sock[sock], parts[1:])
                if reply is not None:
                    sock.send_multipart([parts[0], reply])

    def _handle(self, node: int, frames: list[bytes]) -> bytes | None:
        """The node side is protocol/kvservice.py, as in the node process; the "log" commits at once."""
        self.received[node] += 1
        if node in self.silent:
            return None
        if node == self.leader and self.retry_replies and len(frames) == 1:
            try:
                rid = decode_frames(frames).request_id
            except WireError:
                rid = 0
            self.retry_replies -= 1
            return encode_response(Response(rid, "retry", None, "no leader yet"))
        index = self.store.applied_index + 1
        self.now_ns += 1

        def propose(data: bytes) -> Proposal:
            if node in self.point:
                return Proposal(False, 0, 0, self.point[node])
            if node != self.leader:
                return Proposal(False, 0, 0, self.leader if self.hint else None)
            self.log.append(Entry(index, 1, data))
            return Proposal(True, index, 1, node)

        def read_index() -> int | None:  # the leader's commit index (here: everything is applied at once)
            return self.store.applied_index if node == self.leader and node not in self.point else None

        known = self.point.get(node, self.leader if self.hint else None)
        replies = self.service.handle(b"r", frames, self.now_ns, propose, read_index=read_index, leader=known)
        if node == self.leader and self.log and self.log[-1].index == index:
            self.applied.append(decode_command(self.log[-1].data))
            replies += self.service.apply([self.log[-1]])
            if self.drop_replies:
                self.drop_replies -= 1
                if self.expire_on_drop:
                    self.store.sessions.clear()
                return None
        assert len(replies) == 1
        if decode_response(replies[0][1]).status == "bad_request":
            self.bad.append(replies[0][1])
        return replies[0][1]

    def value(self, key: str) -> Any:
        with self.lock:
            return self.store.read(key)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s in self._socks.values():
            s.close(linger=0)
        self._ctx.term()


def endpoint_args(fake: FakeCluster) -> list[str]:
    """`--endpoint URL` for each of the fake's nodes, in node order (for the CLI commands)."""
    return [a for n in sorted(fake.endpoints) for a in ("--endpoint", fake.endpoints[n])]
