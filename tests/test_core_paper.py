"""One test per rule of leader election, in the spirit of etcd-io/raft's raft_paper_test.go.

Sources: the Raft paper (Ongaro & Ousterhout 2014) sections 5.1-5.2 and Figure 2, and Ongaro's thesis (2014)
sections 3.4 (election), 3.6 (election timeout / safety), 3.8 (persisted state), 3.10 and 6.4.1 / 9.6 (PreVote,
CheckQuorum, leadership transfer). Each docstring quotes or paraphrases the rule it checks.
"""
from __future__ import annotations

import itertools
import random

import pytest
from core_harness import (
    ET_MAX,
    ET_MIN,
    HB,
    Cluster,
    FixedRng,
    SeqRng,
    apply_persist,
    events_named,
    make_core,
    msgs,
    names,
    vote_requests_after_isolation,
)

from raftzmq.protocol.core import (
    CANDIDATE,
    FOLLOWER,
    LEADER,
    PRECANDIDATE,
    TRANSITIONS,
    CoreConfig,
    ElectionCore,
    HardState,
    IllegalTransition,
)
from raftzmq.protocol.messages import AppendEntries, AppendResponse, RequestVote, TimeoutNow, VoteResponse
from raftzmq.protocol.quorum import majority

EPS = 1e-6


# ---------------------------------------------------------------------------------------------- helpers


def timeout(core: ElectionCore):
    """Let the core's election timer fire."""
    return core.tick(core.deadline)


def candidate_core(n=3, term=4, **cfg) -> tuple[ElectionCore, object]:
    """Node 1 as a candidate at term+1 (prevote off), plus the Output of its campaign."""
    core = make_core(1, n, state=HardState(term), prevote=False, **cfg)
    out = timeout(core)
    assert core.role == CANDIDATE
    return core, out


def leader_core(n=3, term=4, **cfg) -> ElectionCore:
    core, _ = candidate_core(n, term, **cfg)
    for peer in core.peers[: core.quorum - 1]:
        core.step(VoteResponse(core.term, peer, 1, granted=True), core.now)
    assert core.role == LEADER
    return core


def core_in_role(role: str, n=3, **cfg) -> ElectionCore:
    """Node 1 at term 5 in `role`, having voted in term 5 (for 2 as a follower or pre-candidate, else for itself)."""
    if role == FOLLOWER:
        core = make_core(1, n, state=HardState(5, 2), **cfg)
    elif role == PRECANDIDATE:
        core = make_core(1, n, state=HardState(5, 2), **{"prevote": True, **cfg})
        timeout(core)
    elif role == CANDIDATE:
        core, _ = candidate_core(n, term=4, **cfg)
    else:
        core = leader_core(n, term=4, **cfg)
    assert (core.role, core.term) == (role, 5)
    return core


def elect_node_1(n=3, **cfg) -> Cluster:
    c = Cluster(n, **cfg)
    c.fire(1)
    c.stabilize()
    assert c.leaders() == [1]
    return c


# ---------------------------------------------------------------------------------------------- §5.1-5.2 basics


def test_node_starts_as_follower():
    """§5.2: "When servers start up, they begin as followers." The persisted term and vote are restored."""
    core = make_core(1, state=HardState(7, 3), now=10.0)
    assert core.role == FOLLOWER
    assert (core.term, core.voted_for, core.leader) == (7, 3, None)
    assert core.hard_state() == HardState(7, 3)
    assert 10.0 + ET_MIN <= core.deadline <= 10.0 + ET_MAX


def test_follower_does_nothing_before_its_election_timeout():
    """§5.2: a follower remains a follower as long as the timeout has not elapsed."""
    core = make_core(1)
    out = core.tick(core.deadline - EPS)
    assert (out.persist, out.messages, out.events) == (None, [], [])
    assert core.role == FOLLOWER


def test_follower_without_heartbeat_starts_election_with_prevote():
    """§5.2 + thesis §9.6: after an election timeout with no heartbeat, a PreVote node becomes pre-candidate:
    it asks every peer "would you vote for me at term+1?" and changes neither its term nor its vote."""
    core = make_core(1, n=3, state=HardState(2, None), prevote=True)
    out = timeout(core)
    assert core.role == PRECANDIDATE
    assert (core.term, core.voted_for) == (2, None)
    assert out.persist is None
    assert names(out) == ["election_timeout", "became_precandidate"]
    assert sorted(m.dst for m in msgs(out, RequestVote, term=3, prevote=True, src=1)) == [2, 3]
    assert len(out.messages) == 2


def test_follower_without_heartbeat_starts_election_without_prevote():
    """§5.2: "To begin an election, a follower increments its current term and transitions to candidate state.
    It then votes for itself and issues RequestVote RPCs in parallel to each of the other servers.\""""
    core = make_core(1, n=3, state=HardState(2, 3), prevote=False)
    out = timeout(core)
    assert core.role == CANDIDATE
    assert (core.term, core.voted_for) == (3, 1)
    assert out.persist == HardState(3, 1)
    assert names(out) == ["election_timeout", "became_candidate", "vote_granted"]
    assert sorted(m.dst for m in msgs(out, RequestVote, term=3, prevote=False, src=1)) == [2, 3]


