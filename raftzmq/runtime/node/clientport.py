"""A node's client endpoint: a ROUTER apart from the peer socket, polled in the node's one loop (issue 18).

Clients send one-frame requests (protocol/clientwire.py; the first byte names the wire, so a later wire such as the
KV one, protocol/kvwire.py, is served here too by registering a handler for its first byte in `wires`). The port
never blocks: requests are read in batches of at most `batch` per wake-up, answers are sent NOBLOCK (an answer to a
client whose queue is full or that is gone is dropped: the client's deadline covers it).

A propose is handed to the core (`propose(data, now) -> Proposal`). Not accepted: the answer goes at once,
`not_leader` with the leader when known. Accepted at (index, term): the request waits, and is answered when the
node learns what was committed at that index (`committed(entries)`, called after the entries are durable and
applied): `ok` with (index, term) if it is our entry, `dropped` if another entry was committed there (ours can never
be committed then). At most `max_pending` proposals wait (more are answered `busy` and not proposed); one that waits
longer than `pending_timeout_s` is answered `unknown` (its fate is not known; it may still commit).
A request that does not decode is answered `bad_request` and changes nothing.
KV gets by ReadIndex (`read_index(ctx, now)`, the node's hook into the core) are answered when the core's answer
comes back through `read_states` (the Ready's `reads`, handed over after its applies).
"""
from __future__ import annotations

import errno
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import zmq

from raftzmq.protocol.clientwire import (MAX_MESSAGE_BYTES, WIRE_TAG, ClientResponse, ClientWireError,
                                         decode_request, encode_response, error_response)
from raftzmq.protocol.kvservice import KVService, ToPropose
from raftzmq.protocol.kvwire import WIRE_VERSION as KV_WIRE_VERSION, Response as KVResponse, encode_response as kv_encode
from raftzmq.protocol.messages import Entry
from raftzmq.protocol.ready import ReadState

__all__ = ["ClientPort", "ClientPortError", "Proposal", "MAX_PENDING", "PENDING_TIMEOUT_S", "CLIENT_BATCH",
           "MAXMSGSIZE"]

MAX_PENDING = 1024  # proposals waiting for their commit at one node; more are answered busy
PENDING_TIMEOUT_S = 60.0  # a proposal waiting longer is answered `unknown` (memory stays bounded)
CLIENT_BATCH = 64  # requests handled per wake-up: a flood of clients cannot starve the peers and the timers
RCVHWM = 1000
_NOBLOCK = int(zmq.NOBLOCK)  # plain ints: arithmetic on pyzmq's enums costs microseconds a request
_EVENTS, _POLLIN, _RCVMORE = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.RCVMORE)
_SNDMORE_NOBLOCK = int(zmq.SNDMORE) | _NOBLOCK
MAXMSGSIZE = 256 * 1024  # beyond the largest request of any wire we serve: bigger frames reach the decoder
# (answered bad_request) up to this size; libzmq disconnects a client sending more


class ClientPortError(Exception):
    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"{endpoint}: {reason}")
        self.endpoint, self.reason = endpoint, reason


@dataclass(frozen=True, slots=True)
class Proposal:
    """What the core says of a proposal (the replication core's `Proposal`, duck-typed here)."""

    accepted: bool
    index: int
    term: int
    leader: int | None


@dataclass(slots=True)
class _Waiting:
    routing: bytes
    request_id: int
    term: int
    deadline: float


Handler = Callable[[bytes, bytes, float], None]  # (routing id, frame, now)


