"""The write-ahead log: one node's replicated-log entries, durable, in one append-only file (`node-<id>.wal` in
the run directory). Its hard state (term, vote, commit) lives beside it in `node-<id>.state` (storage.py).

File format (all integers big-endian)::

    file   := header record*
    header := b"RZQWAL1\\n"                                   8 bytes: format and version
    record := b"RZQE"  length:u32  crc:u32  index:u64  term:u64  data
              marker   16 + len(data)   zlib.crc32(length bytes + index + term + data)

A record is 28 bytes plus the entry's data (at most MAX_DATA bytes). Record k holds index k: the file is exactly
the log, in order, with no gaps, and terms never go down. The checksum is CRC-32 (`zlib.crc32`: the standard
library, about 2.5 GB/s here): it is there to catch torn writes and media errors, not an adversary. CRC-32 detects
every burst error of up to 32 bits, every error of up to 3 bits in a record of up to 11 KB (Hamming distance 4 up
to 91,607 bits, Koopman's tables) and every 2-bit error in any record we allow; a torn write is a burst of zeros
or of missing bytes, which the length check and the search for later records catch before the checksum matters.
(crc32c would need a third-party package for the same strength; a blake2b-derived check costs more and buys
nothing against accidents.) The chained blake2b digests that compare logs across nodes (evidence/logdigest.py)
are a different thing and are not stored.

API::

    log = WriteAheadLog.open(path, file_ops, log_event, commit=hard_state.commit)   # recovers; see below
    log.last_index, log.last_term, log.term_at(i), log.entries(lo, hi), log.digest_at(i)
    log.append(entries)     # entries[0].index <= last_index: the suffix from there is replaced, durably
    log.set_commit(c)       # the floor: an append that would replace an entry <= c is refused (ValueError)
    log.sync()              # group commit: ONE fsync for everything appended since the last sync
    log.close()

Durability. `append` writes the records (one write loop per call) and `sync` fsyncs them: call `sync` once per
loop turn, before anything that depends on the entries leaves the node. A replacing append (the first index is
already in the log) first cuts the file back with ftruncate and fsyncs that at once - one extra fsync, only when a
conflicting suffix is replaced (after a leader change) - so new records are only ever written past a durable end
of file and never over old bytes whose fate after a crash would be unknown. Any OSError makes the log unusable
(StorageFatalError now and on every later call): retrying after a failed fsync is unsafe (STYLE.md), the node
must stop. The file operations go through storage.FileOps (`append`, `ftruncate`, `fsync`, ...), so
runtime/node/diskfaults.py applies to the log as to the state file.

Recovery (`open`): the file is read and checked record by record from the start. At the first position P where
no whole, checksum-valid record starts (a partial record header, a bad marker, an impossible length, a record
running past the end of the file, a checksum mismatch) the rest of the file is searched for any whole,
checksum-valid record (a marker at some offset > P whose length fits and whose checksum matches):
  - none: a TORN TAIL - what a write cut off by a crash leaves (a prefix of what was written, then nothing). The
    bytes from P on are cut off (ftruncate + fsync) and reported through `log_event("log_tail_cut", file=...,
    offset=P, bytes=N)`; the log is what came before P.
  - one at offset Q: a CORRUPT MIDDLE - a damaged record with valid data after it is not what a crash leaves.
    `open` raises CorruptLogError naming the file and offset P (the node refuses to start; never a reset).
A record that is whole and checksum-valid but breaks the log's rules (its index is not the previous one + 1, its
term is lower than the previous record's, term or index 0) is corrupt wherever it is: a crash cannot write it.
A file shorter than the header that is a prefix of it (a crash while the file was being created) is a torn tail
too; any other bad header is corrupt. If the hard state says entries up to `commit` are committed but fewer
survive, `open` refuses too (committed entries lost), before it cuts anything.
Limits of the rule, on the safe side: a power loss that persists later blocks of an unsynced write but not
earlier ones, or a torn last record whose payload embeds a well-formed record, looks like a corrupt middle and is
refused rather than guessed at; damage to the very last record of the file looks like a torn tail and is cut (the
commit check above then refuses if that record was committed).
"""
from __future__ import annotations

