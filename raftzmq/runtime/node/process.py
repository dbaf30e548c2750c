"""One Raft node as one OS process: `python -m raftzmq.runtime.node --run-dir DIR --id N --incarnation K
--supervisor-pid P` (docs/CONTRACTS.md, "Node process").

A single thread runs an epoll over the ZMQ_FDs of the ROUTER (peer messages), the client endpoint's ROUTER
(runtime/node/clientport.py: proposals, the KV wire), the netctl SUB (network faults, leadership transfer, the
start-up barrier), the ZAP socket (CURVE only), with hints the DEALERs' monitor sockets (a peer's connection
closed: `core.hint`), and a socketpair that signals wake it up. The poll timeout is the time
until the next thing the node must do (the core's deadline, a delayed send, the end of the start-up hold), capped
so the parent check runs at least every MAX_POLL_MS. Nothing sleeps; there are no locks because there is nothing
to share.

Every Output (Ready) of the core is applied by the one embedding (runtime/node/embedding.py) in the contract's order:
  [failpoint before_persist] -> save hard state (+ entries, one fsync) -> log state_persisted
  -> [after_persist_before_send] -> log the events -> send messages -> [after_send] -> apply committed entries
so a vote is durable before it is logged as given, and logged before it can leave.
The append port is the write-ahead log (runtime/node/wal.py, opened at start; `log_loaded` follows
`node_started`). Group commit per loop turn: once a Ready of the turn wrote the log or changed the hard state, the
rest of the turn (records, sends, armed failpoints, applies) waits until the turn's end, where ONE log fsync (and
one state save if term or vote changed) makes it durable; then it all goes, the turn's AppendEntries to one
follower coalesced (runtime/node/coalesce.py). See `_flush`.

Exit codes: 0 clean stop (SIGTERM/SIGINT, or the supervisor is gone), 3 refused to start (bad arguments,
config, corrupt state or write-ahead log, address in use, bad failpoint spec), 4 storage fatal error (the state
file or the log). Anything else is a crash.
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
from collections.abc import Sequence
from typing import Any, NoReturn, TypeVar

import zmq

from raftzmq.evidence.logdigest import term_runs
from raftzmq.evidence.logfile import LogWriter
from raftzmq.protocol import FOLLOWER, LEADER, Codec, HardState
from raftzmq.protocol.core import ElectionCore
from raftzmq.protocol.messages import Entry, Message
from raftzmq.protocol.ready import ReadState, hard_state_changed
from raftzmq.protocol.surface import acknowledges
from raftzmq.runtime.node.clock import SkewedClock
from raftzmq.runtime.config import ClusterConfig, ConfigError
from raftzmq.runtime.cores.coreload import CoreContractError, CoreLoadError, load_core
from raftzmq.runtime.node.diskfaults import FaultyFileOps
from raftzmq.runtime.node.embedding import Apply, Embedding, embed
from raftzmq.runtime.node.curve import ZAP_BATCH, CurveError, CurveSettings, settings_for_node
from raftzmq.runtime.node.failpoints import FailpointError, Failpoints
from raftzmq.runtime.cluster.netns import NetnsError, enter_netns
from raftzmq.runtime.node.loopstats import LoopStats
from raftzmq.runtime.node.netem import DROP, SEND, NetctlError, NetEm, NetModelError, decode_netctl
from raftzmq.runtime.node.nodefaults import FaultReceiver, FaultsError
from raftzmq.runtime.node.startup import (HOLD_KEY, StartupHoldError, connected_enough, first_connect_bound_s,
                                          first_election_patience_s, held_until)
from raftzmq.runtime.node.storage import CorruptStateError, StateFile, StorageError, StorageFatalError
from raftzmq.runtime.node.transport import AddressInUseError, LogLimiter, Transport, TransportError, check_endpoint
from raftzmq.protocol.kvservice import KVService
from raftzmq.protocol.kvstore import KVStore
from raftzmq.runtime.node.coalesce import coalesce
from raftzmq.runtime.node.clientport import ClientPort, ClientPortError, Proposal
from raftzmq.runtime.node.wal import CorruptLogError, WriteAheadLog

T = TypeVar("T")

__all__ = ["main", "run_node", "EXIT_OK", "EXIT_REFUSED", "EXIT_STORAGE", "EXIT_CORE", "MAX_POLL_MS"]

EXIT_OK, EXIT_REFUSED, EXIT_STORAGE, EXIT_CORE = 0, 3, 4, 5
# Upper bound on one poll: how late the getppid() fallback notices a vanished supervisor (PR_SET_PDEATHSIG is
# the primary mechanism). Every wake-up costs an idle node CPU, so this is not shorter than it must be.
MAX_POLL_MS = 1000
NETCTL_BATCH = 32  # netctl messages handled per wake-up
_ROUTER, _WAKE, _INBOUND = -2, -3, -4  # pseudo-fds in the loop's bookkeeping (real fds are >= 0)
# A batch of frames that held nothing but hostile ones (rejected by the codec or over their connection's budget):
# the ROUTER is left unread this long, so that a flood is read in full batches of RECV_BATCH frames, each wake's
# fixed cost (~30-50 us of Python) spread over them, instead of one wake per frame. Legitimate frames that arrive
# during a flood wait at most this long (they are fairly queued per connection). See _pause_router.
FLOOD_PAUSE_S = 0.002
FIRST_CHECK_S = 0.005  # the start's first node, waiting for its connections: how often it looks at its DEALERs
# After a start's first leader: how many new connections per second the whole cluster makes, at most, while the
# followers connect the rest of the mesh (each follower one peer every N / this seconds; 101 nodes: 10 s).
MESH_CONNECTS_PER_S = 1000
COMMIT_SAVE_INTERVAL_S = 1.0  # a commit-only change of the hard state is saved at most this often
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
        self._embedder: Embedding | None = None
        self.wal: WriteAheadLog | None = None  # the write-ahead log: the embedding's append port
        self._in_turn = False  # the loop is in a turn: _flush comes at its end
        self._apply: Apply = self._embedding()  # rebuilt in _start once the state, the log and the core exist
        self.clock = SkewedClock()  # the core's time; skewed on request (raftzmq skew), see runtime/node/clock.py
        self.disk = FaultyFileOps()  # the state file's disk; fails on request (raftzmq disk), see diskfaults.py
        self.faults: Any = None
        self.loop_stats = LoopStats()
        self.hold_until: float | None = None  # the start-up barrier (runtime/node/startup.py): no election timer yet
        self._hold_since = 0.0
        self._hold_doc: Any = None
        self._ep: Any = None  # the loop's epoll, once it runs
        self._monitor_of: dict[int, Any] = {}  # monitor socket fd -> monitor socket (hints)
        self._tail_cuts: list[dict[str, Any]] = []  # log_tail_cut records of the WAL's recovery (logged after start)
        self.client: ClientPort | None = None  # the client endpoint (cluster.json `client_endpoints`)
        self._proposals: list[Any] | None = None  # the Readys of a batch of client proposals (_serve_clients)
        self._client_endpoints: dict[int, str] = {}
        # Group commit per loop turn: once a Ready of this turn wrote the log or moved the hard state, everything
        # after it (records, sends, failpoints, applies) waits in `_deferred` until `_flush` made it durable with
        # one log fsync (and one state file save if term or vote changed).
        self._deferring = False
        self._deferred: list[tuple[Any, ...]] = []
        self._early_out: list[Message] = []  # Output.early of this turn: sent (coalesced) before its fsync
        self._wal_dirty = False
        self._pending_state: HardState | None = None
        self._saved_state: HardState | None = None  # what the state file holds
        self._state_saved_at = 0.0
        self.syncs = 0  # log fsyncs (group commits) of this incarnation
        self._first_until: float | None = None  # named first at the connect step: campaign once connected, or then
        self._router_fd = -1
        self._router_paused_until: float | None = None  # see FLOOD_PAUSE_S
        self._mesh_pending: list[int] = []  # after the star of the start-up: peers still to connect, paced
        self._mesh_next = 0.0
        self._mesh_every = 0.0
        self._inbound_fd = -1

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
        self._open_wal(state)
        seed = int.from_bytes(os.urandom(8), "big")
        self.rng = random.Random(seed)
        self.netem = NetEm(self.id, random.Random(f"{seed}:netem"))
        self._open_sockets(config, endpoints, netctl)
        self.core = self._make_core(config, state)
        self._apply = self._embedding(state)  # knows what is durable now: must_sync compares with it
        if self.client is not None and self._replicates():  # the KV store rides on the replicated log
            # gets by the core's ReadIndex (or its lease) unless --reads log, or a plug-in core without read_index
            reads = "index" if config.reads in ("index", "lease") and hasattr(self.core, "read_index") else "log"
            if config.reads == "stale":
                reads = "stale"  # the mutant store (deliberately unsafe): every node answers from its own store
            self.client.serve_kv(KVService(KVStore(), self._client_endpoints, reads=reads, node_id=self.id))
        now = self.clock.now()
        self.hold_until, self._hold_since = held_until(self._hold_doc, self.id, self.incarnation, now), now
        if not hasattr(self.core, "campaign_now"):  # a plug-in core without the barrier's two calls: no hold
            self.hold_until = None
            self.transport.connect_peers()
        self._write("node_started", voted_for=state.voted_for, persist_mode=config.persist, rng_seed=seed,
                    pid=os.getpid(), endpoint=self.transport.endpoint)
        for cut in self._tail_cuts:
            self._write("log_tail_cut", **cut)
        if self._embedder is not None and self._embedder.chain is not None:
            self._embedder.log_loaded()  # what the log holds: last index, digest, commit, term runs
        if self.log.repaired_bytes:
            self._write("log_repaired", bytes=self.log.repaired_bytes)  # a torn last line of the last incarnation
        self._apply_saved_net()

    def _make_core(self, config: ClusterConfig, state: HardState) -> Any:
        """The configured core: the built-in one, or a plug-in behind its contract checks (runtime/cores/coreload.py).
        A core gets the recovered log (`log=`) only when there is one: election-only cores take no such argument."""
        assert self.wal is not None
        try:
            factory = load_core(config.core)
            args = (config.core_config(self.id), state, self.clock.now(), self.rng)
            if self.wal.last_index:
                return factory(*args, log=self.wal.entries(1))  # type: ignore[call-arg]
            return factory(*args)
        except CoreLoadError as exc:
            self._refuse(str(exc))

    def _replicates(self) -> bool:
        """A core with replication (contract v2: it takes proposals); election-only cores write no log records."""
        core = self.core
        inner = getattr(core, "inner", None)  # a wrapper (surface.CoreWrapper) forwards propose only if it can
        return callable(getattr(core if inner is None else inner, "propose", None))

    def _open_wal(self, state: HardState) -> None:
        """The write-ahead log, recovered (a torn tail is cut and logged after node_started); a corrupt log or
        committed entries missing refuse the start, naming the file and the offset."""
        def tail_cut(event: str, **fields: Any) -> None:
            self._tail_cuts.append(fields)
        try:
            self.wal = WriteAheadLog.open(self.run_dir / f"node-{self.id}.wal", self.disk, tail_cut,
                                          commit=state.commit)
        except CorruptLogError as exc:
            self._refuse(f"corrupt write-ahead log, refusing to start: {exc}")
        except StorageFatalError as exc:
            self._refuse(f"cannot open the write-ahead log: {exc}", EXIT_STORAGE)
        self._saved_state = state

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
        self.failpoints.on_hit = self._log_failpoint_hit

    def _log_failpoint_hit(self, name: str) -> None:
        # The term of the node's last record: at before_persist/before_rename the core's new term is not durable.
        term = self.log.last_term if self.log.last_term is not None else self.term
        self.log.write("failpoint_hit", term=term, name=name)

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
        clients = cluster.get("client_endpoints")
        if clients is not None:
            try:
                self._client_endpoints = {int(k): str(v) for k, v in clients.items()}
                if sorted(self._client_endpoints) != list(members):
                    raise ValueError(f"for nodes {sorted(self._client_endpoints)}, not for members {list(members)}")
                for ep in self._client_endpoints.values():
                    check_endpoint(ep, self.remote_ok)
            except (AttributeError, ValueError, TransportError) as exc:
                self._refuse(f"bad {cluster_path}: client_endpoints: {exc}")
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
            held = held_until(self._hold_doc, self.id, self.incarnation, 0.0) is not None
            self.transport.open(connect=not held)
            if held:  # the start's first node is named only at the connect step: every held node counts
                self.transport.watch_inbound()
        except AddressInUseError as exc:
            self._refuse(f"cannot bind {exc.endpoint}: address already in use")
        except TransportError as exc:
            self._refuse(f"transport: {exc}")
        if netctl is not None:
            self._subscribe_netctl(netctl, config.effective_reconnect_ms)
        endpoint = self._client_endpoints.get(self.id)
        if endpoint is not None:
            self.client = ClientPort(self.ctx, endpoint, propose=self._propose, read_index=self._read_index,
                                     info=self._client_info,
                                     endpoint_of=lambda n: self._client_endpoints.get(n, ""),
                                     counters=self._counters, propose_batch=self._propose_batch)
            try:
                self.client.open()
            except ClientPortError as exc:
                self.client = None
                self._refuse(f"client endpoint: {exc}")

    # ------------------------------------------------------------------ the client endpoint's calls

    def _propose(self, data: bytes, now: float) -> Any:
        """Hand a client's command to the core; its Ready joins this loop turn's group commit (and, inside
        `_serve_clients`, the batch's one Ready)."""
        core = self.core
        if not self._replicates():
            return Proposal(False, 0, 0, getattr(core, "leader", None))
        prop, out = core.propose(data, now)
        self._carry_out_proposed(out)
        return prop

    def _read_index(self, ctx: int, now: float) -> None:
        """Hand a KV get to the core's ReadIndex; the answer comes back in a Ready's `reads` (this turn or later)."""
        self._carry_out_proposed(self.core.read_index(ctx, now))  # in order with the batch's proposals

    def _propose_batch(self, datas: list[bytes], now: float) -> list[Any]:
        """Several client commands at once, in order: the built-in core's `propose_batch` (one run of entries,
        one AppendEntries per follower); any other core (a plug-in behind its contract checks) one `propose`
        each, their Readys carried out together (`_serve_clients`)."""
        core = self.core
        if type(core) is not ElectionCore:
            return [self._propose(d, now) for d in datas]
        props, out = core.propose_batch(datas, now)
        self._carry_out_proposed(out)
        return props

    def _carry_out_proposed(self, out: Any) -> None:
        """A proposal's (or a client read's ReadIndex) Ready: kept for the batch's one Ready inside
        `_serve_clients`, in the order the core made them, else carried out now."""
        if self._proposals is not None:
            self._proposals.append(out)
        else:
            self._apply(out)

    def _serve_clients(self, now: float) -> None:
        """One batch of the client endpoint's requests. The Readys of its proposals are carried out together once
        the batch is read (Embedding.apply_many: one log write, one `log_appended` record and one message list
        for the batch, instead of one of each per command); nothing else reaches the core in between, and the
        turn's group commit still makes them durable before anything that depends on them leaves."""
        assert self.client is not None
        self._proposals = []
        self.client.service(now)
        outs, self._proposals = self._proposals, None
        if outs:
            self._apply_many(outs)

    def _apply_many(self, outs: list[Any]) -> None:
        """Consecutive Readys of the core carried out as one (see Embedding.apply_many)."""
        assert self._embedder is not None
        self._embedder.apply_many(outs)
        if not self._in_turn:
            self._flush()

    def _counters(self) -> dict[str, Any]:
        """The node's counters for the client port's `stats`: messages sent per kind, log fsyncs, wakes."""
        return {"sent": dict(self.transport.sent_by_kind), "syncs": self.syncs, "wakes": self.loop_stats.wakes}

    def _client_info(self) -> tuple[int | None, int, int, int]:
        """(leader, last index, term, commit index) of this node, for the client port."""
        core, wal = self.core, self.wal
        assert wal is not None
        last = getattr(core, "last_index", wal.last_index)
        commit = getattr(core, "commit_index", wal.commit)
        return getattr(core, "leader", None), last, core.term, commit

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
        router_fd = self._router_fd = self.transport.router.getsockopt(zmq.FD)
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
        client_fd = -1
        if self.client is not None and self.client.socket is not None:
            client_fd = int(self.client.socket.getsockopt(zmq.FD))
            ep.register(client_fd, select.EPOLLIN)
        if self.transport.inbound is not None:
            self._inbound_fd = self.transport.inbound.getsockopt(zmq.FD)
            ep.register(self._inbound_fd, select.EPOLLIN)
        try:
            self._run_loop(ep, sub_fd, wake_fd, zap_fd, client_fd)
        finally:
            ep.close()

    def _run_loop(self, ep: Any, sub_fd: int, wake_fd: int, zap_fd: int, client_fd: int = -1) -> None:
        core, netem, limiter, stats, transport = self.core, self.netem, self.limiter, self.loop_stats, self.transport
        monotonic, real_seconds = self.clock.now, self.clock.real_seconds
        self._ep = ep
        self._watch_monitors()
        # Sources that may hold more than one batch (or news from before the loop): read again without sleeping.
        pending = {fd for fd in (sub_fd, zap_fd, client_fd) if fd >= 0} | {_ROUTER}
        sources = {wake_fd: _WAKE, sub_fd: sub_fd, zap_fd: zap_fd, self._inbound_fd: _INBOUND, client_fd: client_fd}
        client = self.client
        self._flush()
        self._in_turn = True
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
            if client is not None and client.next_expiry < due:  # inf unless a proposal waits there
                due = client.next_expiry
            if self._first_until is not None:
                due = min(due, now + FIRST_CHECK_S)
            if self._mesh_pending and self._mesh_next < due:
                due = self._mesh_next
            paused = self._router_paused_until
            if paused is not None:
                if now >= paused:
                    self._resume_router()
                    pending.add(_ROUTER)
                elif paused < due:
                    due = paused
            ready = ep.poll(0 if pending else real_seconds(max(0.0, due - now)))
            now = monotonic()
            stats.wakes += 1
            if ready or pending:
                pending = self._service(ready, pending, sources, now, sub_fd, zap_fd, client_fd)
            if nd is not None and nd <= now:
                self._send_delayed(now)
            self._timers(now)
            if self._deferring or self._early_out:  # (early messages of a turn with nothing to write leave too)
                self._flush()  # the turn's group commit, then everything that waited for it
            if client is not None:  # an idle turn only reads three attributes here
                if now >= client.next_expiry:
                    client.expire(now)
                if client.kv is not None and client.leading != (core.role == LEADER):
                    client.leadership(core.role == LEADER, getattr(core, "leader", None))  # (a plug-in: no leader)
                if client.replied and client.readable_after_replies():
                    pending.add(client_fd)
            limiter.flush()  # its own (real) clock: log windows are not skewed
            if transport.budgets.excess_frames:
                transport.flush_budgets(time.monotonic())
            now = monotonic()

    def _service(self, ready: list[tuple[int, int]], pending: set[int], sources: dict[int, int], now: float,
                 sub_fd: int, zap_fd: int, client_fd: int = -1) -> set[int]:
        """Read every source that signalled or still holds frames; returns the sources still holding some."""
        for fd, _ in ready:
            src = sources.get(fd, _ROUTER)
            if src == _WAKE:
                self._drain_wake()
            elif src == _INBOUND:
                self._inbound_news(now)
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
            if self._mesh_pending and msg.src not in transport.dealers and msg.src in self._mesh_pending:
                self._mesh_pending.remove(msg.src)  # e.g. a candidate: our answer needs this connection now
                self._connect_peers(only=msg.src)
            if netem.allows(msg.src, node_id):
                out = step(msg, now)
                # A Ready with nothing to carry out (a leader hearing a caught-up follower's answer) skips the
                # embedding: it would only find every field empty. Every field of the Ready must be named here
                # (tests/test_core_surface.py holds this list to Output's fields).
                if out.messages or out.persist is not None or out.events or out.entries or out.committed \
                        or out.early or out.reads:
                    self._apply(out)
            else:
                transport.log_drop(msg.src, msg.kind, "partition")
        if not transport.more:
            pending.discard(_ROUTER)
        if transport.hostile_only and self._router_paused_until is None:
            self._pause_router(now)
            pending.discard(_ROUTER)
        if client_fd in pending:  # after the peers: proposals of this turn share its group commit
            assert self.client is not None
            self._serve_clients(now)
            if not self.client.more:
                pending.discard(client_fd)
        return pending

    def _pause_router(self, now: float) -> None:
        """Stop watching the ROUTER for FLOOD_PAUSE_S (its frames wait in libzmq's queue, bounded by RCVHWM, and
        its senders are pushed back); the loop reads it again after that."""
        assert self._ep is not None
        self._ep.modify(self._router_fd, 0)
        self._router_paused_until = now + FLOOD_PAUSE_S
        self.loop_stats.flood_pauses += 1

    def _resume_router(self) -> None:
        assert self._ep is not None
        self._ep.modify(self._router_fd, select.EPOLLIN)
        self._router_paused_until = None

    def _timers(self, now: float) -> None:
        core = self.core
        if self._first_until is not None:
            self._check_first(now)
        if self._mesh_pending:
            self._mesh_step(now)
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
        if self._first_until is not None:
            return  # named at the connect step: it campaigns once connected (or at its own bound), see below
        missed = not self.transport.dealers
        if missed:
            self._connect_peers()
        if first == self.id and missed and hasattr(self.core, "campaign_now"):
            self._on_connect(first, now)  # connects only now: campaign once the connections are up
        elif first == self.id:
            self._release("first", now)
            self._apply(self.core.campaign_now(now, patience))
        elif missed:
            self._release("release", now)
        else:
            self.hold_until = now + patience

    def _on_connect(self, first: Any, now: float) -> None:
        """The barrier's first step: every node of the start is up, so connect. The node named `first`
        connects to every peer and campaigns as soon as enough peers can reach it and it them for a majority
        both ways (`connected_enough`: a first round whose requests or answers find no connection yet is lost,
        and the next comes an election timeout later), and at the latest `first_connect_bound_s` from now."""
        if type(first) is not int or first not in self.transport.endpoints or first == self.id \
                or self.hold_until is None:
            self._connect_peers()
        else:
            # Only to the first candidate for now: its election needs the N - 1 connections to and from it,
            # not the N × (N - 1) of the whole mesh, which a loaded machine takes seconds to make (101 nodes:
            # under 20 of F's were up after 3 s at load 40). The rest connect once a leader is heard (or the
            # hold ends otherwise): see _release.
            self._connect_peers(only=first)
        if first == self.id and self.hold_until is not None and self._first_until is None \
                and hasattr(self.core, "campaign_now"):
            self._first_until = now + first_connect_bound_s(len(self.core.config.members))
            self._inbound_news(now)
        elif self._first_until is None:
            self._stop_inbound()

    def _inbound_news(self, now: float) -> None:
        self.transport.inbound_handshakes()  # drains the monitor (and arms its ZMQ_FD edge again)
        if self._first_until is not None:
            self._check_first(now)

    def _check_first(self, now: float) -> None:
        assert self._first_until is not None
        peers = len(self.core.config.members) - 1
        inbound, outbound = self.transport.inbound_handshakes(), self.transport.writable_count()
        need = connected_enough(peers + 1)
        if not (inbound >= need and outbound >= need) and now < self._first_until:
            return
        self._first_until = None
        self._stop_inbound()
        if self.hold_until is not None:
            self._release("first", now, inbound=inbound, outbound=outbound)
            self._apply(self.core.campaign_now(now, first_election_patience_s(peers + 1)))

    def _stop_inbound(self) -> None:
        if self._inbound_fd >= 0 and self._ep is not None:
            self._ep.unregister(self._inbound_fd)
        self._inbound_fd = -1
        self.transport.stop_inbound()

    def _release(self, reason: str, now: float, **fields: Any) -> None:
        """End the start-up hold: from here on the election timer runs (drawn afresh unless campaigning)."""
        self.hold_until = None
        if reason == "leader" and self.transport.dealers:
            # Connected to the first candidate only (the star of the connect step): the rest of the mesh at a
            # pace, not at once. 100 followers connecting 99 peers each the moment they hear the new leader
            # starve it on a loaded machine until CheckQuorum deposes it (seen at 101 nodes, load 18).
            n = len(self.core.config.members)
            self._mesh_pending = [p for p in sorted(self.transport.endpoints)
                                  if p != self.id and p not in self.transport.dealers]
            self.rng.shuffle(self._mesh_pending)
            self._mesh_every = n / MESH_CONNECTS_PER_S
            self._mesh_next = now + self.rng.uniform(0, self._mesh_every)
        else:
            self._connect_peers()  # the rest of the mesh (only the first candidate's connection may exist yet)
        self._write("timer_released", reason=reason, held_ms=round((now - self._hold_since) * 1000), **fields)
        if reason != "first":
            self.core.restart_election_timer(now)

    def _mesh_step(self, now: float) -> None:
        """Connect the next peer of the paced mesh; all the rest at once if this node campaigns (it needs them)."""
        if self.core.role != FOLLOWER:
            pending, self._mesh_pending = self._mesh_pending, []
            for peer in pending:
                self._connect_peers(only=peer)
            return
        if now >= self._mesh_next:
            self._connect_peers(only=self._mesh_pending.pop())
            self._mesh_next = now + self._mesh_every

    def _connect_peers(self, only: int | None = None) -> bool:
        """Connect the DEALERs the start-up barrier had kept back (all, or only to `only`); True if any now."""
        if not self.transport.connect_peers(only):
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
        runtime/node/embedding.py, the same one the simulator runs). The append port is the write-ahead log; the
        apply port answers the client proposals that were committed."""
        wal = self.wal
        recovered = wal.entries(1) if wal is not None and self.core is not None and self._replicates() else None
        carry_out = self._embedder = embed(self._save_state, self._log_event, self._send, self._failpoint,
                                           append=self._append, apply=self._applied, state=state,
                                           recovered=recovered, reads=self._read_states, early=self._send_early)
        core = self.core
        if acknowledges(core):  # durability acknowledgements: from _flush, once the turn's writes are durable
            carry_out.auto_ack = False
            carry_out.persisted_port = lambda st, last: core.persisted(st, last, self.clock.now())

        def apply(out: Any) -> None:
            carry_out(out)
            if not self._in_turn:  # outside the loop's turns (start-up, tests): each Ready is its own turn
                self._flush()
        return apply

    # Group commit. The embedding calls the ports in its order for each Ready; within one loop turn the first port
    # call that needs durability (a hard state save, an append) switches the turn to deferring: the log write
    # happens at once (without fsync) and the state is kept, and every later record, send, failpoint and apply of
    # the turn is queued in order. `_flush` (end of the turn) makes it all durable with ONE log fsync and at most
    # one state file save, then carries out the queue. So nothing that depends on the turn's entries or votes
    # leaves before they are durable, however many Readys the turn had. before_persist fires at once (a crash
    # before the persist: what was queued is lost with the process, as it would be).

    def _save_state(self, state: HardState) -> None:
        self._pending_state = state
        self._deferring = True

    def _append(self, entries: Sequence[Entry], state: HardState | None, sync: bool) -> dict[str, Any] | None:
        wal = self.wal
        assert wal is not None
        fields = None
        if entries:
            try:
                wal.append(entries)
            except StorageFatalError as exc:
                self._refuse(f"storage fatal error: {exc}", EXIT_STORAGE)
            self._wal_dirty = True
            if not self._records_own_digests():
                first, last = entries[0].index, wal.last_index
                fields = {"first": first, "last": last, "terms": term_runs(e.term for e in entries),
                          "prev_digest": wal.digest_at(first - 1), "digest": wal.digest_at(last)}
        if state is not None:
            if state.commit > wal.commit:
                wal.set_commit(min(state.commit, wal.last_index))
            self._pending_state = state
        self._deferring = True
        return fields

    def _applied(self, committed: Sequence[Entry]) -> dict[str, Any] | None:
        if not committed:
            return None
        assert self.wal is not None
        first, last = committed[0].index, committed[-1].index
        fields = None if self._records_own_digests() else \
            {"first": first, "last": last, "digest": self.wal.digest_at(last)}
        if self._deferring:
            self._deferred.append((self._answer_committed, committed))
        else:
            self._answer_committed(committed)
        return fields

    def _read_states(self, states: Sequence[ReadState]) -> None:
        """The Ready's ReadIndex answers, after its applies (queued behind them while the turn defers)."""
        if self._deferring:
            self._deferred.append((self._answer_reads, states))
        else:
            self._answer_reads(states)

    def _answer_reads(self, states: Sequence[ReadState]) -> None:
        if self.client is not None:
            self.client.read_states(states)

    def _records_own_digests(self) -> bool:
        """The embedding keeps the log's digest chain and writes log_appended/entries_applied itself, ignoring
        the fields the append and apply ports return (runtime/node/embedding.py): then they need not be built."""
        return self._embedder is not None and self._embedder.chain is not None

    def _answer_committed(self, committed: Sequence[Entry]) -> None:
        if self.client is not None:
            self.client.committed(committed)

    def _flush(self) -> None:
        """End of a loop turn: one log fsync and one state save for the turn, then what waited for them."""
        early = self._early_out
        if early:  # (before the fsync: they depend on nothing it makes durable)
            self._early_out = []
            self._send_now(coalesce(early) if len(early) > 1 else early)
        if not self._deferring:
            return
        if self._wal_dirty:
            assert self.wal is not None
            try:
                self.wal.sync()
            except StorageFatalError as exc:
                self._refuse(f"storage fatal error: {exc}", EXIT_STORAGE)
            self._wal_dirty = False
            self.syncs += 1
        state, saved = self._pending_state, self._saved_state
        commit_only = None
        if state is not None and state != saved:
            # Term or vote changed: durable now (before anything of this turn leaves). The commit index alone
            # needs no fsync (a lost commit index is learnt again): it is saved with the next term/vote change,
            # at most once a second otherwise (after this turn's sends and applies: a state save is several
            # fsyncs, and nothing waits for it), and at a clean stop.
            if hard_state_changed(saved, state):
                self._save_hard_state(state)
            elif time.monotonic() - self._state_saved_at >= COMMIT_SAVE_INTERVAL_S:
                commit_only = state
        self._deferring = False
        queue, self._deferred = self._deferred, []
        queue = self._batch_sends(queue)
        for item in queue:
            item[0](*item[1:])
        if commit_only is not None and self._saved_state != commit_only:
            self._save_hard_state(commit_only)
        emb = self._embedder
        if getattr(emb, "persisted_port", None) is not None:
            emb.acknowledge()  # type: ignore[union-attr]  # the turn's writes are durable: tell the core (its answer may write again)
            if self._deferring or self._early_out:
                self._flush()

    def _save_hard_state(self, state: HardState) -> None:
        try:
            self.state_file.save(state)
        except StorageFatalError as exc:
            self._refuse(f"storage fatal error: {exc}", EXIT_STORAGE)
        self._saved_state, self._state_saved_at = state, time.monotonic()

    def _batch_sends(self, queue: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """The turn's sends as one send at the place of its last (AppendEntries to one follower coalesced, see
        runtime/node/coalesce.py), when there is more than one message and no failpoint waits among them (records
        may then precede messages of Readys before them: they are written after the group commit either way). One
        send of several messages is coalesced too (a batch of client proposals carried out as one Ready)."""
        sends = [i for i, item in enumerate(queue) if item[0] == self._send_now]
        if not sends or (len(sends) == 1 and len(queue[sends[0]][1]) < 2) \
                or any(item[0] == self._hit for item in queue):
            return queue
        messages = coalesce([m for i in sends for m in queue[i][1]])
        last, skip = sends[-1], set(sends)
        return [(self._send_now, messages) if i == last else item for i, item in enumerate(queue)
                if i == last or i not in skip]

    def _log_event(self, event: str, *, term: int, **fields: Any) -> Any:
        if self._deferring:
            self._deferred.append((self._write_deferred, event, term, fields))
            return None
        return self.log.write(event, term=term, **fields)  # self.log exists once _open_log ran

    def _write_deferred(self, event: str, term: int, fields: dict[str, Any]) -> None:
        self.log.write(event, term=term, **fields)

    def _send(self, messages: list[Message]) -> None:
        if self._deferring:
            self._deferred.append((self._send_now, messages))
        else:
            self._send_now(messages)

    def _send_early(self, messages: list[Message]) -> None:
        # Output.early: in a turn, gathered and sent (coalesced, as the turn's other sends) at its _flush before
        # the fsync; outside turns at once, even when the sends already wait for a group commit.
        if self._in_turn:
            self._early_out.extend(messages)
        else:
            (self._send_now if self._deferring else self._send)(messages)

    def _send_now(self, messages: list[Message]) -> None:
        now = self.clock.now()
        netem, transport = self.netem, self.transport
        for msg in messages:
            verdict, reason = netem.route(msg, now)
            if verdict == SEND:
                transport.send(msg)
            elif verdict == DROP:
                transport.log_drop(msg.dst, msg.kind, reason)

    def _failpoint(self, name: str) -> None:
        if name not in self.failpoints.armed:
            return  # (what hit() would conclude; armed ones wait in the queue like the sends around them)
        if self._deferring and name != "before_persist":
            self._deferred.append((self._hit, name))
        else:
            self._hit(name)

    def _hit(self, name: str) -> None:
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
            self._on_connect(doc.get("first"), self.clock.now())  # every node of the start is up
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
        self._in_turn = False
        self._flush()
        state = self._pending_state
        if state is not None and state != self._saved_state:  # a commit index not saved yet
            try:
                self.state_file.save(state)
            except StorageFatalError:
                pass  # only the commit index: learnt again from the leader
        self.transport.flush_budgets(time.monotonic(), force=True)
        self.limiter.flush_all()
        self._write("loop_stats", **self.loop_stats.summary(), syncs=self.syncs,
                    **({"client": dict(self.client.stats)} if self.client is not None else {}))
        self._write("node_stopping", reason=self.stop_reason or "unknown")
        self._close_sockets()
        return EXIT_OK

    def _close_sockets(self) -> None:
        try:
            signal.set_wakeup_fd(-1)
        except ValueError:
            pass
        if self.client is not None:
            self.client.close()
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
        if self.wal is not None:
            self.wal.close()


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
