"""The simulator's disk: per node, what survives a crash.

"safe" models raftzmq/runtime/node/storage.py: every persist is write + fsync before the core's output is applied
further, so a crash loses nothing the node was told is durable.

"unsafe-no-fsync" models a storage layer that skips fsync: a persist lands in the page cache and reaches the
platter only at a later, random writeback. A crash (power loss, not SIGKILL) drops the page cache, so a restart
can load an older term/vote than the node logged as `state_persisted` - which the checker must catch.
"""
from __future__ import annotations

import random

from raftzmq.protocol.core import HardState

__all__ = ["DISK_MODES", "SimDisk"]

DISK_MODES = ("safe", "unsafe-no-fsync")

# Writeback delay after the first unsynced write (Linux' dirty_expire is seconds; shorter keeps runs eventful).
_WRITEBACK = (0.05, 1.0)


class SimDisk:
    def __init__(self, mode: str, rng: random.Random) -> None:
        if mode not in DISK_MODES:
            raise ValueError(f"disk mode must be one of {DISK_MODES}, got {mode!r}")
        self.mode = mode
        self.rng = rng
        self.durable: dict[int, HardState] = {}
        self.dirty: dict[int, HardState] = {}  # unsafe mode: written, not yet synced
        self.lost_writes = 0  # unsynced writes dropped by crashes

    def write(self, node: int, state: HardState, now: float) -> float | None:
        """Persist `state`. Returns when the caller must call `sync(node)` (unsafe mode, first dirty write)."""
        if self.mode == "safe":
            self.durable[node] = state
            return None
        first = node not in self.dirty
        self.dirty[node] = state
        return now + self.rng.uniform(*_WRITEBACK) if first else None

    def sync(self, node: int) -> None:
        state = self.dirty.pop(node, None)
        if state is not None:
            self.durable[node] = state

    def crash(self, node: int) -> None:
        if self.dirty.pop(node, None) is not None:
            self.lost_writes += 1

    def load(self, node: int) -> HardState:
        # A running node never reads its state back, so only the durable copy matters.
        return self.durable.get(node) or HardState()
