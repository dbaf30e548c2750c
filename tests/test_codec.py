"""The codec is the one boundary where bytes come in: anything malformed or spoofed stops here as ProtocolError."""
import json
import random

import pytest

from raftzmq.protocol.codec import MAX_FRAME_BYTES, WIRE_VERSION, Codec, ProtocolError
from raftzmq.protocol.messages import (
    MAX_TERM,
    MESSAGE_TYPES,
    AppendEntries,
    AppendResponse,
    RequestVote,
    TimeoutNow,
    VoteResponse,
)

MEMBERS = (1, 2, 3, 4, 5)
ME = 3

ALL_MESSAGES = [
    RequestVote(7, 2, ME),
    RequestVote(8, 2, ME, prevote=True),
    VoteResponse(7, 1, ME, granted=True),
    VoteResponse(7, 1, ME, granted=False),
    VoteResponse(8, 5, ME, granted=True, prevote=True),
    VoteResponse(9, 5, ME, granted=False, prevote=True),
    AppendEntries(4, 4, ME),
    AppendResponse(4, 4, ME, success=True),
    AppendResponse(5, 4, ME, success=False),
    TimeoutNow(6, 1, ME),
    RequestVote(0, 1, ME),
    RequestVote(MAX_TERM, 5, ME),
]


@pytest.fixture
def codec():
    return Codec(MEMBERS, ME)


def frame(**doc) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def valid_doc(**changes):
    doc = {"v": WIRE_VERSION, "k": "request_vote", "t": 7, "s": 2, "d": ME, "p": False, "x": False, "h": False}
    doc.update(changes)
    return doc