def test_election_timeout_is_drawn_uniformly_from_min_max_and_redrawn_at_every_reset():
    """§5.2: "election timeouts are chosen randomly from a fixed interval (e.g., 150-300ms)"; §9.3 of the thesis:
    a new timeout is chosen at every reset so that colliding candidates are unlikely to collide again."""
    rng = SeqRng([i / 16 for i in (0, 8, 16, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13)])
    core = make_core(1, n=3, rng=rng, prevote=False, check_quorum=False)  # no lease: the vote below is granted
    assert core.deadline == pytest.approx(0.0 + ET_MIN)

    def check_redrawn(before: int) -> None:
        assert len(rng.calls) > before, "the timer was reset without a fresh draw"
        assert core.deadline == pytest.approx(core.now + rng.calls[-1][2])

    resets = [
        lambda: core.step(AppendEntries(1, 2, 1), 0.1),  # heartbeat
        lambda: core.step(AppendEntries(1, 2, 1), 0.2),  # another heartbeat from the same leader
        lambda: timeout(core),  # campaigning
        lambda: core.step(AppendEntries(9, 3, 1), core.now + 0.01),  # stepping down to a higher term
        lambda: core.step(RequestVote(10, 2, 1), core.now + 0.01),  # granting a vote
    ]
    for reset in resets:
        before = len(rng.calls)
        reset()
        check_redrawn(before)
    assert all((a, b) == (ET_MIN, ET_MAX) for a, b, _ in rng.calls)
    assert len({v for _, _, v in rng.calls}) == len(rng.calls)  # every draw was used fresh


def test_election_timeout_with_a_real_rng_stays_in_range_and_varies():
    """§5.2: each reset draws a fresh random timeout within [min, max]."""
    core = make_core(1, rng=random.Random(42))
    offsets = []
    for i in range(200):
        now = 1.0 + i * 0.01
        core.step(AppendEntries(1, 2, 1), now)
        offsets.append(core.deadline - now)
    assert all(ET_MIN - EPS <= d <= ET_MAX + EPS for d in offsets)
    assert len({round(d, 9) for d in offsets}) > 150
    assert min(offsets) < ET_MIN + 0.2 * (ET_MAX - ET_MIN) and max(offsets) > ET_MAX - 0.2 * (ET_MAX - ET_MIN)


@pytest.mark.parametrize("n", [3, 5, 7])
def test_candidate_sends_request_vote_to_every_peer(n):
    """§5.2: the candidate "issues RequestVote RPCs in parallel to each of the other servers in the cluster"."""
    _, out = candidate_core(n)
    requests = msgs(out, RequestVote)
    assert sorted(m.dst for m in requests) == list(range(2, n + 1))
    assert all(m.term == 5 and m.src == 1 and not m.prevote for m in requests)


@pytest.mark.parametrize("n, grants_needed", [(3, 1), (5, 2), (7, 3)])
def test_candidate_wins_with_votes_from_a_majority(n, grants_needed):
    """§5.2: "A candidate wins an election if it receives votes from a majority of the servers in the full cluster
    for the same term" (its own vote included: 2 of 3, 3 of 5, 4 of 7). Denials do not count."""
    assert grants_needed + 1 == majority(n)
    core, _ = candidate_core(n)
    peers = list(core.peers)
    for p in peers[grants_needed:]:  # every other peer says no
        out = core.step(VoteResponse(5, p, 1, granted=False), core.now)
        assert core.role == CANDIDATE
    for p in peers[: grants_needed - 1]:
        core.step(VoteResponse(5, p, 1, granted=True), core.now)
        assert core.role == CANDIDATE
    out = core.step(VoteResponse(5, peers[grants_needed - 1], 1, granted=True), core.now)
    assert core.role == LEADER and core.leader == 1 and core.term == 5
    assert "became_leader" in names(out)


def test_new_leader_sends_heartbeats_to_every_peer_at_once():
    """§5.2: once a candidate wins, "it then sends heartbeat messages to all of the other servers to establish its
    authority and prevent new elections"."""
    core, _ = candidate_core(5)
    core.step(VoteResponse(5, 2, 1, granted=True), core.now)
    out = core.step(VoteResponse(5, 3, 1, granted=True), core.now)
    assert sorted(m.dst for m in msgs(out, AppendEntries, term=5, src=1)) == [2, 3, 4, 5]
    assert out.deadline == pytest.approx(core.now + HB)


def test_leader_sends_heartbeats_every_heartbeat_interval():
    """§5.2: "Leaders send periodic heartbeats ... to all followers in order to maintain their authority."""
    core = leader_core(3, check_quorum=False)
    due = core.now + HB
    for _ in range(5):
        assert core.deadline == pytest.approx(due)
        assert core.tick(due - EPS).messages == []  # not yet
        out = core.tick(due)
        assert sorted(m.dst for m in msgs(out, AppendEntries, term=5)) == [2, 3]
        due += HB


def test_follower_hearing_heartbeats_never_starts_an_election():
    """§5.2: "A server remains in follower state as long as it receives valid RPCs from a leader"; each heartbeat
    resets the election timer."""
    core = make_core(1, state=HardState(3))
    now = 0.0
    for _ in range(50):
        now += ET_MIN * 0.9
        out = core.step(AppendEntries(3, 2, 1), now)
        assert msgs(out, AppendResponse, term=3, success=True, dst=2)
        assert core.tick(now + ET_MIN * 0.89).messages == []
    assert core.role == FOLLOWER and core.leader == 2 and core.term == 3


