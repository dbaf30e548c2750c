"""The simulator's asynchronous disk (`raftzmq sim --disk async`): a write completes after its persist time while
the node goes on taking inputs.

With the other disks a persist is synchronous (`--persist-ms`: the node blocks for it, and the messages of that
step wait). Here, for a core that takes durability acknowledgements (`persisted`, docs/core-contract.md), a group
commit only *starts* a write; the node keeps stepping, ticking and proposing meanwhile. What depends on the write
waits for it, in order:

- every record, message and apply the embedding carries out after a write started (the rest of that Ready and of
  every later Ready) is held, in order, until that write completes: a vote, an AppendResponse, a `state_persisted`
  or `log_appended` record, a commit-dependent reply never leave before what they depend on is durable;
- `Output.early` leaves at once (a candidate's RequestVotes, a leader's AppendEntries with its new entries);
- writes complete in the order they started (a disk's FIFO), each `base x uniform(SPREAD)` after it started and
  never before the previous one; when one completes its hard state and entries become durable on the SimDisk,
  what waited for it is carried out, and the core is told `persisted(state, last_index, now)`;
- a crash before a write completes loses it: its hard state, and its entries (a crash in the middle of writing
  them: whole records up to some point, or a torn one, may survive as with any crash of the SimDisk).

A core without `persisted` (contract v1/v2 plug-ins, the `exec:` adapter) cannot tell when its writes are durable,
so it gets today's synchronous disk: each persist blocks the node for the drawn persist time.

With crash faults, the moment that matters is watched as `vote_crash` watches a vote: a node that becomes leader
or advances its commit index while a write of its own is still pending crashes, with probability PENDING_CRASH[record],
at a random moment before that write completes. A correct core survives it (it counted nothing that was not durable); a core that counts its own vote,
or as leader its own entries, before they are durable is caught by the checker (two leaders in a term, a
committed entry lost). All draws come from this module's own generators, so runs with the other disks are
unchanged.
"""
from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from raftzmq.protocol.messages import Entry, Message
from raftzmq.protocol.ready import HardState
from raftzmq.protocol.surface import acknowledges
from raftzmq.runtime.node.embedding import Embedding

__all__ = ["ASYNC_PERSIST_MS", "SPREAD", "PENDING_CRASH", "AsyncDisk"]

ASYNC_PERSIST_MS = 10.0  # the base persist time when --persist-ms is 0 (one state save on this machine's disk)
SPREAD = (0.2, 2.0)  # a write takes base x uniform(SPREAD): fsync times vary, so a voter may answer first
PENDING_CRASH = {"became_leader": 0.5, "commit_advanced": 0.05}  # chance that acting with a write pending crashes the node before that write completes
_PAUSE_POLL = 0.005  # a paused process runs nothing after its fsync returns: look again this much later


@dataclass(slots=True)
class _Write:
    done_at: float
    state: HardState | None
    entries: Sequence[Entry]


@dataclass(slots=True)
class _NodeDisk:
    gen: int
    acks: bool = False  # the core takes acknowledgements: asynchronous; else blocking
    writes: deque[_Write] = field(default_factory=deque)  # pending, in order
    held: deque[Any] = field(default_factory=deque)  # (write,) markers and (fn, args, kwargs) items, in order
    durable: HardState = field(default_factory=HardState)
    last: int = 0  # the durable log's last index
    emb: Embedding | None = None


