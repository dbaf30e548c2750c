"""Transport (real ZeroMQ sockets, in this process), netem, the log limiter and the failpoint spec."""
from __future__ import annotations

import random
import struct
import time

import pytest
import zmq

from proc_helpers import free_tcp_ports, wait_until
from raftzmq.protocol import MAX_FRAME_BYTES, AppendEntries, Codec, Entry, VoteResponse
from raftzmq.runtime.node import netem as netem_mod
from raftzmq.runtime.node.failpoints import FailpointError, Failpoints, FailpointSpec, parse
from raftzmq.runtime.node.netem import DELAYED, DROP, SEND, NetEm, NetModelError
from raftzmq.runtime.node.transport import (
    MAXMSGSIZE,
    REJECT_LOG_BUDGET,
    AddressInUseError,
    LogLimiter,
    Transport,
    TransportError,
    check_endpoint,
)

MEMBERS = (1, 2, 3)


class FakeClock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def with_src(frame: bytes, src: int) -> bytes:
    """A v4 frame claiming another sender (the header is version u8, kind u8, term u64, src u32, dst u32)."""
    return frame[:10] + struct.pack(">I", src) + frame[14:]


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


@pytest.fixture
def endpoints():
    return {i: f"tcp://127.0.0.1:{p}" for i, p in zip(MEMBERS, free_tcp_ports(3))}


def make(ctx, node_id, endpoints, records=None, clock=time.monotonic):
    records = [] if records is None else records
    limiter = LogLimiter(lambda event, **f: records.append({"event": event, **f}), clock)
    t = Transport(ctx, node_id, endpoints, Codec(MEMBERS, node_id), limiter, reconnect_ms=10)
    t.open()
    return t, records


def hostile(ctx, endpoint, routing_id=None):
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    if routing_id is not None:
        s.setsockopt(zmq.ROUTING_ID, routing_id)
    s.connect(endpoint)
    return s


def receive_until(t, pred, what, timeout=3.0, resend=None):
    got = []

    def check():
        if resend is not None:
            resend()
        got.extend(t.receive())
        return pred(got)

    wait_until(check, timeout, what, diagnostics=lambda: f"got {got}, stats {dict(t.stats)}")
    return got


# ---------------------------------------------------------------------------------------------- transport


def test_two_transports_exchange_messages(ctx, endpoints):
    t1, _ = make(ctx, 1, endpoints)
    t2, _ = make(ctx, 2, endpoints)
    hb = AppendEntries(3, 1, 2)
    # IMMEDIATE=1: sends before the connection completes are dropped, so keep sending until one arrives.
    got = receive_until(t2, lambda g: hb in g, "heartbeat 1->2", resend=lambda: t1.send(hb))
    assert set(got) == {hb}
    reply = VoteResponse(3, 2, 1, granted=True, prevote=False)
    receive_until(t1, lambda g: reply in g, "reply 2->1 over node 2's own DEALER", resend=lambda: t2.send(reply))
    assert t2.stats["received"] >= 1 and t1.stats["sent"] >= 1
    t1.close()
    t2.close()


