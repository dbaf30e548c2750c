"""lab/live/workload.py: the schedule, the recorder's history (read back by evidence/history.py), the verdict,
the summary; the transport-free driver against a linearizable and a stale-read store; the live driver against
the fake cluster with a nemesis hook."""
from __future__ import annotations

import heapq
import io
import json
import random
import threading

import pytest

from raftzmq.client import Client
from raftzmq.evidence.history import parse_history, read_history
from raftzmq.evidence.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, check_history
from raftzmq.lab.live import workload
from raftzmq.lab.live.workload import Op, Recorder, SimWorkload, Window, generate, quantile, run_live, summarize
from raftzmq.protocol.kvstore import Command, KVStore, encode_command


def test_the_schedule_is_seeded_bounded_and_in_time_order():
    a = generate(3, 4, 5, rate=1000, duration=0.5)
    assert a == generate(3, 4, 5, rate=1000, duration=0.5) and a != generate(4, 4, 5, rate=1000, duration=0.5)
    assert 350 < len(a) < 650 and [t for t, _, _ in a] == sorted(t for t, _, _ in a)
    assert {p for _, p, _ in a} == {0, 1, 2, 3} and {op.key for _, _, op in a} <= {f"k{i}" for i in range(5)}
    written = [json.dumps(op.value) for _, _, op in a if op.f in ("put", "append")]
    assert len(written) == len(set(written))  # unique values
    with pytest.raises(ValueError):
        generate(1, workload.MAX_CLIENTS + 1, 1, 1, 1)
    with pytest.raises(ValueError):
        generate(1, 1, 1, 1, 1, mix={"frob": 1})


def test_nearest_rank_quantiles():
    assert quantile([], 0.5) is None
    assert quantile([5, 1, 3, 2, 4], 0.5) == 3 and quantile(list(range(1, 101)), 0.99) == 99
    assert quantile([7], 0.99) == 7 and quantile([1, 2], 1.0) == 2


def test_the_recorder_writes_the_documented_format():
    out = io.StringIO()
    ticks = iter(range(0, 10**6, 10))
    rec = Recorder(out, clock=lambda: next(ticks))
    rec.invoke(0, Op("put", "x", [1]))
    rec.invoke(1, Op("get", "x"))
    rec.complete(0, "ok")
    rec.complete(1, "ok", [1])
    rec.invoke(1, Op("cas", "x", [[1], [2]]))
    rec.complete(1, "info")
    rec.invoke(0, Op("append", "x", [3]))  # never completes: indefinite
    rec.close()
    with pytest.raises(ValueError):
        rec.invoke(2, Op("get", "x"))
    lines = out.getvalue().splitlines()
    assert json.loads(lines[3]) == {"process": 1, "type": "ok", "f": "get", "key": "x", "value": [1], "time": 40}
    h = parse_history(lines)
    assert [op.status for op in h.operations] == ["ok", "ok", "info", "open"] and h.timed
    assert check_history(h).verdict == LINEARIZABLE
    s = summarize(rec, 1.0, [Window(0.0, 0.5, "early")])
    assert s.counts == {"invoke": 4, "ok": 2, "fail": 0, "info": 1}
    assert s.availability[0]["fraction"] == 0.5 and s.availability[1]["invoked"] == 4
    assert "2 ok, 0 fail, 1 info, 1 never completed" in s.render()


