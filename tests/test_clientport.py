"""A node's client endpoint (runtime/node/clientport.py) against fake core calls: answers and their timing,
the bound on waiting proposals, strict decoding that changes nothing, expiry. Real zmq sockets over ipc."""
from __future__ import annotations

import struct

import pytest
import zmq

from proc_helpers import wait_until
from raftzmq.protocol.clientwire import (WIRE_TAG, ClientRequest, decode_response, encode_request)
from raftzmq.protocol.messages import Entry
from raftzmq.runtime.node.clientport import ClientPort, Proposal


class FakeNode:
    def __init__(self) -> None:
        self.leader: int | None = 1
        self.last = 0
        self.proposed: list[bytes] = []

    def propose(self, data: bytes, now: float) -> Proposal:
        if self.leader != 1:
            return Proposal(False, 0, 0, self.leader)
        self.proposed.append(data)
        self.last += 1
        return Proposal(True, self.last, 2, 1)

    def info(self):
        return self.leader, self.last, 2, 0


@pytest.fixture
def port(tmp_path):
    ctx = zmq.Context()
    node = FakeNode()
    p = ClientPort(ctx, f"ipc://{tmp_path}/c.sock", propose=node.propose, info=node.info,
                   endpoint_of=lambda n: f"ipc://{tmp_path}/c-{n}.sock", max_pending=3, pending_timeout_s=5.0)
    p.open()
    client = ctx.socket(zmq.DEALER)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(p.endpoint)
    p.node, p.client = node, client  # type: ignore[attr-defined]
    yield p
    client.close()
    p.close()
    ctx.term()


def _serve_until_answered(port, n: int, now: float = 0.0) -> list:
    """Run the port (as the loop would) until `n` answers reached the client."""
    got = []

    def step():
        port.service(now)
        while port.client.poll(0):
            got.append(decode_response(port.client.recv()))
        return len(got) >= n
    wait_until(step, 5, f"{n} answers")
    return got


def _send(port, rid: int, op: str = "propose", data: bytes = b"x") -> None:
    port.client.send(encode_request(ClientRequest(rid, op, data)))


def _serve_all(port, count: int, now: float = 0.0) -> None:
    wait_until(lambda: port.service(now) or port.stats["requests"] >= count, 5, f"{count} requests read")


def test_a_proposal_is_answered_only_when_its_entry_is_committed(port):
    _send(port, 10, data=b"a")
    _serve_all(port, 1)
    assert port.node.proposed == [b"a"] and port.n_waiting == 1
    assert not port.client.poll(50), "no answer before the commit"
    port.committed([Entry(1, 2, b"a")])
    (resp,) = _serve_until_answered(port, 1)
    assert (resp.request_id, resp.status, resp.index, resp.term) == (10, "ok", 1, 2)
    assert port.n_waiting == 0


def test_another_entry_committed_at_its_index_answers_dropped(port):
    _send(port, 11)
    _serve_all(port, 1)
    port.committed([Entry(1, 3, b"someone else")])
    (resp,) = _serve_until_answered(port, 1)
    assert resp.status == "dropped" and resp.index == 1 and resp.term == 2


def test_not_leader_is_answered_at_once_with_the_leader_and_nothing_is_proposed(port):
    port.node.leader = 3
    _send(port, 12)
    (resp,) = _serve_until_answered(port, 1)
    assert (resp.status, resp.leader) == ("not_leader", 3) and resp.endpoint.endswith("c-3.sock")
    assert port.node.proposed == [] and port.n_waiting == 0


def test_beyond_the_bound_proposals_are_answered_busy_and_not_proposed(port):
    for rid in range(1, 6):
        _send(port, rid)
    got = _serve_until_answered(port, 2)
    assert sorted((r.request_id, r.status) for r in got) == [(4, "busy"), (5, "busy")]
    assert len(port.node.proposed) == 3 and port.n_waiting == 3


@pytest.mark.parametrize("frame", [b"\x52", struct.pack(">BQBI", WIRE_TAG, 9, 1, 5) + b"ab", b"\x07garbage",
                                   struct.pack(">BQBI", WIRE_TAG, 9, 1, 0) + b"x" * 70_000])
def test_malformed_requests_are_answered_bad_request_and_change_nothing(port, frame):
    port.client.send(frame)
    (resp,) = _serve_until_answered(port, 1)
    assert resp.status == "bad_request" and resp.message
    assert port.node.proposed == [] and port.n_waiting == 0


def test_a_multipart_request_is_bad(port):
    port.client.send_multipart([encode_request(ClientRequest(1, "info")), b"more"])
    (resp,) = _serve_until_answered(port, 1)
    assert resp.status == "bad_request"


def test_info_answers_where_the_log_is(port):
    port.node.last = 7
    _send(port, 13, "info", b"")
    (resp,) = _serve_until_answered(port, 1)
    assert (resp.status, resp.leader, resp.index, resp.term) == ("ok", 1, 7, 2)


def test_a_proposal_that_waits_past_its_bound_is_answered_unknown(port):
    _send(port, 14)
    _serve_all(port, 1, now=100.0)
    assert port.next_expiry == 105.0
    port.expire(104.0)
    assert port.n_waiting == 1
    port.expire(105.0)
    (resp,) = _serve_until_answered(port, 1, now=105.0)
    assert resp.status == "unknown" and port.n_waiting == 0 and port.next_expiry == float("inf")


