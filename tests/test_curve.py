"""CURVE authentication (runtime/node/curve.py): key files, and transports that accept only the cluster's keys.

Each transport gets its own zmq context, as each node process has: a ZAP handler serves one context.
"""
from __future__ import annotations

import os
import time

import pytest
import zmq

from proc_helpers import free_tcp_ports, wait_until
from raftzmq.protocol import AppendEntries, Codec, RequestVote
from raftzmq.runtime.node import curve
from raftzmq.runtime.node.curve import CurveError, CurveSettings, ZapHandler, generate_keypair, load_keypair, \
    write_keypair
from raftzmq.runtime.node.transport import LogLimiter, Transport, TransportError, check_endpoint

MEMBERS = (1, 2, 3)


@pytest.fixture
def contexts():
    made: list[zmq.Context] = []

    def new() -> zmq.Context:
        made.append(zmq.Context())
        return made[-1]

    yield new
    for c in made:
        c.destroy(linger=0)


@pytest.fixture
def keys():
    return {n: generate_keypair() for n in MEMBERS}


@pytest.fixture
def endpoints():
    return {i: f"tcp://127.0.0.1:{p}" for i, p in zip(MEMBERS, free_tcp_ports(3))}


def make(ctx, node_id, endpoints, keys):
    records: list[dict] = []
    limiter = LogLimiter(lambda event, **f: records.append({"event": event, **f}), time.monotonic)
    settings = CurveSettings(keys[node_id], {n: k.public for n, k in keys.items()})
    t = Transport(ctx, node_id, endpoints, Codec(MEMBERS, node_id), limiter, reconnect_ms=10, curve=settings)
    t.open()
    return t, records


def pump(t, got):
    """What the node's loop does on a wake-up: answer ZAP requests, then read frames."""
    t.zap.handle()
    got.extend(t.receive())


def outsider(ctx, endpoint, server_public, keypair=None):
    """A DEALER holding its own keypair (not a member's) that knows the server's public key."""
    keypair = keypair or generate_keypair()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    curve.make_client(s, keypair, server_public)
    s.connect(endpoint)
    return s


# ---------------------------------------------------------------------------------------------- key files


def test_key_file_is_private_and_round_trips(tmp_path):
    path = tmp_path / "node-1.key"
    kp = generate_keypair()
    write_keypair(path, kp)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_keypair(path) == kp
    with pytest.raises(CurveError, match="already exists"):
        write_keypair(path, generate_keypair())


@pytest.mark.parametrize("mutate, needle", [
    (lambda p: os.chmod(p, 0o644), "must be 0600"),
    (lambda p: p.write_text("{}"), "not a raftzmq key file"),
    (lambda p: p.write_text('{"public": "%s", "secret": "%s"}' % (generate_keypair().public.decode(),
                                                                  generate_keypair().secret.decode())),
     "does not belong"),
    (lambda p: p.unlink(), "cannot read"),
])
def test_bad_key_files_are_refused_with_the_reason(tmp_path, mutate, needle):
    path = tmp_path / "node-1.key"
    write_keypair(path, generate_keypair())
    mutate(path)
    with pytest.raises(CurveError, match=needle):
        load_keypair(path)


def test_remote_endpoints_only_when_allowed():
    with pytest.raises(TransportError):
        check_endpoint("tcp://10.77.1.2:7000")
    assert check_endpoint("tcp://10.77.1.2:7000", remote_ok=True) == "tcp://10.77.1.2:7000"
    assert check_endpoint("tcp://node-3.example:7000", remote_ok=True)
    for bad in ("tcp://*:7000", "tcp://10.0.0.1:0", "tcp://10.0.0.1", "udp://10.0.0.1:5"):
        with pytest.raises(TransportError):
            check_endpoint(bad, remote_ok=True)


# ---------------------------------------------------------------------------------------------- transports


def test_members_with_curve_exchange_messages(contexts, endpoints, keys):
    t1, _ = make(contexts(), 1, endpoints, keys)
    t2, _ = make(contexts(), 2, endpoints, keys)
    hb = AppendEntries(3, 1, 2)
    got: list = []
    wait_until(lambda: (t1.send(hb), pump(t1, []), pump(t2, got)) and hb in got, 5, "heartbeat 1->2 over CURVE")
    assert t2.stats["auth_rejected"] == 0
    t1.close()
    t2.close()


def test_outsider_key_never_reaches_the_codec(contexts, endpoints, keys, monkeypatch):
    t2, records = make(contexts(), 2, endpoints, keys)
    decoded: list = []
    real_decode = t2.codec.decode
    monkeypatch.setattr(t2.codec, "decode", lambda frame: decoded.append(frame) or real_decode(frame))
    rogue = outsider(contexts(), endpoints[2], keys[2].public)
    vote = Codec.encode(RequestVote(1000, 1, 2, prevote=False))  # well-formed, claims member 1
    got: list = []
    wait_until(lambda: (rogue.send(vote, zmq.NOBLOCK) if rogue.poll(0, zmq.POLLOUT) else None, pump(t2, got))
               and t2.stats["auth_rejected"] >= 1, 5, "a refused handshake")
    assert got == [] and decoded == []
    rejected = [r for r in records if r["event"] == "auth_rejected"]
    assert rejected and rejected[0]["reason"] == "unknown_key" and rejected[0]["address"] == "127.0.0.1"
    rogue.close()
    t2.close()


def test_member_key_cannot_speak_for_another_member(contexts, endpoints, keys):
    t2, records = make(contexts(), 2, endpoints, keys)
    insider = outsider(contexts(), endpoints[2], keys[2].public, keypair=keys[3])  # node 3's real key
    honest, forged = AppendEntries(4, 3, 2), AppendEntries(9, 1, 2)
    got: list = []

    def step():
        insider.send(Codec.encode(forged), zmq.NOBLOCK)
        insider.send(Codec.encode(honest), zmq.NOBLOCK)
        pump(t2, got)
        return honest in got

    wait_until(step, 5, "node 3's honest frame", interval=0.02)
    assert forged not in got
    assert t2.stats["rejected:sender_mismatch"] >= 1
    insider.close()
    t2.close()


def test_without_the_zap_handler_an_outsider_would_get_in(contexts, endpoints, keys):
    """The test above can fail: a handler that accepts every key lets the outsider's frame through."""

    class AcceptAll(ZapHandler):
        def _verdict(self, version, domain, mechanism, credentials):
            return 1  # "you are member 1", whoever you are

    import raftzmq.runtime.node.transport as transport_mod
    original = transport_mod.ZapHandler
    transport_mod.ZapHandler = AcceptAll
    try:
        t2, _ = make(contexts(), 2, endpoints, keys)
    finally:
        transport_mod.ZapHandler = original
    rogue = outsider(contexts(), endpoints[2], keys[2].public)
    vote = RequestVote(1000, 1, 2, prevote=False)
    got: list = []
    wait_until(lambda: (rogue.send(Codec.encode(vote), zmq.NOBLOCK) if rogue.poll(0, zmq.POLLOUT) else None,
                        pump(t2, got)) and vote in got, 5, "the outsider's vote through an accept-all handler")
    rogue.close()
    t2.close()