@pytest.mark.parametrize("batch", [2, 64])
def test_reading_as_the_loop_does_gets_every_frame_of_a_burst_the_fd_edge_never_lost(ctx, endpoints, batch):
    """receive() reads the first EAGER_EVENTS frames of a wake after asking ZMQ_EVENTS and the rest until
    zmq.Again. Driven as the node's loop drives it (read; sleep on the ROUTER's edge-triggered ZMQ_FD unless `more`
    says frames wait), a burst of 3 x EAGER_EVENTS frames all arrive: a read that stopped early without `more`
    would leave the edge unarmed and the poll below would time out with frames unread."""
    import select

    from raftzmq.runtime.node import transport as transport_mod

    t1 = Transport(ctx, 1, endpoints, Codec(MEMBERS, 1), LogLimiter(lambda e, **f: None), reconnect_ms=10,
                   sndhwm=1000)  # the whole burst fits in the sender's queue
    t1.open()
    t2, _ = make(ctx, 2, endpoints)
    hb = AppendEntries(3, 1, 2)
    receive_until(t2, lambda g: hb in g, "the connection", resend=lambda: t1.send(hb))
    t2.recv_batch = batch
    ep = select.epoll()
    ep.register(t2.router.getsockopt(zmq.FD), select.EPOLLIN)
    try:
        t2.receive()  # late resends of the connection's heartbeat, if any
        got: list = []
        burst = [AppendEntries(3, 1, 2, prev_index=i, prev_term=3) for i in range(1, 3 * transport_mod.EAGER_EVENTS + 1)]
        for m in burst:
            assert t1.send(m)
        deadline = time.monotonic() + 5
        while len(got) < len(burst) and time.monotonic() < deadline:
            if not t2.more:
                assert ep.poll(3.0), f"ZMQ_FD did not signal again with {len(burst) - len(got)} frames unread"
            got += [m for m in t2.receive() if m.prev_index]
        assert [m.prev_index for m in got] == [m.prev_index for m in burst]
    finally:
        ep.close()
        t1.close()
        t2.close()


def test_send_to_dead_peer_drops_without_blocking(ctx, endpoints):
    t1, records = make(ctx, 1, endpoints)  # nobody listens on 2's or 3's endpoint
    start = time.monotonic()
    results = [t1.send(AppendEntries(1, 1, 2)) for _ in range(500)]
    elapsed = time.monotonic() - start
    assert not any(results)
    assert elapsed < 1.0, f"500 non-blocking sends took {elapsed:.2f}s"
    assert t1.stats["dropped_queue_full"] == 500
    drops = [r for r in records if r["event"] == "message_dropped"]
    assert len(drops) == 1, "repeated drops to one peer are rate-limited to one record per second"
    assert drops[0] == {"event": "message_dropped", "peer": 2, "kind": "append_entries", "reason": "queue_full",
                        "count": 1}
    t1.close()


def test_bind_address_in_use_names_endpoint(ctx, endpoints):
    t2, _ = make(ctx, 2, endpoints)
    with pytest.raises(AddressInUseError) as info:
        make(ctx, 2, endpoints)
    assert endpoints[2] in str(info.value)
    t2.close()


@pytest.mark.parametrize("ep", ["tcp://0.0.0.0:5000", "tcp://10.0.0.1:5000", "tcp://127.0.0.1:*",
                                "tcp://127.0.0.1:70000", "ipc://relative", "inproc://x", "tcp://*:5000"])
def test_only_loopback_or_ipc_endpoints(ep):
    with pytest.raises(TransportError):
        check_endpoint(ep)


def test_loopback_and_ipc_endpoints_accepted():
    for ep in ("tcp://127.0.0.1:5000", "tcp://[::1]:5000", "tcp://localhost:1", "ipc:///tmp/x.sock"):
        assert check_endpoint(ep) == ep


def test_malformed_oversize_and_spoofed_frames_are_rejected_and_counted(ctx, endpoints):
    t2, records = make(ctx, 2, endpoints)
    h = hostile(ctx, endpoints[2])
    good = Codec.encode(AppendEntries(5, 3, 2))
    bad_frames = {
        "bad_version": b"\xff garbage",
        "too_large": b"x" * (MAX_FRAME_BYTES + 1),  # above the codec's limit, below MAXMSGSIZE: reaches the codec
        "spoofed_source": with_src(good, 2),  # claims to be us
        "unknown_source": with_src(good, 9),  # not a member
        "wrong_destination": Codec.encode(AppendEntries(5, 3, 1)),
        "truncated": good[:-1],
        "bad_entries": Codec.encode(AppendEntries(5, 3, 2, entries=(Entry(1, 5),)))[:-20]
        + struct.pack(">QQI", 2, 5, 0),  # entry index 2 after prev_index 0
    }

    def send_all():
        for frame in bad_frames.values():
            h.send(frame)
        h.send_multipart([b"a", b"b"])  # ROUTER delivers [id, a, b]: payloads are single frames
        h.send(good)

    got = receive_until(t2, lambda g: AppendEntries(5, 3, 2) in g, "the good frame", resend=send_all)
    assert set(got) == {AppendEntries(5, 3, 2)}, "nothing invalid reaches the caller"
    rounds = t2.stats["received"]
    for reason in [*bad_frames, "multipart"]:
        assert t2.stats[f"rejected:{reason}"] >= rounds, reason
    rejected = [r for r in records if r["event"] == "message_rejected"]
    assert 1 <= len(rejected) <= REJECT_LOG_BUDGET
    assert {r["reason"] for r in rejected} <= set(bad_frames) | {"multipart"}
    sizes = {reason: len(frame) for reason, frame in bad_frames.items()} | {"multipart": 2}  # b"a" + b"b"
    assert all(r["size"] == sizes[r["reason"]] for r in rejected), rejected
    h.close()
    t2.close()


