"""One Raft node as one OS process: `python -m raftzmq.runtime.node --run-dir DIR --id N --incarnation K
--supervisor-pid P` (docs/CONTRACTS.md, "Node process").

A single thread runs an epoll over the ZMQ_FDs of the ROUTER (peer messages), the netctl SUB (network faults,
leadership transfer, the start-up barrier), the ZAP socket (CURVE only), with hints the DEALERs' monitor sockets (a
peer's connection closed: `core.hint`), and a socketpair that signals wake it up. The poll timeout is the time
until the next thing the node must do (the core's deadline, a delayed send, the end of the start-up hold), capped
so the parent check runs at least every MAX_POLL_MS. Nothing sleeps; there are no locks because there is nothing
to share.

Every Output (Ready) of the core is applied by the one embedding (runtime/node/embedding.py) in the contract's order:
  [failpoint before_persist] -> save hard state (+ entries, one fsync) -> log state_persisted
  -> [after_persist_before_send] -> log the events -> send messages -> [after_send] -> apply committed entries
so a vote is durable before it is logged as given, and logged before it can leave.

Exit codes: 0 clean stop (SIGTERM/SIGINT, or the supervisor is gone), 3 refused to start (bad arguments,
config, corrupt state, address in use, bad failpoint spec), 4 storage fatal error. Anything else is a crash.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import zmq

from raftzmq.evidence.logfile import LogWriter
from raftzmq.protocol import FOLLOWER, LEADER, Codec, HardState
from raftzmq.protocol.messages import Message
from raftzmq.runtime.node.clock import SkewedClock
from raftzmq.runtime.config import ClusterConfig, ConfigError
from raftzmq.runtime.cores.coreload import CoreContractError, CoreLoadError, load_core
from raftzmq.runtime.node.diskfaults import FaultyFileOps
from raftzmq.runtime.node.embedding import Apply, embed
from raftzmq.runtime.node.curve import ZAP_BATCH, CurveError, CurveSettings, settings_for_node
from raftzmq.runtime.node.failpoints import FailpointError, Failpoints
from raftzmq.runtime.cluster.netns import NetnsError, enter_netns
from raftzmq.runtime.node.loopstats import LoopStats
from raftzmq.runtime.node.netem import DROP, SEND, NetctlError, NetEm, NetModelError, decode_netctl
from raftzmq.runtime.node.nodefaults import FaultReceiver, FaultsError
from raftzmq.runtime.node.startup import HOLD_KEY, StartupHoldError, first_election_patience_s, held_until
from raftzmq.runtime.node.storage import CorruptStateError, StateFile, StorageError, StorageFatalError
from raftzmq.runtime.node.transport import AddressInUseError, LogLimiter, Transport, TransportError

T = TypeVar("T")

__all__ = ["main", "run_node", "EXIT_OK", "EXIT_REFUSED", "EXIT_STORAGE", "EXIT_CORE", "MAX_POLL_MS"]

EXIT_OK, EXIT_REFUSED, EXIT_STORAGE, EXIT_CORE = 0, 3, 4, 5
# Upper bound on one poll: how late the getppid() fallback notices a vanished supervisor (PR_SET_PDEATHSIG is
# the primary mechanism). Every wake-up costs an idle node CPU, so this is not shorter than it must be.
MAX_POLL_MS = 1000
NETCTL_BATCH = 32  # netctl messages handled per wake-up
_ROUTER, _WAKE = -2, -3  # pseudo-fds in the loop's bookkeeping (real fds are >= 0)
AFTER_SEND_FLUSH_MS = 200  # after_send failpoint: how long the sent messages get to leave before the SIGKILL
PR_SET_PDEATHSIG = 1


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send `sig` when our parent *thread* exits. False where unsupported (non-Linux)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class Node:
    """The node's state and loop. Construct, then `run()`; returns an exit code (or SIGKILLs itself)."""

    def __init__(self, run_dir: Path, node_id: int, incarnation: int, supervisor_pid: int | None,
                 env: dict[str, str] | None = None) -> None:
        self.run_dir, self.id, self.incarnation = run_dir, node_id, incarnation
        self.supervisor_pid = supervisor_pid
        self.env = dict(os.environ if env is None else env)
        self.log: Any = None
        self.core: Any = None
        self.term = 0  # for log records written before the core exists
        self.ctx: Any = None
        self.transport: Any = None
        self.sub: Any = None
        self.stop_reason: str | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._last_transfer_id: Any = None
        self.failpoints: Any = None
        self.state_file: Any = None
        self.rng: Any = None
        self.netem: Any = None
        self.limiter: Any = None
        # From cluster.json: CURVE settings (auth curve), this node's network namespace (net netns), and whether
        # endpoints beyond loopback are expected (inside the run's namespaces).
        self.curve: CurveSettings | None = None
        self.netns: str | None = None
        self.remote_ok = False
        self._apply: Apply = self._embedding()
        self.clock = SkewedClock()  # the core's time; skewed on request (raftzmq skew), see runtime/node/clock.py
        self.disk = FaultyFileOps()  # the state file's disk; fails on request (raftzmq disk), see diskfaults.py
        self.faults: Any = None
        self.loop_stats = LoopStats()
        self.hold_until: float | None = None  # the start-up barrier (runtime/node/startup.py): no election timer yet
        self._hold_since = 0.0
        self._hold_doc: Any = None
        self._ep: Any = None  # the loop's epoll, once it runs
        self._monitor_of: dict[int, Any] = {}  # monitor socket fd -> monitor socket (hints)

    # ------------------------------------------------------------------ failure helpers

    def _refuse(self, reason: str, code: int = EXIT_REFUSED) -> NoReturn:
        print(f"raftzmq node {self.id}: {reason}", file=sys.stderr, flush=True)
        if self.log is not None:
            try:
                self._write("node_failed", reason=reason)  # the core's term if it exists: never back in term
            except (OSError, ValueError):
                pass
        raise _Exit(code)

    def _write(self, event: str, **fields: Any) -> None:
        self.log.write(event, term=self.core.term if self.core is not None else self.term, **fields)

    # ------------------------------------------------------------------ start-up

    def run(self) -> int:
        try:
            self._start()
            self._loop()
            return self._stop()
        except CoreContractError as exc:  # a plug-in core broke docs/core-contract.md: say which rule, no traceback
            self._close_sockets()
            try:
                self._refuse(str(exc), EXIT_CORE)
            except _Exit as e:
                return e.code
        except _Exit as e:
            self._close_sockets()
            return e.code
        except BaseException as exc:  # a crash: say so in the log (the evidence), then let it propagate
            if self.log is not None and not isinstance(exc, KeyboardInterrupt):
                try:
                    self._write("node_failed", reason=f"crash: {exc.__class__.__name__}: {exc}"[:300])
                except Exception:
                    pass
            raise
        finally:
            if self.log is not None:
                self.log.close()

    def _start(self) -> None:
        """Start-up, one named step each; any step may refuse (exit 3, or 4 for storage) with a clear reason."""
        self._install_signal_wakeup()
        self._open_log()
        self._check_parent()
        self._arm_failpoints()
        config, endpoints, netctl = self._read_cluster()
        state = self._load_state()
        self._apply = self._embedding(state)  # knows what is durable now: must_sync compares with it
        seed = int.from_bytes(os.urandom(8), "big")
        self.rng = random.Random(seed)
        self.netem = NetEm(self.id, random.Random(f"{seed}:netem"))
        self._open_sockets(config, endpoints, netctl)
        self.core = self._make_core(config, state)
        now = self.clock.now()
        self.hold_until, self._hold_since = held_until(self._hold_doc, self.id, self.incarnation, now), now
        if not hasattr(self.core, "campaign_now"):  # a plug-in core without the barrier's two calls: no hold
            self.hold_until = None
            self.transport.connect_peers()
        self._write("node_started", voted_for=state.voted_for, persist_mode=config.persist, rng_seed=seed,
                    pid=os.getpid(), endpoint=self.transport.endpoint)
        if self.log.repaired_bytes:
            self._write("log_repaired", bytes=self.log.repaired_bytes)  # a torn last line of the last incarnation
        self._apply_saved_net()

    def _make_core(self, config: ClusterConfig, state: HardState) -> Any:
        """The configured core: the built-in one, or a plug-in behind its contract checks (runtime/cores/coreload.py)."""
        try:
            return load_core(config.core)(config.core_config(self.id), state, self.clock.now(), self.rng)
        except CoreLoadError as exc:
            self._refuse(str(exc))

    def _install_signal_wakeup(self) -> None:
        # Signals only set a flag and (via the wakeup fd) make poll() return; all I/O happens in the loop.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _open_log(self) -> None:
        if not self.run_dir.is_dir():
            self._refuse(f"run directory {self.run_dir} does not exist")
        try:
            self.log = LogWriter(self.run_dir / f"node-{self.id}.jsonl", by="node", node=self.id,
                                 incarnation=self.incarnation)
        except (OSError, ValueError) as exc:
            self._refuse(f"cannot open node log: {exc}")

    def _check_parent(self) -> None:
        if self.supervisor_pid is not None and os.getppid() != self.supervisor_pid:  # None: standalone
            self._refuse(f"parent pid {os.getppid()} is not the supervisor pid {self.supervisor_pid}")

    def _arm_failpoints(self) -> None:
        try:
            self.failpoints = Failpoints.from_env(self.id, self.incarnation, self.env)
        except FailpointError as exc:
            self._refuse(str(exc))

    def _read_cluster(self) -> tuple[ClusterConfig, dict[int, str], str | None]:
        """cluster.json: the config, every member's endpoint, and the netctl endpoint (None: no netctl)."""
        cluster_path = self.run_dir / "cluster.json"
        try:
            cluster = json.loads(cluster_path.read_text())
            if not isinstance(cluster, dict):
                raise ValueError("not a JSON object")
            config = ClusterConfig.from_dict(cluster["config"], source=str(cluster_path))
            endpoints = {int(k): v for k, v in cluster["endpoints"].items()}
            netctl = cluster.get("netctl")
            self._hold_doc = cluster.get(HOLD_KEY)
            held_until(self._hold_doc, self.id, self.incarnation, 0.0)  # validate now, refuse before any socket
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError, StartupHoldError) as exc:
            self._refuse(f"bad {cluster_path}: {exc.__class__.__name__}: {exc}")
        members = config.members
        if cluster.get("nodes", config.nodes) != config.nodes or sorted(endpoints) != list(members):
            self._refuse(f"bad {cluster_path}: endpoints {sorted(endpoints)} do not match members {list(members)}")
        if self.id not in members:
            self._refuse(f"node id {self.id} is not a member of {list(members)}")
        if netctl is not None and not isinstance(netctl, str):
            self._refuse(f"bad {cluster_path}: netctl must be an endpoint string")
        self._read_network(cluster)
        return config, endpoints, netctl

    def _read_network(self, cluster: dict[str, Any]) -> None:
        try:
            self.curve = settings_for_node(cluster, self.run_dir, self.id)
        except CurveError as exc:
            self._refuse(f"authentication: {exc}")
        names = cluster.get("netns")
        self.netns = str(names[str(self.id)]) if isinstance(names, dict) and str(self.id) in names else None
        self.remote_ok = cluster.get("net") == "netns"

    def _load_state(self) -> HardState:
        self.disk.before_rename = lambda: self.failpoints.hit("before_rename")
        self.state_file = StateFile(self.run_dir / f"node-{self.id}.state", ops=self.disk)
        self.faults = FaultReceiver(self.id, self.incarnation, self.clock, self.failpoints, self.disk)
        try:
            state = self.state_file.load()
        except CorruptStateError as exc:
            # Never fall back to term 0: a node that forgets its vote can vote twice in one term.
            self._refuse(f"corrupt state file, refusing to start: {exc}")
        except StorageFatalError as exc:
            self._refuse(f"cannot read state file: {exc}", EXIT_STORAGE)
        except StorageError as exc:
            self._refuse(f"state file: {exc}")
        if state is None:
            state = self._first_state()
        self.term = state.term
        return state

    def _first_state(self) -> HardState:
        # A missing file means term 0 only for a node that never ran: the first start writes the file, so a
        # later incarnation without one has lost its state (and could vote twice in a term it voted in).
        if self.incarnation > 1:
            self._refuse(f"state file {self.state_file.path} is missing, but node {self.id} has run before "
                         f"(this is incarnation {self.incarnation}); refusing to start from term 0")
        state = HardState()
        try:
            self.state_file.save(state)
        except StorageFatalError as exc:
            self._refuse(f"cannot create state file: {exc}", EXIT_STORAGE)
        return state

    def _open_sockets(self, config: ClusterConfig, endpoints: dict[int, str], netctl: str | None) -> None:
        if self.netns is not None:  # --net netns: into this node's namespace before any socket exists
            try:
                enter_netns(self.netns)
            except (OSError, NetnsError) as exc:
                self._refuse(f"cannot enter network namespace {self.netns}: {exc}")
        self.ctx = zmq.Context(io_threads=1)  # created here, in the node process itself (never across fork)
        self.limiter = LogLimiter(self._write, time.monotonic)
        members = config.members
        try:
            self.transport = Transport(self.ctx, self.id, endpoints, Codec(members, self.id), self.limiter,
                                       reconnect_ms=config.effective_reconnect_ms, curve=self.curve,
                                       remote_ok=self.remote_ok, watch_disconnects=config.hints)
            self.transport.open(connect=held_until(self._hold_doc, self.id, self.incarnation, 0.0) is None)
        except AddressInUseError as exc:
            self._refuse(f"cannot bind {exc.endpoint}: address already in use")
        except TransportError as exc:
            self._refuse(f"transport: {exc}")
        if netctl is not None:
            self._subscribe_netctl(netctl, config.effective_reconnect_ms)

    def _subscribe_netctl(self, netctl: str, reconnect_ms: int) -> None:
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)  # never wait on close
        self.sub.setsockopt(zmq.RCVHWM, 64)  # netctl is republished; a backlog of old states is useless
        self.sub.setsockopt(zmq.MAXMSGSIZE, 64 * 1024)  # a net document is small; refuse anything absurd
        self.sub.setsockopt(zmq.RECONNECT_IVL, reconnect_ms)  # reach a (re)started supervisor fast
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")  # topic-less protocol: take everything
        try:
            self.sub.connect(netctl)
        except zmq.ZMQError as exc:
            self._refuse(f"bad netctl endpoint {netctl!r}: {exc}")

    def _apply_saved_net(self) -> None:
        """A node (re)started during a fault applies the current network state and node faults (net.json,
        faults.json) before the first netctl, so e.g. a skewed clock holds from its first timeout."""
        for name in ("net.json", "faults.json"):
            try:
                doc = decode_netctl((self.run_dir / name).read_bytes())
            except FileNotFoundError:
                continue
            except (OSError, NetctlError) as exc:
                self._write("netctl_rejected", reason=f"{name}: {exc}"[:200])
                continue
            self._apply_netctl(doc)

    def _on_signal(self, signum: int, frame: Any) -> None:
        # No I/O here: the loop sees the flag on its next iteration (the wakeup fd ends the current poll).
        if self.stop_reason is None:
            self.stop_reason = "sigterm" if signum == signal.SIGTERM else "sigint"

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        # epoll on the sockets' ZMQ_FDs and the wakeup fd, registered once: a wake costs one epoll_wait and
        # reports only the fds that have something to say (zmq.Poller rebuilt and re-polled every socket each
        # call). ZMQ_FD only signals an edge, so a socket is read until ZMQ_EVENTS shows nothing left (see
        # Transport.receive) or, when a batch cap stops early, the next poll does not sleep.
        ep = select.epoll()
        router_fd = self.transport.router.getsockopt(zmq.FD)
        ep.register(router_fd, select.EPOLLIN)
        sub_fd = -1
        if self.sub is not None:
            sub_fd = self.sub.getsockopt(zmq.FD)
            ep.register(sub_fd, select.EPOLLIN)
        assert self._wake_r is not None  # created with the sockets, before the loop
        wake_fd = self._wake_r.fileno()
        ep.register(wake_fd, select.EPOLLIN)
        zap_fd = -1  # CURVE: handshakes wait for our ZAP handler
        if self.transport.zap is not None:
            zap_fd = self.transport.zap.socket.getsockopt(zmq.FD)
            ep.register(zap_fd, select.EPOLLIN)
        try:
            self._run_loop(ep, sub_fd, wake_fd, zap_fd)
        finally:
            ep.close()

    def _run_loop(self, ep: Any, sub_fd: int, wake_fd: int, zap_fd: int) -> None:
        core, netem, limiter, stats = self.core, self.netem, self.limiter, self.loop_stats
        monotonic, real_seconds = self.clock.now, self.clock.real_seconds
        self._ep = ep
        self._watch_monitors()
        # Sources that may hold more than one batch (or news from before the loop): read again without sleeping.
        pending = {fd for fd in (sub_fd, zap_fd) if fd >= 0} | {_ROUTER}
        sources = {wake_fd: _WAKE, sub_fd: sub_fd, zap_fd: zap_fd}
        now = monotonic()
        parent_check = now  # the getppid() fallback, at most once per MAX_POLL_MS (PR_SET_PDEATHSIG is primary)
        while self.stop_reason is None:
            if now >= parent_check:
                if self.supervisor_pid is not None and os.getppid() != self.supervisor_pid:
                    self.stop_reason = "supervisor_gone"
                    return
                parent_check = now + MAX_POLL_MS / 1000.0
            due = min(core.deadline if self.hold_until is None else self.hold_until, parent_check)
            nd = netem.next_due
            if nd is not None and nd < due:
                due = nd
            ready = ep.poll(0 if pending else real_seconds(max(0.0, due - now)))
            now = monotonic()
            stats.wakes += 1
            if ready or pending:
                pending = self._service(ready, pending, sources, now, sub_fd, zap_fd)
            if nd is not None and nd <= now:
                self._send_delayed(now)
            self._timers(now)
            limiter.flush()  # its own (real) clock: log windows are not skewed
            now = monotonic()

    def _service(self, ready: list[tuple[int, int]], pending: set[int], sources: dict[int, int], now: float,
                 sub_fd: int, zap_fd: int) -> set[int]:
        """Read every source that signalled or still holds frames; returns the sources still holding some."""
        for fd, _ in ready:
            src = sources.get(fd, _ROUTER)
            if src == _WAKE:
                self._drain_wake()
            elif fd in self._monitor_of:
                for peer, endpoint in self.transport.disconnects(self._monitor_of[fd]):
                    self._apply(self.core.hint(peer, now, endpoint))
            else:
                pending.add(src)
        transport, netem, step, node_id = self.transport, self.netem, self.core.step, self.id
        if zap_fd in pending and transport.zap.handle() < ZAP_BATCH:
            pending.discard(zap_fd)
        if sub_fd in pending and not self._read_netctl():
            pending.discard(sub_fd)
        for msg in transport.receive():  # any wake may come with frames: ZMQ_FD signals only an edge
            if netem.allows(msg.src, node_id):
                self._apply(step(msg, now))
            else:
                transport.log_drop(msg.src, msg.kind, "partition")
        if not transport.more:
            pending.discard(_ROUTER)
        return pending

    def _timers(self, now: float) -> None:
        core = self.core
        if self.hold_until is not None:
            if core.role != FOLLOWER:
                self._release("campaign", now)  # e.g. a TimeoutNow: a campaigning node needs its timers
            elif core.leader is not None:
                self._release("leader", now)
            elif now >= self.hold_until:
                self._release("bound", now)
            return
        if now >= core.deadline:
            self.loop_stats.tick_late(now - core.deadline)
            self._apply(core.tick(now))

    def _on_release(self, first: Any, now: float) -> None:
        """The supervisor's release: the named node campaigns now; the others hold on until they hear a leader,
        for at most the first election's patience (runtime/node/startup.py). A node that missed the connect step
        connects only now, and its first messages would find no connection: it runs an ordinary timer instead."""
        patience = first_election_patience_s(len(self.core.config.members))
        if self._connect_peers():
            self._release("release", now)
        elif first == self.id:
            self._release("first", now)
            self._apply(self.core.campaign_now(now, patience))
        else:
            self.hold_until = now + patience

    def _release(self, reason: str, now: float) -> None:
        """End the start-up hold: from here on the election timer runs (drawn afresh unless campaigning)."""
        self.hold_until = None
        self._connect_peers()  # no-op unless the connect step was missed (the bound, a lost message)
        self._write("timer_released", reason=reason, held_ms=round((now - self._hold_since) * 1000))
        if reason != "first":
            self.core.restart_election_timer(now)

    def _connect_peers(self) -> bool:
        """Connect the DEALERs if the start-up barrier had kept them back; True if that happened now."""
        if not self.transport.connect_peers():
            return False
        self._watch_monitors()
        return True

    def _watch_monitors(self) -> None:
        """Put the DEALERs' monitor sockets (hints) in the loop's epoll: they exist once the DEALERs do."""
        if self._ep is None:
            return
        for mon in self.transport.monitors:
            fd = mon.getsockopt(zmq.FD)
            if fd not in self._monitor_of:
                self._monitor_of[fd] = mon
                self._ep.register(fd, select.EPOLLIN)
                # ZMQ_FD signals an edge only after a read found the socket empty: read once to arm it.
                for peer, endpoint in self.transport.disconnects(mon):
                    self._apply(self.core.hint(peer, self.clock.now(), endpoint))

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        try:
            while self._wake_r.recv(512):
                pass
        except BlockingIOError:
            pass

    def _send_delayed(self, now: float) -> None:
        send_now, cut = self.netem.pop_due(now)
        for msg in cut:
            self.transport.log_drop(msg.dst, msg.kind, "partition")
        for msg in send_now:
            self.transport.send(msg)

    # ------------------------------------------------------------------ the embedding's ports

    def _embedding(self, state: HardState | None = None) -> Apply:
        """The core's Ready applied through this process's disk, log, network and failpoints (one embedding:
        runtime/node/embedding.py, the same one the simulator runs). No write-ahead log yet (issue 18): the default
        append port refuses entries, the default apply port does nothing."""
        return embed(self._save_state, self._log_event, self._send, self._failpoint, state=state)

    def _save_state(self, state: HardState) -> None:
        try:
            self.state_file.save(state)
        except StorageFatalError as exc:
            self._refuse(f"storage fatal error: {exc}", EXIT_STORAGE)

    def _log_event(self, event: str, *, term: int, **fields: Any) -> dict[str, Any]:
        return self.log.write(event, term=term, **fields)  # self.log exists once _open_log ran

    def _send(self, messages: list[Message]) -> None:
        now = self.clock.now()
        netem, transport = self.netem, self.transport
        for msg in messages:
            verdict, reason = netem.route(msg, now)
            if verdict == SEND:
                transport.send(msg)
            elif verdict == DROP:
                transport.log_drop(msg.dst, msg.kind, reason)

    def _failpoint(self, name: str) -> None:
        self.failpoints.hit(name, before_kill=self._flush_before_kill if name == "after_send" else None)

    def _flush_before_kill(self) -> None:
        # zmq sends from its I/O thread; give queued messages a bounded chance to leave so that "after_send"
        # means the messages were sent, not merely handed to a queue that the SIGKILL then discards.
        self.transport.close(linger_ms=AFTER_SEND_FLUSH_MS)
        if self.sub is not None:
            self.sub.close(linger=0)
        self.ctx.term()  # returns once the DEALER queues are flushed or the linger has expired

    # ------------------------------------------------------------------ netctl

    def _read_netctl(self) -> bool:
        """Handle up to NETCTL_BATCH messages; True if more may be waiting (read again before sleeping)."""
        for _ in range(NETCTL_BATCH):
            try:
                parts = self.sub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return False
            try:
                if len(parts) != 1:
                    raise NetctlError(f"{len(parts)}-part message")
                doc = decode_netctl(parts[0])
            except NetctlError as exc:
                self._netctl_rejected(str(exc))
                continue
            self._apply_netctl(doc)
        return True

    def _netctl_rejected(self, reason: str) -> None:
        self.limiter.emit("netctl_rejected", ("netctl_rejected",), 1, reason=reason[:200])

    def _take_table(self, what: str, apply: Callable[[], T], errors: type[Exception]) -> T | None:
        """A table from the supervisor (net model, node faults) applied, or rejected and logged (None)."""
        try:
            return apply()
        except errors as exc:
            self._netctl_rejected(f"{what}: {exc}")
            return None

    def _apply_netctl(self, doc: dict[str, Any]) -> None:
        kind = doc.get("type")
        if kind == "net":
            if self._take_table("net", lambda: self.netem.apply(doc), NetModelError):
                fields = self.netem.model.to_doc()
                del fields["type"]
                self._write("net_applied", **fields)
        elif kind == "connect":
            self._connect_peers()  # every node of the start is up (the barrier's first step)
        elif kind == "release":
            if self.hold_until is not None:
                self._on_release(doc.get("first"), self.clock.now())
        elif kind == "transfer":
            target, tid = doc.get("target"), doc.get("id")
            if type(tid) is not int:
                self._netctl_rejected(f"transfer: id {tid!r} is not an int"[:200])
                return
            if tid == self._last_transfer_id:
                return  # a repeated publication of the same request
            self._last_transfer_id = tid
            if self.core.role != LEADER:
                return  # only the leader acts; everyone else ignores it
            if type(target) is not int or target not in self.core.peers:
                self._netctl_rejected(f"transfer: target {target!r} is not a peer")
                return
            self._apply(self.core.transfer_leadership(target, self.clock.now()))
        elif kind == "faults":
            applied = self._take_table("faults", lambda: self.faults.apply(doc), FaultsError)
            if applied is not None:
                self._write("faults_applied", **applied.log_fields())
        else:
            self._netctl_rejected(f"unknown type {kind!r}"[:200])

    # ------------------------------------------------------------------ shutdown

    def _stop(self) -> int:
        self.limiter.flush_all()
        self._write("loop_stats", **self.loop_stats.summary())
        self._write("node_stopping", reason=self.stop_reason or "unknown")
        self._close_sockets()
        return EXIT_OK

    def _close_sockets(self) -> None:
        try:
            signal.set_wakeup_fd(-1)
        except ValueError:
            pass
        if self.transport is not None:
            self.transport.close(linger_ms=0)
        if self.sub is not None:
            self.sub.close(linger=0)
            self.sub = None
        if self.ctx is not None:
            self.ctx.term()
            self.ctx = None
        for s in (self._wake_r, self._wake_w):
            if s is not None:
                s.close()


def run_node(run_dir: str | os.PathLike[str], node_id: int, incarnation: int, supervisor_pid: int,
             env: dict[str, str] | None = None) -> int:
    """Run a node in this process until it stops; returns the exit code. Must be called in a fresh process
    (it installs signal handlers and PR_SET_PDEATHSIG, and owns the process's zmq context)."""
    set_parent_death_signal(signal.SIGKILL)
    return Node(Path(run_dir), node_id, incarnation, supervisor_pid, env).run()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m raftzmq.runtime.node", description="Run one raftzmq node.")
    p.add_argument("--run-dir", required=True)
    p.add_argument("--id", type=int, required=True)
    p.add_argument("--incarnation", type=int, required=True)
    p.add_argument("--supervisor-pid", type=int, required=True)
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        return EXIT_REFUSED if exc.code else EXIT_OK
    if args.id < 1 or args.incarnation < 1 or args.supervisor_pid < 1:
        print("raftzmq node: --id, --incarnation and --supervisor-pid must be >= 1", file=sys.stderr)
        return EXIT_REFUSED
    return run_node(args.run_dir, args.id, args.incarnation, args.supervisor_pid)


if __name__ == "__main__":
    sys.exit(main())
