"""A gallery of deliberately broken election cores: each reintroduces one bug that real implementations have had.

They exist to show that `raftzmq conform` (its transcripts, its seeded simulator runs and the checker) can fail,
and what each kind of bug looks like in the evidence. Run any of them: `raftzmq conform raftzmq.lab.conform.mutants:TermOnly`.
Each is a small subclass of the built-in core that changes one rule; `GALLERY` says what conform must report.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raftzmq.protocol.core import CANDIDATE, FOLLOWER, PRECANDIDATE, ElectionCore, HardState, Output
from raftzmq.protocol.messages import Message, RequestVote, VoteResponse

__all__ = ["TermOnly", "VoteBeforePersist", "GrantsAnyTerm", "NoStepDown", "CountsDuplicateVotes",
           "FixedTimeouts", "NaiveTally", "Mutant", "GALLERY"]


class TermOnly(ElectionCore):
    """Persists the term but not votedFor (the design this project started from): a node that restarts after
    voting has forgotten its vote and can vote again in the same term."""

    def _durable_view(self) -> tuple[int, int | None]:
        return (self.term, None)


class VoteBeforePersist(ElectionCore):
    """Asks for its hard state to be saved one Output late: the vote leaves before it is durable."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._held: HardState | None = None

    def _flush(self) -> Output:
        out = ElectionCore._flush(self)
        out.persist, self._held = self._held, out.persist
        return out


class GrantsAnyTerm(ElectionCore):
    """Grants a vote without comparing the request's term with its own: a stale candidate collects votes that
    were given in a later term."""

    def _answer_stale(self, msg: Message) -> None:
        if isinstance(msg, RequestVote) and not msg.prevote and self.voted_for in (None, msg.src):
            self.voted_for = msg.src
            self._emit("vote_granted", candidate=msg.src)
            self._send(VoteResponse(msg.term, self.id, msg.src, granted=True))
            return
        ElectionCore._answer_stale(self, msg)


class NoStepDown(ElectionCore):
    """Adopts a higher term it hears of but keeps its role: a leader goes on leading in a term it never won."""

    def _become_follower(self, term: int, leader: int | None, reason: str | None) -> None:
        if reason in ("higher_term", "transfer") and self.role != FOLLOWER:
            self.term, self.voted_for = term, None
            return
        ElectionCore._become_follower(self, term, leader, reason)


class NaiveTally(ElectionCore):
    """Counts granted VoteResponses the way buggy implementations do; each flag turns one check off."""

    check_term = True  # off: responses of another term count
    check_kind = True  # off: pre-vote and real-vote responses are interchangeable
    dedupe = True  # off: votes are counted in a list, so a duplicated response counts twice

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._round: tuple[str, int] | None = None
        self._tally: list[int] = []

    def step(self, msg: Message, now: float) -> Output:
        if not (isinstance(msg, VoteResponse) and msg.granted and self.role in (PRECANDIDATE, CANDIDATE)):
            return super().step(msg, now)
        pre = self.role == PRECANDIDATE
        if (self.check_kind and msg.prevote != pre) or (
            self.check_term and msg.term != (self.term + 1 if pre else self.term)
        ):
            return super().step(msg, now)
        self.now = now
        if self._round != (self.role, self.term):
            self._round, self._tally = (self.role, self.term), [self.id]
        if not (self.dedupe and msg.src in self._tally):
            self._tally.append(msg.src)
        if len(self._tally) >= self.quorum:
            self._campaign(pre=False) if pre else self._become_leader()
        return self._flush()


class CountsDuplicateVotes(NaiveTally):
    """Counts votes in a list: a grant the network delivers twice counts twice."""

    dedupe = False


class FixedTimeouts(ElectionCore):
    """Uses the same election timeout every time instead of a random one: nodes that time out together split
    the vote again and again."""

    def _reset_election_timer(self) -> None:
        self.election_deadline = self.now + self.config.election_timeout_min


@dataclass(frozen=True, slots=True)
class Mutant:
    cls: type[ElectionCore]
    claim: str  # the transcript claim that must fail
    finding: str  # what the seeded runs must report: a checker invariant letter, or a conform finding


GALLERY: dict[str, Mutant] = {
    "TermOnly": Mutant(TermOnly, "vote-durable-before-response", "e"),
    "VoteBeforePersist": Mutant(VoteBeforePersist, "vote-durable-before-response", "e"),
    "GrantsAnyTerm": Mutant(GrantsAnyTerm, "stale-term-request-denied", "d"),
    "NoStepDown": Mutant(NoStepDown, "higher-term-steps-down", "leader-in-unwon-term"),
    "CountsDuplicateVotes": Mutant(CountsDuplicateVotes, "duplicate-vote-counts-once", "d"),
    "FixedTimeouts": Mutant(FixedTimeouts, "timeouts-randomized", "no-leader"),
}
