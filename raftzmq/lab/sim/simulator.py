"""Seeded, single-threaded simulation of N election cores on a virtual clock.

Everything random comes from `random.Random` instances derived from the seed, one per concern (network, when
faults strike, which fault and its parameters, disk writeback, vote-crashes, each core incarnation), so a run
replays exactly from its seed, and the fault clock is the same for every set of fault kinds: turning a kind on or
off changes what strikes, never when (tests/test_simulator.py checks every injection time). Time is a float of
simulated seconds; events sit in a heapq ordered by (time, insertion number), so nothing depends on hash order or
wall time.

Each node applies a core Output through the live node's own embedding (runtime/node/embedding.py) with simulated
ports: a SimDisk for saves, in-memory records for the log, the event heap for sends. With `--disk async` the ports
come from lab/sim/asyncdisk.py instead: writes complete later while the node goes on, and a core with `persisted`
is told when they do (the default disks never call it, so their runs are unchanged).
Records go to in-memory lists with the live schema (node-<id>.jsonl, supervisor.jsonl) and are fed to the
evidence Checker as they are written; `write_logs` dumps them for `raftzmq check`.

With a workload (`sim --workload`, lab/sim/simkv.py) each node incarnation also runs the KV service over what it
applies, and simulated clients talk to it; the hooks here are few: its apply port, step-down, resume, start, end.

Connection-close events (disconnect hints): a crash closes the crashed node's connections, and each other node's
transport notices after HINT_DELAY (the kernel closes a dead process's sockets at once; a pause or a partition
closes nothing, so neither produces one). Modelled only with hints on, so runs with hints off replay as before.
"""
from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from raftzmq.evidence.checker import Checker, Violation
from raftzmq.evidence.logfile import LogWriter
from raftzmq.protocol.core import LEADER, HardState, Output
from raftzmq.protocol.messages import Entry
from raftzmq.protocol.surface import HintedCore
from raftzmq.protocol.netmodel import NetModel
from raftzmq.protocol.quorum import majority
from raftzmq.runtime.cores.coreload import load_core
from raftzmq.protocol.units import ms_to_s
from raftzmq.runtime.node.embedding import Apply, Embedding, LogPort, SavePort, SendPort, embed

from raftzmq.lab.sim import faults as F
from raftzmq.lab.sim.simdisk import SimDisk
from raftzmq.lab.sim.simkv import SimKV
from raftzmq.lab.sim.asyncdisk import AsyncDisk
from raftzmq.evidence.recordline import format_record
from raftzmq.lab.sim.simtypes import SimConfig, SimResult, write_logs

__all__ = ["SimConfig", "SimResult", "Simulator", "run_seed", "write_logs", "format_record", "TRACE_LEN"]

TRACE_LEN = 30  # records shown before a violation
_DELIVER, _TICK, _CALL = 0, 1, 2  # heap entry kinds
_INF = float("inf")
_FAKE_PID = 0  # simulated nodes have no process; the schema wants an int
HINT_DELAY = (0.0001, 0.002)
APPEND_CRASH = 0.01  # with proposals and crash faults: chance that a node crashes inside a group commit's fsync


class _CrashedInAppend(Exception):
    """The node crashed inside its append port: the rest of that Ready never happens."""  # seconds from a crash to a survivor's monitor event (loopback: well under 1 ms)


def _down(out: Output) -> None:
    raise AssertionError("a crashed node's core produced output")


class _Node:
    __slots__ = ("id", "core", "up", "paused", "inbox", "hints", "gen", "timer_at", "inc", "apply", "busy_until")

    def __init__(self, nid: int) -> None:
        self.id = nid
        self.core: HintedCore | None = None  # the built-in core, or a plug-in behind CheckedCore
        self.up = False
        self.paused = False
        self.inbox: list = []  # messages that arrived while paused
        self.hints: list[int] = []  # peers whose connection closed while this node was paused
        self.gen = 0  # bumped on crash: stale timers and fault callbacks check it
        self.timer_at = float("inf")  # time of the live tick entry in the heap
        self.inc = 0
        self.apply: Apply = _down  # the embedding of the current incarnation's core
        self.busy_until = 0.0  # a live node blocks in fsync: nothing else happens to it until then


def _no_state_machine(committed: Sequence[Entry]) -> None:
    """Without --workload nothing applies the committed entries (the embedding still logs entries_applied)."""