class AsyncDisk:
    """One per simulator. `sim` is the Simulator (its clock, heap, SimDisk, send and crash)."""

    def __init__(self, sim: Any, base_ms: float, rng: random.Random, crash_rng: random.Random) -> None:
        self.sim = sim
        self.base = (base_ms if base_ms > 0 else ASYNC_PERSIST_MS) / 1000.0
        self.rng, self.crash_rng = rng, crash_rng
        self.nodes: dict[int, _NodeDisk] = {}
        self.completed = 0  # writes completed
        self.lost = 0  # writes lost to crashes before they completed
        self.pending_crashes = 0  # crashes scheduled before a pending write completed

    # ------------------------------------------------------------------ per incarnation

    def ports(self, node: Any, log: Any) -> dict[str, Callable[..., Any]]:
        """save, log, send, append and early ports for `node`'s new incarnation (`log` its LogWriter)."""
        nd = self.nodes[node.id] = _NodeDisk(node.gen)
        disk = self.sim.disk
        nd.durable = disk.load(node.id)
        nd.last = len(disk.synced_log(node.id))

        def save(state: HardState) -> None:
            self._write(node, nd, state, (), True)

        def append(entries: Sequence[Entry], state: HardState | None, sync: bool) -> None:
            self._write(node, nd, state, entries, sync)

        def record(event: str, *, term: int, **fields: Any) -> None:
            if nd.held:
                if event in PENDING_CRASH and nd.writes:
                    self._maybe_crash(node, nd, PENDING_CRASH[event])
                nd.held.append((log.write, (event,), {"term": term, **fields}))
            else:
                log.write(event, term=term, **fields)

        def send(messages: list[Message]) -> None:
            if nd.held:
                nd.held.append((self.sim._send_all, (messages,), {}))
            elif not nd.acks and node.busy_until > self.sim.now:
                self.sim._send_all(messages, node.busy_until - self.sim.now)
            else:
                self.sim._send_all(messages)

        def early(messages: list[Message]) -> None:
            self.sim._send_all(messages)

        return {"save": save, "append": append, "log": record, "send": send, "early": early}

    def attach(self, node: Any, emb: Embedding, core: Any) -> None:
        """The incarnation's core is built: asynchronous if it takes acknowledgements (told at once what is
        durable, which switches it to counting only from them), else blocking."""
        nd = self.nodes[node.id]
        nd.emb = emb
        if acknowledges(core):
            nd.acks = True
            emb.auto_ack = False
            emb.persisted_port = lambda st, last: core.persisted(st, last, self.sim.now)
            emb.acknowledge(nd.durable, nd.last)

    def crash(self, node: Any) -> list[Entry]:
        """`node` crashed: its pending writes are lost (what it held with them too). Returns their entries as one
        run, for SimDisk.crash(writing=...): the crash was in the middle of writing them."""
        nd = self.nodes.pop(node.id, None)
        if nd is None or not nd.writes:
            return []
        self.lost += len(nd.writes)
        run: list[Entry] = []
        for w in nd.writes:  # each write replaces the log from its first index on
            if w.entries:
                first = w.entries[0].index
                if run and first < run[0].index:
                    run = []  # (it replaces everything the earlier pending writes held)
                del run[max(0, first - run[0].index) if run else 0:]
                run.extend(w.entries)
        return run

    # ------------------------------------------------------------------ writes

    def _write(self, node: Any, nd: _NodeDisk, state: HardState | None, entries: Sequence[Entry],
               sync: bool) -> None:
        sim, disk = self.sim, self.sim.disk
        now = sim.now
        if not nd.acks:  # blocking: durable at once, the node busy for the persist time
            if sync:
                node.busy_until = now + self.base * self.rng.uniform(*SPREAD)
            if entries:
                disk.log_write(node.id, entries, now)
            if state is not None:
                disk.write(node.id, state, now)
            return
        if not sync and not nd.writes:  # a commit index alone, nothing pending: no fsync to wait for
            if state is not None:
                disk.write(node.id, state, now)
                nd.durable = state
            return
        after = nd.writes[-1].done_at if nd.writes else now
        took = self.base * self.rng.uniform(*SPREAD) if sync else 0.0
        w = _Write(max(now + took, after), state, list(entries))
        nd.writes.append(w)
        nd.held.append((w,))
        sim._call_at(w.done_at, self._complete, node, nd.gen)

    def _maybe_crash(self, node: Any, nd: _NodeDisk, chance: float) -> None:
        """The node acted while a write is pending (became leader, advanced its commit index): with crash faults,
        with probability PENDING_CRASH[record], it crashes at a random moment before that write completes."""
        sim = self.sim
        if "crash" in sim.cfg.faults and sim.down < sim._max_down and self.crash_rng.random() < chance:
            self.pending_crashes += 1
            now = sim.now
            sim._call_at(now + (nd.writes[0].done_at - now) * self.crash_rng.random(), self._crash_pending,
                         node, nd.gen)

    def _crash_pending(self, node: Any, gen: int) -> None:
        sim = self.sim
        nd = self.nodes.get(node.id)
        if nd is None or nd.gen != gen or not node.up or not nd.writes or sim.down >= sim._max_down:
            return
        sim._crash(node, self.crash_rng.uniform(0.001, 0.05))  # short: back soon, with what was durable

    def _complete(self, node: Any, gen: int) -> None:
        nd = self.nodes.get(node.id)
        if nd is None or nd.gen != gen or not node.up or not nd.writes:
            return
        sim, disk = self.sim, self.sim.disk
        if node.paused:  # the process runs nothing until it resumes (a crash before then loses the write: it never
            # learnt of it, so nothing it did can depend on it)
            sim._call_at(sim.now + _PAUSE_POLL, self._complete, node, gen)
            return
        w = nd.writes.popleft()
        if w.entries:
            disk.log_write(node.id, w.entries, sim.now)
            nd.last = w.entries[-1].index
        if w.state is not None:
            disk.write(node.id, w.state, sim.now)
            nd.durable = w.state
        self.completed += 1
        held = nd.held
        assert held and held[0][0] is w
        held.popleft()
        while held and not isinstance(held[0][0], _Write):
            fn, args, kwargs = held.popleft()
            fn(*args, **kwargs)
            if not node.up or nd.gen != node.gen:
                return  # a record's watcher crashed the node (the vote-crash fault): the rest is lost
        emb = nd.emb
        if emb is not None:
            emb.acknowledge(nd.durable, nd.last)
            if node.up and node.core is not None:
                sim._arm(node, node.core.deadline)
