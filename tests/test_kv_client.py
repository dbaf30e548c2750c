"""raftzmq.client against a fake cluster (tests/kvfake.py): redirects, backoff, deadline, indefinite outcomes,
exactly-once retries, bad requests refused before sending."""
from __future__ import annotations

import json
import time

import pytest
import zmq

from kvfake import FakeCluster
from raftzmq.client import (BadRequest, Client, Failed, Indefinite, NoClientEndpoint, NO_ENDPOINT_MESSAGE,
                            client_endpoints)
from raftzmq.protocol.kvstore import MAX_KEY_BYTES, MAX_VALUE_BYTES
from raftzmq.protocol.kvwire import WIRE_VERSION, decode_response


def client(fake, **kw):
    kw.setdefault("timeout", 3.0)
    kw.setdefault("attempt_timeout", 0.2)
    kw.setdefault("seed", 1)
    return Client(fake.endpoints, **kw)


def test_every_operation_round_trips(fake):
    with client(fake) as kv:
        assert kv.get("x") is None
        kv.put("x", 1)
        assert kv.get("x") == 1
        assert kv.cas("x", 1, [2]) is True
        assert kv.cas("x", 1, 3) is False and kv.get("x") == [2]
        kv.append("x", "a")
        kv.append("x", [4, 5])
        assert kv.get("x") == [2, "a", 4, 5]
        kv.append("s", "ab")
        kv.append("s", "c")
        assert kv.get("s") == "abc"
        kv.delete("x")
        assert kv.get("x") is None
        assert kv.cas("x", None, "new") is True and fake.value("x") == "new"


def test_a_definite_failure_is_failed_not_indefinite(fake):
    with client(fake) as kv:
        kv.put("n", 7)
        with pytest.raises(Failed) as info:
            kv.append("n", "x")
        assert not isinstance(info.value, Indefinite) and info.value.current == 7
        assert fake.value("n") == 7


def test_redirect_to_the_named_leader_then_straight_there(fake):
    fake.leader = 3
    with client(fake) as kv:
        kv.put("x", 1)
        assert kv.leader == fake.endpoints[3] and kv.stats["redirects"] >= 1
        before = dict(fake.received)
        kv.put("x", 2)
        assert fake.received[1] == before[1] and fake.received[2] == before[2]  # went to 3 directly
        assert fake.value("x") == 2


def test_no_hint_moves_on_through_the_nodes(fake):
    fake.leader, fake.hint = 3, False
    with client(fake) as kv:
        kv.put("x", "v")
        assert fake.value("x") == "v" and kv.leader == fake.endpoints[3]


def test_a_lost_answer_is_retried_and_applied_once(fake):
    with client(fake, attempt_timeout=0.1) as kv:
        kv.append("log", "a")  # registers first
        fake.drop_replies = 2  # the leader applies, the answer is lost twice
        kv.append("log", "b")
        assert fake.value("log") == "ab"
        sent = [c for c in fake.applied if c.op == "append" and c.seq == 2]
        assert len(sent) == 3  # three attempts of the same (session, seq) reached the store...
        assert kv.stats["timeouts"] == 2  # ...and only the first changed it


def test_retry_answers_back_off_and_succeed(fake):
    fake.retry_replies = 3
    with client(fake, backoff=0.005, max_backoff=0.02) as kv:
        kv.put("x", 1)
        assert fake.value("x") == 1


def test_silence_until_the_deadline_is_indefinite(fake):
    fake.silent = {1, 2, 3}
    with client(fake, timeout=0.5, attempt_timeout=0.1) as kv:
        t0 = time.monotonic()
        with pytest.raises(Indefinite) as info:
            kv.get("x")
        assert 0.45 <= time.monotonic() - t0 < 3.0  # the deadline, with slack for a loaded machine
        assert not isinstance(info.value, Failed) and info.value.attempts >= 3


def test_a_lost_write_answer_at_the_deadline_is_indefinite_and_maybe_applied(fake):
    with client(fake, timeout=0.5, attempt_timeout=0.1) as kv:
        kv.put("x", 0)
        fake.drop_replies = 100
        with pytest.raises(Indefinite) as info:
            kv.put("x", 1)
        assert info.value.maybe_applied and fake.value("x") == 1  # it did happen: indefinite, not failed


def test_retries_bound_the_attempts(fake):
    fake.silent = {1, 2, 3}
    with client(fake, timeout=5.0, attempt_timeout=0.05, retries=2) as kv:
        with pytest.raises(Indefinite) as info:
            kv.get("x")
        assert info.value.attempts == 3


