"""A gallery of deliberately broken election cores: each reintroduces one bug that real implementations have had.

They exist to show that `raftzmq conform` (its transcripts, its seeded simulator runs and the checker) can fail,
and what each kind of bug looks like in the evidence. Run any of them: `raftzmq conform raftzmq.lab.conform.mutants:TermOnly`.
Each is built from the built-in core's public surface only (raftzmq/protocol/surface.py): by composition (a
`CoreWrapper` that edits the core's inputs, outputs or random draws) or through a documented configuration hook
(`ElectionRules`); none overrides a private method. `GALLERY` says what conform must report.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raftzmq.protocol.core import CANDIDATE, PRECANDIDATE, CoreConfig, ElectionCore, ElectionRules, HardState
from raftzmq.protocol.core import Output
from raftzmq.protocol.messages import Message, RequestVote, VoteResponse
from raftzmq.protocol.surface import CoreWrapper, Rng, merge_outputs

__all__ = ["TermOnly", "VoteBeforePersist", "GrantsAnyTerm", "NoStepDown", "CountsDuplicateVotes",
           "FixedTimeouts", "NaiveTally", "PersistsView", "configured", "Mutant", "GALLERY"]


def configured(name: str, doc: str, rules: ElectionRules) -> type[ElectionCore]:
    """The built-in core, constructed with `rules` as its configuration hook (nothing else differs)."""

    def __init__(self: ElectionCore, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None,
                 **kw: Any) -> None:
        ElectionCore.__init__(self, config, state, now, rng, rules=rules, **kw)

    return type(name, (ElectionCore,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


class PersistsView(CoreWrapper):
    """Composition: asks the embedding to persist `view(core)` (what it believes must be durable) instead of the
    inner core's hard state, each time that view changes."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None) -> None:
        super().__init__(ElectionCore(config, state, now, rng))
        self._durable = self.view(state.term, state.voted_for)

    def view(self, term: int, voted_for: int | None) -> tuple[int, int | None]:
        return (term, voted_for)

    def edit_output(self, out: Output) -> Output:
        inner = self.inner
        view = self.view(inner.term, inner.voted_for)  # type: ignore[attr-defined]
        out.persist = None
        if view != self._durable:
            self._durable = view
            out.persist = HardState(*view)
        return out


class TermOnly(PersistsView):
    """Persists the term but not votedFor (the design this project started from): a node that restarts after
    voting has forgotten its vote and can vote again in the same term."""

    def view(self, term: int, voted_for: int | None) -> tuple[int, int | None]:
        return (term, None)


class VoteBeforePersist(CoreWrapper):
    """Asks for its hard state to be saved one Output late: the vote leaves before it is durable."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None) -> None:
        super().__init__(ElectionCore(config, state, now, rng))
        self._held: HardState | None = None

    def edit_output(self, out: Output) -> Output:
        out.persist, self._held = self._held, out.persist
        return out


class _GrantsAnyTerm(ElectionRules):
    def grants_stale_vote(self, core: ElectionCore, msg: RequestVote) -> bool:
        return core.voted_for in (None, msg.src)


GrantsAnyTerm = configured("GrantsAnyTerm", """Grants a vote without comparing the request's term with its own: a
    stale candidate collects votes that were given in a later term.""", _GrantsAnyTerm())


class _NoStepDown(ElectionRules):
    def steps_down(self, core: ElectionCore, msg: Message) -> bool:
        return False


NoStepDown = configured("NoStepDown", """Adopts a higher term it hears of but keeps its role: a leader goes on
    leading in a term it never won.""", _NoStepDown())


class NaiveTally(CoreWrapper):
    """Counts granted VoteResponses the way buggy implementations do; each flag turns one check off. Composition:
    the wrapper keeps its own tally of the responses it takes from the inner core; once that tally says "majority",
    it hands the inner core the grants it needs to reach one itself (the inner core then campaigns or leads)."""

    check_term = True  # off: responses of another term count
    check_kind = True  # off: pre-vote and real-vote responses are interchangeable
    dedupe = True  # off: votes are counted in a list, so a duplicated response counts twice

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None) -> None:
        super().__init__(ElectionCore(config, state, now, rng))
        self._round: tuple[str, int] | None = None
        self._tally: list[int] = []

    def step(self, msg: Message, now: float) -> Output:
        core: Any = self.inner
        if not (isinstance(msg, VoteResponse) and msg.granted and core.role in (PRECANDIDATE, CANDIDATE)):
            return core.step(msg, now)  # type: ignore[no-any-return]
        pre = core.role == PRECANDIDATE
        if (self.check_kind and msg.prevote != pre) or (
            self.check_term and msg.term != (core.term + 1 if pre else core.term)
        ):
            return core.step(msg, now)  # type: ignore[no-any-return]
        if self._round != (core.role, core.term):
            self._round, self._tally = (core.role, core.term), [core.id]
        if not (self.dedupe and msg.src in self._tally):
            self._tally.append(msg.src)
        if len(self._tally) < core.quorum:
            return Output(None, [], [], core.deadline)
        role, ask = core.role, core.term + 1 if pre else core.term
        outs = []
        for peer in core.peers:  # grants the inner core counts itself, until it has its majority
            if core.role != role:
                break
            if peer not in core.votes:
                outs.append(core.step(VoteResponse(ask, peer, core.id, granted=True, prevote=pre), now))
        return merge_outputs(outs)


class CountsDuplicateVotes(NaiveTally):
    """Counts votes in a list: a grant the network delivers twice counts twice."""

    dedupe = False


class _MinimumTimeouts:
    """An RNG that answers every election-timeout draw with the minimum (other draws go to the real RNG)."""

    def __init__(self, rng: Rng, config: CoreConfig) -> None:
        self.rng, self.span = rng, (config.election_timeout_min, config.election_timeout_max)

    def uniform(self, a: float, b: float) -> float:
        return a if (a, b) == self.span else self.rng.uniform(a, b)


class FixedTimeouts(CoreWrapper):
    """Uses the same election timeout every time instead of a random one: nodes that time out together split
    the vote again and again. Composition: the inner core draws from an RNG that always says the minimum."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None) -> None:
        import random

        super().__init__(ElectionCore(config, state, now,
                                      _MinimumTimeouts(rng if rng is not None else random.Random(), config)))


@dataclass(frozen=True, slots=True)
class Mutant:
    cls: Callable[..., Any]  # a core class (docs/core-contract.md)
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
