"""How the supervisor starts node processes: a zygote (default), a preloaded forkserver, or fork+exec.

No ZeroMQ context ever crosses a fork:
- zygote: the supervisor imports the node's modules and forks a zygote *before* it creates its own context; the
  zygote forks every node on request. No interpreter is started at all (the supervisor is itself a fork of the
  CLI), which is what a user waits for: the forkserver below costs an exec and the same imports again, ~1 s of
  a start on a loaded 2-core machine (docs/benchmarks.md, start-up profile).
- forkserver: multiprocessing's, a fresh interpreter (started by exec) that preloads the node's modules and
  never creates a context.
- exec: fork+exec of `python -m raftzmq.runtime.node`, a pristine interpreter per node (~0.2 s of CPU each).
Each node creates its own context after the fork. Measured on a 2-core machine (docs/benchmarks.md): 101 nodes
ready in ~1 s from the forkserver against ~9 s by fork+exec.

A forked node's parent is the zygote or forkserver, not the supervisor. The chain still ends every node with its
supervisor: the zygote exits at EOF on its socket to the supervisor (and has PR_SET_PDEATHSIG), the forkserver
when the supervisor that started it dies (multiprocessing's alive pipe), and a node dies with its parent
(PR_SET_PDEATHSIG, set by the node).
"""
from __future__ import annotations

import gc
import importlib
import json
import multiprocessing
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Protocol

__all__ = ["SPAWN_METHODS", "child_env", "NodeHandle", "Spawner", "ExecSpawner", "ForkserverSpawner",
           "ZygoteSpawner", "make_spawner"]

SPAWN_METHODS = ("zygote", "forkserver", "exec")

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


# ---------------------------------------------------------------------------------------------------- zygote

_MSG_MAX = 1 << 20  # one datagram: a batch of spawn requests for 1,000 nodes is ~100 KB


class _ZygoteHandle:
    """A node forked by the zygote. Only the zygote can wait for it (it is its parent); the zygote reports the
    exit status over its socket, which the spawner reads whenever a handle is asked."""

    def __init__(self, spawner: ZygoteSpawner, pid: int) -> None:
        self._spawner, self.pid = spawner, pid

    @property
    def returncode(self) -> int | None:
        return self._spawner.exit_code(self.pid)

    def poll(self) -> int | None:
        self._spawner.read_reports(0.0)
        return self._spawner.exit_code(self.pid)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            code = self.poll()
            if code is not None:
                return code
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"node pid {self.pid}", timeout or 0)
            if not self._spawner.read_reports(0.5 if left is None else min(left, 0.5)) and not self._spawner.alive:
                raise subprocess.TimeoutExpired(f"node pid {self.pid} (its zygote is gone)", timeout or 0)


class ZygoteSpawner:
    """Forks a zygote from this (warm) process, which then forks the nodes. Must be created before this process
    has a ZeroMQ context or any thread: everything the zygote holds crosses into every node."""

    def __init__(self) -> None:
        for module in _PRELOAD:
            importlib.import_module(module)
        self._exits: dict[int, int] = {}
        self._seq = 0
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the zygote (its behaviour is tested through the nodes it forks)
            code = 1
            try:
                ours.close()
                _zygote_main(theirs)
                code = 0
            finally:
                os._exit(code)
        theirs.close()
        self.pid, self._sock, self.alive = pid, ours, True

    def spawn(self, run_dir: Path, node_id: int, incarnation: int, err_path: Path,
              env: dict[str, str]) -> NodeHandle:
        # `env` is what exec'd nodes get; forked nodes inherit the zygote's, which is this process's environment
        # when the zygote was forked (PYTHONPATH included, see child_env).
        return self.spawn_many([(run_dir, node_id, incarnation, err_path)], env)[0]

    def spawn_many(self, requests: list[tuple[Path, int, int, Path]], env: dict[str, str]) -> list[NodeHandle]:
        """Fork every requested node in one exchange with the zygote: on a loaded machine each exchange waits
        for two processes to be scheduled, which cost a start of 51 nodes ~1 s one by one (docs/benchmarks.md).
        """
        self._seq += 1
        self._sock.sendall(json.dumps({"spawn": [[str(r), n, k, str(e)] for r, n, k, e in requests],
                                       "seq": self._seq}).encode())
        while True:
            msg = self._recv(timeout=30.0 + 0.1 * len(requests))
            if msg is None:
                raise OSError(f"the zygote (pid {self.pid}) did not fork node(s) {[r[1] for r in requests]}")
            if msg.get("seq") == self._seq:
                if "error" in msg:
                    raise OSError(f"the zygote could not fork: {msg['error']}")
                return [_ZygoteHandle(self, int(pid)) for pid in msg["pids"]]

    def exit_code(self, pid: int) -> int | None:
        return self._exits.get(pid)

    def read_reports(self, timeout: float) -> bool:
        """Take in the exit reports the zygote has sent (waiting up to `timeout` for the first). False once the
        zygote is gone."""
        first = True
        while self.alive:
            msg = self._recv(timeout if first else 0.0)
            first = False
            if msg is None:
                break
        return self.alive

    def _recv(self, timeout: float) -> dict[str, Any] | None:
        """One message; exit reports are recorded on the way. None on timeout or when the zygote is gone."""
        while self.alive:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
            if not ready:
                return None
            data = self._sock.recv(_MSG_MAX)
            if not data:
                self.alive = False
                try:
                    os.waitpid(self.pid, 0)
                except ChildProcessError:
                    pass
                return None
            msg: dict[str, Any] = json.loads(data)
            if "exit" in msg:
                self._exits[int(msg["exit"])] = int(msg["code"])
            return msg
        return None

    def close(self) -> None:
        """Tell the zygote to go (EOF): it exits, and nodes still running die with it (PR_SET_PDEATHSIG)."""
        if self.alive:
            self._sock.close()
            self.alive = False
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass


def _zygote_main(sock: socket.socket) -> None:
    """The zygote's loop: fork a node per request, report each node's exit. Deaf to the terminal's signals (the
    supervisor stops the nodes itself, as with the forkserver); dies with the supervisor (EOF or PDEATHSIG)."""
    from raftzmq.runtime.node.process import set_parent_death_signal

    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() == 1:
        return
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    gc.freeze()  # what every node shares stays shared: the collector does not touch (copy) it after a fork
    children: set[int] = set()
    open_ = True
    while open_ or children:
        watched: list[int] = [sock.fileno(), wake_r] if open_ else [wake_r]
        ready, _, _ = select.select(watched, [], [], 5.0)
        if wake_r in ready:
            try:
                while os.read(wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            children.discard(pid)
            if open_:
                try:
                    sock.sendall(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())
                except OSError:
                    open_ = False
        if open_ and sock.fileno() in ready:
            data = sock.recv(_MSG_MAX)
            if not data:
                open_ = False  # the supervisor is gone or done: its nodes die with us (PDEATHSIG)
                break
            req = json.loads(data)
            pids: list[int] = []
            try:
                for run_dir, node_id, incarnation, err_path in req["spawn"]:
                    pid = os.fork()
                    if pid == 0:  # pragma: no cover - a node
                        _zygote_child(sock, wake_r, wake_w, run_dir, node_id, incarnation, err_path)
                    children.add(pid)
                    pids.append(pid)
            except OSError as exc:
                sock.sendall(json.dumps({"seq": req["seq"], "error": f"{exc} (after {len(pids)} forks)"}).encode())
                continue
            sock.sendall(json.dumps({"seq": req["seq"], "pids": pids}).encode())


def _zygote_child(sock: socket.socket, wake_r: int, wake_w: int, run_dir: str, node_id: int, incarnation: int,
                  err_path: str) -> None:  # pragma: no cover - runs in a node
    code = 1
    try:
        sock.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(wake_r)
        os.close(wake_w)
        gc.unfreeze()
        _node_main(run_dir, node_id, incarnation, err_path)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def single_threaded() -> bool:
    """Only a single-threaded process may fork a zygote (a thread's locks would be copied held). A supervisor in
    the CLI has no thread; one embedded in a process that already runs a ZeroMQ context (its I/O threads) has."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def make_spawner(method: str) -> Spawner:
    if method == "zygote":
        # A threaded host (e.g. a test process that has talked ZeroMQ) gets the forkserver: same nodes, slower.
        return ZygoteSpawner() if single_threaded() else ForkserverSpawner()
    if method == "forkserver":
        return ForkserverSpawner()
    if method == "exec":
        return ExecSpawner()
    raise ValueError(f"unknown spawn method {method!r}; choose from {', '.join(SPAWN_METHODS)}")
