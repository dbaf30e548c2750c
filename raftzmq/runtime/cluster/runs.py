"""Old runs under the logs root: what is there, and which of them `raftzmq clean` may delete.

Only directories that look like runs (a cluster.json, a *.jsonl log or a supervisor.out inside) are ever
considered; a running cluster's directory and the one logs/latest points to are never deleted.
"""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from raftzmq.runtime.cluster.rundir import running_clusters

__all__ = ["RunInfo", "list_runs", "parse_age", "select_for_removal", "remove_run"]

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class RunInfo:
    path: Path
    last_write: float  # newest mtime of the directory or a file in it (Unix seconds)
    size: int  # bytes of the files directly inside
    protected: str | None  # why it must stay ("running", "latest"), or None


def parse_age(text: str) -> float:
    """'30m', '12h', '7d', '2w' -> seconds. ValueError (naming the text) for anything else."""
    m = _AGE.match(text)
    if not m:
        raise ValueError(f"expected a number with a unit s, m, h, d or w (e.g. 7d, 12h), got {text!r}")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _is_run(path: Path) -> bool:
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(n == "cluster.json" or n == "supervisor.out" or n.endswith(".jsonl") for n in names)


def _usage(path: Path) -> tuple[float, int]:
    newest, size = path.stat().st_mtime, 0
    for entry in os.scandir(path):
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        newest = max(newest, st.st_mtime)
        size += st.st_size if entry.is_file(follow_symlinks=False) else 0
    return newest, size


def list_runs(root: Path) -> list[RunInfo]:
    """Every run directory directly under `root`, newest first."""
    if not root.is_dir():
        return []
    running = {run.path.resolve() for run, _ in running_clusters(root)}
    latest = (root / "latest").resolve() if (root / "latest").is_symlink() else None
    out = []
    for path in root.iterdir():
        if path.is_symlink() or not path.is_dir() or not _is_run(path):
            continue
        real = path.resolve()
        why = "running" if real in running else "latest" if real == latest else None
        out.append(RunInfo(path, *_usage(path), why))
    return sorted(out, key=lambda r: r.last_write, reverse=True)


def select_for_removal(runs: list[RunInfo], *, keep: int | None, older_than_s: float | None,
                       now: float) -> list[RunInfo]:
    """Runs beyond the `keep` newest and/or last written more than `older_than_s` ago (both, if both are
    given); never a protected one. `runs` is newest first, as list_runs returns it."""
    chosen = []
    for index, run in enumerate(runs):
        beyond = keep is None or index >= keep
        old = older_than_s is None or now - run.last_write > older_than_s
        if beyond and old and run.protected is None:
            chosen.append(run)
    return chosen


def remove_run(run: RunInfo) -> None:
    """Delete one run directory (OSError propagates, naming the path)."""
    shutil.rmtree(run.path)
