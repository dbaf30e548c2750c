"""The supervisor: owns the node processes, applies faults, serves the control endpoint.

Single-threaded like the nodes: one poll loop over the control socket, with reaping, log tailing and the
periodic netctl republish between polls. It never touches a node's sockets; nodes are separate processes
started by a zygote, a preloaded forkserver or by fork+exec (spawn.py), so no ZeroMQ context ever crosses a fork.
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from raftzmq.evidence.logfile import LogTail, LogWriter
from raftzmq.evidence.status import RoleTracker
from raftzmq.protocol.netmodel import HEALED, NetModel, NetModelError
from raftzmq.protocol.units import ms_to_s, s_to_ms
from raftzmq.runtime.config import ClusterConfig
from raftzmq.runtime.cluster.control import COMMANDS, parse_ids, validate_groups
from raftzmq.runtime.node.curve import AUTH_MODES, CurveError, ensure_keys
from raftzmq.runtime.cluster.netns import NET_MODES, NetnsNetwork, check_config
from raftzmq.runtime.cluster.errors import SupervisorError
from raftzmq.runtime.node.nodefaults import FaultsError, FaultTable
from raftzmq.runtime.cluster.resources import check_capacity, check_ports_free, free_ports, tcp_endpoint
from raftzmq.runtime.cluster.rundir import RunDir, register_supervisor, unregister_supervisor
from raftzmq.runtime.node.startup import HOLD_KEY, hold_document
from raftzmq.runtime.cluster.spawn import SPAWN_METHODS, NodeHandle, Spawner, child_env, make_spawner

__all__ = ["Supervisor", "SupervisorError", "EXIT_REFUSED", "NodeProc"]

EXIT_REFUSED = 3  # a node that refuses to start (docs/CONTRACTS.md); never restarted automatically
# netctl is PUB/SUB: a node that subscribes late misses a publication. Republish often while that can happen
# (just after a spawn or a change), rarely otherwise: every publication wakes every node.
_NETCTL_REPUBLISH_S = 0.25
_NETCTL_REPUBLISH_IDLE_S = 5.0
_NETCTL_BUSY_WINDOW_S = 3.0
_IDLE_POLL_S = 0.25  # how late the supervisor may notice (and log) a node's exit when nobody is asking
_STOP_GRACE_S = 3.0
_RELEASE_POLL_S = 0.01  # while the start-up barrier holds: how often to look for the last node_started
_CONNECT_REPUBLISH_S = 0.02  # the connect step is republished this often until the release
_RELEASE_CONNECT_IVLS = 2  # after the last node_started, wait this many reconnect intervals: DEALERs connect


@dataclass(slots=True)
class NodeProc:
    id: int
    endpoint: str
    incarnation: int = 0
    popen: NodeHandle | None = None  # subprocess.Popen, a zygote's or forkserver's process, see spawn.py
    paused: bool = False
    exit_code: int | None = None
    failed: str | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.returncode is None

    @property
    def process(self) -> NodeHandle:
        """The current incarnation's process (only for a node that was spawned)."""
        assert self.popen is not None, f"node {self.id} was never started"
        return self.popen


