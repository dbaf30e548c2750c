"""Bytes <-> messages, with strict validation at the one boundary where bytes come in.

Wire format (version 5; 4 had no read `round` in append_entries and append_response): one ZeroMQ frame per message, packed big-endian, laid out from the schema in
protocol/messages.py (`FIELDS`): a common header

    version u8 (5) | kind u8 | term u64 | src u32 | dst u32

then the kind's fields in schema order: all its bools in one flags byte (bit i = its i-th bool; other bits must be
0), each int as u64 (<= MAX_TERM), an entry list as its count u32; after that fixed part, for each entry
`index u64 | term u64 | data length u32`, then the entries' data back to back. `layout_markdown()` renders the
table that docs/CONTRACTS.md shows. Version 3 was compact JSON; it was replaced by measurement (docs/benchmarks.md,
"Wire encoding": `raftzmq bench codec`): a packed frame costs 0.6x of the v3 JSON codec for a heartbeat, and a
tenth of JSON for 100 x 1 KB entries, which JSON has to carry as base64. The payload stays in the same frame
rather than a second ZeroMQ frame: measured, that saves nothing worth a second limit (ZMQ_MAXMSGSIZE bounds each
frame, not a multipart message), so one frame keeps one limit, MAX_FRAME_BYTES, from which the transport's derives.

Every field is checked (version, kind known, exact length, integer ranges, ids in the cluster, destination is us,
entry limits and consistency) so that nothing malformed or spoofed from outside the member set ever reaches the
core. Any failure raises ProtocolError and nothing else.
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import attrgetter

from .messages import (
    APPEND_ENTRIES_FIXED_BYTES,
    ENTRY_WIRE_BYTES,
    FIELDS,
    MAX_ENTRIES_PER_MESSAGE,
    MAX_ENTRY_DATA_BYTES,
    MAX_FRAME_BYTES,
    MAX_TERM,
    MESSAGE_TYPES,
    Entry,
    AppendEntries,
    Message,
    MessageError,
)

__all__ = ["WIRE_VERSION", "MAX_FRAME_BYTES", "KIND_CODES", "REASONS", "ProtocolError", "Codec", "Layout",
           "LAYOUTS", "layout_markdown"]

WIRE_VERSION = 5
CACHE_ENTRIES = 1024  # per direction; a cache that fills is emptied (new terms make the old entries useless)
CACHE_MAX_FRAME = 64  # only small frames (heartbeats, votes, answers) are remembered; entries never are
KIND_CODES: dict[str, int] = {"request_vote": 1, "vote_response": 2, "append_entries": 3, "append_response": 4,
                              "timeout_now": 5}
HEADER = struct.Struct(">BBQII")
ENTRY = struct.Struct(">QQI")

# Every reason a frame can be refused for (the transport counts them as rejected:<reason>).
REASONS = frozenset({
    "too_large", "truncated", "trailing_bytes", "bad_version", "unknown_kind", "bad_term", "unknown_source",
    "spoofed_source", "wrong_destination", "bad_flag", "bad_int", "bad_position", "too_many_entries",
    "entry_too_large", "bad_entries", "bad_field",
})


class ProtocolError(ValueError):
    """A frame that is not a valid message for this node. `reason` is a short machine-friendly tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Layout:
    """The wire layout of one kind, derived from FIELDS. `slots` maps each packed value after the header to its
    field: a bool field shares the flags slot, an entries field's slot is its count."""

    kind: str
    code: int
    struct: struct.Struct
    bools: tuple[str, ...]
    ints: tuple[str, ...]  # in slot order
    entries: str | None  # the entries field, if any
    slots: tuple[str, ...]  # "flags" or a field name, per packed value after (version, kind, term, src, dst)

    @property
    def size(self) -> int:
        return self.struct.size


def _layout(kind: str) -> Layout:
    fields = FIELDS[kind]
    bools = tuple(f.name for f in fields if f.type == "bool")
    if [f.name for f in fields[:len(bools)]] != list(bools):
        raise RuntimeError(f"FIELDS[{kind!r}]: the bools come first (they share the flags byte)")
    fmt, slots = ">BBQII", list[str]()
    if bools:
        fmt, slots = fmt + "B", ["flags"]
    for f in fields:
        if f.type == "int":
            fmt, slots = fmt + "Q", [*slots, f.name]
        elif f.type == "entries":
            fmt, slots = fmt + "I", [*slots, f.name]
    entries = next((f.name for f in fields if f.type == "entries"), None)
    return Layout(kind, KIND_CODES[kind], struct.Struct(fmt), bools, tuple(f.name for f in fields if f.type == "int"),
                  entries, tuple(slots))


LAYOUTS: dict[str, Layout] = {kind: _layout(kind) for kind in FIELDS}
_BY_CODE: dict[int, tuple[Layout, type]] = {lay.code: (lay, MESSAGE_TYPES[k]) for k, lay in LAYOUTS.items()}
if ENTRY.size != ENTRY_WIRE_BYTES or LAYOUTS["append_entries"].size != APPEND_ENTRIES_FIXED_BYTES:
    raise RuntimeError("messages.py's wire sizes do not match the codec's layout")

_TYPE_NAMES = {"B": "u8", "Q": "u64", "I": "u32"}
# flags byte -> the bools it stands for, per number of bools (decoding looks them up)
_FLAG_VALUES = {n: [tuple(bool(f >> i & 1) for i in range(n)) for f in range(1 << n)] for n in range(1, 9)}


def layout_markdown() -> str:
    """The wire layout table of docs/CONTRACTS.md (a test keeps the document equal to this)."""
    rows = ["| kind | code | after the header (big-endian) |", "|---|---|---|"]
    for kind, lay in LAYOUTS.items():
        cells = []
        for slot, ch in zip(lay.slots, lay.struct.format[len(">BBQII"):]):
            if slot == "flags":
                cells.append("flags u8 (" + ", ".join(f"bit {i} {b}" for i, b in enumerate(lay.bools)) + ")")
            elif slot == lay.entries:
                cells.append(f"{slot} count u32")
            else:
                cells.append(f"{slot} {_TYPE_NAMES[ch]}")
        if lay.entries:
            cells.append("then per entry: index u64, term u64, data length u32; then the data of each entry")
        rows.append(f"| `{kind}` | {lay.code} | {'; '.join(cells) or '(nothing)'} |")
    return "\n".join(rows)


def _encoder(lay: Layout) -> Callable[[Message], bytes]:
    """The encoding function of one kind, specialised from its layout at import."""
    pack, code, nb = lay.struct.pack, lay.code, len(lay.bools)
    get = attrgetter("term", "src", "dst", *(slot for slot in lay.slots if slot != "flags"))
    if nb:
        get_flags = attrgetter(*lay.bools)
        codes = {(v if nb > 1 else v[0]): i for i, v in enumerate(_FLAG_VALUES[nb])}

        def encode_flags(msg: Message) -> bytes:
            vals = get(msg)
            return pack(WIRE_VERSION, code, vals[0], vals[1], vals[2], codes[get_flags(msg)], *vals[3:])
        return encode_flags
    if lay.entries is None:
        return lambda msg: pack(WIRE_VERSION, code, *get(msg))
    at = 3 + lay.slots.index(lay.entries)
    pack_entry = ENTRY.pack

    def encode_entries(msg: Message) -> bytes:
        vals = get(msg)
        entries: tuple[Entry, ...] = vals[at]
        head = pack(WIRE_VERSION, code, *vals[:at], len(entries), *vals[at + 1:])
        if not entries:
            return head
        parts = [head]
        parts += [pack_entry(e.index, e.term, len(e.data)) for e in entries]
        parts += [e.data for e in entries]
        return b"".join(parts)
    return encode_entries


_ENCODERS = {kind: _encoder(lay) for kind, lay in LAYOUTS.items()}


