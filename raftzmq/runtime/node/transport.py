"""ZeroMQ transport of one node: a ROUTER to receive, one DEALER per peer to send. No threads, no blocking.

Why this shape (see STYLE.md, ZeroMQ notes):
- The ROUTER only receives and every answer goes out over the responder's own DEALER, so routing ids are never
  used for anything and are left unset. There is no ROUTER_HANDOVER, so a client that claims a member's routing
  id cannot take over that member's connection: it merely gets a connection of its own.
- What a frame *claims* (its `s` field) is checked by the codec only against the member set and against this
  node's own id. Without authentication a local process that connects and claims to be member 1 cannot be told
  apart from member 1, so unauthenticated endpoints are loopback/ipc only ("hostile" = another local process),
  or addresses inside network namespaces created for the run. With `curve` (runtime/node/curve.py) only members'
  keys complete a handshake, and a frame must claim the member whose key carried it.
- Sends never block: NOBLOCK, and zmq.Again (peer not connected or its small queue full) is a dropped message,
  which Raft tolerates by design.
- One message is one ZeroMQ frame (codec wire version 4; the ROUTER adds the routing id). Anything else is
  rejected as `multipart`. MAXMSGSIZE derives from the codec's MAX_FRAME_BYTES: frames up to REJECT_WINDOW_BYTES
  beyond it reach the codec and are counted (`too_large`); libzmq disconnects a sender of anything larger. Memory
  under a flood is bounded per connection by RCVHWM frames of at most MAXMSGSIZE each.

Disconnect hints (`watch_disconnects=True`): each DEALER gets libzmq's socket monitor, filtered to
ZMQ_EVENT_DISCONNECTED, so the owner learns within a millisecond that a peer's process died (the kernel closes its
sockets). Only an established connection that closes raises it: connect retries, a peer that is not up yet, our
own start and the DEALER's reconnects raise nothing. The monitor sockets are polled by the owner's loop like the
ROUTER; there is no thread.

Log records go through a LogLimiter so that a flood (garbage frames, a long partition, a dead peer) produces a
bounded number of records, each with a `count` of the occurrences it stands for.
"""
from __future__ import annotations

import errno
import re
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from typing import Any, cast

import zmq
from zmq.utils.monitor import recv_monitor_message

from raftzmq.protocol import MAX_FRAME_BYTES, Codec, Message, ProtocolError
from raftzmq.runtime.node.budget import ConnectionBudgets
from raftzmq.runtime.node.curve import CurveSettings, ZapHandler, make_client, make_server

__all__ = [
    "TransportError",
    "AddressInUseError",
    "LogLimiter",
    "Transport",
    "check_endpoint",
    "SNDHWM",
    "RCVHWM",
    "MAXMSGSIZE",
    "REJECT_WINDOW_BYTES",
    "RECV_BATCH",
    "LIMITED_RECORD_CAP",
]

SNDHWM = 16  # a few heartbeat intervals' worth per peer; older news is useless to Raft, drop instead of queue
RCVHWM = 1000  # bounds memory under a flood; zmq drops/pushes back beyond it, the codec drops the rest
REJECT_WINDOW_BYTES = 64 * 1024  # frames this far beyond the codec's limit still reach it: rejected and counted
MAXMSGSIZE = MAX_FRAME_BYTES + REJECT_WINDOW_BYTES  # beyond that libzmq disconnects the sender (per frame)
RECV_BATCH = 64  # frames handled per wake-up before the loop looks at timers again (a flood cannot starve ticks)
EAGER_EVENTS = 8  # frames of a wake read after asking ZMQ_EVENTS; the rest of a burst reads until zmq.Again
DROP_LOG_BUDGET = 1  # message_dropped records per (kind, reason) per window
REJECT_LOG_BUDGET = 5  # message_rejected records per window, all reasons together
LIMITED_RECORD_CAP = 2000  # rate-limited records per node incarnation; then only counts (see LogLimiter)