class Supervisor:
    def __init__(self, run: RunDir, config: ClusterConfig, *, resume: bool = False,
                 env: dict[str, str] | None = None, spawn: str = "zygote", auth: str = "none",
                 net: str = "host") -> None:
        if spawn not in SPAWN_METHODS:
            raise SupervisorError(f"unknown spawn method {spawn!r}; choose from {', '.join(SPAWN_METHODS)}")
        if auth not in AUTH_MODES:
            raise SupervisorError(f"unknown auth {auth!r}; choose from {', '.join(AUTH_MODES)}")
        if net not in NET_MODES:
            raise SupervisorError(f"unknown net mode {net!r}; choose from {', '.join(NET_MODES)}")
        self.auth, self.net_mode = auth, net
        self._netns: NetnsNetwork | None = None
        self.run = run
        self.spawn_method = spawn
        self._spawner: Spawner | None = None
        self.config = config
        self.resume = resume
        self.members = config.members
        self.env = child_env(env)
        self.nodes: dict[int, NodeProc] = {}
        self.net: NetModel = HEALED
        self.faults = FaultTable()  # skew, failpoints, disk faults injected into running nodes
        self.tracker = RoleTracker()
        self.stop_requested = False
        self._ctx: zmq.Context | None = None
        self._control: zmq.Socket | None = None
        self._netctl: zmq.Socket | None = None
        self._log: LogWriter | None = None
        self._tail = LogTail(run.path)
        self._next_publish = 0.0
        self._last_net_event = 0.0  # last spawn or network change: late subscribers are possible until a while after
        self._transfer_seq = 0
        self._hold: dict[int, int] = {}  # start-up barrier: node -> incarnation still to release (startup.py)
        self._release_at: float | None = None
        self._release_until = 0.0  # republish the release until then (late subscribers)
        self._release_doc = b""
        self._first: int | None = None  # the start's first candidate, named at the connect step
        self._next_connect_publish = 0.0

    # ------------------------------------------------------------------ what setup() creates

    @property
    def log(self) -> LogWriter:
        assert self._log is not None, "setup() first"
        return self._log

    def _socket(self, sock: zmq.Socket | None) -> zmq.Socket:
        assert sock is not None, "setup() first"
        return sock

    # ------------------------------------------------------------------ lifecycle

    def setup(self) -> None:
        """Claim the run dir, choose endpoints, write cluster.json, bind the control and netctl sockets."""
        self._claim_run_dir()
        network_fields = self._prepare_network()
        endpoints = network_fields.pop("endpoints")
        self.nodes = {n: NodeProc(n, endpoints[n]) for n in self.members}
        self._learn_incarnations()
        self.run.supervisor_pid.write_text(f"{os.getpid()}\n")
        register_supervisor(self.run)  # `raftzmq ps` finds it wherever its run dir is
        # PYTHONPATH is set before the spawner starts: the zygote or forkserver inherits this environment, and
        # nodes inherit its. The zygote is forked before this process has a ZeroMQ context (spawn.py).
        os.environ["PYTHONPATH"] = self.env["PYTHONPATH"]
        self._spawner = make_spawner(self.spawn_method)
        self._ctx = zmq.Context()
        control, netctl = self.run.ipc_endpoint("control"), self.run.ipc_endpoint("net")
        self._control = self._bind(zmq.REP, control)
        self._netctl = self._bind(zmq.PUB, netctl)
        self._write_run_files(control, netctl, network_fields)
        self._log = LogWriter(self.run.supervisor_log, by="supervisor", node=0)
        self.log.write("cluster_started", nodes=self.config.nodes, config=self.config.to_dict(),
                        resume=self.resume, pid=os.getpid(), spawn=self.spawn_method)

    def _claim_run_dir(self) -> None:
        """Refuse a run dir another supervisor holds, a cluster too large for this machine, and a resume that
        would change the cluster's size."""
        run = self.run
        other = run.live_supervisor()
        if other is not None and other != os.getpid():
            raise SupervisorError(f"a cluster is already running in {run.path} (supervisor pid {other}); "
                                  "stop it with `raftzmq stop` or choose another --run-dir")
        check_capacity(self.config.nodes)
        if self.resume:
            old = run.read_cluster()
            if old.get("nodes") != self.config.nodes:
                raise SupervisorError(f"{run.path} holds a {old.get('nodes')}-node cluster; "
                                      f"--resume cannot change it to {self.config.nodes} nodes")

    def _learn_incarnations(self) -> None:
        """Continue each node's incarnation count from earlier runs in this dir (resume)."""
        for loc in self._tail.poll():
            self.tracker.feed(loc.record)
        for n, view in self.tracker.nodes.items():
            if n in self.nodes:
                self.nodes[n].incarnation = view.incarnation

    def _write_run_files(self, control: str, netctl: str, network_fields: dict[str, Any]) -> None:
        """cluster.json, and the network and fault state nodes read at start (none yet: a resumed run starts
        clean)."""
        run = self.run
        cluster = {
            "run_id": run.path.name,
            "nodes": self.config.nodes,
            "config": self.config.to_dict(),
            "endpoints": {str(n): p.endpoint for n, p in self.nodes.items()},
            "client_endpoints": {str(n): self.client_endpoint(n) for n in self.nodes},
            "control": control,
            "netctl": netctl,
            "supervisor_pid": os.getpid(),
            HOLD_KEY: hold_document({n: p.incarnation + 1 for n, p in self.nodes.items()}, self.config.nodes),
            "spawn": self.spawn_method,
            **network_fields,
        }
        run.write_json_atomic(run.cluster_json, cluster)
        run.write_json_atomic(run.net_json, self._for_nodes(self.net.to_doc()))
        run.write_json_atomic(run.faults_json, self.faults.message())

    def client_endpoint(self, node: int) -> str:
        """Node `node`'s client endpoint (runtime/node/clientport.py): ipc in the 0700 run dir."""
        return self.run.ipc_endpoint(f"client-{node}")

    def _prepare_network(self) -> dict[str, Any]:
        """Endpoints and the cluster.json fields of the network mode and authentication (keys are created
        here, in the run directory)."""
        fields: dict[str, Any] = {"auth": self.auth, "net": self.net_mode}
        try:
            if self.auth == "curve":
                fields["public_keys"] = {str(n): k for n, k in ensure_keys(self.run.path, self.members).items()}
        except CurveError as exc:
            raise SupervisorError(f"keys: {exc}") from None
        if self.net_mode == "netns":
            check_config(self.config)
            self._netns = NetnsNetwork.create(self.run, self.config, fields.get("public_keys"))
            return {**fields, **self._netns.cluster_fields()}
        return {**fields, "endpoints": self._choose_endpoints()}

    def release_network(self) -> None:
        """Delete the run's network namespaces (netns mode); safe to call more than once."""
        if self._netns is not None:
            self._netns.destroy()
            self._netns = None

    def _for_nodes(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The netctl message nodes get: in netns mode partitions and loss are packet rules, not theirs."""
        return msg if self._netns is None or msg.get("type") != "net" else self._netns.apply(msg)

    def _choose_endpoints(self) -> dict[int, str]:
        cfg = self.config
        if cfg.transport == "ipc":
            return {n: self.run.ipc_endpoint(f"node-{n}") for n in self.members}
        if cfg.base_port:
            ports = list(range(cfg.base_port, cfg.base_port + cfg.nodes))
            check_ports_free(cfg.host, ports)
        else:
            ports = free_ports(cfg.host, cfg.nodes)
        return {n: tcp_endpoint(cfg.host, port) for n, port in zip(self.members, ports)}

    def _bind(self, kind: int, endpoint: str) -> zmq.Socket:
        assert self._ctx is not None
        sock = self._ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.bind(endpoint)
        except zmq.ZMQError as exc:
            sock.close()
            raise SupervisorError(f"cannot bind {endpoint}: {exc}") from None
        return sock

    def start_all(self) -> None:
        many = getattr(self._spawner, "spawn_many", None)
        if many is None:
            for n in self.members:
                self.spawn(n)
        else:  # the zygote: every node in one exchange (spawn.py)
            procs = [self._prepare_spawn(n) for n in self.members]
            handles = many([(self.run.path, p.id, p.incarnation, self.run.path / f"node-{p.id}.err")
                            for p in procs], self.env)
            for p, handle in zip(procs, handles):
                self._spawned(p, handle)
        self._hold = {n: self.nodes[n].incarnation for n in self.members}

    def _is_up(self, n: int, inc: int) -> bool:
        view = self.tracker.nodes.get(n)
        return self.nodes[n].alive and view is not None and view.incarnation == inc and view.role is not None

    def _check_release(self, now: float) -> None:
        """The start-up barrier: once every node of this start has logged node_started (or is gone), give their
        DEALERs time to connect, then release all election timers at once (docs/CONTRACTS.md)."""
        if self._release_at is None:
            self.refresh()
            for n, inc in self._hold.items():
                p, view = self.nodes[n], self.tracker.nodes.get(n)
                done = view is not None and view.incarnation == inc and (view.role or view.failed or view.stopped)
                if p.alive and p.incarnation == inc and not done:
                    return
            self._release_at = now + ms_to_s(_RELEASE_CONNECT_IVLS * self.config.effective_reconnect_ms)
            up = [n for n, inc in self._hold.items() if self._is_up(n, inc)]
            self._first = random.choice(up) if up else None
            self.log.write("timers_connecting", node=0, nodes=len(self._hold), first=self._first)
            # All up: connect now, and the first candidate campaigns once its connections are (startup.py);
            # republished until the release replaces it.
            self._release_doc = json.dumps({"type": "connect", "first": self._first}).encode()
            self._release_until = self._last_net_event = now + 0.0
            self._release_until += _NETCTL_BUSY_WINDOW_S
            self._publish(self.net.to_doc())
            self._next_connect_publish = now + _CONNECT_REPUBLISH_S
        elif now < self._release_at:
            if now >= self._next_connect_publish:  # the last nodes' subscriptions may still be on their way
                self._next_connect_publish = now + _CONNECT_REPUBLISH_S
                self._publish(self.net.to_doc())
        else:
            up = [n for n, inc in self._hold.items() if self._is_up(n, inc)]
            first = self._first if self._first in up else random.choice(up) if up else None
            self.log.write("timers_released", node=0, nodes=len(self._hold), first=first)
            self._release_doc = json.dumps({"type": "release", "first": first}).encode()
            self._hold, self._release_at = {}, None
            self._release_until = self._last_net_event = now + 0.0  # republish busily (late subscribers)
            self._release_until += _NETCTL_BUSY_WINDOW_S
            self._publish(self.net.to_doc())

    def spawn(self, node_id: int) -> NodeProc:
        proc = self._prepare_spawn(node_id)
        assert self._spawner is not None, "setup() first"
        return self._spawned(proc, self._spawner.spawn(self.run.path, node_id, proc.incarnation,
                                                       self.run.path / f"node-{node_id}.err", self.env))

    def _prepare_spawn(self, node_id: int) -> NodeProc:
        proc = self.nodes[node_id]
        proc.incarnation += 1
        proc.paused, proc.exit_code, proc.failed = False, None, None
        return proc

    def _spawned(self, proc: NodeProc, handle: NodeHandle) -> NodeProc:
        proc.popen = handle
        self.log.write("node_spawned", node=proc.id, pid=proc.pid, incarnation=proc.incarnation)
        self._last_net_event = time.monotonic()
        self._next_publish = min(self._next_publish, self._last_net_event + _NETCTL_REPUBLISH_S)
        return proc

    def serve(self, on_refresh: Callable[[dict[str, Any]], None] | None = None,
              refresh_s: float = 0.25) -> None:
        """Run until a stop is requested (control `stop` with no ids, SIGTERM, SIGINT)."""
        poller = zmq.Poller()
        poller.register(self._control, zmq.POLLIN)
        next_display = 0.0
        while not self.stop_requested:
            # Requests are answered at once (they reap and read the logs first); between them the loop only
            # reaps exits, republishes netctl and redraws, so it need not wake often.
            now = time.monotonic()
            wake = min(self._next_publish, next_display if on_refresh is not None else now + _IDLE_POLL_S)
            if self._hold:
                wake = min(wake, now + _RELEASE_POLL_S)
            ready = dict(poller.poll(timeout=math.ceil(s_to_ms(max(0.0, min(_IDLE_POLL_S, wake - now))))))
            if self._control in ready:
                self._serve_one()
            self.reap()
            now = time.monotonic()
            if self._hold:
                self._check_release(now)
            if now >= self._next_publish:
                self._publish(self._for_nodes(self.net.to_doc()))
                self._publish(self.faults.message())
            if on_refresh is not None and now >= next_display:
                next_display = now + refresh_s
                self.refresh()
                on_refresh(self.status())

    def install_signal_handlers(self) -> None:
        def request_stop(signum: int, frame: Any) -> None:
            self.stop_requested = True

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGHUP, request_stop)

    def shutdown(self) -> None:
        """Stop every node (SIGCONT paused ones first, SIGTERM, then SIGKILL after a grace), log, release."""
        try:
            if self._log is not None:
                # Marks what follows as the planned end of the run, not leader losses to recover from.
                self.log.write("cluster_stopping")
            alive = [p for p in self.nodes.values() if p.alive]
            for p in alive:
                self._signal(p, signal.SIGTERM)
            deadline = time.monotonic() + _STOP_GRACE_S
            for p in alive:
                try:
                    p.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal(p, signal.SIGKILL)
                    p.process.wait(timeout=5)
            self.reap()
            if self._log is not None:
                self.log.write("cluster_stopped")
        finally:
            for sock in (self._control, self._netctl):
                if sock is not None:
                    sock.close(linger=0)
            if self._ctx is not None:
                self._ctx.term()
            self._remove_socket_files()
            close = getattr(self._spawner, "close", None)
            if close is not None:
                close()  # the zygote: its nodes are gone, so is it
            self.release_network()  # after the nodes: a namespace with a live process in it would linger
            try:
                if self.run.supervisor_pid.read_text().strip() == str(os.getpid()):
                    self.run.supervisor_pid.unlink()
            except OSError:
                pass
            unregister_supervisor()

    def _remove_socket_files(self) -> None:
        """ipc endpoints leave their socket files behind; once every process is gone they are only litter."""
        if self._ctx is None:
            return  # setup did not get as far as binding: another supervisor may own these files
        endpoints = [self.run.ipc_endpoint("control"), self.run.ipc_endpoint("net")]
        endpoints += [p.endpoint for p in self.nodes.values() if not p.alive]
        endpoints += [self.client_endpoint(p.id) for p in self.nodes.values() if not p.alive]
        for endpoint in endpoints:
            if endpoint.startswith("ipc://"):
                try:
                    os.unlink(endpoint[len("ipc://"):])
                except OSError:
                    pass

    # ------------------------------------------------------------------ state

    def reap(self) -> None:
        for p in self.nodes.values():
            if p.popen is None or p.exit_code is not None:
                continue
            code = p.popen.poll()
            if code is None:
                continue
            p.exit_code, p.paused = code, False
            entry = self.faults.nodes.get(p.id)
            disk = entry.disk if entry is not None and entry.incarnation == p.incarnation else None
            if self.faults.drop_arms(p.id):
                self._faults_changed()
            self.log.write("node_exited", node=p.id, pid=p.pid, code=code,
                            signal=signal.Signals(-code).name if code < 0 else None)
            if code > 0:  # 3 refused to start, 4 storage fatal, anything else a crash; signals are not failures
                p.failed = self._failure_reason(p, code)
                if disk is not None and code == 4:  # storage fatal while a disk fault was armed: say which
                    p.failed = f"disk fault {disk}: {p.failed}"
                self.log.write("node_failed", node=p.id, reason=p.failed)
            elif code < 0 and (reason := self._own_failure(p)) is not None:
                p.failed = reason  # it killed itself at an armed failpoint, and logged which first
                self.log.write("node_failed", node=p.id, reason=reason)

    def _own_failure(self, p: NodeProc) -> str | None:
        """The reason a node killed by a signal gave itself first (failpoint_hit), or None."""
        self.refresh()
        view = self.tracker.nodes.get(p.id)
        if view is not None and view.incarnation == p.incarnation and view.failed:
            return view.failed
        return None

    def _failure_reason(self, p: NodeProc, code: int) -> str:
        self.refresh()
        view = self.tracker.nodes.get(p.id)
        if view is not None and view.incarnation == p.incarnation and view.failed:
            return view.failed
        try:  # the node could not even open its log: its stderr says why
            lines = (self.run.path / f"node-{p.id}.err").read_text(errors="replace").strip().splitlines()
            return lines[-1] if lines else f"exit code {code}"
        except OSError:
            return f"exit code {code}"

    def refresh(self) -> None:
        for loc in self._tail.poll():
            self.tracker.feed(loc.record)

    def status(self) -> dict[str, Any]:
        nodes = []
        for n in self.members:
            p = self.nodes[n]
            view = self.tracker.nodes.get(n)
            current = view if view is not None and view.incarnation == p.incarnation else None
            running = p.alive and not p.paused
            nodes.append({
                "id": n,
                "pid": p.pid if p.alive else None,
                "alive": p.alive,
                "paused": p.paused,
                # A paused or dead node's last role is stale: show null, not what it used to be.
                "role": current.role if running and current else None,
                "term": current.term if current else None,
                "leader": current.leader if running and current else None,
                "endpoint": p.endpoint,
                "incarnation": p.incarnation,
                "exit_code": p.exit_code,
                "failed": p.failed,
                # From the node's replication records (log_loaded, log_appended, commit_advanced): what it
                # has written to its log and knows committed; None for an election-only core.
                "last": current.last if current else None,
                "commit": current.commit if current else None,
            })
        leaders = [x for x in nodes if x["role"] == "leader"]
        leader = max(leaders, key=lambda x: x["term"] or 0) if leaders else None
        lead_last = leader["last"] if leader else None
        for x in nodes:  # entries the node lacks against the leader's log (None: no leader, or no log known)
            mine = x["last"]
            x["lag"] = max(0, lead_last - mine) if isinstance(lead_last, int) and isinstance(mine, int) else None
        terms = [x["term"] for x in nodes if x["alive"] and x["term"] is not None]
        return {
            "run_dir": str(self.run.path),
            "leader": leader["id"] if leader else None,
            "term": max(terms) if terms else None,
            "net": {**{k: v for k, v in self.net.to_doc().items() if k not in ("type", "version")},
                    "mode": self.net_mode, "auth": self.auth,
                    "packet_level": self._netns.packet_level if self._netns else []},
            "nodes": nodes,
            "faults": self.faults.summary(),
        }

    # ------------------------------------------------------------------ control requests

    def _serve_one(self) -> None:
        try:
            raw = self._socket(self._control).recv(zmq.NOBLOCK)
        except zmq.Again:
            return
        try:
            req = json.loads(raw)
            if not isinstance(req, dict) or req.get("cmd") not in COMMANDS:
                raise SupervisorError(f"unknown request {str(raw[:60])}")
            reply = {"ok": True, **self.handle(req)}
        except SupervisorError as exc:
            reply = {"ok": False, "error": str(exc)}
        except ValueError as exc:
            reply = {"ok": False, "error": f"malformed request: {exc}"}
        self._socket(self._control).send(json.dumps(reply).encode())

    def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        cmd = req["cmd"]
        if cmd == "status":
            self.reap()
            self.refresh()
            return self.status()
        if cmd == "stop" and not req.get("ids"):
            self.stop_requested = True
            return {"stopping": "cluster"}
        if cmd in ("kill", "restart", "stop", "pause", "resume"):
            ids = parse_ids(req.get("ids"), self.members)
            return {"done": getattr(self, f"_do_{cmd}")(ids)}
        if cmd == "partition":
            return self._set_net(groups=validate_groups(req.get("groups"), self.members), event="partition")
        if cmd == "isolate":
            node = parse_ids([req.get("id")], self.members)[0]
            if len(self.members) < 2:
                raise SupervisorError("a one-node cluster has nobody to isolate from")
            rest = [m for m in self.members if m != node]
            return self._set_net(groups=[[node], rest], event="partition")
        if cmd == "heal":
            if self.faults.nodes:
                self.faults.clear()
                self._faults_changed()
            return self._set_net(groups=None, cuts=frozenset(), loss=0.0, delay_ms=0, jitter_ms=0, event="heal")
        if cmd == "net":
            return self._net_command(req)
        if cmd in ("cut", "uncut"):
            return self._cut_command(req, add=cmd == "cut")
        if cmd == "links":
            return self._set_net(groups=None, cuts=self._pairs(req.get("cuts")), event="link_cut")
        if cmd == "transfer":
            return self._transfer(req.get("target"))
        if cmd in ("skew", "failpoint", "disk"):
            return self._inject(cmd, parse_ids([req.get("id")], self.members)[0], req)
        raise SupervisorError(f"unknown command {cmd}")

    def _do_kill(self, ids: list[int]) -> list[str]:
        return [self._kill(self.nodes[n]) for n in ids]

    def _do_restart(self, ids: list[int]) -> list[str]:
        return [self._restart(self.nodes[n]) for n in ids]

    def _do_stop(self, ids: list[int]) -> list[str]:
        return [self._stop(self.nodes[n]) for n in ids]

    def _do_pause(self, ids: list[int]) -> list[str]:
        self._require_running(ids, "paused")
        return [self._pause(self.nodes[n], pause=True) for n in ids]

    def _do_resume(self, ids: list[int]) -> list[str]:
        self._require_running(ids, "resumed")
        return [self._pause(self.nodes[n], pause=False) for n in ids]

    def _require_running(self, ids: list[int], verb: str) -> None:
        # Checked for every id before acting on any, like transfer: a dead node cannot be paused or resumed.
        dead = [n for n in ids if not self.nodes[n].alive]
        if dead:
            raise SupervisorError(f"node {', '.join(map(str, dead))} is not running, so it cannot be {verb}; "
                                  f"`raftzmq restart {' '.join(map(str, dead))}` starts it")

    def _kill(self, p: NodeProc) -> str:
        if not p.alive:
            return f"node {p.id} was not running"
        self._signal(p, signal.SIGKILL)
        p.process.wait(timeout=5)
        self.reap()
        return f"node {p.id} killed (pid {p.pid})"

    def _restart(self, p: NodeProc) -> str:
        killed = ""
        if p.alive:
            old = p.pid
            self._kill(p)
            killed = f"node {p.id} was running (pid {old}): SIGKILLed it; "
        self.spawn(p.id)
        return f"{killed}node {p.id} started as incarnation {p.incarnation} (pid {p.pid})"

    def _stop(self, p: NodeProc) -> str:
        if not p.alive:
            return f"node {p.id} was not running"
        self._signal(p, signal.SIGTERM)
        try:
            p.process.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._signal(p, signal.SIGKILL)
            p.process.wait(timeout=5)
        self.reap()
        return f"node {p.id} stopped (exit code {p.exit_code})"

    def _pause(self, p: NodeProc, pause: bool) -> str:
        if p.paused == pause:
            return f"node {p.id} is already paused" if pause else f"node {p.id} is not paused"
        verb = "paused" if pause else "resumed"
        # Logged before the signal: the record must never come after the effect it describes.
        self.log.write("node_paused" if pause else "node_resumed", node=p.id, pid=p.pid)
        os.kill(p.process.pid, signal.SIGSTOP if pause else signal.SIGCONT)
        p.paused = pause
        return f"node {p.id} {verb} (pid {p.pid})"

    def _signal(self, p: NodeProc, sig: signal.Signals) -> None:
        # The record comes first: a SIGKILL'd node cannot say it was killed, and the log must never
        # show an effect before its cause.
        self.log.write("node_killed", node=p.id, pid=p.pid, signal=sig.name)
        try:
            if p.paused and sig != signal.SIGKILL:
                os.kill(p.process.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
                p.paused = False
            os.kill(p.process.pid, sig)
        except ProcessLookupError:
            pass

    def _net_command(self, req: dict[str, Any]) -> dict[str, Any]:
        given = {k: req[k] for k in ("loss", "delay_ms", "jitter_ms") if req.get(k) is not None}
        return self._set_net(event="net_changed", **given)

    def _cut_command(self, req: dict[str, Any], add: bool) -> dict[str, Any]:
        a, b = parse_ids([req.get("src"), req.get("dst")], self.members)
        one_way = req.get("one_way", False)
        if type(one_way) is not bool:
            raise SupervisorError(f"one_way must be true or false, got {one_way!r}")
        links = {(a, b)} if one_way else {(a, b), (b, a)}
        return self._set_net(cuts=self.net.cuts | links if add else self.net.cuts - links, event="link_cut")

    def _pairs(self, raw: Any) -> frozenset[tuple[int, int]]:
        """A whole set of cuts (`links`: a shape such as a majorities-ring, replacing any partition)."""
        if not isinstance(raw, list) or not all(isinstance(p, list) and len(p) == 2 for p in raw):
            raise SupervisorError("cuts must be a list of [src, dst] pairs")
        pairs = [tuple(parse_ids(p, self.members)) for p in raw]
        return frozenset((a, b) for a, b in pairs)

    def _set_net(self, *, event: str, **values: Any) -> dict[str, Any]:
        try:
            self.net = self.net.changed(**values)
        except NetModelError as exc:
            raise SupervisorError(str(exc)) from None
        msg = self.net.to_doc()
        logged = {"partition": ("groups",), "net_changed": ("loss", "delay_ms", "jitter_ms"), "link_cut": ("cuts", "groups")}
        self.log.write(event, **{k: msg[k] for k in logged.get(event, ())}, version=self.net.version)
        for_nodes = self._for_nodes(msg)
        self.run.write_json_atomic(self.run.net_json, for_nodes)
        self._last_net_event = time.monotonic()
        self._publish(for_nodes)
        return {"net": msg}

    def _publish(self, msg: dict[str, Any]) -> None:
        now = time.monotonic()
        busy = now - self._last_net_event < _NETCTL_BUSY_WINDOW_S
        self._next_publish = now + (_NETCTL_REPUBLISH_S if busy else _NETCTL_REPUBLISH_IDLE_S)
        sock = self._socket(self._netctl)
        try:
            sock.send(json.dumps(msg).encode(), zmq.NOBLOCK)
            if now < self._release_until:
                sock.send(self._release_doc, zmq.NOBLOCK)
        except zmq.Again:
            pass  # republished shortly anyway

    def _inject(self, cmd: str, node: int, req: dict[str, Any]) -> dict[str, Any]:
        """A fault inside one node (runtime/node/nodefaults.py): skew for the node, the others for its running
        incarnation (a failpoint or disk fault must not outlive the process it was meant for)."""
        proc = self.nodes[node]
        value = req.get({"skew": "factor", "failpoint": "name", "disk": "fault"}[cmd])
        if cmd != "skew" and not proc.alive:
            raise SupervisorError(f"node {node} is not running; a {cmd} fault needs a running node")
        try:
            if cmd == "skew":
                self.faults.set_skew(node, value)
            elif cmd == "failpoint":
                self.faults.arm_failpoint(node, proc.incarnation, value)
            else:
                self.faults.arm_disk(node, proc.incarnation, value)
        except FaultsError as exc:
            raise SupervisorError(str(exc)) from None
        # Logged before it is published: the record never comes after the effect it describes.
        self.log.write("fault_injected", node=node, kind=cmd, value=value, incarnation=proc.incarnation)
        self._faults_changed()
        return {"node": node, "kind": cmd, "value": value, "incarnation": proc.incarnation}

    def _faults_changed(self) -> None:
        # Like the network state: written for nodes that start later, published for those running.
        msg = self.faults.message()
        self.run.write_json_atomic(self.run.faults_json, msg)
        self._last_net_event = time.monotonic()  # republish often for a while
        self._publish(msg)

    def _transfer(self, target: Any) -> dict[str, Any]:
        target = parse_ids([target], self.members)[0]
        self.refresh()
        status = self.status()
        leader = status["leader"]
        if leader is None:
            raise SupervisorError("there is no leader right now; try again once one is elected")
        if leader == target:
            raise SupervisorError(f"node {target} is already the leader")
        node = status["nodes"][target - 1]
        if node["role"] is None:
            raise SupervisorError(f"node {target} is not running (or paused); it cannot take over")
        self._transfer_seq += 1
        self.log.write("transfer_requested", node=target, leader=leader, term=status["term"])
        self._publish({"type": "transfer", "id": self._transfer_seq, "target": target, "leader": leader})
        return {"leader": leader, "target": target, "term": status["term"]}