class Simulator:
    def __init__(self, config: SimConfig, seed: int, make_core=None) -> None:
        self.cfg, self.seed = config, seed
        # the built-in ElectionCore, or a plug-in behind its contract checks; conform passes an observing factory.
        self.make_core = make_core if make_core is not None else load_core(config.core)
        n = config.nodes
        self.n, self.quorum = n, majority(n)
        rng = lambda concern: random.Random(f"{seed}/{concern}")  # str seeds hash with sha512: stable
        self.net_rng, self.fault_rng, self.vote_rng = rng("net"), rng("faults"), rng("vote-crash")
        self.fault_clock = rng("fault-clock")  # only the gaps between injections: independent of the fault kinds
        self.hint_rng = rng("hints")
        # replication (only with proposals or --workload, so election-only runs draw exactly what they always drew)
        self.replicating = config.proposals > 0 or config.workload is not None
        self.client_rng, self.torn_rng = rng("client"), rng("torn")
        self.client_queue: deque[bytes] = deque()  # commands not accepted by a leader yet, oldest first
        self.client_retry = False  # a retry of the queue is scheduled
        self.proposed = self.accepted = self.rejected = 0
        self.commit_max = 0
        self.tails_cut = 0
        self.rng_for = rng
        self.disk = SimDisk(config.disk, rng("disk"))
        # --disk async: writes complete while the node goes on (lab/sim/asyncdisk.py); None: synchronous
        self.async_disk = (AsyncDisk(self, config.persist_ms, rng("async-disk"), rng("async-crash"))
                           if config.disk == "async" else None)
        self.base_net = F.NetParams(
            NetModel(delay_ms=config.delay_ms, jitter_ms=config.jitter_ms,
                     loss=0.01 if "loss" in config.faults else 0.0),
            0.01 if "dup" in config.faults else 0.0, config.delay_dist)
        self._set_net(self.base_net)
        self._last_partition = self._last_net = 0  # which fault a heal/restore timer belongs to
        self.nodes = [_Node(i) for i in range(n + 1)]  # index 0 unused
        self.heap: list[tuple] = []
        self.seq = 0
        self.now = 0.0
        self._stamped_at, self._ts, self._mono_ns = 0.0, 0.0, 0  # the clock's last stamp (see time())
        # evidence
        self.files: dict[str, list[dict[str, Any]]] = {"supervisor.jsonl": []}
        for i in range(1, n + 1):
            self.files[f"node-{i}.jsonl"] = []
        self.lines: dict[str, int] = {}
        self.trace: deque[dict[str, Any]] = deque(maxlen=TRACE_LEN)
        self.frozen_trace: list[dict[str, Any]] | None = None
        self.checker = Checker(n)
        self.violations_seen = 0
        self.inline_leaders: dict[int, int] = {}
        self.inline_violations: list[Violation] = []
        self.sup = LogWriter(None, by="supervisor", node=0, clock=self, validate=False,
                             sink=self._sink("supervisor.jsonl"))
        # metrics
        self.elections = self.leaders = self.max_term = self.messages = self.faults_injected = 0
        self.has_leader, self.leaderless, self.leaderless_since = False, 0.0, 0.0
        self.failovers: list[float] = []
        self.loss: tuple[float, int, int] | None = None  # (since, lost leader, its term)
        self.down = 0  # crashed or paused nodes
        self._max_down = max(1, (n - 1) // 2)  # a minority (but tiny clusters still get faults)
        # the events the run's metrics follow, and who follows them (see _sink)
        self._watched = {"became_leader": self._on_leader, "became_candidate": self._on_candidate,
                         "stepped_down": self._on_stepped_down, "vote_granted": self._on_vote}
        self.kv = SimKV(self, config.workload) if config.workload is not None else None  # sim --workload

    # ------------------------------------------------------------------ records

    # The simulator is the LogWriter clock: ts and mono_ns both count simulated time from 0. Both are computed
    # once per simulated instant (an Output's records share one; round(x, 9) costs more than the call).
    def time(self) -> float:
        if self.now != self._stamped_at:
            self._stamp()
        return self._ts

    def monotonic_ns(self) -> int:
        if self.now != self._stamped_at:
            self._stamp()
        return self._mono_ns

    def _stamp(self) -> None:
        now = self._stamped_at = self.now
        self._ts, self._mono_ns = round(now, 9), round(now * 1e9)

    def _sink(self, name: str, node: _Node | None = None) -> Callable[[dict[str, Any]], None]:
        """Where a file's records go: the kept records, the trace, the checker, and (for a node's records) the
        run's metrics, which follow a few events (see _watched)."""
        records, trace, feed = self.files[name], self.trace, self.checker.feed
        keep = self.cfg.record_logs
        watched = self._watched.get if node is not None else None

        lines = self.lines  # per file, shared by the writers of every incarnation

        def sink(rec: dict[str, Any]) -> None:
            line = lines[name] = lines.get(name, 0) + 1
            if keep:
                records.append(rec)
            trace.append(rec)
            feed(rec, f"{name}:{line}")
            if len(self.checker.violations) != self.violations_seen:
                self.violations_seen = len(self.checker.violations)
                self._freeze_trace()
            if watched is not None and node is not None:
                on_event = watched(rec["event"])
                if on_event is not None:
                    on_event(node, rec["term"], rec)
        return sink

    def _freeze_trace(self) -> None:
        if self.frozen_trace is None:
            self.frozen_trace = list(self.trace)

    # ------------------------------------------------------------------ scheduling

    def _push(self, t: float, kind: int, a: Any, b: Any = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, a, b))

    def _call_at(self, t: float, fn, *args) -> None:
        self._push(t, _CALL, fn, args)

    def _set_net(self, params: F.NetParams) -> None:
        self.net = params
        self.links = params.model.link_matrix(self.n)  # links[src][dst]: the hot path's lookup
        self.sample_delay = params.sampler(self.net_rng)
        self.uniform_delay = params.uniform_span()  # _send_all draws these itself (same draws as sample_delay)
        self.net_loss, self.net_lossdup = params.loss, params.loss + params.dup

    def set_net_model(self, model: NetModel) -> None:
        """Partitions, cuts, loss, delay and jitter as on live nodes; duplication and distribution stay."""
        self._set_net(replace(self.net, model=model))

    # ------------------------------------------------------------------ node lifecycle

    def _start(self, node: _Node) -> None:
        node.inc += 1
        node.up, node.paused, node.inbox, node.hints = True, False, [], []
        node.busy_until = 0.0
        state = self.disk.load(node.id)
        self.sup.write("node_spawned", node=node.id, pid=_FAKE_PID, incarnation=node.inc)
        name = f"node-{node.id}.jsonl"
        log = LogWriter(None, by="node", node=node.id, incarnation=node.inc, clock=self, validate=False,
                        sink=self._sink(name, node))
        log.write("node_started", term=state.term, voted_for=state.voted_for, persist_mode=self.cfg.persist_mode)
        entries: list[Entry] = []
        if self.replicating:
            loaded = self.disk.load_log(node.id)  # what the WAL recovers (a torn tail cut, as WriteAheadLog.open)
            entries = loaded.entries
            if loaded.tail_cut is not None:
                self.tails_cut += 1
                log.write("log_tail_cut", term=state.term, file=f"node-{node.id}.wal", offset=loaded.tail_cut[0],
                          bytes=loaded.tail_cut[1])
        if self.replicating:
            emb = self._embedding(node, log, state, recovered=entries)
            emb.log_loaded()
        else:
            emb = self._embedding(node, log, state)
        # (the bound method: a call through the instance costs a lookup per Ready on the hot path)
        node.apply = emb.__call__ if isinstance(emb, Embedding) else emb
        rng = self.rng_for(f"core/{node.id}/{node.inc}")
        if entries:  # contract v2: the recovered log (v1 cores never have one: they never write entries)
            core = self.make_core(self.cfg.core_config(node.id), state, self.now, rng,
                                  log=entries)  # type: ignore[call-arg]
        else:
            core = self.make_core(self.cfg.core_config(node.id), state, self.now, rng)
        node.core = core
        if self.async_disk is not None:
            self.async_disk.attach(node, emb, core)  # asynchronous for a core with `persisted`, else blocking
        node.timer_at = float("inf")
        self._arm(node, core.deadline)

    def _arm(self, node: _Node, deadline: float) -> None:
        # One live tick entry per node; it only moves earlier here. A later deadline is found when it fires.
        if deadline < node.timer_at:
            node.timer_at = deadline
            self.seq += 1
            heapq.heappush(self.heap, (deadline, self.seq, _TICK, node, node.gen))

    def _apply(self, node: _Node, out: Output) -> None:
        """The one embedding (runtime/node/embedding.py, as in the live node), then re-arm the node's timer."""
        try:
            node.apply(out)
        except _CrashedInAppend:
            return
        if out.deadline < node.timer_at:
            self._arm(node, out.deadline)

    # ------------------------------------------------------------------ the embedding's ports

    def _embedding(self, node: _Node, log: LogWriter, state: HardState | None = None,
                   recovered: list[Entry] | None = None) -> Embedding:
        # Entries go to the SimDisk's log; no state machine (the default apply port), but the embedding still
        # logs entries_applied, so the checker sees what would be applied. Replicating (recovered given): the
        # embedding writes the replication records with its digest chain.
        # sim --workload: each incarnation's KV service applies what commits
        apply = self.kv.apply_port(node) if self.kv is not None else _no_state_machine
        if self.async_disk is not None:
            p = self.async_disk.ports(node, log)
            return embed(p["save"], p["log"], p["send"], append=p["append"], early=p["early"], apply=apply,
                         state=state, recovered=recovered)
        return embed(*self._ports(node, log), append=partial(self._append, node), apply=apply, state=state,
                     recovered=recovered)

    def _ports(self, node: _Node, log: LogWriter) -> tuple[SavePort, LogPort, SendPort]:
        """save, log and send of one node incarnation (no failpoints: the simulator crashes nodes itself)."""
        send = self._send_all if not self.cfg.persist_ms else partial(self._send_after_persist, node)
        return partial(self._save, node), log.write, send

    def _save(self, node: _Node, state: HardState) -> None:
        node.busy_until = self.now + ms_to_s(self.cfg.persist_ms)
        sync_at = self.disk.write(node.id, state, self.now)
        if sync_at is not None:
            self._call_at(sync_at, self._sync, node, node.gen)

    def _append(self, node: _Node, entries: Sequence[Entry], state: HardState | None,
                sync: bool) -> dict[str, Any] | None:
        """The group commit of a Ready with entries (or with a hard state that only moved its commit index): the
        log write and the hard state share one persist time and one writeback (the log first: the hard state's
        commit never covers entries that are not written). The embedding writes `log_appended` itself."""
        if (entries and self.replicating and "crash" in self.cfg.faults and self.down < self._max_down
                and self.torn_rng.random() < APPEND_CRASH):
            # Power fails inside this group commit's fsync: its entries were being written (a torn record, or
            # whole records up to some point, survive: SimDisk.crash), its hard state not at all, and nothing
            # of this Ready after the write happens (no log_appended, no message, no apply).
            self._crash(node, self._downtime(self.torn_rng, False), writing=entries)
            raise _CrashedInAppend
        if sync:
            node.busy_until = self.now + ms_to_s(self.cfg.persist_ms)
        due = [self.disk.log_write(node.id, entries, self.now)] if entries else []
        if state is not None:
            due.append(self.disk.write(node.id, state, self.now))
        times = [t for t in due if t is not None]
        if times:
            self._call_at(min(times), self._sync, node, node.gen)
        return None

    def _on_leader(self, node: _Node, term: int, fields: dict[str, Any]) -> None:
        self.leaders += 1
        other = self.inline_leaders.setdefault(term, node.id)
        if other != node.id:
            self.inline_violations.append(Violation(
                "a", f"term {term}: nodes {other} and {node.id} both became leader (inline check)", ()))
            self._freeze_trace()
        if self.loss is not None and term > self.loss[2]:
            self.failovers.append(self.now - self.loss[0])
            self.loss = None
        self._update_leader()

    def _on_candidate(self, node: _Node, term: int, fields: dict[str, Any]) -> None:
        self.elections += 1
        if term > self.max_term:
            self.max_term = term

    def _on_stepped_down(self, node: _Node, term: int, fields: dict[str, Any]) -> None:
        self._update_leader()
        if self.kv is not None:
            self.kv.stepped_down(node)

    def _on_vote(self, node: _Node, term: int, fields: dict[str, Any]) -> None:
        if (fields["candidate"] != node.id and "crash" in self.cfg.faults
                and self.vote_rng.random() < self.cfg.vote_crash):
            # Crash right after the vote leaves: the moment that matters for vote durability.
            self._call_at(self.now, self._crash_if, node, node.gen, "short")

    def _send_after_persist(self, node: _Node, messages) -> None:
        # What a step sends leaves only once that step's persist has returned (the live node's fsync time).
        self._send_all(messages, max(0.0, node.busy_until - self.now))

    def _send_all(self, messages, after: float = 0.0) -> None:
        # Hot: one random draw decides loss and duplication together; a uniform delay is drawn inline (the
        # sampler's formula and draw, without a call per message).
        links, rnd, now, sample = self.links, self.net_rng.random, self.now + after, self.sample_delay
        loss, lossdup, heap, push = self.net_loss, self.net_lossdup, self.heap, heapq.heappush
        uniform = self.uniform_delay
        lo, width = uniform if uniform is not None else (0.0, 0.0)
        seq = self.seq
        for m in messages:
            if not links[m.src][m.dst]:
                continue
            if lossdup:
                r = rnd()
                if r < loss:
                    continue
                if r < lossdup:
                    seq += 1
                    push(heap, (now + (lo + width * rnd() if uniform else sample()), seq, _DELIVER, m, None))
            seq += 1
            push(heap, (now + (lo + width * rnd() if uniform else sample()), seq, _DELIVER, m, None))
        self.seq = seq

    def _sync(self, node: _Node, gen: int) -> None:
        if gen == node.gen:
            self.disk.sync(node.id)

    # ------------------------------------------------------------------ main loop

    def run(self) -> SimResult:
        try:
            return self._run()
        finally:
            getattr(self.make_core, "close", lambda: None)()  # child processes of an exec: core

    def _run(self) -> SimResult:
        cfg = self.cfg
        self.sup.write("cluster_started", nodes=self.n, config={**cfg.to_dict(), "seed": self.seed, "simulated": True})
        for node in self.nodes[1:]:
            self._start(node)
        if cfg.faults:
            self._call_at(self._next_fault_gap(), self._inject)
        if cfg.proposals > 0:
            self._call_at(self.client_rng.expovariate(cfg.proposals), self._client)
        if self.kv is not None:
            self.kv.start()
        heap, pop, push, nodes = self.heap, heapq.heappop, heapq.heappush, self.nodes
        end = cfg.duration
        delivered = 0
        links = self.links  # changes only in fault callbacks (_CALL entries): re-read after each
        while heap:
            entry = pop(heap)
            t, _, kind, a, b = entry
            if t > end:
                push(heap, entry)
                break
            self.now = t
            if kind == _DELIVER:
                node = nodes[a.dst]
                if not node.up or not links[a.src][a.dst]:
                    continue
                if node.paused:
                    node.inbox.append(a)
                    continue
                if t < node.busy_until:  # still persisting: the message waits in the socket
                    self._push(node.busy_until, _DELIVER, a)
                    continue
                delivered += 1
                out = node.core.step(a, t)
            elif kind == _TICK:
                node = a
                if b != node.gen or t != node.timer_at:
                    continue  # superseded
                node.timer_at = _INF
                if not node.up or node.paused:
                    continue  # re-armed on restart / resume
                core = node.core
                deadline = core.deadline
                if t < deadline or t < node.busy_until:
                    self._arm(node, max(deadline, node.busy_until))
                    continue
                out = core.tick(t)
            else:
                a(*b)
                links = self.links
                continue
            try:
                node.apply(out)  # the one embedding; no fast path of its own
            except _CrashedInAppend:
                continue
            if out.deadline < node.timer_at:
                self._arm(node, out.deadline)
        self.messages += delivered
        self.now = end
        self._update_leader()  # closes the leaderless interval at the end
        if not self.has_leader:
            self.leaderless += end - self.leaderless_since
        return self._result()

    # ------------------------------------------------------------------ the client (--proposals)

    def _client(self) -> None:
        """A new command arrives (Poisson, `proposals` per second); the queue goes to the believed leader."""
        self.proposed += 1
        self.client_queue.append(b"c%d" % self.proposed)
        self._propose_queue()
        self._call_at(self.now + self.client_rng.expovariate(self.cfg.proposals), self._client)

    def _client_retry(self) -> None:
        self.client_retry = False
        self._propose_queue()

    def _propose_queue(self) -> None:
        """Hand the queued commands, oldest first, to the node the simulator believes leads; what it refuses (or
        no leader, or it is busy persisting) waits and is retried after a short pause, as a client would."""
        queue = self.client_queue
        leader = self._current_leader()
        node = self.nodes[leader] if leader is not None else None
        while queue and node is not None and node.up and not node.paused and self.now >= node.busy_until:
            core = node.core
            propose = getattr(core, "propose", None)
            if propose is None:  # a contract v1 core: no replication to drive
                queue.clear()
                return
            proposal, out = propose(queue[0], self.now)
            self._apply(node, out)
            if not proposal.accepted:
                self.rejected += 1
                break
            self.accepted += 1
            queue.popleft()
        if queue and not self.client_retry:
            self.client_retry = True
            wait = 0.02 if node is None or self.now >= node.busy_until else node.busy_until - self.now
            self._call_at(self.now + wait, self._client_retry)

    def _result(self) -> SimResult:
        result = self.checker.finish()
        # In-memory records are complete by construction; should a gap ever appear, its violations still count.
        violations = list(result.violations) + list(result.withheld_violations)
        if not any(v.invariant == "a" for v in violations):
            violations = self.inline_violations[:1] + violations  # (the checker missed one: cannot, but say so)
        if violations and self.frozen_trace is None:
            self.frozen_trace = list(self.trace)  # (d) is only known at finish()
        return SimResult(
            self.seed, self.cfg, violations, self.frozen_trace or [], self.files if self.cfg.record_logs else {},
            self.cfg.duration, self.elections, self.leaders, self.max_term, self.leaderless, self.failovers,
            1 if self.loss is not None else 0, self.messages, self.faults_injected, self.disk.lost_writes,
            result.stats, self._replication_counts(result.stats),
            self.kv.finish(keep_history=self.cfg.record_logs) if self.kv is not None else None)

    def _replication_counts(self, stats: dict[str, Any]) -> dict[str, int]:
        if not self.replicating:
            return {}
        rep = stats.get("replication", {}) if isinstance(stats.get("replication"), dict) else {}
        return {"proposed": self.proposed, "accepted": self.accepted, "refused": self.rejected,
                "queued_at_end": len(self.client_queue), "max_commit": int(rep.get("max_commit", 0)),
                "lost_entries": self.disk.lost_entries, "tails_cut": self.tails_cut}

    # ------------------------------------------------------------------ leadership metrics

    def _effective_leader(self) -> tuple[int, int] | None:
        """(node, term) of an up leader that can reach a majority, highest term first."""
        best = None
        links = self.links
        for node in self.nodes[1:]:
            core = node.core
            if node.up and not node.paused and core is not None and core.role == LEADER:
                reach = sum(1 for o in self.nodes[1:] if links[node.id][o.id] and o.up and not o.paused)
                if reach >= self.quorum and (best is None or core.term > best[1]):
                    best = (node.id, core.term)
        return best

    def _update_leader(self) -> None:
        leader = self._effective_leader()
        has = leader is not None
        if has != self.has_leader:
            if has:
                self.leaderless += self.now - self.leaderless_since
            else:
                self.leaderless_since = self.now
            self.has_leader = has
        if self.loss is not None and leader is not None and leader[0] == self.loss[1] and leader[1] == self.loss[2]:
            self.loss = None  # the old leader came back before anyone replaced it: no failover happened

    def _hit_leader(self, nid: int) -> None:
        """Called before a fault that may take node `nid` away as leader."""
        core = self.nodes[nid].core
        if self.loss is None and core is not None and core.role == LEADER and self.nodes[nid].up:
            self.loss = (self.now, nid, core.term)

    def _current_leader(self) -> int | None:
        leader = self._effective_leader()
        return leader[0] if leader else None

    # ------------------------------------------------------------------ faults

    def _next_fault_gap(self) -> float:
        return self.now + self.fault_clock.expovariate(1.0 / self.cfg.fault_interval)

    def _inject(self) -> None:
        rng, kinds = self.fault_rng, sorted(self.cfg.faults)
        kind = kinds[rng.randrange(len(kinds))]
        getattr(self, "_fault_" + kind)(rng)
        self._call_at(self._next_fault_gap(), self._inject)

    def _pick_target(self, rng: random.Random) -> _Node | None:
        if self.down >= self._max_down:
            return None  # keep a majority able to run, so elections keep happening
        leader = self._current_leader()
        if leader is not None and rng.random() < 0.5:
            return self.nodes[leader]
        up = [node for node in self.nodes[1:] if node.up and not node.paused]
        return up[rng.randrange(len(up))] if up else None

    def _downtime(self, rng: random.Random, short: bool) -> float:
        # Short restarts (a few ms) are what turn a lost vote into a second vote in the same term.
        return rng.uniform(0.001, 0.05) if short or rng.random() < 0.4 else rng.uniform(0.1, 2.0)

    def _fault_crash(self, rng: random.Random) -> None:
        node = self._pick_target(rng)
        if node is not None:
            self._crash(node, self._downtime(rng, False))

    def _crash_if(self, node: _Node, gen: int, how: str) -> None:
        if gen == node.gen and node.up and self.down < self._max_down:
            self._crash(node, self._downtime(self.vote_rng, how == "short"))

    def _crash(self, node: _Node, downtime: float, writing: Sequence[Entry] = ()) -> None:
        self._hit_leader(node.id)
        self.faults_injected += 1
        if not node.paused:
            self.down += 1
        node.up, node.paused, node.core, node.inbox, node.apply = False, False, None, [], _down
        node.gen += 1
        if self.async_disk is not None:  # its writes still pending were being written: lost, or torn
            writing = self.async_disk.crash(node) or writing
        # A crash while the unsynced log tail is being written back may tear it (only a disk with unsynced
        # writes has a tail to tear: safe mode syncs each group commit before the node goes on).
        self.disk.crash(node.id, torn=self.replicating and self.torn_rng.random() < 0.5, writing=writing)
        self.sup.write("node_killed", node=node.id, pid=_FAKE_PID, signal="SIGKILL")
        self._update_leader()
        if self.cfg.hints:
            self._close_connections(node.id)
        self._call_at(self.now + downtime, self._restart, node, node.gen)

    def _close_connections(self, dead: int) -> None:
        # Every other live process's connection to the dead one closes; each notices on its own.
        for other in self.nodes[1:]:
            if other.id != dead and other.up:
                self._call_at(self.now + self.hint_rng.uniform(*HINT_DELAY), self._hint, other, other.gen, dead)

    def _hint(self, node: _Node, gen: int, peer: int) -> None:
        if gen != node.gen or not node.up:
            return  # that process died too; its successor never had the connection
        if node.paused:
            node.hints.append(peer)  # the event waits in the monitor's queue until the process runs again
            return
        assert node.core is not None
        self._apply(node, node.core.hint(peer, self.now, "simulated"))

    def _restart(self, node: _Node, gen: int) -> None:
        if gen == node.gen and not node.up:
            self.down -= 1
            self._start(node)
            self._update_leader()

    def _fault_pause(self, rng: random.Random) -> None:
        node = self._pick_target(rng)
        if node is None:
            return
        self._hit_leader(node.id)
        self.faults_injected += 1
        self.down += 1
        node.paused = True
        self.sup.write("node_paused", node=node.id)
        self._update_leader()
        self._call_at(self.now + self._downtime(rng, False), self._resume, node, node.gen)

    def _resume(self, node: _Node, gen: int) -> None:
        if gen != node.gen or not node.paused:
            return
        self.down -= 1
        node.paused = False
        assert node.core is not None  # a paused node is up, so it has a core
        self.sup.write("node_resumed", node=node.id)
        # The process wakes with a jumped clock and a full socket buffer: drain it, then let timers fire.
        inbox, node.inbox = node.inbox, []
        for msg in inbox:
            if not node.up:
                break
            self.messages += 1
            self._apply(node, node.core.step(msg, self.now))
        hints, node.hints = node.hints, []
        for peer in hints:
            if node.up:
                self._apply(node, node.core.hint(peer, self.now, "simulated"))
        if node.up and self.kv is not None:
            self.kv.resumed(node)  # client requests that waited in the socket
        if node.up:
            core = node.core
            if self.now >= core.deadline:
                self._apply(node, core.tick(self.now))
            self._arm(node, core.deadline)
        self._update_leader()

    def _fault_partition(self, rng: random.Random) -> None:
        n = self.n
        if n < 2:
            return
        shape = F.PARTITION_SHAPES[rng.randrange(len(F.PARTITION_SHAPES))]
        leader = self._current_leader()
        extra: dict[str, Any] = {}
        if shape == "majorities-ring":
            groups = F.ring_views(n, rng)
            self.set_net_model(self.net.model.changed(groups=None, cuts=F.ring_cuts(groups)))
            extra["views"] = True  # groups[i] is what node i+1 sees, not a disjoint split
        else:
            if shape == "split":
                groups = F.random_split(n, rng)
            else:
                lone = leader if shape == "isolate-leader" and leader is not None else rng.randint(1, n)
                groups = [[lone], [i for i in range(1, n + 1) if i != lone]]
            self.set_net_model(self.net.model.changed(groups=groups, cuts=frozenset()))
        if leader is not None:
            reach = sum(1 for i in range(1, n + 1) if self.links[leader][i])
            if reach < self.quorum:
                self._hit_leader(leader)
        self.faults_injected += 1
        self._last_partition = self.faults_injected
        self.sup.write("partition", groups=groups, shape=shape, **extra)
        self._update_leader()
        self._call_at(self.now + rng.uniform(0.2, 3.0), self._heal, self._last_partition)

    def _heal(self, which: int) -> None:
        # Only the latest partition heals; an older one's timer is stale once it was replaced.
        if not self.net.model.partitioned or which != self._last_partition:
            return
        self.set_net_model(self.net.model.changed(groups=None, cuts=frozenset()))
        self.sup.write("heal")
        self._update_leader()

    def _fault_net(self, rng: random.Random, kind: str) -> None:
        base = self.base_net
        values = {"loss": base.model.loss, "delay_ms": base.model.delay_ms, "jitter_ms": base.model.jitter_ms}
        dup, dist = base.dup, base.dist
        if kind == "loss":
            values["loss"] = rng.choice((0.05, 0.2, 0.5))
        elif kind == "dup":
            dup = rng.choice((0.1, 0.3))
        else:
            delay = rng.uniform(10.0, 100.0)
            values.update(delay_ms=delay, jitter_ms=delay * rng.uniform(0.2, 1.0))
            dist = F.DELAY_DISTS[rng.randrange(2)]
        self.faults_injected += 1
        self._last_net = self.faults_injected
        self._set_net(F.NetParams(self.net.model.changed(**values), dup, dist))
        self._net_changed(kind=kind)
        self._call_at(self.now + rng.uniform(0.2, 3.0), self._net_restore, self._last_net)

    def _net_changed(self, **extra: Any) -> None:
        net, model = self.net, self.net.model
        self.sup.write("net_changed", loss=model.loss, delay_ms=round(model.delay_ms, 3),
                       jitter_ms=round(model.jitter_ms, 3), dup=net.dup, dist=net.dist, **extra)

    def _net_restore(self, which: int) -> None:
        if which == self._last_net:
            b = self.base_net
            model = self.net.model.changed(loss=b.model.loss, delay_ms=b.model.delay_ms, jitter_ms=b.model.jitter_ms)
            self._set_net(F.NetParams(model, b.dup, b.dist))
            self._net_changed(kind="restore")

    def _fault_loss(self, rng: random.Random) -> None:
        self._fault_net(rng, "loss")

    def _fault_dup(self, rng: random.Random) -> None:
        self._fault_net(rng, "dup")

    def _fault_delay(self, rng: random.Random) -> None:
        self._fault_net(rng, "delay")


    # ------------------------------------------------------------------ scripted faults (benchmarks)
    # With `faults` empty, a driver schedules its own: bench_failover kills the leader, waits for a successor,
    # restarts the old one. Callbacks run inside run(), at virtual time `self.now`.

    def call_at(self, t: float, fn, *args) -> None:
        """Run `fn(*args)` at virtual time `t` (inside run())."""
        self._call_at(t, fn, *args)

    def leader(self) -> tuple[int, int] | None:
        """(node, term) of the leader that can reach a majority, or None."""
        return self._effective_leader()

    def all_up(self) -> bool:
        return all(node.up and not node.paused for node in self.nodes[1:])

    def kill(self, node_id: int) -> None:
        """SIGKILL `node_id` (logged as the live supervisor does); it stays down until `restart`."""
        self._crash(self.nodes[node_id], _INF)

    def restart(self, node_id: int) -> None:
        node = self.nodes[node_id]
        self._restart(node, node.gen)

    def stop(self) -> None:
        """End run() after the current callback: nothing further is simulated."""
        self.heap.clear()


def run_seed(config: SimConfig, seed: int) -> SimResult:
    return Simulator(config, seed).run()
