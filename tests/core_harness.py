"""A tiny harness for driving ElectionCore instances by hand in tests.

- `FixedRng`: uniform(a, b) returns a fixed fraction of the way from a to b, and records every call.
- `make_core`: one core with a pinned RNG and the default timings below.
- `Cluster`: several cores, a FIFO "network" of pending messages, a shared clock, the durable HardState of
  every node, the records every node logged and a transcript of every Output. Outputs are applied by the one
  embedding (runtime/node/embedding.py) with in-memory ports, as in the node and the simulator.

Nothing here is clever; tests read like transcripts: fire(1), deliver(), assert on the Outputs.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from raftzmq.protocol.core import LEADER, CoreConfig, ElectionCore, Event, HardState, Output
from raftzmq.protocol.messages import Entry, Message, VoteResponse
from raftzmq.runtime.node.embedding import Apply, embed

__all__ = [
    "ET_MIN",
    "ET_MAX",
    "HB",
    "FixedRng",
    "SeqRng",
    "make_config",
    "make_core",
    "names",
    "events_named",
    "msgs",
    "apply_persist",
    "Cluster",
    "vote_requests_after_isolation",
    "transfer_leadership",
]

ET_MIN, ET_MAX, HB = 0.150, 0.300, 0.050


class FixedRng:
    """uniform(a, b) -> a + frac * (b - a); every call is recorded as (a, b, value)."""

    def __init__(self, frac: float = 0.0) -> None:
        self.frac = frac
        self.calls: list[tuple[float, float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        value = a + self.frac * (b - a)
        self.calls.append((a, b, value))
        return value


class SeqRng(FixedRng):
    """Like FixedRng, but the fractions come from a sequence (cycled), so successive draws differ."""

    def __init__(self, fracs: Iterable[float]) -> None:
        super().__init__(0.0)
        self.fracs = list(fracs)
        self.i = 0

    def uniform(self, a: float, b: float) -> float:
        self.frac = self.fracs[self.i % len(self.fracs)]
        self.i += 1
        return super().uniform(a, b)


def make_config(node_id: int = 1, n: int = 3, **overrides) -> CoreConfig:
    kw = dict(
        node_id=node_id,
        members=tuple(range(1, n + 1)),
        election_timeout_min=ET_MIN,
        election_timeout_max=ET_MAX,
        heartbeat_interval=HB,
    )
    kw.update(overrides)
    return CoreConfig(**kw)


def make_core(
    node_id: int = 1,
    n: int = 3,
    *,
    state: HardState | None = None,
    now: float = 0.0,
    rng=None,
    frac: float = 0.0,
    core_cls: type[ElectionCore] = ElectionCore,
    log=(),
    **overrides,
) -> ElectionCore:
    args = (make_config(node_id, n, **overrides), state if state is not None else HardState(), now,
            rng if rng is not None else FixedRng(frac))
    return core_cls(*args, log=log) if log else core_cls(*args)  # (mutants built on v1 take no log)


def E(index: int, term: int, data: bytes = b"") -> Entry:
    return Entry(index, term, data)


def leader_of(n: int = 3, log=(), term: int = 1, **cfg) -> ElectionCore:
    """Node 1 leads `term` (prevote off), elected by the first quorum of its peers, with `log` recovered."""
    core = make_core(1, n, state=HardState(term - 1), prevote=False, log=list(log), **cfg)
    core.tick(core.deadline)
    for peer in core.peers[: core.quorum - 1]:
        core.step(VoteResponse(core.term, peer, 1, granted=True), core.now)
    assert core.role == LEADER and core.term == term
    return core


def names(out: Output) -> list[str]:
    return [e.name for e in out.events]


def events_named(out: Output, name: str) -> list[Event]:
    return [e for e in out.events if e.name == name]


def msgs(out: Output, cls: type | None = None, **attrs) -> list[Message]:
    """Messages of `out`, optionally of type `cls` and with the given attribute values."""
    found = [m for m in [*out.early, *out.messages] if cls is None or isinstance(m, cls)]  # early ones leave first
    return [m for m in found if all(getattr(m, k) == v for k, v in attrs.items())]


def _ignore(*args: object, **kwargs: object) -> None:
    pass


def apply_persist(durable: HardState, out: Output) -> HardState:
    """What is on disk after the embedding applied `out`."""
    saved = [durable]
    embed(saved.append, _ignore, _ignore)(out)
    return saved[-1]


class Cluster:
    """N cores on a perfect-but-manual network. `fracs[i]` pins node i+1's election-timeout fraction."""

    def __init__(
        self,
        n: int = 3,
        *,
        fracs: Iterable[float] | None = None,
        states: dict[int, HardState] | None = None,
        now: float = 0.0,
        core_cls: type[ElectionCore] = ElectionCore,
        **overrides,
    ) -> None:
        self.n = n
        self.ids = tuple(range(1, n + 1))
        self.now = now
        self.core_cls = core_cls
        self.overrides = overrides
        fracs = list(fracs) if fracs is not None else [0.0] + [0.9] * (n - 1)
        self.fracs = dict(zip(self.ids, fracs))
        self.durable: dict[int, HardState] = {i: (states or {}).get(i, HardState()) for i in self.ids}
        self.logs: dict[int, list] = {i: [] for i in self.ids}  # each node's durable log
        self.applied: dict[int, list] = {i: [] for i in self.ids}  # per incarnation: what it handed to its app
        self.cores: dict[int, ElectionCore] = {}
        self.pending: list[Message] = []
        self.transcript: list[tuple[int, Output]] = []
        self.records: list[tuple[int, str, int, dict]] = []  # (node, event, term, fields) in log order
        self._apply: dict[int, Apply] = {}
        for i in self.ids:
            self._boot(i)

    def _boot(self, i: int) -> ElectionCore:
        core = make_core(
            i, self.n, state=self.durable[i], now=self.now, frac=self.fracs[i], core_cls=self.core_cls,
            log=list(self.logs[i]), **self.overrides,
        )
        self.cores[i] = core
        self.applied[i] = []

        def append(entries, state, sync):
            if entries:
                self.logs[i] = self.logs[i][:entries[0].index - 1] + list(entries)
            if state is not None:
                self.durable[i] = state

        self._apply[i] = embed(lambda state: self.durable.__setitem__(i, state),
                               lambda event, term, **fields: self.records.append((i, event, term, fields)),
                               lambda messages: self.pending.extend(messages), state=self.durable[i],
                               append=append, apply=self.applied[i].extend)
        return core

    def __getitem__(self, i: int) -> ElectionCore:
        return self.cores[i]

    # -------------------------------------------------------------- driving

    def _record(self, i: int, out: Output) -> Output:
        self.transcript.append((i, out))
        self._apply[i](out)
        return out

    def tick(self, i: int, now: float | None = None) -> Output:
        if now is not None:
            self.now = now
        return self._record(i, self.cores[i].tick(self.now))

    def fire(self, i: int) -> Output:
        """Advance the clock to node i's deadline (never backwards) and tick it."""
        self.now = max(self.now, self.cores[i].deadline)
        return self.tick(i)

    def step(self, msg: Message) -> Output:
        return self._record(msg.dst, self.cores[msg.dst].step(msg, self.now))

    def propose(self, i: int, data: bytes):
        """Node i gets a client command: returns the Proposal."""
        proposal, out = self.cores[i].propose(data, self.now)
        self._record(i, out)
        return proposal

    def transfer(self, leader: int, target: int) -> Output:
        return self._record(leader, self.cores[leader].transfer_leadership(target, self.now))

    def deliver(self, keep: Callable[[Message], bool] = lambda m: True) -> list[Output]:
        """Deliver every message pending now (not the ones they cause); messages failing `keep` are dropped."""
        batch, self.pending = self.pending, []
        return [self.step(m) for m in batch if keep(m)]

    def take(self, match: Callable[[Message], bool]) -> Output:
        """Deliver the first pending message matching `match`; the others stay pending, in order."""
        for k, m in enumerate(self.pending):
            if match(m):
                del self.pending[k]
                return self.step(m)
        raise AssertionError("no pending message matches")

    def stabilize(self, keep: Callable[[Message], bool] = lambda m: True, limit: int = 100) -> None:
        for _ in range(limit):
            if not self.pending:
                return
            self.deliver(keep)
        raise AssertionError("messages still flowing after %d rounds" % limit)

    def restart(self, i: int) -> ElectionCore:
        """Crash node i (its in-memory state is lost) and boot it from what it persisted."""
        return self._boot(i)

    # -------------------------------------------------------------- looking

    def leaders(self) -> list[int]:
        return [i for i, c in self.cores.items() if c.role == LEADER]

    def events(self, name: str | None = None) -> list[tuple[int, Event]]:
        return [(i, e) for i, out in self.transcript for e in out.events if name is None or e.name == name]


