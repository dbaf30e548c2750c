"""The Raft paper's claims as deterministic transcripts, runnable against any core (docs/core-contract.md).

Each claim drives one to five cores by hand through the contract alone (construct, step, tick; read `role`,
`term`, `deadline` and the Outputs) and states the expected events. A claim returns a `ClaimResult`; on failure it
carries what was expected and the transcript of every call and its Output, so a user sees where their core went
another way. Paper sections: Raft (Ongaro & Ousterhout 2014) §5.1-5.2; Ongaro's thesis §3.8 (persisted state).

Claims use the paper's settings (no PreVote, no CheckQuorum), so a core that implements neither is judged fairly.

Two sets: `CLAIMS`, the election (§5.1-5.2, contract v1: every core is judged on them), and `REPLICATION_CLAIMS`,
log replication and safety (§5.3-5.4, thesis §3.10: contract v2 only). A v2 core is one with `propose`
(`contract_version`); a v1 core (election only, e.g. examples/minimal_core.py) has its replication claims skipped,
not failed. Replication benches build cores with `log=` (the recovered entries), keep each node's durable log the
way the embedding does (`Ready.entries` replace the log from their first index) and the entries each node applied
(`Ready.committed`), and carry messages between chosen nodes (`Bench.pump`): nothing but the contract is read.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raftzmq.protocol.core import CANDIDATE, FOLLOWER, LEADER, CoreConfig, HardState, Output
from raftzmq.protocol.messages import AppendEntries, AppendResponse, Entry, Message, RequestVote, TimeoutNow
from raftzmq.protocol.messages import VoteResponse

__all__ = ["CLAIMS", "REPLICATION_CLAIMS", "ClaimResult", "ClaimFailed", "run_claims", "contract_version",
           "FIGURE7"]

ET_MIN, ET_MAX, HB = 0.150, 0.300, 0.050
Factory = Callable[..., Any]  # (config, state, now, rng[, log=entries]) -> a core


class ClaimFailed(AssertionError):
    pass


class FixedRng:
    """uniform(a, b) -> a + frac * (b - a): pins a core's timeouts when a claim needs a known order."""

    def __init__(self, frac: float) -> None:
        self.frac = frac

    def uniform(self, a: float, b: float) -> float:
        return a + self.frac * (b - a)


@dataclass
class ClaimResult:
    name: str
    section: str
    text: str
    ok: bool
    expected: str = ""
    transcript: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.name, "section": self.section, "text": self.text, "ok": self.ok,
                "expected": self.expected, "transcript": self.transcript}


def _ents(entries: Any) -> str:
    return "[" + " ".join(f"{e.index}@{e.term}" for e in entries) + "]"


def _describe(out: Output) -> str:
    parts = []
    if out.persist is not None:
        commit = f", commit={out.persist.commit}" if out.persist.commit else ""
        parts.append(f"persist(term={out.persist.term}, voted_for={out.persist.voted_for}{commit})")
    if out.entries:
        parts.append(f"append {_ents(out.entries)}")
    for ev in out.events:
        extra = "".join(f" {k}={v}" for k, v in ev.fields.items())
        parts.append(f"{ev.name}@{ev.term}{extra}")
    for early, batch in ((True, out.early), (False, out.messages)):
        for m in batch:
            flags = "".join(f" {k}={getattr(m, k)}" for k in ("granted", "prevote") if hasattr(m, k))
            if isinstance(m, AppendEntries) and (m.prev_index or m.entries or m.commit):
                flags += f" prev={m.prev_index}@{m.prev_term} {_ents(m.entries)} commit={m.commit}"
            elif isinstance(m, AppendResponse) and (m.index or not m.success):
                flags += f" success={m.success} index={m.index}"
                if not m.success:
                    flags += f" conflict={m.conflict_index}@{m.conflict_term}"
            elif isinstance(m, RequestVote) and m.last_log_index:
                flags += f" last={m.last_log_index}@{m.last_log_term}"
            parts.append(f"send{' early' if early else ''} {type(m).__name__}(t{m.term} {m.src}->{m.dst}{flags})")
    if out.committed:
        parts.append(f"apply {_ents(out.committed)}")
    return "; ".join(parts) or "(nothing)"


@dataclass
class Ctx:
    """What a claim gets: the core factory, and the transcript every bench of the claim appends to."""

    factory: Factory
    lines: list[str] = field(default_factory=list)


