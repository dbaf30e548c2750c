"""The codec is the one boundary where bytes come in: anything malformed or spoofed stops here as ProtocolError.
Wire version 4: packed frames laid out from messages.FIELDS (protocol/codec.py)."""
import random
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftzmq.protocol import messages as M
from raftzmq.protocol.codec import (
    CACHE_ENTRIES,
    ENTRY,
    HEADER,
    KIND_CODES,
    LAYOUTS,
    MAX_FRAME_BYTES,
    REASONS,
    WIRE_VERSION,
    Codec,
    ProtocolError,
    layout_markdown,
)
from raftzmq.protocol.messages import (
    APPEND_ENTRIES_FIXED_BYTES,
    ENTRY_WIRE_BYTES,
    FIELDS,
    MAX_ENTRIES_PER_MESSAGE,
    MAX_ENTRY_DATA_BYTES,
    MAX_TERM,
    MESSAGE_TYPES,
    AppendEntries,
    AppendResponse,
    Entry,
    MessageError,
    RequestVote,
    TimeoutNow,
    VoteResponse,
    fits_in_append,
)

MEMBERS = (1, 2, 3, 4, 5)
ME = 3
ROOT = Path(__file__).resolve().parent.parent


def ents(first: int, *terms: int, size: int = 3) -> tuple[Entry, ...]:
    return tuple(Entry(first + i, t, bytes([i % 256]) * size) for i, t in enumerate(terms))


ALL_MESSAGES = [
    RequestVote(7, 2, ME),
    RequestVote(8, 2, ME, prevote=True),
    RequestVote(8, 2, ME, prevote=True, hint=True, last_log_index=12, last_log_term=7),
    RequestVote(9, 4, ME, transfer=True, last_log_index=MAX_TERM, last_log_term=9),
    VoteResponse(7, 1, ME, granted=True),
    VoteResponse(7, 1, ME, granted=False),
    VoteResponse(8, 5, ME, granted=True, prevote=True),
    VoteResponse(9, 5, ME, granted=False, prevote=True),
    AppendEntries(4, 4, ME),
    AppendEntries(4, 4, ME, prev_index=10, prev_term=2, commit=9),
    AppendEntries(4, 4, ME, prev_index=10, prev_term=2, entries=ents(11, 2, 3, 3, 4), commit=11),
    AppendEntries(4, 4, ME, entries=(Entry(1, 1), Entry(2, 4, b"")), commit=MAX_TERM),
    AppendResponse(4, 4, ME, success=True),
    AppendResponse(4, 4, ME, success=True, index=17),
    AppendEntries(4, 4, ME, prev_index=10, prev_term=2, commit=9, round=7),
    AppendResponse(4, 4, ME, success=False, index=3, conflict_index=2, conflict_term=1, round=MAX_TERM),
    AppendResponse(5, 4, ME, success=False, index=9, conflict_index=6, conflict_term=3),
    AppendResponse(5, 4, ME, success=False),
    TimeoutNow(6, 1, ME),
    RequestVote(0, 1, ME),
    RequestVote(MAX_TERM, 5, ME),
]


@pytest.fixture
def codec():
    return Codec(MEMBERS, ME)


