"""`sim --workload`: simulated KV clients against simulated nodes, a Jepsen-style history per seed, and its verdict.

Every node incarnation runs a `KVService` (protocol/kvservice.py, the live node's) over a fresh `KVStore`: the
simulator's apply port hands it each Ready's committed entries in log order (a restarted node replays its log from
index 1, as the live node does), and its answers go back to the clients. The clients are those of
raftzmq/client.py written as event handlers on the simulator's virtual clock (that client blocks in ZeroMQ polls
and sleeps; this one schedules): one operation at a time per process, writes under a session registered through
the log and a fresh seq per operation, a resend reusing (session, seq) after `retry`, an attempt with no answer
within `attempt_timeout`, or `not_leader` with no leader named (next node, after a backoff with full jitter); a
named leader is tried at once. Past the operation's deadline the outcome is indefinite: an `info`. Requests and
answers are the real wire frames (protocol/kvwire.py).

Arrivals: open loop (`rate` > 0) is `raftzmq workload`'s schedule (lab/live/workload.generate: Poisson at `rate`
over the run, round-robin over the processes, a busy process's next operation waits); closed loop (`rate` 0)
gives each process its next operation as soon as the last completes, drawn from the same mix.

The network between clients and nodes: the simulated network's current delay, jitter, distribution, loss and
duplication (so faults reach clients too, and a duplicated write shows that sessions apply it once), drawn from
the workload's own random stream; partitions cut node-to-node links only (the clients sit beside the cluster, as
Jepsen's do). A request to a crashed node is lost; to a paused node it waits in the socket until the node resumes;
to a node blocked in an fsync, until that returns.

The history is written by the live workload's `Recorder` (the same lines, byte for byte: `time` is virtual ns from
the run's start) and checked with evidence/lincheck.py when the run ends. Everything random comes from
`random.Random` streams derived from the seed, so a seed gives a byte-identical history.

Mutant (tests, `--kv-mutant stale-reads`): `StaleReads` answers every get at once from the node's local store,
leader or not - the bug of serving reads without ReadIndex or the log. The checker must reject its histories.
"""
from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from raftzmq.evidence.history import parse_history
from raftzmq.evidence.lincheck import DEFAULT_MAX_STATES, LINEARIZABLE, check_history, render_text
from raftzmq.lab.kv.schedule import MAX_CLIENTS, Op, OpMaker, Recorder, generate
from raftzmq.protocol.kvservice import KVService
from raftzmq.protocol.kvstore import Command, KVStore, WRITE_OPS
from raftzmq.protocol.kvwire import Request, Response, WireError, decode_frames, decode_response, encode_request
from raftzmq.protocol.kvwire import encode_response
from raftzmq.protocol.messages import Entry
from raftzmq.runtime.cores.coreload import CoreContractError

__all__ = ["WorkloadConfig", "SimKV", "StaleReads", "KV_MUTANTS", "MAX_OPS"]

MAX_OPS = 200_000  # operations per seed (closed loop): a bound on memory and on the checker's work


class StaleReads(KVService):
    """A broken node: answers a get at once from its own store, whatever its role (no ReadIndex, no log entry)."""

    def handle(self, routing: bytes, frames: list[bytes], now_ns: int, propose: Any,
               read_index: Any = None, leader: int | None = None) -> list[tuple[bytes, bytes]]:
        try:
            req = decode_frames(frames)
        except WireError:
            return super().handle(routing, frames, now_ns, propose, read_index, leader)
        if req.command.op == "get":
            self.stats["requests"] += 1
            self.stats["answered"] += 1
            return [(routing, encode_response(Response(req.request_id, "ok", self.store.read(req.command.key))))]
        return super().handle(routing, frames, now_ns, propose, read_index, leader)


KV_MUTANTS: dict[str, type[KVService]] = {"stale-reads": StaleReads}


