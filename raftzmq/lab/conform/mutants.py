"""A gallery of deliberately broken cores: each reintroduces one bug that real implementations have had.

They exist to show that `raftzmq conform` (its transcripts, its seeded simulator runs and the checker) can fail,
and what each kind of bug looks like in the evidence. Run any of them: `raftzmq conform raftzmq.lab.conform.mutants:TermOnly`.
Each is built from the built-in core's public surface only (raftzmq/protocol/surface.py): by composition (a
`CoreWrapper` that edits the core's inputs, outputs or random draws) or through a documented configuration hook
(`ElectionRules`); none overrides a private method. `GALLERY` says what conform must report.

Election (contract v1 claims): TermOnly, VoteBeforePersist, GrantsAnyTerm, NoStepDown, CountsDuplicateVotes,
FixedTimeouts. Replication (contract v2, §5.3-5.4; conform runs their seeds with client proposals):
  CommitsOldTerm          the Figure 8 bug: a leader commits the highest index on a majority whatever its term
                          (`ElectionRules.commit_index` without the current-term test)
  VotesForAnyLog          no up-to-date check on (pre-)votes (`ElectionRules.candidate_up_to_date` always true)
  AcksBeforePersist       acknowledges before fsync: its Ready asks for new entries to be made durable one Ready
                          late, so the AppendResponse (or, on a leader, the AppendEntries) that depends on them
                          leaves first; a crash in between loses entries the cluster counted (composition)
  KeepsConflictingSuffix  overwrites conflicting entries in place but keeps the rest of its old suffix
                          (composition: the durable log keeps what the inner core cut)
  CommitsBeyondLog        a follower takes the leader's commit index as is, beyond its own log, and applies
                          what it holds up to there, matching or not (composition)
Durability acknowledgements (a core with `persisted`; conform runs their seeds with `--disk async`, where a write
completes while the node goes on, lab/sim/asyncdisk.py):
  CountsOwnVoteEarly      a candidate counts its own vote as soon as it asks for it to be saved, not when
                          `persisted` says it is durable (composition: the wrapper acknowledges the vote to the inner
                          core itself); after a crash before the write it can vote again in that term
  CountsOwnMatchEarly     a leader counts its own log towards a commit before its write is durable
                          (`ElectionRules.commit_index` counting the whole log); a crash before the write can lose
                          an entry the cluster was told is committed
"Acknowledging before fsync" is a core here, not a disk: conform judges cores, and a core that puts its
acknowledgement in an earlier Ready than the entries it depends on is the same bug, seen from the embedding, as a
storage layer that returns before fsync - which the simulator models separately (`sim --disk unsafe-no-fsync`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from raftzmq.protocol.core import CANDIDATE, FOLLOWER, LEADER, PRECANDIDATE, CoreConfig, ElectionCore
from raftzmq.protocol.core import ElectionRules, HardState, Output
from raftzmq.protocol.messages import AppendEntries, Entry, Message, RequestVote, VoteResponse
from raftzmq.protocol.surface import CoreWrapper, Rng, merge_outputs

__all__ = ["TermOnly", "VoteBeforePersist", "GrantsAnyTerm", "NoStepDown", "CountsDuplicateVotes",
           "FixedTimeouts", "NaiveTally", "PersistsView", "configured", "Mutant", "GALLERY", "CommitsOldTerm",
           "VotesForAnyLog", "AcksBeforePersist", "KeepsConflictingSuffix", "CommitsBeyondLog", "LogView",
           "REPLICATION", "CountsOwnVoteEarly", "CountsOwnMatchEarly", "DURABILITY"]


def configured(name: str, doc: str, rules: ElectionRules, version: int = 2) -> type[ElectionCore]:
    """The built-in core, constructed with `rules` as its configuration hook (nothing else differs). `version` 1
    (an election mutant) makes conform judge it on election alone, as a contract v1 core."""

    def __init__(self: ElectionCore, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None,
                 log: Iterable[Entry] = (), **kw: Any) -> None:
        ElectionCore.__init__(self, config, state, now, rng, log, rules=rules, **kw)

    attrs: dict[str, Any] = {"__init__": __init__, "__doc__": doc, "__module__": __name__}
    if version == 1:
        attrs["contract_version"] = 1
    return type(name, (ElectionCore,), attrs)


class PersistsView(CoreWrapper):
    """Composition: asks the embedding to persist `view(core)` (what it believes must be durable) instead of the
    inner core's hard state, each time that view changes."""

    contract_version = 1  # an election mutant: judged on election alone

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

    contract_version = 1  # an election mutant: judged on election alone

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
    stale candidate collects votes that were given in a later term.""", _GrantsAnyTerm(), version=1)


class _NoStepDown(ElectionRules):
    def steps_down(self, core: ElectionCore, msg: Message) -> bool:
        return False


NoStepDown = configured("NoStepDown", """Adopts a higher term it hears of but keeps its role: a leader goes on
    leading in a term it never won.""", _NoStepDown(), version=1)


class NaiveTally(CoreWrapper):
    """Counts granted VoteResponses the way buggy implementations do; each flag turns one check off. Composition:
    the wrapper keeps its own tally of the responses it takes from the inner core; once that tally says "majority",
    it hands the inner core the grants it needs to reach one itself (the inner core then campaigns or leads)."""

    contract_version = 1  # an election mutant: judged on election alone

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

    contract_version = 1  # an election mutant: judged on election alone

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None) -> None:
        import random

        super().__init__(ElectionCore(config, state, now,
                                      _MinimumTimeouts(rng if rng is not None else random.Random(), config)))


# ---------------------------------------------------------------------------------------------- replication


class _CommitsOldTerm(ElectionRules):
    def commit_index(self, core: ElectionCore) -> int:
        tracker = core.tracker
        assert tracker is not None
        return max(core.log.commit, tracker.quorum_match(core.log.last_index))  # no "of the current term" test

    def appends_noop(self, core: ElectionCore) -> bool:
        return False  # as in the paper's Figure 8: with a no-op, acknowledgements of old entries carry it too


CommitsOldTerm = configured("CommitsOldTerm", """The Figure 8 bug: a leader commits the highest index held by a
    majority, whatever the term of its entry. An entry of an earlier term that a majority holds is not safe: a
    server that lacks it can still win an election and replace it, after some nodes applied it. As in the
    paper's figure, the new leader appends no no-op: one in its first AppendEntries would ride along with the old
    entries, and their acknowledgement would commit through it, hiding the bug.""", _CommitsOldTerm())


class _VotesForAnyLog(ElectionRules):
    def candidate_up_to_date(self, core: ElectionCore, msg: RequestVote) -> bool:
        return True


VotesForAnyLog = configured("VotesForAnyLog", """No up-to-date check (§5.4.1): votes and pre-votes go to a
    candidate whatever its log, so a leader can be elected without entries the cluster committed.""",
    _VotesForAnyLog())


def _spliced(log: list[Entry], entries: Sequence[Entry]) -> list[Entry]:
    """`log` after a Ready's entries: replaced from entries[0].index on."""
    return log[:entries[0].index - 1] + list(entries) if entries else log


