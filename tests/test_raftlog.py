"""The replicated log (raftzmq/protocol/raftlog.py): one test per rule of the paper's §5.3–5.4 it implements,
the Figure 7 follower cases (a)–(f) end to end with fast backup, and property tests over random logs."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftzmq.protocol.messages import Entry
from raftzmq.protocol.progress import PROBE, REPLICATE, Progress
from raftzmq.protocol.raftlog import Accepted, LogSafetyError, RaftLog, Rejected

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def log_of(terms, commit=0, **kw):
    """A log whose entry i has term terms[i-1] and data naming its position and term."""
    return RaftLog([Entry(i, t, f"{i}@{t}".encode()) for i, t in enumerate(terms, 1)], commit, **kw)


def terms_of(log):
    return [e.term for e in log.entries()]


def ents(first, terms, tag=b""):
    return tuple(Entry(first + k, t, tag + f"{first + k}@{t}".encode()) for k, t in enumerate(terms))


# ------------------------------------------------------------------ construction and reading
def test_empty_log_reads_as_index_zero_term_zero():
    log = RaftLog()
    assert (log.last_index, log.last_term, log.commit, log.applied, len(log)) == (0, 0, 0, 0, 0)
    assert log.term_at(0) == 0
    assert log.entries() == ()
    assert log.unapplied() == ()
    with pytest.raises(IndexError):
        log.term_at(1)


def test_recovered_log_keeps_entries_and_commit():
    log = log_of([1, 1, 2, 3, 3], commit=3)
    assert (log.last_index, log.last_term, log.commit, log.applied) == (5, 3, 3, 0)
    assert [log.term_at(i) for i in range(6)] == [0, 1, 1, 2, 3, 3]
    assert log.entry(4) == Entry(4, 3, b"4@3")
    assert log.unapplied() == ents(1, [1, 1, 2])  # a restarted state machine replays the committed prefix


@pytest.mark.parametrize("entries, commit, applied", [
    ([Entry(2, 1)], 0, 0),                    # does not start at 1
    ([Entry(1, 1), Entry(3, 1)], 0, 0),       # a gap
    ([Entry(1, 2), Entry(2, 1)], 0, 0),       # term goes down
    ([Entry(1, 1)], 2, 0),                    # commit beyond the log
    ([Entry(1, 1)], -1, 0),
    ([Entry(1, 1)], 1, 2),                    # applied beyond commit
    ([Entry(1, 1)], True, 0),                 # a bool is not an index
])
def test_recovery_refuses_an_inconsistent_log(entries, commit, applied):
    with pytest.raises(ValueError):
        RaftLog(entries, commit, applied=applied)


def test_term_runs_and_term_lookups():
    log = log_of([1, 1, 1, 4, 4, 5, 5, 6, 6, 6])
    assert log.term_runs() == [(1, 3), (4, 2), (5, 2), (6, 3)]
    assert log.term_runs(2, 7) == [(1, 2), (4, 2), (5, 2)]
    assert log.term_runs(9, 9) == [(6, 1)]
    assert log.term_runs(5, 4) == []
    assert [log.first_index_of_term_at(i) for i in range(1, 11)] == [1, 1, 1, 4, 4, 6, 6, 8, 8, 8]
    assert {t: log.last_index_of_term(t) for t in range(8)} == {0: 0, 1: 3, 2: 0, 3: 0, 4: 5, 5: 7, 6: 10, 7: 0}
    with pytest.raises(IndexError):
        log.term_runs(1, 11)


# ------------------------------------------------------------------ §5.4.1 up-to-date
@pytest.mark.parametrize("cand_index, cand_term, expected", [
    (5, 3, True),     # same last entry
    (6, 3, True),     # same last term, longer
    (4, 3, False),    # same last term, shorter
    (1, 4, True),     # later last term wins even when much shorter
    (100, 2, False),  # earlier last term loses even when much longer
    (0, 0, False),    # an empty log is not up to date against a non-empty one
])
def test_up_to_date_compares_last_term_then_length(cand_index, cand_term, expected):
    """§5.4.1: "If the logs have last entries with different terms, then the log with the later term is more
    up-to-date. If the logs end with the same term, then whichever log is longer is more up-to-date." """
    assert log_of([1, 1, 2, 3, 3]).is_up_to_date(cand_index, cand_term) is expected


