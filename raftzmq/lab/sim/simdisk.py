"""The simulator's disk: per node, what survives a crash - the hard state and the write-ahead log.

"safe" models raftzmq/runtime/node/storage.py and runtime/node/wal.py: every persist is write + fsync before the core's
output is applied further (one group commit per turn), so a crash loses nothing the node was told is durable.

"unsafe-no-fsync" models a storage layer that skips fsync: a persist lands in the page cache and reaches the
platter only at a later, random writeback. A crash (power loss, not SIGKILL) drops the page cache, so a restart
can load an older term/vote than the node logged as `state_persisted`, and a shorter log than it acted on - an
entry it acknowledged, even one the cluster committed, can disappear - which the checker must catch.

The log of each node is a synced prefix plus an unsynced tail: the writes (each an append that replaces the
suffix from its first index, as WriteAheadLog.append does) made since the last sync, in order. A crash keeps the
synced part and drops the tail. A torn crash (`crash(node, torn=True)`) is a crash in the middle of writing the
tail: the disk kept it in write order up to a partly written record (the record and how many of its bytes are
drawn from the disk's rng); the restart (`load_log`) keeps the whole records before it and cuts the torn one,
reporting it as WriteAheadLog.open does (`log_tail_cut`). `crash(node, writing=entries)` is the crash of a node in
the middle of a turn's append, before its fsync returned: those entries were unsynced even in safe mode.

Pure and deterministic: no files; randomness only from the rng it is given; sizes are the real record sizes.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from raftzmq.protocol.core import HardState
from raftzmq.protocol.messages import Entry
from raftzmq.runtime.node.wal import FILE_HEADER, RECORD_OVERHEAD

__all__ = ["DISK_MODES", "SimDisk", "LogLoad"]

DISK_MODES = ("safe", "unsafe-no-fsync", "async")  # async: safe writes, made when they complete (asyncdisk.py)

# Writeback delay after the first unsynced write (Linux' dirty_expire is seconds; shorter keeps runs eventful).
_WRITEBACK = (0.05, 1.0)


@dataclass(frozen=True, slots=True)
class LogLoad:
    """What a restarting node recovers: its entries, and the torn tail its WAL cut (offset and bytes, as in
    `log_tail_cut`), if the crash was torn."""

    entries: list[Entry]
    tail_cut: tuple[int, int] | None = None  # (offset, bytes)


@dataclass(slots=True)
class _Log:
    synced: list[Entry] = field(default_factory=list)
    tail: list[list[Entry]] = field(default_factory=list)  # unsynced writes, in order
    torn: tuple[int, int] | None = None  # a torn tail the next load cuts (offset, bytes)


def _apply(log: list[Entry], write: Sequence[Entry]) -> list[Entry]:
    return log[:write[0].index - 1] + list(write)


def _size(entry: Entry) -> int:
    return RECORD_OVERHEAD + len(entry.data)


class SimDisk:
    def __init__(self, mode: str, rng: random.Random) -> None:
        if mode not in DISK_MODES:
            raise ValueError(f"disk mode must be one of {DISK_MODES}, got {mode!r}")
        self.mode = mode
        self.rng = rng
        self.durable: dict[int, HardState] = {}
        self.dirty: dict[int, HardState] = {}  # unsafe mode: written, not yet synced
        self.lost_writes = 0  # unsynced hard-state writes dropped by crashes
        self.logs: dict[int, _Log] = {}
        self.lost_entries = 0  # entries of unsynced log tails that crashes dropped (net of what a torn crash kept)
        self.tails_cut = 0  # torn crashes that left a partly written record

    # ------------------------------------------------------------------ hard state

    def write(self, node: int, state: HardState, now: float) -> float | None:
        """Persist `state`. Returns when the caller must call `sync(node)` (unsafe mode, first dirty write)."""
        if self.mode != "unsafe-no-fsync":
            self.durable[node] = state
            return None
        first = not self._has_unsynced(node)
        self.dirty[node] = state
        return now + self.rng.uniform(*_WRITEBACK) if first else None

    def load(self, node: int) -> HardState:
        # A running node never reads its state back, so only the durable copy matters.
        return self.durable.get(node) or HardState()

    # ------------------------------------------------------------------ the log

    def log_write(self, node: int, entries: Sequence[Entry], now: float) -> float | None:
        """One turn's append (replacing the suffix from entries[0].index) and its group commit. Safe mode: durable
        on return. Unsafe mode: unsynced until the writeback; returns when to call `sync(node)` (first dirty
        write; one writeback covers the hard state and the log)."""
        if not entries:
            return None
        log = self.logs.setdefault(node, _Log())
        self._check(self.view(node), entries)
        if self.mode != "unsafe-no-fsync":
            log.synced = _apply(log.synced, entries)
            return None
        first = not self._has_unsynced(node)
        log.tail.append(list(entries))
        return now + self.rng.uniform(*_WRITEBACK) if first else None

    def view(self, node: int) -> list[Entry]:
        """The log as the node wrote it (synced prefix with the unsynced tail applied)."""
        log = self.logs.get(node)
        if log is None:
            return []
        out = log.synced
        for write in log.tail:
            out = _apply(out, write)
        return list(out)

    def synced_log(self, node: int) -> list[Entry]:
        log = self.logs.get(node)
        return list(log.synced) if log else []

    def load_log(self, node: int) -> LogLoad:
        """What a restarting node's WAL recovers (a torn tail is cut once: a second load reports none)."""
        log = self.logs.get(node)
        if log is None:
            return LogLoad([])
        torn, log.torn = log.torn, None
        return LogLoad(list(log.synced), torn)

    # ------------------------------------------------------------------ sync and crash

    def sync(self, node: int) -> None:
        """The writeback: everything unsynced of `node` (hard state and log tail) becomes durable."""
        state = self.dirty.pop(node, None)
        if state is not None:
            self.durable[node] = state
        log = self.logs.get(node)
        if log is not None and log.tail:
            log.synced = self.view(node)
            log.tail = []

    def crash(self, node: int, torn: bool = False, writing: Sequence[Entry] = ()) -> None:
        """Power loss at `node`: what was not synced is gone. `writing`: the entries of the append the node was
        in when it crashed (not synced, whatever the mode). `torn`: the unsynced log tail was being written and
        survives up to a partly written record (see the module docstring)."""
        if self.dirty.pop(node, None) is not None:
            self.lost_writes += 1
        log = self.logs.setdefault(node, _Log())
        if writing:
            self._check(self.view(node), writing)
            log.tail.append(list(writing))
        tail, log.tail = log.tail, []
        if not tail:
            return
        lost = len(_tail_entries(tail))
        if torn:
            records = [(w, k) for w, write in enumerate(tail) for k in range(len(write))]
            w, k = records[self.rng.randrange(len(records))]
            kept = log.synced
            for write in tail[:w]:
                kept = _apply(kept, write)
            if k:
                kept = _apply(kept, tail[w][:k])
            elif tail[w][0].index <= len(kept):  # its truncation happened before the torn record
                kept = kept[:tail[w][0].index - 1]
            offset = len(FILE_HEADER) + sum(_size(e) for e in kept)
            torn_bytes = 1 + self.rng.randrange(_size(tail[w][k]) - 1)
            log.synced, log.torn = kept, (offset, torn_bytes)
            self.tails_cut += 1
            lost -= sum(len(write) for write in tail[:w]) + k
        self.lost_entries += lost

    # ------------------------------------------------------------------ internals

    def _has_unsynced(self, node: int) -> bool:
        log = self.logs.get(node)
        return node in self.dirty or bool(log and log.tail)

    @staticmethod
    def _check(log: list[Entry], entries: Sequence[Entry]) -> None:
        first = entries[0].index
        if not 1 <= first <= len(log) + 1 or any(e.index != first + i for i, e in enumerate(entries)):
            raise ValueError(f"log write from index {first} must be consecutive and follow the log "
                             f"(1..{len(log)})")


def _tail_entries(tail: list[list[Entry]]) -> list[Entry]:
    return [e for write in tail for e in write]