@pytest.mark.parametrize("prevote", [True, False])
def test_candidate_receiving_heartbeat_from_leader_of_its_term_becomes_follower(prevote):
    """§5.2: "If the leader's term ... is at least as large as the candidate's current term, then the candidate
    recognizes the leader as legitimate and returns to follower state." Its vote in that term is kept."""
    if prevote:
        core = make_core(1, state=HardState(5, 3), prevote=True)
        timeout(core)
        assert core.role == PRECANDIDATE
    else:
        core, _ = candidate_core(3, term=4)
    voted = core.voted_for
    out = core.step(AppendEntries(5, 2, 1), core.now + 0.01)
    assert (core.role, core.term, core.leader, core.voted_for) == (FOLLOWER, 5, 2, voted)
    assert out.persist is None
    assert msgs(out, AppendResponse, term=5, success=True, dst=2)


def test_candidate_whose_election_times_out_starts_a_new_election():
    """§5.2: "If many followers become candidates at the same time, votes could be split ... each candidate will
    time out and start a new election by incrementing its term and initiating another round of RequestVote"."""
    core, _ = candidate_core(3, term=4)
    core.step(VoteResponse(5, 2, 1, granted=False), core.now)  # split vote
    out = timeout(core)
    assert (core.role, core.term, core.voted_for) == (CANDIDATE, 6, 1)
    assert out.persist == HardState(6, 1)
    assert sorted(m.dst for m in msgs(out, RequestVote, term=6, prevote=False)) == [2, 3]
    assert core.votes == set(), "the new election starts from scratch; our own vote is not durable yet"
    core.tick(core.now)  # the next input: the Ready that persisted it has been carried out
    assert core.votes == {1}


def test_candidate_with_prevote_whose_election_times_out_goes_back_to_prevote():
    """Thesis §9.6: with PreVote every new election starts with a pre-vote round, also after a failed one."""
    core = make_core(1, state=HardState(4), prevote=True)
    timeout(core)
    core.step(VoteResponse(5, 2, 1, granted=True, prevote=True), core.now)
    assert (core.role, core.term) == (CANDIDATE, 5)
    out = timeout(core)
    assert (core.role, core.term, core.voted_for) == (PRECANDIDATE, 5, 1)
    assert out.persist is None
    assert sorted(m.dst for m in msgs(out, RequestVote, term=6, prevote=True)) == [2, 3]


# ---------------------------------------------------------------------------------------------- terms


HIGHER_TERM_MESSAGES = {
    "heartbeat": (AppendEntries(9, 2, 1), 2),
    "append_response": (AppendResponse(9, 2, 1, success=False), None),
    "vote_denied": (VoteResponse(9, 2, 1, granted=False), None),
    "prevote_denied": (VoteResponse(9, 2, 1, granted=False, prevote=True), None),
}


@pytest.mark.parametrize("role", [FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER])
@pytest.mark.parametrize("kind", sorted(HIGHER_TERM_MESSAGES))
def test_any_message_with_higher_term_makes_node_adopt_term_become_follower_and_clear_vote(role, kind):
    """Figure 2, "Rules for Servers": "If RPC request or response contains term T > currentTerm: set currentTerm = T,
    convert to follower." A new term has no vote yet, so votedFor is cleared (and persisted)."""
    core = core_in_role(role)
    msg, leader = HIGHER_TERM_MESSAGES[kind]
    out = core.step(msg, core.now + 0.01)
    assert (core.role, core.term, core.voted_for, core.leader) == (FOLLOWER, 9, None, leader)
    assert out.persist == HardState(9, None)
    stepped = events_named(out, "stepped_down")
    if role == FOLLOWER:
        assert stepped == []
    else:
        assert [(e.term, e.fields["reason"]) for e in stepped] == [(9, "higher_term")]


@pytest.mark.parametrize("role", [FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER])
def test_higher_term_request_vote_makes_node_follower_and_then_vote(role):
    """Figure 2: step down on a higher term first; then the RequestVote is judged in the new term, where the node
    has not voted yet, so it grants (and persists term and vote together). (Figure 2 alone: CheckQuorum's lease,
    which makes a leader ignore such a request, is tested below.)"""
    core = core_in_role(role, check_quorum=False)
    out = core.step(RequestVote(9, 3, 1), core.now + 0.01)
    assert (core.role, core.term, core.voted_for) == (FOLLOWER, 9, 3)
    assert out.persist == HardState(9, 3)
    assert msgs(out, VoteResponse, term=9, granted=True, dst=3)


@pytest.mark.parametrize("prevote", [False, True])
def test_lower_term_request_vote_is_denied_with_current_term(prevote):
    """Figure 2, RequestVote receiver: "Reply false if term < currentTerm"; the reply carries currentTerm so the
    candidate can update itself. Nothing else changes."""
    core = make_core(1, state=HardState(7))
    deadline = core.deadline
    out = core.step(RequestVote(6, 2, 1, prevote=prevote), 0.05)
    assert msgs(out, VoteResponse) == [VoteResponse(7, 1, 2, granted=False, prevote=prevote)]
    assert (core.term, core.voted_for, core.deadline) == (7, None, deadline)
    assert out.persist is None
    assert [e.fields["reason"] for e in out.events] == ["stale_term"]


