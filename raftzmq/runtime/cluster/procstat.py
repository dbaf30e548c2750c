"""/proc/<pid>/stat, read in one place: a process's state, start time and CPU time (Linux, proc(5))."""
from __future__ import annotations

import os

__all__ = ["stat_fields", "state", "start_time", "cpu_seconds"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid: int) -> list[str] | None:
    """The fields after `comm` (which may hold spaces and parentheses): [0] is field 3 of proc(5), the state;
    None when the process is gone or /proc cannot be read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def state(pid: int) -> str | None:
    """R, S, D, T, Z... (field 3); None when there is no such process."""
    fields = stat_fields(pid)
    return fields[0] if fields else None


def start_time(pid: int) -> int | None:
    """Field 22: start time in clock ticks since boot (identifies a process beyond its reusable pid)."""
    fields = stat_fields(pid)
    try:
        return int(fields[19]) if fields else None
    except (ValueError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """utime + stime (fields 14 and 15) in seconds. OSError when the process is gone."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