def test_any_log_is_up_to_date_against_an_empty_one():
    assert RaftLog().is_up_to_date(0, 0)
    assert RaftLog().is_up_to_date(3, 1)


@PROPS
@given(st.lists(st.integers(1, 5), max_size=8).map(sorted), st.integers(0, 10), st.integers(0, 6))
def test_up_to_date_is_the_lexicographic_order_of_last_term_and_index(terms, cand_index, cand_term):
    log = log_of(terms)
    assert log.is_up_to_date(cand_index, cand_term) == ((cand_term, cand_index) >= (log.last_term, log.last_index))


# ------------------------------------------------------------------ §5.3 consistency check and append
def test_reject_when_shorter_hints_last_index_plus_one_and_term_zero():
    r = log_of([1, 1, 2]).follower_append(5, 2, ents(6, [2]), 9)
    assert r == Rejected(prev_index=5, conflict_index=4, conflict_term=0)
    assert not r.success


def test_reject_on_term_mismatch_hints_that_terms_first_index():
    log = log_of([1, 2, 2, 2, 3])
    r = log.follower_append(4, 3, ents(5, [3]), 0)
    assert r == Rejected(prev_index=4, conflict_index=2, conflict_term=2)
    assert terms_of(log) == [1, 2, 2, 2, 3]  # a rejection changes nothing


def test_accept_appends_and_reports_match_and_new_entries():
    log = log_of([1, 1])
    r = log.follower_append(2, 1, ents(3, [2, 2]), 0)
    assert r == Accepted(entries=ents(3, [2, 2]), replace_from=3, truncated=False, match=4, commit=0)
    assert r.success and terms_of(log) == [1, 1, 2, 2]


def test_heartbeat_is_accepted_and_changes_nothing_but_commit():
    log = log_of([1, 1, 2])
    r = log.follower_append(2, 1, (), 3)
    assert r == Accepted(entries=(), replace_from=0, truncated=False, match=2, commit=2)
    assert terms_of(log) == [1, 1, 2]  # the entry at 3 is not confirmed by this message, and stays


def test_conflicting_suffix_is_replaced_from_the_first_conflict():
    """Figure 2, receiver rule 3: "If an existing entry conflicts with a new one (same index but different
    terms), delete the existing entry and all that follow it." """
    log = log_of([1, 1, 2, 2, 2])
    r = log.follower_append(1, 1, ents(2, [1, 3], b"new"), 0)
    assert isinstance(r, Accepted)
    assert (r.replace_from, r.truncated, r.match) == (3, True, 3)
    assert r.entries == ents(3, [3], b"new")  # index 2 was already there with term 1: skipped
    assert terms_of(log) == [1, 1, 3]
    assert log.entry(3).data == b"new3@3"
    assert log.term_runs() == [(1, 2), (3, 1)]


def test_commit_is_min_of_leader_commit_and_last_new_entry():
    """Figure 2, receiver rule 5: commitIndex = min(leaderCommit, index of last new entry)."""
    log = log_of([1, 1, 1, 1, 1])  # holds more than the message confirms
    assert log.follower_append(1, 1, ents(2, [1]), 5).commit == 2
    assert log.commit == 2
    assert log.follower_append(4, 1, (), 3).commit == 3
    assert log.follower_append(5, 1, (), 4).commit == 4


def test_commit_never_goes_back():
    log = log_of([1, 1, 1], commit=2)
    assert log.follower_append(3, 1, (), 1).commit == 2  # a lagging leader commit does not lower ours
    assert not log.commit_to(1) and log.commit == 2
    assert log.commit_to(3) and log.commit == 3
    assert not log.commit_to(3)


def test_commit_beyond_the_log_is_a_safety_violation():
    log = log_of([1, 1])
    with pytest.raises(LogSafetyError):
        log.commit_to(3)
    assert log.commit == 0


@pytest.mark.parametrize("commit", [3, 4])
def test_truncating_at_or_below_commit_raises_and_changes_nothing(commit):
    log = log_of([1, 1, 1, 1], commit=commit)
    with pytest.raises(LogSafetyError):
        log.follower_append(2, 1, ents(3, [2, 2]), 4)
    assert terms_of(log) == [1, 1, 1, 1] and log.commit == commit