def test_lower_term_heartbeat_is_answered_with_current_term_and_stale_leader_steps_down():
    """Figure 2, AppendEntries receiver: "Reply false if term < currentTerm"; §5.1: "If a candidate or leader
    discovers that its term is out of date, it immediately reverts to follower state." The follower's timer and
    leader are not touched by the stale heartbeat."""
    stale = leader_core(3, term=4)  # leader of term 5
    follower = make_core(2, state=HardState(8))
    deadline = follower.deadline
    hb = msgs(stale.tick(stale.deadline), AppendEntries, dst=2)[0]
    out = follower.step(hb, stale.now)
    reply = msgs(out, AppendResponse)
    assert reply == [AppendResponse(8, 2, 1, success=False)]
    assert (follower.leader, follower.deadline, follower.term) == (None, deadline, 8)
    out = stale.step(reply[0], stale.now)
    assert (stale.role, stale.term, stale.leader) == (FOLLOWER, 8, None)
    assert [e.fields["reason"] for e in events_named(out, "stepped_down")] == ["higher_term"]


def test_lower_term_timeout_now_is_answered_and_ignored():
    """§5.1: a request from a stale term is rejected with the current term; a stale TimeoutNow must not start an
    election."""
    core = make_core(1, state=HardState(7))
    out = core.step(TimeoutNow(6, 2, 1), 0.01)
    assert out.messages == [AppendResponse(7, 1, 2, success=False)]
    assert core.role == FOLLOWER and core.term == 7


def test_stale_vote_responses_are_ignored():
    """§5.1: "If a server receives a request with a stale term number, it rejects the request"; responses from an
    older term are answers to a finished election and are dropped."""
    core, _ = candidate_core(3, term=4)  # candidate at 5
    timeout(core)  # candidate at 6
    out = core.step(VoteResponse(5, 2, 1, granted=True), core.now)
    assert (core.role, core.term, core.votes) == (CANDIDATE, 6, {1})
    assert (out.persist, out.messages) == (None, [])


def test_stale_append_responses_do_not_keep_a_leader_alive():
    """Thesis §6.2 (CheckQuorum) counts only responses of the leader's own term."""
    core = leader_core(3, term=4)
    t = core.now
    while core.role == LEADER and core.now < t + 3 * ET_MAX:
        core.tick(core.deadline)
        for p in (2, 3):
            core.step(AppendResponse(4, p, 1), core.now)
    assert core.role == FOLLOWER


# ---------------------------------------------------------------------------------------------- voting


def test_follower_grants_at_most_one_vote_per_term_first_come_first_served():
    """§5.2: "Each server will vote for at most one candidate in a given term, on a first-come-first-served
    basis." Figure 2: grant only "if votedFor is null or candidateId"."""
    core = make_core(1, n=5, state=HardState(3))
    out = core.step(RequestVote(4, 2, 1), 0.01)
    assert msgs(out, VoteResponse) == [VoteResponse(4, 1, 2, granted=True)]
    for cand in (3, 4, 5):
        out = core.step(RequestVote(4, cand, 1), 0.02)
        assert msgs(out, VoteResponse) == [VoteResponse(4, 1, cand, granted=False)]
        assert events_named(out, "vote_denied")[0].fields == {"candidate": cand, "reason": "voted_for_2"}
        assert out.persist is None
    assert core.voted_for == 2


def test_follower_regrants_to_the_same_candidate_on_a_duplicate_request():
    """Figure 2: grant if votedFor is candidateId — a retransmitted RequestVote gets the same answer."""
    core = make_core(1, state=HardState(3))
    first = core.step(RequestVote(4, 2, 1), 0.01)
    again = core.step(RequestVote(4, 2, 1), 0.02)
    assert msgs(again, VoteResponse) == msgs(first, VoteResponse) == [VoteResponse(4, 1, 2, granted=True)]
    assert first.persist == HardState(4, 2)
    assert again.persist is None  # already durable
    assert core.voted_for == 2


def test_restored_vote_is_honoured_after_restart():
    """Thesis §3.8: votedFor is persistent state; a server restarted in term T keeps its vote in T."""
    core = make_core(1, state=HardState(4, 2))
    assert msgs(core.step(RequestVote(4, 3, 1), 0.01), VoteResponse)[0].granted is False
    assert msgs(core.step(RequestVote(4, 2, 1), 0.01), VoteResponse)[0].granted is True


def test_granting_a_vote_resets_the_election_timer_and_denying_does_not():
    """Figure 2, Followers: "If election timeout elapses without receiving AppendEntries RPC from current leader or
    granting vote to candidate: convert to candidate." A denied request does not count."""
    core = make_core(1, n=5, state=HardState(3))
    assert core.deadline == pytest.approx(ET_MIN)
    core.step(RequestVote(4, 2, 1), 0.1)
    assert core.deadline == pytest.approx(0.1 + ET_MIN)
    core.step(RequestVote(4, 3, 1), 0.2)  # denied: already voted
    assert core.deadline == pytest.approx(0.1 + ET_MIN)
    core.step(RequestVote(3, 4, 1), 0.2)  # denied: stale
    assert core.deadline == pytest.approx(0.1 + ET_MIN)


def test_node_that_knows_the_leader_of_the_term_does_not_vote_in_it():
    """§5.2 / election safety: a term has at most one leader; a follower already following this term's leader
    refuses a candidate of that same term (it could not win: the leader holds a majority)."""
    core = make_core(1, n=5, state=HardState(3))
    core.step(AppendEntries(4, 2, 1), 0.01)
    out = core.step(RequestVote(4, 3, 1), 0.02)
    assert msgs(out, VoteResponse)[0].granted is False
    assert events_named(out, "vote_denied")[0].fields["reason"] == "has_leader"
    assert core.voted_for is None


