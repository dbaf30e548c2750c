"""The replication invariants (f)-(k) of the checker (evidence/replication_checks.py, docs/log-schema.md): good
histories it must accept, and for each invariant bad histories it must reject, written through the real LogWriter
with real digests (tests/logs_fixtures.py, `Run(..., replication=True)`)."""
import io
import json
import time

import pytest

from logs_fixtures import Run, clean_run
from raftzmq.evidence.checker import INVARIANTS, Checker, check_run, render_summary, run_check
from raftzmq.evidence.logdigest import ZERO, DigestChain
from raftzmq.evidence.logfile import LogFormatError, LogWriter
from raftzmq.protocol.messages import Entry


def letters(result):
    return sorted({v.invariant for v in result.violations})


def only(result, letter):
    vs = [v for v in result.violations if v.invariant == letter]
    assert vs, result.violations
    return vs


def started(tmp_path, nodes=3):
    r = Run(tmp_path, nodes, replication=True)
    for n in range(1, nodes + 1):
        r.start(n)
    return r


def elected(tmp_path, nodes=3):
    """Node 1 leads term 1 with every vote; entries 1..2 committed and applied everywhere."""
    r = started(tmp_path, nodes)
    r.elect(1, 1, voters=list(range(2, nodes + 1)))
    r.replicate(1, 1, list(range(2, nodes + 1)), 2)
    return r


def checked(r):
    r.close()
    return check_run(r.dir)


def test_the_letters_and_names():
    assert {k: INVARIANTS[k] for k in "fghijk"} == {
        "f": "log-matching", "g": "leader-completeness", "h": "state-machine-safety", "i": "leader-append-only",
        "j": "commit-monotonic", "k": "committed-never-lost"}


# ------------------------------------------------------------------------------------------- accepted histories


def test_replicated_run_with_restarts_is_accepted(tmp_path):
    r = elected(tmp_path)
    r.replicate(1, 1, [2, 3], 3)
    r.kill(3)  # a follower restarts and catches up
    r.start(3, term=1, voted_for=1)
    r.follow(3, 1, 1)
    r.replicate(1, 1, [2, 3], 1)
    r.kill(1)  # the leader restarts; node 2 leads term 2, then node 1 catches up
    r.campaign(2, 2, from_term=1)
    r.grant(3, 2, 2)
    r.lead(2, 2)
    r.follow(3, 2, 2)
    r.replicate(2, 2, [3], 1)  # the no-op of term 2 commits everything before it
    r.start(1, term=1, voted_for=1)
    r.persist(1, 2, None)
    r.follow(1, 2, 2)
    r.sync(1, 2, 2)
    r.commit(1, 2, 7)
    r.apply(1, 2)
    res = checked(r)
    assert res.ok, res.violations
    rep = res.stats["replication"]
    assert rep["max_commit"] == 7 and rep["last_index"] == {"1": 7, "2": 7, "3": 7}
    assert rep["commit_index"] == {"1": 7, "2": 7, "3": 7}
    assert "replication: " in render_summary(res) and "committed up to 7" in render_summary(res)
    assert res.warnings == []


def test_leader_that_restarts_and_leads_again_is_accepted(tmp_path):
    r = elected(tmp_path)
    r.kill(1)
    r.start(1, term=1, voted_for=1)  # loads its log and the commit index it saved
    r.campaign(1, 2, from_term=1)
    r.grant(2, 2, 1)
    r.lead(1, 2)
    r.replicate(1, 2, [2, 3], 1)
    assert checked(r).ok


def test_follower_whose_uncommitted_suffix_is_replaced_is_accepted(tmp_path):
    # 5 nodes. Leader 1 (term 1) gets entry 3 onto node 2 only: 2 of 5, uncommitted. Node 3 leads term 2 with the
    # votes of 4 and 5, appends its no-op at 3, and replaces node 2's entry 3: legal, it was never committed.
    r = elected(tmp_path, 5)
    r.append(1, 1, [1])
    r.sync(2, 1, 1)
    r.kill(1)
    r.campaign(3, 2, from_term=1)
    r.grant(4, 2, 3)
    r.grant(5, 2, 3)
    r.grant(2, 2, 3)
    r.lead(3, 2)
    r.replicate(3, 2, [2, 4, 5], 1)
    res = checked(r)
    assert res.ok, res.violations
    assert res.stats["replication"]["last_index"]["2"] == 3


