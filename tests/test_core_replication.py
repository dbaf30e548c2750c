"""One test per rule of log replication, in the style of tests/test_core_paper.py (etcd-io/raft's raft_paper_test).

Sources: the Raft paper (Ongaro & Ousterhout 2014) §5.3 (log replication), §5.4.1 (election restriction), §5.4.2
(committing entries from previous terms, Figure 8), Figure 2 (AppendEntries receiver rules), and Ongaro's thesis
§3.10 (leadership transfer). Each docstring quotes or paraphrases the rule it checks.
"""
from __future__ import annotations

from core_harness import Cluster, E, leader_of, make_core

from raftzmq.protocol.core import FOLLOWER, LEADER, ElectionCore, HardState
from raftzmq.protocol.messages import AppendEntries, AppendResponse, Entry, RequestVote, TimeoutNow, VoteResponse
from raftzmq.protocol.progress import PROBE, REPLICATE




def elected_cluster(n: int = 3, **cfg) -> Cluster:
    c = Cluster(n, prevote=False, **cfg)
    c.fire(1)
    c.stabilize()
    assert c.leaders() == [1]
    return c


# ---------------------------------------------------------------------------------------------- §5.3 follower


def test_follower_appends_entries_after_a_matching_prev_and_answers_with_the_last_index():
    """Figure 2, AppendEntries receiver: entries after a (prevLogIndex, prevLogTerm) it holds are appended; the
    success reply carries the highest index known to match (here prev + number of entries)."""
    f = make_core(2, 3, state=HardState(1), log=[E(1, 1)])
    out = f.step(AppendEntries(1, 1, 2, 1, 1, (E(2, 1, b"a"), E(3, 1, b"b")), 0), 0.0)
    assert list(out.entries) == [E(2, 1, b"a"), E(3, 1, b"b")]
    [resp] = out.messages
    assert isinstance(resp, AppendResponse) and resp.success and resp.index == 3
    assert f.last_index == 3


def test_follower_rejects_a_mismatching_prev_with_the_fast_backup_hint():
    """§5.3 (the optimisation note): on a rejection the follower reports the term of the conflicting entry and
    the first index it stores for that term; a shorter log reports its last index + 1 and term 0."""
    f = make_core(2, 3, state=HardState(3), log=[E(1, 1), E(2, 2), E(3, 2), E(4, 2)])
    [resp] = f.step(AppendEntries(3, 1, 2, 4, 3, (), 0), 0.0).messages
    assert (resp.success, resp.index, resp.conflict_term, resp.conflict_index) == (False, 4, 2, 2)
    [resp] = f.step(AppendEntries(3, 1, 2, 9, 3, (), 0), 0.0).messages
    assert (resp.success, resp.index, resp.conflict_term, resp.conflict_index) == (False, 9, 0, 5)
    assert f.last_index == 4  # a rejection changes nothing


def test_follower_replaces_a_conflicting_suffix_and_only_that():
    """Figure 2 rule 3: if an existing entry conflicts with a new one (same index, different terms), delete it
    and all that follow; entries it already holds with the same term are kept (a stale message truncates
    nothing)."""
    f = make_core(2, 3, state=HardState(3), log=[E(1, 1), E(2, 1), E(3, 2), E(4, 2)])
    out = f.step(AppendEntries(3, 1, 2, 1, 1, (E(2, 1), E(3, 3, b"x")), 0), 0.0)
    assert list(out.entries) == [E(3, 3, b"x")]  # the Ready replaces the log from index 3 on
    assert f.last_index == 3 and f.log.term_at(3) == 3
    out = f.step(AppendEntries(3, 1, 2, 0, 0, (E(1, 1),), 0), 0.0)  # stale: nothing new, nothing cut
    assert list(out.entries) == [] and f.last_index == 3


