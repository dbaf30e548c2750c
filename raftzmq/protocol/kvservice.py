"""The node side of the KV client endpoint, pure: request frames in, proposals and response frames out.

The node process owns the ROUTER socket, the core and the clock; it hands this what arrives and what commits:

    svc = KVService(KVStore(), client_endpoints)              # {node id: client endpoint} from cluster.json
    replies = svc.handle(routing_id, frames, now_ns, propose)  # propose(data) -> core Proposal (accepted, index,
                                                               #   term, leader); the node runs the Output
    ready, replies = svc.prepare(routing_id, frames, now_ns)   # or in two halves: decode now, and propose the
    replies += svc.settle(ready, proposal)                     #   writes of a batch together (ready: ToPropose)
    replies += svc.apply(ready.committed)                      # every node, in log order, after they are durable
    replies += svc.step_down()                                 # this node stopped leading
    for routing_id, frame in replies: router.send_multipart([routing_id, frame])

- A request that does not decode gets `bad_request` and nothing is proposed.
- A write (and register) becomes an entry: the request's own bytes (kvwire.entry_data), stamped with `now_ns` -
  the proposing leader's clock, use wall-clock
  ns (`time.time_ns()`) so that log time moves on across leaders; kvstore takes the max over the log, so a
  leader whose clock is behind only delays expiry - and is proposed; refused -> `not_leader` naming the leader
  and its client endpoint when known. Accepted at (index, term): answered when that index is applied, with the
  store's result if the entry there has that term, else `retry` (a new leader's entry took the slot; the client
  resends the same (session, seq), which the store applies at most once). The store applies the command this
  node decoded when it proposed the entry, if the entry committed there is that one (same bytes).
- A get goes through the log with `reads="log"` (linearizable, one entry per read). With `reads="index"` (what
  the node runs by default) and a `read_index(ctx)` callable, the get is handed to the core's ReadIndex
  (`core.read_index(ctx, now)`, docs/core-contract.md) and its answer comes back through `read_states(states)`
  (the Ready's `reads`; during `handle` or any time later): a read index -> the read waits in `PendingReads`
  until the applied index reaches it and is answered from the store without an entry; refused -> `not_leader`
  naming the leader, or `retry` when this node leads but has no entry of its term committed yet (the client
  resends in a moment). The core decides how leadership is confirmed (a heartbeat round, or its lease).
- `reads="stale"` is a mutant, deliberately unsafe: every node answers a get at once from its own store, as a
  store that spreads reads over its replicas would. A follower's store lags the leader's (it learns the commit
  index with the next AppendEntries), so a get there can miss an acknowledged write: `raftzmq check --history`
  rejects such a history (tests/test_reads_live.py).
- `step_down()` answers what waits on this node: proposals `retry` (they may still commit: the session makes the
  client's resend safe), reads `not_leader` (those waiting for the core's answer too).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from .kvstore import Command, CommandError, KVStore, PendingReads
from .kvwire import Response, WireError, decode_frames, encode_response, entry_data, serve_error
from .messages import Entry
from .ready import ReadState

__all__ = ["ProposalLike", "KVService", "ToPropose", "READ_MODES"]

READ_MODES = ("log", "index", "stale")  # "stale": the mutant store, deliberately unsafe (below)
Reply = tuple[bytes, bytes]  # (routing id, response frame)


class ProposalLike(Protocol):
    @property
    def accepted(self) -> bool: ...
    @property
    def index(self) -> int: ...
    @property
    def term(self) -> int: ...
    @property
    def leader(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ToPropose:
    """A decoded request whose command is to be proposed: its entry data, and the command that data decodes to
    (stamped), which the store then applies without decoding the entry again if this node's proposal is the
    entry committed at its index."""

    routing: bytes
    request_id: int
    data: bytes
    command: Command


class KVService:
    def __init__(self, store: KVStore, endpoints: Mapping[int, str] | None = None, reads: str = "log",
                 node_id: int | None = None) -> None:
        if reads not in READ_MODES:
            raise ValueError(f"reads is one of {', '.join(READ_MODES)}, got {reads!r}")
        self.store = store
        self.endpoints = dict(endpoints or {})
        self.reads = reads
        self.waiting: dict[int, tuple[int, bytes, int]] = {}  # index -> (term, routing id, request id)
        self.pending_reads = PendingReads()
        self.node_id = node_id  # a refusal naming this node: it leads but cannot serve reads yet (retry)
        self.reading: dict[int, tuple[bytes, int, str]] = {}  # ctx -> (routing id, request id, key): at the core
        self._ctx = 0
        self._buffer: list[Reply] | None = None  # read_states' replies while handle() runs: handle returns them
        self._commands: dict[int, tuple[bytes, Command]] = {}  # index -> (data, its command) of our proposals
        self.stats = {"requests": 0, "bad": 0, "proposed": 0, "refused": 0, "answered": 0, "retried": 0}

    def _reply(self, routing: bytes, resp: Response) -> Reply:
        return routing, encode_response(resp)

    def not_leader(self, routing: bytes, request_id: int, leader: int | None) -> Reply:
        self.stats["refused"] += 1
        known = leader or 0
        return self._reply(routing, Response(request_id, "not_leader", None, "not the leader", known,
                                             self.endpoints.get(known, "")))

    def handle(self, routing: bytes, frames: list[bytes], now_ns: int, propose: Callable[[bytes], ProposalLike],
               read_index: Callable[[int], object] | None = None, leader: int | None = None) -> list[Reply]:
        """One request from `routing`. `read_index(ctx)` hands a get to the core's ReadIndex (reads="index"); its
        answer comes through `read_states`. `leader` (the leader this node knows) names the leader when a read
        is refused here; a refused proposal names the leader itself. (`prepare`, then `settle` with its
        proposal.)"""
        ready, out = self.prepare(routing, frames, now_ns, read_index, leader)
        if ready is not None:
            out += self.settle(ready, propose(ready.data))
        return out

    def prepare(self, routing: bytes, frames: list[bytes], now_ns: int,
                read_index: Callable[[int], object] | None = None,
                leader: int | None = None) -> tuple[ToPropose | None, list[Reply]]:
        """The first half of `handle`: decode the request; a command to propose comes back as a ToPropose (its
        entry data), to be proposed (alone, or with the others of a batch) and `settle`d with the proposal;
        anything else (a bad request, a read) is answered or handed to the core's ReadIndex here."""
        self.stats["requests"] += 1
        try:
            req = decode_frames(frames)
        except WireError as exc:
            self.stats["bad"] += 1
            return None, [(routing, serve_error(exc))]
        c = req.command
        if c.op == "get" and self.reads == "stale":  # the mutant: this node's store, whatever its role
            self.stats["answered"] += 1
            return None, [self._reply(routing, Response(req.request_id, "ok", self.store.read(c.key)))]
        if c.op == "get" and self.reads == "index" and read_index is not None:
            ctx = self._ctx = self._ctx + 1
            self.reading[ctx] = (routing, req.request_id, c.key)
            self._buffer = []
            try:
                read_index(ctx)
            finally:
                answered, self._buffer = self._buffer, None
            return None, answered
        stamp = max(0, int(now_ns))
        try:
            data = entry_data(frames[0], stamp)  # the request's own bytes, stamped: no re-encoding
        except (CommandError, WireError) as exc:  # cannot happen for a decoded request; answered, never proposed
            self.stats["bad"] += 1
            return None, [(routing, serve_error(exc))]
        return ToPropose(routing, req.request_id, data,
                         Command(c.op, c.key, c.value, c.new, c.client, c.seq, stamp)), []

    def settle(self, ready: ToPropose, p: ProposalLike) -> list[Reply]:
        """The second half of `handle`: what the core said of `ready`'s proposal. Refused: `not_leader`;
        accepted at (index, term): answered once that index is applied (`apply`)."""
        if not p.accepted:
            return [self.not_leader(ready.routing, ready.request_id, p.leader)]
        self.stats["proposed"] += 1
        old = self.waiting.pop(p.index, None)
        out: list[Reply] = []
        if old is not None:  # a slot reused (a new term of ours): the earlier proposal lost it
            out.append(self._retry(old[1], old[2]))
        self.waiting[p.index] = (p.term, ready.routing, ready.request_id)
        self._commands[p.index] = (ready.data, ready.command)
        return out

    def read_states(self, states: Iterable[ReadState]) -> list[Reply]:
        """The core's answers to `read_index` (the Ready's `reads`): the replies they allow now (none while
        `handle` runs: it returns them). Unknown contexts (answered already, or dropped by step_down) are ignored."""
        out: list[Reply] = []
        for st in states:
            token = self.reading.pop(st.ctx, None)
            if token is None:
                continue
            routing, rid, _ = token
            if st.index is not None:
                self.pending_reads.add(st.index, token)
            elif st.leader is not None and st.leader == self.node_id:
                self.stats["retried"] += 1
                out.append(self._reply(routing, Response(rid, "retry", None, "the leader has not committed an "
                                                         "entry of its term yet; resend")))
            else:
                out.append(self.not_leader(routing, rid, st.leader))
        out += self._reads_ready()
        if self._buffer is not None:
            self._buffer += out
            return []
        return out

    def _retry(self, routing: bytes, request_id: int) -> Reply:
        self.stats["retried"] += 1
        return self._reply(routing, Response(request_id, "retry", None, "the proposal lost its log slot; resend"))

    def apply(self, entries: Iterable[Entry]) -> list[Reply]:
        """Apply committed entries in log order; the answers to the proposals and reads they complete."""
        out: list[Reply] = []
        commands = self._commands
        for e in entries:
            known = commands.pop(e.index, None) if commands else None
            # The command this node decoded when it proposed the entry, if the entry there is that one (its
            # bytes): the store need not decode it again. Any other entry is decoded from its bytes.
            result = self.store.apply(e.index, e.data, known[1] if known is not None and known[0] == e.data else None)
            w = self.waiting.pop(e.index, None)
            if w is None:
                continue
            term, routing, rid = w
            if term != e.term or result is None:
                out.append(self._retry(routing, rid))
            else:
                self.stats["answered"] += 1
                out.append(self._reply(routing, Response(rid, result.status, result.value, result.message)))
        return out + self._reads_ready()

    def _reads_ready(self) -> list[Reply]:
        out: list[Reply] = []
        for token in self.pending_reads.ready(self.store.applied_index):
            routing, rid, key = token
            self.stats["answered"] += 1
            out.append(self._reply(routing, Response(rid, "ok", self.store.read(key))))
        return out

    def step_down(self, leader: int | None = None) -> list[Reply]:
        out = [self._retry(routing, rid) for _, routing, rid in self.waiting.values()]
        self.waiting.clear()
        self._commands.clear()
        out += [self.not_leader(t[0], t[1], leader) for t in self.pending_reads.drop_all()]
        out += [self.not_leader(t[0], t[1], leader) for t in self.reading.values()]
        self.reading.clear()
        return out