def test_old_leader_whose_uncommitted_suffix_is_replaced_after_restart_is_accepted(tmp_path):
    # 6.5840's Backup: the old leader appended entries no one else got, restarted, and the new leader replaced them.
    r = elected(tmp_path)
    r.append(1, 1, [1, 1])  # entries 3, 4 only on the leader
    r.kill(1)
    r.campaign(2, 2, from_term=1)
    r.grant(3, 2, 2)
    r.lead(2, 2)
    r.replicate(2, 2, [3], 1)
    r.start(1, term=1, voted_for=1)
    r.persist(1, 2, None)
    r.follow(1, 2, 2)
    r.sync(1, 2, 2)  # replaces 3..4 of term 1 by 3 of term 2
    r.commit(1, 2, 3)
    assert checked(r).ok


def test_stale_leader_may_replace_a_committed_entry_on_a_node_still_in_its_older_term(tmp_path):
    # Node 5 holds (1, term 1). Node 2 leads term 2 without it; its append to 5 is delayed. Node 1 leads term 3
    # and commits (1, term 1) with 3 and 4. Then node 2's stale term-2 append reaches node 5, still in term 1,
    # and replaces the committed entry there: legal (Raft promises committed entries in later leaders, and on the
    # majority that acknowledged them in their term, not on every node).
    r = started(tmp_path, 5)
    r.elect(1, 1, voters=[2, 3], followers=[5])
    r.append(1, 1, [1])
    r.sync(5, 1, 1)
    r.campaign(2, 2, from_term=1)
    r.grant(3, 2, 2)
    r.grant(4, 2, 2)
    r.lead(2, 2)
    r.append(2, 2, [2])  # its no-op, on itself only
    r.campaign(1, 3, from_term=1)
    r.grant(3, 3, 1)
    r.grant(4, 3, 1)
    r.lead(1, 3)
    r.replicate(1, 3, [3, 4], 1)  # commits 1..2 in term 3
    r.persist(5, 2, None)
    r.follow(5, 2, 2)
    r.sync(5, 2, 2)  # node 5 loses (1, term 1), committed in term 3 > the term it was in
    res = checked(r)
    assert res.ok, res.violations


def test_restart_that_lost_an_uncommitted_durable_entry_is_a_warning_not_a_violation(tmp_path):
    # A replacement in flight at the crash: the truncation was durable, its log_appended never written.
    r = elected(tmp_path)
    r.append(1, 1, [1])  # entry 3, only on the leader, uncommitted
    r.kill(1)
    r.lose_tail(1, 2)
    r.start(1, term=1, voted_for=1)
    res = checked(r)
    assert res.ok, res.violations
    (w,) = res.warnings
    assert "without entries 3..3" in w and "did not know them committed" in w


def test_commit_index_may_restart_lower(tmp_path):
    r = elected(tmp_path)
    r.commit(2, 1, 2, save=False)  # no-op for (j): same index
    r.saved_commit[2] = 1  # a commit-only change needs no fsync: the hard state holds 1
    r.kill(2)
    r.start(2, term=1, voted_for=1)
    r.commit(2, 1, 2)
    r.apply(2, 1, first=1)
    assert checked(r).ok


def test_election_only_runs_keep_their_exact_output(tmp_path):
    clean_run(tmp_path)
    res = check_run(tmp_path)
    assert res.ok and "replication" not in res.stats
    assert "replication" not in render_summary(res)
    assert set(res.to_dict()) == {"ok", "verdict", "incomplete", "violations", "suppressed_violations",
                                  "cluster_size", "cluster_size_source", "stats", "warnings"}


