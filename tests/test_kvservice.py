"""protocol/kvservice.py: the node side of the client endpoint, driven by a hand-run log (no sockets)."""
from __future__ import annotations

from typing import NamedTuple

import pytest

from raftzmq.protocol.kvservice import KVService
from raftzmq.protocol.ready import ReadState
from raftzmq.protocol.kvstore import Command, KVStore, decode_command
from raftzmq.protocol.kvwire import Request, decode_response, encode_request
from raftzmq.protocol.messages import Entry


class Proposal(NamedTuple):
    accepted: bool
    index: int
    term: int
    leader: int | None


class Log:
    """A leader's log by hand: propose appends at the end with the current term."""

    def __init__(self):
        self.entries: list[Entry] = []
        self.term = 1
        self.leading = True
        self.proposed: list[bytes] = []

    def propose(self, data):
        self.proposed.append(data)
        if not self.leading:
            return Proposal(False, 0, 0, 2)
        e = Entry(len(self.entries) + 1, self.term, data)
        self.entries.append(e)
        return Proposal(True, e.index, e.term, 1)


def req(rid, cmd):
    return [encode_request(Request(rid, cmd))]


def answers(replies):
    return [(r, decode_response(f)) for r, f in replies]


def test_writes_are_answered_when_applied_and_every_replica_agrees():
    log, eps = Log(), {1: "ipc://a", 2: "ipc://b"}
    svcs = [KVService(KVStore(), eps) for _ in range(3)]
    leader = svcs[0]
    assert leader.handle(b"c", req(1, Command("register")), 10, log.propose) == []
    out = answers(leader.apply(log.entries[0:1]))
    assert out == [(b"c", out[0][1])] and out[0][1].status == "ok" and out[0][1].value == 1
    leader.handle(b"c", req(2, Command("put", "x", [1], client=1, seq=1)), 11, log.propose)
    leader.handle(b"d", req(3, Command("get", "x")), 12, log.propose)
    assert decode_command(log.entries[1].data).stamp == 11  # the leader's stamp, not the client's
    out = answers(leader.apply(log.entries[1:]))
    assert [(r, a.request_id, a.status, a.value) for r, a in out] == [(b"c", 2, "ok", None), (b"d", 3, "ok", [1])]
    for follower in svcs[1:]:
        assert follower.apply(log.entries) == []  # followers apply, and answer nobody
        assert follower.store.snapshot() == leader.store.snapshot()


def test_a_refused_proposal_names_the_leader_and_its_endpoint():
    log = Log()
    log.leading = False
    svc = KVService(KVStore(), {2: "ipc://b"})
    [(r, a)] = answers(svc.handle(b"c", req(9, Command("register")), 1, log.propose))
    assert a.status == "not_leader" and a.leader == 2 and a.endpoint == "ipc://b" and a.request_id == 9


def test_malformed_requests_are_answered_and_never_proposed():
    log, svc = Log(), KVService(KVStore())
    good = req(4, Command("register"))[0]
    for frames in ([b""], [good, b"x"], [good + b"x"], [good[:5]], [b"\x02" + good[1:]]):
        [(r, a)] = answers(svc.handle(b"c", frames, 1, log.propose))
        assert a.status == "bad_request" and a.message
    assert log.proposed == [] and svc.store.applied_index == 0


def test_a_lost_slot_is_answered_retry_and_the_resend_applies_once():
    log, svc = Log(), KVService(KVStore())
    svc.handle(b"c", req(1, Command("register")), 1, log.propose)
    svc.apply(log.entries)
    svc.handle(b"c", req(2, Command("append", "k", "a", client=1, seq=1)), 2, log.propose)  # index 2, term 1
    # ...this leader is deposed before index 2 commits, and the new leader's no-op takes index 2 (term 2); the
    # old entry was replicated elsewhere first, so the new leader also carries it at index 3 (term 2).
    old = log.entries[1]
    replaced = [Entry(2, 2, b""), Entry(3, 2, old.data)]
    [(r, a)] = answers(svc.apply(replaced))
    assert a.status == "retry" and a.request_id == 2 and svc.store.read("k") == "a"
    log.entries, log.term = [log.entries[0], *replaced], 3  # this node leads again, in term 3
    svc.handle(b"c", req(3, Command("append", "k", "a", client=1, seq=1)), 3, log.propose)  # the client resends
    assert log.entries[-1].index == 4
    [(r, a)] = answers(svc.apply(log.entries[3:]))
    assert a.status == "ok" and svc.store.read("k") == "a"  # applied once


