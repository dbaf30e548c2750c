"""protocol/kvstore.py and kvwire.py: the KV state machine against the lincheck kv model, exactly-once sessions,
expiry by log time (the same on every replica), strict encodings."""
from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftzmq.evidence.history import parse_history
from raftzmq.evidence.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, check_history
from raftzmq.protocol import kvstore
from raftzmq.protocol.kvstore import (FAIL, INVALID, MAX_COMMAND_BYTES, MAX_KEY_BYTES, MAX_VALUE_BYTES, OK,
                                      SESSION_EXPIRED, STALE, Command, CommandError, KVStore, PendingReads,
                                      decode_command, encode_command)
from raftzmq.protocol.kvwire import (Request, Response, WireError, decode_request, decode_response,
                                     encode_request, encode_response)

KEYS = ["a", "b"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["", "x", "y", "xy"]))
values = st.one_of(scalars, st.lists(scalars, max_size=3))
ops = st.one_of(
    st.tuples(st.just("get"), st.sampled_from(KEYS), st.none(), st.none()),
    st.tuples(st.just("put"), st.sampled_from(KEYS), values, st.none()),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none(), st.none()),
    st.tuples(st.just("cas"), st.sampled_from(KEYS), values, values),
    st.tuples(st.just("append"), st.sampled_from(KEYS),
              st.one_of(st.sampled_from(["", "x", "y"]), st.lists(scalars, max_size=2)), st.none()),
)


def run(sequence, store=None):
    """Apply (op, key, value, new) commands through a session, in log order; return (store, results)."""
    store = store or KVStore()
    index = store.applied_index + 1
    reg = store.apply(index, encode_command(Command("register", stamp=1)))
    session, results = reg.value, []
    for seq, (op, key, value, new) in enumerate(sequence, 1):
        index += 1
        cmd = Command(op, key, value, new, session if op != "get" else 0, seq if op != "get" else 0, stamp=1 + seq)
        results.append(store.apply(index, encode_command(cmd)))
    return store, results


def history_lines(sequence, results):
    lines = []
    for (op, key, value, new), res in zip(sequence, results):
        arg = [value, new] if op == "cas" else value
        lines.append({"process": 0, "type": "invoke", "f": op, "key": key, "value": None if op == "get" else arg})
        assert res.status in (OK, FAIL), res
        done = {"process": 0, "type": "ok" if res.status == OK else "fail", "f": op, "key": key,
                "value": res.value if op == "get" else arg}
        lines.append(done)
    return lines


def verdict(lines):
    return check_history(parse_history([json.dumps(x) for x in lines], "seq"), model="kv").verdict


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=25))
def test_the_store_is_the_lincheck_kv_model(sequence):
    _, results = run(sequence)
    lines = history_lines(sequence, results)
    assert verdict(lines) == LINEARIZABLE
    # A fail must be a real fail: claiming it happened (ok) makes the sequential history illegal.
    fails = [i for i in range(1, len(lines), 2) if lines[i]["type"] == "fail"]
    if fails:
        lines[fails[0]]["type"] = "ok"
        assert verdict(lines) == NOT_LINEARIZABLE


def test_the_model_check_catches_a_broken_store(monkeypatch):
    sequence = [("append", "a", ["x"], None), ("append", "a", ["y"], None), ("get", "a", None, None)]
    _, results = run(sequence)
    assert results[-1].value == ["x", "y"] and verdict(history_lines(sequence, results)) == LINEARIZABLE
    monkeypatch.setattr(kvstore, "_append", lambda state, v: v if state is None else state + [v])  # nests lists
    _, results = run(sequence)
    assert results[-1].value == ["x", ["y"]] and verdict(history_lines(sequence, results)) == NOT_LINEARIZABLE


def test_values_compare_with_json_equality():
    _, results = run([("put", "a", 1, None), ("cas", "a", True, 2), ("put", "b", [1, [2]], None),
                      ("cas", "b", [1, [2]], "ok"), ("get", "b", None, None), ("put", "a", None, None),
                      ("get", "a", None, None)])
    assert [r.status for r in results] == [OK, FAIL, OK, OK, OK, OK, OK]
    assert results[4].value == "ok" and results[6].value is None  # put of null: absent, as in the model


