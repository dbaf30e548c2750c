"""Disconnect hints in the core (issue 9): one test per claim, and mutants that show the scenarios can fail.

The embedding calls `core.hint(peer, now)` when its connection to `peer` closed. Claims:
- a follower hinted about its leader starts a *pre-vote* (flagged `hint`) within the hint window, never a real vote;
- a node grants a hint pre-vote only if it saw that leader's connection close itself or its lease ran out;
- so a killed leader (every follower sees the close) is replaced within a few hint windows, without any election
  timeout, while a hint seen by one follower alone does not unseat a live leader;
- hints about anyone but the current leader, hints to non-followers and hints with the switch off change nothing.
"""
from __future__ import annotations

import random

import pytest
from core_harness import ET_MIN, Cluster, events_named, make_core, msgs, names
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_core_bugs import ACTIONS, Sim

from raftzmq.protocol.core import FOLLOWER, LEADER, PRECANDIDATE, ElectionCore, Hints, Output
from raftzmq.protocol.messages import AppendEntries, Message, RequestVote

WINDOW = 0.002  # CoreConfig's default hint window
HB_DUE = 0.050  # the harness's heartbeat interval: the leader's next round


def hint(c: Cluster, i: int, peer: int) -> Output:
    """Node i's transport saw its connection to `peer` close."""
    return c._record(i, c[i].hint(peer, c.now, "tcp://127.0.0.1:5001"))


def leader_1(core_cls: type[ElectionCore] = ElectionCore, **cfg) -> Cluster:
    """Five nodes with hints on; node 1 leads term 1. Hint delays differ per node (fracs)."""
    cfg.setdefault("hints", True)
    c = Cluster(5, fracs=[0.0, 0.1, 0.5, 0.7, 0.9], core_cls=core_cls, **cfg)
    c.fire(1)
    c.stabilize()
    assert c.leaders() == [1] and c[1].term == 1
    c.transcript = []  # what the tests look at starts here
    return c


def without(node: int):
    return lambda m: node not in (m.src, m.dst)


def kill_leader_and_hint(c: Cluster, hinted=(2, 3, 4, 5)) -> float:
    """Node 1 dies 10 ms after its last heartbeat round (well inside everyone's lease): its connections close, the
    followers in `hinted` see it. Returns the time of the kill."""
    c.now += 0.010
    c.pending = [m for m in c.pending if 1 not in (m.src, m.dst)]
    for i in hinted:
        hint(c, i, 1)
    return c.now


def run_until_leader(c: Cluster, dead: int = 1, limit: int = 20) -> None:
    """Fire the earliest deadline among the live nodes and deliver, until a live node leads."""
    live = [i for i in c.ids if i != dead]
    for _ in range(limit):
        c.stabilize(without(dead))
        if any(c[i].role == LEADER for i in live):
            return
        c.fire(min(live, key=lambda i: c[i].deadline))
    raise AssertionError("no live leader")


# ---------------------------------------------------------------------------------------------- the hinted node


def test_a_follower_hinted_about_its_leader_starts_a_hint_prevote_within_the_window_never_a_real_vote():
    c = leader_1()
    t = kill_leader_and_hint(c, hinted=(2,))
    (ev,) = events_named(c.transcript[-1][1], "hint")
    assert ev.fields == {"peer": 1, "closed": "tcp://127.0.0.1:5001"} and ev.term == 1
    assert t <= c[2].deadline <= t + WINDOW  # the random delay, not the election timeout
    out = c.fire(2)
    assert c.now - t <= WINDOW
    assert c[2].role == PRECANDIDATE and c[2].term == 1 and out.persist is None  # a pre-vote changes nothing
    assert events_named(out, "became_precandidate")[0].fields == {"hint": True}
    assert "election_timeout" not in names(out)
    requests = msgs(out, RequestVote)
    assert {m.dst for m in requests} == {1, 3, 4, 5}
    assert all(m.prevote and m.hint and not m.transfer and m.term == 2 for m in requests)


def test_a_hint_prevote_is_a_prevote_even_with_prevote_switched_off():
    c = leader_1(prevote=False)
    kill_leader_and_hint(c, hinted=(2,))
    out = c.fire(2)
    assert c[2].role == PRECANDIDATE and all(m.prevote and m.hint for m in msgs(out, RequestVote))