def reason_of(codec, data: bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        codec.decode(data)
    assert type(info.value) is ProtocolError
    return info.value.reason


# ---------------------------------------------------------------------------------------------- round trip


def test_every_message_type_is_covered_by_the_round_trip_list():
    assert {type(m) for m in ALL_MESSAGES} == set(MESSAGE_TYPES.values())


@pytest.mark.parametrize("msg", ALL_MESSAGES, ids=lambda m: f"{m.kind}-{m.term}")
def test_round_trip(codec, msg):
    data = Codec.encode(msg)
    assert len(data) <= MAX_FRAME_BYTES
    back = codec.decode(data)
    assert back == msg
    assert type(back) is type(msg)


def test_encoding_is_compact_json_with_the_documented_keys():
    data = Codec.encode(RequestVote(7, 2, 3, prevote=True))
    assert json.loads(data) == {"v": 3, "k": "request_vote", "t": 7, "s": 2, "d": 3, "p": True, "x": False,
                                "h": False}
    assert b" " not in data


def test_a_hint_pre_vote_round_trips_and_contradictory_flags_are_refused(codec):
    """Wire version 3: "h" marks a pre-vote started by a disconnect hint. A hint that is a real vote or a transfer
    means nothing, so the frame is refused like any other malformed one (never a ValueError from the message)."""
    msg = RequestVote(7, 2, ME, prevote=True, hint=True)
    assert codec.decode(Codec.encode(msg)) == msg
    for bad in (dict(p=False, h=True), dict(p=True, x=True, h=True)):
        assert reason_of(codec, frame(**valid_doc(**bad))) == "bad_flag"


def test_codec_refuses_a_self_id_outside_the_members():
    with pytest.raises(ValueError):
        Codec(MEMBERS, 9)


# ---------------------------------------------------------------------------------------------- rejections


def test_oversize_frame(codec):
    data = frame(**valid_doc()) + b" " * MAX_FRAME_BYTES
    assert reason_of(codec, data) == "too_large"


def test_frame_of_exactly_the_limit_is_not_rejected_for_size(codec):
    data = frame(**valid_doc())
    data += b" " * (MAX_FRAME_BYTES - len(data))
    assert len(data) == MAX_FRAME_BYTES
    assert codec.decode(data) == RequestVote(7, 2, ME)


@pytest.mark.parametrize("data", [b"", b"{", b"hello", b"\xff\xfe\x00", b'{"v":1,}', b"\x00" * 10])
def test_not_json(codec, data):
    assert reason_of(codec, data) == "not_json"


@pytest.mark.parametrize("const", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_rejected(codec, const):
    data = b'{"v":3,"k":"request_vote","t":%s,"s":2,"d":3,"p":false,"x":false,"h":false}' % const.encode()
    assert reason_of(codec, data) == "not_json"


@pytest.mark.parametrize("data", [b"[]", b"[1,2]", b"1", b'"request_vote"', b"null", b"true"])
def test_non_object(codec, data):
    assert reason_of(codec, data) == "not_object"


@pytest.mark.parametrize("version", [0, 1, 2, 4, "3", 3.0, True, None, [3]])
def test_wrong_version(codec, version):
    assert reason_of(codec, frame(**valid_doc(v=version))) == "bad_version"


def test_missing_version(codec):
    doc = valid_doc()
    del doc["v"]
    assert reason_of(codec, frame(**doc)) == "bad_version"


@pytest.mark.parametrize("kind", ["append_entries_v2", "RequestVote", "", None, 1, ["request_vote"], "kind"])
def test_unknown_kind(codec, kind):
    assert reason_of(codec, frame(**valid_doc(k=kind))) == "unknown_kind"


@pytest.mark.parametrize("missing", ["t", "s", "d", "p", "x", "h"])
def test_missing_field(codec, missing):
    doc = valid_doc()
    del doc[missing]
    assert reason_of(codec, frame(**doc)) == "bad_fields"


@pytest.mark.parametrize(
    "doc",
    [
        valid_doc(z=1),
        valid_doc(g=True),  # a vote_response field on a request_vote
        {"v": 3, "k": "append_entries", "t": 1, "s": 2, "d": ME, "p": False},
        {"v": 3, "k": "timeout_now", "t": 1, "s": 2, "d": ME, "ok": True},
        {"v": 3, "k": "vote_response", "t": 1, "s": 2, "d": ME, "g": True},  # missing p
    ],
)
def test_extra_or_misplaced_field(codec, doc):
    assert reason_of(codec, frame(**doc)) == "bad_fields"


@pytest.mark.parametrize(
    "term",
    [True, False, -1, MAX_TERM + 1, 2**64, 10**40, 1.0, 7.5, 1e300, "7", None, [7], {"t": 7}],
    ids=repr,
)
def test_bad_term(codec, term):
    assert reason_of(codec, frame(**valid_doc(t=term))) == "bad_term"


@pytest.mark.parametrize("src", [0, 6, -2, 2**40, True, 2.0, "2", None])
def test_unknown_source(codec, src):
    assert reason_of(codec, frame(**valid_doc(s=src))) == "unknown_source"


def test_source_equal_to_self_is_a_spoof(codec):
    assert reason_of(codec, frame(**valid_doc(s=ME))) == "spoofed_source"


@pytest.mark.parametrize("dst", [1, 2, 4, 0, 99, True, 3.0, "3", None])
def test_wrong_destination(codec, dst):
    assert reason_of(codec, frame(**valid_doc(d=dst))) == "wrong_destination"


@pytest.mark.parametrize(
    "kind, key, others",
    [
        ("request_vote", "p", {"x": False, "h": False}),
        ("request_vote", "x", {"p": False, "h": False}),
        ("request_vote", "h", {"p": True, "x": False}),
        ("vote_response", "g", {"p": False}),
        ("vote_response", "p", {"g": True}),
        ("append_response", "ok", {}),
    ],
)
@pytest.mark.parametrize("value", [0, 1, "true", None, [], 1.0])
def test_non_bool_flag(codec, kind, key, others, value):
    doc = {"v": WIRE_VERSION, "k": kind, "t": 3, "s": 2, "d": ME, key: value, **others}
    assert reason_of(codec, frame(**doc)) == "bad_flag"


def test_protocol_error_is_a_value_error_with_reason():
    err = ProtocolError("bad_term", "detail")
    assert isinstance(err, ValueError)
    assert err.reason == "bad_term"
    assert "bad_term" in str(err) and "detail" in str(err)


# ---------------------------------------------------------------------------------------------- fuzz

REASONS = {
    "too_large", "not_json", "not_object", "bad_version", "unknown_kind", "bad_fields", "bad_term",
    "unknown_source", "spoofed_source", "wrong_destination", "bad_flag",
}
WEIRD_VALUES = [
    0, 1, 2, 3, 5, 6, -1, True, False, None, 1.5, 2**63, 2**63 - 1, "", "x", [], {}, [1], {"a": 1},
    "request_vote", "vote_response", 1e308,
]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    choice = rng.randrange(7)
    b = bytearray(data)
    if choice == 0 and b:  # flip a byte
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif choice == 1:  # insert random bytes
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
    elif choice == 2 and b:  # delete a slice
        i = rng.randrange(len(b))
        del b[i : i + rng.randrange(1, 6)]
    elif choice == 3:  # truncate
        del b[rng.randrange(len(b) + 1) :]
    elif choice == 4:  # structured: replace, drop or add one key (of a still-parsable object)
        try:
            doc = json.loads(data)
        except ValueError:
            return data
        if not isinstance(doc, dict):
            return data
        key = rng.choice(sorted(doc) + ["x", "g", "ok", "p", "h"])
        if rng.random() < 0.2:
            doc.pop(key, None)
        else:
            doc[key] = rng.choice(WEIRD_VALUES)
        return json.dumps(doc).encode()
    elif choice == 5:  # random printable-ish garbage shaped like JSON
        alphabet = b'{}[]":,0123456789-.eEtrufalsnNI vkdpgo'
        return bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 80)))
    else:  # pure random bytes, sometimes too long
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    return bytes(b)