def test_no_leader_anywhere_is_indefinite_within_the_deadline(fake):
    fake.leader = None
    with client(fake, timeout=0.4) as kv:
        with pytest.raises(Indefinite) as info:
            kv.put("x", 1)
        assert not info.value.maybe_applied and fake.value("x") is None


def test_oversized_and_bad_requests_are_refused_before_sending(fake):
    with client(fake) as kv:
        kv.put("k", 1)
        before = dict(fake.received)
        for call in (lambda: kv.put("k", "v" * (MAX_VALUE_BYTES + 1)), lambda: kv.put("k" * (MAX_KEY_BYTES + 1), 1),
                     lambda: kv.put("k", float("nan")), lambda: kv.append("k", 3), lambda: kv.put("k", {1, 2}),
                     lambda: kv.cas("k", 1, "v" * MAX_VALUE_BYTES + "vv")):
            with pytest.raises(BadRequest):
                call()
        assert fake.received == before and fake.value("k") == 1


def test_an_expired_session_is_renewed_when_nothing_was_in_flight(fake):
    with client(fake) as kv:
        kv.put("x", 1)
        with fake.lock:
            fake.store.sessions.clear()
        kv.put("x", 2)
        assert fake.value("x") == 2 and kv.stats["registrations"] == 2


def test_a_session_expiring_while_a_command_is_in_flight_is_indefinite(fake):
    with client(fake, attempt_timeout=0.1) as kv:
        kv.put("x", 1)
        fake.drop_replies, fake.expire_on_drop = 1, True
        with pytest.raises(Indefinite):
            kv.put("x", 2)  # applied, answer lost, session gone: the retry cannot know
        assert fake.value("x") == 2
        kv.put("x", 3)  # a new session for the next command
        assert fake.value("x") == 3 and kv.stats["registrations"] == 2


def test_malformed_frames_get_an_error_and_change_nothing(fake):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(fake.endpoints[1])
    try:
        frames = [[b""], [bytes([WIRE_VERSION]) + b"\x00" * 8], [bytes([9]) + b"\x00" * 30], [b"\x01" * 40],
                  [bytes([WIRE_VERSION]) + (5).to_bytes(8, "big") + b"\x02", b"extra"]]
        for parts in frames:
            sock.send_multipart(parts)
            assert sock.poll(3000)
            resp = decode_response(sock.recv())
            assert resp.status == "bad_request" and resp.message
        assert resp.request_id == 5
        assert fake.store.applied_index == 0 and fake.store.data == {}
    finally:
        sock.close(linger=0)
        ctx.term()


def test_run_dir_without_client_endpoints_says_so(tmp_path):
    with pytest.raises(NoClientEndpoint, match=NO_ENDPOINT_MESSAGE):
        Client(tmp_path)
    (tmp_path / "cluster.json").write_text(json.dumps({"endpoints": {"1": "ipc://x"}}))
    with pytest.raises(NoClientEndpoint, match="no client_endpoints"):
        client_endpoints(tmp_path)
    (tmp_path / "cluster.json").write_text(json.dumps({"client_endpoints": {"2": "ipc://b", "1": "ipc://a"}}))
    assert client_endpoints(tmp_path) == {1: "ipc://a", 2: "ipc://b"}


def test_run_dir_client_talks_to_the_cluster(tmp_path, fake):
    (tmp_path / "cluster.json").write_text(json.dumps({"client_endpoints": {str(n): e for n, e in
                                                                             fake.endpoints.items()}}))
    with Client(tmp_path, timeout=2.0) as kv:
        kv.put("a", "b")
        assert kv.get("a") == "b"


def test_nodes_that_name_each_other_make_the_client_back_off_not_spin(fake):
    fake.point = {1: 2, 2: 1, 3: 1}  # stale views during an election: everyone names another node
    with client(fake, timeout=0.6, backoff=0.02, max_backoff=0.1) as kv:
        with pytest.raises(Indefinite):
            kv.get("x")
        fake.point = {}
        assert sum(fake.received.values()) < 120  # backoffs between rounds of redirects
        assert kv.get("x") is None  # and it recovers once a leader is known


def test_reads_by_read_index_are_served_without_a_log_entry(tmp_path):
    fake = FakeCluster(tmp_path, leader=2, reads="index")
    try:
        with client(fake) as kv:
            kv.put("x", "v")
            entries = len(fake.log)
            assert kv.get("x") == "v" and kv.get("y") is None
            assert len(fake.log) == entries and kv.leader == fake.endpoints[2]  # redirected, then served
    finally:
        fake.close()