def test_in_memory_feed_in_any_file_order_gives_the_same_verdict(tmp_path):
    r = elected(tmp_path)
    r.append(2, 2, [2], 2)  # (k): replaces a committed entry
    r.close()
    from_files = letters(check_run(tmp_path))
    from raftzmq.evidence.logfile import iter_records, run_files
    per_file = [list(iter_records(p)) for p in run_files(tmp_path)]
    for order in (per_file, per_file[::-1]):
        c = Checker()
        for records in order:
            for rec, where in records:
                c.feed(rec, where)
        assert letters(c.finish()) == from_files
    assert "k" in from_files


# ------------------------------------------------------------------------------------------- (f) log-matching


def test_f_one_index_and_term_two_digests(tmp_path):
    r = elected(tmp_path)
    r.append(1, 1, [1])
    r.append(2, 1, [1], data=b"forged")  # entry 3 of term 1, another payload
    res = checked(r)
    assert letters(res) == ["f"]
    (v,) = res.violations
    assert v.name == "log-matching" and "entry 3 of term 1 has digest" in v.message
    assert v.where[0].endswith("node-2.jsonl:" + str(v.where[0].rsplit(":", 1)[1])) and "node-1.jsonl" in v.where[1]


def test_f_an_earlier_difference_shows_at_a_later_common_index(tmp_path):
    # Entry 3 differs (digest known only at 4 on both): the chain makes it visible there.
    r = elected(tmp_path)
    r.append(1, 1, [1, 1])
    r.append(2, 1, [1], data=b"x")
    r.append(2, 1, [1])
    assert letters(checked(r)) == ["f"]


def test_f_a_term_starting_at_two_indexes(tmp_path):
    # No common digest point, but term 2 starts at 3 after term 1 on node 2 and at 2 after term 1 on node 3.
    r = started(tmp_path)
    r.append(2, 1, [1, 1])
    r.append(2, 2, [2])
    r.append(3, 1, [1])
    r.append(3, 2, [2, 2])
    res = checked(r)
    assert letters(res) == ["f"]
    assert any("term 2 starts at index 2 after term 1; elsewhere it starts at 3" in v.message
               for v in res.violations)


def test_f_terms_going_down_in_a_log(tmp_path):
    r = started(tmp_path)
    r.append(2, 2, [2])
    r.append(2, 2, [1])
    (v,) = checked(r).violations
    assert v.invariant == "f" and "terms go down" in v.message


def test_f_the_chain_starts_at_zero(tmp_path):
    r = started(tmp_path)
    fields = DigestChain().replace_from([Entry(1, 1, b"a")])
    fields["prev_digest"] = "1" * 16
    r.rec(2, "log_appended", 1, **fields)
    (v,) = checked(r).violations
    assert v.invariant == "f" and "at index 0" in v.message


def test_f_a_hole_in_a_log(tmp_path):
    r = started(tmp_path)
    r.append(2, 1, [1])
    c = DigestChain()
    for i in range(3):
        c.append(1, b"%d" % i)
    r.rec(2, "log_appended", 1, first=3, last=3, terms=[[1, 1]], prev_digest=c.digest(2), digest=c.digest(3))
    (v,) = checked(r).violations
    assert v.invariant == "f" and "a hole" in v.message


# ------------------------------------------------------------------------------------------- (g) leader-completeness


def _stale_node_3(tmp_path):
    """3 nodes: entries 1..2 committed in term 1 on nodes 1 and 2; node 3 has nothing."""
    r = started(tmp_path)
    r.elect(1, 1, voters=[2, 3])
    r.replicate(1, 1, [2], 2)
    return r


def test_g_leader_without_a_committed_entry(tmp_path):
    r = _stale_node_3(tmp_path)
    r.campaign(3, 2, from_term=1)
    r.grant(2, 2, 3)  # node 2 votes for a less up-to-date log (the missing up-to-date check)
    r.lead(3, 2)
    res = checked(r)
    assert letters(res) == ["g"]
    (v,) = res.violations
    assert "became leader of term 2 with a log ending at 0, but entries up to 2 were committed" in v.message


