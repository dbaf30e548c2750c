"""Live-cluster commands: start, status, kill, restart, stop, pause, resume, partition, isolate, heal, net,
transfer. `start` runs the supervisor (in the foreground, or detached); the rest talk to it over its control
endpoint in the run directory."""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..protocol.quorum import majority
from ..lab.live.netshapes import bridge_cuts, ring_cuts
from ..runtime.config import ConfigError, ClusterConfig
from .options import cluster_options, fail, resolve_cluster
from ..runtime.cluster.control import ControlClient, ControlError
from ..runtime.cluster.rundir import (RunDir, RunDirError, default_logs_root, new_run_dir, point_latest, resolve_run_dir,
                              running_clusters)
from ..runtime.cluster.spawn import SPAWN_METHODS
from ..runtime.cluster.waiting import wait_until
from ..runtime.cluster.errors import SupervisorError
from ..runtime.cluster.launch import fork_detached_supervisor, run_supervisor
from ..runtime.node.curve import AUTH_MODES
from ..runtime.cluster.netns import NET_MODES, require_root
from ..runtime.cluster.netns import check_config as check_netns_config

__all__ = ["start", "status", "kill", "restart", "stop", "pause", "resume", "partition", "isolate", "heal",
           "net", "transfer", "fail", "render_status", "running_hint"]

RUN_DIR_HELP = "Run directory (default: $RAFTZMQ_RUN_DIR, else logs/latest)."


def run_dir_option(f: Any) -> Any:
    return click.option("--run-dir", "run_dir", metavar="DIR", help=RUN_DIR_HELP)(f)


def _client(run_dir: str | None, as_json: bool = False) -> ControlClient:
    try:
        client = ControlClient(resolve_run_dir(run_dir))
    except RunDirError as exc:
        fail(str(exc) + running_hint(), as_json=as_json)
    note_which(run_dir, client.run)
    return client


def _by_default(run_dir: str | None) -> bool:
    return not run_dir and not os.environ.get("RAFTZMQ_RUN_DIR")


def _under_logs_root() -> list[tuple[RunDir, int]]:
    """The live clusters whose run directories are in this logs/ directory."""
    root = default_logs_root().absolute().resolve()
    return [(run, pid) for run, pid in running_clusters() if run.path.resolve().parent == root]


def note_which(run_dir: str | None, run: RunDir) -> None:
    """With several clusters running and no --run-dir, say on stderr which one logs/latest made us act on."""
    if not _by_default(run_dir):
        return
    live = _under_logs_root()
    if len(live) > 1:
        others = ", ".join(str(r.path) for r, _ in live if r.path.resolve() != run.path.resolve())
        click.echo(f"raftzmq: acting on {run.path} (logs/latest); also running: {others} "
                   f"(choose with --run-dir DIR)", err=True)


def running_hint() -> str:
    """Where the live clusters are, for an error about one that is not (e.g. logs/latest names a stopped run)."""
    live = running_clusters()
    if not live:
        return ""
    return "; running now: " + ", ".join(f"{run.path} (pid {pid})" for run, pid in live) + \
        " (reach one with --run-dir DIR; `raftzmq ps` lists them)"


def _request(run_dir: str | None, cmd: str, **args: Any) -> dict[str, Any]:
    try:
        return _client(run_dir).request(cmd, **args)
    except ControlError as exc:
        fail(str(exc))


# ---------------------------------------------------------------------------------------------- rendering

_ROLE_STYLE: dict[str, dict[str, Any]] = {"leader": {"fg": "green", "bold": True}, "candidate": {"fg": "yellow"},
               "precandidate": {"fg": "yellow"}, "follower": {}}


_STATE_WIDTH = 40  # a failure reason in the STATE column is cut here; the full one follows the table


def _state_word(node: dict[str, Any]) -> str:
    if node["failed"]:
        word = f"failed: {node['failed']}"
        return word if len(word) <= _STATE_WIDTH else word[:_STATE_WIDTH - 1] + "…"
    if node["paused"]:
        return "paused"
    if not node["alive"]:
        return "stopped" if node["incarnation"] else "not started"
    return "running"


def groups_text(groups: list[list[int]]) -> str:
    """Partition groups as the commands print them: `1,2 | 3,4,5`."""
    return " | ".join(",".join(map(str, g)) for g in groups)