def test_vote_granted_events_name_the_candidate():
    """Every vote, the candidate's own included, is logged as vote_granted with the candidate's id and the term."""
    core, out = candidate_core(3, term=4)
    assert [(e.term, e.fields) for e in events_named(out, "vote_granted")] == [(5, {"candidate": 1})]
    follower = make_core(2, state=HardState(4))
    out = follower.step(RequestVote(5, 3, 2), 0.01)
    assert [(e.term, e.fields) for e in events_named(out, "vote_granted")] == [(5, {"candidate": 3})]


# ---------------------------------------------------------------------------------------------- PreVote (§9.6)


def test_prevote_receivers_do_not_change_their_term_or_vote():
    """Thesis §9.6: the pre-vote asks "would you vote for me?"; answering it changes no state on the receiver."""
    core = make_core(2, state=HardState(5, 3))
    deadline = core.deadline
    out = core.step(RequestVote(6, 1, 2, prevote=True), 0.01)
    assert msgs(out, VoteResponse) == [VoteResponse(6, 2, 1, granted=True, prevote=True)]
    assert (core.term, core.voted_for, core.role, core.deadline) == (5, 3, FOLLOWER, deadline)
    assert out.persist is None
    assert names(out) == ["prevote_granted"]
    # and it can still cast its real vote in term 6 for somebody else
    out = core.step(RequestVote(6, 3, 2), 0.02)
    assert msgs(out, VoteResponse)[0].granted is True and core.voted_for == 3


def test_prevote_is_denied_by_a_node_that_heard_from_a_live_leader_within_min_election_timeout():
    """Thesis §9.6 / §4.2.3: a server that has heard from a current leader within the minimum election timeout
    does not help anyone start an election; once the lease has run out it grants again."""
    core = make_core(2, state=HardState(5))
    core.step(AppendEntries(5, 3, 2), 1.0)
    out = core.step(RequestVote(6, 1, 2, prevote=True), 1.0 + ET_MIN - EPS)
    assert msgs(out, VoteResponse) == [VoteResponse(5, 2, 1, granted=False, prevote=True)]
    assert events_named(out, "prevote_denied")[0].fields["reason"] == "leader_alive"
    out = core.step(RequestVote(6, 1, 2, prevote=True), 1.0 + ET_MIN + EPS)
    assert msgs(out, VoteResponse) == [VoteResponse(6, 2, 1, granted=True, prevote=True)]


def test_leader_denies_prevotes():
    """Thesis §9.6: a live leader never helps another node start an election."""
    core = leader_core(3, term=4)
    out = core.step(RequestVote(6, 2, 1, prevote=True), core.now + 1.0)
    assert msgs(out, VoteResponse) == [VoteResponse(5, 1, 2, granted=False, prevote=True)]
    assert core.role == LEADER and core.term == 5


def test_prevote_for_a_term_not_above_the_receivers_is_denied():
    """A pre-vote for term T' <= currentTerm could never lead to a real vote, so it is denied with currentTerm."""
    core = make_core(2, state=HardState(6))
    out = core.step(RequestVote(6, 1, 2, prevote=True), 0.01)
    assert msgs(out, VoteResponse) == [VoteResponse(6, 2, 1, granted=False, prevote=True)]


@pytest.mark.parametrize("n", [3, 5])
def test_precandidate_with_a_majority_of_prevotes_becomes_candidate_at_term_plus_one(n):
    """Thesis §9.6: "only if the candidate hears back from a majority of the cluster does it increment its term
    and start a normal election"."""
    core = make_core(1, n=n, state=HardState(5))
    timeout(core)
    grants = majority(n) - 1
    for p in range(2, 2 + grants - 1):
        out = core.step(VoteResponse(6, p, 1, granted=True, prevote=True), core.now)
        assert (core.role, core.term) == (PRECANDIDATE, 5)
        assert out.persist is None
    out = core.step(VoteResponse(6, 1 + grants, 1, granted=True, prevote=True), core.now)
    assert (core.role, core.term, core.voted_for) == (CANDIDATE, 6, 1)
    assert out.persist == HardState(6, 1)
    assert sorted(m.dst for m in msgs(out, RequestVote, term=6, prevote=False)) == list(range(2, n + 1))


def test_denied_prevote_response_with_higher_term_is_adopted():
    """Figure 2 applies to pre-vote responses too: a denial carries the voter's real term; if it is higher, the
    pre-candidate adopts it and becomes follower."""
    core = make_core(1, state=HardState(5, 2))
    timeout(core)
    out = core.step(VoteResponse(8, 2, 1, granted=False, prevote=True), core.now)
    assert (core.role, core.term, core.voted_for) == (FOLLOWER, 8, None)
    assert out.persist == HardState(8, None)


def test_granted_prevote_responses_do_not_move_the_precandidates_term():
    """A granted pre-vote echoes the asked term (term+1); that is a question, not a term anyone holds."""
    core = make_core(1, n=5, state=HardState(5))
    timeout(core)
    out = core.step(VoteResponse(6, 2, 1, granted=True, prevote=True), core.now)
    assert (core.role, core.term, out.persist) == (PRECANDIDATE, 5, None)