class LogView(CoreWrapper):
    """Composition, for the log mutants: the built-in core inside, and the node's durable log as the embedding
    keeps it (`durable`: the recovered log, then every Ready's `entries` as handed out), which the subclasses
    edit in `edit_ready`."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None,
                 log: Iterable[Entry] = ()) -> None:
        entries = list(log)
        super().__init__(ElectionCore(config, state, now, rng, entries))
        self.durable = entries

    def edit_output(self, out: Output) -> Output:
        out = self.edit_ready(out)
        self.durable = _spliced(self.durable, out.entries)
        return out

    def edit_ready(self, out: Output) -> Output:
        return out


class AcksBeforePersist(LogView):
    """Acknowledges before fsync: each Ready's new entries are handed to the embedding one Ready late, while its
    messages (a follower's AppendResponse, a leader's AppendEntries) leave at once. The commit index and the
    committed entries wait with the entries (the embedding applies only what it holds)."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None,
                 log: Iterable[Entry] = ()) -> None:
        super().__init__(config, state, now, rng, log)
        self._held: list[Entry] = []
        self._waiting: list[Entry] = []
        self._commit = state.commit  # the commit index the embedding was told

    def edit_ready(self, out: Output) -> Output:
        release, new = self._held, list(out.entries)
        if release and new and new[0].index <= release[-1].index:  # what the new entries replace is not written
            release = release[:max(0, new[0].index - release[0].index)]
        self._held = new
        out.entries = release
        # what the embedding holds of the inner core's log: up to the held entries (beyond, it is stale)
        last = new[0].index - 1 if new else len(_spliced(self.durable, release))
        ready = self._waiting + list(out.committed)
        out.committed = [e for e in ready if e.index <= last]
        self._waiting = [e for e in ready if e.index > last]
        inner: Any = self.inner
        commit = min(inner.commit_index, last)
        if out.persist is not None and out.persist.commit != commit:
            out.persist = replace(out.persist, commit=max(commit, self._commit))
        elif out.persist is None and commit > self._commit:
            out.persist = replace(inner.hard_state(), commit=commit)
        if out.persist is not None:
            self._commit = out.persist.commit
        return out