def test_follower_commit_is_the_leaders_bounded_by_the_last_new_entry():
    """Figure 2 rule 5: if leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new
    entry); the committed entries are handed out once, in log order."""
    f = make_core(2, 3, state=HardState(1))
    out = f.step(AppendEntries(1, 1, 2, 0, 0, (E(1, 1, b"a"), E(2, 1, b"b")), 5), 0.0)
    assert f.commit_index == 2 and list(out.committed) == [E(1, 1, b"a"), E(2, 1, b"b")]
    assert out.persist is not None and out.persist.commit == 2
    out = f.step(AppendEntries(1, 1, 2, 2, 1, (), 5), 0.0)
    assert list(out.committed) == []  # exactly once


def test_follower_never_takes_a_commit_beyond_what_the_message_vouches_for():
    """Figure 2 rule 5 again: a heartbeat at prev 1 with a high leaderCommit commits only through index 1, even
    if the follower holds more entries (they may conflict with the leader's)."""
    f = make_core(2, 3, state=HardState(2), log=[E(1, 1), E(2, 1), E(3, 1)])
    f.step(AppendEntries(2, 1, 2, 1, 1, (), 3), 0.0)
    assert f.commit_index == 1


# ---------------------------------------------------------------------------------------------- §5.3 leader


def test_propose_on_the_leader_appends_and_replicates_and_on_a_follower_names_the_leader():
    """§5.3: the leader appends the command to its log as a new entry, then issues AppendEntries in parallel;
    §8: a follower rejects a client and says who leads."""
    c = elected_cluster()
    p = c.propose(1, b"x")
    assert (p.accepted, p.index, p.term, p.leader) == (True, 1, 1, 1)
    appends = [m for m in c.pending if isinstance(m, AppendEntries) and m.entries]
    assert sorted(m.dst for m in appends) == [2, 3] and all(m.entries == (E(1, 1, b"x"),) for m in appends)
    p = c.propose(2, b"y")
    assert (p.accepted, p.leader) == (False, 1)


def test_an_entry_commits_once_a_majority_holds_it_and_every_node_applies_the_same_in_order():
    """§5.3: an entry is committed once the leader has replicated it on a majority; it then applies it, and
    followers apply it once they learn the commit index (the next AppendEntries)."""
    c = elected_cluster()
    for k in range(5):
        c.propose(1, b"c%d" % k)
    c.stabilize()
    assert c[1].commit_index == 5 and [e.data for e in c.applied[1]] == [b"c%d" % k for k in range(5)]
    c.tick(1, c[1].deadline)  # the next heartbeat carries the commit index
    c.stabilize()
    assert all(c.applied[i] == c.applied[1] for i in (2, 3))
    assert all(c.logs[i] == c.logs[1] for i in (2, 3))


def test_a_leader_needs_a_majority_not_everyone():
    """§5.3: a majority suffices; a follower that does not answer does not hold up the commit."""
    c = elected_cluster()
    c.propose(1, b"x")
    c.stabilize(keep=lambda m: 3 not in (m.src, m.dst))
    assert c[1].commit_index == 1


def test_a_new_leader_appends_a_no_op_when_its_log_holds_uncommitted_entries():
    """§5.4.2 / thesis §3.6.2 (no-op): a leader commits entries of earlier terms only through an entry of its own
    term, so a new leader appends an empty one. With nothing possibly uncommitted (an empty log, or last index
    == commit index) it needs none; election-only runs write no entries at all."""
    lead = leader_of(log=[E(1, 1, b"a")], term=2)
    assert lead.last_index == 2 and lead.log.entry(2) == E(2, 2, b"")
    assert leader_of(term=1).last_index == 0


def test_the_leader_never_commits_an_old_term_entry_by_counting_replicas():
    """§5.4.2, Figure 8: "Raft never commits log entries from previous terms by counting replicas." Entry 1 of
    term 1 on a majority does not commit while the leader of term 2's own no-op is not on a majority; once it is,
    both commit."""
    lead = leader_of(log=[E(1, 1)], term=2)
    out = lead.step(AppendResponse(2, 2, 1, True, 1), lead.now)  # node 2 holds entry 1 (term 1) only
    assert lead.commit_index == 0 and list(out.committed) == []
    out = lead.step(AppendResponse(2, 2, 1, True, 2), lead.now)  # and now the no-op of term 2
    assert lead.commit_index == 2 and [e.index for e in out.committed] == [1, 2]