def _isolate_and_rejoin(prevote: bool) -> tuple[Cluster, list[int]]:
    c = elect_node_1(3, prevote=prevote, check_quorum=True, fracs=[0.0, 0.5, 0.9])
    terms = []
    for _ in range(5):  # node 3 is cut off: its messages are lost, it hears nothing
        c.pending = [m for m in c.pending if 3 not in (m.src, m.dst)]
        c.fire(3)
        terms.append(c[3].term)
        c.pending = [m for m in c.pending if 3 not in (m.src, m.dst)]
        c.tick(1)
        c.deliver(lambda m: 3 not in (m.src, m.dst))
        c.deliver(lambda m: 3 not in (m.src, m.dst))
    c.fire(1)  # heal: a heartbeat reaches node 3
    c.stabilize()
    return c, terms


def test_prevote_keeps_a_partitioned_node_from_disrupting_the_cluster():
    """Thesis §9.6: a server that rejoins after a partition would otherwise force the leader to step down with its
    inflated term; with PreVote its term never grows while it cannot win, and it just follows the leader again."""
    c, terms = _isolate_and_rejoin(prevote=True)
    assert terms == [1] * 5
    assert c.leaders() == [1] and c[1].term == 1
    assert (c[3].role, c[3].leader, c[3].term) == (FOLLOWER, 1, 1)


def test_without_prevote_a_partitioned_node_inflates_its_term_and_deposes_the_leader():
    """The switch: with prevote off, each election timeout bumps the isolated node's term, and on rejoin the
    leader learns that term from a heartbeat reply and steps down (the disruption PreVote exists to prevent)."""
    c, terms = _isolate_and_rejoin(prevote=False)
    assert terms == [2, 3, 4, 5, 6]
    assert any(e.fields.get("reason") == "higher_term" for i, e in c.events("stepped_down") if i == 1)
    assert c[1].term >= 6


# ---------------------------------------------------------------------------------------------- CheckQuorum


def test_check_quorum_leader_that_hears_from_no_majority_steps_down():
    """Thesis §6.2: "a leader steps down if an election timeout elapses without a successful round of heartbeats to
    a majority of its cluster"."""
    core = leader_core(3, term=4)
    t0 = core.now
    while core.role == LEADER:
        out = core.tick(core.deadline)
        if core.role == LEADER:
            assert core.now - t0 <= ET_MAX + EPS
    assert core.now - t0 <= ET_MAX + HB + EPS
    assert [e.fields["reason"] for e in events_named(out, "stepped_down")] == ["check_quorum"]
    assert (core.term, core.leader, core.voted_for) == (5, None, 1)
    assert msgs(out, AppendEntries) == []
    assert out.persist is None


@pytest.mark.parametrize("n", [3, 5])
def test_check_quorum_leader_that_hears_from_a_majority_stays(n):
    """Thesis §6.2: responses from a majority (itself included) keep the leader in office; the rest may be dead."""
    core = leader_core(n, term=4)
    live = core.peers[: majority(n) - 1]
    start = core.now
    while core.now < start + 10 * ET_MAX:
        out = core.tick(core.deadline)
        for p in live:
            core.step(AppendResponse(5, p, 1), core.now)
        assert core.role == LEADER
        assert events_named(out, "stepped_down") == []


def test_check_quorum_minority_of_live_peers_is_not_enough():
    """A 5-node leader hearing from one peer has 2 of 5: it must step down."""
    core = leader_core(5, term=4)
    start = core.now
    while core.role == LEADER and core.now < start + 3 * ET_MAX:
        core.tick(core.deadline)
        core.step(AppendResponse(5, 2, 1), core.now)
    assert core.role == FOLLOWER


def test_check_quorum_off_lets_an_isolated_leader_stay():
    """The switch: without CheckQuorum a leader never steps down on its own."""
    core = leader_core(3, term=4, check_quorum=False)
    start = core.now
    while core.now < start + 10 * ET_MAX:
        out = core.tick(core.deadline)
        assert core.role == LEADER and len(msgs(out, AppendEntries)) == 2


@pytest.mark.parametrize("check_quorum", [True, False], ids=["check-quorum", "no-check-quorum"])
def test_check_quorum_lease_ignores_vote_requests_from_a_node_back_from_isolation(check_quorum):
    """Thesis §4.2.3, as etcd-io/raft implements it with CheckQuorum (`inLease`): "if a server receives a
    RequestVote request within the minimum election timeout of hearing from a current leader, it does not update
    its term or grant its vote". With PreVote off, a node back from isolation asks at an inflated term: the leader
    and the follower that hears it ignore the request (no answer, no term change); without CheckQuorum it deposes
    the leader."""
    c = vote_requests_after_isolation(check_quorum=check_quorum)
    assert c[3].term == 5 and c[3].role == CANDIDATE
    if check_quorum:
        assert c.leaders() == [1] and (c[1].term, c[2].term, c[2].leader) == (1, 1, 1)
        assert c.pending == [], "an ignored request is not answered"
        denied = [(i, e.term, e.fields) for i, e in c.events("vote_denied") if e.fields["candidate"] == 3]
        assert denied[-2:] == [(1, 1, {"candidate": 3, "reason": "leader_alive"}),
                               (2, 1, {"candidate": 3, "reason": "leader_alive"})]
    else:
        assert c.leaders() == [] and c[1].term == 5
        assert [e.fields["reason"] for i, e in c.events("stepped_down") if i == 1] == ["higher_term"]