@pytest.mark.parametrize("case", ["switch_off", "not_the_leader", "leader_itself", "precandidate", "twice"])
def test_hints_that_are_not_about_a_followers_leader_change_nothing(case):
    c = leader_1(hints=case != "switch_off")
    who, about = {"not_the_leader": (2, 3), "leader_itself": (1, 2)}.get(case, (2, 1))
    if case == "precandidate":
        c.now = c[2].deadline  # node 2's election timer ran out: it is a precandidate, following no one
        c.tick(2)
    if case == "twice":
        hint(c, 2, 1)
    before = (c[who].role, c[who].term, c[who].deadline, c[who].leader)
    out = hint(c, who, about)
    assert out.events == [] and out.messages == [] and out.persist is None
    assert (c[who].role, c[who].term, c[who].deadline, c[who].leader) == before


def test_a_hint_names_a_peer():
    core = make_core(1, 3, hints=True)
    with pytest.raises(ValueError):
        core.hint(1, 0.0)
    with pytest.raises(ValueError):
        core.hint(7, 0.0)


# ---------------------------------------------------------------------------------------------- the voters


def test_a_voter_that_saw_the_close_grants_a_hint_prevote_and_one_that_did_not_denies_it():
    c = leader_1()
    kill_leader_and_hint(c, hinted=(2, 3))  # 4 and 5 did not see it (yet): their lease holds
    c.fire(2)
    c.deliver(without(1))
    assert [e.fields for _, e in c.events("prevote_granted")] == [{"candidate": 2, "hint": True}]
    denied = {i: e.fields["reason"] for i, e in c.events("prevote_denied")}
    assert denied == {4: "leader_alive", 5: "leader_alive"}


def test_a_voter_that_grants_a_hint_prevote_drops_its_own_pending_hint_campaign():
    c = leader_1()
    t = kill_leader_and_hint(c)
    c.fire(2)
    c.deliver(without(1))  # the hint pre-votes reach 3, 4 and 5 before any of their own delays ran out
    assert all(c[i].deadline > t + ET_MIN for i in (3, 4, 5))  # back on the election timer
    run_until_leader(c)
    assert [i for i, _ in c.events("became_precandidate")] == [2]


def test_a_lease_broken_by_a_hint_comes_back_with_heartbeats_after_a_minimum_election_timeout():
    """A false hint (the leader is alive) ends the hinted node's lease for at most one minimum election timeout."""
    c = leader_1()
    hint(c, 3, 1)  # node 3 alone sees a close; the leader lives on
    out = c.step(RequestVote(2, 2, 3, prevote=True, hint=True))
    assert names(out) == ["prevote_granted"]
    c.now += ET_MIN
    c.tick(1)  # heartbeats
    c.stabilize()
    assert c[3].role == FOLLOWER and c[3].leader == 1
    out = c.step(RequestVote(2, 2, 3, prevote=True, hint=True))
    assert [e.fields for e in out.events] == [{"candidate": 2, "reason": "leader_alive"}]


# ---------------------------------------------------------------------------------------------- the failovers


def test_a_killed_leader_is_replaced_through_the_hint_path_within_a_few_windows():
    c = leader_1()
    t = kill_leader_and_hint(c)
    run_until_leader(c)
    assert c[2].role == LEADER and c[2].term == 2
    assert c.now - t <= WINDOW  # the manual network delivers at once: the delay is the whole failover
    after = [e.name for i, out in c.transcript for e in out.events]
    assert "election_timeout" not in after
    assert all(c[i].leader == 2 and c[i].term == 2 for i in (3, 4, 5))


def test_without_hints_a_silent_leader_is_replaced_through_the_election_timeout():
    """A pause closes no connection: no hint, so the followers wait for their timers as in the paper."""
    c = leader_1()
    c.now += 0.010
    t = c.now
    c.pending = [m for m in c.pending if without(1)(m)]
    run_until_leader(c)
    assert c.now - t >= ET_MIN - 0.010
    assert c.events("election_timeout") and not c.events("hint")
    assert all("hint" not in e.fields for _, e in c.events("became_precandidate"))


