"""Disk faults at the storage layer: a FileOps (storage.py's port) whose operations fail as a failing disk's do,
and the place where the `before_rename` failpoint sits (between the synced temp file and the rename).

A node's StateFile performs its durable replace, and its write-ahead log (wal.py) its appends, truncations and
fsyncs, through one of these. Once a fault is armed (by the supervisor,
over netctl, see runtime/node/nodefaults.py), the matching operation raises the OSError the kernel would return, so
the node takes exactly the path a real failure takes: StateFile raises StorageFatalError, the node logs
`node_failed` with the reason and exits with its storage exit code before anything of that Output is logged as
done or sent. A fault stays armed for the rest of the process: a disk that failed once is not trusted again.

Faults (name -> operation, errno):
  write:ENOSPC, write:EIO       writing the state file's temp file (a full disk; a medium error)
  fsync:ENOSPC, fsync:EIO       any fsync: the temp file's, the directory's, the log's (the write-back found no
                                space / failed; see STYLE.md: never retried)
  rename:ENOSPC, rename:EIO     replacing the state file (the directory needed a block / a medium error)
  readonly                      creating a file fails with EROFS (the file system went read-only, as ext4 does
                                after an error with errors=remount-ro)
  append:ENOSPC, append:EIO     appending records to the write-ahead log
  truncate:ENOSPC, truncate:EIO cutting the log back (a conflicting suffix replaced, a torn tail cut at start)
  torn                          a torn write: the next append to the log writes only the first half of its bytes
                                (at least one, never all), then the node crashes (SIGKILL: what a power cut in
                                the middle of a write leaves); its next start cuts the torn record off and logs
                                `log_tail_cut`

STATE_FAULTS are the ones a save of the hard state meets (every term/vote change: an election is enough to fire
them); LOG_FAULTS fire only once the node writes its log. `raftzmq disk` offers all of them.
"""
from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable

from raftzmq.runtime.node.storage import FileOps

__all__ = ["DISK_FAULTS", "STATE_FAULTS", "LOG_FAULTS", "TORN", "DiskFaultError", "FaultyFileOps", "check_fault"]

TORN = "torn"

# fault name -> (operation that fails, errno it fails with; 0 for the torn write, which crashes instead)
DISK_FAULTS: dict[str, tuple[str, int]] = {
    "write:ENOSPC": ("write", errno.ENOSPC),
    "write:EIO": ("write", errno.EIO),
    "fsync:ENOSPC": ("fsync", errno.ENOSPC),
    "fsync:EIO": ("fsync", errno.EIO),
    "rename:ENOSPC": ("rename", errno.ENOSPC),
    "rename:EIO": ("rename", errno.EIO),
    "readonly": ("create", errno.EROFS),
    "append:ENOSPC": ("append", errno.ENOSPC),
    "append:EIO": ("append", errno.EIO),
    "truncate:ENOSPC": ("truncate", errno.ENOSPC),
    "truncate:EIO": ("truncate", errno.EIO),
    TORN: ("append", 0),
}
# A hard-state save meets these (in this order: the nemesis draws from this tuple, so keep it stable).
STATE_FAULTS = tuple(n for n, (op, _) in DISK_FAULTS.items() if op in ("write", "fsync", "rename", "create"))
LOG_FAULTS = tuple(n for n in DISK_FAULTS if n not in STATE_FAULTS or DISK_FAULTS[n][0] in ("fsync", "create"))


class DiskFaultError(ValueError):
    """An unknown disk fault name."""


def check_fault(name: object) -> str:
    if not isinstance(name, str) or name not in DISK_FAULTS:
        raise DiskFaultError(f"unknown disk fault {name!r}; known: {', '.join(DISK_FAULTS)}")
    return name


class FaultyFileOps(FileOps):
    """The real file operations until `arm(fault)`; from then on the fault's operation fails."""

    def __init__(self) -> None:
        self.armed: str | None = None
        # Called just before the rename, when the new state is written and synced to the temp file but the state
        # file is not replaced yet: the node hangs its `before_rename` failpoint here.
        self.before_rename: Callable[[], None] | None = None
        # The torn write's crash (never returns in a node; a test may raise instead).
        self.crash: Callable[[], None] = _sigkill_self

    def arm(self, fault: str | None) -> None:
        """Arm `fault` (None: the disk works again — only before it failed, see the module docstring)."""
        self.armed = None if fault is None else check_fault(fault)

    def _maybe_fail(self, op: str, path: object = None) -> None:
        if self.armed is None or self.armed == TORN:
            return
        failing_op, code = DISK_FAULTS[self.armed]
        if op == failing_op:
            raise OSError(code, f"{os.strerror(code)} (injected: {self.armed})", *([str(path)] if path else []))

    def open(self, path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        if flags & os.O_CREAT:
            self._maybe_fail("create", path)
        return super().open(path, flags, mode)

    def write(self, fd: int, data: memoryview) -> int:
        self._maybe_fail("write")
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._maybe_fail("fsync")
        super().fsync(fd)

    def replace(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if self.before_rename is not None:
            self.before_rename()
        self._maybe_fail("rename", src)
        super().replace(src, dst)

    def append(self, fd: int, data: memoryview) -> int:
        if self.armed == TORN:
            if len(data) > 1:
                super().append(fd, data[:max(1, len(data) // 2)])
            self.crash()
            raise OSError(errno.EIO, "torn write: the crash after it did not happen (injected: torn)")
        self._maybe_fail("append")
        return super().append(fd, data)

    def ftruncate(self, fd: int, length: int) -> None:
        self._maybe_fail("truncate")
        super().ftruncate(fd, length)


def _sigkill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
