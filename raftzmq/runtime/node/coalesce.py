"""Coalescing a loop turn's AppendEntries: one message per follower where the core produced several in a row.

Within one loop turn the node may carry out several Readys (e.g. ten client proposals read in one wake-up), and
the core sends each proposal's entry to each follower in its own AppendEntries. When the turn's messages wait for
the turn's group commit anyway, consecutive AppendEntries of one term to one follower whose positions chain (the
second's prev_index/prev_term is the first's last entry) say exactly what one AppendEntries with both entry runs
and the later commit index says: the follower would apply them one after the other, and its one answer (`index` =
the end of the run) frees every in-flight slot the leader counted for them (Progress.on_success frees up to an
index). The commit index of the later message is valid for the merged one (it ends where the later one ends).
Nothing else is reordered: a message to the same follower that is not a chaining AppendEntries ends the run, and
messages to other nodes keep their order relative to each other. A merged message must fit the wire's limits
(`fits_in_append`); otherwise the run starts anew.
"""
from __future__ import annotations

from collections.abc import Sequence

from raftzmq.protocol.messages import (APPEND_ENTRIES_FIXED_BYTES, ENTRY_WIRE_BYTES, MAX_ENTRIES_PER_MESSAGE,
                                       MAX_FRAME_BYTES, AppendEntries, Entry, Message)

__all__ = ["coalesce"]


class _Run:
    """An AppendEntries at `at` in the output that later ones to the same follower extend (built once, at the
    end: merging pairwise would copy the growing entry tuple for every message, quadratic in a turn's proposals)."""

    __slots__ = ("at", "first", "entries", "commit", "end", "end_term", "size", "merged")

    def __init__(self, at: int, msg: AppendEntries) -> None:
        self.at, self.first, self.commit = at, msg, msg.commit
        self.entries: list[Entry] = list(msg.entries)
        self.end = msg.prev_index + len(msg.entries)
        self.end_term = msg.entries[-1].term if msg.entries else msg.prev_term
        self.size = APPEND_ENTRIES_FIXED_BYTES + sum(ENTRY_WIRE_BYTES + len(e.data) for e in msg.entries)
        self.merged = False

    def extend(self, msg: AppendEntries) -> bool:
        """Take `msg` into the run if it chains on and the merged message still fits the wire's limits."""
        first, ents = self.first, msg.entries
        if not (msg.term == first.term and msg.src == first.src and msg.prev_index == self.end
                and msg.prev_term == self.end_term and msg.commit >= self.commit):
            return False
        size = self.size + sum(ENTRY_WIRE_BYTES + len(e.data) for e in ents)
        if len(self.entries) + len(ents) > MAX_ENTRIES_PER_MESSAGE or size > MAX_FRAME_BYTES:
            return False
        self.entries += ents
        self.size, self.commit, self.merged = size, msg.commit, True
        if ents:
            self.end, self.end_term = ents[-1].index, ents[-1].term
        return True

    def message(self) -> AppendEntries:
        f = self.first
        return AppendEntries(f.term, f.src, f.dst, f.prev_index, f.prev_term, tuple(self.entries), self.commit)


def coalesce(messages: Sequence[Message]) -> list[Message]:
    """`messages` with chaining AppendEntries to one destination merged (see the module docstring)."""
    out: list[Message] = []
    open_run: dict[int, _Run] = {}  # dst -> the run a next AppendEntries to it may extend
    runs: list[_Run] = []
    for msg in messages:
        dst = msg.dst
        if type(msg) is AppendEntries:
            run = open_run.get(dst)
            if run is not None and run.extend(msg):
                continue
            run = open_run[dst] = _Run(len(out), msg)
            runs.append(run)
        else:
            open_run.pop(dst, None)  # anything else to that node ends the run: its order is kept
        out.append(msg)
    for run in runs:
        if run.merged:
            out[run.at] = run.message()
    return out