def test_a_batch_and_a_frame_of_the_full_limit_cross_the_transport(ctx, endpoints):
    """The transport's limit derives from the codec's: the largest valid AppendEntries (exactly MAX_FRAME_BYTES)
    arrives whole, as one frame, next to a batch of 100 x 1 KB entries."""
    from raftzmq.protocol.messages import APPEND_ENTRIES_FIXED_BYTES, ENTRY_WIRE_BYTES, MAX_ENTRY_DATA_BYTES

    assert MAX_FRAME_BYTES < MAXMSGSIZE
    t1, _ = make(ctx, 1, endpoints)
    t2, _ = make(ctx, 2, endpoints)
    n = 16
    last = MAX_FRAME_BYTES - APPEND_ENTRIES_FIXED_BYTES - n * ENTRY_WIRE_BYTES - (n - 1) * MAX_ENTRY_DATA_BYTES
    full = AppendEntries(2, 1, 2, entries=tuple(Entry(i + 1, 2, bytes([i]) * (MAX_ENTRY_DATA_BYTES if i < n - 1
                                                                              else last)) for i in range(n)))
    assert len(Codec.encode(full)) == MAX_FRAME_BYTES
    batch = AppendEntries(3, 1, 2, prev_index=16, prev_term=2, commit=16,
                          entries=tuple(Entry(17 + i, 3, bytes([i]) * 1024) for i in range(100)))
    got = receive_until(t2, lambda g: full in g and batch in g, "the full frame and the batch",
                        resend=lambda: (t1.send(full), t1.send(batch)))
    assert set(got) == {full, batch} and t2.stats["rejected"] == 0
    t1.close()
    t2.close()


def test_frame_above_maxmsgsize_disconnects_sender_but_not_others(ctx, endpoints):
    t1, _ = make(ctx, 1, endpoints)
    t2, _ = make(ctx, 2, endpoints)
    h = hostile(ctx, endpoints[2])
    h.send(b"y" * (MAXMSGSIZE + 1))  # zmq drops the connection: never reaches the codec
    hb = AppendEntries(1, 1, 2)
    receive_until(t2, lambda g: hb in g, "node 1's heartbeat after the oversize frame", resend=lambda: t1.send(hb))
    assert t2.stats["rejected"] == 0
    h.close()
    t1.close()
    t2.close()


