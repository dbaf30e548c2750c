"""Running a supervisor: in this process (foreground `raftzmq start`) or forked into the background (--detach)."""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from raftzmq.runtime.config import ClusterConfig
from raftzmq.runtime.cluster.errors import SupervisorError
from raftzmq.runtime.cluster.rundir import RunDir, RunDirError
from raftzmq.runtime.cluster.supervisor import Supervisor

__all__ = ["run_supervisor", "fork_detached_supervisor"]


def run_supervisor(run: RunDir, config: ClusterConfig, *, resume: bool = False, spawn: str = "zygote",
                   on_ready: Callable[[], None] | None = None,
                   on_refresh: Callable[[dict[str, Any]], None] | None = None, refresh_s: float = 0.25,
                   **options: Any) -> None:
    """Set up, start every node and serve until stopped; always shuts the nodes down. Raises SupervisorError
    or RunDirError, before any node starts, when the run cannot begin. `options`: Supervisor's auth and net."""
    sup = Supervisor(run, config, resume=resume, spawn=spawn, **options)
    sup.install_signal_handlers()
    try:
        sup.setup()
    except BaseException:
        sup.release_network()  # namespaces of --net netns must not outlive a start that failed
        raise
    try:
        if on_ready is not None:
            on_ready()
        sup.start_all()
        sup.serve(on_refresh=on_refresh, refresh_s=refresh_s)
    finally:
        sup.shutdown()


def fork_detached_supervisor(run: RunDir, config: ClusterConfig, *, resume: bool = False,
                             spawn: str = "zygote", **options: Any) -> int:
    """Fork a supervisor into its own session and return its pid; its output goes to supervisor.out.

    A fork, not an exec: the CLI has already imported everything, which saves an interpreter start on the way
    to the first leader. The caller must not have created a ZeroMQ context yet (none may cross a fork); the
    child creates its own in setup().
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 2
    try:
        os.setsid()  # a Ctrl-C or hang-up of the launching terminal must not reach the cluster
        out = os.open(run.supervisor_out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(null)
        os.close(out)
        try:
            run_supervisor(run, config, resume=resume, spawn=spawn, **options)
            code = 0
        except (SupervisorError, RunDirError) as exc:
            print(f"raftzmq: {exc}", file=sys.stderr)
        except OSError as exc:  # e.g. the run directory became unwritable: one line, not a traceback
            print(f"raftzmq: {exc.filename or run.path}: {exc.strerror or exc}", file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
