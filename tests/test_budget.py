"""Per-connection budgets (runtime/node/budget.py) and the transport that applies them: a flood beyond a
connection's budget is dropped undecoded, counted exactly and summarised in one record per window; traffic under
the budget, and every other connection, is untouched."""
from __future__ import annotations

import time

import pytest
import zmq

from proc_helpers import free_tcp_ports, wait_until
from raftzmq.protocol import AppendEntries, Codec
from raftzmq.runtime.node.budget import ConnectionBudgets
from raftzmq.runtime.node.transport import LogLimiter, Transport

MEMBERS = (1, 2, 3)


def test_a_connection_gets_its_burst_then_its_rate_and_others_are_untouched():
    b = ConnectionBudgets(frames_per_s=100, bytes_per_s=10**9, burst_s=1.0)
    assert sum(b.admit(b"a", 10, 0.0) for _ in range(150)) == 100, "one second's worth at once"
    assert b.excess_frames == 50 and b.excess_bytes == 500
    assert all(b.admit(b"b", 10, 0.0) for _ in range(100)), "another connection has its own budget"
    assert sum(b.admit(b"a", 10, 0.1) for _ in range(50)) == 10, "0.1 s refills 10 frames"
    assert sum(b.admit(b"a", 10, 100.0) for _ in range(150)) == 100, "the refill is capped at the burst"


def test_the_byte_budget_is_separate_from_the_frame_budget():
    b = ConnectionBudgets(frames_per_s=10**6, bytes_per_s=1000, burst_s=1.0)
    assert [b.admit(b"a", 400, 0.0) for _ in range(3)] == [True, True, False]
    assert b.admit(b"a", 200, 0.0), "a small frame still fits in what is left"
    assert b.excess_bytes == 400


def test_the_summary_comes_once_per_window_with_exact_sums_and_forced_at_a_stop():
    b = ConnectionBudgets(frames_per_s=1, bytes_per_s=10**9, burst_s=1.0, window_s=1.0)
    for conn in (b"a", b"b"):
        for _ in range(11):
            b.admit(conn, 7, 5.0)
    assert b.summary(5.5) is None, "the window is not over"
    s = b.summary(6.0)
    assert s == {"frames": 20, "bytes": 140, "connections": 2, "window_ms": 1000}
    assert b.summary(9.0) is None, "nothing new, nothing to say"
    b.admit(b"a", 3, 9.0)
    b.admit(b"a", 3, 9.0)
    assert b.summary(9.1) is None and b.summary(9.1, force=True)["frames"] == 1
    assert b.total_frames == 21


def test_connections_beyond_the_table_share_one_bucket_and_idle_ones_are_forgotten():
    b = ConnectionBudgets(frames_per_s=5, bytes_per_s=10**9, max_connections=2, idle_s=10.0)
    b.admit(b"a", 1, 0.0)
    b.admit(b"b", 1, 0.0)
    admitted = sum(b.admit(bytes([i]), 1, 0.0) for i in range(100, 120))
    assert admitted == 5 and b.connections == 3, "twenty new connections shared one bucket"
    b.summary(20.0, force=True)
    assert b.connections == 0


@pytest.mark.parametrize("bad", [dict(frames_per_s=0), dict(bytes_per_s=-1), dict(burst_s=0)])
def test_budgets_must_be_positive(bad):
    with pytest.raises(ValueError):
        ConnectionBudgets(**bad)


# ------------------------------------------------------------------------------------ on a real ROUTER

class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.destroy(linger=0)


def test_a_flood_beyond_its_connections_budget_is_counted_and_summarised_while_a_peer_is_untouched(ctx):
    endpoints = {i: f"tcp://127.0.0.1:{p}" for i, p in zip(MEMBERS, free_tcp_ports(3))}
    records: list[dict] = []
    clock = FakeClock()
    limiter = LogLimiter(lambda event, **f: records.append({"event": event, **f}), clock)
    t2 = Transport(ctx, 2, endpoints, Codec(MEMBERS, 2), limiter, reconnect_ms=10,
                   budgets=ConnectionBudgets(frames_per_s=200, bytes_per_s=10**9, burst_s=1.0))
    t2.clock = clock
    t2.open()
    t1 = Transport(ctx, 1, endpoints, Codec(MEMBERS, 1), LogLimiter(lambda e, **f: None), reconnect_ms=10)
    t1.open()
    hostile = ctx.socket(zmq.DEALER)
    hostile.setsockopt(zmq.LINGER, 0)
    hostile.setsockopt(zmq.SNDHWM, 0)
    hostile.connect(endpoints[2])
    try:
        flood, legit = 1000, 150  # 5x the hostile connection's budget (the clock stands still); the peer's under it
        wait_until(lambda: t1.send(AppendEntries(1, 1, 2)), 5, "the peer's connection")
        got = [m for m in t2.receive()]
        for i in range(flood):
            hostile.send(b"junk %d" % i)
        sent = 1

        def more() -> bool:  # the peer sends in steps its small send queue takes, while the flood is read
            nonlocal sent
            while sent < legit and t1.send(AppendEntries(1, 1, 2)):
                sent += 1
            got.extend(t2.receive())
            return len(got) >= legit and t2.budgets.excess_frames + t2.stats["rejected"] >= flood

        wait_until(more, 10, "every frame read",
                   diagnostics=lambda: f"got {len(got)}, stats {dict(t2.stats)}, excess {t2.budgets.excess_frames}")
        assert len(got) == legit and all(m.src == 1 for m in got), "legitimate traffic under its budget: all of it"
        assert t2.stats["rejected"] == 200, "the hostile connection's budget worth was decoded (and rejected)"
        assert not [r for r in records if r["event"] == "frames_throttled"], "no record per frame, none yet"
        clock.t += 1.0
        t2.flush_budgets(clock())
        throttled = [r for r in records if r["event"] == "frames_throttled"]
        assert throttled == [{"event": "frames_throttled", "frames": 800, "bytes": sum(
            len(b"junk %d" % i) for i in range(200, flood)), "connections": 1, "window_ms": 1000}]
        t2.flush_budgets(clock.t + 5)
        assert len([r for r in records if r["event"] == "frames_throttled"]) == 1, "one record for the window"
    finally:
        hostile.close()
        t1.close()
        t2.close()