def test_hostile_dealer_with_member_routing_id_cannot_cut_member_off(ctx, endpoints):
    t2, _ = make(ctx, 2, endpoints)
    # A local process connects FIRST, claiming routing id b"1" (what a ROUTER_HANDOVER design would key on).
    h = hostile(ctx, endpoints[2], routing_id=b"1")
    spoof = Codec.encode(AppendEntries(9, 1, 2))  # ...and a frame that claims to come from member 1
    receive_until(t2, lambda g: AppendEntries(9, 1, 2) in g, "hostile frame claiming src 1",
                  resend=lambda: h.send(spoof))
    # Known limit: without authentication (CURVE + ZAP) a frame claiming member 1 is indistinguishable from
    # member 1. What the design guarantees is that the real member 1 is not cut off:
    t1, _ = make(ctx, 1, endpoints)
    real = AppendEntries(3, 1, 2)
    receive_until(t2, lambda g: real in g, "real node 1's message despite the hostile b'1'",
                  resend=lambda: (t1.send(real), h.send(spoof)))
    # A second hostile connection with the same routing id changes nothing either.
    h2 = hostile(ctx, endpoints[2], routing_id=b"1")
    real2 = AppendEntries(4, 1, 2)
    receive_until(t2, lambda g: real2 in g, "node 1 still heard after a second hostile b'1'",
                  resend=lambda: (t1.send(real2), h2.send(spoof)))
    # What the codec can check, it does: claiming to be the node itself or a non-member is rejected.
    before = t2.stats["rejected"]
    h.send(with_src(Codec.encode(AppendEntries(9, 3, 2)), 2))
    h.send(with_src(Codec.encode(AppendEntries(9, 3, 2)), 42))
    wait_until(lambda: t2.receive() == [] and t2.stats["rejected"] >= before + 2, 3, "two rejections")
    assert t2.stats["rejected:spoofed_source"] >= 1 and t2.stats["rejected:unknown_source"] >= 1
    for s in (h, h2):
        s.close()
    t1.close()
    t2.close()


def test_rejection_flood_is_rate_limited_with_exact_counts(ctx, endpoints):
    clock = FakeClock()
    t2, records = make(ctx, 2, endpoints, clock=clock)
    h = hostile(ctx, endpoints[2])
    n = 2000
    for i in range(n):
        h.send(b"junk %d" % i)
    wait_until(lambda: (t2.receive(), t2.stats["rejected"])[1] >= n, 5, f"{n} rejections")
    rejected = [r for r in records if r["event"] == "message_rejected"]
    assert len(rejected) == REJECT_LOG_BUDGET, "a flood within one window writes only the budget"
    clock.t += 1.0
    assert t2.limiter.flush() == 1  # one summary record for the rest of the window
    rejected = [r for r in records if r["event"] == "message_rejected"]
    assert sum(r["count"] for r in rejected) == n, "the counts add up to every rejected frame"
    h.close()
    t2.close()


# ---------------------------------------------------------------------------------------------- LogLimiter


def test_log_limiter_windows_keys_and_summaries():
    clock, out = FakeClock(), []
    lim = LogLimiter(lambda e, **f: out.append((e, f)), clock)
    for _ in range(10):
        lim.emit("message_dropped", ("p", 2), 1, peer=2, reason="partition")
    lim.emit("message_dropped", ("p", 3), 1, peer=3, reason="partition")
    assert [f["peer"] for _, f in out] == [2, 3] and lim.pending == 9
    clock.t += 0.5
    assert lim.flush() == 0, "the window has not ended"
    clock.t += 0.5
    assert lim.flush() == 1 and out[-1][1] == {"peer": 2, "reason": "partition", "count": 9}
    clock.t += 0.2  # the summary opened a new window for key 2, so the next occurrence is suppressed...
    lim.emit("message_dropped", ("p", 2), 1, peer=2, reason="partition")
    clock.t += 1.0  # ...until it ends, and then the next one is written, carrying the suppressed one
    lim.emit("message_dropped", ("p", 2), 1, peer=2, reason="partition")
    assert out[-1][1]["count"] == 2
    assert sum(f["count"] for _, f in out) == 13
    lim.emit("x", "k", 0, a=1)  # budget 0: everything waits for flush_all
    assert lim.flush_all() == 1 and out[-1] == ("x", {"a": 1, "count": 1})


# ---------------------------------------------------------------------------------------------- netem


