"""The Raft paper's election claims as deterministic transcripts, runnable against any core (docs/core-contract.md).

Each claim drives one to five cores by hand through the contract alone (construct, step, tick; read `role`,
`term`, `deadline` and the Outputs) and states the expected events. A claim returns a `ClaimResult`; on failure it
carries what was expected and the transcript of every call and its Output, so a user sees where their core went
another way. Paper sections: Raft (Ongaro & Ousterhout 2014) §5.1-5.2; Ongaro's thesis §3.8 (persisted state).

Claims use the paper's settings (no PreVote, no CheckQuorum), so a core that implements neither is judged fairly.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raftzmq.protocol.core import CANDIDATE, FOLLOWER, LEADER, CoreConfig, HardState, Output
from raftzmq.protocol.messages import AppendEntries, Message, RequestVote, VoteResponse

__all__ = ["CLAIMS", "ClaimResult", "ClaimFailed", "run_claims"]

ET_MIN, ET_MAX, HB = 0.150, 0.300, 0.050
Factory = Callable[[CoreConfig, HardState, float, Any], Any]


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


def _describe(out: Output) -> str:
    parts = []
    if out.persist is not None:
        parts.append(f"persist(term={out.persist.term}, voted_for={out.persist.voted_for})")
    for ev in out.events:
        extra = "".join(f" {k}={v}" for k, v in ev.fields.items())
        parts.append(f"{ev.name}@{ev.term}{extra}")
    for early, batch in ((True, out.early), (False, out.messages)):
        for m in batch:
            flags = "".join(f" {k}={getattr(m, k)}" for k in ("granted", "prevote") if hasattr(m, k))
            parts.append(f"send{' early' if early else ''} {type(m).__name__}(t{m.term} {m.src}->{m.dst}{flags})")
    return "; ".join(parts) or "(nothing)"


@dataclass
class Ctx:
    """What a claim gets: the core factory, and the transcript every bench of the claim appends to."""

    factory: Factory
    lines: list[str] = field(default_factory=list)


class Bench:
    """Cores of one cluster driven by hand, the durable state of each, and a transcript of every call."""

    def __init__(self, ctx: Ctx, n: int = 3, *, fracs: dict[int, float] | None = None,
                 states: dict[int, HardState] | None = None) -> None:
        self.factory, self.n, self.now = ctx.factory, n, 0.0
        self.members = tuple(range(1, n + 1))
        self.fracs = {i: (fracs or {}).get(i, 0.0 if i == 1 else 0.9) for i in self.members}
        self.durable = {i: (states or {}).get(i, HardState()) for i in self.members}
        self.lines = ctx.lines
        self.lines.append(f"--- a {n}-node cluster")
        self.cores = {i: self._boot(i) for i in self.members}

    def _boot(self, i: int) -> Any:
        config = CoreConfig(i, self.members, ET_MIN, ET_MAX, HB, prevote=False, check_quorum=False)
        core = self.factory(config, self.durable[i], self.now, FixedRng(self.fracs[i]))
        self.lines.append(f"node {i} starts at {self.now:.3f} from {self.durable[i]}: role {core.role}, "
                          f"term {core.term}, deadline {core.deadline:.3f}")
        return core

    def __getitem__(self, i: int) -> Any:
        return self.cores[i]

    def _record(self, i: int, call: str, out: Output) -> Output:
        if out.persist is not None:
            self.durable[i] = out.persist
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

    def restart(self, i: int) -> Any:
        self.lines.append(f"node {i} crashes")
        self.cores[i] = self._boot(i)
        return self.cores[i]


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise ClaimFailed(what)


def names(out: Output) -> list[str]:
    return [e.name for e in out.events]


def sent(out: Output, cls: type, **attrs: Any) -> list[Message]:
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


def run_claim(name: str, factory: Factory) -> ClaimResult:
    section, text, scenario = CLAIMS[name]
    ctx = Ctx(factory)
    try:
        scenario(ctx)
    except ClaimFailed as exc:
        return ClaimResult(name, section, text, False, str(exc), ctx.lines)
    except Exception as exc:  # the core broke the contract or crashed: a failed claim, not our crash
        return ClaimResult(name, section, text, False, f"{exc.__class__.__name__}: {exc}", ctx.lines)
    return ClaimResult(name, section, text, True, transcript=ctx.lines)


def run_claims(factory: Factory) -> list[ClaimResult]:
    return [run_claim(name, factory) for name in CLAIMS]