class Bench:
    """Cores of one cluster driven by hand, the durable state of each, and a transcript of every call.

    With `logs` (contract v2), each node starts from that log (`log=` at construction), and the bench keeps, per
    node, the durable log (`logs[i]`, as the embedding keeps it: each Ready's `entries` replace the log from their
    first index), the entries handed to the state machine (`applied[i]`) and every message sent (`wire`, for
    `pump`)."""

    def __init__(self, ctx: Ctx, n: int = 3, *, fracs: dict[int, float] | None = None,
                 states: dict[int, HardState] | None = None, logs: dict[int, list[Entry]] | None = None) -> None:
        self.factory, self.n, self.now = ctx.factory, n, 0.0
        self.members = tuple(range(1, n + 1))
        self.fracs = {i: (fracs or {}).get(i, 0.0 if i == 1 else 0.9) for i in self.members}
        self.durable = {i: (states or {}).get(i, HardState()) for i in self.members}
        self.v2 = logs is not None
        self.logs: dict[int, list[Entry]] = {i: list((logs or {}).get(i, [])) for i in self.members}
        self.applied: dict[int, list[Entry]] = {i: [] for i in self.members}
        self.wire: list[Message] = []
        self.lines = ctx.lines
        self.lines.append(f"--- a {n}-node cluster")
        self.cores = {i: self._boot(i) for i in self.members}

    def _boot(self, i: int) -> Any:
        config = CoreConfig(i, self.members, ET_MIN, ET_MAX, HB, prevote=False, check_quorum=False)
        if self.v2:
            log = tuple(self.logs[i])
            core = self.factory(config, self.durable[i], self.now, FixedRng(self.fracs[i]), log=log)
            what = f"{self.durable[i]} and log {_ents(log)}"
        else:
            core = self.factory(config, self.durable[i], self.now, FixedRng(self.fracs[i]))
            what = f"{self.durable[i]}"
        self.lines.append(f"node {i} starts at {self.now:.3f} from {what}: role {core.role}, "
                          f"term {core.term}, deadline {core.deadline:.3f}")
        return core

    def __getitem__(self, i: int) -> Any:
        return self.cores[i]

    def _record(self, i: int, call: str, out: Output) -> Output:
        if out.persist is not None:
            self.durable[i] = out.persist
        if out.entries:
            first = out.entries[0].index
            log = self.logs[i]
            expect(1 <= first <= len(log) + 1 and all(e.index == first + k for k, e in enumerate(out.entries)),
                   f"node {i}'s Ready.entries {_ents(out.entries)} follow its log (1..{len(log)}) consecutively")
            self.logs[i] = log[:first - 1] + list(out.entries)
        if out.committed:
            done = self.applied[i]
            expect(out.committed[-1].index <= len(self.logs[i]) and all(
                self.logs[i][e.index - 1] == e for e in out.committed),
                f"node {i} applies {_ents(out.committed)}: entries of its durable log")
            for e in out.committed:  # in log order; an entry applied again (a replay) must be the same entry
                expect(e.index <= len(done) + 1 and (e.index > len(done) or done[e.index - 1] == e),
                       f"node {i} applies {_ents(out.committed)} in log order after {len(done)} applied entries")
                if e.index > len(done):
                    done.append(e)
        self.wire.extend(out.early)
        self.wire.extend(out.messages)
        self.lines.append(f"node {i} {call} -> {_describe(out)}")
        return out

    def fire(self, i: int) -> Output:
        """Advance the clock to node i's deadline and tick it."""
        self.now = max(self.now, self.cores[i].deadline)
        return self._record(i, f"tick({self.now:.3f})", self.cores[i].tick(self.now))

    def tick(self, i: int, now: float) -> Output:
        self.now = now
        return self._record(i, f"tick({now:.3f})", self.cores[i].tick(now))

    def step(self, msg: Message) -> Output:
        call = f"step({type(msg).__name__} t{msg.term} from {msg.src})"
        return self._record(msg.dst, call, self.cores[msg.dst].step(msg, self.now))

    def propose(self, i: int, data: bytes) -> Any:
        proposal, out = self.cores[i].propose(data, self.now)
        self._record(i, f"propose({data!r}) = {proposal}", out)
        return proposal

    def persisted(self, i: int, last_index: int) -> Output:
        """Tell node i its durable hard state and log up to `last_index` are durable (`persisted`)."""
        state = self.durable[i]
        return self._record(i, f"persisted({state}, {last_index})", self.cores[i].persisted(state, last_index,
                                                                                         self.now))

    def restart(self, i: int) -> Any:
        self.lines.append(f"node {i} crashes")
        self.cores[i] = self._boot(i)
        return self.cores[i]

    def drop(self) -> None:
        """Lose every message in flight."""
        if self.wire:
            self.lines.append(f"({len(self.wire)} messages in flight are lost)")
        self.wire = []

    def pump(self, among: set[int], *, leader: int | None = None, rounds: int = 4,
             stop: Callable[[], bool] = lambda: False, limit: int = 2000) -> None:
        """Deliver the messages in flight, in order, between the nodes in `among` (others are lost), until none is
        left; then, `rounds` times, advance the clock to `leader`'s deadline, tick it (its heartbeat) and deliver
        again. Only the leader is ticked: nobody else's timer fires."""
        for r in range(rounds + 1):
            if r and leader is not None:
                self.fire(leader)
            steps = 0
            while self.wire and not stop():
                msg = self.wire.pop(0)
                if msg.src in among and msg.dst in among:
                    self.step(msg)
                    steps += 1
                    expect(steps < limit, f"the exchange among nodes {sorted(among)} ends ({limit} messages)")
            if stop():
                return