def test_g_leader_with_another_term_at_a_committed_index(tmp_path):
    r = _stale_node_3(tmp_path)
    r.append(3, 1, [1])
    r.persist(3, 2, None)
    r.append(3, 2, [2], record_term=2)  # (2, term 2) from some term-2 leader, never committed
    r.campaign(3, 3, from_term=2)
    r.grant(2, 3, 3)
    r.lead(3, 3)
    res = checked(r)
    assert letters(res) == ["g"]
    assert "holding entry 2 of term 2, but entry 2 of term 1 was committed" in res.violations[0].message


def test_g_a_commit_in_the_same_term_is_not_required(tmp_path):
    # Leader Completeness is about later terms: a commit known in term 2 says nothing about term 2's leader.
    r = _stale_node_3(tmp_path)
    r.rec(2, "commit_advanced", 1, commit=2, digest=r.disk[2].digest(2))
    assert checked(r).ok


# ------------------------------------------------------------------------------------------- (h) state-machine-safety


def _figure8_end(tmp_path):
    """Two nodes commit different entries at index 2 (the Figure 8 bug's outcome): node 1 commits (2, term 2),
    node 5 commits (2, term 3). Nothing else is broken in these records."""
    r = started(tmp_path, 5)
    r.append(1, 1, [1])
    r.append(1, 2, [2])
    r.commit(1, 2, 2)
    r.append(5, 1, [1])
    r.append(5, 3, [3])
    r.commit(5, 3, 2)
    return r


def test_h_two_nodes_commit_different_entries_at_one_index(tmp_path):
    r = _figure8_end(tmp_path)
    res = checked(r)
    assert letters(res) == ["h"]
    assert all(v.name == "state-machine-safety" for v in res.violations)
    assert any("committed entry 2 of term 3, but entry 2 of term 2 was committed elsewhere" in v.message
               for v in res.violations)


def test_h_two_nodes_apply_different_entries_at_one_index(tmp_path):
    r = _figure8_end(tmp_path)
    r.apply(1, 2)
    r.apply(5, 3)
    res = checked(r)
    msgs = [v.message for v in only(res, "h")]
    assert any("two nodes commit or apply different entries at or below index 2" in m for m in msgs)


def test_h_applied_digests_differ_at_a_common_index(tmp_path):
    # Same terms everywhere, different payloads at 1; only the applied/committed digests at 2 can tell.
    r = started(tmp_path)
    r.append(1, 1, [1], data=b"a")
    r.append(1, 1, [1])
    r.append(2, 1, [1, 1], data=b"b")
    for n in (1, 2):
        r.commit(n, 1, 2)
        r.apply(n, 1)
    res = checked(r)
    assert "h" in letters(res)


def test_h_applying_twice_skipping_or_beyond_the_commit(tmp_path):
    r = elected(tmp_path)
    r.replicate(1, 1, [2, 3], 2, apply=False)
    r.apply(2, 1, 3, first=2)  # overlaps what it applied (1..2)
    r.apply(3, 1, 4, first=4)  # skips 3
    r.append(1, 1, [1])
    r.apply(1, 1, 5, first=3)  # 5 is not committed
    res = checked(r)
    assert letters(res) == ["h"]
    msgs = sorted(v.message for v in res.violations)
    assert any("node 2 applied 2..3 after applying up to 2" in m for m in msgs)
    assert any("node 3 applied 4..4 after applying up to 2" in m for m in msgs)
    assert any("node 1 applied 3..5 beyond its commit index 4" in m for m in msgs)


# ------------------------------------------------------------------------------------------- (i) leader-append-only


def test_i_leader_replaces_its_own_entries(tmp_path):
    r = elected(tmp_path)
    r.append(1, 1, [1, 1])
    r.append(1, 1, [1], 3, data=b"again")  # rewrites its own uncommitted entry 3 in its term
    res = checked(r)
    assert "i" in letters(res)
    (v,) = only(res, "i")
    assert v.name == "leader-append-only" and "replaced its entries from index 3" in v.message


def test_i_leader_appends_an_entry_of_another_term(tmp_path):
    r = elected(tmp_path)
    r.append(1, 1, [2])
    res = checked(r)
    assert any(v.invariant == "i" and "term(s) [2]" in v.message for v in res.violations)