# ---------------------------------------------------------------------------------------------- mutants


def with_hints(name, hints_cls, doc):
    """The built-in core with `hints_cls` as its hint collaborator (a documented configuration hook)."""
    def __init__(self, config, state, now, rng=None):
        ElectionCore.__init__(self, config, state, now, rng, hints=hints_cls())
    return type(name, (ElectionCore,), {"__init__": __init__, "__doc__": doc})


class _RealCampaign(Hints):
    def prevote_first(self, core):
        return False


HintCampaignsForReal = with_hints("HintCampaignsForReal", _RealCampaign,
                                  "Bug: a hint starts a real election (term + 1) instead of a pre-vote.")


class _TrustsTheFlag(Hints):
    def saw_prevote(self, core, msg):
        super().saw_prevote(core, msg)
        if core.leader is not None:
            self.leader, self.at = core.leader, core.now


TrustsTheHintFlag = with_hints("TrustsTheHintFlag", _TrustsTheFlag, "Bug: a voter takes the candidate's word that "
                               "the leader's connection closed, as if it had seen it.")


def one_false_hint(core_cls: type[ElectionCore]) -> Cluster:
    """Node 1 leads and stays alive; node 2 alone sees its connection to node 1 close, and campaigns."""
    c = leader_1(core_cls)
    hint(c, 2, 1)
    c.fire(2)
    for _ in range(10):
        c.stabilize()
        c.tick(1, c.now + 0.050)  # the leader keeps heartbeating
    c.stabilize()
    return c


@pytest.mark.parametrize("core_cls", [ElectionCore, HintCampaignsForReal, TrustsTheHintFlag])
def test_a_hint_seen_by_one_follower_alone_does_not_unseat_a_live_leader(core_cls):
    c = one_false_hint(core_cls)
    unseated = c[1].role != LEADER or c[1].term != 1 or any(c[i].term != 1 for i in c.ids)
    assert unseated == (core_cls is not ElectionCore), core_cls.__name__
    if core_cls is ElectionCore:
        assert all(c[i].role == FOLLOWER and c[i].leader == 1 for i in (2, 3, 4, 5))
        assert {e.fields["reason"] for _, e in c.events("prevote_denied")} == {"leader_alive"}


class _NoDeferral(Hints):
    def defer(self, core):
        pass


NoDeferral = with_hints("NoDeferral", _NoDeferral,
                        "Bug: granting someone's hint pre-vote leaves the voter's own hint campaign pending.")


@pytest.mark.parametrize("core_cls", [ElectionCore, NoDeferral])
def test_followers_that_all_saw_the_close_run_one_campaign(core_cls):
    c = leader_1(core_cls)
    kill_leader_and_hint(c)
    c.fire(2)
    c.deliver(without(1))  # node 2's hint pre-votes arrive; then everyone's delays run out before the answers
    for i in (3, 4, 5):
        if c[i].deadline <= c.now + WINDOW:
            c.fire(i)
    run_until_leader(c)
    campaigns = [i for i, _ in c.events("became_precandidate")]
    assert (campaigns == [2]) == (core_cls is ElectionCore), campaigns


def test_no_hint_output_ever_persists_or_sends_a_real_vote_request():
    c = leader_1()
    kill_leader_and_hint(c)
    hint_outputs = [out for i, out in c.transcript if events_named(out, "hint")]
    assert hint_outputs and all(o.persist is None and o.messages == [] for o in hint_outputs)
    out = c.fire(2)
    assert not msgs(out, RequestVote, prevote=False) and not msgs(out, AppendEntries)


class _NoRivalry(Hints):
    def rival(self, core, msg):
        return None


NoRivalry = with_hints("NoRivalry", _NoRivalry, "Bug: hinted pre-candidates that meet both run on (each grants "
                       "the other).")