@dataclass(frozen=True, slots=True)
class WorkloadConfig:
    """The simulated clients (`raftzmq sim --workload`); defaults as `raftzmq workload` and raftzmq.client."""

    clients: int = 8
    keys: int = 8
    rate: float = 50.0  # operations per simulated second, all clients together; 0: closed loop
    timeout: float = 5.0  # an operation's deadline (s): past it, `info`
    attempt_timeout: float = 0.5
    backoff: float = 0.01
    max_backoff: float = 0.25
    budget_s: float = 60.0  # the checker's time budget per seed
    max_states: int = DEFAULT_MAX_STATES  # and its bound on explored states per key (exhausted: unknown)
    mutant: str | None = None  # a key of KV_MUTANTS (tests and demonstrations)

    def __post_init__(self) -> None:
        if not 1 <= self.clients <= MAX_CLIENTS:
            raise ValueError(f"clients must be 1..{MAX_CLIENTS}")
        if self.keys < 1:
            raise ValueError("keys must be >= 1")
        if not 0 <= self.rate <= 100_000:
            raise ValueError("rate must be in [0, 100000] per simulated second (0: closed loop)")
        if not (self.timeout > 0 and self.attempt_timeout > 0 and 0 <= self.backoff <= self.max_backoff):
            raise ValueError("timeout and attempt timeout must be > 0, 0 <= backoff <= max backoff")
        if not self.budget_s > 0 or self.max_states < 1:
            raise ValueError("budget must be > 0 and max states >= 1")
        if self.mutant is not None and self.mutant not in KV_MUTANTS:
            raise ValueError(f"unknown KV mutant {self.mutant!r} (mutants: {', '.join(KV_MUTANTS)})")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"clients": self.clients, "keys": self.keys, "rate": self.rate, "timeout": self.timeout,
                             "budget_s": self.budget_s}
        if self.mutant:
            d["mutant"] = self.mutant
        return d


class _Client:
    """One process: the raftzmq.client.Client's `execute` as states (see the module docstring)."""

    __slots__ = ("p", "rng", "target", "session", "seq", "rid", "op", "cmd", "body_cmd", "deadline", "attempts",
                 "sent_any", "delay", "hops", "registering", "fresh", "queue")

    def __init__(self, p: int, rng: random.Random, target: int) -> None:
        self.p, self.rng, self.target = p, rng, target
        self.session = self.seq = 0
        self.rid = rng.getrandbits(48) + 1
        self.op: Op | None = None
        self.cmd: Command | None = None  # the command this attempt sends (register, or the operation's)
        self.body_cmd: Command | None = None  # the operation's command (before the session is known)
        self.deadline = 0.0
        self.attempts = 0
        self.sent_any = False
        self.delay = 0.0
        self.hops = 0
        self.registering = False
        self.fresh = True
        self.queue: list[tuple[int, Op]] = []  # open loop: (time ns, op), latest first