def test_truncating_just_above_commit_is_allowed():
    log = log_of([1, 1, 1, 1], commit=2)
    r = log.follower_append(2, 1, ents(3, [2]), 3)
    assert isinstance(r, Accepted) and r.truncated and terms_of(log) == [1, 1, 2] and log.commit == 3


@pytest.mark.parametrize("entries", [
    (Entry(4, 1),),                   # does not start at prev_index + 1
    (Entry(3, 1), Entry(5, 1)),       # a gap
    (Entry(3, 2), Entry(4, 1)),       # term goes down
    (Entry(3, 1), Entry(4, 3), Entry(5, 2)),
])
def test_malformed_entries_are_refused_and_change_nothing(entries):
    log = log_of([1, 2], commit=1)
    with pytest.raises(ValueError):
        log.follower_append(2, 2, entries, 2)
    assert terms_of(log) == [1, 2] and log.commit == 1


def test_new_entry_older_than_prev_term_is_refused():
    log = log_of([1, 3])
    with pytest.raises(ValueError):
        log.follower_append(2, 3, ents(3, [2]), 0)
    assert terms_of(log) == [1, 3]


def test_duplicate_and_stale_append_entries_never_truncate():
    """A message delivered twice, or an older message of the same leader arriving after a newer one, finds
    every entry it carries already present with the same term: nothing new, nothing truncated."""
    log = RaftLog()
    first = (0, 0, ents(1, [1, 1, 2]), 0)
    second = (3, 2, ents(4, [2, 2]), 3)
    assert log.follower_append(*first).entries == ents(1, [1, 1, 2])
    assert log.follower_append(*second).entries == ents(4, [2, 2])
    for msg in (first, second, first, (1, 1, ents(2, [1]), 2)):
        r = log.follower_append(*msg)
        assert isinstance(r, Accepted) and r.entries == () and not r.truncated
        assert terms_of(log) == [1, 1, 2, 2, 2] and log.commit == 3


def test_unapplied_hands_out_each_committed_entry_once_in_order():
    log = log_of([1, 1, 2, 2])
    assert log.unapplied() == ()
    log.commit_to(2)
    assert log.unapplied() == ents(1, [1, 1]) and log.applied == 2
    assert log.unapplied() == ()
    log.follower_append(4, 2, (), 4)
    assert log.unapplied() == ents(3, [2, 2]) and log.applied == 4


# ------------------------------------------------------------------ leader side
def test_leader_append_numbers_entries_and_refuses_an_older_term():
    log = log_of([1, 2])
    assert log.leader_append(3) == Entry(3, 3, b"")
    assert log.leader_append_batch(3, [b"a", b"b"]) == (Entry(4, 3, b"a"), Entry(5, 3, b"b"))
    assert log.term_runs() == [(1, 1), (2, 1), (3, 3)]
    with pytest.raises(ValueError):
        log.leader_append(2)
    assert log.last_index == 5


def test_entries_from_bounds_count_and_bytes():
    log = RaftLog([Entry(i, 1, b"x" * 10) for i in range(1, 11)])
    assert [e.index for e in log.entries_from(3, 4, 10_000)] == [3, 4, 5, 6]
    assert [e.index for e in log.entries_from(3, 100, 30)] == [3, 4, 5]   # exactly at the budget
    assert [e.index for e in log.entries_from(3, 100, 29)] == [3, 4]
    assert [e.index for e in log.entries_from(3, 100, 5)] == [3]          # one entry always goes
    assert [e.index for e in log.entries_from(9, 100, 10_000)] == [9, 10]
    assert log.entries_from(11, 100, 10_000) == ()
    with pytest.raises(IndexError):
        log.entries_from(12, 1, 1)
    with pytest.raises(IndexError):
        log.entries_from(0, 1, 1)


def test_entry_overhead_counts_in_sizes_and_budgets():
    log = RaftLog([Entry(i, 1, b"x" * 10) for i in range(1, 6)], entry_overhead=6)
    assert log.size(1, 5) == 80 and log.size(2, 1) == 0
    assert [e.index for e in log.entries_from(1, 100, 32)] == [1, 2]