def test_step_down_answers_everything_waiting():
    log, svc = Log(), KVService(KVStore(), {2: "ipc://b"}, reads="index")
    svc.handle(b"c", req(1, Command("register")), 1, log.propose)
    svc.handle(b"d", req(2, Command("get", "x")), 1, log.propose, read_index=at(svc, 1))
    svc.handle(b"e", req(3, Command("get", "x")), 1, log.propose, read_index=lambda ctx: None)  # at the core
    out = answers(svc.step_down(leader=2))
    assert sorted((r, a.status) for r, a in out) == [(b"c", "retry"), (b"d", "not_leader"), (b"e", "not_leader")]
    assert out[1][1].endpoint == "ipc://b" and svc.waiting == {} and len(svc.pending_reads) == 0
    assert svc.reading == {} and svc.read_states([ReadState(2, 1, 1)]) == []  # a late answer: ignored


def test_reads_by_read_index_wait_for_the_applied_index_and_skip_the_log():
    log, svc = Log(), KVService(KVStore(), reads="index")
    svc.handle(b"c", req(1, Command("register")), 1, log.propose)
    svc.handle(b"c", req(2, Command("put", "x", 5, client=1, seq=1)), 2, log.propose)
    svc.apply(log.entries[:1])
    n = len(log.proposed)
    assert svc.handle(b"r", req(3, Command("get", "x")), 3, log.propose, read_index=at(svc, 2)) == []
    assert len(log.proposed) == n  # no entry for the read
    out = answers(svc.apply(log.entries[1:2]))
    assert [(r, a.status, a.value) for r, a in out] == [(b"c", "ok", None), (b"r", "ok", 5)]
    [(r, a)] = answers(svc.handle(b"r", req(4, Command("get", "x")), 4, log.propose, read_index=at(svc, 2)))
    assert a.value == 5  # already applied: answered at once
    [(r, a)] = answers(svc.handle(b"r", req(5, Command("get", "x")), 4, log.propose, read_index=at(svc, None)))
    assert a.status == "not_leader" and a.leader == 0


def test_a_read_answered_later_by_the_core_and_the_refusals():
    """The core answers a read in a later Ready (a heartbeat round): read_states gives the reply then. A refusal
    naming another node is not_leader with that leader; one naming this node (it leads, no entry of its term
    committed yet) is retry."""
    log, svc = Log(), KVService(KVStore(), {3: "ipc://c"}, reads="index", node_id=1)
    asked: list[int] = []
    for rid in (1, 2, 3):
        assert svc.handle(b"r%d" % rid, req(rid, Command("get", "x")), 1, log.propose, read_index=asked.append) == []
    assert len(asked) == 3 and not log.proposed
    out = answers(svc.read_states([ReadState(asked[0], 0, 1), ReadState(asked[1], None, 3),
                                   ReadState(asked[2], None, 1)]))
    assert [(r, a.status, a.leader) for r, a in out] == [(b"r2", "not_leader", 3), (b"r3", "retry", 0),
                                                       (b"r1", "ok", 0)]
    assert out[0][1].endpoint == "ipc://c"


def at(svc: KVService, index: int | None, leader: int | None = None):
    """A read_index hook whose core answers at once with `index` (None: refused)."""
    return lambda ctx: svc.read_states([ReadState(ctx, index, leader)])


def test_read_modes_are_checked():
    with pytest.raises(ValueError):
        KVService(KVStore(), reads="lease")


def _frame(rid, cmd):
    return encode_request(Request(rid, cmd))