def test_a_rejection_moves_next_back_by_the_hint_and_the_leader_probes_again_at_once():
    """§5.3: after a rejection the leader decrements nextIndex and retries; with the hint it skips a whole
    conflicting term (the leader has no entry of conflict_term: next = conflict_index)."""
    lead = leader_of(log=[E(1, 1), E(2, 1), E(3, 1)], term=3)  # no-op at 4
    pr = lead.tracker[2]
    assert pr.state == PROBE and pr.next == 4
    out = lead.step(AppendResponse(3, 2, 1, False, 3, conflict_index=2, conflict_term=2), lead.now)
    [probe] = [m for m in out.messages if isinstance(m, AppendEntries)]
    assert (probe.prev_index, probe.prev_term) == (1, 1) and [e.index for e in probe.entries] == [2, 3, 4]


def test_replicate_streams_within_the_inflight_window_by_count():
    """Progress (etcd-io/raft): once the follower's position is known the leader streams without waiting, but
    never more than max_inflight_messages unacknowledged AppendEntries."""
    c = elected_cluster(max_inflight_messages=2, max_entries_per_message=1)
    assert c[1].tracker[2].state == REPLICATE
    for k in range(5):
        c.propose(1, b"%d" % k)
    to2 = [m for m in c.pending if isinstance(m, AppendEntries) and m.dst == 2 and m.entries]
    assert len(to2) == 2
    c.stabilize()
    assert c[1].commit_index == 5 and c[1].tracker[2].match == 5


def test_one_append_entries_carries_at_most_the_configured_count_and_bytes():
    """The maximum message size: entries per message and bytes per message (entry wire size: 20 + data)."""
    lead = leader_of(max_entries_per_message=3)
    lead.tracker[2].become_replicate()
    for k in range(7):
        _, out = lead.propose(b"x", lead.now)
    sent = [m for m in out.messages if m.dst == 2]
    assert all(len(m.entries) <= 3 for m in sent)
    lead = leader_of(max_bytes_per_message=2 * (20 + 100))
    lead.tracker[2].become_replicate()
    lead.tracker[2].inflights.max_count = 1
    for k in range(4):
        lead.propose(b"y" * 100, lead.now)
    lead.tracker[2].inflights.reset()
    lead.tracker[2].inflights.max_count = 10
    lead.tracker[2].next = 1
    out = lead.tick(lead.heartbeat_deadline)
    sent = [m for m in out.messages if m.dst == 2 and m.entries]
    assert sent and all(len(m.entries) <= 2 for m in sent)


def test_heartbeats_carry_a_commit_bounded_by_the_followers_match():
    """A heartbeat tells a follower the commit index only as far as the leader knows it holds the log
    (etcd-io/raft's heartbeat commit = min(commit, match)): it cannot take a commit beyond its own log."""
    c = elected_cluster()
    c.propose(1, b"x")
    c.stabilize(keep=lambda m: 3 not in (m.src, m.dst))
    assert c[1].commit_index == 1 and c[1].tracker[3].match == 0
    c[1].tracker[3].become_probe()
    c[1].tracker[3].paused = True  # a probe is out: node 3 gets a plain heartbeat
    out = c.tick(1, c[1].deadline)
    [hb] = [m for m in out.messages if m.dst == 3]
    assert (hb.prev_index, hb.commit, hb.entries) == (0, 0, ())
    [hb2] = [m for m in out.messages if m.dst == 2]
    assert hb2.commit == 1


# ---------------------------------------------------------------------------------------------- §5.4.1