class KeepsConflictingSuffix(LogView):
    """Does not truncate a conflicting suffix: where an AppendEntries replaces entries, the entries after the
    replaced ones stay in the log (the inner core cut them from its memory; the durable log keeps them)."""

    def edit_ready(self, out: Output) -> Output:
        ents = out.entries
        if ents:
            end = ents[-1].index
            tail = self.durable[end:]
            if ents[0].index <= len(self.durable) and tail:
                out.entries = list(ents) + tail
        return out


class CommitsBeyondLog(LogView):
    """A follower that takes the leader's commit index as it comes, beyond what its log holds (and beyond what the
    message vouches for), and applies every entry it holds up to there, matching the leader's or not."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None,
                 log: Iterable[Entry] = ()) -> None:
        super().__init__(config, state, now, rng, log)
        self._commit = state.commit  # what this node believes committed
        self._applied = 0  # what it handed out for applying (the inner core's replays included)

    def step(self, msg: Message, now: float) -> Output:
        out = super().step(msg, now)
        inner: Any = self.inner
        if isinstance(msg, AppendEntries) and inner.role == FOLLOWER and msg.term == inner.term \
                and msg.commit > self._commit:
            self._commit = msg.commit
            upto = min(self._commit, len(self.durable))
            extra = self.durable[self._applied:upto]
            if extra:
                out.committed = list(out.committed) + extra
                self._applied = upto
            # The durable commit index can name only entries the node holds (the embedding's digest chain
            # ends at its last index): beyond that, the belief stays in memory and commits what arrives next.
            out.persist = HardState(inner.term, inner.voted_for, max(upto, inner.commit_index))
        return out

    def edit_ready(self, out: Output) -> Output:
        fresh = [e for e in out.committed if e.index > self._applied]
        if fresh:
            self._applied = fresh[-1].index
        out.committed = fresh
        held = min(self._commit, len(_spliced(self.durable, out.entries)))
        if out.persist is not None and out.persist.commit < held:
            out.persist = replace(out.persist, commit=held)
        return out


# ---------------------------------------------------------------------------------------------- durability


class CountsOwnVoteEarly(CoreWrapper):
    """Counts its own vote before it is durable: whenever the inner core asks for a new term and its own vote to be
    saved, the wrapper tells it at once that they are (`persisted`), as if the write had completed. With a
    synchronous disk nobody can tell; with an asynchronous one the candidate may win before its vote is on disk,
    and a crash before the write leaves it free to vote for someone else in the term it led."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None,
                 log: Iterable[Entry] = ()) -> None:
        super().__init__(ElectionCore(config, state, now, rng, log))
        self._id = config.node_id
        self._durable_last = 0  # the last index the embedding really acknowledged

    def call(self, what: str, fn: Callable[..., Output], *args: Any) -> Output:
        if what == "persisted":
            self._durable_last = args[1]
        out = fn(*args)
        p = out.persist
        inner: Any = self.inner
        if p is not None and p.voted_for == self._id and inner.acknowledged and inner.role == CANDIDATE:
            now = args[1] if what == "hint" else args[-1]
            out = merge_outputs([out, inner.persisted(p, self._durable_last, now)])  # a lie: not durable yet
        return out