def test_a_retried_command_applies_once_and_returns_its_first_result():
    store = KVStore()
    sid = store.apply(1, encode_command(Command("register", stamp=5))).value
    assert sid == 1  # the session id is the register entry's index: the same on every replica
    cmd = encode_command(Command("append", "k", "a", client=sid, seq=1, stamp=6))
    first = store.apply(2, cmd)
    assert store.apply(3, b"") is None  # the no-op entry is skipped
    again = store.apply(4, cmd)
    assert first == again == kvstore.Result(OK) and store.read("k") == "a"
    cas = encode_command(Command("cas", "k", "zz", "b", client=sid, seq=2, stamp=7))
    r1, r2 = store.apply(5, cas), store.apply(6, cas)
    assert r1.status == FAIL and r2 == r1 and r1.value == "a"
    assert store.apply(7, cmd).status == STALE and store.read("k") == "a"
    stranger = encode_command(Command("put", "k", 1, client=99, seq=1, stamp=8))
    assert store.apply(8, stranger).status == SESSION_EXPIRED and store.read("k") == "a"
    assert store.applied_index == 8


def test_entries_apply_strictly_in_log_order():
    store = KVStore()
    store.apply(1, b"")
    with pytest.raises(ValueError, match="log order"):
        store.apply(3, b"")
    with pytest.raises(ValueError, match="log order"):
        store.apply(1, b"")


def test_bad_entry_bytes_change_nothing_but_are_applied_past():
    store = KVStore()
    store.apply(1, encode_command(Command("register", stamp=1)))
    before = store.snapshot()
    res = store.apply(2, b"\x07garbage")
    assert res.status == INVALID and "version" in res.message
    after = store.snapshot()
    assert after.pop("applied_index") == 2 and before.pop("applied_index") == 1 and after == before


