import fcntl
import json
import os
import warnings

import pytest

from logs_fixtures import FakeClock, Run, clean_run
from raftzmq.evidence import logfile
from raftzmq.evidence.logfile import (
    LogFormatError,
    LogTail,
    LogWriter,
    TornLineWarning,
    iter_records,
    read_run,
    validate_record,
)


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_node_writer_produces_schema_valid_records_with_increasing_seq(tmp_path):
    p = tmp_path / "node-2.jsonl"
    with LogWriter(p, by="node", node=2, incarnation=3) as w:
        r1 = w.write("node_started", term=4, voted_for=None, persist_mode="term+vote")
        r2 = w.write("vote_granted", term=5, candidate=1)
        r3 = w.write("became_follower", term=5, leader=None)
    recs = lines(p)
    assert recs == [r1, r2, r3]
    assert [r["seq"] for r in recs] == [1, 2, 3]
    assert list(r1)[:8] == ["ts", "mono_ns", "event", "by", "node", "term", "incarnation", "seq"]
    for r in recs:
        assert validate_record(r) is None
        assert r["by"] == "node" and r["node"] == 2 and r["incarnation"] == 3
        assert isinstance(r["ts"], float) and isinstance(r["mono_ns"], int)
    assert recs[0]["mono_ns"] <= recs[1]["mono_ns"] <= recs[2]["mono_ns"]
    raw = p.read_text().splitlines()[1]
    assert raw == json.dumps(r2, separators=(",", ":"))  # compact, insertion order


def test_supervisor_writer_node_override_and_no_seq(tmp_path):
    p = tmp_path / "supervisor.jsonl"
    with LogWriter(p, by="supervisor", node=0) as w:
        w.write("cluster_started", nodes=3, config={})
        w.write("node_spawned", node=2, pid=42, incarnation=1)
        w.write("partition", groups=[[1, 2], [3]])
    a, b, c = lines(p)
    assert (a["node"], b["node"], c["node"]) == (0, 2, 0)
    assert b["incarnation"] == 1 and "seq" not in b and "term" not in a
    assert all(validate_record(r) is None for r in (a, b, c))


def test_writer_refuses_bad_records(tmp_path):
    with LogWriter(tmp_path / "n.jsonl", by="node", node=1, incarnation=1) as w:
        with pytest.raises(ValueError, match="needs term"):
            w.write("election_timeout")
        with pytest.raises(ValueError, match="set by the writer"):
            w.write("election_timeout", term=1, seq=7)
        with pytest.raises(ValueError, match="candidate"):
            w.write("vote_granted", term=1, candidate="2")
        with pytest.raises(ValueError):
            w.write("election_timeout", term=1, x=float("nan"))  # NaN is not JSON
        rec = w.write("election_timeout", term=1)
        assert rec["seq"] == 1  # failed writes did not consume sequence numbers
    with pytest.raises(ValueError, match="incarnation"):
        LogWriter(tmp_path / "n.jsonl", by="node", node=1)
    assert [r["event"] for r in lines(tmp_path / "n.jsonl")] == ["election_timeout"]


def test_nan_rejected_even_without_validation(tmp_path):
    with LogWriter(tmp_path / "n.jsonl", by="node", node=1, incarnation=1, validate=False) as w:
        with pytest.raises(ValueError):
            w.write("election_timeout", term=1, x=float("inf"))


def test_one_os_write_per_record_on_an_append_fd(tmp_path, monkeypatch):
    calls = []
    real_write = os.write

    def counting_write(fd, data):
        calls.append(bytes(data))
        return real_write(fd, data)

    monkeypatch.setattr(logfile.os, "write", counting_write)
    p = tmp_path / "node-1.jsonl"
    with LogWriter(p, by="node", node=1, incarnation=1) as w:
        fl = fcntl.fcntl(w._fd, fcntl.F_GETFL)
        assert fl & os.O_APPEND and fl & os.O_ACCMODE == os.O_WRONLY
        for t in range(5):
            w.write("election_timeout", term=t)
    assert len(calls) == 5
    assert all(c.endswith(b"\n") and c.count(b"\n") == 1 for c in calls)
    assert p.read_bytes() == b"".join(calls)


