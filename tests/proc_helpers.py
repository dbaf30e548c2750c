"""Helpers for tests that run real processes: spawn, wait with a deadline, always clean up by PID.

Usage (pytest)::

    from proc_helpers import Procs, wait_until, free_tcp_ports, repo_env

    @pytest.fixture
    def procs(tmp_path):
        with Procs(tmp_path / "proc-out") as p:
            yield p                      # every process spawned through p is SIGKILLed and reaped afterwards

    def test_x(procs):
        p = procs.spawn([sys.executable, "-m", "raftzmq.runtime.node", ...], name="node1")
        wait_until(lambda: "x" in p.stdout_text(), timeout=5, what="x on stdout")

Nothing here sleeps as synchronisation: `wait_until` re-checks a condition every few ms until a deadline and
then fails with a message saying what it was waiting for (and, optionally, diagnostics).
Only PIDs this module started (or was explicitly told about with `adopt`) are ever signalled, and an adopted
PID is only killed if its /proc start time still matches (so a recycled PID is never hit).
"""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from raftzmq.runtime.cluster.procstat import start_time
from raftzmq.runtime.cluster.rundir import pid_alive
from raftzmq.runtime.cluster.waiting import wait_until as poll_until

__all__ = [
    "REPO_ROOT",
    "Proc",
    "Procs",
    "WaitTimeout",
    "wait_until",
    "pid_exists",
    "proc_start_time",
    "free_tcp_ports",
    "repo_env",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A wait_until deadline passed. An AssertionError so pytest shows it as a test failure."""


def wait_until(predicate: Callable[[], T], timeout: float, what: str, *, interval: float = 0.01,
               diagnostics: Callable[[], str] | None = None) -> T:
    """Call `predicate` until it returns something truthy (returned) or `timeout` seconds pass (WaitTimeout
    naming `what`, plus `diagnostics()` if given). Exceptions from the predicate propagate."""
    result = poll_until(predicate, timeout, interval=interval)
    if result:
        return result
    msg = f"timed out after {timeout:g}s waiting for {what}"
    if diagnostics is not None:
        try:
            msg += "\n" + diagnostics()
        except Exception as exc:  # diagnostics must never hide the timeout itself
            msg += f"\n(diagnostics failed: {exc!r})"
    raise WaitTimeout(msg)


pid_exists = pid_alive  # one definition of "alive" (not a zombie), shared with the runtime


proc_start_time = start_time  # field 22 of /proc/<pid>/stat: identifies a process beyond its PID


def free_tcp_ports(n: int) -> list[int]:
    """n distinct currently-free loopback ports (bound together, then released: collisions are unlikely, not
    impossible — a test that cares retries or tolerates exit code 3 'address in use')."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def repo_env(extra: Mapping[str, str] | None = None, *, drop: Iterable[str] = ()) -> dict[str, str]:
    """os.environ with the repo root first on PYTHONPATH (so `python -m raftzmq...` works uninstalled)."""
    env = dict(os.environ)
    for key in drop:
        env.pop(key, None)
    parts = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


class Proc:
    """One spawned process; stdout/stderr go to files (never pipes: a full pipe would block the child)."""

    def __init__(self, popen: subprocess.Popen[bytes], name: str, stdout_path: Path, stderr_path: Path) -> None:
        self.popen, self.name = popen, name
        self.pid = popen.pid
        self.stdout_path, self.stderr_path = stdout_path, stderr_path
        self.spawned_at = time.monotonic()

    def poll(self) -> int | None:
        return self.popen.poll()

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait(self, timeout: float) -> int:
        """Wait for exit (bounded); returns the return code (negative = killed by that signal)."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(f"{self.name} (pid {self.pid}) did not exit within {timeout:g}s\n"
                              f"stderr: {self.stderr_text()[-2000:]}") from None

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:  # not reaped yet: the PID is still ours
            self.popen.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    def stdout_text(self) -> str:
        return _read(self.stdout_path)

    def stderr_text(self) -> str:
        return _read(self.stderr_path)

    def __repr__(self) -> str:
        return f"<Proc {self.name} pid={self.pid} rc={self.popen.poll()}>"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


_LIVE_GROUPS: "weakref.WeakSet[Procs]" = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:  # last line of defence if a finalizer never ran (e.g. interpreter abort)
    for group in list(_LIVE_GROUPS):
        group.kill_all()


class Procs:
    """A set of processes that are all SIGKILLed and reaped by `kill_all()` (context exit, fixture finalizer,
    or at interpreter exit)."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []
        self._adopted: dict[int, int | None] = {}  # pid -> start time (processes we did not fork ourselves)
        _LIVE_GROUPS.add(self)

    def spawn(self, argv: Sequence[str], *, name: str | None = None, env: Mapping[str, str] | None = None,
              cwd: str | os.PathLike[str] | None = None, **popen_kwargs: Any) -> Proc:
        name = name or f"proc{len(self.procs) + 1}"
        out = self.out_dir / f"{name}.{len(self.procs)}.out"
        err = self.out_dir / f"{name}.{len(self.procs)}.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            popen = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                     env=dict(env) if env is not None else None, cwd=cwd, **popen_kwargs)
        proc = Proc(popen, name, out, err)
        self.procs.append(proc)
        return proc

    def adopt(self, pid: int) -> None:
        """Also clean up `pid` (e.g. a grandchild); remembered with its start time to avoid PID reuse."""
        self._adopted[pid] = proc_start_time(pid)

    def kill_all(self, timeout: float = 5.0) -> list[str]:
        """SIGKILL every process still running and reap it. Returns descriptions of any that would not die."""
        problems: list[str] = []
        for proc in self.procs:
            proc.kill()
        for pid, start in list(self._adopted.items()):
            if start is not None and proc_start_time(pid) == start:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problems.append(repr(proc))
        for pid, start in list(self._adopted.items()):
            def gone(pid: int = pid, start: int | None = start) -> bool:
                return start is None or proc_start_time(pid) != start or not pid_exists(pid)
            if not poll_until(gone, max(0.0, deadline - time.monotonic()), interval=0.01):
                problems.append(f"adopted pid {pid}")
        self._adopted.clear()
        return problems

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill_all()
        _LIVE_GROUPS.discard(self)