def test_the_entry_is_the_request_s_own_bytes_stamped():
    """kvwire.entry_data: for a frame encode_request wrote, exactly encode_command of the stamped command; for an
    accepted frame whose JSON is written differently, bytes that decode to the same command on every node."""
    from raftzmq.protocol.kvstore import encode_command
    from raftzmq.protocol.kvwire import WireError, decode_request, entry_data
    for cmd in (Command("put", "k", {"a": [1, "é"]}, client=3, seq=9), Command("cas", "k", None, 2, 3, 10),
                Command("register"), Command("get", "k"), Command("append", "k", ["x"], client=1, seq=2)):
        frame = _frame(7, cmd)
        c = decode_request(frame).command
        stamped = Command(c.op, c.key, c.value, c.new, c.client, c.seq, 123456789)
        assert entry_data(frame, 123456789) == encode_command(stamped)
    base = _frame(8, Command("put", "k", 1, client=3, seq=9))  # ends with the value: u32 length 1, b"1"
    spaced = base[:-5] + (3).to_bytes(4, "big") + b" 1 "  # the same value written as " 1 "
    assert decode_request(spaced).command.value == 1
    data = entry_data(spaced, 5)
    assert decode_command(data) == Command("put", "k", 1, None, 3, 9, 5) and data != encode_command(decode_command(data))
    with pytest.raises(WireError):
        entry_data(b"\x01" + bytes(8), 1)


def test_prepare_and_settle_are_handle_in_two_halves():
    """A batch of writes prepared, proposed together and settled gives the answers handle gives one by one;
    a refused batch answers not_leader for each, and nothing waits."""
    reqs = [(b"c", _frame(1, Command("register"))), (b"c", _frame(2, Command("put", "x", 1, client=1, seq=1))),
            (b"d", [b"\x01junk"]), (b"c", _frame(3, Command("get", "x")))]
    outs = []
    for batched in (False, True):
        log, svc = Log(), KVService(KVStore(), {2: "ipc://b"})
        replies = []
        if batched:
            ready = []
            for routing, frame in reqs:
                r, out = svc.prepare(routing, frame if isinstance(frame, list) else [frame], 10)
                replies += out
                ready += [r] if r is not None else []
            for r, p in zip(ready, [log.propose(r.data) for r in ready]):
                replies += svc.settle(r, p)
        else:
            for routing, frame in reqs:
                replies += svc.handle(routing, frame if isinstance(frame, list) else [frame], 10, log.propose)
        replies += svc.apply(log.entries)
        outs.append(([(r, a.request_id, a.status, a.value) for r, a in answers(replies)], log.proposed))
    assert outs[0] == outs[1] and [s for _, _, s, _ in outs[0][0]] == ["bad_request", "ok", "ok", "ok"]
    log, svc = Log(), KVService(KVStore(), {2: "ipc://b"})
    log.leading = False
    r, _ = svc.prepare(b"c", [_frame(1, Command("register"))], 10)
    assert [a.status for _, a in answers(svc.settle(r, log.propose(r.data)))] == ["not_leader"]
    assert svc.waiting == {}


def test_the_store_reuses_the_proposer_s_decoded_command_only_for_its_own_entry(monkeypatch):
    """The leader decodes a request once: the store applies that command when the entry committed at its index
    is the proposed one (same bytes), and decodes the entry there otherwise (another leader's entry took the
    slot: its command is applied, the client gets retry)."""
    import raftzmq.protocol.kvstore as kvstore
    log, svc = Log(), KVService(KVStore())
    svc.handle(b"c", [_frame(1, Command("register"))], 10, log.propose)
    svc.apply(log.entries)
    calls = []
    real = kvstore.decode_command
    monkeypatch.setattr(kvstore, "decode_command", lambda data: calls.append(data) or real(data))
    svc.handle(b"c", [_frame(2, Command("put", "x", 1, client=1, seq=1))], 11, log.propose)
    assert [a.status for _, a in answers(svc.apply(log.entries[1:]))] == ["ok"] and calls == []
    assert svc.store.read("x") == 1
    svc.handle(b"c", [_frame(3, Command("put", "x", 2, client=1, seq=2))], 12, log.propose)
    other = kvstore.encode_command(Command("put", "x", 3, None, 1, 2, 12))  # a new leader's entry at index 3
    out = answers(svc.apply([Entry(3, 2, other)]))
    assert [a.status for _, a in out] == ["retry"] and calls == [other] and svc.store.read("x") == 3