def test_netem_partitions_both_directions_and_implicit_group():
    ne = NetEm(1, random.Random(1))
    assert ne.allows(1, 2)
    assert ne.apply({"type": "net", "version": 1, "groups": [[1], [2, 3]], "loss": 0, "delay_ms": 0})
    assert not ne.allows(1, 2) and not ne.allows(2, 1) and ne.allows(2, 3)
    assert ne.allows(4, 5) and not ne.allows(3, 4), "unlisted nodes form one more group"
    assert ne.route(AppendEntries(1, 1, 2), 0.0) == (DROP, "partition")
    assert not ne.apply({"type": "net", "version": 1, "groups": None}), "same version: ignored"
    assert not ne.apply({"type": "net", "version": 0, "groups": None}), "older version: ignored"
    assert ne.apply({"type": "net", "version": 2, "groups": None})
    assert ne.route(AppendEntries(1, 1, 2), 0.0) == (SEND, None)


@pytest.mark.parametrize("doc", [
    {"type": "net", "version": -1}, {"type": "net"}, {"type": "net", "version": True},
    {"type": "net", "version": 1, "loss": 1.5}, {"type": "net", "version": 1, "loss": float("nan")},
    {"type": "net", "version": 1, "delay_ms": -1}, {"type": "net", "version": 1, "groups": [[1], [1, 2]]},
    {"type": "net", "version": 1, "groups": [1, 2]}, {"type": "net", "version": 1, "groups": [["1"]]},
    {"type": "transfer", "version": 1}, [1, 2],
])
def test_netem_rejects_bad_documents(doc):
    ne = NetEm(1, random.Random(1))
    with pytest.raises(NetModelError):
        ne.apply(doc)
    assert ne.state is None


def test_netem_loss_is_seeded_and_roughly_right():
    def drops(seed):
        ne = NetEm(1, random.Random(seed))
        ne.apply({"type": "net", "version": 1, "loss": 0.3})
        return [ne.route(AppendEntries(1, 1, 2), 0.0)[0] == DROP for _ in range(2000)]

    assert drops(7) == drops(7), "same seed, same losses"
    assert 0.25 < sum(drops(7)) / 2000 < 0.35


def test_netem_delay_queue_orders_by_due_time_and_rechecks_partition():
    ne = NetEm(1, random.Random(3))
    ne.apply({"type": "net", "version": 1, "delay_ms": 100, "jitter_ms": 50})
    msgs = [AppendEntries(t, 1, 2 + t % 2) for t in range(1, 41)]
    assert all(ne.route(m, 10.0) == (DELAYED, None) for m in msgs)
    assert 10.05 <= ne.next_due <= 10.15
    assert ne.pop_due(10.049) == ([], [])
    ready, cut = ne.pop_due(10.1)
    assert ready and not cut and ne.delayed_count == 40 - len(ready)
    ne.apply({"type": "net", "version": 2, "groups": [[1, 2], [3]], "delay_ms": 100})
    ready2, cut2 = ne.pop_due(11.0)
    assert {m.dst for m in cut2} == {3} and {m.dst for m in ready2} == {2}, "in-flight messages cut by a partition"
    assert ne.next_due is None


def test_netem_delay_queue_is_bounded():
    ne = NetEm(1, random.Random(3), max_delayed=5)
    ne.apply({"type": "net", "version": 1, "delay_ms": 100})
    verdicts = [ne.route(AppendEntries(1, 1, 2), 0.0) for _ in range(7)]
    assert verdicts[-1] == (DROP, "delay_queue_full") and ne.delayed_count == 5


# ---------------------------------------------------------------------------------------------- failpoints


def test_failpoint_spec_parses():
    assert parse("") == [] and parse("  ") == []
    assert parse("2:after_send, 3@2:before_persist") == [
        FailpointSpec(2, None, "after_send"), FailpointSpec(3, 2, "before_persist")]


@pytest.mark.parametrize("spec", ["2", "x:after_send", "2:nope", "0:after_send", "2@:after_send",
                                  "2@0:after_send", "2:after_send,", "-1:after_send", "2@1@2:after_send"])
def test_failpoint_spec_errors_are_clear(spec):
    with pytest.raises(FailpointError) as info:
        parse(spec)
    assert "RAFTZMQ_FAILPOINTS" in str(info.value)


