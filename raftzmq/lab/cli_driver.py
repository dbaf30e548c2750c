"""Drive the `raftzmq` CLI in a child process, as a user would (benchmarks and the chaos nemesis use it)."""
from __future__ import annotations

import subprocess
import sys

from ..runtime.spawn import child_env

__all__ = ["run_cli"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m raftzmq ARGS`; RuntimeError with its stderr if it fails."""
    proc = subprocess.run([sys.executable, "-m", "raftzmq", *args], env=child_env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"raftzmq {' '.join(args[:3])}... failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc
