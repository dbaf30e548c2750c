"""Failover figures computed from hand-made records."""
from raftzmq.evidence.report import failover_times, recovery_summary

S = 1_000_000_000


def rec(t, event, node, by="node", term=None, **fields):
    r = {"ts": t, "mono_ns": int(t * S), "event": event, "by": by, "node": node, **fields}
    if term is not None:
        r["term"] = term
    return r


def test_kill_pause_partition_and_step_down_each_start_a_failover():
    records = [
        rec(0.0, "became_leader", 1, term=1),
        rec(1.0, "node_killed", 1, by="supervisor", signal="SIGKILL"),
        rec(1.25, "became_leader", 2, term=2),
        rec(2.0, "node_paused", 2, by="supervisor"),
        rec(2.5, "became_leader", 3, term=3),
        rec(3.0, "partition", 0, by="supervisor", groups=[[3, 4], [1, 2, 5]]),
        rec(3.1, "became_leader", 1, term=3),  # same term as before: not a recovery (and never happens)
        rec(3.4, "became_leader", 5, term=4),
        rec(4.0, "stepped_down", 5, term=4, reason="check_quorum"),
        rec(4.5, "became_leader", 4, term=5),
    ]
    times, unresolved = failover_times(records, 5)
    assert [round(t, 3) for t in times] == [0.25, 0.5, 0.4, 0.5]
    assert unresolved == 0


def test_partition_with_leader_in_majority_is_not_a_loss_and_stop_is_not_a_failure():
    records = [
        rec(0.0, "became_leader", 1, term=1),
        rec(1.0, "partition", 0, by="supervisor", groups=[[1, 2, 3], [4, 5]]),
        rec(2.0, "node_killed", 2, by="supervisor", signal="SIGKILL"),
        rec(3.0, "cluster_stopping", 0, by="supervisor"),
        rec(3.1, "node_killed", 1, by="supervisor", signal="SIGTERM"),
    ]
    assert failover_times(records, 5) == ([], 0)


def test_an_unrecovered_loss_is_counted():
    records = [rec(0.0, "became_leader", 1, term=1), rec(1.0, "node_killed", 1, by="supervisor")]
    assert failover_times(records, 3) == ([], 1)
    summary = recovery_summary(records, 3)
    assert summary["unresolved_failovers"] == 1 and summary["elections_won"] == 1


def test_failovers_name_their_cause_and_the_report_lists_them():
    from raftzmq.evidence.report import failovers, render_report

    records = [
        rec(0.0, "became_leader", 1, term=1),
        rec(1.0, "node_killed", 1, by="supervisor", signal="SIGKILL"),
        rec(1.2, "became_leader", 2, term=2),
        rec(2.0, "stepped_down", 2, term=2, reason="check_quorum"),
    ]
    found = failovers(records, 3)
    assert [(f.cause, f.leader, f.new_leader, f.seconds is not None) for f in found] == [
        ("node_killed", 1, 2, True), ("stepped_down:check_quorum", 2, None, False)]
    text = render_report(records, 3)
    assert "term    2  node 2" in text and "node_killed" in text and "200 ms -> node 2" in text
    assert "never recovered" in text


def test_a_failover_came_through_a_hint_only_when_the_winners_campaign_was_a_hint_prevote():
    from raftzmq.evidence.report import failovers, render_report
    records = [
        rec(0.0, "became_leader", 1, term=1),
        rec(1.0, "node_killed", 1, by="supervisor", signal="SIGKILL"),
        rec(1.001, "hint", 2, term=1, peer=1, closed="tcp://127.0.0.1:5001"),
        rec(1.002, "became_precandidate", 2, term=1, hint=True),
        rec(1.003, "became_candidate", 2, term=2),
        rec(1.004, "became_leader", 2, term=2),
        rec(2.0, "node_paused", 2, by="supervisor"),
        rec(2.1, "became_precandidate", 3, term=2, hint=True),  # a hint round that lost ...
        rec(2.2, "became_follower", 3, term=2, leader=None),
        rec(2.3, "election_timeout", 3, term=2),  # ... and the timer's round that won
        rec(2.3, "became_precandidate", 3, term=2),
        rec(2.4, "became_leader", 3, term=3),
    ]
    assert [f.via_hint for f in failovers(records, 5)] == [True, False]
    text = render_report(records, 5)
    assert text.count("via hint") == 1 and "failovers_via_hint=1" in text