def test_i_ends_when_the_node_stops_leading(tmp_path):
    r = elected(tmp_path)
    r.append(1, 1, [1])  # uncommitted entry 3
    r.rec(1, "stepped_down", 2, reason="higher_term")
    r.follow(1, 2, 2)
    r.append(2, 2, [2], 3)
    r.sync(1, 2, 2)  # as a follower it may lose its uncommitted entry
    assert checked(r).ok


# ------------------------------------------------------------------------------------------- (j) commit-monotonic


def test_j_commit_goes_back_within_an_incarnation(tmp_path):
    r = elected(tmp_path)
    r.commit(2, 1, 1)
    (v,) = checked(r).violations
    assert v.invariant == "j" and v.name == "commit-monotonic" and "went back from 2 to 1" in v.message


def test_j_commit_below_the_loaded_commit(tmp_path):
    r = elected(tmp_path)
    r.kill(2)
    r.start(2, term=1, voted_for=1)  # loads commit 2
    r.commit(2, 1, 1)
    assert letters(checked(r)) == ["j"]


def test_j_commit_beyond_the_log(tmp_path):
    r = elected(tmp_path)
    r.rec(3, "commit_advanced", 1, commit=5, digest=ZERO)  # a follower taking the leader's commit blindly
    (v,) = checked(r).violations
    assert v.invariant == "j" and "commit index 5 beyond its last index 2" in v.message


def test_j_loaded_commit_beyond_the_log(tmp_path):
    r = Run(tmp_path, 3, replication=True)
    w = r.start(1)
    w.write("log_loaded", term=0, last=0, digest=ZERO, commit=1, terms=[])
    assert "j" in letters(checked(r))


# ------------------------------------------------------------------------------------------- (k) committed-never-lost


def test_k_follower_truncates_a_committed_entry(tmp_path):
    r = elected(tmp_path)
    r.persist(3, 2, None)
    r.append(3, 2, [2], 2)  # replaces 2, which it knew committed
    res = checked(r)
    assert "k" in letters(res)
    assert any("replaced entries 2..2, though it knew entries up to 2 committed" in v.message
               for v in only(res, "k"))


def test_k_restart_loses_a_committed_entry_it_knew(tmp_path):
    r = elected(tmp_path)
    r.kill(2)
    r.lose_tail(2, 1)  # acknowledged before fsync: the write is gone
    r.start(2, term=1, voted_for=1)
    res = checked(r)
    assert letters(res) == ["k"]
    (v,) = res.violations
    assert "restarted (incarnation 2) without entries 2..2" in v.message and "knew entries up to 2" in v.message


def test_k_restart_loses_an_entry_committed_elsewhere(tmp_path):
    # Node 3 held 3..4 durably but never learned they were committed (nodes 1 and 2 did, in term 1); after a
    # crash they are gone. Committed in term 1 <= the term node 3 was in: no leader could have replaced them.
    r = elected(tmp_path)
    r.append(1, 1, [1, 1])
    r.sync(2, 1, 1)
    r.sync(3, 1, 1)
    for n in (1, 2):
        r.commit(n, 1, 4)
    r.kill(3)
    r.lose_tail(3, 2)
    r.start(3, term=1, voted_for=1)
    res = checked(r)
    assert letters(res) == ["k"]
    (v,) = res.violations
    assert "lost entry 3 of term 1, committed in term 1 or earlier" in v.message
    assert any("without entries 3..4" in w for w in res.warnings)


def test_k_names_the_tail_cut(tmp_path):
    r = elected(tmp_path)
    r.kill(2)
    r.lose_tail(2, 1)
    inc = r.incs[2] = r.incs[2] + 1
    r.sup.write("node_spawned", node=2, pid=9999, incarnation=inc)
    w = r.writers[2] = LogWriter(tmp_path / "node-2.jsonl", by="node", node=2, incarnation=inc, clock=r.clock)
    w.write("node_started", term=1, voted_for=1, persist_mode="term+vote")
    w.write("log_tail_cut", term=1, file="wal-2.log", offset=4096, bytes=17)
    w.write("log_loaded", term=1, **r.disk[2].loaded_fields(1))
    res = checked(r)
    (v,) = only(res, "k")
    assert "log_tail_cut at" in v.message