# -------------------------------------------------------------- scenarios shared by the paper tests and the mutants


def vote_requests_after_isolation(core_cls: type[ElectionCore] = ElectionCore, **cfg) -> Cluster:
    """PreVote off. Node 1 leads a 3-node cluster; node 3 is cut off for three of its election timeouts (its term
    climbs to 5); it comes back and its RequestVotes of term 5 reach nodes 1 and 2 right after the leader's
    heartbeat round reached node 2 (so node 2 is inside its lease), before any heartbeat reaches node 3."""
    c = Cluster(3, prevote=False, fracs=[0.0, 0.5, 0.9], core_cls=core_cls, **cfg)
    c.fire(1)
    c.stabilize()
    assert c.leaders() == [1]
    cut_off = lambda m: 3 not in (m.src, m.dst)  # noqa: E731
    for _ in range(3):
        c.fire(3)
        c.pending = [m for m in c.pending if cut_off(m)]
        c.tick(1)
        c.stabilize(cut_off)
    c.fire(3)  # back: its next campaign's requests get through
    requests, c.pending = c.pending, []
    c.tick(1, c.now)  # a heartbeat round just before them: node 2 has heard from its leader
    c.stabilize(cut_off)
    c.pending = requests
    c.deliver()
    return c


def transfer_leadership(core_cls: type[ElectionCore] = ElectionCore, **cfg) -> Cluster:
    """Node 1 leads; it transfers leadership to node 2 while every node is inside CheckQuorum's lease."""
    c = Cluster(3, core_cls=core_cls, **cfg)
    c.fire(1)
    c.stabilize()
    assert c.leaders() == [1]
    c.transfer(1, 2)
    c.stabilize()
    return c