@PROPS
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=30), st.data())
def test_entries_from_is_the_longest_prefix_within_both_bounds(datas, data):
    log = RaftLog([Entry(i, 1, d) for i, d in enumerate(datas, 1)])
    nxt = data.draw(st.integers(1, log.last_index + 1))
    max_count = data.draw(st.integers(1, 35))
    max_bytes = data.draw(st.integers(1, 400))
    got = log.entries_from(nxt, max_count, max_bytes)
    assert got == log.entries(nxt, nxt - 1 + len(got))
    size = sum(len(e.data) for e in got)
    if nxt <= log.last_index:
        assert 1 <= len(got) <= max_count
        assert size <= max_bytes or len(got) == 1
        end = nxt - 1 + len(got)
        if end < log.last_index and len(got) < max_count:  # one more would break the byte budget
            assert size + len(log.entry(end + 1).data) > max_bytes
    else:
        assert got == ()


def test_backup_next_follows_the_fast_backup_rule():
    leader = log_of([1, 1, 1, 4, 4, 5, 5, 6, 6, 6])
    assert leader.backup_next(conflict_index=8, conflict_term=0) == 8    # follower shorter
    assert leader.backup_next(conflict_index=4, conflict_term=4) == 6    # leader has term 4: after its last
    assert leader.backup_next(conflict_index=7, conflict_term=3) == 7    # leader lacks term 3: skip it all
    assert leader.backup_next(conflict_index=0, conflict_term=0) == 1


# ------------------------------------------------------------------ Figure 7
# The leader's log at the top of Figure 7 (the leader of term 8), plus the no-op it appends on taking office.
FIG7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
FIG7 = {
    #     follower log                       first answer (index, conflict_index, conflict_term) or Accepted
    "a": ([1, 1, 1, 4, 4, 5, 5, 6, 6],          Rejected(10, 10, 0), [11, 10]),
    "b": ([1, 1, 1, 4],                         Rejected(10, 5, 0), [11, 5]),
    "c": ([1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],    "accept", [11]),
    "d": ([1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], "accept", [11]),
    "e": ([1, 1, 1, 4, 4, 4, 4],                Rejected(10, 8, 0), [11, 8, 6]),
    "f": ([1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],    Rejected(10, 7, 3), [11, 7, 4]),
}


def replicate(leader, follower, pr, *, max_count=100, max_bytes=1 << 20, limit=50):
    """Drive one follower to the leader's log through Progress, delivering each message at once. Returns the
    next index of every AppendEntries sent and every answer."""
    sent, answers = [], []
    while pr.match < leader.last_index:
        assert len(sent) < limit, "replication does not converge"
        assert pr.can_send()
        nxt = pr.next
        batch = leader.entries_from(nxt, max_count, max_bytes)
        sent.append(nxt)
        pr.sent(nxt - 1 + len(batch), leader.size(nxt, nxt - 1 + len(batch)))
        r = follower.follower_append(nxt - 1, leader.term_at(nxt - 1), batch, leader.commit)
        answers.append(r)
        if isinstance(r, Accepted):
            assert pr.on_success(r.match)
        else:
            assert pr.on_reject(r.prev_index, leader.backup_next(r.conflict_index, r.conflict_term))
    return sent, answers


@pytest.mark.parametrize("case", sorted(FIG7))
def test_figure7_follower_is_repaired_with_fast_backup(case):
    """§5.3 and Figure 7: each follower (a)-(f) ends with exactly the leader's log; the leader walks back with
    the conflict hint one term at a time (not one index at a time), and only uncommitted entries are lost."""
    follower_terms, first_answer, walk = FIG7[case]
    leader = log_of(FIG7_LEADER, commit=3)
    noop = leader.leader_append(8)
    follower = log_of(follower_terms, commit=3)
    pr = Progress(next_index=leader.last_index, max_inflight=4, max_inflight_bytes=1 << 20)  # next = 11
    sent, answers = replicate(leader, follower, pr)
    if first_answer == "accept":
        assert isinstance(answers[0], Accepted)
        assert answers[0].truncated == (len(follower_terms) > 10)
        assert answers[0].entries == (noop,)
    else:
        assert answers[0] == first_answer
    assert sent == walk
    assert all(isinstance(a, Rejected) for a in answers[:-1]) and isinstance(answers[-1], Accepted)
    assert follower.entries() == leader.entries()
    assert (pr.state, pr.match, pr.next) == (REPLICATE, 11, 12)
    assert follower.commit == 3