def test_k_replacement_of_an_entry_committed_in_the_nodes_term(tmp_path):
    # Figure 8: node 1 (term 2) commits (2, term 2) by counting replicas on 1, 2, 3; leader 5 of term 3 then
    # replaces it on node 2, which had taken it in term 2 (it never learned the commit).
    r = started(tmp_path, 5)
    for n in (1, 2, 3, 5):
        r.append(n, 1, [1])
    for n in (1, 2, 3):
        r.append(n, 2, [2])
    r.commit(1, 2, 2)
    r.append(5, 3, [3])
    r.persist(2, 3, None)
    r.sync(2, 5, 3)
    res = checked(r)
    assert "k" in letters(res)
    assert any("node 2 lost entry 2 of term 2, committed in term 2 or earlier" in v.message
               for v in only(res, "k"))


# ------------------------------------------------------------------------------------------- completeness


def test_missing_log_loaded_is_incomplete_evidence(tmp_path):
    r = elected(tmp_path)
    r.kill(2)
    inc = r.incs[2] = r.incs[2] + 1
    r.sup.write("node_spawned", node=2, pid=2002, incarnation=inc)
    w = r.writers[2] = LogWriter(tmp_path / "node-2.jsonl", by="node", node=2, incarnation=inc, clock=r.clock)
    w.write("node_started", term=1, voted_for=1, persist_mode="term+vote")
    w.write("log_repaired", term=1, bytes=3)  # harmless before log_loaded
    r.append(2, 1, [1])  # but this depends on the log
    r.close()
    out = io.StringIO()
    assert run_check(tmp_path, True, out) == 3
    doc = json.loads(out.getvalue())
    assert doc["verdict"] == "incomplete"
    (gap,) = doc["incomplete"]
    assert gap["kind"] == "missing_log_loaded" and gap["node"] == 2 and "incarnation 2" in gap["message"]


def test_a_node_killed_or_refusing_before_log_loaded_needs_none(tmp_path):
    r = elected(tmp_path)
    r.kill(2)
    inc = r.incs[2] = r.incs[2] + 1
    r.sup.write("node_spawned", node=2, pid=2002, incarnation=inc)
    w = LogWriter(tmp_path / "node-2.jsonl", by="node", node=2, incarnation=inc, clock=r.clock)
    w.write("node_started", term=1, voted_for=1, persist_mode="term+vote")
    w.write("node_failed", term=1, reason="corrupt record in the middle of wal-2.log at offset 4096")
    w.close()
    r.sup.write("node_exited", node=2, pid=2002, code=3)
    assert checked(r).ok


def test_a_seq_gap_in_a_replicated_run_is_incomplete_not_a_verdict(tmp_path):
    r = elected(tmp_path)
    r.close()
    p = tmp_path / "node-2.jsonl"
    lines = p.read_bytes().splitlines(keepends=True)
    victim = next(k for k, ln in enumerate(lines) if b'"log_appended"' in ln)
    del lines[victim]  # a lost log_appended would fake a hole, a loss...
    p.write_bytes(b"".join(lines))
    out = io.StringIO()
    assert run_check(tmp_path, False, out) == 3
    assert out.getvalue().startswith("INCOMPLETE EVIDENCE")


def test_election_only_runs_are_never_asked_for_log_loaded(tmp_path):
    r = Run(tmp_path, 3)
    for n in (1, 2, 3):
        r.start(n)
    r.rec(2, "log_tail_cut", 0, file="wal-2.log", offset=0, bytes=5)  # recovery alone does not make it replicated
    r.elect(1, 1, voters=[2, 3])
    res = checked(r)
    assert res.ok and "replication" not in res.stats


# ------------------------------------------------------------------------------------------- the reader