def test_a_vote_goes_only_to_a_candidate_at_least_as_up_to_date():
    """§5.4.1: "the voter denies its vote if its own log is more up-to-date than that of the candidate":
    a later last term wins; with the same last term, the longer log."""
    v = make_core(2, 3, state=HardState(2), log=[E(1, 1), E(2, 2)])
    out = v.step(RequestVote(3, 1, 2, last_log_index=5, last_log_term=1), 0.0)
    assert out.messages[0].granted is False
    assert [e.fields.get("reason") for e in out.events if e.name == "vote_denied"] == ["log_behind"]
    v = make_core(2, 3, state=HardState(2), log=[E(1, 1), E(2, 2)])
    assert v.step(RequestVote(3, 1, 2, last_log_index=1, last_log_term=2), 0.0).messages[0].granted is False
    v = make_core(2, 3, state=HardState(2), log=[E(1, 1), E(2, 2)])
    assert v.step(RequestVote(3, 1, 2, last_log_index=2, last_log_term=2), 0.0).messages[0].granted is True


def test_a_prevote_goes_only_to_a_candidate_at_least_as_up_to_date():
    """§5.4.1 on PreVote (thesis §9.6): a pre-vote asks "would you vote for me", so it is denied by the same
    rule, else a pre-candidate could disrupt the cluster and then lose."""
    v = make_core(2, 3, state=HardState(2), log=[E(1, 1), E(2, 2)], check_quorum=False)
    out = v.step(RequestVote(3, 1, 2, prevote=True, last_log_index=9, last_log_term=1), 0.0)
    assert out.messages[0].granted is False
    assert [e.fields.get("reason") for e in out.events if e.name == "prevote_denied"] == ["log_behind"]
    out = v.step(RequestVote(3, 1, 2, prevote=True, last_log_index=2, last_log_term=2), 0.0)
    assert out.messages[0].granted is True


def test_candidates_send_their_last_log_position():
    """§5.4.1: RequestVote carries lastLogIndex and lastLogTerm (pre-votes too)."""
    core = make_core(1, 3, state=HardState(3), log=[E(1, 1), E(2, 3)], prevote=True)
    out = core.tick(core.deadline)
    assert {(m.last_log_index, m.last_log_term) for m in out.messages} == {(2, 3)}


# ---------------------------------------------------------------------------------------------- thesis §3.10


def test_transfer_waits_until_the_target_is_caught_up_then_sends_one_timeout_now():
    """Thesis §3.10: the leader brings the target's log up to date, then sends TimeoutNow; while the transfer
    runs it accepts no new commands."""
    c = elected_cluster()
    c.propose(1, b"x")
    c.stabilize(keep=lambda m: 2 not in (m.src, m.dst))  # node 2 is behind
    out = c.transfer(1, 2)
    assert not [m for m in out.messages if isinstance(m, TimeoutNow)]
    assert [m for m in out.messages if isinstance(m, AppendEntries) and m.dst == 2]  # catching it up
    assert c.propose(1, b"y").accepted is False
    c.stabilize(keep=lambda m: not isinstance(m, TimeoutNow))
    tn = [o for i, o in c.transcript if i == 1 for m in o.messages if isinstance(m, TimeoutNow)]
    assert len(tn) == 1


def test_a_transfer_to_a_target_that_never_catches_up_is_aborted_after_an_election_timeout():
    """Thesis §3.10: "if the transfer does not complete within about an election timeout, the leader aborts it
    and resumes accepting client requests"."""
    c = elected_cluster(check_quorum=False)
    c.propose(1, b"x")
    c.stabilize(keep=lambda m: 2 not in (m.src, m.dst))
    c.transfer(1, 2)
    c.pending = []
    lead = c[1]
    c.tick(1, lead.transfer_deadline)
    assert lead.transfer_target is None and c.events("transfer_aborted")
    assert lead.role == LEADER and c.propose(1, b"z").accepted


# ---------------------------------------------------------------------------------------------- recovery


def test_a_restarted_follower_recovers_its_log_and_catches_up():
    """§5.3 (Rejoin): a crashed follower restarts from its durable log and hard state and is brought up to date."""
    c = elected_cluster()
    c.propose(1, b"a")
    c.stabilize()
    c.restart(3)
    assert c[3].last_index == 1 and c[3].role == FOLLOWER
    c.stabilize(keep=lambda m: 3 not in (m.src, m.dst))
    for k in range(3):
        c.propose(1, b"b%d" % k)
    c.stabilize(keep=lambda m: 3 not in (m.src, m.dst))
    c.tick(1, c[1].deadline)
    c.stabilize()
    assert c.logs[3] == c.logs[1] and c[3].last_index == 4