def _simulate(seed, stale=False, ops=300):
    """A tiny event loop: each submitted op takes effect at a random instant inside its call (linearizable by
    construction), or, with `stale`, gets read from a copy of the store that lags behind."""
    rng = random.Random(seed)
    store, lagging = KVStore(), {}
    index = [0]
    sessions = {}
    events = []  # (time, seq, action)
    seq = [0]

    def at(t, action):
        seq[0] += 1
        heapq.heappush(events, (t, seq[0], action))

    def apply(cmd):
        index[0] += 1
        return store.apply(index[0], encode_command(cmd))

    def submit(p, op, now):
        effect = now + rng.randint(1, 50)

        def take_effect():
            if p not in sessions:
                sessions[p] = [apply(Command("register")).value, 0]
            c = op.command()
            if op.f == "get":
                if stale and rng.random() < 0.5:
                    res_value, status = lagging.get(op.key), "ok"
                else:
                    res_value, status = store.read(op.key), "ok"
            else:
                sessions[p][1] += 1
                r = apply(Command(c.op, c.key, c.value, c.new, sessions[p][0], sessions[p][1]))
                res_value, status = None, r.status
            if rng.random() < 0.2:  # the store moves on; the stale copy catches up now and then
                lagging.clear()
                lagging.update(store.data)
            lost = rng.random() < 0.05
            at(effect + rng.randint(1, 50), lambda: sim.done(p, "info" if lost else status, res_value, effect))

        at(effect, take_effect)

    sim = SimWorkload(generate(seed, 5, 2, rate=1e6, duration=ops / 1e6), submit)
    now = 0
    while not sim.finished:
        nxt = sim.next_time()
        t = min([x for x in (nxt, events[0][0] if events else None) if x is not None])
        now = max(now, t)
        while events and events[0][0] <= now:
            heapq.heappop(events)[2]()
        sim.step(now)
    lines = [json.dumps(x) for x in sim.recorder.lines]
    return check_history(parse_history(lines, "sim")), sim.recorder


@pytest.mark.parametrize("seed", range(5))
def test_the_simulated_driver_records_a_linearizable_history_of_a_correct_store(seed):
    result, rec = _simulate(seed)
    assert result.verdict == LINEARIZABLE and rec.counts["invoke"] > 200 and rec.counts["info"] > 0
    assert rec.counts["ok"] + rec.counts["fail"] + rec.counts["info"] == rec.counts["invoke"]


def test_the_simulated_driver_catches_stale_reads():
    verdicts = [_simulate(seed, stale=True)[0].verdict for seed in range(3)]
    assert NOT_LINEARIZABLE in verdicts


def test_the_live_driver_against_the_fake_cluster_with_a_nemesis_hook(tmp_path, fake):
    fake.leader = 2
    clients = [Client(fake.endpoints, timeout=1.0, attempt_timeout=0.2, seed=p) for p in range(4)]
    window: list[float] = []
    lines: list[str] = []

    def on_tick(elapsed):  # the nemesis: every node goes silent for a while, then heals
        with fake.lock:
            if not window and elapsed >= 0.5:
                fake.silent = {1, 2, 3}
                window.append(elapsed)
            elif len(window) == 1 and elapsed >= window[0] + 1.5:  # longer than a client's deadline
                fake.silent = set()
                window.append(elapsed)

    path = tmp_path / "history.jsonl"
    try:
        with open(path, "w") as out:
            rec, summary = run_live(clients, generate(1, 4, 3, rate=300, duration=3.0), out, 3.0, tick_s=0.25,
                                    progress=lines.append, on_tick=on_tick,
                                    windows=lambda: [Window(window[0], window[1], "silent")])
    finally:
        for c in clients:
            c.close()
    history = read_history(path)  # the documented format, strictly read
    assert len(history.operations) == summary.counts["invoke"] > 100
    result = workload.check(path, summary)
    assert result.verdict == LINEARIZABLE and summary.verdict == LINEARIZABLE
    assert summary.counts["info"] > 0 and summary.counts["ok"] > 100
    silent = summary.availability[1]
    assert silent["label"] == "silent" and silent["fraction"] < summary.availability[0]["fraction"]
    assert summary.latency_ms["p50"] <= summary.latency_ms["p99"] <= summary.latency_ms["max"]
    assert lines and "ok/s" in lines[-1]
    assert json.loads(json.dumps(summary.to_dict()))["verdict"] == LINEARIZABLE