def _log(*terms: int) -> list[Entry]:
    """Entries 1..n of the given terms; an entry's data names its index and term (equal entries, equal data)."""
    return [Entry(i, t, b"e%d.%d" % (i, t)) for i, t in enumerate(terms, 1)]


def _become_leader(b: Bench, i: int = 1, voters: tuple[int, ...] = ()) -> Output:
    """Node i times out and wins: the RequestVotes are lost, grants come from `voters` (default: enough peers)."""
    out = _candidate(b, i)
    term = b[i].term
    b.drop()
    need = [p for p in b.members if p != i][:len(b.members) // 2]
    for p in voters or tuple(need):
        out = b.step(VoteResponse(term, p, i, granted=True))
    expect(b[i].role == LEADER, f"node {i} leads term {term} after a majority of grants")
    return out


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise ClaimFailed(what)


def names(out: Output) -> list[str]:
    return [e.name for e in out.events]


def sent(out: Output, cls: type, **attrs: Any) -> list[Any]:
    return [m for m in [*out.early, *out.messages]
            if isinstance(m, cls) and all(getattr(m, k) == v for k, v in attrs.items())]


def granted_votes(out: Output) -> list[Any]:
    return [e.fields.get("candidate") for e in out.events if e.name == "vote_granted"]


def _candidate(b: Bench, i: int = 1) -> Output:
    out = b.fire(i)
    expect(b[i].role == CANDIDATE, f"node {i} is a candidate after its election timeout (role {b[i].role})")
    return out


# ---------------------------------------------------------------------------------------------- the claims


def starts_as_follower(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(7, 3)})
    expect((b[1].role, b[1].term) == (FOLLOWER, 7), "a node starts as follower in its persisted term 7")
    out = b.tick(1, b[1].deadline - 1e-6)
    expect(not out.messages and not out.early and out.persist is None and b[1].role == FOLLOWER,
           "nothing happens before the election timeout")