def _log(rng, n, ttl_s=5):
    """A random log: registrations, writes of random live or dead sessions, no-ops, leader stamps that sometimes
    go backwards (a new leader whose clock is behind)."""
    entries, sessions, t = [], [], 10**9
    for index in range(1, n + 1):
        t += rng.choice([0, 10**8, 10**9, -2 * 10**9, ttl_s * 10**9 // 2])
        t = max(t, 0)
        r = rng.random()
        if r < 0.1 or not sessions:
            entries.append(encode_command(Command("register", stamp=t)))
            sessions.append([index, 0])
        elif r < 0.15:
            entries.append(b"")
        else:
            s = rng.choice(sessions)
            s[1] += rng.choice([0, 1, 1, 1])
            seq = max(s[1], 1)
            entries.append(encode_command(Command("append", rng.choice("abc"), [index], client=s[0], seq=seq,
                                                  stamp=t)))
    return entries


@pytest.mark.parametrize("seed", range(20))
def test_expiry_is_the_same_on_every_replica(seed):
    entries = _log(random.Random(seed), 400)
    a, b = KVStore(session_ttl_ns=5 * 10**9, max_sessions=8), KVStore(session_ttl_ns=5 * 10**9, max_sessions=8)
    restored = None
    ra, rb, rc = [], [], []
    for index, data in enumerate(entries, 1):
        ra.append(a.apply(index, data))
        rb.append(b.apply(index, data))
        if index == 200:  # a third replica from a snapshot at 200 (JSON round trip), then the log's suffix
            restored = KVStore.restore(json.loads(json.dumps(a.snapshot())))
        elif restored is not None:
            rc.append(restored.apply(index, data))
        assert a.snapshot() == b.snapshot()
    assert ra == rb and rc == ra[200:] and restored.snapshot() == a.snapshot()
    assert a.expired > 0 and any(r is not None and r.status == SESSION_EXPIRED for r in ra)


def test_a_session_expires_after_ttl_of_log_time_not_before():
    store = KVStore(session_ttl_ns=100)
    sid = store.apply(1, encode_command(Command("register", stamp=1000))).value
    store.apply(2, encode_command(Command("put", "k", 1, client=sid, seq=1, stamp=1050)))
    other = store.apply(3, encode_command(Command("register", stamp=1150))).value  # 1150 - 1050 = 100: alive
    assert sid in store.sessions
    store.apply(4, encode_command(Command("register", stamp=900)))  # an older leader stamp: time stays at 1150
    assert store.log_time == 1150 and sid in store.sessions
    store.apply(5, encode_command(Command("get", "k", stamp=1151)))  # any stamped entry moves log time
    assert sid not in store.sessions and other in store.sessions
    r = store.apply(6, encode_command(Command("put", "k", 2, client=sid, seq=2, stamp=1152)))
    assert r.status == SESSION_EXPIRED and store.read("k") == 1


def test_the_session_table_is_bounded_by_dropping_the_idlest():
    store = KVStore(max_sessions=3)
    ids = [store.apply(i, encode_command(Command("register", stamp=i))).value for i in range(1, 4)]
    store.apply(4, encode_command(Command("put", "k", 1, client=ids[0], seq=1, stamp=4)))  # touches ids[0]
    new = store.apply(5, encode_command(Command("register", stamp=5))).value
    assert list(store.sessions) == [ids[2], ids[0], new] and store.expired == 1


def test_pending_reads_release_in_read_index_order():
    reads = PendingReads()
    reads.add(5, "r5")
    reads.add(3, "r3")
    reads.add(5, "r5b")
    assert reads.ready(2) == [] and reads.ready(4) == ["r3"] and reads.ready(9) == ["r5", "r5b"]
    reads.add(10, "x")
    assert len(reads) == 1 and reads.drop_all() == ["x"] and reads.ready(100) == []


# ------------------------------------------------------------------------ encodings

GOOD = [Command("register"), Command("get", "k"),
        Command("put", "ключ", {"a": [1, 2.5]}, client=1, seq=1, stamp=2**63),
        Command("delete", "", client=1, seq=2), Command("cas", "k", None, "x", client=1, seq=3),
        Command("append", "k", ["x"], client=(1 << 64) - 1, seq=9)]


@pytest.mark.parametrize("cmd", GOOD)
def test_every_prefix_and_extension_of_a_command_is_rejected(cmd):
    data = encode_command(cmd)
    assert decode_command(data) == cmd
    for cut in range(len(data)):
        with pytest.raises(CommandError):
            decode_command(data[:cut])
    with pytest.raises(CommandError, match="trailing"):
        decode_command(data + b"\x00")


@pytest.mark.parametrize("cmd, needle", [
    (Command("put", "k" * (MAX_KEY_BYTES + 1), 1, client=1, seq=1), "key is"),
    (Command("put", "k", "v" * MAX_VALUE_BYTES, client=1, seq=1), "limit"),
    (Command("put", "k", float("inf"), client=1, seq=1), "not a JSON value"),
    (Command("put", "k", object(), client=1, seq=1), "not a JSON value"),
    (Command("put", "k", 1), "needs a session"),
    (Command("register", "k"), "register takes"),
    (Command("append", "k", 3, client=1, seq=1), "string or a list"),
    (Command("get", "k", 3), "takes no value"),
    (Command("get", "k", client=3, seq=4), "takes no session"),
    (Command("put", "k", 1, 2, client=1, seq=1), "no second value"),
    (Command("frob", "k"), "unknown op"),
    (Command("put", "k", 1, client=-1, seq=1), "client"),
    (Command("put", 5, 1, client=1, seq=1), "a key is a string"),
    (Command("put", "\udc80", 1, client=1, seq=1), "Unicode"),
    (Command("put", "k", "\udc80", client=1, seq=1), "Unicode"),
])
def test_encode_refuses_bad_commands_before_proposing(cmd, needle):
    with pytest.raises(CommandError, match=needle):
        encode_command(cmd)


def _raw(op=2, client=1, seq=1, key=b"k", values=(b"1",), version=1):
    out = bytes([version, op]) + client.to_bytes(8, "big") + seq.to_bytes(8, "big") + (0).to_bytes(8, "big")
    out += len(key).to_bytes(2, "big") + key
    return out + b"".join(len(v).to_bytes(4, "big") + v for v in values)


@pytest.mark.parametrize("data, needle", [
    (_raw(version=2), "version"), (_raw(op=9), "op code"), (_raw(key=b"\xff"), "UTF-8"),
    (_raw(values=(b"NaN",)), "JSON"), (_raw(values=(b"{",)), "JSON"), (_raw(values=(b"\xff",)), "JSON"),
    (_raw(values=(b"1e999",)), "finite"), (_raw(client=0), "session"), (_raw(op=5, values=(b"3",)), "append"),
    (_raw(key=b"k" * (MAX_KEY_BYTES + 1)), "key is"), (b"\x01" * (MAX_COMMAND_BYTES + 1), "limit"),
    (_raw(op=4, values=(b"1",)), "truncated"),
])
def test_decode_rejects_malformed_entries(data, needle):
    with pytest.raises(CommandError, match=needle):
        decode_command(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_random_bytes_are_a_command_error_or_a_command_that_re_encodes_the_same(data):
    try:
        cmd = decode_command(data)
    except CommandError:
        return
    assert encode_command(cmd) == data


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_random_frames_are_wire_errors(data):
    for decode in (decode_request, decode_response):
        try:
            decode(data)
        except WireError:
            pass


@pytest.mark.parametrize("cmd", [c for c in GOOD if not c.stamp])
def test_requests_round_trip_and_reject_extensions(cmd):
    frame = encode_request(Request(42, cmd))
    assert decode_request(frame) == Request(42, cmd)
    for cut in range(len(frame)):
        with pytest.raises(WireError):
            decode_request(frame[:cut])
    with pytest.raises(WireError) as info:
        decode_request(frame + b"x")
    assert info.value.request_id == 42  # the error answer can still name the request


def test_a_client_request_cannot_carry_a_stamp():
    with pytest.raises(CommandError):
        encode_request(Request(1, Command("put", "k", 1, client=1, seq=1, stamp=5)))
    frame = bytes([1]) + (1).to_bytes(8, "big") + encode_command(Command("put", "k", 1, client=1, seq=1, stamp=5))[1:]
    with pytest.raises(WireError, match="stamp"):
        decode_request(frame)


@pytest.mark.parametrize("resp", [Response(1, "ok", [1, "x"]), Response(2, "not_leader", None, "no", 3, "ipc://a"),
                                  Response(3, "bad_request", None, "m" * 5000), Response(0, "retry")])
def test_responses_round_trip(resp):
    out = decode_response(encode_response(resp))
    assert out == (resp if len(resp.message) < 1024 else Response(3, "bad_request", None, "m" * 1024))
    frame = encode_response(resp)
    for cut in range(len(frame)):
        with pytest.raises(WireError):
            decode_response(frame[:cut])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), ops.filter(lambda o: o[0] != "get")), min_size=1, max_size=20),
       st.lists(st.tuples(st.integers(0, 19), st.integers(0, 40)), max_size=15), )
