"""Disk faults at the storage layer: a FileOps (storage.py's port) whose operations fail as a failing disk's do,
and the place where the `before_rename` failpoint sits (between the synced temp file and the rename).

A node's StateFile performs its durable replace through one of these. Once a fault is armed (by the supervisor,
over netctl, see runtime/node/nodefaults.py), the matching operation raises the OSError the kernel would return, so
the node takes exactly the path a real failure takes: StateFile raises StorageFatalError, the node logs
`node_failed` with the reason and exits with its storage exit code before anything of that Output is logged as
done or sent. A fault stays armed for the rest of the process: a disk that failed once is not trusted again.

Faults (name -> operation, errno):
  write:ENOSPC, write:EIO     writing the temp file (a full disk; a medium error)
  fsync:ENOSPC, fsync:EIO     syncing it (the write-back found no space / failed; see STYLE.md: never retried)
  rename:ENOSPC, rename:EIO   replacing the state file (the directory needed a block / a medium error)
  readonly                    creating the temp file fails with EROFS (the file system went read-only, as ext4
                              does after an error with errors=remount-ro)
"""
from __future__ import annotations

import errno
import os
from collections.abc import Callable

from raftzmq.runtime.node.storage import FileOps

__all__ = ["DISK_FAULTS", "DiskFaultError", "FaultyFileOps", "check_fault"]

# fault name -> (operation that fails, errno it fails with)
DISK_FAULTS: dict[str, tuple[str, int]] = {
    "write:ENOSPC": ("write", errno.ENOSPC),
    "write:EIO": ("write", errno.EIO),
    "fsync:ENOSPC": ("fsync", errno.ENOSPC),
    "fsync:EIO": ("fsync", errno.EIO),
    "rename:ENOSPC": ("rename", errno.ENOSPC),
    "rename:EIO": ("rename", errno.EIO),
    "readonly": ("create", errno.EROFS),
}


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

    def arm(self, fault: str | None) -> None:
        """Arm `fault` (None: the disk works again — only before it failed, see the module docstring)."""
        self.armed = None if fault is None else check_fault(fault)

    def _maybe_fail(self, op: str, path: object = None) -> None:
        if self.armed is None:
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