import errno
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raftzmq.protocol.core import HardState
from raftzmq.evidence.logdigest import GENESIS, chain, chain_raw
from raftzmq.protocol.messages import MAX_TERM, Entry

from .storage import CorruptStateError, FileOps, StorageFatalError

__all__ = [
    "FILE_HEADER",
    "RECORD_MARKER",
    "RECORD_OVERHEAD",
    "MAX_DATA",
    "CorruptLogError",
    "CommittedTruncationError",
    "LogScan",
    "TailCut",
    "WriteAheadLog",
    "encode_record",
    "scan_log",
    "read_log",
    "describe_log",
]

FILE_HEADER = b"RZQWAL1\n"
RECORD_MARKER = b"RZQE"
_HEAD = struct.Struct(">4sII")  # marker, length, crc
_BODY = struct.Struct(">QQ")  # index, term
RECORD_OVERHEAD = _HEAD.size + _BODY.size  # 28
MAX_DATA = 1 << 26  # 64 MiB per entry: far beyond any message we send; a bigger length field is damage
_MAX_LENGTH = _BODY.size + MAX_DATA

_REAL_OPS = FileOps()


class CorruptLogError(CorruptStateError):
    """The log file cannot be trusted (a corrupt record with valid data after it, a broken index or term
    sequence, a bad header, or committed entries missing). Message: `<file>: at byte offset N: <reason>`."""


class CommittedTruncationError(ValueError):
    """An append would replace committed entries: a bug in the caller (the core), refused before any write."""


@dataclass(frozen=True, slots=True)
class TailCut:
    """A torn tail found at recovery: `bytes` bytes from `offset` on (cut, or to be cut)."""

    file: str
    offset: int
    bytes: int
    reason: str


@dataclass(frozen=True, slots=True)
class LogScan:
    """What a log file holds: its entries, the byte offset of each record, where the valid records end, the file
    size, and the torn tail after them (None if the file ends with a whole record)."""

    entries: list[Entry]
    offsets: list[int]
    end: int
    size: int
    tail: TailCut | None


def encode_record(entry: Entry) -> bytes:
    """The exact bytes of one record."""
    data = entry.data
    if len(data) > MAX_DATA:
        raise ValueError(f"entry {entry.index}: {len(data)} bytes of data, at most {MAX_DATA} fit a record")
    length = _BODY.size + len(data)
    body = _BODY.pack(entry.index, entry.term) + data
    length_bytes = length.to_bytes(4, "big")
    crc = zlib.crc32(body, zlib.crc32(length_bytes))
    return RECORD_MARKER + length_bytes + crc.to_bytes(4, "big") + body


def _whole_record_at(data: bytes, pos: int) -> str | None:
    """None if a whole, checksum-valid record starts at `pos`, else why not."""
    if len(data) - pos < _HEAD.size:
        return "partial record header"
    marker, length, crc = _HEAD.unpack_from(data, pos)
    if marker != RECORD_MARKER:
        return "bad record marker"
    if not _BODY.size <= length <= _MAX_LENGTH:
        return f"impossible record length {length}"
    start = pos + _HEAD.size
    if start + length > len(data):
        return f"record of {length} bytes runs past the end of the file"
    if zlib.crc32(data[start:start + length], zlib.crc32(data[pos + 4:pos + 8])) != crc:
        return "checksum mismatch"
    return None


def _next_whole_record(data: bytes, start: int) -> int | None:
    pos = data.find(RECORD_MARKER, start)
    while pos != -1:
        if _whole_record_at(data, pos) is None:
            return pos
        pos = data.find(RECORD_MARKER, pos + 1)
    return None