@pytest.mark.parametrize("core_cls", [ElectionCore, NoRivalry])
def test_of_two_hinted_precandidates_that_meet_the_lower_id_runs_on_and_the_vote_does_not_split(core_cls):
    """Two hinted followers campaign at once: without a tie-break both collect a pre-vote majority and both stand
    for the real vote, which can split (2-2 among four live nodes) and leave the cluster to its timers."""
    c = leader_1(core_cls)
    kill_leader_and_hint(c)
    c.fire(2)
    c.now = c[4].deadline  # node 4's delay ran out before node 2's pre-vote reached it
    c.tick(4)
    # The two rounds cross: node 3 hears node 2 first, node 5 hears node 4 first, the two pre-candidates hear
    # each other.
    for src, dst in ((2, 3), (4, 5), (2, 4), (4, 2), (4, 3), (2, 5)):
        c.take(lambda m: (m.src, m.dst) == (src, dst))
    run_until_leader(c)
    candidates = [i for i, _ in c.events("became_candidate")]
    assert (candidates == [2]) == (core_cls is ElectionCore), candidates
    denied = sorted((i, e.fields["candidate"], e.fields["reason"]) for i, e in c.events("prevote_denied"))
    assert (denied == [(2, 4, "hint_rival")]) == (core_cls is ElectionCore), denied


class _FollowsGhosts(Hints):
    def is_ghost(self, core, msg):
        return False


FollowsGhosts = with_hints("FollowsGhosts", _FollowsGhosts, """Bug: a hinted pre-candidate takes the dead leader's
    last heartbeat (still in flight at the close) for a live leader and goes back to following it.""")


@pytest.mark.parametrize("core_cls", [ElectionCore, FollowsGhosts])
def test_the_dead_leaders_last_heartbeat_arriving_after_the_hint_does_not_end_the_hint_round(core_cls):
    c = leader_1(core_cls)
    c.now += 0.010
    c.tick(1, c.now + HB_DUE)  # node 1's last heartbeat round leaves ...
    last = [m for m in c.pending if isinstance(m, AppendEntries)]
    kill_leader_and_hint(c)  # ... it dies, and the close is seen before its heartbeats arrive
    c.fire(2)
    c.pending += last
    c.deliver(lambda m: m.dst != 1)  # node 2's pre-votes and then the dead leader's heartbeats arrive
    run_until_leader(c)
    winner = [i for i, _ in c.events("became_leader")]
    assert (winner == [2] and not c.events("election_timeout")) == (core_cls is ElectionCore), winner
    if core_cls is ElectionCore:
        assert c.events("message_dropped")[0][1].fields == {"peer": 1, "kind": "append_entries", "reason": "after_hint"}


def test_after_the_hint_window_a_heartbeat_of_the_hinted_leader_is_followed():
    """A false hint: the leader lives, and its heartbeat after the window brings the pre-candidate back."""
    c = leader_1()
    hint(c, 2, 1)
    c.fire(2)
    c.now += WINDOW
    out = c.step(AppendEntries(1, 1, 2))
    assert c[2].role == FOLLOWER and c[2].leader == 1 and names(out) == ["became_follower"]


# ---------------------------------------------------------------------------------------------- property test


