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

from raftzmq.protocol.messages import AppendEntries, Message, fits_in_append

__all__ = ["coalesce"]


def coalesce(messages: Sequence[Message]) -> list[Message]:
    """`messages` with chaining AppendEntries to one destination merged (see the module docstring)."""
    out: list[Message] = []
    open_at: dict[int, int] = {}  # dst -> position in `out` of an AppendEntries that a next one may extend
    for msg in messages:
        dst = msg.dst
        if type(msg) is AppendEntries:
            at = open_at.get(dst)
            if at is not None:
                prev = out[at]
                assert type(prev) is AppendEntries
                end = prev.prev_index + len(prev.entries)
                end_term = prev.entries[-1].term if prev.entries else prev.prev_term
                if (msg.term == prev.term and msg.src == prev.src and msg.prev_index == end
                        and msg.prev_term == end_term and msg.commit >= prev.commit):
                    entries = prev.entries + msg.entries
                    if fits_in_append(entries):
                        out[at] = AppendEntries(prev.term, prev.src, dst, prev.prev_index, prev.prev_term,
                                                entries, msg.commit)
                        continue
            open_at[dst] = len(out)
        else:
            open_at.pop(dst, None)  # anything else to that node ends the run: its order is kept
        out.append(msg)
    return out
