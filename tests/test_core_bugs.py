"""Known bugs of Raft election implementations, one test each.

Every test runs a scenario that exposes the bug. It must come out safe with the real ElectionCore, and where a
small mutant (a subclass that reintroduces the bug) can be written, the same scenario must catch the mutant,
which shows the test would notice a regression.

At the end, a property test drives small clusters through random schedules (reordering, drops, duplicates,
timeouts, crashes and restarts) and checks election safety after every single Output.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any
from functools import partial

from core_harness import (Cluster, apply_persist, events_named, make_core, msgs, transfer_leadership,
                          vote_requests_after_isolation)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftzmq.protocol.core import CANDIDATE, FOLLOWER, LEADER, PRECANDIDATE, ElectionCore, ElectionRules, HardState, Output
from raftzmq.lab.conform.mutants import NaiveTally, PersistsView, configured  # the gallery of mutant cores lives in the package (raftzmq conform)
from raftzmq.protocol.messages import AppendEntries, Message, RequestVote, VoteResponse
from raftzmq.runtime.node.embedding import Apply, embed

# ---------------------------------------------------------------------------------------------- mutants


class ForgetsSelfVote(PersistsView):
    """Bug: the candidate bumps the term durably but does not persist its vote for itself (composition: the
    hard state the embedding is asked to save leaves out a vote for itself)."""

    def view(self, term, voted_for):
        return (term, None) if voted_for == self.inner.id else (term, voted_for)


class _ForgetsVoteOnStepDown(ElectionRules):
    def keeps_vote_on_step_down(self, core):
        return False


ForgetsVoteOnStepDown = configured("ForgetsVoteOnStepDown", "Bug: becoming follower clears votedFor even when the "
                                   "term does not change.", _ForgetsVoteOnStepDown())


class _LeaseForPreVotesOnly(ElectionRules):
    def lease_ignores(self, core, msg):
        return False


LeaseForPreVotesOnly = configured("LeaseForPreVotesOnly", """Bug: CheckQuorum's lease covers pre-votes only, so a
    real RequestVote of a higher term deposes a healthy leader (what this core did before it followed etcd-io/raft's
    inLease).""", _LeaseForPreVotesOnly())


class _LeaseIgnoresTransfers(ElectionRules):
    def lease_ignores(self, core, msg):
        if isinstance(msg, RequestVote) and msg.transfer:
            msg = RequestVote(msg.term, msg.src, msg.dst, prevote=msg.prevote)
        return super().lease_ignores(core, msg)


LeaseIgnoresTransfers = configured("LeaseIgnoresTransfers", "Bug: the lease does not look at the transfer flag, so "
                                   "a leadership transfer cannot get its votes.", _LeaseIgnoresTransfers())


def naive(**flags) -> type[ElectionCore]:
    return type("NaiveTally_" + "_".join(f"{k}_{v}" for k, v in flags.items()), (NaiveTally,), flags)


def votes_by_node_and_term(transcript) -> dict[tuple[int, int], set[int]]:
    """(voter, term) -> the candidates it said vote_granted to; more than one is a double vote."""
    votes: dict[tuple[int, int], set[int]] = {}
    for i, out in transcript:
        for e in events_named(out, "vote_granted"):
            votes.setdefault((i, e.term), set()).add(e.fields["candidate"])
    return votes


def leaders_by_term(transcript) -> dict[int, set[int]]:
    leaders: dict[int, set[int]] = {}
    for i, out in transcript:
        for e in events_named(out, "became_leader"):
            leaders.setdefault(e.term, set()).add(i)
    return leaders


# ---------------------------------------------------------------------------------------------- 1. self-vote


def _self_vote_scenario(core_cls) -> Cluster:
    """Node 1 campaigns at term 1 and crashes right after sending its RequestVotes; it restarts from disk and then
    hears node 2's RequestVote for term 1."""
    c = Cluster(3, prevote=False, core_cls=core_cls)
    c.fire(1)
    c.pending = []  # its RequestVotes are lost with the crash (sent or not, it does not matter)
    c.restart(1)
    c.step(RequestVote(1, 2, 1))
    return c


