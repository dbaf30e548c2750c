"""Drive a real cluster through the CLI, and clean up every process it started by PID, even on failure."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from proc_helpers import wait_until
from raftzmq.runtime.cluster.rundir import pid_alive
from raftzmq.evidence.logfile import read_run

REPO = Path(__file__).resolve().parent.parent


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll `predicate` until it returns something truthy, or fail after `timeout` seconds saying `what`."""
    return wait_until(predicate, timeout, what, interval=interval)


def _is_ours(pid: int) -> bool:
    try:
        return b"raftzmq" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


class Cluster:
    """One run directory and the CLI commands that act on it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.env = dict(os.environ, RAFTZMQ_RUN_DIR=str(run_dir), PYTHONPATH=str(REPO))
        self.extra_pids: list[int] = []

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "raftzmq", *args], env=self.env, cwd=self.run_dir.parent,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"raftzmq {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def start(self, *args: str) -> subprocess.CompletedProcess:
        return self.cli("start", "--detach", "--run-dir", str(self.run_dir), *args)

    def status(self) -> dict[str, Any]:
        return json.loads(self.cli("status", "--json").stdout)

    def leader(self) -> int | None:
        return self.status()["leader"]

    def wait_leader(self, timeout: float = 5.0, other_than: int | None = None, min_term: int = 0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            st = self.status()
            ok = st["leader"] is not None and st["leader"] != other_than and st["term"] >= min_term
            return st if ok else None
        return wait_for(ready, timeout, f"a leader (not {other_than}, term >= {min_term})")

    def records(self, event: str | None = None, node: int | None = None) -> list[dict[str, Any]]:
        return [loc.record for loc in read_run(self.run_dir)
                if (event is None or loc.record["event"] == event) and (node is None or loc.record["node"] == node)]

    def pids(self) -> set[int]:
        """Every process this run ever started: supervisors and node incarnations."""
        found = set(self.extra_pids)
        if not self.run_dir.is_dir():
            return found
        for rec in self.records():
            if rec["event"] in ("node_spawned", "cluster_started") and "pid" in rec:
                found.add(rec["pid"])
        return found

    def live_pids(self) -> set[int]:
        return {p for p in self.pids() if pid_alive(p) and _is_ours(p)}

    def cleanup(self) -> None:
        """Stop politely, then SIGKILL by PID whatever is left."""
        if (self.run_dir / "supervisor.pid").exists():
            self.cli("stop", check=False, timeout=30)
        for pid in self.live_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextmanager
def cluster_session(run_dir: Path, *, check: bool = True,
                    after_cleanup: Callable[[Cluster], None] | None = None) -> Iterator[Cluster]:
    """The live-cluster fixture every cluster test uses: yields a Cluster, then stops it and SIGKILLs whatever is
    left even when the test failed, runs `after_cleanup` (more teardown, e.g. namespaces), asserts no process is
    left behind and, with `check`, that `raftzmq check` finds the run clean (if a cluster was started at all)."""
    c = Cluster(run_dir)
    try:
        yield c
    finally:
        c.cleanup()
        if after_cleanup is not None:
            after_cleanup(c)
        assert not c.live_pids(), "processes left behind"
    if check and (c.run_dir / "cluster.json").exists():
        verdict = c.cli("check", str(c.run_dir), check=False)
        assert verdict.returncode == 0, verdict.stdout + verdict.stderr