class ClientPort:
    """Bind with `open()`, register `socket` in the loop's poller, call `service(now)` when it signals (and again
    without sleeping while `more` is set), `committed(entries)` after each apply, `expire(now)` once `next_expiry` has come."""

    def __init__(self, ctx: zmq.Context, endpoint: str, *, propose: Callable[[bytes, float], Any],
                 read_index: Callable[[int, float], None] | None = None,
                 info: Callable[[], tuple[int | None, int, int, int]], endpoint_of: Callable[[int], str],
                 counters: Callable[[], dict[str, Any]] | None = None,
                 max_pending: int = MAX_PENDING, pending_timeout_s: float = PENDING_TIMEOUT_S,
                 batch: int = CLIENT_BATCH,
                 propose_batch: Callable[[list[bytes], float], Sequence[Any]] | None = None) -> None:
        self.ctx, self.endpoint = ctx, endpoint
        self._propose, self._info, self._endpoint_of = propose, info, endpoint_of
        self._read_index = read_index
        # Several commands at once, in order (one Proposal each): the KV writes of one `service` call are
        # proposed together when given (the core appends them as one run, one AppendEntries per follower).
        self._propose_batch = propose_batch
        self._to_propose: list[ToPropose] = []
        self._counters = counters or (lambda: {})
        self.max_pending, self.pending_timeout_s, self.batch = max_pending, pending_timeout_s, batch
        self.socket: zmq.Socket | None = None
        self.more = False
        self.replied = False  # answers were sent since the last readable_after_replies()
        self.waiting: dict[int, list[_Waiting]] = {}  # log index -> proposals appended there
        self.n_waiting = 0
        self.stats: Counter[str] = Counter()
        self.wires: dict[int, Handler] = {WIRE_TAG: self._serve_raw}  # first byte -> handler
        # When `expire` has something to do: the earliest deadline of a waiting proposal, inf while none waits (an
        # idle node's loop compares it with its clock and arms no timer). Never later than the earliest deadline;
        # it may be earlier (an answered proposal's), and `expire` then only recomputes it.
        self.next_expiry = float("inf")
        self.kv: KVService | None = None
        self.leading = False  # as of the last `leadership` call

    def serve_kv(self, service: KVService) -> None:
        """Also serve the KV wire (protocol/kvwire.py, first byte 1) through `service`, which applies every
        committed entry to its store (`committed`) and answers its clients."""
        self.kv = service
        self.wires[KV_WIRE_VERSION] = self._serve_kv

    def _serve_kv(self, routing: bytes, frame: bytes, now: float) -> None:
        kv = self.kv
        assert kv is not None
        if len(kv.waiting) + len(kv.reading) + len(kv.pending_reads) + len(self._to_propose) + self.n_waiting \
                >= self.max_pending:
            rid = int.from_bytes(frame[1:9], "big") if len(frame) >= 9 else 0
            self.stats["busy"] += 1
            self.reply(routing, kv_encode(KVResponse(rid, "retry", None, "too many proposals are waiting here")))
            return
        leader = self._info()[0]
        ri = self._read_index
        read_index = None if ri is None else (lambda ctx: ri(ctx, now))
        if self._propose_batch is None:
            for to, answer in kv.handle(routing, [frame], time.time_ns(), lambda data: self._propose(data, now),
                                        read_index=read_index, leader=leader):
                self.reply(to, answer)
            return
        ready, replies = kv.prepare(routing, [frame], time.time_ns(), read_index=read_index, leader=leader)
        for to, answer in replies:
            self.reply(to, answer)
        if ready is not None:
            self._to_propose.append(ready)

    def _propose_kv(self, now: float) -> None:
        """Propose the KV writes `service` read, together, and settle each with its proposal (in order)."""
        batch, self._to_propose = self._to_propose, []
        if not batch:
            return
        kv, propose_batch = self.kv, self._propose_batch
        assert kv is not None and propose_batch is not None
        proposals = propose_batch([r.data for r in batch], now)
        if len(proposals) != len(batch):
            raise ValueError(f"{len(proposals)} proposals for {len(batch)} commands")
        for ready, prop in zip(batch, proposals):
            for to, answer in kv.settle(ready, prop):
                self.reply(to, answer)

    def read_states(self, states: Sequence[ReadState]) -> None:
        """The core's ReadIndex answers (a Ready's `reads`, after its applies): the KV replies they allow."""
        if self.kv is not None:
            for to, answer in self.kv.read_states(states):
                self.reply(to, answer)

    def leadership(self, leading: bool, leader: int | None) -> None:
        """Called after each loop turn: a node that stopped leading answers its waiting KV requests `retry`
        (they may still commit; the session makes the client's resend safe)."""
        if self.leading and not leading and self.kv is not None:
            for to, answer in self.kv.step_down(leader):
                self.reply(to, answer)
        self.leading = leading

    def open(self) -> None:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, RCVHWM)
        sock.setsockopt(zmq.SNDHWM, RCVHWM)
        sock.setsockopt(zmq.MAXMSGSIZE, MAXMSGSIZE)
        try:
            sock.bind(self.endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else f"cannot bind: {exc}"
            raise ClientPortError(self.endpoint, reason) from None
        self.socket = sock

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None

    # ------------------------------------------------------------------ requests

    def service(self, now: float) -> None:
        """Handle up to `batch` waiting requests; `more` says whether frames are still waiting. The KV writes
        among them are proposed together at the end (with `propose_batch`)."""
        self._read(now)
        self._propose_kv(now)

    def _read(self, now: float) -> None:
        sock = self.socket
        assert sock is not None, "open() first"
        self.more = False
        for _ in range(self.batch):
            try:  # read until EAGAIN (which also re-arms ZMQ_FD's edge); no ZMQ_EVENTS query a request
                parts = [sock.recv(_NOBLOCK)]  # recv_multipart, without its enum arithmetic
                while sock.getsockopt(_RCVMORE):
                    parts.append(sock.recv(_NOBLOCK))
            except zmq.Again:
                return
            self.stats["requests"] += 1
            routing, frames = parts[0], parts[1:]
            if len(frames) != 1 or not frames[0]:
                self._bad(routing, ClientWireError(f"a request is one non-empty frame, got {len(frames)} frame(s)"))
                continue
            handler = self.wires.get(frames[0][0])
            if handler is None:
                self._bad(routing, ClientWireError(f"unknown client wire (first byte {frames[0][0]:#04x})"))
                continue
            handler(routing, frames[0], now)
        self.more = bool(int(sock.getsockopt(_EVENTS)) & _POLLIN)

    def _bad(self, routing: bytes, exc: ClientWireError) -> None:
        self.stats["bad_request"] += 1
        self.reply(routing, error_response(exc))

    def reply(self, routing: bytes, frame: bytes) -> bool:
        sock = self.socket
        if sock is None:
            return False
        self.replied = True
        try:  # two sends with plain int flags: send_multipart's enum arithmetic costs more than the sends
            sock.send(routing, _SNDMORE_NOBLOCK)
            sock.send(frame, _NOBLOCK)
        except zmq.ZMQError:  # Again (a full queue) or a client that is gone: its deadline covers it
            self.stats["reply_dropped"] += 1
            return False
        return True

    def readable_after_replies(self) -> bool:
        """After answers went out: are requests waiting? A send on the socket may consume the ZMQ_FD edge that
        announced new requests (libzmq processes its pending commands then), so the loop must ask ZMQ_EVENTS
        once after sending, or requests that arrived meanwhile would wait for an unrelated wake-up."""
        if not self.replied or self.socket is None:
            return False
        self.replied = False
        return bool(int(self.socket.getsockopt(zmq.EVENTS)) & zmq.POLLIN)

    def _answer(self, routing: bytes, request_id: int, status: str, index: int = 0, term: int = 0,
                message: str = "") -> None:
        leader, _, _, commit = self._info()
        self.stats[status] += 1
        self.reply(routing, encode_response(ClientResponse(
            request_id, status, leader or 0, index, term, commit,
            self._endpoint_of(leader) if leader else "", message)))

    def _serve_raw(self, routing: bytes, frame: bytes, now: float) -> None:
        try:
            req = decode_request(frame)
        except ClientWireError as exc:
            self._bad(routing, exc)
            return
        if req.op == "info":
            leader, last, term, commit = self._info()
            self.stats["info"] += 1
            self.reply(routing, encode_response(ClientResponse(
                req.request_id, "ok", leader or 0, last, term, commit,
                self._endpoint_of(leader) if leader else "")))
            return
        if req.op == "stats":
            leader, last, term, commit = self._info()
            self.stats["stats"] += 1
            text = json.dumps(self._counters(), separators=(",", ":"), sort_keys=True)
            self.reply(routing, encode_response(ClientResponse(req.request_id, "ok", leader or 0, last, term, commit,
                                                               message=text[:MAX_MESSAGE_BYTES])))
            return
        if self.n_waiting >= self.max_pending:
            self._answer(routing, req.request_id, "busy",
                         message=f"{self.n_waiting} proposals are waiting for their commit at this node")
            return
        prop = self._propose(req.data, now)
        if not prop.accepted:
            self._answer(routing, req.request_id, "not_leader",
                         message="this node is not the leader" + ("" if prop.leader else "; no leader is known"))
            return
        self.waiting.setdefault(prop.index, []).append(
            _Waiting(routing, req.request_id, prop.term, now + self.pending_timeout_s))
        self.n_waiting += 1
        self.next_expiry = min(self.next_expiry, now + self.pending_timeout_s)

    # ------------------------------------------------------------------ answers

    def committed(self, entries: Sequence[Entry]) -> None:
        """Entries the node now knows committed (durable, in log order): the KV store applies them (every node, in
        log order) and answers its clients; the raw proposals waiting there are answered."""
        if self.kv is not None:
            for to, answer in self.kv.apply(entries):
                self.reply(to, answer)
        if not self.n_waiting:
            return
        for e in entries:
            waiting = self.waiting.pop(e.index, None)
            if waiting is None:
                continue
            self.n_waiting -= len(waiting)
            if not self.n_waiting:
                self.next_expiry = float("inf")
            for w in waiting:
                if w.term == e.term:
                    self._answer(w.routing, w.request_id, "ok", e.index, e.term)
                else:
                    self._answer(w.routing, w.request_id, "dropped", e.index, w.term,
                                 f"another entry (term {e.term}) was committed at index {e.index}")

    def expire(self, now: float) -> None:
        """Answer `unknown` to proposals that waited past their deadline."""
        if now < self.next_expiry:
            return
        nxt = float("inf")
        for index in list(self.waiting):
            keep = []
            for w in self.waiting[index]:
                if w.deadline <= now:
                    self.n_waiting -= 1
                    self._answer(w.routing, w.request_id, "unknown", index, w.term,
                                 "the node stopped waiting for this entry's commit; it may still be committed")
                else:
                    keep.append(w)
                    nxt = min(nxt, w.deadline)
            if keep:
                self.waiting[index] = keep
            else:
                del self.waiting[index]
        self.next_expiry = nxt