class SimKV:
    """The workload inside one Simulator run. The simulator calls: `start()` once its nodes run, `apply_port(node)`
    for each incarnation's embedding, `stepped_down(node)`, `resumed(node)`, and `finish()` at the end."""

    def __init__(self, sim: Any, cfg: WorkloadConfig) -> None:
        self.sim, self.cfg = sim, cfg
        self.rng = sim.rng_for("kv-net")  # client <-> node delays, loss, duplication
        self.n = sim.n
        self.services: dict[int, tuple[int, KVService]] = {}  # node id -> (incarnation, service)
        self.stash: dict[int, list[tuple[int, bytes, bytes]]] = {}  # paused node -> (gen, routing, frame)
        self.out = io.StringIO()
        self.recorder = Recorder(self.out, clock=lambda: self.now_ns())
        self.clients = [_Client(p, sim.rng_for(f"kv-client/{p}"), p % self.n + 1) for p in range(cfg.clients)]
        self.service_cls = KV_MUTANTS[cfg.mutant] if cfg.mutant else KVService
        self.closed_ops = OpMaker(sim.rng_for("kv-ops"), cfg.keys) if cfg.rate == 0 else None
        self.issued = 0
        self.attempts = Counter[str]()
        self._net: Any = None
        self._sample: Callable[[], float] = lambda: 0.0

    def now_ns(self) -> int:
        return round(self.sim.now * 1e9)

    # ------------------------------------------------------------------ the simulator's hooks

    def start(self) -> None:
        cfg, sim = self.cfg, self.sim
        if getattr(sim.nodes[1].core, "propose", None) is None:
            raise CoreContractError(f"core {sim.cfg.core!r} is election-only (contract v1): --workload needs a core "
                                    "that replicates (contract v2, propose)")
        if cfg.rate > 0:
            seed = random.Random(f"{sim.seed}/kv-schedule").getrandbits(63)
            for t, p, op in generate(seed, cfg.clients, cfg.keys, cfg.rate, sim.cfg.duration):
                self.clients[p].queue.append((t, op))
            for c in self.clients:
                c.queue.reverse()
                if c.queue:
                    sim.call_at(c.queue[-1][0] / 1e9, self._next_op, c)
        else:
            for c in self.clients:
                sim.call_at(0.0, self._next_op, c)

    def apply_port(self, node: Any) -> Callable[[Sequence[Entry]], None]:
        """A fresh service and store for this incarnation; the port the embedding hands committed entries to."""
        inc = node.inc
        svc = self.service_cls(KVStore())
        self.services[node.id] = (inc, svc)

        def apply(committed: Sequence[Entry]) -> None:
            self._send_replies(node.id, svc.apply(committed))
        return apply

    def stepped_down(self, node: Any) -> None:
        got = self.services.get(node.id)
        if got is not None and got[0] == node.inc and node.up:
            core = node.core
            self._send_replies(node.id, got[1].step_down(getattr(core, "leader", None)))

    def resumed(self, node: Any) -> None:
        waiting = self.stash.pop(node.id, [])
        for gen, routing, frame in waiting:
            if gen == node.gen:
                self._deliver_request(node, routing, frame)

    def finish(self, keep_history: bool = True) -> dict[str, Any]:
        """The history's verdict and counts (what SimResult.workload holds), and the history itself when
        `keep_history` or when it is not linearizable (a run that keeps no records carries no history text)."""
        self.recorder.close()
        text = self.out.getvalue()
        rec = self.recorder
        counts = dict(rec.counts)
        counts["open"] = counts["invoke"] - counts["ok"] - counts["fail"] - counts["info"]
        result: dict[str, Any] = {"counts": counts, "attempts": dict(sorted(self.attempts.items())),
                                  "latency_ns": sorted(rec.latencies_ns)}
        if counts["invoke"] == 0:
            result.update(verdict=LINEARIZABLE, check=None, report="no operations", history=text if keep_history else None)
            return result
        lin = check_history(parse_history(text.splitlines(), "history.jsonl"), "kv", budget_s=self.cfg.budget_s,
                            max_states=self.cfg.max_states)
        bad = lin.verdict != LINEARIZABLE
        result.update(verdict=lin.verdict, check=lin.to_dict(), history=text if keep_history or bad else None,
                      report=render_text(lin) if bad else "")
        return result

    # ------------------------------------------------------------------ the network between clients and nodes

    def _delay(self) -> float:
        net = self.sim.net
        if net is not self._net:
            self._net, self._sample = net, net.sampler(self.rng)
        return float(self._sample())

    def _copies(self) -> int:
        """How many copies of one client message arrive (0: lost, 2: duplicated), by the current network."""
        net = self.sim.net
        if not net.loss and not net.dup:
            return 1
        r = self.rng.random()
        copies = 0 if r < net.loss else 2 if r < net.loss + net.dup else 1
        if copies != 1:
            self.attempts["lost" if copies == 0 else "duplicated"] += 1
        return copies

    def _to_node(self, node_id: int, routing: bytes, frame: bytes) -> None:
        sim = self.sim
        for _ in range(self._copies()):
            sim.call_at(sim.now + self._delay(), self._arrive, sim.nodes[node_id], routing, frame)

    def _send_replies(self, node_id: int, replies: list[tuple[bytes, bytes]]) -> None:
        sim = self.sim
        for routing, frame in replies:
            c = self.clients[int.from_bytes(routing, "big")]
            for _ in range(self._copies()):
                sim.call_at(sim.now + self._delay(), self._answer, c, frame)

    # ------------------------------------------------------------------ the node side

    def _arrive(self, node: Any, routing: bytes, frame: bytes) -> None:
        if not node.up:
            return  # nobody listens: the client's attempt times out
        if node.paused:
            self.attempts["waited_in_pause"] += 1
            self.stash.setdefault(node.id, []).append((node.gen, routing, frame))
            return
        if self.sim.now < node.busy_until:
            self.attempts["waited_for_fsync"] += 1
            self.sim.call_at(node.busy_until, self._arrive, node, routing, frame)
            return
        self._deliver_request(node, routing, frame)

    def _deliver_request(self, node: Any, routing: bytes, frame: bytes) -> None:
        sim, core = self.sim, node.core
        got = self.services.get(node.id)
        if core is None or got is None or got[0] != node.inc:
            return
        svc = got[1]
        propose = core.propose  # (start() refused an election-only core)
        outs: list[Any] = []
        now = sim.now

        def proposer(data: bytes) -> Any:
            proposal, out = propose(data, now)
            outs.append(out)
            return proposal

        replies = svc.handle(routing, [frame], self.now_ns(), proposer, leader=getattr(core, "leader", None))
        self._send_replies(node.id, replies)  # answered at once, as the live node does; the Readys follow
        gen = node.gen
        for out in outs:
            if node.gen != gen or not node.up:
                break  # crashed inside the group commit: the rest of the Readys never happen
            sim._apply(node, out)  # the simulator's one embedding call (a crash inside it is handled there)

    # ------------------------------------------------------------------ the client side

    def _next_op(self, c: _Client) -> None:
        if c.op is not None:
            return
        sim, cfg = self.sim, self.cfg
        if self.closed_ops is not None:
            if self.issued >= MAX_OPS:
                return
            op = self.closed_ops.next()
        else:
            if not c.queue or c.queue[-1][0] > self.now_ns():
                return
            op = c.queue.pop()[1]
        self.issued += 1
        self.recorder.invoke(c.p, op, at=self.now_ns())
        c.op = op
        c.deadline = sim.now + cfg.timeout
        c.attempts, c.sent_any, c.delay, c.hops = 0, False, cfg.backoff, 0
        c.fresh = True
        if op.f == "cas":
            cmd = Command("cas", op.key, op.value[0], op.value[1])
        else:
            cmd = Command(op.f, op.key, op.value)
        c.body_cmd = cmd
        if cmd.op in WRITE_OPS and not c.session:
            c.registering, c.cmd = True, Command("register")
        else:
            self._with_session(c)
        self._attempt(c)

    def _with_session(self, c: _Client) -> None:
        cmd = c.body_cmd
        assert cmd is not None
        c.registering = False
        if cmd.op in WRITE_OPS:
            c.seq += 1
            c.cmd = Command(cmd.op, cmd.key, cmd.value, cmd.new, c.session, c.seq)
        else:
            c.cmd = Command(cmd.op, cmd.key)

    def _attempt(self, c: _Client) -> None:
        sim = self.sim
        if sim.now >= c.deadline:
            self._complete(c, "info")
            return
        assert c.cmd is not None
        c.attempts += 1
        c.rid += 1
        self.attempts["attempts"] += 1
        frame = encode_request(Request(c.rid, c.cmd))
        self._to_node(c.target, c.p.to_bytes(2, "big"), frame)
        sim.call_at(min(c.deadline, sim.now + self.cfg.attempt_timeout), self._attempt_timeout, c, c.rid)

    def _attempt_timeout(self, c: _Client, rid: int) -> None:
        if c.op is None or c.rid != rid:
            return  # answered (or a later attempt is running)
        self.attempts["timeouts"] += 1
        c.sent_any = True
        self._rotate(c)
        self._attempt(c)

    def _rotate(self, c: _Client) -> None:
        c.target = c.target % self.n + 1

    def _answer(self, c: _Client, frame: bytes) -> None:
        try:
            resp = decode_response(frame)
        except WireError:
            return
        if c.op is None or resp.request_id != c.rid:
            return  # an answer to an earlier attempt (or a duplicate): the live client dropped that socket
        c.rid += 1  # this attempt is over: its timeout and any duplicate answer are now stale
        status = resp.status
        if status == "ok":
            if c.registering:
                if not isinstance(resp.value, int) or isinstance(resp.value, bool) or resp.value <= 0:
                    self._complete(c, "info")
                    return
                c.session, c.seq = resp.value, 0
                self._with_session(c)
                self._attempt(c)
                return
            self._complete(c, "ok", resp.value if c.cmd is not None and c.cmd.op == "get" else None)
            return
        if status in ("fail", "bad_request"):
            self._complete(c, "fail")
            return
        if status == "not_leader":
            self.attempts["redirects"] += 1
            if resp.leader and resp.leader != c.target and 1 <= resp.leader <= self.n:
                c.target = resp.leader
                c.hops += 1
                if c.hops <= self.n:
                    self._attempt(c)
                    return
            else:
                self._rotate(c)
        elif status == "session_expired" and not c.registering and c.cmd is not None and c.cmd.client:
            if c.fresh and not c.sent_any:
                c.session = 0
                c.registering, c.cmd = True, Command("register")
                self._attempt(c)
                return
            c.session = 0
            self._complete(c, "info")
            return
        elif status == "stale":
            self._complete(c, "info")
            return
        else:  # retry: unknown outcome; back off and resend the same (session, seq)
            self.attempts["retries"] += 1
            c.sent_any = True
        c.hops = 0
        wait = c.rng.uniform(0, min(c.delay, max(0.0, c.deadline - self.sim.now)))
        c.delay = min(self.cfg.max_backoff, max(c.delay * 2, 0.001))
        self.sim.call_at(self.sim.now + wait, self._resend, c, c.rid)

    def _resend(self, c: _Client, rid: int) -> None:
        if c.op is not None and c.rid == rid:
            self._attempt(c)

    def _complete(self, c: _Client, kind: str, value: Any = None) -> None:
        self.recorder.complete(c.p, kind, value, at=self.now_ns())
        c.op, c.cmd, c.body_cmd = None, None, None
        c.rid += 1
        c.registering = False
        sim = self.sim
        if self.closed_ops is not None:
            if sim.now < sim.cfg.duration:
                sim.call_at(sim.now, self._next_op, c)
        elif c.queue:
            sim.call_at(max(sim.now, c.queue[-1][0] / 1e9), self._next_op, c)
