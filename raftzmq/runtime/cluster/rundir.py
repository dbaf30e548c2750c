"""Where a live run keeps its files, and how commands find the run they act on (docs/CONTRACTS.md)."""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from .procstat import state

__all__ = [
    "RunDirError",
    "RunDir",
    "default_logs_root",
    "new_run_dir",
    "resolve_run_dir",
    "point_latest",
    "pid_alive",
    "registry_dir",
    "register_supervisor",
    "unregister_supervisor",
    "running_clusters",
]

# sun_path is 108 bytes on Linux; leave room for the terminating NUL.
_MAX_IPC_PATH = 100


class RunDirError(Exception):
    """No usable run directory (nothing running, wrong path, another cluster in it)."""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not alive for our purposes.
    return state(pid) != "Z"  # unreadable: it answered kill(0), so it is there


class RunDir:
    """Paths of one run directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).absolute()

    def __str__(self) -> str:
        return str(self.path)

    cluster_json = property(lambda self: self.path / "cluster.json")
    supervisor_log = property(lambda self: self.path / "supervisor.jsonl")
    supervisor_pid = property(lambda self: self.path / "supervisor.pid")
    supervisor_out = property(lambda self: self.path / "supervisor.out")
    net_json = property(lambda self: self.path / "net.json")
    faults_json = property(lambda self: self.path / "faults.json")

    def node_log(self, node: int) -> Path:
        return self.path / f"node-{node}.jsonl"

    def state_file(self, node: int) -> Path:
        return self.path / f"node-{node}.state"

    def wal_file(self, node: int) -> Path:
        return self.path / f"node-{node}.wal"

    def ipc_endpoint(self, name: str) -> str:
        """ipc://<run dir>/<name>.sock, or a short private path under /tmp when that is too long for a socket."""
        path = self.path / f"{name}.sock"
        if len(str(path)) > _MAX_IPC_PATH:
            digest = hashlib.sha1(str(self.path).encode()).hexdigest()[:16]
            short = Path("/tmp") / f"raftzmq-{digest}"
            short.mkdir(mode=0o700, exist_ok=True)
            path = short / f"{name}.sock"
        return f"ipc://{path}"

    def read_cluster(self) -> dict[str, Any]:
        try:
            return json.loads(self.cluster_json.read_text())
        except FileNotFoundError:
            raise RunDirError(f"{self.path}: not a raftzmq run directory (no cluster.json)") from None
        except (OSError, ValueError) as exc:
            raise RunDirError(f"{self.cluster_json}: unreadable ({exc})") from None

    def write_json_atomic(self, path: Path, doc: Any) -> None:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, path)

    def live_supervisor(self) -> int | None:
        """PID of the supervisor running this directory, or None."""
        try:
            pid = int(self.supervisor_pid.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None


def default_logs_root() -> Path:
    return Path(os.environ.get("RAFTZMQ_LOGS", "logs"))


def new_run_dir(logs_root: Path | None = None) -> RunDir:
    """logs/<timestamp>-<random>/, created 0700. `logs/latest` is not moved: the caller points it there with
    `point_latest` once the start has succeeded, so it never names a run that failed to start."""
    root = logs_root or default_logs_root()
    root.mkdir(parents=True, exist_ok=True)
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
    path = root / run_id
    path.mkdir(mode=0o700)
    return RunDir(path)


def point_latest(root: Path, target: Path) -> None:
    link = root / "latest"
    tmp = root / f".latest.tmp-{os.getpid()}"
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    rel = os.path.relpath(target.absolute(), root.absolute())
    os.symlink(rel, tmp)
    os.replace(tmp, link)  # atomic swap, so `logs/latest` never dangles half-way


def resolve_run_dir(option: str | os.PathLike[str] | None) -> RunDir:
    """--run-dir, else $RAFTZMQ_RUN_DIR, else logs/latest; it must hold a cluster.json."""
    if option:
        source, path = "--run-dir", Path(option)
    elif os.environ.get("RAFTZMQ_RUN_DIR"):
        source, path = "RAFTZMQ_RUN_DIR", Path(os.environ["RAFTZMQ_RUN_DIR"])
    else:
        source, path = "default", default_logs_root() / "latest"
    if not path.exists():
        hint = "start one with `raftzmq start`" if source == "default" else "check the path"
        raise RunDirError(f"no run directory at {path} ({source}); {hint}")
    run = RunDir(path.resolve())
    if not run.cluster_json.exists():
        raise RunDirError(f"{run.path}: not a raftzmq run directory (no cluster.json)")
    return run


# ---------------------------------------------------------------------------------------------- running clusters
# Each supervisor registers itself (a file named after its pid, holding its run dir) so that `raftzmq ps` and the
# "another cluster is running" checks find clusters wherever their run directories are.


def registry_dir() -> Path:
    """$RAFTZMQ_REGISTRY, else a private directory per user under the temp dir."""
    env = os.environ.get("RAFTZMQ_REGISTRY")
    return Path(env) if env else Path(tempfile.gettempdir()) / f"raftzmq-{os.getuid()}" / "running"


def register_supervisor(run: RunDir) -> None:
    d = registry_dir()
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    (d / str(os.getpid())).write_text(f"{run.path}\n")


def unregister_supervisor() -> None:
    try:
        (registry_dir() / str(os.getpid())).unlink()
    except OSError:
        pass


def _registered() -> list[RunDir]:
    try:
        entries = list(registry_dir().iterdir())
    except OSError:
        return []
    runs = []
    for entry in entries:
        try:
            if not (entry.name.isdigit() and pid_alive(int(entry.name))):
                entry.unlink()  # its supervisor died without unregistering (SIGKILL)
                continue
            runs.append(RunDir(entry.read_text().strip()))
        except OSError:
            continue
    return runs


def running_clusters(logs_root: Path | None = None) -> list[tuple[RunDir, int]]:
    """(run dir, supervisor pid) of every live cluster: registered ones, and any under `logs_root` (default the
    logs root) whose supervisor.pid names a live process. A cluster counts as running only while its run dir's
    supervisor.pid names a live process (a stale registry entry or a recycled pid does not)."""
    root = logs_root or default_logs_root()
    candidates = _registered()
    if root.is_dir():
        candidates += [RunDir(p) for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    found: dict[Path, tuple[RunDir, int]] = {}
    for run in candidates:
        pid = run.live_supervisor()
        if pid is not None and run.cluster_json.exists():
            found.setdefault(run.path.resolve(), (run, pid))
    return sorted(found.values(), key=lambda item: str(item[0].path))