def test_check_quorum_lease_ends_a_minimum_election_timeout_after_the_leader_was_last_heard():
    """The lease is the minimum election timeout since the last heartbeat; after it, a vote request counts again."""
    core = make_core(2, state=HardState(3), prevote=False)
    core.step(AppendEntries(3, 1, 2), 1.0)
    out = core.step(RequestVote(4, 3, 2), 1.0 + ET_MIN - EPS)
    assert (core.term, out.messages, out.persist) == (3, [], None)
    out = core.step(RequestVote(4, 3, 2), 1.0 + ET_MIN + EPS)
    assert (core.term, core.voted_for) == (4, 3) and msgs(out, VoteResponse, granted=True)


def test_a_node_the_lease_ignores_still_deposes_the_leader_through_its_heartbeat_reply():
    """What the ignored node's responses still do, as in etcd-io/raft: the leader's next heartbeat (of the lower
    term) is answered with the node's higher term, and that reply makes the leader step down — the one disruption
    CheckQuorum does not prevent (PreVote does: the isolated node's term never grows)."""
    c = vote_requests_after_isolation(check_quorum=True)
    c.fire(1)
    c.stabilize()
    assert [e.fields["reason"] for i, e in c.events("stepped_down") if i == 1] == ["higher_term"]
    assert c.leaders() == [] and c[1].term == 5


# ---------------------------------------------------------------------------------------------- transfer (§3.10)


@pytest.mark.parametrize("prevote", [True, False])
def test_leadership_transfer(prevote):
    """Thesis §3.10: the leader sends TimeoutNow to the target, which "starts a new election immediately (without
    waiting for its election timeout)" — skipping the pre-vote — at term+1 and wins; the old leader steps down when
    it sees the higher term, with reason "transfer". CheckQuorum is on and every node is inside its lease: the
    target's requests say they are made for a transfer (etcd-io/raft's campaignTransfer), which the lease lets
    through."""
    c = elect_node_1(3, prevote=prevote, check_quorum=True)
    term = c[1].term
    out = c.transfer(1, 2)
    assert out.messages == [TimeoutNow(term, 1, 2)]
    assert events_named(out, "transfer_started")[0].fields == {"target": 2}
    (out,) = c.deliver()
    assert c[2].role == CANDIDATE and c[2].term == term + 1
    assert "became_precandidate" not in names(out)
    assert out.persist == HardState(term + 1, 2)
    assert sorted(m.dst for m in msgs(out, RequestVote, term=term + 1, prevote=False, transfer=True)) == [1, 3]
    c.stabilize()
    assert c.leaders() == [2]
    assert all(c[i].term == term + 1 and c[i].leader == 2 for i in (1, 3))
    assert [e.fields["reason"] for i, e in c.events("stepped_down") if i == 1] == ["transfer"]


def test_timeout_now_from_a_node_that_is_not_the_leader_is_ignored():
    """Only the current leader may tell a node to skip its election timeout."""
    core = make_core(2, state=HardState(5))
    core.step(AppendEntries(5, 1, 2), 0.01)
    out = core.step(TimeoutNow(5, 3, 2), 0.02)
    assert (core.role, core.term, out.messages, out.persist) == (FOLLOWER, 5, [], None)


def test_only_a_leader_can_transfer_and_only_to_a_peer():
    core = make_core(1)
    with pytest.raises(ValueError):
        core.transfer_leadership(2, 0.0)
    leader = leader_core(3)
    with pytest.raises(ValueError):
        leader.transfer_leadership(1, leader.now)
    with pytest.raises(ValueError):
        leader.transfer_leadership(4, leader.now)


# ---------------------------------------------------------------------------------------------- persistence (§3.8)


def test_candidate_self_vote_is_persisted_in_the_same_output_as_its_request_votes():
    """Thesis §3.8: term and vote must be on stable storage before any message that depends on them leaves; the
    embedding program persists Output.persist before sending Output.messages."""
    _, out = candidate_core(3, term=4)
    assert msgs(out, RequestVote) and out.persist == HardState(5, 1)


def test_follower_vote_is_persisted_in_the_same_output_as_its_granted_response():
    """Thesis §3.8: a vote is durable before the VoteResponse that grants it is sent."""
    core = make_core(2, state=HardState(4))
    out = core.step(RequestVote(6, 1, 2), 0.01)
    assert msgs(out, VoteResponse, granted=True) and out.persist == HardState(6, 1)


@pytest.mark.parametrize("prevote", [True, False])
def test_every_granted_vote_and_request_vote_leaves_after_a_persist_covering_it(prevote):
    """Thesis §3.8, over a whole run: an election, a transfer and a re-election — every granted VoteResponse and
    every RequestVote (not pre-vote) is covered by the durable (term, voted_for) once its Output is applied."""
    c = elect_node_1(5, prevote=prevote, fracs=[0.0, 0.2, 0.4, 0.6, 0.8])
    c.transfer(1, 3)
    c.stabilize()
    c.pending = []
    c.fire(5)  # a rogue timeout, without the others expiring
    c.stabilize()
    durable = {i: HardState() for i in c.ids}
    checked = 0
    for i, out in c.transcript:
        durable[i] = apply_persist(durable[i], out)
        for m in out.messages:
            if isinstance(m, VoteResponse) and m.granted and not m.prevote:
                assert durable[i] == HardState(m.term, m.dst)
                checked += 1
            if isinstance(m, RequestVote) and not m.prevote:
                assert durable[i] == HardState(m.term, i)
                checked += 1
    assert checked > 10