def timeout_starts_election(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    out = _candidate(b)
    expect(b[1].term == 5, "the candidate increments its term (4 -> 5)")
    expect("became_candidate" in names(out) and 1 in granted_votes(out),
           "events became_candidate and vote_granted candidate=1 (it votes for itself)")
    expect({m.dst for m in sent(out, RequestVote, term=5)} == {2, 3}, "RequestVote(term 5) to every peer")
    expect(b.durable[1] == HardState(5, 1), "HardState(5, 1) is persisted with the RequestVotes")


def timeouts_randomized(ctx: Ctx) -> None:
    config = CoreConfig(1, (1, 2, 3), ET_MIN, ET_MAX, HB, prevote=False, check_quorum=False)
    firsts, agains = [], []
    for seed in range(8):
        core = ctx.factory(config, HardState(), 0.0, random.Random(seed))
        firsts.append(core.deadline)
        start = core.deadline
        core.tick(start)  # a split vote: the next election's timer is drawn again
        agains.append(core.deadline - start)
    ctx.lines.append(f"8 cores seeded 0..7: first timeouts {[round(d, 4) for d in firsts]}, "
                     f"next ones {[round(d, 4) for d in agains]}")
    expect(all(ET_MIN - 1e-9 <= d <= ET_MAX + 1e-9 for d in firsts + agains), "every timeout lies in [min, max]")
    expect(len({round(d, 9) for d in firsts}) >= 4 and len({round(d, 9) for d in agains}) >= 4,
           "timeouts drawn with the injected RNG differ between nodes and between elections")


def vote_granted_once_per_term(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    out = b.step(RequestVote(5, 2, 1))
    expect(bool(sent(out, VoteResponse, granted=True, dst=2)) and granted_votes(out) == [2],
           "a follower grants the first candidate of term 5 (vote_granted candidate=2)")
    out = b.step(RequestVote(5, 3, 1))
    expect(not sent(out, VoteResponse, granted=True) and not granted_votes(out),
           "and denies the second candidate of the same term")


def vote_durable_before_response(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    b.step(RequestVote(5, 2, 1))
    expect(b.durable[1] == HardState(5, 2),
           f"the Output that grants the vote persists HardState(5, 2) (durable: {b.durable[1]})")


def restart_keeps_vote(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    b.step(RequestVote(5, 2, 1))
    b.restart(1)
    out = b.step(RequestVote(5, 3, 1))
    expect(not sent(out, VoteResponse, granted=True),
           "after a crash and restart from disk it still denies another candidate of term 5")


def stale_term_request_denied(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(5)})
    out = b.step(RequestVote(3, 2, 1))
    expect(not sent(out, VoteResponse, granted=True) and not granted_votes(out),
           "a RequestVote of an older term (3 < 5) is denied")
    expect(all(m.term == 5 for m in sent(out, VoteResponse)), "the answer carries the current term 5")


def majority_elects(f: Ctx) -> None:
    b = Bench(f, 5, states={1: HardState(4)})
    _candidate(b)
    b.step(VoteResponse(5, 2, 1, granted=True))
    expect(b[1].role == CANDIDATE, "2 votes of 5 (itself and node 2) are no majority")
    out = b.step(VoteResponse(5, 3, 1, granted=True))
    expect(b[1].role == LEADER and "became_leader" in names(out), "the third vote of 5 makes it leader")
    expect({m.dst for m in sent(out, AppendEntries, term=5)} == {2, 3, 4, 5},
           "a new leader sends heartbeats to every peer at once")


def duplicate_vote_counts_once(f: Ctx) -> None:
    b = Bench(f, 5, states={1: HardState(4)})
    _candidate(b)
    for _ in range(3):
        b.step(VoteResponse(5, 2, 1, granted=True))
    expect(b[1].role == CANDIDATE, "one voter's grant delivered three times is one vote (2 of 5)")


def stale_vote_response_ignored(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    _candidate(b)
    _candidate(b)
    b.step(VoteResponse(5, 2, 1, granted=True))
    expect((b[1].role, b[1].term) == (CANDIDATE, 6), "a grant for term 5 does not count in term 6")


def higher_term_steps_down(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    _candidate(b)
    b.step(VoteResponse(5, 2, 1, granted=True))
    expect(b[1].role == LEADER, "node 1 leads term 5")
    out = b.step(AppendEntries(6, 3, 1))
    expect((b[1].role, b[1].term) == (FOLLOWER, 6), "a leader that hears of term 6 becomes a follower of term 6")
    expect({"stepped_down", "became_follower"} <= set(names(out)),
           "and says so: events stepped_down and became_follower (the checker's figures and status read them)")
    b2 = Bench(f, 3, states={1: HardState(4)})
    _candidate(b2)
    b2.step(RequestVote(7, 3, 1))
    expect((b2[1].role, b2[1].term) == (FOLLOWER, 7), "a candidate that hears of term 7 becomes a follower")


def candidate_yields_to_leader(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    _candidate(b)
    b.step(AppendEntries(5, 2, 1))
    expect((b[1].role, b[1].term) == (FOLLOWER, 5), "a candidate that hears from the leader of its term follows it")


def heartbeats_hold_followers(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    first = b[1].deadline
    b.now = first - ET_MIN / 2
    b.step(AppendEntries(4, 2, 1))
    out = b.tick(1, first)
    expect(b[1].role == FOLLOWER and not sent(out, RequestVote), "a heartbeat restarts the election timer")


def leader_keeps_heartbeating(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(4)})
    _candidate(b)
    b.step(VoteResponse(5, 2, 1, granted=True))
    for _ in range(5):
        expect(b[1].deadline - b.now < ET_MIN, f"the leader's next deadline comes within {ET_MIN}s")
        out = b.fire(1)
    expect({m.dst for m in sent(out, AppendEntries, term=5)} == {2, 3}, "each heartbeat round reaches every peer")


# ---------------------------------------------------------------------------------------------- replication (v2)

# The paper's Figure 7: the leader's log and the six followers' (terms of entries 1, 2, ...).
FIGURE7: dict[str, tuple[int, ...]] = {
    "leader": (1, 1, 1, 4, 4, 5, 5, 6, 6, 6),
    "a": (1, 1, 1, 4, 4, 5, 5, 6, 6),
    "b": (1, 1, 1, 4),
    "c": (1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6),
    "d": (1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7),
    "e": (1, 1, 1, 4, 4, 4, 4),
    "f": (1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3),
}


def _same_log(b: Bench, i: int, j: int) -> bool:
    return b.logs[i] == b.logs[j]


def _last_index(b: Bench, i: int) -> int:
    """The core's own last index when it says (`last_index`, contract v2), else its durable log's."""
    value = getattr(b[i], "last_index", None)
    return value if isinstance(value, int) else len(b.logs[i])


def _figure7(case: str) -> Callable[[Ctx], None]:
    def scenario(f: Ctx) -> None:
        follower = FIGURE7[case]
        b = Bench(f, 3, states={1: HardState(7), 2: HardState(max(follower)), 3: HardState(7)},
                  logs={1: _log(*FIGURE7["leader"]), 2: _log(*follower), 3: _log(*FIGURE7["leader"])})
        _become_leader(b, 1, voters=(3,))
        expect(len(b.logs[1]) == 11 and b.logs[1][10].term == 8,
               "the leader of term 8 appends an entry of term 8 at index 11 (its no-op) to its durable log")
        b.pump({1, 2}, leader=1, rounds=3)
        expect(_same_log(b, 1, 2), f"follower ({case}) ends with exactly the leader's log: leader "
               f"{_ents(b.logs[1])}, follower {_ents(b.logs[2])}")
        expect(_last_index(b, 2) == 11, f"the follower's core says its last index is 11 ({_last_index(b, 2)})")
        expect(b.applied[1] == b.logs[1],
               f"with the follower, a majority holds the leader's log: the leader applies 1..11 "
               f"(applied {_ents(b.applied[1])})")
        expect(b.applied[2] == b.logs[1], f"and the follower, told the commit index by a heartbeat, applies "
               f"1..11 too (applied {_ents(b.applied[2])})")
    scenario.__name__ = f"figure7_{case}"
    return scenario


def noop_on_election(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(1), 2: HardState(1), 3: HardState(1)},
              logs={1: _log(1, 1), 2: _log(1, 1), 3: _log(1)})
    out = _become_leader(b, 1, voters=(3,))
    expect([(e.index, e.term) for e in out.entries] == [(3, 2)],
           f"the Ready in which it wins term 2 appends one entry of term 2 at index 3, its no-op "
           f"(entries {_ents(out.entries)})")
    expect(not b.applied[1], "entries of term 1 are not committed by the election alone")
    b.pump({1, 2}, leader=1, rounds=2)
    expect([e.index for e in b.applied[1]] == [1, 2, 3],
           f"once node 2 holds the no-op, the leader commits it and, through it, the entries of term 1 "
           f"(applied {_ents(b.applied[1])})")


def log_matching_after_conflicts(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(3), 2: HardState(2), 3: HardState(3)},
              logs={1: _log(1, 1, 3), 2: _log(1, 1, 2, 2, 2), 3: _log(1, 1)})
    _become_leader(b, 1, voters=(3,))
    b.pump({1, 2}, leader=1, rounds=2)
    expect(_same_log(b, 1, 2), f"node 2's conflicting entries 3..5 of term 2 are replaced by the leader's: "
           f"leader {_ents(b.logs[1])}, node 2 {_ents(b.logs[2])}")
    expect(_last_index(b, 2) == 4, f"node 2's core says its last index is 4 ({_last_index(b, 2)})")
    b.pump({1, 2, 3}, leader=1, rounds=2)
    expect(_same_log(b, 1, 3) and _same_log(b, 2, 3), "node 3, which was behind, ends with the same log too")
    expect(b.applied[2] == b.applied[3] == b.logs[1], "and every node applies the same entries 1..4")


def conflict_truncates_suffix(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(2)}, logs={1: _log(1, 2, 2)})
    before = list(b.logs[1])
    out = b.step(AppendEntries(2, 2, 1, prev_index=1, prev_term=1, entries=tuple(_log(1, 2)[1:]), commit=0))
    expect(bool(sent(out, AppendResponse, success=True)), "a late duplicate of an AppendEntries that carried entry "
           "2@2 is accepted")
    expect(b.logs[1] == before, f"and deletes nothing: entry 3@2 is still there ({_ents(b.logs[1])})")
    new = Entry(2, 3, b"e2.3")
    out = b.step(AppendEntries(3, 3, 1, prev_index=1, prev_term=1, entries=(new,), commit=0))
    expect(bool(sent(out, AppendResponse, success=True)), "an AppendEntries of term 3 whose entry 2@3 conflicts "
           "with 2@2 is accepted")
    expect(b.logs[1] == before[:1] + [new], f"the conflicting entry and all that follow it are deleted: the log is "
           f"[1@1 2@3] ({_ents(b.logs[1])})")
    expect(_last_index(b, 1) == 2, f"the core says its last index is 2 ({_last_index(b, 1)})")


def entries_durable_before_ack(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(2)}, logs={1: _log(1)})
    ents = tuple(_log(1, 2, 2)[1:])
    out = b.step(AppendEntries(2, 2, 1, prev_index=1, prev_term=1, entries=ents, commit=0))
    acks = sent(out, AppendResponse, success=True)
    expect(bool(acks) and max(m.index for m in acks) == 3, "a follower acknowledges entries 2 and 3 (index 3)")
    expect(b.logs[1][1:3] == list(ents), f"in the Ready that makes them durable, not later (durable log after "
           f"that Ready: {_ents(b.logs[1])})")
    out = b.step(AppendEntries(2, 2, 1, prev_index=3, prev_term=2, entries=(Entry(4, 2, b"e4.2"),), commit=0))
    expect(len(b.logs[1]) == 4 and any(m.index == 4 for m in sent(out, AppendResponse, success=True)),
           f"and so for the next entry (durable log {_ents(b.logs[1])})")


def commit_bounded_by_follower_log(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(2)}, logs={1: _log(1, 1, 1)})
    b.step(AppendEntries(2, 2, 1, prev_index=1, prev_term=1, entries=(), commit=3))
    expect([e.index for e in b.applied[1]] == [1], f"a heartbeat that vouches for index 1 only (prev_index 1) "
           f"commits 1, not the leader's 3: entries 2 and 3 may not be the leader's (applied {_ents(b.applied[1])})")
    expect(b.durable[1].commit <= 1, f"the persisted commit index is at most 1 ({b.durable[1].commit})")
    b.step(AppendEntries(2, 2, 1, prev_index=3, prev_term=1, entries=(), commit=3))
    expect([e.index for e in b.applied[1]] == [1, 2, 3], f"a heartbeat that matches at index 3 commits 2 and 3 "
           f"(applied {_ents(b.applied[1])})")
    b.step(AppendEntries(2, 2, 1, prev_index=3, prev_term=1, entries=(Entry(4, 2, b"e4.2"),), commit=9))
    expect([e.index for e in b.applied[1]] == [1, 2, 3, 4] and b.durable[1].commit <= 4,
           f"leader commit 9 with the log ending at 4: the commit index stops at 4, never beyond the log "
           f"(applied {_ents(b.applied[1])}, persisted commit {b.durable[1].commit})")


def vote_requires_up_to_date_log(f: Ctx) -> None:
    b = Bench(f, 5, states={1: HardState(2)}, logs={1: _log(1, 2)})
    out = b.step(RequestVote(3, 2, 1, last_log_index=5, last_log_term=1))
    expect(not sent(out, VoteResponse, granted=True) and not granted_votes(out),
           "a candidate whose last entry is of an older term (5@1 against 2@2) is denied, however long its log")
    out = b.step(RequestVote(3, 3, 1, last_log_index=1, last_log_term=2))
    expect(not sent(out, VoteResponse, granted=True) and not granted_votes(out),
           "a candidate with the same last term and a shorter log (1@2 against 2@2) is denied")
    out = b.step(RequestVote(3, 4, 1, last_log_index=2, last_log_term=2))
    expect(bool(sent(out, VoteResponse, granted=True, dst=4)), "a candidate as up-to-date (2@2) is granted")
    out = b.fire(1)
    asks = sent(out, RequestVote)
    expect(bool(asks) and all((m.last_log_index, m.last_log_term) == (2, 2) for m in asks),
           "its own RequestVotes carry its last log index and term (2, 2)")


def figure8(f: Ctx) -> None:
    # Figure 8 (c): S1 leads term 4; entry 2@2 (from its term 2) is on S1, S2, S3; S5 holds 2@3.
    b = Bench(f, 5, states={1: HardState(3, None, 1), 2: HardState(3, None, 1), 3: HardState(3, None, 1),
                            4: HardState(3, None, 1), 5: HardState(4, 5, 1)},
              logs={1: _log(1, 2), 2: _log(1, 2), 3: _log(1, 2), 4: _log(1), 5: _log(1, 3)})
    b.applied = {i: _log(1) for i in b.members}  # entry 1 was committed and applied before
    _candidate(b, 1)
    b.drop()
    for voter in (2, 3):
        b.step(RequestVote(4, 1, voter, last_log_index=2, last_log_term=2))
    for m in [m for m in b.wire if isinstance(m, VoteResponse)]:
        b.step(m)
    b.drop()
    expect(b[1].role == LEADER and b[1].term == 4, "S1 wins term 4 with the votes of S2 and S3")
    b.pump({1, 2}, leader=1, rounds=1)
    expect(b.logs[2][-1].term == 4, "S2 holds S1's entry of term 4")
    out = b.step(AppendResponse(4, 3, 1, success=True, index=2))
    old = [e for e in b.applied[1] if e.index == 2]
    expect(not old and b.durable[1].commit < 2, f"S1, S2 and S3 hold 2@2, a majority, but it is of term 2: S1 does "
           f"not commit it by counting replicas (applied {_ents(b.applied[1])}, persisted commit "
           f"{b.durable[1].commit})")
    expect(all(m.commit < 2 for m in sent(out, AppendEntries)), "nor tells anyone it is committed")
    b.pump({1, 2, 3}, leader=1, rounds=2)
    expect([(e.index, e.term) for e in b.applied[1]] == [(1, 1), (2, 2), (3, 4)],
           f"once S3 holds 3@4 too, S1 commits 3@4 and, through it, 2@2 (applied {_ents(b.applied[1])})")
    # (e): S5 cannot win any more: a majority holds an entry of term 4, newer than its last (2@3).
    b.drop()
    out = b.fire(5)
    ask = b[5].term
    for voter in (2, 3):
        out = b.step(RequestVote(ask, 5, voter, last_log_index=2, last_log_term=3))
        expect(not sent(out, VoteResponse, granted=True), f"S{voter} denies S5 (2@3 is older than its 3@4)")


def transfer_waits_for_catch_up(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(1), 2: HardState(1), 3: HardState(1)},
              logs={1: _log(1, 1), 2: _log(1), 3: _log(1, 1)})
    _become_leader(b, 1, voters=(3,))
    b.drop()
    out = b._record(1, "transfer_leadership(2)", b[1].transfer_leadership(2, b.now))
    expect(not sent(out, TimeoutNow), "node 2 lacks entries 2 and 3: no TimeoutNow yet")
    seen: list[bool] = []

    def timeout_now_sent() -> bool:
        if not seen and any(isinstance(m, TimeoutNow) for m in b.wire):
            seen.append(_same_log(b, 1, 2))
        return bool(seen)

    b.pump({1, 2}, leader=1, rounds=2, stop=timeout_now_sent)
    expect(bool(seen), "once node 2 catches up, the leader sends it TimeoutNow (within two heartbeats)")
    expect(seen[0], f"and not before: node 2's log is the leader's when TimeoutNow leaves "
           f"(leader {_ents(b.logs[1])}, node 2 {_ents(b.logs[2])})")