def test_candidate_self_vote_is_persisted_with_its_request_votes():
    """Thesis §3.8: a candidate's vote for itself is a vote like any other. The Output that carries its
    RequestVotes must persist HardState(term+1, self); otherwise after a crash it votes again in the same term."""
    c = _self_vote_scenario(ElectionCore)
    first = c.transcript[0][1]
    assert msgs(first, RequestVote) and first.persist == HardState(1, 1)
    assert c[1].hard_state() == HardState(1, 1)
    assert msgs(c.transcript[-1][1], VoteResponse)[0].granted is False
    assert max(map(len, votes_by_node_and_term(c.transcript).values())) == 1

    bad = _self_vote_scenario(ForgetsSelfVote)
    assert bad.transcript[0][1].persist == HardState(1, None)
    assert votes_by_node_and_term(bad.transcript)[(1, 1)] == {1, 2}  # the double vote is caught


# ---------------------------------------------------------------------------------------------- 2. step-down


def _candidate_meets_leader_then_restarts(core_cls):
    core = make_core(1, n=5, state=HardState(4), prevote=False, core_cls=core_cls)
    durable = HardState(4)
    out = core.tick(core.deadline)  # candidate at 5, voted for itself
    durable = apply_persist(durable, out)
    out = core.step(AppendEntries(5, 2, 1), core.now + 0.01)  # node 2 won term 5
    durable = apply_persist(durable, out)
    assert core.role == FOLLOWER and core.term == 5
    restarted = make_core(1, n=5, state=durable, prevote=False, core_cls=core_cls)
    answer = restarted.step(RequestVote(5, 3, 1), core.now + 0.02)
    return core, durable, msgs(answer, VoteResponse)[0]


def _leader_loses_quorum_then_hears_rival(core_cls):
    """5 nodes, term 5: node 1 wins with votes from 2 and 4 while node 3 is still campaigning; node 1 then loses
    its quorum (CheckQuorum) and steps down in term 5; node 3's late RequestVote for term 5 arrives."""
    core = make_core(1, n=5, state=HardState(4), prevote=False, core_cls=core_cls)
    core.tick(core.deadline)
    for p in (2, 4):
        core.step(VoteResponse(5, p, 1, granted=True), core.now)
    assert core.role == LEADER
    while core.role == LEADER:
        core.tick(core.deadline)
    out = core.step(RequestVote(5, 3, 1), core.now)
    return core, msgs(out, VoteResponse)[0]


def test_vote_is_kept_when_a_candidate_steps_down_in_the_same_term():
    """§5.2: one vote per term. A candidate that meets the leader of its own term becomes follower but has still
    voted (for itself) in that term: the vote stays in memory and on disk, and another candidate of that term is
    denied — also after a restart, when the node no longer knows who the leader is."""
    core, durable, answer = _candidate_meets_leader_then_restarts(ElectionCore)
    assert core.voted_for == 1 and durable == HardState(5, 1)
    assert answer.granted is False

    core, durable, answer = _candidate_meets_leader_then_restarts(ForgetsVoteOnStepDown)
    assert durable == HardState(5, None) and answer.granted is True  # caught


def test_vote_is_kept_when_a_leader_steps_down_in_the_same_term():
    """Same rule, other path: a leader deposed by CheckQuorum stays in its term and keeps its vote, so a rival
    candidate of that term cannot collect it (which could make two leaders in one term)."""
    core, answer = _leader_loses_quorum_then_hears_rival(ElectionCore)
    assert (core.role, core.term, core.voted_for) == (FOLLOWER, 5, 1)
    assert answer.granted is False

    _, answer = _leader_loses_quorum_then_hears_rival(ForgetsVoteOnStepDown)
    assert answer.granted is True  # caught


# ---------------------------------------------------------------------------------------------- 3-5. vote counting


def _stale_response_scenario(core_cls):
    core = make_core(1, n=3, state=HardState(4), prevote=False, core_cls=core_cls)
    core.tick(core.deadline)  # candidate at 5; nobody answers in time
    core.tick(core.deadline)  # candidate at 6
    core.step(VoteResponse(5, 2, 1, granted=True), core.now)  # node 2's late answer for term 5
    return core


