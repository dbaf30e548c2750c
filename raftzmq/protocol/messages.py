"""The five election messages. Frozen, slotted, validated on construction.

Only leader election is modelled: there is no replicated log, so RequestVote carries no log position and
AppendEntries is a pure heartbeat.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_TERM",
    "Entry",
    "Message",
    "RequestVote",
    "VoteResponse",
    "AppendEntries",
    "AppendResponse",
    "TimeoutNow",
    "MESSAGE_TYPES",
]

MAX_TERM = 2**63 - 1  # fits a signed 64-bit integer, like every Raft implementation's term
_MAX_ID = 2**31 - 1


def _check_int(name: str, value: object, low: int, high: int) -> None:
    # bool is an int subclass; a True term is a bug, not a term.
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of the replicated log: its position, the term of the leader that created it, and the client's
    command as opaque bytes (empty for the no-op a new leader appends). Shared by the wire (AppendEntries), the
    core's Ready (entries to append, entries to apply) and the write-ahead log on disk."""

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


@dataclass(frozen=True, slots=True)
class _Base:
    term: int
    src: int
    dst: int

    def __post_init__(self) -> None:
        # Fast path first: the simulator builds hundreds of thousands of these; the slow path names the field.
        t, s, d = self.term, self.src, self.dst
        if (type(t) is int and type(s) is int and type(d) is int and 0 <= t <= MAX_TERM
                and 0 < s <= _MAX_ID and 0 < d <= _MAX_ID and s != d):
            return
        _check_int("term", self.term, 0, MAX_TERM)
        _check_int("src", self.src, 1, _MAX_ID)
        _check_int("dst", self.dst, 1, _MAX_ID)
        if self.src == self.dst:
            raise ValueError(f"a node does not message itself (src == dst == {self.src})")


@dataclass(frozen=True, slots=True)
class RequestVote(_Base):
    """Ask for a vote at `term`. A pre-vote asks "would you vote for me at `term`?" without anyone changing term.
    `transfer`: the candidate campaigns because the leader told it to (TimeoutNow); such a request passes
    CheckQuorum's leader lease (etcd-io/raft's campaignTransfer).
    `hint`: a pre-vote started because the candidate saw its connection to the leader close (a disconnect
    hint); a voter that saw the same leader's connection close grants it despite the lease. Always a pre-vote."""

    prevote: bool = False
    transfer: bool = False
    hint: bool = False
    kind = "request_vote"

    def __post_init__(self) -> None:
        _Base.__post_init__(self)
        if type(self.prevote) is not bool or type(self.transfer) is not bool or type(self.hint) is not bool:
            raise ValueError("prevote, transfer and hint must be bools")
        if self.hint and (not self.prevote or self.transfer):
            raise ValueError("a hint request is a pre-vote and not a transfer")


@dataclass(frozen=True, slots=True)
class VoteResponse(_Base):
    """Answer to RequestVote. `term` is the request's term when granted, the voter's own term when denied."""

    granted: bool = False
    prevote: bool = False
    kind = "vote_response"

    def __post_init__(self) -> None:
        _Base.__post_init__(self)
        if type(self.granted) is not bool or type(self.prevote) is not bool:
            raise ValueError("granted and prevote must be bools")


@dataclass(frozen=True, slots=True)
class AppendEntries(_Base):
    """Heartbeat from the leader `src` of `term`."""

    kind = "append_entries"


@dataclass(frozen=True, slots=True)
class AppendResponse(_Base):
    """Answer to a heartbeat; lets a leader with CheckQuorum know who is alive, and a stale leader learn the term."""

    success: bool = True
    kind = "append_response"

    def __post_init__(self) -> None:
        _Base.__post_init__(self)
        if type(self.success) is not bool:
            raise ValueError("success must be a bool")


@dataclass(frozen=True, slots=True)
class TimeoutNow(_Base):
    """Leadership transfer: the leader tells `dst` to campaign at once, skipping the pre-vote."""

    kind = "timeout_now"


Message = RequestVote | VoteResponse | AppendEntries | AppendResponse | TimeoutNow

MESSAGE_TYPES: dict[str, type] = {
    cls.kind: cls for cls in (RequestVote, VoteResponse, AppendEntries, AppendResponse, TimeoutNow)
}