def test_figure7_without_the_hint_walks_back_one_index_at_a_time():
    """The paper's basic rule (decrement nextIndex) for case (f) takes 7 round trips; the hint takes 3."""
    leader = log_of(FIG7_LEADER)
    leader.leader_append(8)
    follower = log_of(FIG7["f"][0])
    nxt, trips = 11, 0
    while True:
        trips += 1
        r = follower.follower_append(nxt - 1, leader.term_at(nxt - 1), leader.entries_from(nxt, 100, 1 << 20), 0)
        if isinstance(r, Accepted):
            break
        nxt -= 1
    assert (trips, nxt) == (8, 4)
    assert len(FIG7["f"][2]) == 3


# ------------------------------------------------------------------ properties over random logs
@st.composite
def diverged(draw):
    """A leader log and a follower log that share a prefix and then diverge, as Raft logs do: the leader's
    terms are even, the follower's own suffix terms odd (created by leaders the current leader never heard
    of), so Log Matching holds between them. The follower's commit lies within the shared prefix."""
    steps = st.lists(st.integers(0, 2), max_size=14)
    lead = [2]
    for s in draw(steps):
        lead.append(lead[-1] + 2 * s if lead else 2)
    lead = lead[: draw(st.integers(0, len(lead)))]
    shared = draw(st.integers(0, len(lead)))
    fol = lead[:shared]
    t = fol[-1] if fol else 0
    for s in draw(steps):
        t = t + 1 if t % 2 == 0 else t + 2 * s  # odd, non-decreasing
        fol.append(t)
    commit = draw(st.integers(0, shared))
    return lead, fol, shared, commit


@PROPS
@given(diverged(), st.integers(1, 5), st.integers(1, 60))
def test_fast_backup_converges_to_the_leaders_log(case, max_count, max_bytes):
    lead_terms, fol_terms, shared, commit = case
    leader = log_of(lead_terms, commit=commit)
    follower = log_of(fol_terms, commit=commit)
    pr = Progress(next_index=leader.last_index + 1, max_inflight=3, max_inflight_bytes=1 << 20)
    old_fol = follower.entries()
    sent, answers = replicate(leader, follower, pr, max_count=max_count, max_bytes=max_bytes, limit=200)
    if leader.last_index == 0:
        assert sent == []
        pr.sent(0, 0)
        follower.follower_append(0, 0, (), 0)
    for a in answers:
        if isinstance(a, Accepted):
            # after each accept, the follower matches the leader through the last entry the message carried
            assert follower.entries(1, a.match) == leader.entries(1, a.match)
            assert not a.truncated or a.replace_from > commit
    # a rejection-driven walk takes one round trip per term of the follower's divergent suffix, at most
    rejections = sum(isinstance(a, Rejected) for a in answers)
    assert rejections <= len(set(fol_terms[shared:])) + 1
    # the follower's log is the leader's, except that it may keep extra entries no message contradicted
    # (a follower longer than the leader, whose suffix beyond the leader's last index no message reached)
    assert follower.entries(1, leader.last_index) == leader.entries()
    assert follower.entries()[:shared] == old_fol[:shared]


@PROPS
@given(st.lists(st.integers(0, 2), min_size=1, max_size=20), st.data())
def test_duplicated_reordered_stale_messages_never_truncate(steps, data):
    """Messages cut from one leader's log, delivered in any order with duplicates: the follower's log is always
    a prefix of the leader's, never shrinks, and its commit index never goes back."""
    terms = [1]
    for s in steps:
        terms.append(terms[-1] + s)
    leader = log_of(terms)
    n = leader.last_index
    msgs = []
    for _ in range(data.draw(st.integers(1, 25))):
        prev = data.draw(st.integers(0, n))
        count = data.draw(st.integers(0, n - prev))
        leader_commit = data.draw(st.integers(0, n))
        msgs.append((prev, leader.term_at(prev), leader.entries(prev + 1, prev + count), leader_commit))
    order = data.draw(st.lists(st.sampled_from(msgs), max_size=40))
    follower = RaftLog()
    for prev, pt, es, lc in order:
        before_last, before_commit = follower.last_index, follower.commit
        r = follower.follower_append(prev, pt, es, lc)
        assert follower.last_index >= before_last
        assert follower.commit >= before_commit and follower.commit <= follower.last_index
        assert follower.entries() == leader.entries(1, follower.last_index)
        if isinstance(r, Accepted):
            assert not r.truncated
            assert r.commit == max(before_commit, min(lc, prev + len(es)))
        else:
            assert prev > before_last and r == Rejected(prev, before_last + 1, 0)


