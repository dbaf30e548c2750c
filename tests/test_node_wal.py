"""The node process's write-ahead log port (runtime/node/process.py): group commit per loop turn, nothing that
depends on the turn's entries leaves before its ONE fsync, disk faults on the log stop the node before anything
of that turn is sent or logged as done, and the start-up records of a recovered log. A real Node object on a real
WAL file, with in-memory log and network."""
from __future__ import annotations

import os
from typing import Any

import pytest

import raftzmq.runtime.node.process as node_mod
from raftzmq.evidence.logfile import LogWriter
from raftzmq.protocol.core import HardState, Output
from raftzmq.protocol.messages import AppendEntries, AppendResponse, Entry
from raftzmq.runtime.node.diskfaults import FaultyFileOps
from raftzmq.runtime.node.failpoints import Failpoints
from raftzmq.runtime.node.netem import NetEm
from raftzmq.runtime.node.wal import WriteAheadLog, encode_record


class TracedDisk(FaultyFileOps):
    def __init__(self, trace: list) -> None:
        super().__init__()
        self.trace = trace

    def fsync(self, fd: int) -> None:
        super().fsync(fd)
        self.trace.append("fsync")


class MemTransport:
    def __init__(self, trace: list) -> None:
        self.trace = trace

    def send(self, msg: Any) -> None:
        self.trace.append(("send", msg.dst))

    def log_drop(self, *args: Any) -> None:
        raise AssertionError("nothing is dropped here")


class MemStateFile:
    def __init__(self, trace: list) -> None:
        self.trace = trace

    def save(self, state: HardState) -> None:
        self.trace.append(("save", state))


def _node(tmp_path, trace: list, state: HardState = HardState(2, 1)) -> node_mod.Node:
    node = node_mod.Node(tmp_path, 1, 1, os.getpid(), env={})
    node.log = LogWriter.to_list(by="node", node=1, incarnation=1)
    node.disk = TracedDisk(trace)
    node.disk.crash = _crash
    node.state_file = MemStateFile(trace)
    node.transport = MemTransport(trace)
    node.netem = NetEm(1, None)
    node.failpoints = Failpoints([], 1, 1)
    node._open_wal(state)
    node._apply = node._embedding(state)
    trace.clear()  # the WAL's creation fsyncs
    return node


class Crashed(Exception):
    pass


def _crash() -> None:
    raise Crashed()


def _ready(first: int, n: int, term: int = 2, commit: int = 0, persist: HardState | None = None) -> Output:
    entries = tuple(Entry(i, term, f"e{i}".encode()) for i in range(first, first + n))
    msg = AppendEntries(term, 1, 2, prev_index=first - 1, prev_term=term if first > 1 else 0, entries=entries,
                        commit=commit)
    return Output(persist, [msg], [], 0.0, entries=entries)


def test_one_fsync_for_every_ready_of_a_loop_turn_and_nothing_leaves_before_it(tmp_path):
    trace: list = []
    node = _node(tmp_path, trace)
    node._in_turn = True
    for first in (1, 3, 5):
        node._apply(_ready(first, 2))
    assert trace == [], "nothing synced or sent before the end of the turn"
    assert not [r for r in node.log.records if r["event"] == "log_appended"], "not logged as durable yet"
    node._flush()
    assert trace == ["fsync", ("send", 2)]  # the three appends to node 2 chain: one message (coalesce.py)
    appended = [r for r in node.log.records if r["event"] == "log_appended"]
    assert [(r["first"], r["last"]) for r in appended] == [(1, 2), (3, 4), (5, 6)]
    assert node.syncs == 1 and node.wal.last_index == 6
    # the records' digests are the log's
    assert appended[-1]["digest"] == node.wal.digest_at(6) and appended[1]["prev_digest"] == node.wal.digest_at(2)


def test_outside_a_loop_turn_each_ready_is_its_own_group_commit(tmp_path):
    trace: list = []
    node = _node(tmp_path, trace)
    node._apply(_ready(1, 1))
    node._apply(_ready(2, 1))
    assert trace == ["fsync", ("send", 2), "fsync", ("send", 2)]


def test_a_heartbeat_turn_needs_no_fsync_and_is_sent_at_once(tmp_path):
    trace: list = []
    node = _node(tmp_path, trace)
    node._in_turn = True
    node._apply(Output(None, [AppendResponse(2, 1, 2, index=0)], [], 0.0))
    assert trace == [("send", 2)]
    node._flush()
    assert trace == [("send", 2)] and node.syncs == 0


def test_a_vote_and_entries_in_one_turn_are_durable_before_anything_leaves(tmp_path):
    trace: list = []
    node = _node(tmp_path, trace)
    node._in_turn = True
    node._apply(Output(HardState(3, 2), [AppendResponse(3, 1, 2)], [], 0.0))  # a term/vote change (v1 path)
    node._apply(_ready(1, 1, term=3))
    node._flush()
    assert trace == ["fsync", ("save", HardState(3, 2)), ("send", 2), ("send", 2)]  # a response, an append


def test_a_commit_only_change_is_not_an_fsync(tmp_path):
    trace: list = []
    node = _node(tmp_path, trace)
    node._apply(_ready(1, 2))
    trace.clear()
    node._state_saved_at = 1e18  # just saved: the commit waits for the next save
    node._apply(Output(HardState(2, 1, commit=2), [], [], 0.0))
    assert trace == [] and node.wal.commit == 2