def test_the_expiry_is_armed_only_while_a_proposal_waits_and_still_fires(port):
    """The node's loop arms no timer for the port while nothing waits (next_expiry inf); one proposal waiting
    arms it at its deadline, answering it disarms it, and a later proposal arms it again and expires."""
    assert port.next_expiry == float("inf")
    _send(port, 20)
    _serve_all(port, 1, now=10.0)
    assert port.next_expiry == 15.0
    port.committed([Entry(1, 2, b"x")])
    (resp,) = _serve_until_answered(port, 1, now=11.0)
    assert resp.status == "ok" and port.next_expiry == float("inf"), "nothing waits: disarmed"
    _send(port, 21)
    _serve_all(port, 2, now=20.0)
    assert port.next_expiry == 25.0
    port.expire(24.9)
    assert port.n_waiting == 1
    port.expire(25.0)
    (resp,) = _serve_until_answered(port, 1, now=25.0)
    assert (resp.request_id, resp.status) == (21, "unknown") and port.next_expiry == float("inf")


def test_stats_answers_the_counters_as_json(tmp_path):
    import json as _json
    ctx = zmq.Context()
    node = FakeNode()
    p = ClientPort(ctx, f"ipc://{tmp_path}/s.sock", propose=node.propose, info=node.info, endpoint_of=str,
                   counters=lambda: {"sent": {"append_entries": 3}, "syncs": 2})
    p.open()
    client = ctx.socket(zmq.DEALER)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(p.endpoint)
    p.client = client  # type: ignore[attr-defined]
    try:
        client.send(encode_request(ClientRequest(5, "stats")))
        (resp,) = _serve_until_answered(p, 1)
        assert resp.status == "ok" and _json.loads(resp.message) == {"sent": {"append_entries": 3}, "syncs": 2}
    finally:
        client.close()
        p.close()
        ctx.term()


def test_after_answers_the_port_says_whether_requests_are_waiting(port):
    """A send on the ROUTER may consume the ZMQ_FD edge of requests that arrived meanwhile: the loop asks."""
    port.batch = 1
    _send(port, 20, "info", b"")
    _send(port, 21, "info", b"")
    wait_until(lambda: port.service(0.0) or port.stats["requests"] >= 1, 5, "one request read")
    assert port.stats["requests"] == 1  # batch 1: one read, one answered
    # the second may still be on its way (a loaded machine): wait until it is queued, without reading it
    wait_until(lambda: port.socket.poll(0) & zmq.POLLIN, 5, "the second request to be queued")
    assert port.readable_after_replies() is True  # answered one, the other waits
    assert port.readable_after_replies() is False  # nothing sent since



def test_kv_writes_read_in_one_service_call_are_proposed_together_in_order(tmp_path):
    """With propose_batch, the KV writes of one service call go to the core in one call, in arrival order, and
    each is answered once its own entry is applied; refused ones are answered not_leader at once."""
    from raftzmq.protocol.kvservice import KVService
    from raftzmq.protocol.kvstore import Command, KVStore
    from raftzmq.protocol.kvwire import Request, decode_response as kv_decode, encode_request as kv_encode
    ctx = zmq.Context()
    node = FakeNode()
    batches: list[list[bytes]] = []

    def propose_batch(datas, now):
        batches.append(list(datas))
        return [node.propose(d, now) for d in datas]
    p = ClientPort(ctx, f"ipc://{tmp_path}/c.sock", propose=node.propose, info=node.info,
                   endpoint_of=lambda n: "", propose_batch=propose_batch)
    p.open()
    p.serve_kv(KVService(KVStore()))
    client = ctx.socket(zmq.DEALER)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(p.endpoint)
    got: dict[int, object] = {}

    def answered(n: int) -> bool:
        p.service(0.0)
        while client.poll(0):
            r = kv_decode(client.recv())
            got[r.request_id] = r
        return len(got) >= n
    try:
        for rid in (1, 2, 3):  # one service call's worth, as the loop's read hands them over
            p._serve_kv(b"c%d" % rid, kv_encode(Request(rid, Command("register"))), 0.0)
        assert batches == [] and node.proposed == []  # nothing proposed while the batch is read
        p._propose_kv(0.0)
        assert len(batches) == 1 and len(batches[0]) == 3 and node.proposed == batches[0]
        assert p.kv is not None and sorted(p.kv.waiting) == [1, 2, 3]
        for rid in (4, 5):  # through the socket: answered once applied
            client.send(kv_encode(Request(rid, Command("register"))))
        wait_until(lambda: p.service(0.0) or len(node.proposed) >= 5, 5, "2 more proposals")
        p.committed([Entry(i, 2, d) for i, d in enumerate(node.proposed, 1)])
        wait_until(lambda: answered(2), 5, "2 answers")
        assert {rid: (r.status, r.value) for rid, r in got.items()} == {4: ("ok", 4), 5: ("ok", 5)}
        node.leader = 2
        client.send(kv_encode(Request(6, Command("register"))))
        wait_until(lambda: answered(3), 5, "an answer")
        assert got[6].status == "not_leader" and p.kv.waiting == {}
    finally:
        client.close()
        p.close()
        ctx.term()
