"""Per-follower progress, the in-flight window and the commit rule (raftzmq/protocol/progress.py):
probe then replicate, windows bounded by count and bytes, and §5.4.2 with the paper's Figure 8."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftzmq.protocol.messages import Entry
from raftzmq.protocol.progress import PROBE, REPLICATE, Inflights, Progress, Tracker
from raftzmq.protocol.quorum import majority
from raftzmq.protocol.raftlog import Accepted, LogSafetyError, RaftLog

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def log_of(terms, commit=0):
    return RaftLog([Entry(i, t, f"{i}@{t}".encode()) for i, t in enumerate(terms, 1)], commit)


def send(pr, log, max_count=100, max_bytes=1 << 20):
    """What a leader does to send one AppendEntries: returns (prev_index, prev_term, entries)."""
    nxt = pr.next
    batch = log.entries_from(nxt, max_count, max_bytes) if nxt <= log.last_index else ()
    pr.sent(nxt - 1 + len(batch), log.size(nxt, nxt - 1 + len(batch)))
    return nxt - 1, log.term_at(nxt - 1), batch


# ------------------------------------------------------------------ Inflights
def test_window_is_full_at_max_count():
    w = Inflights(max_count=3, max_bytes=1000)
    for i in (1, 2, 3):
        assert not w.full()
        w.add(i, 10)
    assert w.full() and w.count == 3 and w.bytes == 30
    with pytest.raises(RuntimeError):
        w.add(4, 10)


def test_window_is_full_at_max_bytes_and_the_byte_bound_is_soft():
    w = Inflights(max_count=100, max_bytes=100)
    w.add(5, 60)
    assert not w.full()
    w.add(9, 60)  # one message may take it past the budget...
    assert w.full() and w.bytes == 120  # ...and then nothing more goes
    with pytest.raises(RuntimeError):
        w.add(10, 1)


def test_window_frees_acknowledged_messages_only():
    w = Inflights(max_count=4, max_bytes=1000)
    for last, size in ((3, 30), (6, 30), (9, 30), (12, 30)):
        w.add(last, size)
    w.free_le(2)
    assert (w.count, w.bytes) == (4, 120)
    w.free_le(7)  # frees the messages ending at 3 and 6, not the one ending at 9 (only partly acknowledged)
    assert (w.count, w.bytes) == (2, 60) and not w.full()
    w.free_le(100)
    assert (w.count, w.bytes) == (0, 0)


def test_window_refuses_out_of_order_adds_and_bad_bounds():
    w = Inflights(2, 10)
    w.add(5, 1)
    with pytest.raises(ValueError):
        w.add(5, 1)
    for bad in ((0, 10), (2, 0), (True, 10)):
        with pytest.raises(ValueError):
            Inflights(*bad)


@PROPS
@given(st.integers(1, 6), st.integers(1, 200), st.lists(st.tuples(st.booleans(), st.integers(0, 80)), max_size=60))
def test_window_never_exceeds_its_bounds(max_count, max_bytes, ops):
    w = Inflights(max_count, max_bytes)
    last = 0
    sent: list[tuple[int, int]] = []
    for is_send, n in ops:
        if is_send:
            if w.full():
                continue
            last += 1
            w.add(last, n)
            sent.append((last, n))
        else:
            acked = last - n % (last + 1)
            w.free_le(acked)
            sent = [s for s in sent if s[0] > acked]
        assert w.count == len(sent) <= max_count
        assert w.bytes == sum(b for _, b in sent)
        # soft byte bound: without its last message the window is below the budget
        assert not sent or w.bytes - sent[-1][1] < max_bytes


# ------------------------------------------------------------------ Progress: probe
def test_new_progress_probes_one_message_then_waits():
    log = log_of([1, 1, 2])
    pr = Progress(next_index=4, max_inflight=4, max_inflight_bytes=1 << 20)
    assert (pr.state, pr.match, pr.next) == (PROBE, 0, 4) and pr.can_send()
    send(pr, log)
    assert pr.paused and not pr.can_send()  # no second message before an answer
    assert pr.next == 4  # probing does not move next optimistically


def test_probe_rejection_moves_next_by_the_hint_and_allows_the_next_probe():
    log = log_of([1, 1, 2, 2, 3])
    pr = Progress(6, 4, 1 << 20)
    send(pr, log)
    assert pr.on_reject(5, hint_next=3)
    assert (pr.state, pr.next, pr.paused) == (PROBE, 3, False)


def test_stale_probe_rejection_is_ignored():
    pr = Progress(6, 4, 1 << 20)
    pr.sent(5, 0)
    assert pr.on_reject(5, 3)
    pr.sent(2, 0)
    assert not pr.on_reject(5, 1)  # answers the earlier probe, not the one at next - 1 = 2
    assert (pr.next, pr.paused) == (3, True)


def test_rejection_hint_is_clamped_between_match_and_the_rejected_index():
    pr = Progress(10, 4, 1 << 20, match=4)
    pr.sent(9, 0)
    assert pr.on_reject(9, hint_next=2)
    assert pr.next == 5  # never below match + 1: those entries are known to be there
    pr.sent(4, 0)
    assert pr.on_reject(4, hint_next=50) is True
    assert pr.next == 5  # never above the index that was just rejected


def test_heartbeat_response_allows_one_more_probe():
    """A probe that is lost costs at most one more message per heartbeat interval."""
    pr = Progress(4, 4, 1 << 20)
    pr.sent(3, 0)
    assert not pr.can_send()
    pr.on_heartbeat_response(leader_last=3)
    assert pr.can_send()
    pr.sent(3, 0)
    assert not pr.can_send()


def test_probe_success_switches_to_replicate():
    log = log_of([1, 1, 2])
    pr = Progress(4, 4, 1 << 20)
    send(pr, log)
    assert pr.on_success(3)
    assert (pr.state, pr.match, pr.next, pr.paused) == (REPLICATE, 3, 4, False)


def test_probe_success_at_match_switches_to_replicate_even_when_match_does_not_rise():
    pr = Progress(1, 4, 1 << 20)  # a leader with an empty log
    pr.sent(0, 0)
    assert not pr.on_success(0)
    assert pr.state == REPLICATE


def test_stale_success_in_probe_updates_match_but_stays_in_probe():
    pr = Progress(8, 4, 1 << 20)
    pr.sent(7, 0)
    assert pr.on_success(3)  # a late answer to an older message: the follower holds 3
    assert (pr.state, pr.match, pr.next, pr.paused) == (PROBE, 3, 8, True)


# ------------------------------------------------------------------ Progress: replicate
def replicating(log, match, max_inflight=3, max_bytes=1 << 20):
    pr = Progress(match + 1, max_inflight, max_bytes, match=match)
    pr.become_replicate()
    return pr


def test_replicate_pipelines_until_the_window_is_full_by_count():
    log = log_of([1] * 20)
    pr = replicating(log, 0, max_inflight=3)
    sent = []
    while pr.can_send():
        sent.append(send(pr, log, max_count=2))
    assert [(p, len(b)) for p, _, b in sent] == [(0, 2), (2, 2), (4, 2)]
    assert (pr.next, pr.inflights.count) == (7, 3)
    assert pr.on_success(4)  # frees the first two messages
    assert pr.can_send() and pr.inflights.count == 1 and pr.match == 4


def test_replicate_window_is_bounded_by_bytes():
    log = RaftLog([Entry(i, 1, b"x" * 100) for i in range(1, 21)])
    pr = replicating(log, 0, max_inflight=100, max_bytes=250)
    sizes = []
    while pr.can_send():
        p, _, b = send(pr, log, max_count=1)
        sizes.append(sum(len(e.data) for e in b))
    assert sizes == [100, 100, 100]  # 300 >= 250: full; the last message took it past the soft bound
    assert pr.inflights.bytes == 300 and pr.next == 4


def test_replicate_empty_message_is_not_counted_in_the_window():
    log = log_of([1, 1])
    pr = replicating(log, 2, max_inflight=1)
    send(pr, log)
    assert pr.inflights.count == 0 and pr.can_send()


def test_replicate_rejection_goes_back_to_probe_with_the_hint():
    log = log_of([1] * 10)
    pr = replicating(log, 2)
    send(pr, log, max_count=3)
    send(pr, log, max_count=3)
    assert pr.next == 9
    assert pr.on_reject(5, hint_next=4)
    assert (pr.state, pr.next, pr.inflights.count, pr.paused) == (PROBE, 4, 0, False)


def test_replicate_stale_rejection_at_or_below_match_is_ignored():
    pr = Progress(6, 3, 1 << 20, match=5)
    pr.become_replicate()
    assert not pr.on_reject(5, 1)
    assert (pr.state, pr.next) == (REPLICATE, 6)


def test_heartbeat_response_frees_a_full_window_when_the_follower_is_behind():
    log = log_of([1] * 10)
    pr = replicating(log, 0, max_inflight=2)
    send(pr, log, max_count=2)
    send(pr, log, max_count=2)
    assert not pr.can_send()
    pr.on_heartbeat_response(leader_last=10)  # both messages probably lost
    assert pr.can_send() and pr.inflights.count == 0 and pr.next == 5
    # the next message (from next = 5) is refused by a follower that got neither; the hint rewinds next
    follower = RaftLog()
    p, t, b = send(pr, log, max_count=2)
    r = follower.follower_append(p, t, b, 0)
    assert pr.on_reject(r.prev_index, log.backup_next(r.conflict_index, r.conflict_term))
    assert (pr.state, pr.next) == (PROBE, 1)


def test_heartbeat_response_keeps_the_window_when_not_full_or_caught_up():
    log = log_of([1] * 10)
    pr = replicating(log, 0, max_inflight=3)
    send(pr, log, max_count=2)
    pr.on_heartbeat_response(leader_last=10)
    assert pr.inflights.count == 1  # not full: the window stays
    pr = replicating(log, 10, max_inflight=1)
    pr.inflights.add(10, 1)  # full, but the follower holds everything
    pr.on_heartbeat_response(leader_last=10)
    assert pr.inflights.count == 1


def test_heartbeat_commit_is_bounded_by_the_followers_match():
    pr = Progress(4, 3, 100, match=3)
    assert pr.heartbeat_commit(7) == 3
    assert pr.heartbeat_commit(2) == 2
    tr = Tracker(1, [2, 3], 8, max_inflight=3, max_inflight_bytes=100)
    tr[2].on_success(5)
    assert tr.heartbeat_commit(2, 7) == 5 and tr.heartbeat_commit(3, 7) == 0


def test_progress_refuses_match_not_below_next():
    with pytest.raises(ValueError):
        Progress(3, 1, 1, match=3)


# ------------------------------------------------------------------ Tracker: the commit rule
def test_tracker_refuses_the_leader_among_its_peers():
    with pytest.raises(ValueError):
        Tracker(1, [1, 2], 1, max_inflight=1, max_inflight_bytes=1)


def test_quorum_match_counts_the_leader():
    tr = Tracker(1, [2, 3, 4, 5], 1, max_inflight=1, max_inflight_bytes=1)
    for peer, m in ((2, 7), (3, 5), (4, 2), (5, 0)):
        tr[peer].match = m
    assert tr.quorum_match(9) == 5  # 9, 7, 5 | 2, 0
    assert tr.quorum_match(3) == 3  # 7, 5, 3 | 2, 0
    assert Tracker(1, [], 1, max_inflight=1, max_inflight_bytes=1).quorum_match(4) == 4  # a cluster of one


def test_committable_takes_a_current_term_entry_on_a_majority():
    log = log_of([1, 2, 2, 3, 3])
    tr = Tracker(1, [2, 3], 6, max_inflight=1, max_inflight_bytes=1)
    tr[2].match = 4
    assert tr.committable(log, term=3) == 4
    assert tr.committable(log, term=3, self_match=3) == 0  # the leader's own unsynced entries do not count


def test_figure8_old_term_entry_on_a_majority_is_not_committed_by_counting():
    """§5.4.2 and Figure 8. (c): S1, leader of term 4, has replicated index 2 (term 2) to S2 and S3, a majority
    of five. Counting replicas must not commit it: in (d) S5 (log 1, 3@2) can still win term 5 with votes from
    S2, S3 and S4 and overwrite index 2 everywhere. (e): once index 3 of term 4 is on a majority, both commit."""
    s1 = log_of([1, 2], commit=1)
    s1.leader_append(4)  # S1 leads term 4 and appends
    s2, s3, s4, s5 = log_of([1, 2], 1), log_of([1, 2], 1), log_of([1], 1), log_of([1, 3], 1)
    tr = Tracker(1, [2, 3, 4, 5], 3, max_inflight=4, max_inflight_bytes=1 << 20)
    tr[2].on_success(2)
    tr[3].on_success(2)
    tr[4].on_success(1)
    assert tr.quorum_match(s1.last_index) == 2  # index 2 is on a majority...
    assert tr.committable(s1, term=4) == 1  # ...but it is of term 2: not committable by counting
    # (d) why: S5 is up to date for S2, S3 and S4 (last term 3 > 2), wins term 5 and replaces index 2 on them.
    assert all(v.is_up_to_date(s5.last_index, s5.last_term) for v in (s2, s3, s4))
    r = s2.follower_append(1, 1, (Entry(2, 3, b"2@3"),), 1)
    assert isinstance(r, Accepted) and r.truncated  # allowed, because index 2 was never committed
    # a leader that had counted index 2 as committed would have told S3 commit = 2: the overwrite then is a loss
    s3.follower_append(2, 2, (), 2)
    with pytest.raises(LogSafetyError):
        s3.follower_append(1, 1, (Entry(2, 3, b"2@3"),), 1)


def test_figure8_current_term_entry_on_a_majority_commits_the_earlier_ones():
    s1 = log_of([1, 2], commit=1)
    s1.leader_append(4)
    s2, s3 = log_of([1, 2], 1), log_of([1, 2], 1)
    tr = Tracker(1, [2, 3, 4, 5], 3, max_inflight=4, max_inflight_bytes=1 << 20)
    for peer, follower in ((2, s2), (3, s3)):
        pr = tr[peer]
        p, t, b = send(pr, s1)
        r = follower.follower_append(p, t, b, s1.commit)
        assert isinstance(r, Accepted) and r.match == 3
        pr.on_success(r.match)
    assert tr.committable(s1, term=4) == 3  # index 3 (term 4) on S1, S2, S3: commits 2 (term 2) with it
    assert s1.commit_to(3)
    assert [e.index for e in s1.unapplied()] == [1, 2, 3]
    # and S5 (1, 3@2) can no longer win: the majority S1, S2, S3 holds a later last term
    s5 = log_of([1, 3], 1)
    assert not any(v.is_up_to_date(s5.last_index, s5.last_term) for v in (s1, s2, s3))


@PROPS
@given(st.lists(st.integers(0, 2), min_size=1, max_size=12), st.integers(0, 6), st.data())
def test_committable_matches_the_definition(steps, npeers, data):
    """committable == the largest N > commit with a majority holding N and log[N].term == current term,
    computed by brute force; and it never goes below the current commit."""
    terms = [1]
    for s in steps:
        terms.append(terms[-1] + s)
    log = log_of(terms)
    term = log.last_term + data.draw(st.integers(0, 1))
    log.commit_to(data.draw(st.integers(0, log.last_index)))
    tr = Tracker(1, range(2, npeers + 2), log.last_index + 1, max_inflight=1, max_inflight_bytes=1)
    matches = {p: data.draw(st.integers(0, log.last_index)) for p in tr}
    for p, m in matches.items():
        tr[p].match = m
    own = data.draw(st.integers(0, log.last_index))
    holders = list(matches.values()) + [own]
    best = log.commit
    for n in range(log.commit + 1, log.last_index + 1):
        if sum(m >= n for m in holders) >= majority(npeers + 1) and log.term_at(n) == term:
            best = n
    assert tr.committable(log, term, self_match=own) == best >= log.commit


# ------------------------------------------------------------------ end to end: a lossy pipeline converges
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 2), min_size=1, max_size=30), st.data())
def test_lossy_reordering_pipeline_converges_and_respects_the_window(steps, data):
    """A leader streams to one follower over a link that drops, duplicates and reorders messages in both
    directions; heartbeats go every few steps. The window is never exceeded, match only rises, match is never
    beyond what the follower holds, and the follower ends with the leader's log."""
    terms = [1]
    for s in steps:
        terms.append(terms[-1] + s)
    leader = log_of(terms)
    follower = log_of(terms[: data.draw(st.integers(0, len(terms)))])
    max_inflight = data.draw(st.integers(1, 4))
    max_bytes = data.draw(st.integers(1, 40))
    pr = Progress(leader.last_index + 1, max_inflight, max_bytes)
    to_f: list[tuple] = []
    to_l: list[object] = []
    for step in range(400):
        if pr.match == leader.last_index:
            break
        heartbeat = step % 5 == 0
        if pr.can_send():
            to_f.append(("ae",) + send(pr, leader, max_count=data.draw(st.integers(1, 3)), max_bytes=max_bytes))
        if heartbeat:
            to_f.append(("hb", pr.match, leader.term_at(pr.match), (), pr.heartbeat_commit(leader.commit)))
        assert pr.inflights.count <= max_inflight
        lossy = step < 200  # the link heals, so the run must converge
        if to_f:
            msg = to_f.pop(data.draw(st.integers(0, len(to_f) - 1)) if lossy else 0)
            if not lossy or data.draw(st.integers(0, 3)):
                kind, p, t, b = msg[0], msg[1], msg[2], msg[3]
                r = follower.follower_append(p, t, b, 0)
                to_l.append((kind, r))
                if lossy and data.draw(st.booleans()):
                    to_f.append(msg)  # duplicated
        if to_l:
            kind, r = to_l.pop(data.draw(st.integers(0, len(to_l) - 1)) if lossy else 0)
            if not lossy or data.draw(st.integers(0, 3)):
                before = pr.match
                if kind == "hb":
                    if isinstance(r, Accepted):
                        pr.on_success(r.match)
                    pr.on_heartbeat_response(leader.last_index)
                elif isinstance(r, Accepted):
                    pr.on_success(r.match)
                else:
                    pr.on_reject(r.prev_index, leader.backup_next(r.conflict_index, r.conflict_term))
                assert pr.match >= before
                assert follower.entries(1, pr.match) == leader.entries(1, pr.match)
                assert pr.match < pr.next
    assert pr.match == leader.last_index
    assert follower.entries() == leader.entries()