def test_a_due_commit_only_save_comes_after_the_turns_sends_and_a_vote_before_them(tmp_path):
    trace: list = []
    node = _node(tmp_path, trace)
    node._apply(_ready(1, 2))
    trace.clear()
    node._state_saved_at = 0.0  # a second has passed: the commit index is saved in this turn...
    node._in_turn = True
    node._apply(_ready(3, 1, persist=HardState(2, 1, commit=2)))
    node._flush()
    assert trace == ["fsync", ("send", 2), ("save", HardState(2, 1, commit=2))], "...after what it sent"
    trace.clear()
    node._apply(_ready(4, 1, term=3, persist=HardState(3, None, commit=2)))  # a term change: before the send
    node._flush()
    assert trace == ["fsync", ("save", HardState(3, None, commit=2)), ("send", 2)]


@pytest.mark.parametrize("fault, where", [("append:EIO", "append"), ("fsync:EIO", "fsync"),
                                          ("append:ENOSPC", "append")])
def test_a_log_disk_fault_stops_the_node_before_anything_of_the_turn_leaves(tmp_path, fault, where):
    trace: list = []
    node = _node(tmp_path, trace)
    node.disk.arm(fault)
    node._in_turn = True
    with pytest.raises(node_mod._Exit) as exc:
        node._apply(_ready(1, 2))
        node._flush()
    assert exc.value.code == node_mod.EXIT_STORAGE
    assert not [t for t in trace if isinstance(t, tuple)], "nothing was sent"
    events = [r["event"] for r in node.log.records]
    assert "log_appended" not in events and events[-1] == "node_failed"
    assert f"injected: {fault}" in node.log.records[-1]["reason"] and where in node.log.records[-1]["reason"]


def test_a_truncate_fault_hits_the_replacement_of_a_conflicting_suffix(tmp_path):
    trace: list = []
    node = _node(tmp_path, trace)
    node._apply(_ready(1, 3))
    node.disk.arm("truncate:EIO")
    with pytest.raises(node_mod._Exit) as exc:
        node._apply(_ready(2, 1, term=3))  # replaces 2..3
    assert exc.value.code == node_mod.EXIT_STORAGE and "truncate" in node.log.records[-1]["reason"]


def test_a_torn_write_crashes_the_node_and_its_next_start_cuts_the_tail(tmp_path):
    trace: list = []
    node = _node(tmp_path, trace)
    node._apply(_ready(1, 2))
    node.disk.arm("torn")
    with pytest.raises(Crashed):
        node._apply(_ready(3, 1))
    assert not [t for t in trace if t == ("send", 2)][1:], "the torn turn sent nothing"
    node.wal.close()
    again = _node(tmp_path, [])
    assert again.wal.last_index == 2 and len(again._tail_cuts) == 1  # half of record 3 was written
    cut = again._tail_cuts[0]
    assert cut["file"].endswith("node-1.wal") and cut["bytes"] > 0


def _wal_with(tmp_path, entries: list[Entry]) -> bytes:
    wal = WriteAheadLog.open(tmp_path / "node-1.wal")
    wal.append(entries)
    wal.sync()
    wal.close()
    return (tmp_path / "node-1.wal").read_bytes()


def test_the_recovered_log_is_what_log_loaded_says(tmp_path):
    entries = [Entry(1, 1, b"a"), Entry(2, 1, b"b"), Entry(3, 2, b"c")]
    _wal_with(tmp_path, entries)
    node = _node(tmp_path, [], HardState(2, 1, commit=2))
    node.core = type("Replicating", (), {"propose": lambda self, data, now: None})()
    node._embedding(HardState(2, 1, commit=2))
    node._embedder.log_loaded()
    (fields,) = [r for r in node.log.records if r["event"] == "log_loaded"]
    assert fields["last"] == 3 and fields["commit"] == 2 and fields["terms"] == [[1, 2], [2, 1]]
    assert fields["digest"] == node.wal.digest_at(3)


def test_a_corrupt_record_in_the_middle_refuses_the_start_naming_file_and_offset(tmp_path):
    data = bytearray(_wal_with(tmp_path, [Entry(i, 1, b"payload") for i in range(1, 4)]))
    second = 8 + len(encode_record(Entry(1, 1, b"payload")))
    data[second + 30] ^= 0xFF  # a flipped byte in record 2's data; record 3 is intact
    (tmp_path / "node-1.wal").write_bytes(bytes(data))
    node = node_mod.Node(tmp_path, 1, 1, os.getpid(), env={})
    node.log = LogWriter.to_list(by="node", node=1, incarnation=1)
    with pytest.raises(node_mod._Exit) as exc:
        node._open_wal(HardState(1, 1))
    assert exc.value.code == node_mod.EXIT_REFUSED
    reason = node.log.records[-1]["reason"]
    assert "corrupt write-ahead log" in reason and "node-1.wal" in reason and f"offset {second}" in reason


def test_a_turns_appends_to_one_follower_leave_as_one_message(tmp_path):
    sent: list = []
    node = _node(tmp_path, [])
    node.transport.send = sent.append
    node._in_turn = True
    for first in (1, 2, 3):
        node._apply(_ready(first, 1))
    node._flush()
    assert len(sent) == 1 and [e.index for e in sent[0].entries] == [1, 2, 3]
