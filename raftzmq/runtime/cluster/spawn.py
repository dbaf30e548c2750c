"""How the supervisor starts node processes: a preloaded forkserver (default) or fork+exec.

Either way no ZeroMQ context crosses a fork: fork+exec starts a fresh interpreter, and the forkserver is itself
a fresh interpreter (multiprocessing starts it by exec) that imports the node's modules but never creates a
context; each node creates its own after the fork. Measured on a 2-core machine (docs/benchmarks.md): 101 nodes
ready in ~1 s from the forkserver against ~9 s by fork+exec, because an exec pays interpreter start and imports
(~0.2 s of CPU) per node.

A forked node's parent is the forkserver, not the supervisor. The chain still ends every node with its
supervisor: the forkserver exits when the supervisor that started it dies (multiprocessing's alive pipe), and a
node dies with its parent (PR_SET_PDEATHSIG, set by the node).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Protocol

__all__ = ["SPAWN_METHODS", "child_env", "NodeHandle", "Spawner", "ExecSpawner", "ForkserverSpawner", "make_spawner"]

SPAWN_METHODS = ("forkserver", "exec")

# What a node imports; loaded once in the forkserver so that each fork starts warm.
_PRELOAD = ["zmq", "raftzmq.runtime.node.process", "raftzmq.runtime.node.transport", "raftzmq.runtime.node.netem",
            "raftzmq.runtime.node.storage", "raftzmq.runtime.config", "raftzmq.runtime.node.failpoints", "raftzmq.protocol",
            "raftzmq.evidence.logfile"]


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child raftzmq process: `base` (default: ours) with this very package importable,
    installed or not (`python cli.py` from a checkout)."""
    import raftzmq

    env = dict(os.environ if base is None else base)
    root = str(Path(raftzmq.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    return env


class NodeHandle(Protocol):
    pid: int

    @property
    def returncode(self) -> int | None: ...

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class Spawner(Protocol):
    def spawn(self, run_dir: Path, node_id: int, incarnation: int, err_path: Path,
              env: dict[str, str]) -> NodeHandle: ...


class ExecSpawner:
    """fork+exec of `python -m raftzmq.runtime.node`: slower, but each node is a pristine interpreter."""

    def spawn(self, run_dir: Path, node_id: int, incarnation: int, err_path: Path,
              env: dict[str, str]) -> NodeHandle:
        args = [sys.executable, "-m", "raftzmq.runtime.node", "--run-dir", str(run_dir), "--id", str(node_id),
                "--incarnation", str(incarnation), "--supervisor-pid", str(os.getpid())]
        with open(err_path, "ab") as err:
            # Own process group: a Ctrl-C in the terminal reaches the supervisor only, which then stops the
            # nodes in order and logs it.
            return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                    env=env, process_group=0, close_fds=True)


class _ProcessHandle:
    """A multiprocessing.Process seen through the subset of subprocess.Popen the supervisor uses."""

    def __init__(self, proc: multiprocessing.process.BaseProcess) -> None:
        self._proc = proc
        assert proc.pid is not None, "started before it is handed over"
        self.pid: int = proc.pid

    @property
    def returncode(self) -> int | None:
        return self._proc.exitcode

    def poll(self) -> int | None:
        return self._proc.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._proc.join(timeout)
        if self._proc.exitcode is None:
            raise subprocess.TimeoutExpired(f"node pid {self.pid}", timeout or 0)
        return self._proc.exitcode


def _node_main(run_dir: str, node_id: int, incarnation: int, err_path: str) -> None:
    # Runs in the forked child. Same surroundings as an exec'd node: its own process group, stdin from
    # /dev/null, stdout discarded, stderr appended to node-<id>.err.
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_RDWR)
    err = os.open(err_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(err, 2)
    os.close(null)
    os.close(err)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # the forkserver ignores them; a node must not
        signal.signal(sig, signal.SIG_DFL)
    # multiprocessing hands every child a copy of the forkserver's "alive" pipe, and the forkserver only exits
    # at EOF on that pipe: a live node would keep it (and so itself) running after the supervisor died. Close
    # our copy, so that the supervisor's death ends the forkserver and, through PR_SET_PDEATHSIG, every node.
    from multiprocessing import forkserver

    alive_fd = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_alive_fd", None)
    if alive_fd is not None:
        try:
            os.close(alive_fd)
        except OSError:
            pass
    from raftzmq.runtime.node.process import run_node

    parent = os.getppid()
    if parent == 1:
        sys.exit(0)  # the forkserver is already gone, and with it the supervisor
    sys.exit(run_node(run_dir, node_id, incarnation, parent))


def _start_forkserver_deaf_to_group_signals() -> None:
    """Start the forkserver with SIGTERM and SIGHUP ignored (an ignored disposition survives exec).

    It shares the supervisor's process group, so `timeout 20 raftzmq start` or a closed terminal signals it too.
    Had it died of that, its nodes would die with it (PR_SET_PDEATHSIG) before the supervisor could stop them,
    and multiprocessing would report their exit codes as 255: a clean stop shown as every node failing. The
    supervisor stops the nodes itself; the forkserver still exits when the supervisor does (its alive pipe).
    A SIGTERM that reaches the supervisor during these few milliseconds is lost; Ctrl-C (SIGINT) is not.
    """
    from multiprocessing import forkserver

    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        forkserver.ensure_running()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ForkserverSpawner:
    """Forks nodes from a warm forkserver (multiprocessing) started for this supervisor."""

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(_PRELOAD)
        _start_forkserver_deaf_to_group_signals()

    def spawn(self, run_dir: Path, node_id: int, incarnation: int, err_path: Path,
              env: dict[str, str]) -> NodeHandle:
        # `env` is what exec'd nodes get; forked nodes inherit the forkserver's, which is this process's
        # environment when the forkserver started (PYTHONPATH included, see child_env).
        proc = self._ctx.Process(target=_node_main, args=(str(run_dir), node_id, incarnation, str(err_path)),
                                 name=f"raftzmq-node-{node_id}", daemon=True)
        proc.start()
        return _ProcessHandle(proc)


def make_spawner(method: str) -> Spawner:
    if method == "forkserver":
        return ForkserverSpawner()
    if method == "exec":
        return ExecSpawner()
    raise ValueError(f"unknown spawn method {method!r}; choose from {', '.join(SPAWN_METHODS)}")