def test_nothing_is_persisted_when_term_and_vote_do_not_change():
    """Heartbeats, pre-votes and their answers change no durable state, so Output.persist stays None."""
    c = elect_node_1(3, prevote=True)
    n = len(c.transcript)
    for _ in range(5):
        c.tick(1, c[1].deadline)
        c.stabilize()
    assert all(out.persist is None for _, out in c.transcript[n:])


def test_term_only_mode_never_persists_a_vote_and_persists_only_on_term_change():
    """persist_mode="term-only" is the deliberately unsafe mode: persist carries the term alone, and appears only in
    Outputs where the term changed."""
    c = elect_node_1(3, prevote=False, persist_mode="term-only")
    c.transfer(1, 2)
    c.stabilize()
    terms = {i: 0 for i in c.ids}
    seen = 0
    for i, out in c.transcript:
        if out.persist is not None:
            seen += 1
            assert out.persist.voted_for is None
            assert out.persist.term != terms[i]
            terms[i] = out.persist.term
        else:
            assert not any(e.term != terms[i] for e in out.events if e.name != "stepped_down")
    assert seen >= 6
    assert terms == {1: 2, 2: 2, 3: 2}


# ---------------------------------------------------------------------------------------------- roles


ROLES = (FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER)


@pytest.mark.parametrize(
    "src, dst", [(a, b) for a, b in itertools.product(ROLES, ROLES) if b not in TRANSITIONS[a]]
)
def test_illegal_role_transitions_raise(src, dst):
    """A leader only ever steps down to follower; a follower never becomes leader without an election. Anything not
    in TRANSITIONS fails loudly."""
    core = make_core(1)
    core.role = src
    with pytest.raises(IllegalTransition):
        core._become(dst)
    assert core.role == src


def test_transition_table_is_the_documented_one():
    assert TRANSITIONS[LEADER] == {FOLLOWER}
    assert LEADER not in TRANSITIONS[FOLLOWER] and LEADER not in TRANSITIONS[PRECANDIDATE]
    assert LEADER in TRANSITIONS[CANDIDATE]


@pytest.mark.parametrize("prevote", [True, False])
def test_one_node_cluster_elects_itself(prevote):
    """A cluster of one is its own majority: its first election timeout makes it leader of term+1 at once."""
    core = make_core(1, n=1, state=HardState(3), prevote=prevote)
    out = timeout(core)
    assert out.persist == HardState(4, 1)
    assert core.role == CANDIDATE and out.deadline == core.now, "its own vote counts at its next input: now"
    out = core.tick(out.deadline)
    assert (core.role, core.term, core.voted_for, core.leader) == (LEADER, 4, 1, 1)
    assert out.messages == [] and not out.early
    assert names(out)[-1] == "became_leader"
    for _ in range(20):  # CheckQuorum: it is its own quorum
        core.tick(core.deadline)
        assert core.role == LEADER


@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("prevote", [True, False])
def test_cluster_elects_exactly_one_leader_that_everyone_follows(n, prevote):
    """Election safety and liveness in the simplest case: the first node to time out wins, the others follow."""
    c = elect_node_1(n, prevote=prevote)
    assert all(c[i].role == FOLLOWER and c[i].leader == 1 and c[i].term == 1 for i in range(2, n + 1))


def test_config_validates_timings_and_members():
    with pytest.raises(ValueError):
        CoreConfig(node_id=4, members=(1, 2, 3))
    with pytest.raises(ValueError):
        CoreConfig(node_id=1, members=(1, 1, 2))
    with pytest.raises(ValueError):
        CoreConfig(node_id=1, members=(1, 2, 3), election_timeout_min=0.3, election_timeout_max=0.3)
    with pytest.raises(ValueError):
        CoreConfig(node_id=1, members=(1, 2, 3), heartbeat_interval=0.2)
    with pytest.raises(ValueError):
        CoreConfig(node_id=1, members=(1, 2, 3), persist_mode="none")


def test_fixed_rng_is_what_it_claims():
    rng = FixedRng(0.5)
    assert rng.uniform(1.0, 3.0) == 2.0 and rng.calls == [(1.0, 3.0, 2.0)]


def test_a_transfer_whose_timeout_now_was_lost_is_aborted_after_an_election_timeout():
    """etcd-io/raft: a leader abandons a leadership transfer that has not completed within an election timeout."""
    from raftzmq.protocol.core import CoreConfig, ElectionCore, HardState, LEADER

    class Rng:
        def uniform(self, a, b):
            return a

    core = ElectionCore(CoreConfig(1, (1,)), HardState(), 0.0, Rng())
    core.tick(1.0)
    core.tick(1.0)  # its own vote counts at the next input
    assert core.role == LEADER
    core = ElectionCore(CoreConfig(1, (1, 2, 3), check_quorum=False), HardState(), 0.0, Rng())
    core.tick(0.2)  # pre-vote round
    from raftzmq.protocol.messages import VoteResponse
    core.step(VoteResponse(1, 2, 1, granted=True, prevote=True), 0.2)
    core.step(VoteResponse(1, 2, 1, granted=True, prevote=False), 0.2)
    assert core.role == LEADER
    out = core.transfer_leadership(3, 0.3)
    assert [m.kind for m in out.messages] == ["timeout_now"] and core.transfer_target == 3
    names = []
    t = 0.3
    while t < 0.3 + core.config.election_timeout_max + 0.1:
        t += core.config.heartbeat_interval
        names += [e.name for e in core.tick(t).events]
    assert "transfer_aborted" in names and core.transfer_target is None