class HintSim(Sim):
    """test_core_bugs' adversarial scheduler with hints on, and hints as one more action: true or false, about the
    node's leader or anyone, at any time."""

    def boot(self, i: int) -> None:
        super().boot(i)  # the embedding and the checks; then the same core with hints on
        self.cores[i] = make_core(i, self.n, state=self.durable[i], now=self.now,
                                  rng=random.Random(self.seed * 1000 + self.boots), prevote=self.prevote,
                                  check_quorum=self.check_quorum, persist_mode=self.mode, hints=True)

    def act(self, action: str, x: int) -> None:
        if action != "hint":
            return super().act(action, x)
        i = self.ids[x % self.n]
        core = self.cores[i]
        peers = [p for p in self.ids if p != i]
        peer = core.leader if core.leader not in (None, i) and x % 3 else peers[(x // self.n) % len(peers)]
        self.record(i, core.hint(peer, self.now))


HINT_ACTIONS = ACTIONS + ["hint", "hint", "fire"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.sampled_from([3, 5]),
    prevote=st.booleans(),
    check_quorum=st.booleans(),
    seed=st.integers(0, 2**20),
    actions=st.lists(st.tuples(st.sampled_from(HINT_ACTIONS), st.integers(0, 2**16)), max_size=250),
)
def test_random_schedules_with_true_and_false_hints_keep_election_safety(n, prevote, check_quorum, seed, actions):
    sim = HintSim(n, seed, prevote=prevote, check_quorum=check_quorum)
    for action, x in actions:
        sim.act(action, x)
        assert not sim.violations, sim.violations


def test_random_hint_schedules_are_not_vacuous():
    """The schedules above run hint pre-votes and elect leaders through them."""
    hinted = 0
    for seed in range(60):
        r = random.Random(seed)
        sim = HintSim(r.choice([3, 5]), seed, prevote=r.random() < 0.5, check_quorum=r.random() < 0.5)
        events = []
        original = sim.record

        def record(i, out, events=events, original=original):
            events.extend(e for e in out.events)
            original(i, out)
        sim.record = record
        for _ in range(400):
            sim.act(r.choice(HINT_ACTIONS), r.randrange(2**16))
        assert not sim.violations
        hinted += any(e.name == "became_precandidate" and e.fields.get("hint") for e in events)
    assert hinted > 10  # (16 of these 60 seeds when written)


class _NoLateDeferral(Hints):
    def round_running(self, core):
        return False


NoLateDeferral = with_hints("NoLateDeferral", _NoLateDeferral, "Bug: a follower that sees the close after another's "
                            "hint pre-vote reached it starts its own round anyway.")


@pytest.mark.parametrize("core_cls", [ElectionCore, NoLateDeferral])
def test_a_late_hinted_follower_does_not_stand_against_a_candidate_that_won_its_hint_prevote(core_cls):
    """Node 2 sees the close late (after it refused node 4's hint pre-vote); nodes 3 and 5 granted node 4's, which
    is a candidate by then. Node 2 starts no round of its own: one candidate, not two splitting the vote."""
    c = leader_1(core_cls)
    kill_leader_and_hint(c, hinted=(3, 5))
    c.now = c[3].deadline
    hint(c, 4, 1)
    c.now = c[4].deadline
    c.tick(4)
    c.deliver(without(1))  # 3 and 5 grant, 2 refuses: its lease holds
    c.deliver(without(1))  # node 4 has its majority: candidate of term 2, its RequestVotes now pending
    requests, c.pending = c.pending, []
    hint(c, 2, 1)
    if c[2].deadline < c.now + WINDOW:
        c.fire(2)
    c.deliver(without(1))
    for src in (3, 5):  # the answers of 3 and 5 come before node 4's refusal
        if any((m.src, m.dst) == (src, 2) for m in c.pending):
            c.take(lambda m: (m.src, m.dst) == (src, 2))
    c.pending += requests
    run_until_leader(c)
    candidates = [i for i, _ in c.events("became_candidate")]
    assert (candidates == [4]) == (core_cls is ElectionCore), candidates


class _NoRetry(Hints):
    def retry(self, core):
        self.deadline = float("inf")
        return []


NoRetry = with_hints("NoRetry", _NoRetry, "Bug: a hint pre-candidate asks once; those who denied it before they saw "
                     "the close are never asked again.")


@pytest.mark.parametrize("core_cls", [ElectionCore, NoRetry])
def test_a_hint_prevote_asks_again_those_who_saw_the_close_after_it_first_asked(core_cls):
    c = leader_1(core_cls)
    t = kill_leader_and_hint(c, hinted=(2,))
    c.fire(2)
    c.deliver(without(1))  # 3, 4 and 5 have not seen the close yet: their lease holds, they refuse
    assert {e.fields["reason"] for _, e in c.events("prevote_denied")} == {"leader_alive"}
    for i in (3, 4, 5):
        hint(c, i, 1)  # they see it now; node 2's round runs, so they start none of their own
        assert c[i].deadline > t + ET_MIN
    c.stabilize(without(1))
    run_until_leader(c)
    assert [i for i, _ in c.events("became_precandidate")][0] == 2
    fast = c[2].role == LEADER and not c.events("election_timeout") and c.now - t < 10 * WINDOW
    assert fast == (core_cls is ElectionCore), (c.now - t, c.events("election_timeout"))