# Plain ints: pyzmq's enum members cost an enum construction per `&` on the hot path.
_EVENTS, _POLLIN, _POLLOUT, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.POLLOUT), int(zmq.NOBLOCK)
_RCVMORE = int(zmq.RCVMORE)

_MIXED_NULL = frozenset({"peer"})  # summary fields that become null when the occurrences differ in them

_ENDPOINT = re.compile(r"^(?:tcp://(?:127\.0\.0\.1|localhost|\[::1\]):(\d{1,5})|ipc://(/.+))$")
# Any host: an IPv4 literal, a DNS name, or a bracketed IPv6 literal (only for authenticated or namespaced runs).
_ANY_TCP = re.compile(r"^tcp://(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$")


class TransportError(Exception):
    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"{endpoint}: {reason}")
        self.endpoint, self.reason = endpoint, reason


class AddressInUseError(TransportError):
    pass


def check_endpoint(endpoint: str, remote_ok: bool = False) -> str:
    """Accept only loopback TCP (127.0.0.1, localhost, [::1]) with an explicit port, or an absolute ipc path:
    nodes accept unauthenticated messages, so nothing may listen beyond this machine. `remote_ok` (CURVE, or a
    network namespace of the run) also accepts tcp://HOST:PORT for any host."""
    if remote_ok and isinstance(endpoint, str):
        m = _ANY_TCP.match(endpoint)
        if m is not None and 1 <= int(m.group(1)) <= 65535:
            return endpoint
    m = _ENDPOINT.match(endpoint) if isinstance(endpoint, str) else None
    if m is None or (m.group(1) is not None and not 1 <= int(m.group(1)) <= 65535):
        raise TransportError(str(endpoint), "only tcp://127.0.0.1:PORT, tcp://[::1]:PORT, tcp://localhost:PORT "
                                            "or ipc:///absolute/path endpoints are allowed")
    return endpoint


class LogLimiter:
    """At most `budget` records per key per `window` seconds; the rest are counted, not written.

    Every record carries `count`: the occurrences it stands for (itself plus those suppressed since the key's
    previous record). `flush(now)` writes a summary record for keys whose window has ended with suppressed
    occurrences, so the sum of `count` over all records equals the number of occurrences once flushed. A summary
    carries the latest occurrence's fields, except `peer`, which is null when its occurrences involved several.
    After `cap` records in all, the limiter writes `log_cap_reached` once and from then on only counts: the
    totals come out at a clean stop (`flush_all`), so a flood of any length costs a bounded log.
    `log(event, **fields)` does the writing (the node adds the term).
    """

    def __init__(self, log: Callable[..., Any], clock: Callable[[], float] = time.monotonic,
                 window: float = 1.0, cap: int = LIMITED_RECORD_CAP) -> None:
        self.log, self.clock, self.window, self.cap = log, clock, window, cap
        self.written = 0
        self._due = float("inf")  # no summary can be due before this
        # key -> [window_start, records_in_window, suppressed, event, fields of the suppressed]
        self._keys: dict[Hashable, list[Any]] = {}

    def emit(self, event: str, key: Hashable, budget: int, **fields: Any) -> bool:
        """Record one occurrence; returns True if a record was written now."""
        now = self.clock()
        st = self._keys.get(key)
        if st is None:
            st = self._keys[key] = [now, 0, 0, event, fields]
        elif now - st[0] >= self.window:
            st[0], st[1] = now, 0
        if st[1] < budget and self.written < self.cap:
            st[1] += 1
            count, st[2] = st[2] + 1, 0
            self._write(event, fields, count)
            return True
        if st[2] == 0:
            st[3], st[4] = event, dict(fields)
        elif st[4] != fields:  # the latest value, except a peer that differs: null (the schema allows it)
            st[4] = {k: (None if k in _MIXED_NULL and st[4].get(k) != v else v) for k, v in fields.items()}
        st[2] += 1
        self._due = min(self._due, st[0] + self.window)
        return False

    def _write(self, event: str, fields: dict[str, Any], count: int) -> None:
        self.written += 1
        self.log(event, **fields, count=count)
        if self.written == self.cap:
            self.log("log_cap_reached", cap=self.cap)

    def flush(self, now: float | None = None) -> int:
        """Write summaries for windows that ended with suppressed occurrences. Returns records written."""
        now = self.clock() if now is None else now
        if now < self._due or self.written >= self.cap:
            return 0
        written, self._due = 0, float("inf")
        for st in self._keys.values():
            if not st[2]:
                continue
            if now - st[0] < self.window:
                self._due = min(self._due, st[0] + self.window)
                continue
            count, st[2] = st[2], 0
            st[0], st[1] = now, 1
            self._write(st[3], st[4], count)
            written += 1
            if self.written >= self.cap:
                break
        return written

    def flush_all(self) -> int:
        """Write every pending summary regardless of windows and of the cap (at shutdown)."""
        written = 0
        for st in self._keys.values():
            if st[2]:
                count, st[2] = st[2], 0
                self.written += 1
                self.log(st[3], **st[4], count=count)
                written += 1
        return written

    @property
    def pending(self) -> int:
        return sum(st[2] for st in self._keys.values())