def test_stale_vote_responses_are_not_counted():
    """§5.1: a vote is for one term. A grant from term T-1 arriving while a candidate campaigns in T must not
    count toward T (node 2 may well vote for somebody else in T)."""
    core = _stale_response_scenario(ElectionCore)
    assert (core.role, core.term) == (CANDIDATE, 6)
    assert _stale_response_scenario(naive(check_term=False)).role == LEADER  # caught


def _duplicate_scenario(core_cls):
    core = make_core(1, n=5, state=HardState(4), prevote=False, core_cls=core_cls)
    core.tick(core.deadline)
    for _ in range(3):  # the network delivers node 2's grant three times
        core.step(VoteResponse(5, 2, 1, granted=True), core.now)
    return core


def test_duplicate_votes_from_one_voter_count_once():
    """A majority is a majority of distinct servers: 1 + node 2 (three times) is 2 of 5, not 4."""
    core = _duplicate_scenario(ElectionCore)
    assert core.role == CANDIDATE and core.votes == {1, 2}
    assert _duplicate_scenario(naive(dedupe=False)).role == LEADER  # caught


def _prevote_as_vote_scenario(core_cls):
    """Node 1 at term 4 wins the pre-vote with node 2's grant and campaigns at 5; node 3's late pre-vote grant
    (which also says term 5) arrives."""
    core = make_core(1, n=3, state=HardState(4), prevote=True, core_cls=core_cls)
    core.tick(core.deadline)
    core.step(VoteResponse(5, 2, 1, granted=True, prevote=True), core.now)
    assert core.role == CANDIDATE and core.term == 5
    core.step(VoteResponse(5, 3, 1, granted=True, prevote=True), core.now)
    return core


def test_prevote_responses_are_not_counted_as_votes():
    """Thesis §9.6: a pre-vote grant promises nothing (node 3 has not voted in term 5); it is no vote."""
    core = _prevote_as_vote_scenario(ElectionCore)
    assert core.role == CANDIDATE and core.votes == {1}
    assert _prevote_as_vote_scenario(naive(check_kind=False)).role == LEADER  # caught


def _vote_as_prevote_scenario(core_cls):
    """Node 1 campaigned at 5 (real votes) and timed out; in its next pre-vote round a late real grant for term 5
    arrives, and node 3 sends a real grant carrying term 6 (a confused peer)."""
    core = make_core(1, n=5, state=HardState(4), prevote=True, core_cls=core_cls)
    core.tick(core.deadline)
    core.step(VoteResponse(5, 2, 1, granted=True, prevote=True), core.now)
    core.step(VoteResponse(5, 3, 1, granted=True, prevote=True), core.now)
    assert core.role == CANDIDATE and core.term == 5
    core.tick(core.deadline)
    assert core.role == PRECANDIDATE
    core.step(VoteResponse(5, 2, 1, granted=True), core.now)
    core.step(VoteResponse(5, 4, 1, granted=True), core.now)
    return core


def test_votes_are_not_counted_as_prevotes():
    """A real vote answers a different question (and a different term) than the pre-vote round in progress."""
    core = _vote_as_prevote_scenario(ElectionCore)
    assert (core.role, core.term, core.votes) == (PRECANDIDATE, 5, {1})
    assert _vote_as_prevote_scenario(naive(check_kind=False, check_term=False)).role == CANDIDATE  # caught


# ---------------------------------------------------------------------------------------------- 6. restart


def _restart_scenario(persist_mode: str) -> Cluster:
    """Nodes 1 and 2 both campaign at term 1. Node 3 votes for 1 (who wins), crashes, restarts from disk, and
    then receives node 2's RequestVote for term 1."""
    c = Cluster(3, prevote=False, fracs=[0.0, 0.0, 0.9], persist_mode=persist_mode)
    c.fire(1)
    c.fire(2)
    c.take(lambda m: (m.src, m.dst) == (1, 3))
    c.take(lambda m: (m.src, m.dst) == (3, 1))
    assert c.leaders() == [1]
    c.restart(3)
    c.take(lambda m: (m.src, m.dst) == (2, 3))
    c.take(lambda m: (m.src, m.dst) == (3, 2))
    return c