def test_a_one_node_cluster_commits_its_own_entries_at_once():
    """§5.3 with a majority of one: the leader's own durable copy commits (applied after the Ready's write)."""
    core = make_core(1, 1, state=HardState(1), prevote=False, log=[E(1, 1, b"old")])
    core.tick(core.deadline)  # a candidate: its own vote counts from its next input, once that Ready made it durable
    out = core.tick(core.now)
    assert core.role == LEADER and core.commit_index == 2  # the no-op of term 2 committed entry 1 with it
    assert [e.index for e in out.committed] == [1, 2] and [e.index for e in out.entries] == [2]
    p, out = core.propose(b"x", core.now)
    assert p.accepted and core.commit_index == 3 and list(out.committed) == [E(3, 2, b"x")]


def test_an_answer_claiming_entries_the_leader_never_had_is_dropped():
    lead = leader_of()
    out = lead.step(AppendResponse(1, 2, 1, True, 7), lead.now)
    assert lead.tracker[2].match == 0 and lead.commit_index == 0
    assert [e.fields["reason"] for e in out.events if e.name == "message_dropped"] == ["beyond_log"]


def test_a_wrapped_core_proposes_through_its_hooks():
    """CoreWrapper (protocol/surface.py): `propose` goes through `call` and `edit_output` like every input."""
    from raftzmq.protocol.surface import CoreWrapper

    seen = []

    class Spy(CoreWrapper):
        def call(self, what, fn, *args):
            seen.append(what)
            return super().call(what, fn, *args)

    w = Spy(leader_of())
    p, out = w.propose(b"x", w.inner.now)
    assert p.accepted and p.index == 1 and seen == ["propose"] and list(out.entries) == [E(1, 1, b"x")]


FIGURE_7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
FIGURE_7 = {  # the followers (a)-(f) of the paper's Figure 7: their terms per index
    "a": [1, 1, 1, 4, 4, 5, 5, 6, 6],
    "b": [1, 1, 1, 4],
    "c": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    "d": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    "e": [1, 1, 1, 4, 4, 4, 4],
    "f": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
}


def test_figure_7_every_follower_case_ends_with_the_leaders_log():
    """§5.3, Figure 7: when the leader of term 8 comes to power, a follower may miss entries (a, b), have extra
    uncommitted ones (c, d), or both (e, f). The leader forces the followers' logs to duplicate its own: each
    ends with entries 1..10 of the leader and its no-op of term 8 at 11 (d's entries of term 7 and f's of terms
    2-3 are replaced), and all of it commits. (c and d deny node 1 their votes, §5.4.1; the other four elect it.)"""
    c = Cluster(7, prevote=False, fracs=[0.0] + [0.9] * 6)
    logs = {1: FIGURE_7_LEADER, **{i + 2: FIGURE_7[k] for i, k in enumerate("abcdef")}}
    for node, terms in logs.items():
        c.logs[node] = [E(i + 1, t, b"%d/%d" % (i + 1, t)) for i, t in enumerate(terms)]
        c.durable[node] = HardState(max(terms) if node != 1 else 7)
        c.restart(node)
    c.fire(1)
    c.stabilize()
    assert c.leaders() == [1] and c[1].term == 8
    denied = {i for i, ev in c.events("vote_denied") if ev.fields.get("reason") == "log_behind"}
    assert denied == {4, 5}  # (c) and (d)
    for _ in range(3):
        c.tick(1, c[1].deadline)
        c.stabilize()
    want = c.logs[1]
    assert [e.term for e in want] == FIGURE_7_LEADER + [8]
    for node in range(2, 8):
        assert c.logs[node] == want, node
        assert c[node].commit_index == 11