class Transport:
    """Sockets of node `node_id`. Call `open()` (binds, connects), then `send()` / `receive()`; `close()`.

    `router` is the socket to register in the caller's zmq.Poller (POLLIN). All methods are non-blocking.
    """

    def __init__(
        self,
        ctx: zmq.Context,
        node_id: int,
        endpoints: Mapping[int, str],
        codec: Codec,
        limiter: LogLimiter,
        *,
        reconnect_ms: int = 100,
        sndhwm: int = SNDHWM,
        rcvhwm: int = RCVHWM,
        maxmsgsize: int = MAXMSGSIZE,
        recv_batch: int = RECV_BATCH,
        curve: CurveSettings | None = None,
        remote_ok: bool = False,
        watch_disconnects: bool = False,
        budgets: ConnectionBudgets | None = None,
    ) -> None:
        if node_id not in endpoints:
            raise ValueError(f"no endpoint for node {node_id}")
        if reconnect_ms < 1:
            raise ValueError("reconnect_ms must be >= 1")
        self.ctx, self.node_id, self.codec, self.limiter = ctx, node_id, codec, limiter
        if curve is not None and set(curve.public_keys) != set(endpoints):
            raise ValueError("curve: need exactly one public key per member")
        self.curve = curve
        self.endpoints = {int(k): check_endpoint(v, remote_ok or curve is not None) for k, v in endpoints.items()}
        self.endpoint = self.endpoints[node_id]
        self.reconnect_ms, self.sndhwm, self.rcvhwm = reconnect_ms, sndhwm, rcvhwm
        self.maxmsgsize, self.recv_batch = maxmsgsize, recv_batch
        self.router: zmq.Socket | None = None
        self.zap: ZapHandler | None = None  # CURVE only: register zap.socket in the poller, call zap.handle()
        self.dealers: dict[int, zmq.Socket] = {}
        self.watch_disconnects = watch_disconnects
        self.monitors: dict[zmq.Socket, int] = {}  # monitor socket -> the peer whose DEALER it watches
        self.inbound: zmq.Socket | None = None  # the ROUTER's handshake monitor while a start connects
        self.inbound_count = 0
        self.stats: Counter[str] = Counter()  # sent, received, dropped_queue_full, rejected, rejected:<reason>
        self.sent_by_kind: Counter[str] = Counter()  # messages handed to zmq, per kind (benchmarks' budgets)
        self.more = False  # receive() stopped at recv_batch with frames still waiting
        # Per-connection frame and byte budgets (budget.py); frames beyond them are dropped undecoded, counted,
        # and summarised once a second in `frames_throttled`.
        self.budgets = budgets if budgets is not None else ConnectionBudgets()
        self.hostile_only = False  # the last batch had hostile frames (rejected or over budget) and nothing else
        self.clock: Callable[[], float] = time.monotonic  # the budgets' clock (tests replace it)

    # ------------------------------------------------------------------ lifecycle

    def open(self, connect: bool = True) -> None:
        """Bind the ROUTER and (unless told not to yet) connect the DEALERs. AddressInUseError / TransportError
        name the endpoint."""
        if self.curve is not None:
            self.zap = ZapHandler(self.ctx, self.curve.public_keys, self._auth_rejected)
            self.zap.open()  # before the CURVE server binds: no handshake may happen without it
        router = self.ctx.socket(zmq.ROUTER)
        if self.curve is not None:
            make_server(router, self.curve.keypair)
        router.setsockopt(zmq.LINGER, 0)  # never wait for anything on close; the ROUTER sends nothing anyway
        router.setsockopt(zmq.RCVHWM, self.rcvhwm)  # bounded receive queue: a flood costs memory only up to this
        router.setsockopt(zmq.MAXMSGSIZE, self.maxmsgsize)  # zmq disconnects a peer sending frames beyond this
        if self.endpoint.startswith("tcp://["):
            router.setsockopt(zmq.IPV6, 1)  # [::1] needs IPv6 enabled on the socket
        try:
            router.bind(self.endpoint)
        except zmq.ZMQError as exc:
            router.close(linger=0)
            if exc.errno == errno.EADDRINUSE:
                raise AddressInUseError(self.endpoint, "address already in use") from None
            raise TransportError(self.endpoint, f"cannot bind: {exc}") from None
        self.router = router
        if connect:
            self.connect_peers()

    def connect_peers(self, only: int | None = None) -> bool:
        """One DEALER per peer (once each), or only to peer `only` for now. A node of a cluster's start connects
        only when every node is up (the start-up barrier, runtime/node/startup.py): 100 nodes that each retry every
        reconnect interval to peers not yet started cost the machine tens of thousands of refused connects a
        second, and slow the start itself. True if any DEALER was created now."""
        created = False
        for peer, ep in sorted(self.endpoints.items()):
            if peer == self.node_id or peer in self.dealers or (only is not None and peer != only):
                continue
            created = True
            d = self.ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.LINGER, 0)  # close() must not hang on a dead peer
            d.setsockopt(zmq.IMMEDIATE, 1)  # queue only on live connections: no stale votes to a restarted peer
            d.setsockopt(zmq.SNDHWM, self.sndhwm)  # small: when a peer is slow, drop new messages, don't buffer
            d.setsockopt(zmq.RCVHWM, 1)  # nothing is ever sent back over this connection
            d.setsockopt(zmq.MAXMSGSIZE, self.maxmsgsize)  # ... and nothing large may arrive on it either
            d.setsockopt(zmq.RECONNECT_IVL, self.reconnect_ms)  # well under the election timeout: a restarted
            # peer is reachable again before anyone gives up on it
            d.setsockopt(zmq.RECONNECT_IVL_MAX, self.reconnect_ms)  # no exponential backoff: a long-dead peer
            # that comes back must not wait seconds (one loopback connect attempt per interval is cheap)
            if ep.startswith("tcp://["):
                d.setsockopt(zmq.IPV6, 1)
            if self.curve is not None:
                make_client(d, self.curve.keypair, self.curve.public_keys[peer])
            if self.watch_disconnects:  # before connect: no close of this connection goes unseen
                self.monitors[d.get_monitor_socket(zmq.EVENT_DISCONNECTED)] = peer
            d.connect(ep)
            self.dealers[peer] = d
        return created

    # ------------------------------------------------------------------ start-up: are the connections up?

    def watch_inbound(self) -> None:
        """Count the connections peers complete to our ROUTER (libzmq's monitor, handshakes only), for the
        first node of a start, which campaigns once every peer can answer it (runtime/node/startup.py). Call
        before the peers connect. A hostile local process that connects counts too: that only makes the first
        campaign start early, as it did before this existed."""
        assert self.router is not None, "open() first"
        self.inbound = self.router.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        self.inbound_count = 0

    def inbound_handshakes(self) -> int:
        """Handshakes completed on the ROUTER so far (reads the monitor; never blocks)."""
        while self.inbound is not None:
            try:
                frames = self.inbound.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames) == 2 and len(frames[0]) == 6 and int.from_bytes(frames[0][:2], "little") \
                    == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.inbound_count += 1
        return self.inbound_count

    def stop_inbound(self) -> None:
        if self.inbound is not None and self.router is not None:
            self.router.disable_monitor()
            self.inbound.close(linger=0)
        self.inbound = None

    def all_writable(self) -> bool:
        """Every peer's DEALER has a completed connection (with IMMEDIATE=1 a DEALER is writable only then)."""
        return len(self.dealers) == len(self.endpoints) - 1 and all(
            int(d.getsockopt(_EVENTS)) & _POLLOUT for d in self.dealers.values())

    def writable_count(self) -> int:
        return sum(1 for d in self.dealers.values() if int(d.getsockopt(_EVENTS)) & _POLLOUT)

    def close(self, linger_ms: int = 0) -> None:
        """Close all sockets. linger_ms > 0 gives queued sends that long to leave (only the after_send
        failpoint wants that); the default drops them."""
        self.stop_inbound()
        for mon in self.monitors:
            mon.close(linger=0)  # before the DEALERs (and the context): nothing waits on a monitor
        self.monitors.clear()
        for d in self.dealers.values():
            d.close(linger=linger_ms)
        self.dealers.clear()
        if self.router is not None:
            self.router.close(linger=0)
            self.router = None
        if self.zap is not None:
            self.zap.close()
            self.zap = None

    # ------------------------------------------------------------------ sending

    def send(self, msg: Message) -> bool:
        """Encode and send without blocking. False (and a rate-limited message_dropped) if it could not."""
        sock = self.dealers.get(msg.dst)
        if sock is None:
            if msg.dst == self.node_id or msg.dst not in self.endpoints:
                raise ValueError(f"node {msg.dst} is not a peer of node {self.node_id}")
            self.log_drop(msg.dst, msg.kind, "not_connected")  # before connect_peers(): gone, as Raft allows
            return False
        try:
            sock.send(self.codec.encode_cached(msg), _NOBLOCK)
        except zmq.Again:
            # With IMMEDIATE=1 this covers both "not connected" and "queue full"; either way the message is gone.
            self.stats["dropped_queue_full"] += 1
            self.log_drop(msg.dst, msg.kind, "queue_full")
            return False
        self.stats["sent"] += 1
        self.sent_by_kind[msg.kind] += 1
        return True

    def log_drop(self, peer: int | None, kind: str, reason: str) -> None:
        """Rate-limited message_dropped (also used by the node for netem drops)."""
        # Keyed without the peer: a leader cut off from 100 peers writes one record per kind and reason per
        # window (peer null when it stands for several), not one per peer.
        self.limiter.emit("message_dropped", ("message_dropped", kind, reason), DROP_LOG_BUDGET,
                          peer=peer, kind=kind, reason=reason)

    # ------------------------------------------------------------------ disconnects

    def disconnects(self, monitor: zmq.Socket) -> list[tuple[int, str]]:
        """(peer, endpoint) for each close `monitor` reported since the last call; never blocks."""
        peer, out = self.monitors[monitor], list[tuple[int, str]]()
        while True:
            try:
                event = recv_monitor_message(monitor, zmq.NOBLOCK)
            except zmq.Again:
                return out
            if event["event"] == zmq.EVENT_DISCONNECTED:  # the filter lets nothing else through; be sure
                out.append((peer, bytes(event["endpoint"]).decode("utf-8", "replace")))

    # ------------------------------------------------------------------ receiving

    def receive(self) -> list[Message]:
        """Read up to `recv_batch` waiting frames; return the valid messages, reject (count, log) the rest.

        Reads until the socket is found empty (which leaves the ROUTER's ZMQ_FD armed for the next arrival) or
        `recv_batch` frames; with `more` True (the batch filled and ZMQ_EVENTS shows more) the caller must call
        again without sleeping.

        How "empty" is found depends on how much came: an idle node's wake brings no frame or one (a heartbeat,
        an answer), and asking ZMQ_EVENTS costs less than the zmq.Again exception that a read of an empty socket
        raises from pyzmq's Cython layer (about 12 us more per wake on this machine: docs/benchmarks.md, "Idle CPU").
        From the EAGER_EVENTS-th frame on, the wake is a burst (a flood, a leader's answers), and the batch reads
        on without a ZMQ_EVENTS per frame: one zmq.Again then ends it."""
        router = self.router
        assert router is not None, "open() first"
        out: list[Message] = []
        self.more = self.hostile_only = False
        admit, now, throttled = self.budgets.admit, self.clock(), 0
        stats = self.stats
        rejected0 = stats["rejected"]
        for n in range(self.recv_batch):
            if n < EAGER_EVENTS and not cast(int, router.get(_EVENTS)) & _POLLIN:
                break
            try:
                parts, user_id = self._read()
            except zmq.Again:
                break
            # parts[0] is the routing id zmq assigned to the connection: it says nothing about who sent it, but
            # it is one connection, and that is what the budget is per.
            if not admit(parts[0], len(parts[-1]), now):
                throttled += 1
                continue
            if len(parts) != 2:
                self._reject("multipart", sum(len(p) for p in parts[1:]))
                continue
            frame = parts[1]
            try:
                msg = self.codec.decode(frame)
            except ProtocolError as exc:
                self._reject(exc.reason, len(frame))
                continue
            if self.curve is not None and user_id != str(msg.src):
                # A member's key, but a frame claiming another member: impersonation by an insider.
                self._reject("sender_mismatch", len(frame))
                continue
            stats["received"] += 1
            out.append(msg)
        else:  # the batch filled: more may wait (and ZMQ_EVENTS re-arms ZMQ_FD)
            self.more = self._readable(router)
        if throttled:
            self.flush_budgets(now)
        if throttled or stats["rejected"] > rejected0:
            self.hostile_only = not out
        return out

    def flush_budgets(self, now: float, force: bool = False) -> None:
        """Write the `frames_throttled` summary once its window is over (at most one record a second)."""
        budgets = self.budgets
        if budgets.excess_frames:
            summary = budgets.summary(now, force)
            if summary is not None:
                self.stats["throttled"] += summary["frames"]
                self.limiter.log("frames_throttled", **summary)

    @staticmethod
    def _readable(sock: zmq.Socket) -> bool:
        # ZMQ_EVENTS also processes the socket's pending commands, which re-arms its ZMQ_FD edge.
        return bool(cast(int, sock.get(_EVENTS)) & _POLLIN)

    def _read(self) -> tuple[list[bytes], str | None]:
        """One waiting message (zmq.Again if none) and, with CURVE, the member id (ZAP User-Id) that its
        connection authenticated as."""
        assert self.router is not None, "open() first"
        if self.curve is None:
            # recv_multipart builds pyzmq enum members per part (~4 per message, a quarter of a rejected frame's
            # cost); the Cython-level recv/get with plain ints do not.
            router = self.router
            parts = [router.recv(_NOBLOCK)]
            while router.get(_RCVMORE):
                parts.append(router.recv(_NOBLOCK))
            return parts, None
        frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
        user_id = frames[-1].get("User-Id")
        return [f.bytes for f in frames], user_id if isinstance(user_id, str) else None

    def _auth_rejected(self, reason: str, address: str, key: str) -> None:
        self.stats["auth_rejected"] += 1
        self.limiter.emit("auth_rejected", ("auth_rejected",), REJECT_LOG_BUDGET, reason=reason,
                          address=address, public_key=key)

    def _reject(self, reason: str, size: int) -> None:
        self.stats["rejected"] += 1
        self.stats[f"rejected:{reason}"] += 1
        self.limiter.emit("message_rejected", ("message_rejected",), REJECT_LOG_BUDGET, reason=reason, size=size)