def test_fuzz_decode_only_raises_protocol_error_or_returns_a_valid_message(codec):
    rng = random.Random(20240521)
    seeds = [Codec.encode(m) for m in ALL_MESSAGES]
    accepted = rejected = 0
    for _ in range(5000):
        data = rng.choice(seeds)
        for _ in range(rng.randrange(1, 4)):
            data = _mutate(rng, data)
        try:
            msg = codec.decode(data)
        except ProtocolError as exc:
            assert type(exc) is ProtocolError
            assert exc.reason in REASONS, exc.reason
            rejected += 1
            continue
        # Anything accepted is a well-formed message from a peer to us, and survives a re-encode.
        accepted += 1
        assert type(msg) in MESSAGE_TYPES.values()
        assert msg.dst == ME and msg.src in MEMBERS and msg.src != ME
        assert type(msg.term) is int and 0 <= msg.term <= MAX_TERM
        assert codec.decode(Codec.encode(msg)) == msg
    assert rejected > 1000  # the loop really exercised the error paths
    assert accepted > 0  # ... and some mutations (e.g. whitespace, another valid term) stayed valid


def test_repeated_key_and_non_utf8_encodings_are_rejected():
    from raftzmq.protocol.codec import Codec, ProtocolError

    codec = Codec((1, 2, 3), 2)
    good = '{"v":3,"k":"append_entries","t":1,"s":1,"d":2}'
    assert codec.decode(good.encode()).term == 1
    for frame in (b'{"v":3,"k":"append_entries","t":1,"t":9,"s":1,"d":2}', good.encode("utf-16")):
        with pytest.raises(ProtocolError) as info:
            codec.decode(frame)
        assert info.value.reason == "not_json"


# ------------------------------------------------------------------ caches (the hot path's repeated messages)

def test_decode_cache_gives_the_same_message_and_never_remembers_an_invalid_frame(codec):
    good = Codec.encode(AppendEntries(3, 2, ME))
    assert codec.decode(good) == codec.decode(good) == AppendEntries(3, 2, ME)
    bad = b'{"v":2,"k":"append_entries","t":3,"s":2,"d":%d}' % (ME + 1)  # addressed to another node
    for _ in range(2):  # rejected every time: a rejection is not remembered as a message
        with pytest.raises(ProtocolError):
            codec.decode(bad)


def test_codec_caches_are_bounded():
    from raftzmq.protocol.codec import CACHE_ENTRIES

    codec = Codec([1, 2, 3], 1)
    for term in range(CACHE_ENTRIES * 2 + 1):
        msg = AppendEntries(term, 1, 2)
        assert codec.encode_cached(msg) == Codec.encode(msg)
        assert codec.decode(Codec.encode(AppendEntries(term, 2, 1))) == AppendEntries(term, 2, 1)
    assert len(codec._frames) <= CACHE_ENTRIES and len(codec._messages) <= CACHE_ENTRIES


def test_a_cached_frame_is_still_checked_against_this_codecs_identity():
    frame = Codec.encode(AppendEntries(1, 2, 3))
    assert Codec([1, 2, 3], 3).decode(frame) == AppendEntries(1, 2, 3)
    with pytest.raises(ProtocolError):  # another codec (another node) has its own cache and rules
        Codec([1, 2, 3], 1).decode(frame)
