"""The simulator's disk (lab/sim/simdisk.py): what of a node's hard state and log survives a crash, per disk mode."""
from __future__ import annotations

import random

import pytest

from raftzmq.lab.sim.simdisk import SimDisk
from raftzmq.protocol.core import HardState
from raftzmq.protocol.messages import Entry
from raftzmq.runtime.node.wal import FILE_HEADER, RECORD_OVERHEAD


def run(first, last, term, size=4):
    return [Entry(i, term, b"c" * size) for i in range(first, last + 1)]


def disk(mode, seed=1):
    return SimDisk(mode, random.Random(seed))


def test_safe_mode_makes_each_write_durable_and_a_crash_keeps_it():
    d = disk("safe")
    assert d.log_write(1, run(1, 3, 1), now=0.0) is None
    assert d.log_write(1, [Entry(2, 2)], now=0.1) is None  # replaces 2..3
    d.crash(1)
    assert d.load_log(1).entries == [run(1, 1, 1)[0], Entry(2, 2)]
    assert d.lost_entries == 0 and d.load_log(2).entries == []


def test_unsafe_mode_loses_the_unsynced_tail_even_if_the_node_acted_on_it():
    d = disk("unsafe-no-fsync")
    due = d.log_write(1, run(1, 3, 1), now=1.0)
    assert due is not None and 1.05 <= due <= 2.0
    assert d.log_write(1, run(4, 4, 1), now=1.1) is None  # one writeback timer covers the whole tail
    assert d.view(1) == run(1, 4, 1)  # what the node wrote, acknowledged, maybe saw committed
    d.crash(1)
    assert d.load_log(1).entries == [] and d.lost_entries == 4  # the committed entries disappeared


def test_the_writeback_makes_the_tail_and_the_hard_state_durable_together():
    d = disk("unsafe-no-fsync")
    assert d.write(1, HardState(2, 1, commit=1), now=0.0) is not None
    assert d.log_write(1, run(1, 2, 2), now=0.0) is None  # the same pending writeback
    d.sync(1)
    d.crash(1)
    assert d.load(1) == HardState(2, 1, commit=1) and d.load_log(1).entries == run(1, 2, 2)
    assert d.lost_writes == 0 and d.lost_entries == 0


def test_an_unsynced_truncation_is_undone_by_a_crash():
    d = disk("unsafe-no-fsync")
    d.log_write(1, run(1, 5, 1), now=0.0)
    d.sync(1)
    d.log_write(1, [Entry(3, 2, b"new")], now=0.5)
    assert d.view(1) == run(1, 2, 1) + [Entry(3, 2, b"new")]
    d.crash(1)
    assert d.load_log(1).entries == run(1, 5, 1)


def test_a_crash_in_the_middle_of_a_turns_append_loses_it_in_safe_mode_too():
    d = disk("safe")
    d.log_write(1, run(1, 2, 1), now=0.0)
    d.crash(1, writing=run(3, 5, 1))
    assert d.load_log(1).entries == run(1, 2, 1) and d.lost_entries == 3


def _torn(seed, mode="unsafe-no-fsync"):
    d = disk(mode, seed)
    d.log_write(1, run(1, 2, 1), now=0.0)
    d.sync(1)
    d.log_write(1, run(3, 4, 2), now=0.1)
    d.log_write(1, [Entry(4, 3, b"x" * 10), Entry(5, 3, b"y" * 10)], now=0.2)  # replaces 4
    d.crash(1, torn=True)
    return d, d.load_log(1)


def test_a_torn_crash_keeps_a_write_order_prefix_and_cuts_the_torn_record():
    seen = set()
    for seed in range(200):
        d, load = _torn(seed)
        entries = load.entries
        # one of the states the disk passed through, in write order, with the torn record cut
        states = [run(1, 2, 1), run(1, 2, 1) + run(3, 3, 2), run(1, 2, 1) + run(3, 3, 2),
                  run(1, 2, 1) + run(3, 3, 2) + [Entry(4, 3, b"x" * 10)]]
        assert entries in states, (seed, entries)
        offset, cut = load.tail_cut
        assert offset == len(FILE_HEADER) + sum(RECORD_OVERHEAD + len(e.data) for e in entries)
        assert 1 <= cut < RECORD_OVERHEAD + 10
        assert d.load_log(1).tail_cut is None  # cut once
        assert d.tails_cut == 1
        seen.add(len(entries))
    assert seen == {2, 3, 4}  # every torn record position occurs: the option is not vacuous


def test_a_torn_crash_is_deterministic_per_seed():
    assert _torn(7)[1] == _torn(7)[1]
    assert len({repr(_torn(s)[1]) for s in range(20)}) > 1


def test_a_torn_crash_of_a_safe_turn_keeps_whole_records_of_that_append_only():
    for seed in range(50):
        d = disk("safe", seed)
        d.log_write(1, run(1, 2, 1), now=0.0)
        d.crash(1, torn=True, writing=run(3, 6, 1))
        load = d.load_log(1)
        n = len(load.entries)
        assert 2 <= n <= 5 and load.entries == run(1, n, 1) and load.tail_cut is not None


def test_a_crash_with_nothing_unsynced_cuts_nothing():
    d = disk("unsafe-no-fsync")
    d.log_write(1, run(1, 2, 1), now=0.0)
    d.sync(1)
    d.crash(1, torn=True)
    assert d.load_log(1) == type(d.load_log(1))(run(1, 2, 1), None) and d.tails_cut == 0


def test_a_write_that_leaves_a_gap_is_a_caller_bug():
    d = disk("safe")
    d.log_write(1, run(1, 2, 1), now=0.0)
    with pytest.raises(ValueError, match="consecutive"):
        d.log_write(1, run(4, 4, 1), now=0.0)
    with pytest.raises(ValueError):
        d.log_write(1, [Entry(3, 1), Entry(5, 1)], now=0.0)


def test_hard_state_alone_behaves_as_before():
    d = disk("unsafe-no-fsync", seed=3)
    assert d.write(1, HardState(1, 1), now=0.0) is not None
    assert d.write(1, HardState(2, 2), now=0.1) is None
    d.crash(1)
    assert d.load(1) == HardState() and d.lost_writes == 1