def test_duplicates_anywhere_after_the_first_apply_exactly_once(commands, dups):
    """Three sessions issue writes one at a time; the log holds each command's first proposal in issue order,
    plus retries of it landing anywhere later (a slow copy may land after the session's next command). The
    result must be the state of applying each command once, and each retry answers the first result, or `stale`
    once the session has moved on."""
    reg = [encode_command(Command("register", stamp=1)) for _ in range(3)]
    seqs = [0, 0, 0]
    firsts = []
    for s, (op, key, value, new) in commands:
        seqs[s] += 1
        firsts.append((s, seqs[s], encode_command(Command(op, key, value, new, client=s + 1, seq=seqs[s], stamp=2))))
    log = [(None, None, d) for d in reg] + firsts
    for which, offset in dups:
        if which < len(firsts):
            first = log.index(firsts[which])  # its first proposal (copies only ever land after it)
            log.insert(first + 1 + offset % (len(log) - first), firsts[which])
    once = KVStore()
    for i, d in enumerate(reg + [f[2] for f in firsts], 1):
        once.apply(i, d)
    store, first_result, last_seq = KVStore(), {}, [0, 0, 0]
    for i, (s, seq, data) in enumerate(log, 1):
        r = store.apply(i, data)
        if s is None:
            continue
        if (s, seq) not in first_result:
            first_result[(s, seq)] = r
            last_seq[s] = seq
        elif seq < last_seq[s]:
            assert r.status == STALE
        else:
            assert r == first_result[(s, seq)]
    assert store.data == once.data