def test_a_follower_that_lost_acknowledged_entries_does_not_start_a_reject_resend_storm():
    """Only a disk that broke its fsync promise gets here (the checker's (k) judges that): the follower rejects
    at or below its match. The leader has nothing to rewind to; it must not answer each rejection with another
    AppendEntries at once (an endless ping-pong at network speed)."""
    lead = leader_of()
    lead.tracker[2].become_replicate()
    for _ in range(3):
        lead.propose(b"x", lead.now)
    lead.step(AppendResponse(1, 2, 1, True, 3), lead.now)
    assert lead.tracker[2].match == 3
    out = lead.step(AppendResponse(1, 2, 1, False, 3, conflict_index=2, conflict_term=0), lead.now)
    assert out.messages == []



def _batch_vs_one_by_one(datas, **cfg):
    """Two identical elected clusters: one proposes `datas` with propose_batch, the other one propose each;
    returns both, the proposals of each, and the messages each sent (the one-by-one ones coalesced as the node
    coalesces a turn's sends)."""
    from raftzmq.runtime.node.coalesce import coalesce
    one, batch = elected_cluster(**cfg), elected_cluster(**cfg)
    singles = [one.propose(1, d) for d in datas]
    props, out = batch.cores[1].propose_batch(datas, batch.now)
    batch._record(1, out)
    return one, batch, singles, props, coalesce(one.pending), list(batch.pending)


def test_propose_batch_is_propose_one_by_one_in_one_ready():
    """The same proposals, log and commits as the commands proposed one after the other, and the same
    AppendEntries as those after the node's per-turn coalescing: one run of entries, one message per follower."""
    datas = [b"a", b"bb", b"c" * 40]
    one, batch, singles, props, merged, sent = _batch_vs_one_by_one(datas)
    assert props == singles and [p.index for p in props] == [1, 2, 3] and all(p.accepted for p in props)
    assert sent == merged and sorted(m.dst for m in sent) == [2, 3]
    assert all(isinstance(m, AppendEntries) and [e.data for e in m.entries] == datas for m in sent)
    assert batch.logs[1] == one.logs[1]
    one.stabilize()
    batch.stabilize()
    assert batch[1].commit_index == one[1].commit_index == 3 and batch.logs == one.logs


def test_propose_batch_keeps_the_message_bounds_and_refuses_like_propose():
    datas = [b"%d" % k for k in range(7)]
    _, _, singles, props, _, sent = _batch_vs_one_by_one(datas, max_entries_per_message=3)
    assert props == singles and all(len(m.entries) <= 3 for m in sent if isinstance(m, AppendEntries))
    c = elected_cluster()
    props, out = c.cores[2].propose_batch([b"x", b"y"], c.now)  # a follower: refused, naming the leader
    assert [(p.accepted, p.leader) for p in props] == [(False, 1), (False, 1)] and not out.entries
    assert c.cores[1].propose_batch([], c.now)[0] == []


def test_a_hard_state_older_than_its_log_takes_the_logs_term_without_a_vote_and_persists_it():
    """An unsafe disk (`sim --disk unsafe-no-fsync`) can lose a term/vote write yet keep later entries. The node
    must not send messages its own log contradicts (it used to crash building a RequestVote): it takes the log's
    last term, with no vote, and its first Ready makes that term durable."""
    core = make_core(1, 3, state=HardState(6, 2), log=[E(1, 5), E(2, 7)])
    assert core.term == 7 and core.voted_for is None
    out = core.tick(core.deadline)  # a (pre-)campaign: every RequestVote it builds is valid for term >= 7
    assert out.persist is not None and out.persist.term >= 7
    asks = [m for m in [*out.messages, *out.early] if isinstance(m, RequestVote)]
    assert asks and all(m.last_log_term == 7 and m.term >= 7 for m in asks)


def test_a_hard_state_at_or_above_its_logs_term_is_taken_as_it_is():
    core = make_core(1, 3, state=HardState(9, 3), log=[E(1, 5), E(2, 7)])
    assert core.term == 9 and core.voted_for == 3
