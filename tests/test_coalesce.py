"""Coalescing a turn's AppendEntries (runtime/node/coalesce.py): chaining runs to one follower merge; anything
that does not chain, another kind to the same follower, a new term, or the wire's limits keeps them apart."""
from __future__ import annotations

from raftzmq.protocol.messages import (MAX_ENTRIES_PER_MESSAGE, AppendEntries, AppendResponse, Entry, TimeoutNow,
                                       VoteResponse)
from raftzmq.runtime.node.coalesce import coalesce


def ae(dst, prev, n, term=2, commit=0, prev_term=None, entry_term=None):
    ents = tuple(Entry(prev + k + 1, entry_term or term, b"d%d" % (prev + k + 1)) for k in range(n))
    return AppendEntries(term, 1, dst, prev, term if prev_term is None else prev_term, ents, commit)


def test_chaining_appends_to_one_follower_merge_with_the_later_commit():
    got = coalesce([ae(2, 3, 1, commit=3), ae(3, 3, 1), ae(2, 4, 2, commit=4), ae(3, 4, 1)])
    assert len(got) == 2
    two = got[0]
    assert (two.dst, two.prev_index, two.prev_term, [e.index for e in two.entries], two.commit) == (2, 3, 2, [4, 5, 6], 4)
    assert got[1].dst == 3 and [e.index for e in got[1].entries] == [4, 5]


def test_a_heartbeat_at_the_end_of_the_run_folds_in():
    got = coalesce([ae(2, 3, 2, commit=3), ae(2, 5, 0, commit=5)])
    assert len(got) == 1 and got[0].commit == 5 and len(got[0].entries) == 2


def test_what_does_not_chain_stays_apart():
    gap = [ae(2, 3, 1), ae(2, 5, 1)]  # prev 5 after an append ending at 4
    assert coalesce(gap) == gap
    rewind = [ae(2, 3, 1), ae(2, 2, 1)]  # a probe further back
    assert coalesce(rewind) == rewind
    other_term = [ae(2, 3, 1), ae(2, 4, 1, term=3, prev_term=2)]
    assert coalesce(other_term) == other_term
    lower_commit = [ae(2, 3, 1, commit=4), ae(2, 4, 1, commit=3)]
    assert coalesce(lower_commit) == lower_commit


def test_another_message_to_the_same_follower_ends_the_run_and_keeps_its_place():
    msgs = [ae(2, 3, 1), TimeoutNow(2, 1, 2), ae(2, 4, 1)]
    assert coalesce(msgs) == msgs
    others = [ae(2, 3, 1), VoteResponse(2, 1, 3, True), AppendResponse(2, 1, 3), ae(2, 4, 1)]
    got = coalesce(others)
    assert len(got) == 3 and got[1:] == others[1:3] and len(got[0].entries) == 2


def test_the_wire_limit_starts_a_new_run():
    big = ae(2, 0, MAX_ENTRIES_PER_MESSAGE, prev_term=0)
    nxt = ae(2, MAX_ENTRIES_PER_MESSAGE, 1)
    assert coalesce([big, nxt]) == [big, nxt]
