"""The five Raft messages. Frozen, slotted, validated on construction.

`FIELDS` is the one schema of what each kind carries beyond (term, src, dst): the messages' validation, the codec's
wire layout (protocol/codec.py), the fuzzers and the wire section of docs/CONTRACTS.md are derived from it.
Every field has a default, so election-only code that builds `AppendEntries(term, src, dst)` keeps working.

Limits (named here so that the replication code and the KV service can refuse what could never be sent):
  MAX_FRAME_BYTES          one encoded message, whatever its kind (1 MiB)
  MAX_ENTRY_DATA_BYTES     one entry's command (64 KiB): Entry refuses more, the KV service's "value too large"
  MAX_ENTRIES_PER_MESSAGE  entries in one AppendEntries (1024)
  An AppendEntries must also fit its frame: APPEND_ENTRIES_FIXED_BYTES + sum(entry_wire_bytes(e)) <= MAX_FRAME_BYTES
  (`fits_in_append(entries)`); a batch is cut at whichever limit it reaches first. MAX_APPEND_DATA_BYTES is a data
  budget that fits with any count up to MAX_ENTRIES_PER_MESSAGE.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Final, Literal

__all__ = [
    "MAX_TERM",
    "MAX_FRAME_BYTES",
    "MAX_ENTRY_DATA_BYTES",
    "MAX_ENTRIES_PER_MESSAGE",
    "ENTRY_WIRE_BYTES",
    "APPEND_ENTRIES_FIXED_BYTES",
    "MAX_APPEND_DATA_BYTES",
    "entry_wire_bytes",
    "fits_in_append",
    "Field",
    "MessageError",
    "FIELDS",
    "Entry",
    "Message",
    "RequestVote",
    "VoteResponse",
    "AppendEntries",
    "AppendResponse",
    "TimeoutNow",
    "MESSAGE_TYPES",
]

MAX_TERM = 2**63 - 1  # fits a signed 64-bit integer, like every Raft implementation's term (and log index)
_MAX_ID = 2**31 - 1

MAX_FRAME_BYTES: Final = 1 << 20
MAX_ENTRY_DATA_BYTES: Final = 64 << 10
MAX_ENTRIES_PER_MESSAGE: Final = 1024
# What the wire spends besides the data (protocol/codec.py checks these against its struct layouts at import):
ENTRY_WIRE_BYTES: Final = 20  # index u64, term u64, data length u32
APPEND_ENTRIES_FIXED_BYTES: Final = 54  # version, kind, term, src, dst, prev_index, prev_term, commit, round, count
# A data budget that always fits, whatever the count (<= MAX_ENTRIES_PER_MESSAGE): the `max_bytes` to slice a batch
# with (RaftLog.entries_from(next, MAX_ENTRIES_PER_MESSAGE, MAX_APPEND_DATA_BYTES) is always one valid message).
MAX_APPEND_DATA_BYTES: Final = MAX_FRAME_BYTES - APPEND_ENTRIES_FIXED_BYTES - ENTRY_WIRE_BYTES * MAX_ENTRIES_PER_MESSAGE


def entry_wire_bytes(entry: Entry) -> int:
    """Bytes `entry` adds to an AppendEntries frame."""
    return ENTRY_WIRE_BYTES + len(entry.data)


def fits_in_append(entries: tuple[Entry, ...] | list[Entry]) -> bool:
    """True if one AppendEntries can carry `entries` (count and frame size; each entry is already in limits)."""
    return (len(entries) <= MAX_ENTRIES_PER_MESSAGE and APPEND_ENTRIES_FIXED_BYTES
            + ENTRY_WIRE_BYTES * len(entries) + sum(len(e.data) for e in entries) <= MAX_FRAME_BYTES)


FieldType = Literal["bool", "int", "entries"]


@dataclass(frozen=True, slots=True)
class Field:
    """One kind-specific field: `bool`, `int` (0..MAX_TERM, never a bool) or `entries` (a tuple of Entry within
    the limits above, consecutive from prev_index + 1, terms non-decreasing from prev_term and <= the message's
    term)."""

    name: str
    type: FieldType
    doc: str


FIELDS: Final[dict[str, tuple[Field, ...]]] = {
    "request_vote": (
        Field("prevote", "bool", "a pre-vote: would you vote for me at `term`? (nobody changes term)"),
        Field("transfer", "bool", "campaign ordered by the leader (TimeoutNow); passes the leader lease"),
        Field("hint", "bool", "pre-vote started by a disconnect hint; needs prevote and not transfer"),
        Field("last_log_index", "int", "index of the candidate's last log entry (0: empty log)"),
        Field("last_log_term", "int", "term of that entry (0 iff last_log_index is 0; <= term)"),
    ),
    "vote_response": (
        Field("granted", "bool", "the vote (or pre-vote) is granted"),
        Field("prevote", "bool", "answers a pre-vote"),
    ),
    "append_entries": (
        Field("prev_index", "int", "index of the entry just before `entries` (0: from the start)"),
        Field("prev_term", "int", "term of that entry (0 iff prev_index is 0; <= term)"),
        Field("entries", "entries", "entries prev_index+1, prev_index+2, ... (empty: a heartbeat)"),
        Field("commit", "int", "the leader's commit index"),
        Field("round", "int", "the leader's read round (ReadIndex, thesis §6.4): echoed in the answer; 0 before "
                              "the term's first read"),
    ),
    "append_response": (
        Field("success", "bool", "the follower's log matched at the request's prev_index"),
        Field("index", "int", "success: highest index known to match the leader; reject: the failed prev_index"),
        Field("conflict_index", "int", "reject: first index of conflict_term in the follower's log, or its last "
                                       "index + 1 when shorter (0 on success)"),
        Field("conflict_term", "int", "reject: term of the follower's entry at prev_index, 0 if its log is "
                                      "shorter (0 on success)"),
        Field("round", "int", "the read round of the AppendEntries this answers (0 for a stale term's)"),
    ),
    "timeout_now": (),
}


class MessageError(ValueError):
    """A message that cannot be built. `reason` names the rule, as the codec's ProtocolError reasons do:
    bad_int, bad_flag, bad_position, bad_entries, too_many_entries, too_large, bad_field."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