def cuts_text(cuts: list[list[int]]) -> str:
    """Cut links as the commands print them: `1->2 2->1`."""
    return " ".join(f"{a}->{b}" for a, b in cuts)


def render_status(st: dict[str, Any], color: bool = False) -> str:
    head = f"run {st['run_dir']}\nleader: {st['leader'] if st['leader'] is not None else '-'}   " \
           f"term: {st['term'] if st['term'] is not None else '-'}"
    net = st.get("net") or {}
    if net.get("groups"):
        head += "   partition: " + groups_text(net["groups"])
    if net.get("cuts"):
        head += "   cut: " + cuts_text(net["cuts"])
    if net.get("loss") or net.get("delay_ms"):
        head += f"   net: loss {net['loss']:.0%} delay {net['delay_ms']:g}±{net['jitter_ms']:g} ms"
    if net.get("mode") == "netns" or net.get("auth") == "curve":
        packet = ", ".join(net.get("packet_level") or []) or "none"
        head += (f"\nnetwork: {net.get('mode')}, auth {net.get('auth')}; packet-level faults: {packet}; "
                 "applied by the nodes: " + ("delay" if net.get("packet_level") else "all"))
    rows = [("ID", "PID", "STATE", "ROLE", "TERM", "LEADER", "LAST", "COMMIT", "LAG", "INC", "ENDPOINT")]
    dash = lambda v: "-" if v is None else str(v)  # noqa: E731
    for n in st["nodes"]:
        rows.append((str(n["id"]), str(n["pid"] or "-"), _state_word(n), n["role"] or "-",
                     dash(n["term"]), dash(n["leader"]), dash(n.get("last")), dash(n.get("commit")),
                     dash(n.get("lag")), str(n["incarnation"]), n["endpoint"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for index, row in enumerate(rows):
        text = "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        if color and index:
            node = st["nodes"][index - 1]
            style = _ROLE_STYLE.get(node["role"] or "", {}) if node["alive"] and not node["paused"] else {"dim": True}
            if node["failed"]:
                style = {"fg": "red"}
            text = click.style(text, **style)
        lines.append(text)
    for n in st["nodes"]:
        if n["failed"]:
            lines.append(f"node {n['id']} failed: {n['failed']}")
    lines.extend(_fault_lines(st.get("faults") or {}))
    return "\n".join(lines)


def _fault_lines(faults: dict[str, Any]) -> list[str]:
    """What `skew`, `failpoint` and `disk` injected (runtime/node/nodefaults.py), one line per node."""
    out = []
    for node, f in faults.items():
        what = [f"timers at {f['skew']:g}x"] if f["skew"] != 1.0 else []
        what += [f"failpoint {name} armed" for name in f["failpoints"]]
        what += [f"disk fault {f['disk']} armed"] if f["disk"] else []
        if what:
            out.append(f"node {node}: " + ", ".join(what))
    return out


def _summary_line(st: dict[str, Any]) -> str:
    states = " ".join(f"{n['id']}:{(n['role'] or _state_word(n))[:4]}" for n in st["nodes"])
    return f"leader={st['leader']} term={st['term']} {states}"


# ---------------------------------------------------------------------------------------------- start

@click.command()
@cluster_options
@click.option("--transport", type=click.Choice(["tcp", "ipc"]), help="tcp on 127.0.0.1, or ipc sockets.")
@click.option("--base-port", type=int, help="First TCP port (default: free ports chosen at start).")
@click.option("--run-dir", "run_dir", metavar="DIR", help="Run directory (default: a new logs/<run-id>/).")
@click.option("--detach", is_flag=True, help="Run in the background; return once a leader exists.")
@click.option("--resume", is_flag=True, help="Start again in an existing run dir (default logs/latest) from its "
                                            "state on disk.")
@click.option("--spawn", type=click.Choice(SPAWN_METHODS), default="zygote", show_default=True,
              help="How node processes start: forked from a zygote (a fork of this process made before it "
                   "talks ZeroMQ), from multiprocessing's preloaded forkserver, or fork+exec.")
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
              help="With --detach: how long to wait for a leader (default 10 s + 0.1 s per node).")
@click.option("--concurrent", is_flag=True, help="Start even though another cluster runs under the same logs "
                                                 "directory (logs/latest then points to the new one).")
@click.option("--auth", type=click.Choice(AUTH_MODES), default=None,
              help="curve: nodes authenticate each other (CURVE keys in the run dir, ZAP); default none.")
@click.option("--net", "net_mode", type=click.Choice(NET_MODES), default=None,
              help="netns (root only): each node in its own network namespace, faults as packet drops.")
def start(transport: str | None, base_port: int | None, run_dir: str | None, detach: bool, resume: bool, spawn: str,
          wait_s: float | None, concurrent: bool, auth: str | None, net_mode: str | None, **flags: Any) -> None:
    """Start a cluster: one OS process per node, plus this supervisor.

    In the foreground it shows a live status table; Ctrl-C stops every process. Other commands
    (kill, partition, logs, ...) act on it from another terminal.

    A new run goes to logs/<run-id>/, and logs/latest points to it once it has started. If another cluster
    runs under logs/ already, start refuses (it would take logs/latest from it) unless --concurrent.

    \b
    Examples:
      raftzmq start                              # 5 nodes, configs/default.toml
      raftzmq start --nodes 7 --election-timeout 300-600 --heartbeat 100
      raftzmq start --config configs/fast.toml --detach
      raftzmq start --persist term-only          # unsafe on purpose
      raftzmq start --hints on                   # a killed leader is replaced in milliseconds
      raftzmq start --reads lease                # KV gets from the leader's lease (clock-dependent)
      raftzmq stop && raftzmq start --resume     # terms continue from disk
      raftzmq start --auth curve                 # peers authenticate (CURVE + ZAP)
      sudo raftzmq start --net netns --detach    # namespaces, real TCP, packet-level partitions
      raftzmq start --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum   # your core
    """
    base = None
    if resume:
        run, base, old = _resumed_run(run_dir)
        auth, net_mode = auth or old.get("auth", "none"), net_mode or old.get("net", "host")
    network = {"auth": auth or "none", "net": net_mode or "host"}
    config = resolve_cluster(flags, base, transport=transport, base_port=base_port)
    if network["net"] == "netns":
        _check_netns(config)
    if not resume:
        try:
            run = _fresh_run_dir(run_dir, concurrent)
        except OSError as exc:
            fail(f"cannot create the run directory: {exc}")
    _check_writable(run)
    _warn_if_too_tight(config)
    # logs/latest moves to a new default run only once it has started, never to one that failed.
    on_started = (lambda: point_latest(run.path.parent, run.path)) if not (run_dir or resume) else (lambda: None)
    if detach:
        _start_detached(run, config, resume, spawn, wait_s, on_started, network)
    else:
        _start_foreground(run, config, resume, spawn, on_started, network)


# Measured (docs/benchmarks.md): on 2 cores, 101 nodes at 50 ms heartbeats (a leader sending 2,000 a second) never
# settled, while 101 nodes at 100 ms did. Above this rate per core we say so before starting.
_HEARTBEATS_PER_S_PER_CORE = 500


def _resumed_run(run_dir: str | None) -> tuple[RunDir, ClusterConfig, dict[str, Any]]:
    """The run dir to resume, the config it ran with, and its cluster.json."""
    try:
        run = resolve_run_dir(run_dir)
        old = run.read_cluster()
        return run, ClusterConfig.from_dict(old["config"], source=str(run.cluster_json)), old
    except (RunDirError, ConfigError, KeyError) as exc:
        fail(f"cannot resume: {exc}")


def _check_netns(config: ClusterConfig) -> None:
    try:
        require_root()
        check_netns_config(config)
    except SupervisorError as exc:
        fail(str(exc))


def _fresh_run_dir(run_dir: str | None, concurrent: bool) -> RunDir:
    if not run_dir:
        _refuse_if_another_runs(concurrent)
        return new_run_dir()
    run = RunDir(run_dir)
    if run.cluster_json.exists():
        pid = run.live_supervisor()
        fail(f"a cluster is already running in {run.path} (supervisor pid {pid})" if pid else
             f"{run.path} holds an earlier run; add --resume to continue it, or choose another --run-dir")
    run.path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return run


def _refuse_if_another_runs(concurrent: bool) -> None:
    root = default_logs_root().absolute()
    others = [(run, pid) for run, pid in running_clusters(root) if run.path.parent.resolve() == root.resolve()]
    if not others:
        return
    names = ", ".join(f"{run.path} (supervisor pid {pid})" for run, pid in others)
    if not concurrent:
        fail(f"a cluster is already running: {names}; stop it with `raftzmq stop`, or add --concurrent to start "
             f"another (logs/latest will then point to the new one; `raftzmq ps` lists both)")
    click.echo(f"raftzmq: warning: also running: {names}; logs/latest will point to the new cluster, pass "
               "--run-dir to reach the other one", err=True)


def _check_writable(run: RunDir) -> None:
    """Fail now, with the path, if the supervisor could not write its files into the run directory."""
    probe = run.path / f".write-test-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        fail(f"cannot write in the run directory {run.path}: {exc.strerror or exc}")


def _warn_if_too_tight(config: ClusterConfig) -> None:
    rate = (config.nodes - 1) * 1000 / config.heartbeat_ms
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if rate > _HEARTBEATS_PER_S_PER_CORE * cores:
        click.echo(f"raftzmq: warning: {config.nodes} nodes at a {config.heartbeat_ms} ms heartbeat means the leader "
                   f"sends {rate:.0f} heartbeats/s; with {cores} cores elections may not settle. Consider "
                   "--config configs/large.toml or a longer --heartbeat and --election-timeout.", err=True)


def _start_foreground(run: RunDir, config: ClusterConfig, resume: bool, spawn: str,
                      on_started: Callable[[], None], network: dict[str, str]) -> None:
    tty = sys.stdout.isatty()
    last = [""]

    def ready() -> None:
        on_started()
        click.echo(f"raftzmq: {config.nodes} nodes in {run.path}; Ctrl-C stops them all")

    def show(st: dict[str, Any]) -> None:
        if tty:
            click.echo("\x1b[H\x1b[J" + render_status(st, color=True)
                       + "\n\nCtrl-C to stop.  From another terminal: raftzmq kill ID | partition 1,2 3,4,5 | "
                         "logs -f | check", nl=True)
        else:
            line = _summary_line(st)
            if line != last[0]:
                click.echo(f"{time.strftime('%H:%M:%S')} {line}")
                last[0] = line

    try:
        run_supervisor(run, config, resume=resume, spawn=spawn, on_ready=ready, on_refresh=show,
                       refresh_s=0.25 if tty else 0.1, **network)
    except (SupervisorError, RunDirError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.filename or run.path}: {exc.strerror or exc}")
    click.echo(f"raftzmq: stopped; logs in {run.path}; `raftzmq check {run.path}` verifies them")


class _Progress:
    """A line on stderr about once a second while a large cluster comes up (a small one is up before the first)."""

    LARGE = 20  # nodes
    EVERY_S = 1.0

    def __init__(self, nodes: int, began: float) -> None:
        self.nodes, self.began, self.last = nodes, began, began

    def show(self, st: dict[str, Any] | None) -> None:
        now = time.monotonic()
        if self.nodes < self.LARGE or st is None or now - self.last < self.EVERY_S:
            return
        self.last = now
        up = sum(n["role"] is not None for n in st["nodes"])
        leader = f"leader {st['leader']}" if st["leader"] is not None else "no leader yet"
        click.echo(f"raftzmq: starting: {up}/{self.nodes} nodes up, {leader} ({now - self.began:.1f} s)", err=True)


_DETACH_POLL_S = 0.02  # `start --detach`: how often to ask the new supervisor for a leader


def _done() -> None:
    """`start --detach` has its leader: end this process now. Tearing down an interpreter that imported the
    supervisor and the node costs 70-125 ms on a loaded 2-core machine (docs/benchmarks.md), all of it after the
    user's answer; nothing here needs it (the cluster runs in its own session; our files are closed). Under
    click's test runner (stdout not a real file) it returns normally instead."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _real_stdio():
        os._exit(0)


def _real_stdio() -> bool:
    try:
        sys.stdout.fileno()
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _exited(pid: int) -> int | None:
    """The exit code of our child `pid` if it has exited (reaping it), else None."""
    done, status = os.waitpid(pid, os.WNOHANG)
    return os.waitstatus_to_exitcode(status) if done else None


def _start_detached(run: RunDir, config: ClusterConfig, resume: bool, spawn: str, wait_s: float | None,
                    on_started: Callable[[], None], network: dict[str, str]) -> None:
    pid = fork_detached_supervisor(run, config, resume=resume, spawn=spawn, **network)
    began = time.monotonic()
    progress = _Progress(config.nodes, began)
    last: list[dict[str, Any] | None] = [None]  # the supervisor's latest status

    def settled() -> str | None:
        code = _exited(pid)
        if code is not None:
            fail("the supervisor exited: " + (" / ".join(_last_lines(run.supervisor_out, 5)) or f"code {code}"))
        if run.live_supervisor() != pid:
            return None
        try:
            last[0] = ControlClient(run, timeout_ms=1000).request("status")
        except (ControlError, RunDirError):
            last[0] = None
        st = last[0]
        progress.show(st)
        if st and st["leader"] is not None:
            return "leader"
        if st and sum(1 for n in st["nodes"] if n["failed"]) > config.nodes - majority(config.nodes):
            return "hopeless"  # no majority can ever form: say so now rather than at the deadline
        return None

    outcome = wait_until(settled, wait_s if wait_s is not None else 10 + 0.1 * config.nodes,
                         interval=_DETACH_POLL_S)
    st = last[0]
    if outcome == "leader" and st:
        on_started()
        click.echo(f"raftzmq: {config.nodes} nodes running in {run.path} (supervisor pid {pid}); "
                   f"leader {st['leader']} in term {st['term']}")
        for n in st["nodes"]:
            if n["failed"]:
                click.echo(f"raftzmq: warning: node {n['id']} refused to start: {n['failed']}", err=True)
        _done()
        return
    detail = render_status(st) if st else "the supervisor did not answer"
    _stop_supervisor(pid)
    why = "too many nodes refused to start for a majority" if st and any(n["failed"] for n in st["nodes"]) \
        else "no leader was elected in time"
    fail(f"{why}, so the cluster was stopped.\n{detail}")


def _last_lines(path: Path, n: int) -> list[str]:
    try:
        return path.read_text(errors="replace").strip().splitlines()[-n:]
    except OSError:
        return []


def _stop_supervisor(pid: int) -> None:
    """SIGTERM our detached supervisor (it stops its nodes first); SIGKILL it if it has not exited in 10 s."""
    os.kill(pid, signal.SIGTERM)
    stop_by = time.monotonic() + 10
    while _exited(pid) is None:
        if time.monotonic() > stop_by:
            os.kill(pid, signal.SIGKILL)  # its nodes follow it (PR_SET_PDEATHSIG)
            os.waitpid(pid, 0)
            break
        time.sleep(0.05)  # bounded wait for the supervisor's own shutdown


# ---------------------------------------------------------------------------------------------- queries

def _report_note(run_dir: str | None) -> str:
    try:
        from ..evidence.html import existing_report  # the report's imports are not on the way to a start

        report = existing_report(resolve_run_dir(run_dir).path)
    except RunDirError:
        return ""
    return f"\nreport of the run: {report}" if report else ""


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--watch", "-w", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=0.25, show_default=True,
              help="Refresh period for --watch (s), at least 0.05.")
@run_dir_option
def status(as_json: bool, watch: bool, interval: float, run_dir: str | None) -> None:
    """Show each node's process state, role, term and leader.

    \b
    Examples:
      raftzmq status
      raftzmq status --json | jq .leader
      raftzmq status --watch
    """
    try:
        client = ControlClient(resolve_run_dir(run_dir))
    except RunDirError as exc:  # e.g. the cluster has stopped: its report may still be there
        fail(str(exc) + running_hint() + _report_note(run_dir), as_json=as_json)
    note_which(run_dir, client.run)
    while True:
        from ..evidence.html import existing_report

        report = existing_report(client.run.path)
        try:
            st = client.request("status")
        except ControlError as exc:
            fail(str(exc) + (f"\nreport of the run: {report}" if report else ""), as_json=as_json)
        if as_json:
            click.echo(json.dumps({**st, "report": str(report) if report else None}))
        else:
            prefix = "\x1b[H\x1b[J" if watch and sys.stdout.isatty() else ""
            click.echo(prefix + render_status(st, color=sys.stdout.isatty()) + (f"\nreport: {report}" if report else ""))
        if not watch:
            return
        try:
            time.sleep(interval)  # a display refresh period, nothing waits on it
        except KeyboardInterrupt:
            return


# ---------------------------------------------------------------------------------------------- faults

def _ids_command(cmd: str, verb: str, example: str) -> click.Command:
    @click.command(name=cmd, help=f"{verb}\n\n\b\nExamples:\n{example}")
    @click.argument("ids", nargs=-1, required=True, type=int)
    @run_dir_option
    def command(ids: tuple[int, ...], run_dir: str | None) -> None:
        for line in _request(run_dir, cmd, ids=list(ids))["done"]:
            click.echo(line)

    return command


kill = _ids_command("kill", "SIGKILL the given nodes (state on disk stays; `restart` brings them back).",
                    "  raftzmq kill 3\n  raftzmq kill 1 2")
@click.command()
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--wait", "wait_s", type=float, default=5.0, show_default=True,
              help="Seconds to wait for each node to come up (or refuse).")
@run_dir_option
def restart(ids: tuple[int, ...], wait_s: float, run_dir: str | None) -> None:
    """Start stopped or killed nodes again from their state on disk (a running node is killed first).

    Waits until each node runs (or refuses to start, e.g. a corrupt state file: exit 2 with the reason).

    \b
    Examples:
      raftzmq restart 3
      raftzmq restart 1 2
    """
    client = _client(run_dir)
    try:
        for line in client.request("restart", ids=list(ids))["done"]:
            click.echo(line)
        pending = set(ids)

        def up() -> bool:
            nodes = {n["id"]: n for n in client.request("status")["nodes"]}
            for n in sorted(pending):
                node = nodes[n]
                if node["failed"] or not node["alive"]:
                    why = node["failed"] or f"exit code {node['exit_code']}"
                    fail(f"node {n} did not start: {why}")
                if node["role"] is not None:
                    click.echo(f"node {n} is up as {node['role']} in term {node['term']}")
                    pending.discard(n)
            return not pending
        wait_until(up, wait_s, interval=0.05)
    except ControlError as exc:
        fail(str(exc))
    if pending:
        fail(f"node(s) {', '.join(map(str, sorted(pending)))} not up after {wait_s} s; see `raftzmq status`")
pause = _ids_command("pause", "SIGSTOP the given nodes: alive but silent, like a long GC pause.",
                     "  raftzmq pause 2")
resume = _ids_command("resume", "SIGCONT paused nodes.", "  raftzmq resume 2")


@click.command()
@click.argument("ids", nargs=-1, type=int)
@run_dir_option
def stop(ids: tuple[int, ...], run_dir: str | None) -> None:
    """SIGTERM the given nodes, or with no ids stop whole clusters (nodes and supervisor): with no --run-dir,
    every cluster this logs/ directory is running, each named; with --run-dir, that one.

    \b
    Examples:
      raftzmq stop 4
      raftzmq stop                          # every cluster under logs/
      raftzmq stop --run-dir logs/20261126-101500-ab12
    """
    if not ids and _by_default(run_dir):
        live = _under_logs_root()
        if live:
            for run, _pid in live:
                try:
                    client = ControlClient(run)
                except RunDirError:
                    continue  # stopped by itself between the listing and now
                _stop_whole(client)
            return
    client = _client(run_dir)
    if ids:
        try:
            reply = client.request("stop", ids=list(ids))
        except ControlError as exc:
            fail(str(exc))
        for line in reply["done"]:
            click.echo(line)
        return
    _stop_whole(client)


def _stop_whole(client: ControlClient) -> None:
    pid = client.run.live_supervisor()
    try:
        client.request("stop", ids=[])
    except ControlError as exc:
        fail(str(exc))
    if pid is not None:
        wait_until(lambda: client.run.live_supervisor() != pid, 15, interval=0.05)
    if client.run.live_supervisor() == pid and pid is not None:
        fail(f"the supervisor (pid {pid}) of {client.run.path} did not exit within 15 s")
    click.echo(f"cluster in {client.run.path} stopped")


def _parse_group(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of node ids") from None


@click.command()
@click.argument("groups", nargs=-1)
@click.option("--ring", is_flag=True, help="Majorities-ring: each node sees a majority, no two the same one.")
@click.option("--bridge", type=int, metavar="N", help="Two halves that meet only through node N.")
@run_dir_option
def partition(groups: tuple[str, ...], ring: bool, bridge: int | None, run_dir: str | None) -> None:
    """Split the network: nodes in different groups drop each other's messages; or a link-level shape.

    --ring and --bridge cut links (see `status`) instead of forming groups; they replace any partition.

    \b
    Examples:
      raftzmq partition 1,2 3,4,5     # leader in the minority? watch CheckQuorum
      raftzmq partition --ring        # 5 nodes: 1 sees 5,1,2; 2 sees 1,2,3; ... (Jepsen's majorities-ring)
      raftzmq partition --bridge 3    # {1,2} and {4,5} meet only through 3
      raftzmq heal
    """
    if sum([bool(groups), ring, bridge is not None]) != 1:
        raise click.UsageError("give the groups, or --ring, or --bridge N (one of them)")
    if groups:
        reply = _request(run_dir, "partition", groups=[_parse_group(g) for g in groups])
        click.echo("partitioned: " + groups_text(reply["net"]["groups"]))
        return
    client = _client(run_dir)
    n = client.run.read_cluster()["nodes"]
    if bridge is not None and not 1 <= bridge <= n:
        fail(f"unknown node id {bridge}; this cluster has nodes 1..{n}")
    cuts = ring_cuts(n) if ring else bridge_cuts(n, bridge or 0)
    try:
        reply = client.request("links", cuts=[list(c) for c in sorted(cuts)])
    except ControlError as exc:
        fail(str(exc))
    click.echo("cut links: " + (cuts_text(reply["net"]["cuts"]) or "none"))


@click.command()
@click.argument("node", type=int)
@run_dir_option
def isolate(node: int, run_dir: str | None) -> None:
    """Cut one node off from all others (a partition {ID} | rest).

    \b
    Examples:
      raftzmq isolate 2
      raftzmq heal
    """
    reply = _request(run_dir, "isolate", id=node)
    click.echo("partitioned: " + groups_text(reply["net"]["groups"]))


@click.command()
@run_dir_option
def heal(run_dir: str | None) -> None:
    """Remove every partition, loss and delay.

    \b
    Examples:
      raftzmq heal
    """
    _request(run_dir, "heal")
    click.echo("network healed")


def _parse_delay(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    base, _, jitter = text.replace("+-", "±").partition("±")
    try:
        return _ms(base), _ms(jitter) if jitter.strip() else 0
    except ValueError:
        raise click.BadParameter(f"expected MS or MS±MS (e.g. 20, 20ms, 20±10 or 20+-10ms), got {text!r}",
                                 param_hint="--delay") from None


def _ms(text: str) -> int:
    text = text.strip()
    return int(text[:-2] if text.endswith("ms") else text)


@click.command()
@click.option("--loss", type=float, help="Probability that a message is dropped (0..1).")
@click.option("--delay", metavar="MS[±MS]", help="Added one-way delay, with optional uniform jitter.")
@run_dir_option
def net(loss: float | None, delay: str | None, run_dir: str | None) -> None:
    """Degrade the network between all nodes (applies on send).

    Each call sets the whole degradation: an option left out means none of it (`net --delay 30` after
    `net --loss 0.2` leaves no loss). Partitions are not touched; `heal` removes everything.

    \b
    Examples:
      raftzmq net --loss 0.1
      raftzmq net --delay 40±20          # or 40+-20, 40ms±20ms
      raftzmq net --loss 0.2 --delay 30
      raftzmq heal
    """
    delay_ms, jitter_ms = _parse_delay(delay)
    if loss is None and delay is None:
        raise click.UsageError("give --loss and/or --delay")
    msg = _request(run_dir, "net", loss=loss or 0.0, delay_ms=delay_ms or 0, jitter_ms=jitter_ms or 0)["net"]
    click.echo(f"net: loss {msg['loss']:.0%}, delay {msg['delay_ms']:g}±{msg['jitter_ms']:g} ms")


@click.command()
@click.argument("target", type=int)
@click.option("--wait", "wait_s", type=float, default=3.0, show_default=True,
              help="Seconds to wait for the target to become leader.")
@run_dir_option
def transfer(target: int, wait_s: float, run_dir: str | None) -> None:
    """Leadership transfer: the leader tells TARGET to campaign at once (TimeoutNow).

    \b
    Examples:
      raftzmq transfer 4
    """
    client = _client(run_dir)
    try:
        reply = client.request("transfer", target=target)
        st = wait_until(lambda: (s := client.request("status"))["leader"] == target and s, wait_s, interval=0.05)
        if st:
            click.echo(f"node {target} is leader in term {st['term']} (was node {reply['leader']} "
                       f"in term {reply['term']})")
            return
    except ControlError as exc:
        fail(str(exc))
    fail(f"node {target} did not become leader within {wait_s} s", code=1)