def test_restarted_node_refuses_to_vote_again_in_a_term_it_voted_in():
    """Thesis §3.8: with HardState(T, X) on disk, a restarted node denies any Y != X in term T — otherwise two
    leaders can be elected in T. The deliberately unsafe term-only mode shows the failure."""
    c = _restart_scenario("term+vote")
    assert c[3].hard_state() == HardState(1, 1)
    assert c.leaders() == [1]
    assert leaders_by_term(c.transcript) == {1: {1}}

    bad = _restart_scenario("term-only")
    assert leaders_by_term(bad.transcript) == {1: {1, 2}}  # caught: two leaders in term 1
    assert votes_by_node_and_term(bad.transcript)[(3, 1)] == {1, 2}


def test_restart_with_persisted_vote_for_self_does_not_vote_for_others():
    core = make_core(1, state=HardState(9, 1))
    assert msgs(core.step(RequestVote(9, 2, 1), 0.01), VoteResponse)[0].granted is False


# ---------------------------------------------------------------------------------------------- property test


# ---------------------------------------------------------------------------------------------- CheckQuorum's lease


def test_vote_requests_from_a_node_back_from_isolation_do_not_depose_the_leader():
    """PreVote off, CheckQuorum on: the returning node's inflated RequestVotes are ignored inside the lease. The
    mutant whose lease covers pre-votes only lets them depose the leader."""
    c = vote_requests_after_isolation(check_quorum=True)
    assert c.leaders() == [1] and c[1].term == 1
    bad = vote_requests_after_isolation(LeaseForPreVotesOnly, check_quorum=True)
    assert bad.leaders() == [] and bad[1].term == 5


def test_a_leadership_transfer_passes_the_lease():
    """The transfer target's requests say so on the wire; the lease lets them through. The mutant that ignores
    the flag leaves the transfer stuck: nobody grants, the old leader stays."""
    c = transfer_leadership(check_quorum=True, prevote=False)
    assert c.leaders() == [2] and c[2].term == 2
    bad = transfer_leadership(LeaseIgnoresTransfers, check_quorum=True, prevote=False)
    assert bad.leaders() == [1] and bad[2].role == CANDIDATE