class _CountsOwnMatchEarly(ElectionRules):
    def commit_index(self, core: ElectionCore) -> int:
        tracker = core.tracker
        assert tracker is not None
        return tracker.committable(core.log, core.term, core.log.last_index)  # its whole log, durable or not


CountsOwnMatchEarly = configured("CountsOwnMatchEarly", """A leader that counts its own log towards a commit
    before its write is durable, while its AppendEntries leave before that write (thesis §10.2.1 allows the send,
    not the count): an entry can be committed with one durable copy too few, and a crash of the leader before its
    write loses it from a cluster that was told it is committed.""", _CountsOwnMatchEarly())


@dataclass(frozen=True, slots=True)
class Mutant:
    cls: Callable[..., Any]  # a core class (docs/core-contract.md)
    claim: str  # the transcript claim that must fail
    finding: str | None  # what the seeded runs must report: a checker invariant letter, or a conform finding
    disk: str = "safe"  # the simulator disk conform's seeds need to tell it (`conform --disk`)


GALLERY: dict[str, Mutant] = {
    "TermOnly": Mutant(TermOnly, "vote-durable-before-response", "e"),
    "VoteBeforePersist": Mutant(VoteBeforePersist, "vote-durable-before-response", "e"),
    "GrantsAnyTerm": Mutant(GrantsAnyTerm, "stale-term-request-denied", "d"),
    "NoStepDown": Mutant(NoStepDown, "higher-term-steps-down", "leader-in-unwon-term"),
    "CountsDuplicateVotes": Mutant(CountsDuplicateVotes, "duplicate-vote-counts-once", "d"),
    "FixedTimeouts": Mutant(FixedTimeouts, "timeouts-randomized", "no-leader"),
}
# Replication mutants (contract v2): conform runs their seeds with client proposals. (`finding` None would mean:
# no seed known to catch it, only its claim.)
REPLICATION: dict[str, Mutant] = {
    "CommitsOldTerm": Mutant(CommitsOldTerm, "figure8", "old-term-commit"),
    "VotesForAnyLog": Mutant(VotesForAnyLog, "vote-requires-up-to-date-log", "g"),
    "AcksBeforePersist": Mutant(AcksBeforePersist, "entries-durable-before-ack", "g"),
    "KeepsConflictingSuffix": Mutant(KeepsConflictingSuffix, "conflict-truncates-suffix", "f"),
    "CommitsBeyondLog": Mutant(CommitsBeyondLog, "commit-bounded-by-follower-log", "h"),
}
# Durability mutants (a core with `persisted`): only an asynchronous disk tells them apart (`conform --disk async`).
DURABILITY: dict[str, Mutant] = {
    "CountsOwnVoteEarly": Mutant(CountsOwnVoteEarly, "own-vote-counted-once-durable", "d", disk="async"),
    "CountsOwnMatchEarly": Mutant(CountsOwnMatchEarly, "leader-counts-itself-once-durable", "g", disk="async"),
}
