import io
import json

import pytest

from logs_fixtures import Run, clean_run
from raftzmq.evidence.checker import Checker, check_run, render_summary, run_check
from raftzmq.evidence.logfile import LogWriter, iter_records, run_files


def letters(result):
    return sorted({v.invariant for v in result.violations})


def only(result, letter):
    vs = [v for v in result.violations if v.invariant == letter]
    assert vs, result.violations
    return vs


def three_started(tmp_path, mode="term+vote", nodes=3):
    r = Run(tmp_path, nodes)
    for n in range(1, nodes + 1):
        r.start(n, mode=mode)
    return r


# ------------------------------------------------------------------------------------------- accepted histories


def test_clean_run_with_restart_is_accepted(tmp_path):
    clean_run(tmp_path)
    res = check_run(tmp_path)
    assert res.ok, res.violations
    assert res.cluster_size == 3 and res.cluster_size_source == "cluster_started"
    s = res.stats
    assert s["nodes"] == [1, 2, 3]
    assert s["incarnations"] == {"1": 2, "2": 1, "3": 1}
    assert s["leaders_per_term"] == {"1": [1], "2": [2]}
    assert s["elections"] == 2 and s["leaders_elected"] == 2
    assert s["max_term"] == 2 and s["terms_seen"] == 3
    assert res.warnings == []


def test_same_candidate_twice_and_restart_reloading_vote_are_fine(tmp_path):
    r = three_started(tmp_path)
    r.campaign(1, 1)
    r.grant(2, 1, 1)
    r.kill(2)
    r.start(2, term=1, voted_for=1)
    r.vote(2, 1, 1)  # a retransmitted RequestVote: loaded state covers the same vote again
    r.lead(1, 1)
    r.close()
    assert check_run(tmp_path).ok


def test_restart_may_load_a_vote_whose_log_record_was_lost(tmp_path):
    # Persisted (1, None) was logged; the persist of (1, 3) finished but the kill came before its record.
    r = three_started(tmp_path)
    r.persist(2, 1, None)
    r.kill(2)
    r.start(2, term=1, voted_for=3)
    r.close()
    assert check_run(tmp_path).ok


def test_campaign_in_core_order_is_monotone_in_term(tmp_path):
    # One step, as the embedding logs it: the timeout at the old term, then the new term's persist and events.
    r = three_started(tmp_path)
    r.campaign(1, 1)
    r.close()
    assert check_run(tmp_path).ok


def test_c_has_no_exception_for_state_persisted(tmp_path):
    # The old order (state_persisted of the new term before the old term's election_timeout) goes back in term:
    # no record, state_persisted included, may carry a lower term than the record before it.
    r = three_started(tmp_path)
    r.persist(1, 1, 1)
    r.rec(1, "election_timeout", 0)
    r.close()
    (v,) = check_run(tmp_path).violations
    assert v.invariant == "c" and "term went back from 1 to 0" in v.message


def _term_only_leader_then_voter_2_restarted(tmp_path):
    """Term-only persistence (the vote is never in the persisted state): 1 leads term 1 with 2's vote; 2 restarts
    in term 1 having forgotten that vote."""
    r = three_started(tmp_path, mode="term-only")
    r.persist(1, 1, None)
    r.rec(1, "became_candidate", 1)
    r.vote(1, 1, 1)
    r.persist(2, 1, None)
    r.vote(2, 1, 1)
    r.lead(1, 1)
    r.kill(2)
    r.start(2, term=1, voted_for=None, mode="term-only")
    return r


def test_term_only_mode_skips_e_and_vote_part_of_c(tmp_path):
    r = _term_only_leader_then_voter_2_restarted(tmp_path)
    r.close()
    assert check_run(tmp_path).ok


# ------------------------------------------------------------------------------------------- rejected histories


def _two_leaders_in_term_1(tmp_path) -> Run:
    """Node 1 elected by 2 and 3; node 4 by 5 and by 3 again (the double vote (b) that makes (a) possible)."""
    r = Run(tmp_path, 5)
    for n in range(1, 6):
        r.start(n)
    r.elect(1, 1, voters=[2, 3])
    r.campaign(4, 1, from_term=0)
    r.grant(5, 1, 4)
    r.vote(3, 1, 4)
    r.lead(4, 1)
    return r


