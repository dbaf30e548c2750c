"""`raftzmq bench kv` (issue 19, deliverable 5): a smoke run at tiny sizes on a real cluster and PySyncObj, whose
figures must be real (positive, consistent with each other), and the parts that do the counting, on made-up input
where the right answer is known."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raftzmq.lab.bench import kv as bench_kv
from raftzmq.lab.bench.kvload import shared_clock
from raftzmq.lab.bench.pysyncobj_peer import available as pysyncobj_available

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "raftzmq", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.cluster
def test_smoke_run_gives_real_consistent_figures():
    duration = 0.6
    proc = _cli("bench", "kv", "--nodes", "3", "--clients", "1,4", "--duration", str(duration), "--warmup", "0.2",
                "--procs", "2", "--floor-samples", "30", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout)

    floor = res["floor"]
    assert floor["fsync_p50_us"] > 0 and floor["rtt_tcp_p50_us"] > 0 and floor["rtt_ipc_p50_us"] > 0
    assert floor["floor_ms"] == pytest.approx((floor["fsync_p50_us"] + floor["rtt_tcp_p50_us"]) / 1000, abs=2e-3)
    assert floor["fsyncs"] == 2 * 15 and floor["round_trips"] == 2 * 30  # before the cluster and at the end
    assert floor["busy_fsyncs"] == 2 * 3 * 15 and floor["fsync_busy_p50_us"] > 0
    assert floor["floor_busy_ms"] == pytest.approx((floor["fsync_busy_p50_us"] + floor["rtt_tcp_p50_us"]) / 1000,
                                                   abs=2e-3)
    assert len(floor["sets"]) == 2 and floor["fsync_p10_us"] <= floor["fsync_p50_us"] <= floor["fsync_p99_us"]

    (ours,) = res["raftzmq"]
    assert ours["nodes"] == 3 and ours["fsync"] is True and ours["api"] in ("kv", "raw")
    assert [w["clients"] for w in ours["windows"]] == [1, 4]
    for w in ours["windows"]:
        assert w["ok"] > 0 and w["ops_per_s"] == pytest.approx(w["ok"] / duration, abs=0.1)
        assert 0 < w["p50_ms"] <= w["p99_ms"]
        assert w["fail"] == 0 and w["procs"] == min(2, w["clients"])
        assert w["counters_span_s"] == pytest.approx(duration, abs=0.25)  # counters read at the window's edges
        assert w["fsyncs_from"] == "counters"
        assert 0 < w["fsyncs_leader"] <= w["fsyncs_all"]
        assert w["ops_per_fsync_leader"] == pytest.approx(w["ok"] / w["fsyncs_leader"], abs=0.01)
        assert w["fsyncs_per_op_all"] == pytest.approx(w["fsyncs_all"] / w["ok"], abs=1e-3)
        assert w["leader_entries"] > 0 and w["follower_entries"] > 0 and w["append_entries_sent"] > 0
        assert w["entries_per_append_entries"] == pytest.approx(w["follower_entries"] / w["append_entries_sent"],
                                                                abs=0.01)
        assert w["log_appended_records"] > 0 and len(w["load"].split()) == 3
        cpu = w["cpu_pct"]
        assert cpu["leader"] > 0 and len(cpu["followers"]) == 2 and cpu["load_procs"] > 0
        assert w["fsyncs_per_s_leader"] == pytest.approx(w["fsyncs_leader"] / duration, abs=0.1)
    # Every commit waits for the leader's own fsync, and one closed-loop client has nothing to batch: about one
    # leader fsync per op (a window edge may cut one).
    one = ours["windows"][0]
    assert one["ops_per_fsync_leader"] == pytest.approx(1.0, abs=0.2)

    peer = res["pysyncobj"]
    if pysyncobj_available():
        for cfg in ("default", "nobatch"):
            assert peer[cfg]["fsync"] is False and peer[cfg]["nodes"] == 3
            runs = peer[cfg]["runs"]
            assert [r["clients"] for r in runs] == [1, 4]
            for r in runs:
                assert r["ok"] > 0 and r["errors"] == 0 and 0 < r["p50_ms"] <= r["p99_ms"]
                assert r["ops_per_s"] == pytest.approx(r["ok"] / duration, abs=0.1)
                cpu = r["cpu_pct"]  # the node processes' CPU over the window (the leader runs the clients)
                assert all(v >= 0 for v in cpu["others"])
                if r["leader_known"]:  # (default's one client may use less than a clock tick in the window)
                    assert len(cpu["others"]) == 2 and (cpu["leader"] > 0 if cfg == "nobatch" else cpu["leader"] >= 0)
        for row in res["ratios"]:
            assert row["vs_pysyncobj_nobatch"] > 0 and row["vs_pysyncobj_default"] > 0
    else:
        assert "not installed" in peer["skipped"]
    assert all(row["p50_vs_floor"] > 0 for row in res["ratios"]) and len(res["ratios"]) == 2
    assert len(res["differences"]) == 2 and "fsync" in res["differences"][0]

    checker = res["checker"]
    if ours["api"] == "kv":
        assert checker["verdict"] == "linearizable" and checker["history_operations"] > 0
        assert checker["seconds"] > 0
    else:
        assert "pending" in checker and ours["history"]["pending"]
    targets = {t["target"]: t for t in res["targets"]}
    assert len(targets) == 3
    lat = next(t for name, t in targets.items() if name.startswith("1 client"))
    assert lat["met"] == (lat["ours_ms"] <= lat["limit_ms"])
    assert lat["met_vs_busy_floor"] == (lat["ours_ms"] <= lat["limit_busy_ms"])
    assert all(t["met"] is None for name, t in targets.items() if "64 clients" in name)  # not measured here


def test_refuses_bad_counts_in_one_line():
    for args in (["--clients", "0"], ["--nodes", "three"], ["--clients", ""]):
        proc = _cli("bench", "kv", *args, timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith("raftzmq: error: ") and proc.stderr.count("\n") == 1, proc.stderr


def test_help_has_examples():
    proc = _cli("bench", "kv", "--help", timeout=60)
    assert proc.returncode == 0 and "Examples:" in proc.stdout and "raftzmq bench kv --nodes 3" in proc.stdout


def _write_log(path: Path, records: list[dict]) -> None:
    """Node records as the nodes write them (the fields docs/log-schema.md asks for)."""
    with path.open("w") as f:
        for seq, rec in enumerate(records, 1):
            full = {"seq": seq, "ts": 0.0, "term": 1, "by": "node", "incarnation": 1, **rec}
            if rec["event"] == "log_appended":
                full |= {"terms": [[1, rec["last"] - rec["first"] + 1]], "prev_digest": "0" * 16, "digest": "0" * 16}
            if rec["event"] == "commit_advanced":
                full["digest"] = "0" * 16
            f.write(json.dumps(full) + "\n")


def test_costs_count_the_window_only_and_fall_back_to_records(tmp_path):
    # Leader 1, followers 2 and 3. Inside [100, 200): follower 2 appends 3 + 2 entries, follower 3 appends 5;
    # outside it, appends that must not count.
    _write_log(tmp_path / "node-1.jsonl", [
        {"node": 1, "event": "log_appended", "mono_ns": 150, "first": 1, "last": 5}])
    _write_log(tmp_path / "node-2.jsonl", [
        {"node": 2, "event": "log_appended", "mono_ns": 99, "first": 1, "last": 9},
        {"node": 2, "event": "log_appended", "mono_ns": 100, "first": 1, "last": 3},
        {"node": 2, "event": "log_appended", "mono_ns": 199, "first": 4, "last": 5},
        {"node": 2, "event": "log_appended", "mono_ns": 200, "first": 6, "last": 9}])
    _write_log(tmp_path / "node-3.jsonl", [
        {"node": 3, "event": "commit_advanced", "mono_ns": 150, "commit": 5},
        {"node": 3, "event": "log_appended", "mono_ns": 120, "first": 1, "last": 5}])
    c0 = {1: {"syncs": 10, "sent": {"append_entries": 4}, "last": 0},
          2: {"syncs": 7, "sent": {}, "last": 0}, 3: {"syncs": 1, "sent": {}, "last": 0}}
    c1 = {1: {"syncs": 12, "sent": {"append_entries": 9}, "last": 5},
          2: {"syncs": 9, "sent": {}, "last": 5}, 3: {"syncs": 2, "sent": {}, "last": 5}}
    got = bench_kv._costs(c0, c1, 1, 10, tmp_path, 100, 200)
    assert got["fsyncs_from"] == "counters"
    assert (got["fsyncs_leader"], got["fsyncs_all"]) == (2, 5)
    assert got["ops_per_fsync_leader"] == 5.0 and got["fsyncs_per_op_all"] == 0.5
    assert got["append_entries_sent"] == 5 and got["follower_entries"] == 10
    assert got["entries_per_append_entries"] == 2.0 and got["leader_entries"] == 5
    assert got["log_appended_records"] == 4
    # No syncs counter: a log_appended record per durable append is what is counted.
    bare0 = {n: {k: v for k, v in d.items() if k != "syncs"} for n, d in c0.items()}
    bare1 = {n: {k: v for k, v in d.items() if k != "syncs"} for n, d in c1.items()}
    got = bench_kv._costs(bare0, bare1, 1, 10, tmp_path, 100, 200)
    assert got["fsyncs_from"] == "log_appended records"
    assert (got["fsyncs_leader"], got["fsyncs_all"]) == (1, 4)


def test_merged_histories_keep_time_order_and_ties_are_concurrent(tmp_path):
    a, b = tmp_path / "h.0.jsonl", tmp_path / "h.1.jsonl"
    a.write_text('{"process": 0, "type": "invoke", "f": "put", "key": "k", "value": [1], "time": 5}\n'
                 '{"process": 0, "type": "ok", "f": "put", "key": "k", "value": [1], "time": 10}\n')
    b.write_text('{"process": 1, "type": "invoke", "f": "get", "key": "k", "value": null, "time": 10}\n'
                 '{"process": 1, "type": "ok", "f": "get", "key": "k", "value": null, "time": 12}\n')
    out = bench_kv._merge([a, b], tmp_path / "h.jsonl")
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["process"], r["type"], r["time"]) for r in recs] == [
        (0, "invoke", 5), (1, "invoke", 10), (0, "ok", 10), (1, "ok", 12)]
    assert not a.exists() and not b.exists()
    from raftzmq.evidence.history import read_history
    from raftzmq.evidence.lincheck import check_history
    # The get that began at the put's completion instant may read the old value: concurrent, linearizable.
    assert check_history(read_history(out)).verdict == "linearizable"


def test_shared_clock_gives_every_recorder_one_origin():
    from raftzmq.lab.live.workload import Op, Recorder
    base = time.monotonic_ns() - 1_000_000_000  # one second ago
    rec = Recorder(clock=shared_clock(base))
    t = rec.invoke(0, Op("put", "k", [1]))
    assert 1_000_000_000 <= t < 60 * 1_000_000_000


def test_render_names_missed_targets_and_pending_parts():
    res = {"duration_s": 1.0, "warmup_s": 0.5,
           "floor": {"fsync_p50_us": 500.0, "fsync_p99_us": 900.0, "rtt_tcp_p50_us": 50.0, "rtt_ipc_p50_us": 40.0,
                     "floor_ms": 0.55, "load": "1 1 1", "fsync_busy_p50_us": 200.0, "floor_busy_ms": 0.25},
           "raftzmq": [{"nodes": 3, "api": "raw", "windows": [
               {"clients": 64, "ops_per_s": 100.0, "p50_ms": 5.0, "p99_ms": 9.0, "fsyncs_per_op_leader": 0.5,
                "fsyncs_per_op_all": 1.5, "ops_per_fsync_leader": 2.0, "entries_per_append_entries": 1.1,
                "load": "1 1 1"}]}],
           "pysyncobj": {"skipped": "PySyncObj is not installed"}, "ratios": [],
           "checker": {"pending": "no history"}, "differences": ["a", "b"],
           "targets": [{"target": ">= 8 ops per fsync at 64 clients", "ours": 2.0, "met": False},
                       {"target": "1 client: p50 <= 1.5 x (fsync + round trip)", "ours_ms": 0.6, "limit_ms": 0.825,
                        "limit_busy_ms": 0.375, "met_vs_busy_floor": False, "met": True}]}
    text = bench_kv.render(res)
    assert "MISSED       >= 8 ops per fsync at 64 clients (ours 2.0)" in text
    assert "MET          1 client: p50 <= 1.5 x (fsync + round trip) (ours_ms 0.6, limit_ms 0.825, " in text
    assert "MISSED         the same against the busy floor" in text and "limit 0.375 ms" in text
    assert "skipped: PySyncObj is not installed" in text and "checker: no history" in text


def _load_window(spec: dict, tmp_path: Path, duration: float = 0.4) -> dict:
    """One kvload process through its line protocol: ready, go, result (its stderr in the failure)."""
    from raftzmq.lab.bench.pysyncobj_peer import LineProcess
    err = tmp_path / f"load-{spec['first']}.err"
    with err.open("w") as sink:
        p = LineProcess([sys.executable, "-m", "raftzmq.lab.bench.kvload", json.dumps(spec)], sink, "load process")
        try:
            p.expect("ready", time.monotonic() + 60)
            t0 = time.monotonic() + 0.1
            p.send({"go": t0, "warmup": 0.1, "duration": duration})
            return p.expect("result", time.monotonic() + 60)["result"]
        except RuntimeError as exc:
            raise AssertionError(f"{exc}: {err.read_text()[-3000:]}") from None
        finally:
            p.stop()


def test_load_process_kv_clients_are_closed_loops_with_sessions(tmp_path):
    from kvfake import FakeCluster
    fake = FakeCluster(tmp_path)
    try:
        res = _load_window({"api": "kv", "threads": 3, "first": 5, "endpoints": fake.endpoints, "leader": 1}, tmp_path)
        assert res["ok"] > 0 and res["fail"] == res["info"] == res["stuck"] == 0
        assert len(res["lat_us"]) == res["ok"] and min(res["lat_us"]) > 0
        # Each client put 1, 2, 3, ... on its own key under its own session: the last value is its count of puts.
        puts = {c.key: c for c in fake.applied if c.op == "put"}
        assert sorted(puts) == ["bench/5", "bench/6", "bench/7"]
        registers = [c for c in fake.applied if c.op == "register"]
        assert len(registers) == 3 and len({c.client for c in puts.values()}) == 3
        for key, cmd in puts.items():
            assert fake.value(key) == cmd.seq == len([c for c in fake.applied if c.key == key])
        # Only what completed inside the window is counted, and all of it was applied.
        assert res["ok"] + res["outside"] == sum(1 for c in fake.applied if c.op == "put")
    finally:
        fake.close()


def test_load_process_follows_a_new_leader_and_does_not_hammer_the_old_one(tmp_path):
    """The leader changes between registration and the window: the clients' first puts are answered not_leader
    (counted as info), they back off and go where the answer points, and the old leader is not flooded."""
    from raftzmq.lab.bench.pysyncobj_peer import LineProcess
    from kvfake import FakeCluster
    fake = FakeCluster(tmp_path)
    spec = {"api": "kv", "threads": 3, "first": 0, "endpoints": fake.endpoints, "leader": 1}
    try:
        with (tmp_path / "load.err").open("w") as sink:
            p = LineProcess([sys.executable, "-m", "raftzmq.lab.bench.kvload", json.dumps(spec)], sink, "load")
            try:
                p.expect("ready", time.monotonic() + 60)
                with fake.lock:
                    fake.leader = 2
                    before = fake.received[1]
                p.send({"go": time.monotonic() + 0.1, "warmup": 0.0, "duration": 0.5})
                res = p.expect("result", time.monotonic() + 60)["result"]
            finally:
                p.stop()
        assert res["ok"] > 0 and res["info"] == 3 and res["stuck"] == 0  # one not_leader per client, then node 2
        assert fake.received[1] - before == 3 and fake.received[2] >= res["ok"]
    finally:
        fake.close()


def test_load_process_records_a_checkable_history(tmp_path):
    from kvfake import FakeCluster
    from raftzmq.evidence.history import read_history
    from raftzmq.evidence.lincheck import check_history
    fake = FakeCluster(tmp_path, reads="index")
    try:
        base = time.monotonic_ns()
        parts = []
        for i, first in enumerate((0, 2)):
            part = tmp_path / f"h.{i}.jsonl"
            parts.append(part)
            res = _load_window({"api": "kv", "threads": 2, "first": first, "endpoints": fake.endpoints,
                                "leader": 1, "mix": True, "seed": 3, "total": 4, "keys": 2, "rate": 2000.0,
                                "span": 5.0, "record": str(part), "base_ns": base}, tmp_path)
            assert res["ok"] > 0
        out = bench_kv._merge(parts, tmp_path / "history.jsonl")
        history = read_history(out)
        assert {op.process for op in history.operations} == {0, 1, 2, 3}
        assert {op.f for op in history.operations} >= {"get", "put"}
        assert check_history(history).verdict == "linearizable"
    finally:
        fake.close()


def test_a_child_that_never_answers_is_reported_and_ended(tmp_path):
    from raftzmq.lab.bench.pysyncobj_peer import LineProcess
    with (tmp_path / "err").open("w") as sink:
        # Ignores its input and never prints: `expect` gives up at its deadline, `stop` ends it (kill after 5 s).
        p = LineProcess([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                         " [time.sleep(1) for _ in range(600)]"], sink, "load process")
        try:
            with pytest.raises(RuntimeError, match="load process pid .*: no 'ready' in time"):
                p.expect("ready", time.monotonic() + 0.5)
        finally:
            p.stop()
        assert p.proc.poll() is not None


def test_pysyncobj_missing_is_a_clear_error(monkeypatch):
    from raftzmq.lab.bench import pysyncobj_peer
    monkeypatch.setattr(pysyncobj_peer.importlib.util, "find_spec", lambda name: None)
    assert not pysyncobj_peer.available()
    with pytest.raises(RuntimeError, match=r"PySyncObj is not installed \(pip install 'raftzmq\[bench\]'"):
        pysyncobj_peer.run_pysyncobj([1])


def test_the_load_process_sends_the_clients_frames_and_reads_answer_headers():
    """kvload.put_frame is byte for byte kvwire.encode_request of the put (the load generator's shortcut sends
    what raftzmq.client would); kvwire.peek_response reads (request id, status) and refuses what is not a header."""
    from raftzmq.lab.bench.kvload import put_frame
    from raftzmq.protocol.kvstore import Command
    from raftzmq.protocol.kvwire import (Request, Response, WireError, encode_request, encode_response,
                                         peek_response)
    for rid, session, seq, key in ((1, 2, 3, "bench/1"), (2**64 - 1, 2**40, 2**63, "é" * 100)):
        assert put_frame(rid, session, seq, key.encode(), seq) == \
            encode_request(Request(rid, Command("put", key, seq, None, session, seq)))
    for status in ("ok", "retry", "not_leader"):
        assert peek_response(encode_response(Response(9, status, [1], "m", 2, "ipc://x"))) == (9, status)
    for bad in (b"", b"\x01" * 5, b"\x02" + bytes(13), b"\x01" + bytes(8) + b"\x63" + bytes(4)):
        with pytest.raises(WireError):
            peek_response(bad)
