"""Drive the `raftzmq` CLI in a child process, as a user would (benchmarks and the chaos nemesis use it)."""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from raftzmq.runtime.cluster.control import ControlClient, ControlError
from raftzmq.runtime.cluster.rundir import RunDir
from raftzmq.runtime.cluster.spawn import child_env
from raftzmq.runtime.cluster.waiting import wait_until

__all__ = ["detached_cluster", "run_cli", "stop_cluster"]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m raftzmq ARGS`; RuntimeError with its stderr if it fails."""
    proc = subprocess.run([sys.executable, "-m", "raftzmq", *args], env=child_env(), capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"raftzmq {' '.join(args[:3])}... failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def stop_cluster(client: ControlClient, run_dir: Path, timeout: float = 15.0) -> None:
    """Ask the supervisor to stop the cluster and wait (bounded) until it has exited."""
    try:
        client.request("stop")
    except ControlError:
        return
    wait_until(lambda: RunDir(run_dir).live_supervisor() is None, timeout, interval=0.05)


@contextmanager
def detached_cluster(run_dir: Path, *start_args: str) -> Iterator[ControlClient]:
    """`raftzmq start --detach --run-dir RUN_DIR START_ARGS`, a control client for it, and a bounded stop of the
    cluster when the block ends, however it ends (the way lab runs start and stop their clusters)."""
    run_cli("start", "--detach", "--run-dir", str(run_dir), *start_args)
    client = ControlClient(RunDir(run_dir))
    try:
        yield client
    finally:
        stop_cluster(client, run_dir)