def test_a_two_leaders_in_one_term(tmp_path):
    r = _two_leaders_in_term_1(tmp_path)
    r.close()
    res = check_run(tmp_path)
    assert letters(res) == ["a", "b", "e"]
    (v,) = only(res, "a")
    assert "nodes 1 and 4" in v.message
    assert v.where[0].endswith("node-4.jsonl:6") and "node-1.jsonl" in v.where[1]


def test_b_two_candidates_in_one_term(tmp_path):
    r = three_started(tmp_path)
    r.grant(3, 1, 1)
    r.grant(3, 1, 2)
    r.close()
    res = check_run(tmp_path)
    assert letters(res) == ["b"]
    (v,) = res.violations
    assert v.name == "one-vote-per-term" and "to 1 and then to 2" in v.message
    assert [w.rsplit("/", 1)[1] for w in v.where] == ["node-3.jsonl:5", "node-3.jsonl:3"]


def test_b_self_vote_then_vote_for_other(tmp_path):
    r = three_started(tmp_path)
    r.campaign(2, 1)
    r.grant(2, 1, 3)
    r.close()
    assert "b" in letters(check_run(tmp_path))


def test_c_double_vote_across_restart_that_forgot_its_vote(tmp_path):
    r = three_started(tmp_path)
    r.campaign(1, 1)
    r.grant(2, 1, 1)
    r.kill(2)
    r.start(2, term=1, voted_for=None)  # term+vote mode, but the vote was not loaded
    r.persist(2, 1, 3)
    r.vote(2, 1, 3)
    r.close()
    res = check_run(tmp_path)
    assert letters(res) == ["b", "c"]
    (c,) = only(res, "c")
    assert "voted_for None, but voted_for 1 was durable" in c.message


def test_c_term_decreases_within_incarnation(tmp_path):
    r = three_started(tmp_path)
    r.persist(1, 3, None)
    r.follow(1, 3, 2)
    r.follow(1, 2, 2)
    r.close()
    res = check_run(tmp_path)
    (v,) = res.violations
    assert v.invariant == "c" and "from 3 to 2" in v.message


def test_c_persisted_term_decreases_within_incarnation(tmp_path):
    r = three_started(tmp_path)
    r.persist(1, 3, None)
    r.persist(1, 2, None)
    r.close()
    assert letters(check_run(tmp_path)) == ["c"]


def test_c_restart_loads_lower_term_than_persisted(tmp_path):
    r = three_started(tmp_path)
    r.persist(1, 4, None)
    r.kill(1)
    r.start(1, term=3)
    r.close()
    (v,) = check_run(tmp_path).violations
    assert v.invariant == "c" and "started at term 3, but term 4 was durable" in v.message


def test_c_restart_checks_term_even_in_term_only_mode(tmp_path):
    r = three_started(tmp_path, mode="term-only")
    r.persist(1, 4, None)
    r.kill(1)
    r.start(1, term=0, mode="term-only")
    r.close()
    assert letters(check_run(tmp_path)) == ["c"]


def test_c_incarnation_going_backwards(tmp_path):
    r = three_started(tmp_path)
    stale = LogWriter(tmp_path / "node-1.jsonl", by="node", node=1, incarnation=1, clock=r.clock)
    r.kill(1)
    r.start(1)
    stale.write("became_follower", term=0, leader=None)  # an old process still writing
    stale.close()
    r.close()
    res = check_run(tmp_path)
    assert any(v.invariant == "c" and "incarnation went back" in v.message for v in res.violations)


def test_d_leader_without_majority(tmp_path):
    r = Run(tmp_path, 5)
    for n in range(1, 6):
        r.start(n)
    r.campaign(1, 1)
    r.grant(2, 1, 1)
    r.grant(3, 1, 2)  # a vote for someone else does not count
    r.lead(1, 1)
    r.close()
    res = check_run(tmp_path)
    (v,) = res.violations
    assert v.invariant == "d" and "[1, 2]: 2 of 5 is no majority" in v.message
    assert len(v.where) == 3  # the became_leader record and both votes


def test_d_votes_from_a_previous_term_do_not_count(tmp_path):
    r = three_started(tmp_path)
    r.elect(1, 1, voters=[2])
    r.campaign(1, 2, from_term=1)
    r.lead(1, 2)
    r.close()
    assert letters(check_run(tmp_path)) == ["d"]


def test_e_vote_without_persist(tmp_path):
    r = three_started(tmp_path)
    r.persist(2, 1, None)  # term is durable, the vote is not
    r.vote(2, 1, 1)
    r.close()
    (v,) = check_run(tmp_path).violations
    assert v.invariant == "e" and v.where[0].endswith("node-2.jsonl:3")


def test_e_persist_must_precede_the_vote(tmp_path):
    r = three_started(tmp_path)
    r.vote(2, 1, 1)
    r.persist(2, 1, 1)
    r.close()
    assert letters(check_run(tmp_path)) == ["e"]


def test_e_persist_of_previous_incarnation_does_not_cover(tmp_path):
    r = three_started(tmp_path)
    r.persist(2, 1, 1)
    r.kill(2)
    r.start(2, term=0)  # (c) too: it lost term 1
    r.vote(2, 1, 1)
    r.close()
    assert letters(check_run(tmp_path)) == ["c", "e"]


def test_term_only_mode_still_rejects_two_leaders_and_double_votes(tmp_path):
    r = _term_only_leader_then_voter_2_restarted(tmp_path)  # 2 legitimately forgot its vote
    r.vote(2, 1, 3)  # ... and gives it again
    r.persist(3, 1, None)
    r.rec(3, "became_candidate", 1)
    r.vote(3, 1, 3)
    r.lead(3, 1)
    r.close()
    res = check_run(tmp_path)
    assert letters(res) == ["a", "b"]


# ------------------------------------------------------------------------------------------- cluster size


def test_cluster_size_from_cluster_json_then_parameter_then_inferred(tmp_path):
    def make(d):
        r = Run(d, None, cluster_started=False)
        for n in (1, 2, 3):
            r.start(n)
        r.elect(1, 1, voters=[2])  # 2 of 3: a majority only if the cluster has at most 3 nodes
        r.close()

    make(tmp_path / "inferred")
    res = check_run(tmp_path / "inferred")
    assert res.ok and res.cluster_size == 3 and res.cluster_size_source == "inferred"
    assert any("inferred 3" in w for w in res.warnings)
    assert "inferred from node logs" in render_summary(res)

    # Told 5 members: the supervisor's log says it spawned 1..3 only, so 4 and 5 never ran and cannot have voted:
    # 2 of 5 is a (d) violation, not missing evidence.
    res = check_run(tmp_path / "inferred", cluster_size=5)
    assert res.cluster_size_source == "parameter" and letters(res) == ["d"] and res.complete

    (tmp_path / "inferred" / "cluster.json").write_text(json.dumps({"run_id": "x", "nodes": 4}))
    res = check_run(tmp_path / "inferred", cluster_size=3)
    assert res.cluster_size == 4 and res.cluster_size_source == "cluster.json" and letters(res) == ["d"]
    assert any("it wins over the 3 asked for" in w for w in res.warnings)

    # Without a supervisor's log nothing says which members ran: told 5, two of them missing is no verdict.
    (tmp_path / "inferred" / "supervisor.jsonl").unlink()
    (tmp_path / "inferred" / "cluster.json").unlink()
    res = check_run(tmp_path / "inferred", cluster_size=5)
    assert letters(res) == [] and res.verdict == "incomplete" and res.withheld == 1
    assert [(g.kind, g.node) for g in res.incomplete] == [("missing_member", 4), ("missing_member", 5)]


def test_cluster_started_wins_over_cluster_json(tmp_path):
    r = Run(tmp_path, 3)
    r.close()
    (tmp_path / "cluster.json").write_text(json.dumps({"nodes": 7}))
    res = check_run(tmp_path)
    assert res.cluster_size == 3 and res.cluster_size_source == "cluster_started"


# ------------------------------------------------------------------------------------------- in memory


def test_in_memory_feed_matches_files_and_any_file_interleaving(tmp_path):
    r = _two_leaders_in_term_1(tmp_path)
    r.close()
    from_files = check_run(tmp_path)
    per_file = [list(iter_records(p)) for p in run_files(tmp_path)]
    for order in (per_file, per_file[::-1]):
        c = Checker()
        for records in order:
            for rec, _ in records:
                c.feed(rec)  # no location: a node/incarnation/seq label is used
        res = c.finish()
        assert letters(res) == letters(from_files)
        assert any("node 3 inc 1 seq" in w for v in res.violations for w in v.where)


def test_to_list_writer_feeds_checker(tmp_path):
    records = []
    w = LogWriter.to_list(records, by="node", node=1, incarnation=1, validate=False)
    w.write("node_started", term=0, voted_for=None, persist_mode="term+vote")
    w.write("state_persisted", term=1, voted_for=1)
    w.write("became_candidate", term=1)
    w.write("vote_granted", term=1, candidate=1)
    w.write("became_leader", term=1)
    c = Checker(1)
    for rec in records:
        c.feed(rec)
    res = c.finish()
    assert res.ok and res.stats["leaders_per_term"] == {"1": [1]}


def test_max_violations_caps_kept_violations(tmp_path):
    c = Checker(3, max_violations=2)
    w = LogWriter.to_list(by="node", node=1, incarnation=1)
    for t in range(1, 6):
        c.feed(w.write("vote_granted", term=t, candidate=2))  # 5 x (e)
    res = c.finish()
    assert len(res.violations) == 2 and res.suppressed == 3
    assert "VIOLATIONS: 5" in render_summary(res)


# ------------------------------------------------------------------------------------------- run_check / CLI


def test_run_check_exit_codes_and_summary(tmp_path):
    clean_run(tmp_path / "ok")
    out = io.StringIO()
    assert run_check(tmp_path / "ok", False, out) == 0
    text = out.getvalue()
    assert text.startswith("OK: no safety violations") and "leaders per term: 1:1, 2:2" in text

    r = three_started(tmp_path / "bad")
    r.grant(3, 1, 1)
    r.grant(3, 1, 2)
    r.close()
    out = io.StringIO()
    assert run_check(tmp_path / "bad", False, out) == 1
    assert "(b) one-vote-per-term" in out.getvalue() and "node-3.jsonl:5" in out.getvalue()


def test_run_check_json_output_parses(tmp_path):
    r = three_started(tmp_path)
    r.grant(3, 1, 1)
    r.grant(3, 1, 2)
    r.close()
    out = io.StringIO()
    assert run_check(tmp_path, True, out) == 1
    doc = json.loads(out.getvalue())
    assert doc["ok"] is False and doc["cluster_size"] == 3
    (v,) = doc["violations"]
    assert v["invariant"] == "b" and v["name"] == "one-vote-per-term" and len(v["where"]) == 2
    assert doc["stats"]["records"] > 0


def test_run_check_missing_dir_and_no_logs_exit_2(tmp_path):
    out = io.StringIO()
    assert run_check(tmp_path / "nope", False, out) == 2
    assert str(tmp_path / "nope") in out.getvalue()
    out = io.StringIO()
    assert run_check(tmp_path, True, out) == 2
    doc = json.loads(out.getvalue())
    assert doc["ok"] is False and "no *.jsonl" in doc["error"] and str(tmp_path) in doc["error"]


def test_run_check_torn_last_line_is_accepted_with_warning(tmp_path):
    clean_run(tmp_path)
    with open(tmp_path / "node-2.jsonl", "ab") as f:
        f.write(b'{"ts":1.0,"mono_ns":5,"ev')  # killed mid-write
    out = io.StringIO()
    assert run_check(tmp_path, False, out) == 0
    assert "node-2.jsonl:" in out.getvalue() and "torn" in out.getvalue()


def test_run_check_malformed_middle_line_exit_2_names_file_line(tmp_path):
    clean_run(tmp_path)
    p = tmp_path / "node-3.jsonl"
    lines = p.read_bytes().split(b"\n")
    lines[2] = b'{"ts": 1.0, "broken'
    p.write_bytes(b"\n".join(lines))
    out = io.StringIO()
    assert run_check(tmp_path, False, out) == 2
    assert f"{p}:3:" in out.getvalue()


def test_run_check_schema_error_exit_2(tmp_path):
    clean_run(tmp_path)
    with open(tmp_path / "node-1.jsonl", "ab") as f:
        f.write(b'{"ts":1.0,"mono_ns":5,"event":"vote_granted","by":"node","node":1,"term":1,"incarnation":1,'
                b'"seq":99,"candidate":"two"}\n')
    out = io.StringIO()
    assert run_check(tmp_path, True, out) == 2
    assert "vote_granted.candidate must be int" in json.loads(out.getvalue())["error"]


@pytest.mark.parametrize("cut", [1, 10, 40])
def test_truncated_files_never_crash_the_checker(tmp_path, cut):
    clean_run(tmp_path)
    p = tmp_path / "node-1.jsonl"
    p.write_bytes(p.read_bytes()[:-cut])
    assert run_check(tmp_path, False, io.StringIO()) in (0, 1)