class Codec:
    """Encodes any message; decodes only messages a member of `members` sent to `self_id`.

    An idle cluster sends the same few messages over and over (a leader's heartbeat to each peer, a follower's
    answer), so `encode_cached` and `decode` remember recent results for small frames: a message and its frame
    determine each other, and whether a frame is valid depends only on its bytes and this codec's fixed (members,
    self_id). Only valid frames are remembered; both caches are bounded, and messages carrying entries are never
    cached (they are large and do not repeat).
    """

    def __init__(self, members: Iterable[int], self_id: int) -> None:
        self.members = frozenset(members)
        if self_id not in self.members:
            raise ValueError(f"node {self_id} is not a member of {sorted(self.members)}")
        self.self_id = self_id
        self._frames: dict[Message, bytes] = {}
        self._messages: dict[bytes, Message] = {}

    def encode_cached(self, msg: Message) -> bytes:
        if type(msg) is AppendEntries and msg.entries:
            return self.encode(msg)
        frame = self._frames.get(msg)
        if frame is None:
            if len(self._frames) >= CACHE_ENTRIES:
                self._frames.clear()
            frame = self._frames[msg] = self.encode(msg)
        return frame

    @staticmethod
    def encode(msg: Message) -> bytes:
        """The frame of `msg` (a valid message always fits in MAX_FRAME_BYTES: its construction checked)."""
        return _ENCODERS[msg.kind](msg)

    def decode(self, frame: bytes) -> Message:
        if len(frame) > CACHE_MAX_FRAME:  # never hash a large frame
            return self._decode(frame if type(frame) is bytes else bytes(frame))
        try:
            msg = self._messages.get(frame)
        except TypeError:  # bytearray: not hashable, not cached
            return self._decode(bytes(frame))
        if msg is None:
            if type(frame) is not bytes:  # a (hashable) memoryview: decoded, never kept as a key
                return self._decode(bytes(frame))
            msg = self._decode(frame)
            if len(self._messages) >= CACHE_ENTRIES:
                self._messages.clear()
            self._messages[frame] = msg
        return msg

    def _decode(self, frame: bytes) -> Message:
        n = len(frame)
        if n > MAX_FRAME_BYTES:
            raise ProtocolError("too_large", f"{n} bytes > {MAX_FRAME_BYTES}")
        if n < 2:
            raise ProtocolError("truncated", f"{n} bytes")
        if frame[0] != WIRE_VERSION:
            raise ProtocolError("bad_version", str(frame[0]))
        found = _BY_CODE.get(frame[1])
        if found is None:
            raise ProtocolError("unknown_kind", str(frame[1]))
        lay, cls = found
        if n < lay.size:
            raise ProtocolError("truncated", f"{n} bytes < {lay.size} for {lay.kind}")
        if lay.entries is None and n != lay.size:
            raise ProtocolError("trailing_bytes", f"{n} bytes > {lay.size} for {lay.kind}")
        vals = lay.struct.unpack_from(frame)
        term, src, dst = vals[2], vals[3], vals[4]
        if term > MAX_TERM:
            raise ProtocolError("bad_term", str(term))
        if src not in self.members:
            raise ProtocolError("unknown_source", str(src))
        if src == self.self_id:
            raise ProtocolError("spoofed_source", "claims to come from this node")
        if dst != self.self_id:
            raise ProtocolError("wrong_destination", str(dst))
        rest = vals[5:]
        flags: tuple[bool, ...] = ()
        if lay.bools:  # the bools come first, in the flags byte (FIELDS puts a kind's bools first)
            if rest[0] >> len(lay.bools):
                raise ProtocolError("bad_flag", f"flags 0x{rest[0]:02x} for {lay.kind}")
            flags, rest = _FLAG_VALUES[len(lay.bools)][rest[0]], rest[1:]
        if rest and max(rest) > MAX_TERM:  # (an entry count, u32, is always below)
            slot, value = next((k, v) for k, v in zip(lay.slots[-len(rest):], rest) if v > MAX_TERM)
            raise ProtocolError("bad_int", f"{slot}={value}")
        if lay.entries is not None:
            at = lay.slots.index(lay.entries) - (1 if lay.bools else 0)
            rest = (*rest[:at], self._entries(frame, lay.size, rest[at]), *rest[at + 1:])
        try:
            return cls(term, src, dst, *flags, *rest)  # type: ignore[no-any-return]
        except MessageError as exc:  # fields that are each in range but contradict each other
            raise ProtocolError(exc.reason, str(exc)[:80]) from None
    @staticmethod
    def _entries(frame: bytes, start: int, count: int) -> tuple[Entry, ...]:
        if count > MAX_ENTRIES_PER_MESSAGE:
            raise ProtocolError("too_many_entries", f"{count} > {MAX_ENTRIES_PER_MESSAGE}")
        if not count:
            if len(frame) != start:
                raise ProtocolError("trailing_bytes", f"{len(frame) - start} bytes after a heartbeat")
            return ()
        off = start + ENTRY_WIRE_BYTES * count
        if len(frame) < off:
            raise ProtocolError("truncated", f"{len(frame)} bytes < {off} for {count} entry headers")
        n, out = len(frame), []
        for index, term, length in ENTRY.iter_unpack(memoryview(frame)[start:off]):
            if length > MAX_ENTRY_DATA_BYTES:
                raise ProtocolError("entry_too_large", f"entry {index}: {length} > {MAX_ENTRY_DATA_BYTES}")
            if not (0 < index <= MAX_TERM and 0 < term <= MAX_TERM):
                raise ProtocolError("bad_entries", f"entry index {index}, term {term}")
            end = off + length
            if end > n:
                raise ProtocolError("truncated", f"{n} bytes, entry {index} needs {end}")
            out.append(Entry(index, term, frame[off:end]))
            off = end
        if off != n:
            raise ProtocolError("trailing_bytes", f"{n} bytes, entries end at {off}")
        return tuple(out)

