"""What a core hands its embedding after each input: the `Ready` (named `Output` since contract v1).

Contract v2 (this module) grew the v1 shape for the whole of Raft, keeping every v1 name and position, so an
election-only core that builds `Output(persist, messages, events, deadline)` and `HardState(term, voted_for)` works
unchanged:

    HardState(term=0, voted_for=None, commit=0)
    Output(persist, messages, events, deadline, entries=(), committed=(), early=(), reads=())   `Ready` is the same
    ReadState(ctx, index, leader)

- `persist`: the hard state to make durable, or None when it did not change.
- `entries`: entries to make durable; the log is replaced from `entries[0].index` on (the suffix from there is
  truncated, then the entries are appended). Written in the same group commit as `persist`.
- `messages`: to send once everything they depend on is durable (see `must_sync`).
- `committed`: newly committed entries, in log order, to apply once they are durable.
- `early`: messages that may leave *before* `persist` and `entries` are durable (the embedding sends them first,
  then makes the rest durable). Only messages that promise nothing a crash could take back belong here: a
  candidate's RequestVotes (docs/core-contract.md, "Asking before the own vote is durable") and, from a core that
  takes durability acknowledgements (`persisted`), a leader's AppendEntries with new entries (thesis §10.2.1,
  "Durability acknowledgements"). A core counts its own vote (and log) only once `persisted` says they are durable,
  or, without `persisted`, at its next input: an embedding then carries out a Ready completely (the persist
  durable) before it gives the core anything else.
- `reads`: answers to `read_index(ctx, now)` (an optional input, docs/core-contract.md "ReadIndex"), in any
  Ready: `ReadState(ctx, index, leader)`. `index` is the commit index the read may be served at once the state
  machine has applied it; None means refused (`leader` names the leader this node knows, its own id when it
  leads but cannot serve reads yet). An embedding hands them to the state machine after `committed`.
- `events`, `deadline`: as in v1.

`must_sync(prev, ready)` is the rule for the fsync: needed when term or vote changed, or when there are entries; a
change of the commit index alone needs none (a lost commit index is learnt again from the leader).
Election-only cores (and this repository's core until replication lands) leave `entries` and `committed` empty
and `commit` at 0.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .messages import Entry, Message

__all__ = ["CONTRACT_VERSION", "HardState", "Event", "ReadState", "Output", "Ready", "must_sync", "hard_state_changed"]

CONTRACT_VERSION = 2  # 1: Output(persist, messages, events, deadline), HardState(term, voted_for)


@dataclass(frozen=True, slots=True)
class HardState:
    """What must survive a crash: the current term, whom we voted for in it, and the commit index."""

    term: int = 0
    voted_for: int | None = None
    commit: int = 0

    def __post_init__(self) -> None:
        if type(self.term) is not int or self.term < 0:
            raise ValueError(f"term must be a non-negative int, got {self.term!r}")
        if self.voted_for is not None and (type(self.voted_for) is not int or self.voted_for < 1):
            raise ValueError(f"voted_for must be None or a node id, got {self.voted_for!r}")
        if type(self.commit) is not int or self.commit < 0:
            raise ValueError(f"commit must be a non-negative int, got {self.commit!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, named as in docs/log-schema.md; `term` is the node's term after it."""

    name: str
    term: int
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReadState:
    """The answer to `read_index(ctx, now)`: serve the read `ctx` once the applied index reaches `index` (the
    leader's commit index when the read arrived, confirmed by a quorum after it did), or refused (`index` None:
    not the leader, deposed, or no entry of its term committed yet); `leader` is the leader this node knows."""

    ctx: int
    index: int | None
    leader: int | None


@dataclass(slots=True)
class Output:
    """The Ready: everything one input produced. Positional v1 fields first; v2 fields default to empty."""

    persist: HardState | None
    messages: list[Message]
    events: list[Event]
    deadline: float  # call tick() at or after this time
    entries: Sequence[Entry] = ()  # to make durable; the log is replaced from entries[0].index on
    committed: Sequence[Entry] = ()  # newly committed, in log order: apply after they are durable
    early: Sequence[Message] = ()  # may leave before persist/entries are durable (a candidate's RequestVotes)
    reads: Sequence[ReadState] = ()  # answers to read_index (ReadIndex): hand to the state machine after committed


Ready = Output


def hard_state_changed(prev: HardState | None, state: HardState) -> bool:
    """Term or vote differ from `prev` (None: nothing known, so yes). The commit index is not looked at."""
    return prev is None or state.term != prev.term or state.voted_for != prev.voted_for


def must_sync(prev: HardState | None, ready: Output) -> bool:
    """Whether applying `ready` needs an fsync before anything that depends on it leaves: its term or vote
    changed against `prev` (the last durable hard state; None when unknown), or it has entries to append.
    A hard state that only moved the commit index needs none."""
    if ready.entries:
        return True
    persist = ready.persist
    return persist is not None and hard_state_changed(prev, persist)