@dataclass
class Sim:
    """A few cores under an adversarial scheduler; `violations` lists every safety rule broken so far."""

    n: int
    seed: int
    mode: str = "term+vote"
    prevote: bool = True
    check_quorum: bool = True
    now: float = 0.0
    pending: list = field(default_factory=list)
    violations: list = field(default_factory=list)
    embedding: Any = embed  # tests swap in a mutant embedding

    def __post_init__(self) -> None:
        self.ids = tuple(range(1, self.n + 1))
        self.durable = {i: HardState() for i in self.ids}
        self.cores: dict[int, ElectionCore] = {}
        self.last_term = {i: 0 for i in self.ids}
        self.votes: dict[tuple[int, int], int] = {}
        self.leaders: dict[int, int] = {}
        self.record_term: dict[int, int] = {}
        self.apply: dict[int, Apply] = {}
        self.boots = 0
        for i in self.ids:
            self.boot(i)

    def boot(self, i: int) -> None:
        self.boots += 1
        rng = random.Random(self.seed * 1000 + self.boots)
        self.cores[i] = make_core(
            i, self.n, state=self.durable[i], now=self.now, rng=rng, prevote=self.prevote,
            check_quorum=self.check_quorum, persist_mode=self.mode,
        )
        self.record_term[i] = self.durable[i].term  # node_started logs the loaded term
        self.apply[i] = self.embedding(partial(self.save, i), partial(self.log, i), lambda ms: self.pending.extend(ms))

    def record(self, i: int, out: Output) -> None:
        core = self.cores[i]
        if core.term < self.last_term[i]:
            self.violations.append(f"node {i} term went back {self.last_term[i]} -> {core.term}")
        self.last_term[i] = core.term
        self.apply[i](out)

    def save(self, i: int, state: HardState) -> None:
        self.durable[i] = state

    def log(self, i: int, event: str, *, term: int, **fields) -> None:
        """Checked at the moment the embedding logs each record, so the checks see the embedding's order."""
        if term < self.record_term[i]:
            self.violations.append(f"node {i} logged {event} at term {term} after term {self.record_term[i]}")
        self.record_term[i] = term
        if event == "vote_granted":
            cand = fields["candidate"]
            if self.durable[i] != HardState(term, cand):
                self.violations.append(f"node {i} vote for {cand} in {term} not durable: {self.durable[i]}")
            if self.votes.setdefault((i, term), cand) != cand:
                self.violations.append(f"node {i} voted twice in term {term}")
        elif event == "became_leader":
            if self.leaders.setdefault(term, i) != i:
                self.violations.append(f"two leaders in term {term}: {self.leaders[term]} and {i}")

    def act(self, action: str, x: int) -> None:
        i = self.ids[x % self.n]
        core = self.cores[i]
        if action == "tick":
            self.now += (x % 97) / 1000
            self.record(i, core.tick(self.now))
        elif action == "fire":
            self.now = max(self.now, core.deadline)
            self.record(i, core.tick(self.now))
        elif action == "restart":
            self.boot(i)
        elif action == "transfer":
            if core.role == LEADER:
                peers = [p for p in self.ids if p != i]
                self.record(i, core.transfer_leadership(peers[(x // self.n) % len(peers)], self.now))
        elif self.pending:
            k = x % len(self.pending)
            msg = self.pending[k] if action == "dup" else self.pending.pop(k)
            if action != "drop":
                self.record(msg.dst, self.cores[msg.dst].step(msg, self.now))


ACTIONS = ["deliver"] * 6 + ["tick", "tick", "fire", "drop", "dup", "restart", "transfer"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.sampled_from([3, 5]),
    prevote=st.booleans(),
    check_quorum=st.booleans(),
    seed=st.integers(0, 2**20),
    actions=st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 2**16)), max_size=250),
)
def test_random_schedules_keep_election_safety(n, prevote, check_quorum, seed, actions):
    """Under any order, loss or duplication of messages, any timing and any crash/restart: at most one leader per
    term, no node's term ever decreases, no node votes twice in a term, and every vote_granted is durable (the
    persist of its own or an earlier Output covers it) by the time it is logged."""
    sim = Sim(n, seed, prevote=prevote, check_quorum=check_quorum)
    for action, x in actions:
        sim.act(action, x)
        assert not sim.violations, sim.violations


def _random_run(seed: int, mode: str, embedding: Any = embed) -> Sim:
    r = random.Random(seed)
    sim = Sim(r.choice([3, 5]), seed, mode=mode, prevote=r.random() < 0.5, check_quorum=r.random() < 0.5,
              embedding=embedding)
    for _ in range(400):
        sim.act(r.choice(ACTIONS), r.randrange(2**16))
    return sim


def test_random_schedules_are_not_vacuous():
    """The schedules above really elect leaders, in several terms (so the property test checks something)."""
    runs = [_random_run(seed, "term+vote") for seed in range(60)]
    assert all(not s.violations for s in runs)
    assert sum(1 for s in runs if s.leaders) > 40
    assert sum(1 for s in runs if len(s.leaders) >= 3) > 20


def test_random_schedules_catch_the_unsafe_term_only_mode():
    """The same checks find what not persisting votedFor allows (persist_mode="term-only"): votes that are not
    durable, nodes voting twice in a term after a restart, and — more rarely — two leaders in one term."""
    found = [v for seed in range(300) for v in _random_run(seed, "term-only").violations]
    assert any("not durable" in v for v in found)
    assert any("voted twice" in v for v in found)
    assert any("two leaders" in v for v in found)


def _persist_first(save, log, send, failpoint=None):
    """Mutant embedding: logs state_persisted before all of the step's events (the order before issue 6)."""

    def apply(out: Output) -> None:
        if out.persist is not None:
            save(out.persist)
            log("state_persisted", term=out.persist.term, voted_for=out.persist.voted_for)
        for ev in out.events:
            log(ev.name, term=ev.term, **ev.fields)
        if out.messages:
            send(out.messages)
    return apply


def test_records_never_go_back_in_term_and_the_old_order_would():
    """The embedding logs records in the core's order, so a node's records are monotone in term; logging
    state_persisted first puts the new term before the old term's election_timeout (caught by the same runs)."""
    assert all(not _random_run(seed, "term+vote").violations for seed in range(30))
    found = [v for seed in range(30) for v in _random_run(seed, "term+vote", _persist_first).violations]
    assert any("logged election_timeout at term" in v for v in found), found[:5]