def _check_int(name: str, value: object, low: int, high: int) -> None:
    # bool is an int subclass; a True term is a bug, not a term.
    if type(value) is not int or not low <= value <= high:
        raise MessageError("bad_int", f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _check_position(what: str, index: int, term: int, msg_term: int) -> None:
    """A log position is (0, 0) (before the first entry) or both >= 1, and no entry is newer than its message."""
    if (index == 0) != (term == 0):
        raise MessageError("bad_position", f"{what}: index {index} with term {term} (0 only together)")
    if term > msg_term:
        raise MessageError("bad_position", f"{what}: term {term} is above the message's term {msg_term}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of the replicated log: its position, the term of the leader that created it, and the client's
    command as opaque bytes (empty for the no-op a new leader appends; at most MAX_ENTRY_DATA_BYTES). Shared by
    the wire (AppendEntries), the core's Ready (entries to append, entries to apply) and the write-ahead log."""

    index: int
    term: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if type(self.index) is not int or not 1 <= self.index <= MAX_TERM:
            _check_int("index", self.index, 1, MAX_TERM)
        if type(self.term) is not int or not 1 <= self.term <= MAX_TERM:
            _check_int("term", self.term, 1, MAX_TERM)
        if type(self.data) is not bytes:
            raise ValueError(f"entry data must be bytes, got {type(self.data).__name__}")
        if len(self.data) > MAX_ENTRY_DATA_BYTES:
            raise ValueError(f"entry data of {len(self.data)} bytes > MAX_ENTRY_DATA_BYTES ({MAX_ENTRY_DATA_BYTES})")


def _validate(msg: Message) -> None:
    """The slow path of every message's validation, derived from FIELDS: raises ValueError naming the first field
    that is wrong. The fast paths in __post_init__ accept exactly what this accepts (tests/test_messages_schema)."""
    _check_int("term", msg.term, 0, MAX_TERM)
    _check_int("src", msg.src, 1, _MAX_ID)
    _check_int("dst", msg.dst, 1, _MAX_ID)
    if msg.src == msg.dst:
        raise MessageError("bad_field", f"a node does not message itself (src == dst == {msg.src})")
    for f in FIELDS[msg.kind]:
        value = getattr(msg, f.name)
        if f.type == "bool":
            if type(value) is not bool:
                raise MessageError("bad_flag", f"{f.name} must be a bool, got {value!r}")
        elif f.type == "int":
            _check_int(f.name, value, 0, MAX_TERM)
        else:
            _check_entries(msg, value)  # type: ignore[arg-type]  # only append_entries has an entries field
    if isinstance(msg, RequestVote):
        if msg.hint and (not msg.prevote or msg.transfer):
            raise MessageError("bad_flag", "a hint request is a pre-vote and not a transfer")
        _check_position("last log", msg.last_log_index, msg.last_log_term, msg.term)
    elif isinstance(msg, AppendEntries):
        _check_position("prev", msg.prev_index, msg.prev_term, msg.term)
    elif isinstance(msg, AppendResponse):
        if msg.success and (msg.conflict_index or msg.conflict_term):
            raise MessageError("bad_field", "a successful append_response carries no conflict hint")


def _check_entries(msg: AppendEntries, entries: object) -> None:
    if type(entries) is not tuple:
        raise MessageError("bad_entries", f"entries must be a tuple of Entry, got {type(entries).__name__}")
    if len(entries) > MAX_ENTRIES_PER_MESSAGE:
        raise MessageError("too_many_entries", f"{len(entries)} entries > MAX_ENTRIES_PER_MESSAGE "
                                                f"({MAX_ENTRIES_PER_MESSAGE})")
    index, term = msg.prev_index, msg.prev_term
    for e in entries:
        if type(e) is not Entry:
            raise MessageError("bad_entries", f"entries must be Entry objects, got {type(e).__name__}")
        if type(index) is int and e.index != index + 1:
            raise MessageError("bad_entries", f"entry index {e.index} where {index + 1} belongs "
                                              "(consecutive from prev_index + 1)")
        if type(term) is int and e.term < term:
            raise MessageError("bad_entries", f"entry {e.index}: term {e.term} after term {term} "
                                              "(terms never decrease in a log)")
        if e.term > msg.term:
            raise MessageError("bad_entries", f"entry {e.index}: term {e.term} is above the message's "
                                              f"term {msg.term}")
        index, term = e.index, e.term
    if not fits_in_append(entries):
        raise MessageError("too_large", f"entries do not fit in one frame of {MAX_FRAME_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class _Base:
    term: int
    src: int
    dst: int

    def __post_init__(self) -> None:
        # Fast path first: the simulator builds hundreds of thousands of these; the slow path names the field.
        t, s, d = self.term, self.src, self.dst
        if not (type(t) is int and type(s) is int and type(d) is int and 0 <= t <= MAX_TERM
                and 0 < s <= _MAX_ID and 0 < d <= _MAX_ID and s != d):
            _reject(self)  # type: ignore[arg-type]  # _Base is abstract


def _reject(msg: Message) -> None:
    """A fast path said no: the slow path says which field and why."""
    _validate(msg)
    raise MessageError("bad_field", f"invalid message {msg!r}")  # unreachable while fast and slow paths agree (tested)


def _position_ok(index: object, term: object, msg_term: int) -> bool:
    """(0, 0), or index in 1..MAX_TERM with term in 1..msg_term; never a bool."""
    return type(index) is int and type(term) is int and (
        (index == 0 and term == 0) or (0 < index <= MAX_TERM and 0 < term <= msg_term))


@dataclass(frozen=True, slots=True)
class RequestVote(_Base):
    """Ask for a vote at `term`. A pre-vote asks "would you vote for me at `term`?" without anyone changing term.
    `transfer`: the candidate campaigns because the leader told it to (TimeoutNow); such a request passes
    CheckQuorum's leader lease (etcd-io/raft's campaignTransfer).
    `hint`: a pre-vote started because the candidate saw its connection to the leader close (a disconnect
    hint); a voter that saw the same leader's connection close grants it despite the lease. Always a pre-vote.
    `last_log_index`, `last_log_term`: the candidate's last log entry ((0, 0) for an empty log), for the voter's
    "at least as up to date" check (Raft §5.4.1)."""

    prevote: bool = False
    transfer: bool = False
    hint: bool = False
    last_log_index: int = 0
    last_log_term: int = 0
    kind = "request_vote"

    def __post_init__(self) -> None:
        _Base.__post_init__(self)
        p, x, h = self.prevote, self.transfer, self.hint
        if not (type(p) is bool and type(x) is bool and type(h) is bool and (not h or (p and not x))
                and _position_ok(self.last_log_index, self.last_log_term, self.term)):
            _reject(self)


@dataclass(frozen=True, slots=True)
class VoteResponse(_Base):
    """Answer to RequestVote. `term` is the request's term when granted, the voter's own term when denied."""

    granted: bool = False
    prevote: bool = False
    kind = "vote_response"

    def __post_init__(self) -> None:
        _Base.__post_init__(self)
        if type(self.granted) is not bool or type(self.prevote) is not bool:
            _reject(self)


@dataclass(frozen=True, slots=True)
class AppendEntries(_Base):
    """From the leader `src` of `term`: `entries` (consecutive, from prev_index + 1) to append after the entry at
    (`prev_index`, `prev_term`), which the follower must hold for the append to succeed, and the leader's
    `commit` index. Without entries it is a heartbeat (and still carries the position and commit). `round`: the
    leader's read round (ReadIndex): the follower echoes it, so an answer proves the follower took `src` as its
    leader after that round began. It changes only when reads arrive, so an idle leader's heartbeats repeat
    (and their encoding is cached)."""

    prev_index: int = 0
    prev_term: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    round: int = 0
    kind = "append_entries"

    def __post_init__(self) -> None:
        _Base.__post_init__(self)
        c, e, r = self.commit, self.entries, self.round
        if not (type(c) is int and 0 <= c <= MAX_TERM and type(e) is tuple and type(r) is int and 0 <= r <= MAX_TERM
                and _position_ok(self.prev_index, self.prev_term, self.term)):
            _reject(self)
        elif e:
            _check_entries(self, e)


@dataclass(frozen=True, slots=True)
class AppendResponse(_Base):
    """Answer to AppendEntries; lets a leader with CheckQuorum know who is alive, and a stale leader learn the
    term. `success`: `index` is the highest index the follower now knows matches the leader's log. Reject:
    `index` is the prev_index that failed, and (conflict_term, conflict_index) the fast-backup hint: the term of
    the follower's entry at prev_index (0 if its log is shorter) and the first index of that term in its log (its
    last index + 1 when shorter). `round`: the read round of the AppendEntries answered (its `round`)."""

    success: bool = True
    index: int = 0
    conflict_index: int = 0
    conflict_term: int = 0
    round: int = 0
    kind = "append_response"

    def __post_init__(self) -> None:
        _Base.__post_init__(self)
        ok, i, ci, ct, r = self.success, self.index, self.conflict_index, self.conflict_term, self.round
        if not (type(ok) is bool and type(i) is int and type(ci) is int and type(ct) is int and type(r) is int
                and 0 <= i <= MAX_TERM and 0 <= ci <= MAX_TERM and 0 <= ct <= MAX_TERM and 0 <= r <= MAX_TERM
                and not (ok and (ci or ct))):
            _reject(self)


@dataclass(frozen=True, slots=True)
class TimeoutNow(_Base):
    """Leadership transfer: the leader tells `dst` to campaign at once, skipping the pre-vote."""

    kind = "timeout_now"


Message = RequestVote | VoteResponse | AppendEntries | AppendResponse | TimeoutNow

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.kind: cls for cls in (RequestVote, VoteResponse, AppendEntries, AppendResponse, TimeoutNow)
}

for _kind, _cls in MESSAGE_TYPES.items():  # the schema and the classes say the same (checked once, at import)
    if [f.name for f in FIELDS[_kind]] != [f.name for f in fields(_cls) if f.name not in ("term", "src", "dst")]:
        raise RuntimeError(f"FIELDS[{_kind!r}] does not match {_cls.__name__}'s fields")