def scan_log(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> LogScan:
    """Check a log file's bytes (see the module docstring): its entries and torn tail, or CorruptLogError."""
    name = os.fspath(path)
    if len(data) < len(FILE_HEADER):
        if FILE_HEADER.startswith(data):  # created, header not (wholly) written: a torn tail at 0
            tail = TailCut(name, 0, len(data), "partial file header") if data else None
            return LogScan([], [], 0, len(data), tail)
        raise CorruptLogError(name, "not a raftzmq write-ahead log (bad file header)", 0)
    if data[:len(FILE_HEADER)] != FILE_HEADER:
        raise CorruptLogError(name, "not a raftzmq write-ahead log (bad file header)", 0)
    entries: list[Entry] = []
    offsets: list[int] = []
    pos, n, last_term = len(FILE_HEADER), len(data), 0
    while pos < n:
        reason = _whole_record_at(data, pos)
        if reason is not None:
            later = _next_whole_record(data, pos + 1)
            if later is not None:
                raise CorruptLogError(name, f"{reason}, but a valid record follows at byte offset {later} "
                                            "(a corrupt record in the middle of the log, not a torn tail)", pos)
            return LogScan(entries, offsets, pos, n, TailCut(name, pos, n - pos, reason))
        _, length, _ = _HEAD.unpack_from(data, pos)
        index, term = _BODY.unpack_from(data, pos + _HEAD.size)
        expected = len(entries) + 1
        if index != expected:
            what = "an index gap" if index > expected else "an index going back"
            raise CorruptLogError(name, f"record holds index {index}, expected {expected} ({what})", pos)
        if term < 1 or term < last_term:
            raise CorruptLogError(name, f"record {index} has term {term} after term {last_term} "
                                        "(a term going backwards)", pos)
        if term > MAX_TERM:
            raise CorruptLogError(name, f"record {index} has term {term}, beyond the largest term {MAX_TERM}", pos)
        start = pos + RECORD_OVERHEAD
        entries.append(Entry(index, term, data[start:pos + _HEAD.size + length]))
        offsets.append(pos)
        last_term = term
        pos += _HEAD.size + length
    return LogScan(entries, offsets, pos, n, None)


def _read_all(ops: FileOps, fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = ops.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def read_log(path: str | os.PathLike[str]) -> LogScan:
    """Read-only: scan the log at `path` without repairing anything (for `raftzmq inspect`). Raises
    FileNotFoundError, OSError, CorruptLogError."""
    return scan_log(Path(path).read_bytes(), path)


def describe_log(path: str | os.PathLike[str], state: HardState | None) -> dict[str, Any]:
    """Read-only: what the log at `path` holds, with the hard state beside it (`raftzmq inspect`): per entry its
    index, term, size (data bytes), byte offset of its record, chained digest, whether it is committed (index <=
    the hard state's commit), and the data (UTF-8, undecodable bytes escaped). Raises like `read_log`."""
    scan = read_log(path)
    commit = state.commit if state is not None else 0
    rows, digest = [], GENESIS
    for entry, offset in zip(scan.entries, scan.offsets):
        digest = chain(digest, entry.term, entry.data)
        rows.append({"index": entry.index, "term": entry.term, "size": len(entry.data), "offset": offset,
                     "digest": digest, "committed": entry.index <= commit,
                     "data": entry.data.decode("utf-8", "backslashreplace")})
    return {
        "wal": os.fspath(path), "bytes": scan.size, "last": len(scan.entries), "digest": digest,
        "term": state.term if state is not None else None,
        "voted_for": state.voted_for if state is not None else None,
        "commit": commit, "entries": rows,
        "torn_tail": None if scan.tail is None else {"offset": scan.tail.offset, "bytes": scan.tail.bytes,
                                                      "reason": scan.tail.reason},
    }


class WriteAheadLog:
    """One node's durable log; see the module docstring. Build it with `WriteAheadLog.open`."""

    def __init__(self, path: Path, ops: FileOps, fd: int, scan: LogScan, created: bool,
                 tail_cut: TailCut | None, commit: int) -> None:
        self.path = path
        self.created = created  # the file did not exist: this open created it (a first start)
        self.tail_cut = tail_cut  # the torn tail this open cut off, if any
        self._ops, self._fd = ops, fd
        self._entries = scan.entries
        self._offsets = scan.offsets
        self._size = scan.end if scan.end else len(FILE_HEADER)
        # Raw digests through 0..k for a prefix of the log (digest_at gives hex), extended only when asked: the
        # node's records take their digests from the embedding's own chain, so appends do not pay for these.
        self._digests = [bytes(8)]
        self._commit = commit
        self._dirty = False
        self._failed: str | None = None  # why the log is unusable (an earlier I/O error)

    def __repr__(self) -> str:
        return f"WriteAheadLog({str(self.path)!r}, last_index={self.last_index})"

    # ------------------------------------------------------------------ opening and recovery

    @classmethod
    def open(cls, path: str | os.PathLike[str], file_ops: FileOps | None = None,
             log_event: Callable[..., object] | None = None, *, commit: int = 0) -> WriteAheadLog:
        """Open (creating it if missing) and recover the log at `path`. A torn tail is cut and reported with
        `log_event("log_tail_cut", file=, offset=, bytes=)`; a corrupt log raises CorruptLogError, an I/O error
        StorageFatalError. `commit` (the hard state's) must be covered by the recovered log."""
        path = Path(path)
        ops = file_ops or _REAL_OPS
        step = "open log"
        created = False
        try:
            try:
                fd = ops.open(path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
            except FileNotFoundError:
                step = "create log"
                fd = ops.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                created = True
            try:
                step = "read log"
                data = _read_all(ops, fd)
                scan = scan_log(data, path)
                if commit > len(scan.entries):
                    raise CorruptLogError(path, f"the log holds entries up to {len(scan.entries)}, but the hard "
                                                f"state says {commit} are committed: committed entries are lost",
                                          scan.end)
                cut = scan.tail
                if cut is not None:
                    step = "cut torn tail"
                    ops.ftruncate(fd, scan.end)
                if scan.end == 0:  # new, or a torn header: write the header
                    step = "write log header"
                    _write_all(ops, fd, FILE_HEADER)
                if cut is not None or scan.end == 0:
                    step = "fsync log"
                    ops.fsync(fd)
                if created:
                    step = "fsync directory"
                    _fsync_dir(ops, path.parent)
            except BaseException:
                ops.close(fd)
                raise
        except OSError as exc:
            raise StorageFatalError(path, f"{step} failed: {exc}") from exc
        if cut is not None and log_event is not None:
            log_event("log_tail_cut", file=str(path), offset=cut.offset, bytes=cut.bytes)
        return cls(path, ops, fd, scan, created, cut, commit)

    # ------------------------------------------------------------------ reading

    @property
    def last_index(self) -> int:
        return len(self._entries)

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else 0

    @property
    def commit(self) -> int:
        return self._commit

    @property
    def size(self) -> int:
        """Bytes in the file (header and records; what is appended but not synced counts)."""
        return self._size

    def term_at(self, index: int) -> int:
        """The term of entry `index`; 0 for index 0 (before the log). IndexError beyond the log."""
        if index == 0:
            return 0
        if not 1 <= index <= len(self._entries):
            raise IndexError(f"index {index} is outside the log (1..{len(self._entries)})")
        return self._entries[index - 1].term

    def entries(self, lo: int, hi: int | None = None) -> list[Entry]:
        """Entries lo..hi inclusive (hi: the last by default); [] when lo > hi. IndexError outside the log."""
        last = len(self._entries)
        hi = last if hi is None else hi
        if lo > hi:
            return []
        if lo < 1 or hi > last:
            raise IndexError(f"entries {lo}..{hi} are outside the log (1..{last})")
        return self._entries[lo - 1:hi]

    def digest_at(self, index: int) -> str:
        """The chained digest through entry `index` (evidence/logdigest.py); GENESIS for 0."""
        if not 0 <= index <= len(self._entries):
            raise IndexError(f"index {index} is outside the log (0..{len(self._entries)})")
        digests = self._digests
        for entry in self._entries[len(digests) - 1:index]:
            digests.append(chain_raw(digests[-1], entry.term, entry.data))
        return digests[index].hex()

    # ------------------------------------------------------------------ writing

    def set_commit(self, commit: int) -> None:
        """Raise the commit floor (it never goes down; it cannot pass the log's end)."""
        if type(commit) is not int or not self._commit <= commit <= len(self._entries):
            raise ValueError(f"commit {commit!r} must be between the current floor {self._commit} and the last "
                             f"index {len(self._entries)}")
        self._commit = commit

    def append(self, entries: Sequence[Entry]) -> None:
        """Write `entries` (consecutive indexes, terms not going down). If entries[0].index is already in the log,
        the suffix from it is first cut off durably (ftruncate + fsync). Not durable until `sync`. Refuses
        (CommittedTruncationError, nothing written) to replace an entry at or below the commit floor."""
        if not entries:
            return
        self._usable()
        first = entries[0].index
        last = len(self._entries)
        self._check_batch(entries, first, last)
        if first <= last:
            if first <= self._commit:
                raise CommittedTruncationError(
                    f"{self.path}: refusing to replace entries {first}..{last}: entries up to {self._commit} are "
                    "committed (the log never truncates committed entries)")
            self._truncate(first)
        buf = b"".join(encode_record(e) for e in entries)
        offset = self._size
        try:
            _write_all(self._ops, self._fd, buf)
        except OSError as exc:
            self._fail("append", exc)
        for entry in entries:
            self._offsets.append(offset)
            offset += RECORD_OVERHEAD + len(entry.data)
            self._entries.append(entry)
        self._size = offset
        self._dirty = True

    def sync(self) -> bool:
        """Make everything appended so far durable with one fsync (none if nothing was appended since the last
        sync). Returns whether it fsynced."""
        self._usable()
        if not self._dirty:
            return False
        try:
            self._ops.fsync(self._fd)
        except OSError as exc:
            self._fail("fsync", exc)
        self._dirty = False
        return True

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                self._ops.close(fd)
            except OSError:
                pass
            self._failed = self._failed or "closed"

    # ------------------------------------------------------------------ internals

    def _check_batch(self, entries: Sequence[Entry], first: int, last: int) -> None:
        if not 1 <= first <= last + 1:
            raise ValueError(f"{self.path}: append from index {first} would leave a gap after {last}")
        prev_term = self.term_at(first - 1)
        for offset, entry in enumerate(entries):
            if not isinstance(entry, Entry):
                raise TypeError(f"expected Entry, got {type(entry).__name__}")
            if entry.index != first + offset:
                raise ValueError(f"entries must have consecutive indexes: {entry.index} after {first + offset - 1}")
            if entry.term < prev_term:
                raise ValueError(f"entry {entry.index} has term {entry.term} after term {prev_term}: "
                                 "terms in a log never go down")
            prev_term = entry.term

    def _truncate(self, first: int) -> None:
        offset = self._offsets[first - 1]
        try:
            self._ops.ftruncate(self._fd, offset)
            self._ops.fsync(self._fd)  # the truncation is durable before anything is written past it
        except OSError as exc:
            self._fail("truncate", exc)
        del self._entries[first - 1:], self._offsets[first - 1:], self._digests[first:]
        self._size = offset
        self._dirty = False  # that fsync covered what was appended before, too

    def _usable(self) -> None:
        if self._failed is not None:
            raise StorageFatalError(self.path, f"the log is not usable: {self._failed}")

    def _fail(self, step: str, exc: OSError) -> None:
        self._failed = f"an earlier {step} failed ({exc})"
        raise StorageFatalError(self.path, f"{step} failed: {exc}") from exc


def _write_all(ops: FileOps, fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = ops.append(fd, view)
        if written <= 0:  # a write that makes no progress would loop forever
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]


def _fsync_dir(ops: FileOps, directory: Path) -> None:
    dirfd = ops.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ops.fsync(dirfd)
    finally:
        ops.close(dirfd)