@pytest.mark.parametrize("fields, problem", [
    ({"first": 2, "last": 3, "terms": [[1, 1]], "prev_digest": ZERO, "digest": ZERO}, "must cover first..last"),
    ({"first": 0, "last": 0, "terms": [], "prev_digest": ZERO, "digest": ZERO}, "1 <= first <= last"),
    ({"first": 1, "last": 1, "terms": [[0, 1]], "prev_digest": ZERO, "digest": ZERO}, "term runs"),
    ({"first": 1, "last": 1, "terms": [[1, 1]], "prev_digest": "xyz", "digest": ZERO}, "digest"),
])
def test_reader_refuses_replication_records_that_contradict_themselves(tmp_path, fields, problem):
    r = started(tmp_path)
    r.close()
    rec = {"ts": 1.0, "mono_ns": 10**9, "event": "log_appended", "by": "node", "node": 1, "term": 1,
           "incarnation": 1, "seq": 3, **fields}
    with open(tmp_path / "node-1.jsonl", "a") as f:
        f.write(json.dumps(rec) + "\n")
    with pytest.raises(LogFormatError, match=problem) as e:
        check_run(tmp_path)
    assert "node-1.jsonl:3" in str(e.value)
    w = LogWriter.to_list(by="node", node=1, incarnation=1)
    with pytest.raises(ValueError, match=problem):
        w.write("log_appended", term=1, **fields)


def test_writers_may_pass_term_runs_as_tuples(tmp_path):
    # protocol/raftlog.py builds [(term, count), ...]; a validating writer takes them, JSON makes them lists.
    r = started(tmp_path)
    c = DigestChain()
    for i in range(3):
        c.append(1 + i // 2, b"%d" % i)
    r.rec(2, "log_appended", 2, first=1, last=3, terms=[(1, 2), (2, 1)], prev_digest=ZERO, digest=c.digest(3))
    res = checked(r)
    assert res.ok and res.stats["replication"]["last_index"]["2"] == 3


# ------------------------------------------------------------------------------------------- scale


def test_a_100000_record_log_set_checks_in_a_few_seconds(tmp_path):
    """5 nodes, leader changes every 2,000 batches (the new leader's no-op commits), a follower restarting
    now and then: ~100,000 records, read from files and checked."""
    r = started(tmp_path, 5)
    leader, term = 1, 1
    r.elect(leader, term, voters=[2, 3, 4, 5])
    batches = 0
    while r.written < 100_000:
        followers = [n for n in (1, 2, 3, 4, 5) if n != leader]
        r.replicate(leader, term, followers, 3, apply=batches % 4 == 0)
        batches += 1
        if batches % 2000 == 0:
            term, leader = term + 1, leader % 5 + 1
            r.campaign(leader, term, from_term=term - 1)
            for v in (n for n in (1, 2, 3, 4, 5) if n != leader):
                r.grant(v, term, leader)
            r.lead(leader, term)
        if batches % 3000 == 1500:
            f = (leader + 1) % 5 + 1
            r.kill(f)
            r.start(f, term=term, voted_for=leader)
    r.close()
    t0 = time.perf_counter()
    res = check_run(tmp_path)
    elapsed = time.perf_counter() - t0
    assert res.ok, res.violations[:3]
    assert 100_000 <= res.stats["records"] < 101_000
    print(f"checked {res.stats['records']} records in {elapsed:.2f} s")
    assert elapsed < 30  # a few seconds on a quiet machine; generous for a loaded one


def test_local_violations_are_reported_as_the_record_is_fed(tmp_path):
    # The simulator freezes its trace when checker.violations grows: the per-node checks (f, h, i, j and k on a
    # node's own commit) must fire at the record, not at finish(); (g) and the cross-node (k) wait for finish().
    r = elected(tmp_path)
    r.commit(2, 1, 1)  # (j)
    r.close()
    from raftzmq.evidence.logfile import iter_records, run_files
    c = Checker()
    seen = False
    for p in run_files(tmp_path):
        for rec, where in iter_records(p):
            assert c.violations == []  # nothing before the bad record
            c.feed(rec, where)
            if rec["event"] == "commit_advanced" and rec["node"] == 2 and rec["commit"] == 1:
                assert [v.invariant for v in c.violations] == ["j"]
                seen = True
                break
        if seen:
            break
    assert seen