def reason_of(codec, data: bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        codec.decode(data)
    assert type(info.value) is ProtocolError
    return info.value.reason


def poke(frame: bytes, kind: str, slot: str, value: int) -> bytes:
    """`frame` with one packed value of its fixed part replaced (no validation: the codec must catch it)."""
    lay = LAYOUTS[kind]
    vals = list(lay.struct.unpack_from(frame))
    names = ["version", "kind", "term", "src", "dst", *lay.slots]
    vals[names.index(slot)] = value
    return lay.struct.pack(*vals) + frame[lay.size:]


# ---------------------------------------------------------------------------------------------- round trip


def test_every_message_type_and_field_is_covered_by_the_round_trip_list():
    assert {type(m) for m in ALL_MESSAGES} == set(MESSAGE_TYPES.values())
    for kind, fields in FIELDS.items():
        for f in fields:
            assert any(m.kind == kind and getattr(m, f.name) not in (False, 0, ()) for m in ALL_MESSAGES), f.name


@pytest.mark.parametrize("msg", ALL_MESSAGES, ids=lambda m: f"{m.kind}-{m.term}")
def test_round_trip(codec, msg):
    data = Codec.encode(msg)
    assert len(data) <= MAX_FRAME_BYTES
    back = codec.decode(data)
    assert back == msg
    assert type(back) is type(msg)
    assert all(type(e.data) is bytes for e in getattr(back, "entries", ()))


def test_the_documented_layout_byte_for_byte():
    msg = AppendEntries(7, 2, 3, prev_index=5, prev_term=6, entries=(Entry(6, 7, b"ab"), Entry(7, 7)), commit=4,
                        round=9)
    expected = (struct.pack(">BBQII", 5, 3, 7, 2, 3) + struct.pack(">QQIQQ", 5, 6, 2, 4, 9)
                + struct.pack(">QQI", 6, 7, 2) + struct.pack(">QQI", 7, 7, 0) + b"ab")
    assert Codec.encode(msg) == expected
    rv = RequestVote(7, 2, 3, prevote=True, hint=True, last_log_index=1, last_log_term=2)
    assert Codec.encode(rv) == struct.pack(">BBQIIBQQ", 5, 1, 7, 2, 3, 0b101, 1, 2)
    assert Codec.encode(AppendResponse(7, 2, 3, success=False, index=9, conflict_index=3, conflict_term=1, round=2)) == \
        struct.pack(">BBQIIBQQQQ", 5, 4, 7, 2, 3, 0, 9, 3, 1, 2)


def test_sizes_named_in_messages_match_the_layout():
    assert ENTRY.size == ENTRY_WIRE_BYTES and LAYOUTS["append_entries"].size == APPEND_ENTRIES_FIXED_BYTES
    assert HEADER.size == 18 and WIRE_VERSION == 5 and set(KIND_CODES) == set(FIELDS)


def test_docs_show_the_layout_the_codec_uses():
    text = (ROOT / "docs" / "CONTRACTS.md").read_text()
    assert layout_markdown() in text, "regenerate docs/CONTRACTS.md's wire table from codec.layout_markdown()"
    assert f"wire version {WIRE_VERSION}" in text
    contract = (ROOT / "docs" / "core-contract.md").read_text()
    for kind, fields in FIELDS.items():
        assert kind in contract
        for f in fields:
            assert f"`{f.name}`" in contract or f.name in contract, (kind, f.name)


def _batch_of(size: int) -> AppendEntries:
    """An AppendEntries whose frame is exactly `size` bytes (the fewest entries that can carry it)."""
    n = 1
    while APPEND_ENTRIES_FIXED_BYTES + n * (ENTRY_WIRE_BYTES + MAX_ENTRY_DATA_BYTES) < size:
        n += 1
    rest = size - APPEND_ENTRIES_FIXED_BYTES - n * ENTRY_WIRE_BYTES
    sizes = [MAX_ENTRY_DATA_BYTES] * (n - 1) + [rest - MAX_ENTRY_DATA_BYTES * (n - 1)]
    return AppendEntries(3, 2, ME, entries=tuple(Entry(i + 1, 1, b"d" * k) for i, k in enumerate(sizes)))


def test_limits_an_entry_and_a_batch():
    Entry(1, 1, b"x" * MAX_ENTRY_DATA_BYTES)
    with pytest.raises(ValueError, match="MAX_ENTRY_DATA_BYTES"):
        Entry(1, 1, b"x" * (MAX_ENTRY_DATA_BYTES + 1))
    full = tuple(Entry(i + 1, 1) for i in range(MAX_ENTRIES_PER_MESSAGE))
    assert fits_in_append(full) and not fits_in_append(full + (Entry(1025, 1),))
    AppendEntries(1, 2, ME, entries=full)
    with pytest.raises(MessageError) as info:
        AppendEntries(1, 2, ME, entries=full + (Entry(1025, 1),))
    assert info.value.reason == "too_many_entries"
    # Bytes: 16 entries of 64 KiB fill 1 MiB plus headers: one frame cannot carry them.
    big = tuple(Entry(i + 1, 1, b"x" * MAX_ENTRY_DATA_BYTES) for i in range(16))
    assert not fits_in_append(big)
    with pytest.raises(MessageError) as info:
        AppendEntries(1, 2, ME, entries=big)
    assert info.value.reason == "too_large"
    assert fits_in_append(big[:15])


def test_the_data_budget_fits_with_any_count():
    from raftzmq.protocol.messages import MAX_APPEND_DATA_BYTES

    full = tuple(Entry(i + 1, 1, b"x" * (MAX_APPEND_DATA_BYTES // MAX_ENTRIES_PER_MESSAGE))
                 for i in range(MAX_ENTRIES_PER_MESSAGE))
    assert fits_in_append(full)
    per = MAX_ENTRY_DATA_BYTES
    few = tuple(Entry(i + 1, 1, b"x" * per) for i in range(MAX_APPEND_DATA_BYTES // per))
    rest = MAX_APPEND_DATA_BYTES - per * len(few)
    assert fits_in_append(few + (Entry(len(few) + 1, 1, b"y" * rest),))
    # and "one entry alone, whatever its size" always fits too
    assert fits_in_append((Entry(1, 1, b"z" * MAX_ENTRY_DATA_BYTES),))


def test_a_frame_of_exactly_the_limit_round_trips_and_one_byte_more_cannot_be_built(codec):
    msg = _batch_of(MAX_FRAME_BYTES)
    data = Codec.encode(msg)
    assert len(data) == MAX_FRAME_BYTES and codec.decode(data) == msg
    *full, last = msg.entries
    assert not fits_in_append((*full, Entry(last.index, 1, last.data + b"c")))


def test_codec_refuses_a_self_id_outside_the_members():
    with pytest.raises(ValueError):
        Codec(MEMBERS, 9)


# ---------------------------------------------------------------------------------------------- rejections

HB = Codec.encode(AppendEntries(5, 2, ME, prev_index=3, prev_term=2, commit=3))
RV = Codec.encode(RequestVote(7, 2, ME, last_log_index=3, last_log_term=2))
BATCH = Codec.encode(AppendEntries(5, 2, ME, prev_index=3, prev_term=2, entries=ents(4, 2, 5), commit=3))


def test_oversize_frame(codec):
    assert reason_of(codec, BATCH + b"\0" * MAX_FRAME_BYTES) == "too_large"


@pytest.mark.parametrize("msg", ALL_MESSAGES, ids=lambda m: f"{m.kind}-{m.term}")
def test_every_truncation_and_any_extra_byte_is_refused(codec, msg):
    data = Codec.encode(msg)
    for cut in range(len(data)):
        assert reason_of(codec, data[:cut]) == "truncated", cut
    assert reason_of(codec, data + b"\0") == "trailing_bytes"


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4, 6, 255, ord("{")])
def test_wrong_version_including_v3_json_and_v4_frames(codec, version):
    assert reason_of(codec, bytes([version]) + HB[1:]) == "bad_version"


def test_a_v3_json_frame_is_refused_as_another_version(codec):
    assert reason_of(codec, b'{"v":3,"k":"append_entries","t":1,"s":2,"d":3}') == "bad_version"


@pytest.mark.parametrize("code", [0, 6, 7, 255])
def test_unknown_kind(codec, code):
    assert reason_of(codec, HB[:1] + bytes([code]) + HB[2:]) == "unknown_kind"


@pytest.mark.parametrize("term", [MAX_TERM + 1, 2**64 - 1])
def test_bad_term(codec, term):
    assert reason_of(codec, poke(HB, "append_entries", "term", term)) == "bad_term"


@pytest.mark.parametrize("src", [0, 6, 2**31, 2**32 - 1])
def test_unknown_source(codec, src):
    assert reason_of(codec, poke(HB, "append_entries", "src", src)) == "unknown_source"


def test_source_equal_to_self_is_a_spoof(codec):
    assert reason_of(codec, poke(RV, "request_vote", "src", ME)) == "spoofed_source"


@pytest.mark.parametrize("dst", [1, 2, 4, 0, 99, 2**32 - 1])
def test_wrong_destination(codec, dst):
    assert reason_of(codec, poke(RV, "request_vote", "dst", dst)) == "wrong_destination"


@pytest.mark.parametrize("kind", [k for k, lay in LAYOUTS.items() if lay.bools])
def test_flag_bits_beyond_the_kinds_bools_are_refused(codec, kind):
    msg = next(m for m in ALL_MESSAGES if m.kind == kind)
    nbools = len(LAYOUTS[kind].bools)
    for bits in (1 << nbools, 0x80, 0xFF):
        assert reason_of(codec, poke(Codec.encode(msg), kind, "flags", bits)) == "bad_flag"


def test_contradictory_hint_flags_are_refused(codec):
    for bits in (0b100, 0b111, 0b110):  # hint without prevote, or with transfer
        assert reason_of(codec, poke(RV, "request_vote", "flags", bits)) == "bad_flag"


@pytest.mark.parametrize("kind, slot", [(k, s) for k, lay in LAYOUTS.items() for s in lay.ints])
def test_every_int_field_beyond_max_term_is_refused(codec, kind, slot):
    msg = next(m for m in ALL_MESSAGES if m.kind == kind)
    assert reason_of(codec, poke(Codec.encode(msg), kind, slot, MAX_TERM + 1)) == "bad_int"


@pytest.mark.parametrize("kind, index, term", [
    ("request_vote", 3, 0), ("request_vote", 0, 2), ("request_vote", 3, 8),  # term 8 > message term 7
    ("append_entries", 3, 0), ("append_entries", 0, 2), ("append_entries", 3, 6),  # 6 > 5
])
def test_inconsistent_log_positions_are_refused(codec, kind, index, term):
    base, names = (RV, ("last_log_index", "last_log_term")) if kind == "request_vote" else \
        (HB, ("prev_index", "prev_term"))
    frame = poke(poke(base, kind, names[0], index), kind, names[1], term)
    assert reason_of(codec, frame) == "bad_position"


def test_a_successful_append_response_with_a_conflict_hint_is_refused(codec):
    frame = Codec.encode(AppendResponse(5, 2, ME, success=True, index=4))
    assert reason_of(codec, poke(frame, "append_response", "conflict_term", 1)) == "bad_field"


def _entries_frame(prev=(3, 2), heads=((4, 2, 1), (5, 5, 1)), data=b"ab", count=None, term=5) -> bytes:
    lay = LAYOUTS["append_entries"]
    fixed = lay.struct.pack(WIRE_VERSION, 3, term, 2, ME, prev[0], prev[1], len(heads) if count is None else count, 3, 0)
    return fixed + b"".join(ENTRY.pack(*h) for h in heads) + data


def test_the_entries_helper_builds_a_valid_frame(codec):
    assert codec.decode(_entries_frame()) == AppendEntries(5, 2, ME, prev_index=3, prev_term=2,
                                                           entries=(Entry(4, 2, b"a"), Entry(5, 5, b"b")), commit=3)


@pytest.mark.parametrize("frame, reason", [
    (_entries_frame(heads=((5, 2, 1), (6, 5, 1))), "bad_entries"),  # not prev_index + 1
    (_entries_frame(heads=((4, 2, 1), (6, 5, 1))), "bad_entries"),  # a gap
    (_entries_frame(heads=((4, 2, 1), (4, 5, 1))), "bad_entries"),  # a repeat
    (_entries_frame(heads=((4, 3, 1), (5, 2, 1))), "bad_entries"),  # terms decrease
    (_entries_frame(prev=(3, 3), heads=((4, 2, 1), (5, 5, 1))), "bad_entries"),  # below prev_term
    (_entries_frame(heads=((4, 2, 1), (5, 6, 1))), "bad_entries"),  # above the message's term
    (_entries_frame(heads=((4, 0, 1), (5, 5, 1))), "bad_entries"),  # term 0
    (_entries_frame(prev=(0, 0), heads=((0, 2, 1), (1, 5, 1))), "bad_entries"),  # index 0
    (_entries_frame(count=MAX_ENTRIES_PER_MESSAGE + 1), "too_many_entries"),
    (_entries_frame(count=2**32 - 1), "too_many_entries"),
    (_entries_frame(heads=((4, 2, MAX_ENTRY_DATA_BYTES + 1), (5, 5, 1))), "entry_too_large"),
    (_entries_frame(heads=((4, 2, 2**32 - 1), (5, 5, 1))), "entry_too_large"),
    (_entries_frame(count=3), "truncated"),  # claims a third entry header that is not there
    (_entries_frame(heads=((4, 2, 1), (5, 5, 2))), "truncated"),  # data shorter than the lengths say
    (_entries_frame(heads=((4, 2, 0), (5, 5, 1))), "trailing_bytes"),  # data longer than the lengths say
    (_entries_frame(count=1), "trailing_bytes"),  # fewer entries claimed than carried
    (_entries_frame(heads=(), data=b"x"), "trailing_bytes"),  # a heartbeat with bytes after it
])
def test_malformed_entries_are_refused(codec, frame, reason):
    assert reason_of(codec, frame) == reason


def test_protocol_error_is_a_value_error_with_reason():
    err = ProtocolError("bad_term", "detail")
    assert isinstance(err, ValueError)
    assert err.reason == "bad_term"
    assert "bad_term" in str(err) and "detail" in str(err)


# ---------------------------------------------------------------------------------------------- construction

def _raw(cls, **values):
    """An instance that skipped validation (to ask the slow path about it)."""
    obj = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(obj, name, value)
    return obj


WEIRD = [0, 1, 2, 5, -1, True, False, None, 1.0, "1", MAX_TERM, MAX_TERM + 1, 2**64, (), [], 7]
ENTRY_LISTS = [(), [], (Entry(1, 1),), (Entry(4, 2), Entry(5, 3)), (Entry(4, 9),), (Entry(3, 2),), ("x",),
               (Entry(4, 2), Entry(6, 2)), (Entry(4, 3), Entry(5, 2))]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fast_paths_accept_exactly_what_the_schema_driven_slow_path_accepts(data):
    cls = data.draw(st.sampled_from(list(MESSAGE_TYPES.values())))
    values = {"term": data.draw(st.sampled_from([0, 1, 3, 5, 8, MAX_TERM, -1, True, MAX_TERM + 1])),
              "src": data.draw(st.sampled_from([1, 2, 0, True, 2**31])), "dst": data.draw(st.sampled_from([2, 1, 3]))}
    for f in FIELDS[cls.kind]:
        pool = {"bool": [True, False, 0, 1, None], "int": WEIRD, "entries": ENTRY_LISTS}[f.type]
        values[f.name] = data.draw(st.sampled_from(pool), label=f.name)
    try:
        M._validate(_raw(cls, **values))
        slow = None
    except MessageError as exc:
        slow = exc.reason
    try:
        cls(**values)
        fast = None
    except MessageError as exc:
        fast = exc.reason
    assert fast == slow, values


def test_constructors_name_the_field_and_refuse_bools_and_lists():
    for bad, word in [(lambda: AppendEntries(1, 2, 3, commit=True), "commit"),
                      (lambda: AppendEntries(1, 2, 3, prev_index=-1), "prev_index"),
                      (lambda: AppendEntries(1, 2, 3, entries=[Entry(1, 1)]), "tuple"),
                      (lambda: RequestVote(1, 2, 3, last_log_index=1.0), "last_log_index"),
                      (lambda: AppendResponse(1, 2, 3, conflict_term=False), "conflict_term"),
                      (lambda: VoteResponse(1, 2, 3, granted=1), "granted")]:
        with pytest.raises(MessageError, match=word):
            bad()


# ---------------------------------------------------------------------------------------------- fuzz

def _message_strategy():
    @st.composite
    def build(draw):
        kind = draw(st.sampled_from(sorted(FIELDS)))
        term = draw(st.integers(1, MAX_TERM))
        src = draw(st.sampled_from([m for m in MEMBERS if m != ME]))
        kw = {}
        if kind == "request_vote":
            p = draw(st.booleans())
            kw = dict(prevote=p, transfer=draw(st.booleans()))
            kw["hint"] = p and not kw["transfer"] and draw(st.booleans())
            if draw(st.booleans()):
                kw.update(last_log_index=draw(st.integers(1, MAX_TERM)), last_log_term=draw(st.integers(1, term)))
        elif kind == "vote_response":
            kw = dict(granted=draw(st.booleans()), prevote=draw(st.booleans()))
        elif kind == "append_entries":
            prev = draw(st.integers(0, 2**40))
            pt = 0 if prev == 0 else draw(st.integers(1, term))
            n = draw(st.integers(0, 8))
            terms = sorted(draw(st.lists(st.integers(max(pt, 1), term), min_size=n, max_size=n)))
            kw = dict(prev_index=prev, prev_term=pt, commit=draw(st.integers(0, MAX_TERM)),
                      entries=tuple(Entry(prev + 1 + i, t, draw(st.binary(max_size=40))) for i, t in enumerate(terms)))
        elif kind == "append_response":
            ok = draw(st.booleans())
            kw = dict(success=ok, index=draw(st.integers(0, MAX_TERM)))
            if not ok:
                kw.update(conflict_index=draw(st.integers(0, MAX_TERM)), conflict_term=draw(st.integers(0, MAX_TERM)))
        return MESSAGE_TYPES[kind](term, src, ME, **kw)
    return build()


@settings(max_examples=800, deadline=None)
@given(_message_strategy())
def test_any_valid_message_round_trips(msg):
    assert Codec(MEMBERS, ME).decode(Codec.encode(msg)) == msg


def _check_decoded(codec, data):
    try:
        msg = codec.decode(data)
    except ProtocolError as exc:
        assert type(exc) is ProtocolError and exc.reason in REASONS, exc.reason
        return False
    assert type(msg) in MESSAGE_TYPES.values()
    assert msg.dst == ME and msg.src in MEMBERS and msg.src != ME
    assert codec.decode(Codec.encode(msg)) == msg and Codec.encode(msg) == bytes(data)
    return True


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=200) | st.builds(lambda m, b, i: (Codec.encode(m)[:i] + b + Codec.encode(m)[i:]),
                                          _message_strategy(), st.binary(max_size=12), st.integers(0, 80)))
def test_fuzz_decode_of_arbitrary_bytes_only_raises_protocol_error(data):
    _check_decoded(Codec(MEMBERS, ME), data)


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0 and b:  # flip a byte
        b[rng.randrange(len(b))] = rng.randrange(256)
    elif choice == 1:  # insert random bytes
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = rng.randbytes(rng.randrange(1, 5))
    elif choice == 2 and b:  # delete a slice
        i = rng.randrange(len(b))
        del b[i:i + rng.randrange(1, 6)]
    elif choice == 3:  # truncate
        del b[rng.randrange(len(b) + 1):]
    elif choice == 4 and len(b) >= 18 and b[1] in range(1, 6):  # structured: one packed field gets a weird value
        kind = next(k for k, c in KIND_CODES.items() if c == b[1])
        lay = LAYOUTS[kind]
        if len(b) >= lay.size:
            slot = rng.choice(["term", "src", "dst", *lay.slots])
            fmt = dict(zip(["version", "kind", "term", "src", "dst", *lay.slots], lay.struct.format[1:]))[slot]
            top = {"B": 255, "I": 2**32 - 1, "Q": 2**64 - 1}[fmt]
            return poke(bytes(b), kind, slot, min(top, rng.choice([0, 1, 2, 3, 5, 6, top, MAX_TERM + 1, 1025])))
    else:  # pure random bytes
        return rng.randbytes(rng.randrange(0, 120))
    return bytes(b)


def test_fuzz_mutations_of_valid_frames_only_raise_protocol_error_or_give_valid_messages(codec):
    rng = random.Random(20240521)
    seeds = [Codec.encode(m) for m in ALL_MESSAGES]
    accepted = rejected = 0
    for _ in range(6000):
        data = rng.choice(seeds)
        for _ in range(rng.randrange(1, 4)):
            data = _mutate(rng, data)
        if _check_decoded(codec, data):
            accepted += 1
        else:
            rejected += 1
    assert rejected > 2000  # the loop really exercised the error paths
    assert accepted > 0  # ... and some mutations (another valid term, a flag) stayed valid


# ------------------------------------------------------------------ caches (the hot path's repeated messages)

def test_decode_cache_gives_the_same_message_and_never_remembers_an_invalid_frame(codec):
    good = Codec.encode(AppendEntries(3, 2, ME))
    assert codec.decode(good) == codec.decode(good) == AppendEntries(3, 2, ME)
    bad = Codec.encode(AppendEntries(3, 2, ME + 1))  # addressed to another node
    for _ in range(2):  # rejected every time: a rejection is not remembered as a message
        with pytest.raises(ProtocolError):
            codec.decode(bad)


def test_codec_caches_are_bounded_and_never_hold_entries():
    codec = Codec([1, 2, 3], 1)
    for term in range(CACHE_ENTRIES * 2 + 1):
        msg = AppendEntries(term, 1, 2)
        assert codec.encode_cached(msg) == Codec.encode(msg)
        assert codec.decode(Codec.encode(AppendEntries(term, 2, 1))) == AppendEntries(term, 2, 1)
    assert len(codec._frames) <= CACHE_ENTRIES and len(codec._messages) <= CACHE_ENTRIES
    codec = Codec([1, 2, 3], 1)
    batch = AppendEntries(5, 1, 2, entries=ents(1, 5, 5))
    assert codec.encode_cached(batch) == Codec.encode(batch)
    incoming = AppendEntries(5, 2, 1, entries=ents(1, 5, 5))
    assert codec.decode(Codec.encode(incoming)) == incoming
    assert codec._frames == {} and codec._messages == {}


def test_a_cached_frame_is_still_checked_against_this_codecs_identity():
    frame = Codec.encode(AppendEntries(1, 2, 3))
    assert Codec([1, 2, 3], 3).decode(frame) == AppendEntries(1, 2, 3)
    with pytest.raises(ProtocolError):  # another codec (another node) has its own cache and rules
        Codec([1, 2, 3], 1).decode(frame)


def test_bytearray_and_memoryview_frames_decode_to_bytes_data(codec):
    for data in (bytearray(BATCH), memoryview(BATCH)):
        msg = codec.decode(data)
        assert all(type(e.data) is bytes for e in msg.entries) and Codec.encode(msg) == BATCH
    for data in (bytearray(HB), memoryview(HB), memoryview(RV)):  # small: the cache's path
        assert Codec.encode(codec.decode(data)) == bytes(data)
    assert codec._messages == {} or all(type(k) is bytes for k in codec._messages)
    codec.decode(HB)
    assert codec.decode(memoryview(HB)) == codec.decode(HB) and all(type(k) is bytes for k in codec._messages)