def propose_on_leader(f: Ctx) -> None:
    b = Bench(f, 3, states={1: HardState(1), 2: HardState(1), 3: HardState(1)},
              logs={1: _log(1), 2: _log(1), 3: _log(1)})
    _become_leader(b, 1, voters=(3,))
    b.pump({1, 2}, leader=1, rounds=1)
    last = len(b.logs[1])
    p = b.propose(1, b"x")
    expect(p.accepted and (p.index, p.term) == (last + 1, 2), f"the leader accepts a proposal at index "
           f"{last + 1}, term 2 ({p})")
    expect(b.logs[1][-1] == Entry(last + 1, 2, b"x"), "and its Ready appends it")
    q = b.propose(2, b"y")
    expect(not q.accepted and q.leader == 1, f"a follower refuses, naming the leader it knows (1) ({q})")
    b.pump({1, 2}, leader=1, rounds=1)
    expect(b.applied[1][-1:] == [Entry(last + 1, 2, b"x")] and b.applied[2] == b.applied[1],
           f"the entry commits and both apply it (leader {_ents(b.applied[1])}, node 2 {_ents(b.applied[2])})")


def _acknowledging(b: Bench, i: int) -> bool:
    """Whether node i takes durability acknowledgements; if so, it is told its start state is durable (which
    switches it to counting only from them). A core without `persisted` counts at its next input, which the
    embedding's contract makes safe: nothing to judge (said in the transcript)."""
    if not callable(getattr(b[i], "persisted", None)):
        b.lines.append(f"node {i} takes no durability acknowledgements (no persisted): it counts its own vote and "
                       "log at its next input, after the embedding carried out the Ready; nothing more to judge")
        return False
    b.persisted(i, len(b.logs[i]))
    return True