def test_failpoint_hits_only_armed_node_and_incarnation():
    kills = []
    specs = parse("2@1:after_persist_before_send,3:after_send")
    fp = Failpoints(specs, node=2, incarnation=1, kill=lambda: kills.append("kill"))
    fp.hit("before_persist")
    assert kills == []
    order = []
    fp.hit("after_persist_before_send", before_kill=lambda: order.append("flush"))
    assert order == ["flush"] and kills == ["kill"]
    assert not Failpoints(specs, node=2, incarnation=2)
    assert Failpoints(specs, node=3, incarnation=9).armed == {"after_send"}
    with pytest.raises(ValueError):
        fp.hit("after_sned")


def test_module_exports():
    assert set(netem_mod.__all__) >= {"NetEm", "NetModel", "NetModelError", "decode_netctl"}


def test_log_limiter_summary_keeps_only_the_fields_its_occurrences_share():
    clock, out = FakeClock(), []
    lim = LogLimiter(lambda e, **f: out.append((e, f)), clock)
    for peer in (2, 2, 3, 4):
        lim.emit("message_dropped", "k", 1, peer=peer, kind="append_entries", reason="partition")
    clock.t += 1.0
    assert lim.flush() == 1
    assert out[-1][1] == {"peer": None, "kind": "append_entries", "reason": "partition", "count": 3}
    lim.emit("message_dropped", "k", 1, peer=5, kind="append_entries", reason="partition")
    lim.emit("message_dropped", "k", 1, peer=5, kind="append_entries", reason="partition")
    clock.t += 1.0
    assert lim.flush() == 1 and out[-1][1]["peer"] == 5 and out[-1][1]["count"] == 2, "one peer: kept"


def test_log_limiter_cap_writes_one_record_then_only_counts_until_the_stop():
    clock, out = FakeClock(), []
    lim = LogLimiter(lambda e, **f: out.append((e, f)), clock, cap=3)
    occurrences = 0
    for i in range(50):
        for key in ("a", "b"):
            lim.emit("message_rejected", key, 1, reason=key, size=1)
            occurrences += 1
        clock.t += 1.0
        lim.flush()
    assert [e for e, _ in out] == ["message_rejected"] * 3 + ["log_cap_reached"]
    assert out[-1][1] == {"cap": 3}
    assert lim.flush_all() == 2
    assert sum(f.get("count", 0) for _, f in out) == occurrences, "every occurrence is accounted for at the stop"


def test_disconnect_monitors_report_a_peer_whose_sockets_close_and_nothing_for_connects_or_retries(ctx, endpoints):
    """With watch_disconnects, a DEALER whose established connection closes (the peer's process died: its
    sockets close) is reported once with the endpoint; a peer that is not up yet, connect retries, our own start
    and the reconnect after the peer comes back report nothing."""
    limiter = LogLimiter(lambda event, **f: None)
    a = Transport(ctx, 1, endpoints, Codec(MEMBERS, 1), limiter, reconnect_ms=10, watch_disconnects=True)
    a.open()
    mon_of = {peer: mon for mon, peer in a.monitors.items()}
    assert sorted(mon_of) == [2, 3]
    all_reports = lambda: [r for mon in a.monitors for r in a.disconnects(mon)]  # noqa: E731

    b, _ = make(ctx, 2, endpoints)  # node 3 never starts: node 1 keeps retrying it
    receive_until(b, lambda got: got, "node 1 to reach node 2",
                  resend=lambda: a.send(AppendEntries(1, 1, 2)))
    assert all_reports() == []
    b.close()
    assert wait_until(all_reports, 3.0, "the close of node 2's sockets") == [(2, endpoints[2])]
    b, _ = make(ctx, 2, endpoints)  # back: node 1's DEALER reconnects
    receive_until(b, lambda got: got, "node 1 to reach node 2 again",
                  resend=lambda: a.send(AppendEntries(1, 1, 2)))
    assert all_reports() == []
    a.close()
    b.close()
    assert a.monitors == {}