def test_short_write_is_completed(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(logfile.os, "write", lambda fd, data: real_write(fd, bytes(data)[:7]))
    p = tmp_path / "n.jsonl"
    with LogWriter(p, by="node", node=1, incarnation=1) as w:
        rec = w.write("election_timeout", term=0)
    assert lines(p) == [rec]


def test_two_writers_on_one_file_interleave_whole_lines(tmp_path):
    p = tmp_path / "shared.jsonl"
    clock = FakeClock()
    a = LogWriter(p, by="node", node=1, incarnation=1, clock=clock)
    b = LogWriter(p, by="node", node=1, incarnation=2, clock=clock)
    for i in range(50):
        a.write("election_timeout", term=i, pad="a" * (i * 37 % 500))
        b.write("election_timeout", term=i, pad="b" * (i * 53 % 700))
    a.close()
    b.close()
    recs = [r for r, _ in iter_records(p)]
    assert len(recs) == 100
    assert [r["incarnation"] for r in recs] == [1, 2] * 50
    assert [r["seq"] for r in recs if r["incarnation"] == 2] == list(range(1, 51))


def test_clock_injection_and_to_list(tmp_path):
    clock = FakeClock()
    w = LogWriter.to_list(by="node", node=4, incarnation=1, clock=clock)
    w.write("election_timeout", term=0)
    w.write("became_candidate", term=1)
    assert [r["mono_ns"] for r in w.records] == [1000, 2000]
    assert [r["ts"] for r in w.records] == [1_700_000_000.0, 1_700_000_000 + 1e-6]
    assert w.path is None
    w.close()  # harmless without a file


def test_sink_and_file_together_share_one_record(tmp_path):
    got = []
    p = tmp_path / "n.jsonl"
    with LogWriter(p, by="node", node=1, incarnation=1, sink=got.append) as w:
        w.write("election_timeout", term=0)
    assert got == lines(p)


def test_reopening_cuts_a_torn_tail_before_appending(tmp_path):
    p = tmp_path / "node-1.jsonl"
    with LogWriter(p, by="node", node=1, incarnation=1) as w:
        w.write("election_timeout", term=0)
    torn = b'{"ts":1.0,"mono_ns":9,"event":"vote_gr'  # SIGKILL mid-write
    with open(p, "ab") as f:
        f.write(torn)
    with LogWriter(p, by="node", node=1, incarnation=2) as w:
        assert w.repaired_bytes == len(torn)
        w.write("node_started", term=0, voted_for=None, persist_mode="term+vote")
    assert [(r["incarnation"], r["event"]) for r, _ in iter_records(p)] == [(1, "election_timeout"),
                                                                            (2, "node_started")]


def test_reader_round_trip_and_locations(tmp_path):
    clean_run(tmp_path)
    recs = list(iter_records(tmp_path / "node-1.jsonl"))
    assert recs[0][1] == f"{tmp_path / 'node-1.jsonl'}:1"
    assert recs[0][0]["event"] == "node_started"
    merged = read_run(tmp_path)
    assert len(merged) == sum(1 for p in tmp_path.glob("*.jsonl") for _ in p.open())
    assert [m.record["mono_ns"] for m in merged] == sorted(m.record["mono_ns"] for m in merged)
    m = merged[0]
    assert m.record["event"] == "cluster_started" and m.where == f"{tmp_path / 'supervisor.jsonl'}:1"
    assert "file" not in m.record and "where" not in m.record


def test_torn_last_line_is_skipped_with_a_visible_warning(tmp_path):
    p = tmp_path / "n.jsonl"
    with LogWriter(p, by="node", node=1, incarnation=1) as w:
        w.write("election_timeout", term=0)
    with open(p, "ab") as f:
        f.write(b'{"ts":1.0,"mono')
    seen = []
    assert len(list(iter_records(p, on_warning=seen.append))) == 1
    assert len(seen) == 1 and f"{p}:2" in seen[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        list(iter_records(p))
    assert [c.category for c in caught] == [TornLineWarning]


def test_last_line_without_newline_but_complete_is_kept(tmp_path):
    p = tmp_path / "n.jsonl"
    with LogWriter(p, by="node", node=1, incarnation=1) as w:
        w.write("election_timeout", term=0)
        w.write("election_timeout", term=1)
    p.write_bytes(p.read_bytes()[:-1])
    assert [r["term"] for r, _ in iter_records(p)] == [0, 1]


GOOD = {"ts": 1.5, "mono_ns": 10, "event": "election_timeout", "by": "node", "node": 1, "term": 0,
        "incarnation": 1, "seq": 1}


@pytest.mark.parametrize("change, problem", [
    ({"ts": "now"}, "ts"),
    ({"mono_ns": 1.5}, "mono_ns"),
    ({"event": ""}, "event"),
    ({"by": "client"}, "by"),
    ({"node": True}, "node"),
    ({"node": 0}, "node"),
    ({"term": -1}, "term"),
    ({"incarnation": 0}, "incarnation"),
    ({"seq": None}, "seq"),
    ({"event": "node_started", "voted_for": None, "persist_mode": "none"}, "persist_mode"),
    ({"event": "became_follower"}, "leader"),
])
def test_validation_rejects(change, problem):
    assert validate_record(GOOD) is None
    rec = {**GOOD, **change}
    assert problem in validate_record(rec)


def test_supervisor_records_need_no_term_but_unknown_events_pass():
    rec = {"ts": 1, "mono_ns": 1, "event": "heal", "by": "supervisor", "node": 0}
    assert validate_record(rec) is None
    assert validate_record({**rec, "event": "something_new", "extra": [1]}) is None
    assert "term" in validate_record({**rec, "term": "1"})


@pytest.mark.parametrize("bad, problem", [
    (b"not json", "not valid JSON"),
    (b'{"ts": NaN}', "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"ts":1.0}', "mono_ns"),
    (b"", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_malformed_middle_line_raises_with_file_line(tmp_path, bad, problem):
    p = tmp_path / "n.jsonl"
    good = json.dumps(GOOD).encode()
    p.write_bytes(good + b"\n" + bad + b"\n" + good + b"\n")
    with pytest.raises(LogFormatError) as e:
        list(iter_records(p))
    assert e.value.where == f"{p}:2" and problem in str(e.value) and str(e.value).startswith(f"{p}:2: ")


def test_read_run_missing_dir(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_run(tmp_path / "nope")
    assert read_run(tmp_path) == []


def test_tail_picks_up_appended_lines_and_new_files_without_partial_lines(tmp_path):
    r = Run(tmp_path, 2)
    tail = LogTail(tmp_path)
    assert [m.record["event"] for m in tail.poll()] == ["cluster_started"]
    assert tail.poll() == []

    r.start(1)
    got = tail.poll()
    assert [(m.record["event"], os.path.basename(m.file), m.line) for m in got] == [
        ("node_spawned", "supervisor.jsonl", 2), ("node_started", "node-1.jsonl", 1)]

    rec = json.dumps({**GOOD, "node": 1, "seq": 2}).encode() + b"\n"
    with open(tmp_path / "node-1.jsonl", "ab") as f:
        f.write(rec[:20])  # a writer caught mid-line: nothing yet
        f.flush()
        assert tail.poll() == []
        f.write(rec[20:])
    (m,) = tail.poll()
    assert m.line == 2 and m.record["seq"] == 2

    r.start(2)  # a new node file appears
    r.close()
    events = [(os.path.basename(m.file), m.record["event"]) for m in tail.poll()]
    assert ("node-2.jsonl", "node_started") in events and events[-1] == ("supervisor.jsonl", "cluster_stopped")


def test_tail_from_end_skips_history_but_counts_lines(tmp_path):
    clean_run(tmp_path)
    n = len((tmp_path / "node-2.jsonl").read_text().splitlines())
    tail = LogTail(tmp_path, from_start=False)
    assert tail.poll() == []
    with LogWriter(tmp_path / "node-2.jsonl", by="node", node=2, incarnation=2) as w:
        w.write("node_started", term=2, voted_for=2, persist_mode="term+vote")
    (m,) = tail.poll()
    assert m.line == n + 1


def test_tail_on_missing_dir_returns_nothing(tmp_path):
    assert LogTail(tmp_path / "later").poll() == []


@pytest.mark.parametrize("head, torn_len", [(True, 70_000), (False, 70_000), (False, 5)])
def test_torn_tail_repair_scans_back_across_chunks(tmp_path, head, torn_len):
    p = tmp_path / "n.jsonl"
    if head:
        with LogWriter(p, by="node", node=1, incarnation=1) as w:
            w.write("election_timeout", term=0)
    kept = p.read_bytes() if head else b""
    with open(p, "ab") as f:
        f.write(b"{" + b"x" * (torn_len - 1))
    with LogWriter(p, by="node", node=1, incarnation=2) as w:
        assert w.repaired_bytes == torn_len
    assert p.read_bytes() == kept


def test_public_exports():
    import raftzmq.evidence as ev
    from raftzmq.evidence import checker

    for mod in (ev, logfile, checker):
        assert all(hasattr(mod, name) for name in mod.__all__), mod
    assert {"LogWriter", "read_run", "iter_records", "LogTail", "Checker", "check_run", "run_check"} <= set(ev.__all__)