def own_vote_counted_once_durable(f: Ctx) -> None:
    b = Bench(f, 3, logs={})
    if not _acknowledging(b, 1):
        return
    _candidate(b)
    term = b[1].term
    b.step(VoteResponse(term, 2, 1, granted=True))
    expect(b[1].role == CANDIDATE, f"with one grant and its own vote not yet durable node 1 stays candidate "
                                   f"(role {b[1].role})")
    b.persisted(1, 0)
    expect(b[1].role == LEADER, f"once persisted says term {term} and its vote are durable it counts itself and "
                                f"leads (role {b[1].role})")


def leader_counts_itself_once_durable(f: Ctx) -> None:
    b = Bench(f, 3, logs={})
    if not _acknowledging(b, 1):
        return
    _candidate(b)
    term = b[1].term
    b.persisted(1, 0)
    b.step(VoteResponse(term, 2, 1, granted=True))
    expect(b[1].role == LEADER, f"node 1 leads term {term}")
    b.drop()
    out = b.cores[1].propose(b"x", b.now)[1]
    b._record(1, "propose(b'x')", out)
    expect(any(isinstance(m, AppendEntries) and m.entries for m in out.early) or not any(
        isinstance(m, AppendEntries) and m.entries for m in out.messages),
        "an AppendEntries carrying the new entry may leave early, before the leader's own write (§10.2.1)")
    b.step(AppendResponse(term, 2, 1, True, 1))
    expect(b[1].commit_index == 0, f"one follower's copy and the leader's copy that is not durable yet do not "
                                   f"commit entry 1 of 3 nodes (commit {b[1].commit_index})")
    out = b.persisted(1, 1)
    expect(b[1].commit_index == 1 and [e.index for e in out.committed] == [1],
           f"once persisted says the leader's log is durable through 1, entry 1 commits (commit "
           f"{b[1].commit_index})")


