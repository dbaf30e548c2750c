"""The write-ahead log (runtime/node/wal.py): one test per claim of its docstring."""
from __future__ import annotations

import errno
import os
import stat
import struct
import zlib

import pytest

from raftzmq.evidence.logdigest import GENESIS, chain, chain_all
from raftzmq.protocol.messages import Entry
from raftzmq.runtime.node.diskfaults import LOG_FAULTS, FaultyFileOps
from raftzmq.runtime.node.storage import CorruptStateError, FileOps, StorageFatalError
from raftzmq.runtime.node.wal import (FILE_HEADER, RECORD_OVERHEAD, CommittedTruncationError, CorruptLogError,
                                 WriteAheadLog, encode_record, read_log, scan_log)


def E(index, term, data=b""):
    return Entry(index, term, data)


def run(first, last, term, size=3):
    return [E(i, term, bytes([i % 251]) * size) for i in range(first, last + 1)]


class Spy(FileOps):
    """The real file operations, counting them, and keeping per file what the last fsync made durable: `crash()`
    puts every file back to that (a power cut: the page cache is gone)."""

    def __init__(self):
        self.calls: list[tuple[str, str]] = []
        self.paths: dict[int, str] = {}
        self.durable: dict[str, bytes] = {}

    def count(self, op):
        return sum(1 for o, _ in self.calls if o == op)

    def open(self, path, flags, mode=0o777):
        fd = super().open(path, flags, mode)
        self.paths[fd] = os.fspath(path)
        self.calls.append(("open", os.fspath(path)))
        return fd

    def append(self, fd, data):
        self.calls.append(("append", self.paths[fd]))
        return super().append(fd, data)

    def ftruncate(self, fd, length):
        self.calls.append(("ftruncate", self.paths[fd]))
        super().ftruncate(fd, length)

    def fsync(self, fd):
        path = self.paths[fd]
        self.calls.append(("fsync", "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else path))
        super().fsync(fd)
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            with open(path, "rb") as f:
                self.durable[path] = f.read()

    def crash(self):
        for path, data in self.durable.items():
            with open(path, "wb") as f:
                f.write(data)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "node-1.wal"


def opened(path, ops=None, commit=0):
    events = []
    log = WriteAheadLog.open(path, ops, lambda name, **f: events.append((name, f)), commit=commit)
    return log, events


def write_log(path, entries, tail=b""):
    path.write_bytes(FILE_HEADER + b"".join(encode_record(e) for e in entries) + tail)


# ---------------------------------------------------------------------------------------------- round trip, format

def test_round_trip_through_a_reopen(path):
    entries = [E(1, 1), E(2, 1, b"x"), E(3, 4, bytes(range(256)) * 8), E(4, 4, b"\x00" * 5), E(5, 9, b"RZQE")]
    log, events = opened(path)
    assert log.created and log.last_index == 0 and log.last_term == 0 and log.term_at(0) == 0
    log.append(entries[:2])
    log.append(entries[2:])
    log.sync()
    log.close()
    again, events = opened(path)
    assert not again.created and events == [] and again.tail_cut is None
    assert again.entries(1) == entries and again.last_index == 5 and again.last_term == 9
    assert [again.term_at(i) for i in range(6)] == [0, 1, 1, 4, 4, 9]
    assert again.entries(2, 3) == entries[1:3] and again.entries(4, 3) == []
    assert [again.digest_at(i) for i in range(6)] == [GENESIS, *chain_all(entries)]
    assert again.size == path.stat().st_size
    with pytest.raises(IndexError):
        again.term_at(6)
    with pytest.raises(IndexError):
        again.entries(0, 2)


def test_the_file_is_the_documented_bytes(path):
    log, _ = opened(path)
    log.append([E(1, 2, b"hi"), E(2, 3)])
    log.sync()
    raw = path.read_bytes()
    assert raw[:8] == b"RZQWAL1\n"
    rec = raw[8:8 + RECORD_OVERHEAD + 2]
    marker, length, crc, index, term = struct.unpack(">4sIIQQ", rec[:28])
    assert (marker, length, index, term, rec[28:]) == (b"RZQE", 18, 1, 2, b"hi")
    assert crc == zlib.crc32(rec[4:8] + rec[12:])
    assert len(raw) == 8 + (28 + 2) + 28


def test_the_digest_chain_is_plan_md_s():
    d1 = chain(GENESIS, 3, b"cmd")
    import hashlib
    want = hashlib.blake2b(bytes(8) + (3).to_bytes(8, "big") + hashlib.blake2b(b"cmd", digest_size=8).digest(),
                           digest_size=8).hexdigest()
    assert d1 == want and GENESIS == "0" * 16


# ---------------------------------------------------------------------------------------------- group commit

def test_one_fsync_per_sync_for_everything_appended_since_the_last(path):
    spy = Spy()
    log, _ = opened(path, spy)
    spy.calls.clear()
    for i in range(1, 11):
        log.append([E(i, 1, b"x" * i)])
    assert spy.count("fsync") == 0  # appends alone never sync
    assert log.sync() is True
    assert spy.count("fsync") == 1
    assert log.sync() is False and spy.count("fsync") == 1  # nothing new: no fsync
    log.append(run(11, 110, 2))
    log.sync()
    assert spy.count("fsync") == 2 and spy.count("append") == 11  # one write loop per append call


def test_creating_the_log_syncs_the_file_then_its_directory(path):
    spy = Spy()
    opened(path, spy)
    assert [c for c in spy.calls if c[0] != "open"] == [("append", str(path)), ("fsync", str(path)),
                                                       ("fsync", "dir")]


def test_what_was_synced_survives_a_crash_and_what_was_not_is_gone(path):
    spy = Spy()
    log, _ = opened(path, spy)
    log.append(run(1, 3, 1))
    log.sync()
    log.append(run(4, 6, 1))  # never synced
    spy.crash()
    again, events = opened(path)
    assert again.entries(1) == run(1, 3, 1) and events == []


# ---------------------------------------------------------------------------------------------- durable truncation

def test_a_replacing_append_truncates_durably_before_writing(path):
    spy = Spy()
    log, _ = opened(path, spy)
    log.append(run(1, 5, 1))
    log.sync()
    spy.calls.clear()
    log.append([E(3, 2, b"new")])  # replaces 3..5
    assert [op for op, _ in spy.calls] == ["ftruncate", "fsync", "append"]  # the cut is durable first
    assert log.entries(1) == run(1, 2, 1) + [E(3, 2, b"new")] and log.last_term == 2
    spy.crash()  # before the group commit: the new entry is lost, the truncation is not
    again, events = opened(path)
    assert again.entries(1) == run(1, 2, 1) and events == []


def test_a_replaced_suffix_stays_replaced_after_sync_and_reopen(path):
    log, _ = opened(path)
    log.append(run(1, 5, 1))
    log.append([E(2, 3, b"a"), E(3, 3, b"b")])
    log.sync()
    log.close()
    again, _ = opened(path)
    assert again.entries(1) == [run(1, 1, 1)[0], E(2, 3, b"a"), E(3, 3, b"b")]
    assert again.digest_at(3) == chain_all(again.entries(1))[-1]


def test_a_gap_or_a_term_going_down_is_refused_before_any_write(path):
    log, _ = opened(path)
    log.append(run(1, 3, 2))
    with pytest.raises(ValueError, match="gap"):
        log.append([E(5, 2)])
    with pytest.raises(ValueError, match="never go down"):
        log.append([E(4, 1)])
    with pytest.raises(ValueError, match="consecutive"):
        log.append([E(4, 2), E(6, 2)])
    log.sync()
    assert WriteAheadLog.open(path).entries(1) == run(1, 3, 2)


# ---------------------------------------------------------------------------------------------- commit floor

def test_replacing_a_committed_entry_is_refused_and_nothing_is_written(path):
    log, _ = opened(path)
    log.append(run(1, 5, 1))
    log.sync()
    log.set_commit(3)
    before = path.read_bytes()
    for first in (1, 3):
        with pytest.raises(CommittedTruncationError, match="entries up to 3 are committed"):
            log.append([E(first, 2)])
    assert path.read_bytes() == before and log.last_index == 5
    log.append([E(4, 2)])  # above the floor: allowed
    assert log.entries(1) == run(1, 3, 1) + [E(4, 2)]
    with pytest.raises(ValueError):
        log.set_commit(2)  # the floor never goes down
    with pytest.raises(ValueError):
        log.set_commit(5)  # nor past the log


def test_open_refuses_a_log_shorter_than_the_committed_prefix_and_cuts_nothing(path):
    write_log(path, run(1, 3, 1), tail=encode_record(E(4, 1, b"torn"))[:10])
    before = path.read_bytes()
    with pytest.raises(CorruptLogError) as info:
        WriteAheadLog.open(path, commit=4)
    assert "committed entries are lost" in str(info.value) and str(path) in str(info.value)
    assert path.read_bytes() == before  # the evidence is kept
    assert WriteAheadLog.open(path, commit=3).last_index == 3


# ---------------------------------------------------------------------------------------------- torn tails

def test_a_torn_last_record_is_cut_at_every_byte_offset_and_reported(path):
    head = run(1, 2, 1)
    last = encode_record(E(3, 2, b"the last one"))
    start = len(FILE_HEADER) + sum(RECORD_OVERHEAD + len(e.data) for e in head)
    for k in range(1, len(last)):
        write_log(path, head, tail=last[:k])
        log, events = opened(path)
        assert log.entries(1) == head, k
        assert events == [("log_tail_cut", {"file": str(path), "offset": start, "bytes": k})], k
        assert log.tail_cut is not None and log.tail_cut.offset == start
        assert path.stat().st_size == start  # cut in the file, not only in memory
        log.append([E(3, 2, b"again")])  # and the log goes on from there
        log.sync()
        log.close()
        assert WriteAheadLog.open(path).entries(1) == head + [E(3, 2, b"again")]
    write_log(path, head, tail=last)
    assert opened(path)[1] == []


def test_a_torn_batch_keeps_its_whole_records(path):
    batch = b"".join(encode_record(e) for e in run(3, 6, 2))
    write_log(path, run(1, 2, 1), tail=batch[:len(batch) - 7])
    log, events = opened(path)
    assert log.entries(1) == run(1, 2, 1) + run(3, 5, 2)
    assert events[0][1]["bytes"] == RECORD_OVERHEAD + 3 - 7


def test_a_zero_filled_tail_is_a_torn_tail(path):
    write_log(path, run(1, 2, 1), tail=bytes(4096))
    log, events = opened(path)
    assert log.last_index == 2 and events[0][1]["bytes"] == 4096


@pytest.mark.parametrize("k", range(0, len(FILE_HEADER)))
def test_a_torn_file_header_is_rewritten(path, k):
    path.write_bytes(FILE_HEADER[:k])
    log, events = opened(path)
    assert log.last_index == 0 and path.read_bytes() == FILE_HEADER
    assert events == ([("log_tail_cut", {"file": str(path), "offset": 0, "bytes": k})] if k else [])


def test_read_log_reports_a_torn_tail_without_touching_the_file(path):
    write_log(path, run(1, 2, 1), tail=b"RZQE\x00")
    before = path.read_bytes()
    scan = read_log(path)
    assert scan.tail is not None and scan.tail.bytes == 5 and len(scan.entries) == 2
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------------------- corrupt middle

def _offsets(entries):
    out, pos = [], len(FILE_HEADER)
    for e in entries:
        out.append(pos)
        pos += RECORD_OVERHEAD + len(e.data)
    return out


def test_a_damaged_record_with_valid_data_after_it_is_refused_at_its_offset(path):
    entries = run(1, 4, 1, size=6)
    write_log(path, entries)
    good = path.read_bytes()
    where = _offsets(entries)[1]
    for i in range(where, where + RECORD_OVERHEAD + 6):  # every byte of record 2
        bad = bytearray(good)
        bad[i] ^= 0x40
        path.write_bytes(bytes(bad))
        with pytest.raises(CorruptLogError) as info:
            WriteAheadLog.open(path)
        msg = str(info.value)
        assert msg.startswith(f"{path}: at byte offset {where}: ") and info.value.offset == where, (i, msg)
        assert path.read_bytes() == bytes(bad)  # refused, not repaired, not reset
    assert isinstance(info.value, CorruptStateError)  # the node refuses it as it refuses a corrupt state file


@pytest.mark.parametrize("entries,fragment", [
    ([E(1, 1), E(2, 1), E(4, 1)], "index gap"),
    ([E(1, 1), E(2, 1), E(2, 1)], "index going back"),
    ([E(2, 1)], "index gap"),
    ([E(1, 2), E(2, 2), E(3, 1)], "term going backwards"),
])
def test_a_valid_record_that_breaks_the_log_is_refused_wherever_it_is(path, entries, fragment):
    path.write_bytes(FILE_HEADER + b"".join(_raw(e) for e in entries))
    with pytest.raises(CorruptLogError, match=fragment) as info:
        WriteAheadLog.open(path)
    assert info.value.offset == _offsets(entries)[-1]


def _raw(e):  # encode_record, bypassing nothing (Entry already forbids index/term 0)
    return encode_record(e)


def _forged(index, term, data=b""):
    """A checksum-valid record with values no Entry accepts (what a bug elsewhere could write)."""
    body = struct.pack(">QQ", index, term) + data
    length = len(body).to_bytes(4, "big")
    return b"RZQE" + length + zlib.crc32(body, zlib.crc32(length)).to_bytes(4, "big") + body


@pytest.mark.parametrize("index,term,fragment", [(1, 0, "term 0"), (1, 2**63, "beyond the largest term"),
                                                 (0, 1, "index 0")])
def test_a_checksum_valid_record_with_impossible_values_is_refused(path, index, term, fragment):
    path.write_bytes(FILE_HEADER + _forged(index, term))
    with pytest.raises(CorruptLogError, match=fragment) as info:
        WriteAheadLog.open(path)
    assert info.value.offset == len(FILE_HEADER)


def test_a_bad_file_header_is_refused_at_offset_zero(path):
    path.write_bytes(b"RZQWAL2\n" + encode_record(E(1, 1)))
    with pytest.raises(CorruptLogError, match="at byte offset 0: not a raftzmq write-ahead log"):
        WriteAheadLog.open(path)
    path.write_bytes(b"{}\n")
    with pytest.raises(CorruptLogError, match="bad file header"):
        scan_log(path.read_bytes(), path)


# ---------------------------------------------------------------------------------------------- disk faults

def _synced_log(path, ops):
    log, _ = opened(path, ops)
    log.append(run(1, 4, 1))
    log.sync()
    return log


@pytest.mark.parametrize("fault,call", [
    ("append:ENOSPC", "append"), ("append:EIO", "append"), ("fsync:ENOSPC", "sync"), ("fsync:EIO", "sync"),
    ("truncate:ENOSPC", "replace"), ("truncate:EIO", "replace"),
])
def test_an_io_error_is_fatal_for_good_and_leaves_a_readable_file(path, fault, call):
    disk = FaultyFileOps()
    log = _synced_log(path, disk)
    disk.arm(fault)
    with pytest.raises(StorageFatalError) as info:
        if call == "append":
            log.append(run(5, 6, 1))
        elif call == "sync":
            log.append(run(5, 6, 1))
            log.sync()
        else:
            log.append([E(2, 2)])
    assert f"injected: {fault}" in str(info.value) and str(path) in str(info.value)
    with pytest.raises(StorageFatalError, match="not usable"):  # never retried
        log.sync()
    with pytest.raises(StorageFatalError, match="not usable"):
        log.append(run(7, 7, 1))
    again = WriteAheadLog.open(path)  # a working disk: everything synced is there
    assert again.entries(1, 4) == run(1, 4, 1)


def test_a_write_cut_short_by_enospc_leaves_a_torn_tail_that_recovery_cuts(path):
    class FillsUp(FileOps):
        full = False

        def append(self, fd, data):
            if self.full:
                super().append(fd, data[:5])  # some bytes fit, then the disk is full
                self.full = False
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().append(fd, data)

    ops = FillsUp()
    log = _synced_log(path, ops)
    ops.full = True
    with pytest.raises(StorageFatalError, match="append failed"):
        log.append(run(5, 6, 1))
    again, events = opened(path)
    assert again.entries(1) == run(1, 4, 1) and events[0][1]["bytes"] == 5


def test_the_torn_fault_writes_half_then_crashes_and_the_restart_cuts_it(path):
    class Crashed(Exception):
        pass

    def crash():
        raise Crashed

    disk = FaultyFileOps()
    disk.crash = crash
    log = _synced_log(path, disk)
    size = path.stat().st_size
    disk.arm("torn")
    batch = run(5, 7, 1)
    with pytest.raises(Crashed):
        log.append(batch)
    written = path.stat().st_size - size
    total = sum(RECORD_OVERHEAD + len(e.data) for e in batch)
    assert written == total // 2  # half of the write reached the file
    again, events = opened(path)
    whole = written // (RECORD_OVERHEAD + 3)
    assert again.entries(1) == run(1, 4 + whole, 1)
    assert events == [("log_tail_cut", {"file": str(path), "offset": size + whole * (RECORD_OVERHEAD + 3),
                                        "bytes": written - whole * (RECORD_OVERHEAD + 3)})]


def test_truncate_faults_hit_the_torn_tail_cut_at_start_too(path):
    write_log(path, run(1, 2, 1), tail=b"RZQE")
    disk = FaultyFileOps()
    disk.arm("truncate:EIO")
    with pytest.raises(StorageFatalError, match="cut torn tail failed"):
        WriteAheadLog.open(path, disk)


def test_a_read_only_file_system_fails_creating_the_log(path):
    disk = FaultyFileOps()
    disk.arm("readonly")
    with pytest.raises(StorageFatalError, match="create log failed"):
        WriteAheadLog.open(path, disk)
    assert not path.exists()


def test_log_faults_are_in_the_vocabulary():
    assert {"append:ENOSPC", "append:EIO", "truncate:ENOSPC", "truncate:EIO", "torn", "fsync:EIO"} <= set(LOG_FAULTS)


def test_bench_wal_runs_and_reports_both_batches_against_the_floor(tmp_path):
    from click.testing import CliRunner

    from raftzmq.cli import main

    res = CliRunner().invoke(main, ["bench", "wal", "--rounds", "3", "--size", "10", "--dir",
                                                    str(tmp_path), "--json"])
    assert res.exit_code == 0, res.stderr
    doc = __import__("json").loads(res.stdout)
    for batch in (1, 100):
        row = doc[f"batch_{batch}"]
        assert row["entries"] == batch and row["bytes"] == batch * (RECORD_OVERHEAD + 10)
        assert row["wal_median_us"] > 0 and row["floor_median_us"] > 0
    assert list(tmp_path.iterdir()) == []  # its files are removed


def test_the_torn_tail_cut_is_made_durable(path):
    write_log(path, run(1, 2, 1), tail=b"RZQE\x00\x00")
    spy = Spy()
    opened(path, spy)
    ops = [op for op, _ in spy.calls if op != "open"]
    assert ops == ["ftruncate", "fsync"]


def test_the_torn_fault_really_kills_the_process_and_the_next_open_cuts_its_record(path):
    import subprocess
    import sys

    script = f"""
import sys
from raftzmq.protocol.messages import Entry
from raftzmq.runtime.node.diskfaults import FaultyFileOps
from raftzmq.runtime.node.wal import WriteAheadLog
disk = FaultyFileOps()
log = WriteAheadLog.open({str(path)!r}, disk)
log.append([Entry(1, 1, b"kept")]); log.sync()
disk.arm("torn")
log.append([Entry(2, 1, b"x" * 100)])
sys.exit(0)  # not reached: the torn write SIGKILLs the process
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert done.returncode == -9, done.stderr.decode()
    log, events = opened(path)
    assert log.entries(1) == [E(1, 1, b"kept")]
    assert events == [("log_tail_cut", {"file": str(path), "offset": len(FILE_HEADER) + RECORD_OVERHEAD + 4,
                                        "bytes": (RECORD_OVERHEAD + 100) // 2})]


@pytest.mark.parametrize("seed", range(15))
def test_random_appends_replacements_syncs_and_crashes_match_a_model(tmp_path, seed):
    """Against a model of the log: what the node sees (`mem`) and what the last fsync made durable (`durable`,
    where the truncation's own fsync counts too). After each crash the reopened log is exactly `durable`."""
    import random

    rng = random.Random(seed)
    path = tmp_path / "node-1.wal"
    spy = Spy()
    log, _ = opened(path, spy)
    mem: list[Entry] = []
    durable: list[Entry] = []
    commit = 0
    term = 1
    for _ in range(60):
        op = rng.random()
        if op < 0.5:
            first = rng.randint(commit + 1, len(mem) + 1)
            term += rng.random() < 0.3
            batch = [E(first + i, term, bytes(rng.randrange(256) for _ in range(rng.randrange(40))))
                     for i in range(rng.randint(1, 5))]
            if batch[0].term < (mem[first - 2].term if first > 1 else 0):
                continue
            log.append(batch)
            if first <= len(mem):
                durable = mem[:first - 1]  # the truncation's fsync
            mem = mem[:first - 1] + batch
        elif op < 0.75:
            log.sync()
            durable = list(mem)
        elif op < 0.85 and durable:
            commit = rng.randint(commit, len(durable))
            log.set_commit(commit)
        else:
            log.close()
            spy.crash()
            log, events = opened(path, spy, commit=commit)
            assert log.entries(1) == durable and events == []
            mem = list(durable)
        assert log.entries(1) == mem and log.last_index == len(mem)
        assert [log.digest_at(i) for i in range(len(mem) + 1)] == [GENESIS, *chain_all(mem)]
        assert log.size == len(FILE_HEADER) + sum(RECORD_OVERHEAD + len(e.data) for e in mem)