@PROPS
@given(st.integers(1, 8), st.data())
def test_log_matching_holds_after_any_accepted_append(rounds, data):
    """Log Matching (§5.3): if two logs hold an entry with the same index and term, they are identical up to it.
    Each round, a new leader (a fresh term, higher than any before) takes some existing log, has it accept some
    append cut from another existing log, and adds its own entry: Log Matching holds among all of them."""
    logs = [RaftLog()]
    term = 0
    for _ in range(rounds):
        src = logs[data.draw(st.integers(0, len(logs) - 1))]
        dst = RaftLog(logs[data.draw(st.integers(0, len(logs) - 1))].entries())
        prev = data.draw(st.integers(0, src.last_index))
        r = dst.follower_append(prev, src.term_at(prev), src.entries(prev + 1, src.last_index), 0)
        if isinstance(r, Accepted):
            assert dst.entries(1, r.match) == src.entries(1, r.match)
        term += 1
        for k in range(data.draw(st.integers(1, 2))):
            dst.leader_append(term, f"{term}.{k}".encode())
        logs.append(dst)
    for a in logs:
        for b in logs:
            for i in range(1, min(a.last_index, b.last_index) + 1):
                if a.term_at(i) == b.term_at(i):
                    assert a.entries(1, i) == b.entries(1, i)


@PROPS
@given(st.lists(st.integers(0, 3), max_size=40), st.data())
def test_run_index_agrees_with_a_scan(steps, data):
    terms = []
    t = 1
    for s in steps:
        t += s
        terms.append(t)
    log = log_of(terms)
    if data.draw(st.booleans()) and log.last_index:  # exercise truncation of the run index too
        keep = data.draw(st.integers(0, log.last_index - 1))
        newt = log.last_term + data.draw(st.integers(1, 3))  # conflicts with entry keep + 1
        log.follower_append(keep, log.term_at(keep), ents(keep + 1, [newt, newt]), 0)
        terms = terms[:keep] + [newt, newt]
    assert terms_of(log) == terms
    for i in range(1, len(terms) + 1):
        j = i
        while j > 1 and terms[j - 2] == terms[i - 1]:
            j -= 1
        assert log.first_index_of_term_at(i) == j
    for term in set(terms) | {0, 99}:
        expect = max((i for i, x in enumerate(terms, 1) if x == term), default=0)
        assert log.last_index_of_term(term) == expect
    runs = log.term_runs()
    assert sum(c for _, c in runs) == len(terms)
    assert [x for term, c in runs for x in [term] * c] == terms


def test_heartbeat_fast_path_agrees_with_follower_append_on_random_logs():
    """RaftLog.heartbeat (the core's hot path for AppendEntries without entries) does exactly what
    follower_append does with no entries: the same acceptance, the same match and commit, and no change on a
    rejection."""
    import random as _random

    rng = _random.Random(7)
    for _ in range(2000):
        terms = sorted(rng.randint(1, 4) for _ in range(rng.randint(0, 6)))
        ents = [Entry(i + 1, t) for i, t in enumerate(terms)]
        commit = rng.randint(0, len(ents))
        prev = rng.randint(0, len(ents) + 2)
        prev_term = 0 if prev == 0 else rng.randint(1, 5)
        leader_commit = rng.randint(0, 9)
        a, b = RaftLog(ents, commit), RaftLog(ents, commit)
        fast = a.heartbeat(prev, prev_term, leader_commit)
        slow = b.follower_append(prev, prev_term, (), leader_commit)
        if slow.success:
            assert fast == slow.match and a.commit == b.commit
        else:
            assert fast == -1 and a.commit == commit