REPLICATION_CLAIMS: dict[str, tuple[str, str, Callable[[Ctx], None]]] = {
    **{f"figure7-{c}": ("§5.3, Fig. 7", f"a leader of term 8 brings follower ({c}) of Figure 7 to exactly its log",
                        _figure7(c)) for c in "abcdef"},
    "noop-on-election": ("§5.4.2, §8", "a new leader appends an entry of its term; earlier entries commit through "
                         "it", noop_on_election),
    "log-matching-after-conflicts": ("§5.3", "after conflicts are repaired every log matches the leader's",
                                     log_matching_after_conflicts),
    "conflict-truncates-suffix": ("§5.3, Fig. 2", "a conflicting entry and all that follow it are deleted; a stale "
                                  "AppendEntries deletes nothing", conflict_truncates_suffix),
    "entries-durable-before-ack": ("§5.3, thesis §3.8", "a follower's entries are on stable storage before it "
                                   "acknowledges them", entries_durable_before_ack),
    "commit-bounded-by-follower-log": ("§5.3, Fig. 2", "a follower's commit index is min(leaderCommit, index of "
                                       "the last new entry)", commit_bounded_by_follower_log),
    "vote-requires-up-to-date-log": ("§5.4.1", "a vote goes only to a candidate whose log is at least as "
                                     "up-to-date", vote_requires_up_to_date_log),
    "figure8": ("§5.4.2, Fig. 8", "an entry of an earlier term is not committed by counting replicas; it commits "
                "through an entry of the current term", figure8),
    "transfer-waits-for-catch-up": ("thesis §3.10", "a leadership transfer sends TimeoutNow only once the target "
                                    "holds the leader's log", transfer_waits_for_catch_up),
    "propose-on-leader": ("§5.3, §8", "the leader appends a proposal at (index, term) and commits it; a follower "
                          "refuses, naming the leader", propose_on_leader),
    "own-vote-counted-once-durable": ("thesis §3.8, §10.2.1", "a candidate counts its own vote only once it is "
                                      "durable (cores with persisted)", own_vote_counted_once_durable),
    "leader-counts-itself-once-durable": ("thesis §10.2.1", "a leader may send new entries before writing them, "
                                          "but counts its own copy only once durable (cores with persisted)",
                                          leader_counts_itself_once_durable),
}


# name -> (paper section, claim, scenario)
CLAIMS: dict[str, tuple[str, str, Callable[[Ctx], None]]] = {
    "starts-as-follower": ("§5.2", "servers start as followers, in their persisted term", starts_as_follower),
    "timeout-starts-election": ("§5.2", "on election timeout a follower increments its term, votes for itself "
                                "and asks every peer", timeout_starts_election),
    "timeouts-randomized": ("§5.2", "election timeouts are chosen randomly from an interval", timeouts_randomized),
    "vote-granted-once-per-term": ("§5.2", "each server votes for at most one candidate in a given term",
                                   vote_granted_once_per_term),
    "vote-durable-before-response": ("thesis §3.8", "currentTerm and votedFor are on stable storage before the "
                                     "server responds", vote_durable_before_response),
    "restart-keeps-vote": ("thesis §3.8", "a restarted server does not vote twice in a term",
                           restart_keeps_vote),
    "stale-term-request-denied": ("§5.1", "a request with a stale term is rejected", stale_term_request_denied),
    "majority-elects": ("§5.2", "a candidate wins with votes from a majority of the full cluster",
                        majority_elects),
    "duplicate-vote-counts-once": ("§5.2", "a majority is a majority of distinct servers",
                                   duplicate_vote_counts_once),
    "stale-vote-response-ignored": ("§5.1", "a vote is for one term", stale_vote_response_ignored),
    "higher-term-steps-down": ("§5.1", "a candidate or leader that discovers a higher term reverts to follower",
                               higher_term_steps_down),
    "candidate-yields-to-leader": ("§5.2", "a candidate that hears from a legitimate leader returns to follower",
                                   candidate_yields_to_leader),
    "heartbeats-hold-followers": ("§5.2", "a follower stays follower while it hears from a leader",
                                  heartbeats_hold_followers),
    "leader-keeps-heartbeating": ("§5.2", "a leader sends periodic heartbeats to all followers",
                                  leader_keeps_heartbeating),
}


def contract_version(core: Any) -> int:
    """2 when a core (or a CheckedCore around one) replicates (`propose`, docs/core-contract.md), else 1."""
    version = getattr(core, "contract_version", None)
    if version in (1, 2):
        return int(version)
    return 2 if callable(getattr(core, "propose", None)) else 1


def run_claim(name: str, factory: Factory) -> ClaimResult:
    section, text, scenario = CLAIMS[name] if name in CLAIMS else REPLICATION_CLAIMS[name]
    ctx = Ctx(factory)
    try:
        scenario(ctx)
    except ClaimFailed as exc:
        return ClaimResult(name, section, text, False, str(exc), ctx.lines)
    except Exception as exc:  # the core broke the contract or crashed: a failed claim, not our crash
        return ClaimResult(name, section, text, False, f"{exc.__class__.__name__}: {exc}", ctx.lines)
    return ClaimResult(name, section, text, True, transcript=ctx.lines)


def run_claims(factory: Factory, version: int = 1) -> list[ClaimResult]:
    """The election claims; with `version` 2 the replication claims too (a v1 core is judged on election alone)."""
    names = list(CLAIMS) + (list(REPLICATION_CLAIMS) if version >= 2 else [])
    return [run_claim(name, factory) for name in names]
