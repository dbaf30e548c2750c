"""`raftzmq workload --nemesis` without processes (issue 19, deliverable 3): the kinds, the restart step of the
plan, the windows each executed step leaves in force, the availability per window computed from a hand-made
history, and the direct check that every acknowledged write is still visible to the final reads."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kvfake import endpoint_args as _eps
from raftzmq.cli import main
from raftzmq.evidence.history import parse_history, read_history
from raftzmq.evidence.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, check_history
from raftzmq.lab.live.kvnemesis import describe, fault_windows
from raftzmq.lab.live.nemesis import NEMESES, WORKLOAD_KINDS, parse_kinds, plan
from raftzmq.lab.live.workload import (Window, availability, calm_windows, history_spans, lost_writes,
                                       summarize_ops)
from raftzmq.protocol.quorum import majority

S = 1_000_000_000


# ------------------------------------------------------------------------------------------------ kinds, plan

def test_kinds_all_and_unknown():
    assert parse_kinds("all") == WORKLOAD_KINDS and "restart" in WORKLOAD_KINDS
    assert parse_kinds("kill, partition,kill") == ("kill", "partition")
    with pytest.raises(ValueError, match="unknown nemesis kind.*frob"):
        parse_kinds("kill,frob")
    with pytest.raises(ValueError):
        parse_kinds(" , ")


def test_restart_is_planned_only_when_asked_and_chaos_schedules_stay_the_same():
    assert "restart" not in NEMESES  # so `raftzmq chaos --seed S` replays what it did before
    assert all(a.kind != "restart" for seed in range(20) for a in plan(seed, 5, 60.0))
    kinds = {a.kind for a in plan(3, 5, 60.0, ("kill", "restart"))}
    assert kinds == {"kill", "restart", "undo"}


@pytest.mark.parametrize("nodes", [3, 5])
def test_a_restart_never_takes_down_more_than_a_minority(nodes):
    for seed in range(30):
        down: set[int] = set()
        for a in plan(seed, nodes, 60.0, WORKLOAD_KINDS):
            if a.kind in ("kill", "pause", "crash", "disk"):
                down.add(a.index)
            elif a.kind == "undo":
                down.discard(a.undoes)  # type: ignore[arg-type]
            elif a.kind == "restart":  # down for an instant, on top of those already down
                assert len(down) + 1 <= nodes - majority(nodes)
            assert len(down) <= nodes - majority(nodes)


# ------------------------------------------------------------------------------------------------ windows

def _step(index, kind, at, done=None, did="done", node=None, params=None, undoes=None):
    return {"index": index, "kind": kind, "at": at, "done": at if done is None else done, "did": did,
            "node": node, "params": params or {}, "undoes": undoes}


def test_each_fault_is_in_force_until_undone_healed_or_replaced():
    steps = [
        _step(0, "kill", 1.0, node=2),
        _step(1, "partition", 2.0, params={"groups": [[1, 2], [3]]}),
        _step(2, "undo", 3.0, done=3.2, undoes=0),
        _step(3, "partition", 4.0, params={"groups": [[1], [2, 3]]}),  # replaces the partition in force
        _step(4, "net", 4.5, params={"loss": 0.2, "delay_ms": 10, "jitter_ms": 5}),
        _step(5, "heal", 5.0, done=5.1),
        _step(6, "restart", 6.0, node=1),  # an instant: the 2 s after it
        _step(7, "pause", 6.5, did="skipped: no eligible node"),  # opens nothing
        _step(11, "kill", 6.6, did="error: KeyError: 'nodes'"),  # nor does a step that broke
        _step(8, "skew", 7.0, node=1, params={"factor": 4.0}),
        _step(9, "skew", 8.0, node=1, params={"factor": 0.5}),  # replaces node 1's skew
        _step(10, "pause", 8.5, node=3),  # never undone: ends at the final heal
    ]
    got = [(w.start, w.end, w.label, w.kind) for w in fault_windows(steps, 9.0)]
    assert got == [(1.0, 3.2, "#0 kill n2", "kill"), (2.0, 4.0, "#1 partition 1,2|3", "partition"),
                   (4.0, 5.1, "#3 partition 1|2,3", "partition"),
                   (4.5, 5.1, "#4 net loss 20% delay 10±5 ms", "net"),
                   (6.0, 8.0, "#6 restart n1", "restart"), (7.0, 8.0, "#8 skew n1 x4", "skew"),
                   (8.0, 9.0, "#9 skew n1 x0.5", "skew"), (8.5, 9.0, "#10 pause n3", "pause")]
    assert [(w.start, w.end) for w in calm_windows(fault_windows(steps, 9.0), 9.0)] == [(0.0, 1.0), (5.1, 6.0)]


def test_a_shape_replaces_partitions_and_cuts_and_heal_leaves_nodes_down():
    steps = [_step(0, "cut", 1.0, params={"src": 1, "dst": 2, "one_way": False}),
             _step(1, "isolate-leader", 1.5, node=3),
             _step(2, "kill", 1.8, node=1),
             _step(3, "ring", 2.0, params={"order_seed": 7}),
             _step(4, "heal", 3.0)]
    got = [(w.start, w.end, w.label) for w in fault_windows(steps, 5.0)]
    assert got == [(1.0, 2.0, "#0 cut 1-2"), (1.5, 2.0, "#1 isolate-leader n3"), (1.8, 5.0, "#2 kill n1"),
                   (2.0, 3.0, "#3 ring")]
    assert describe(_step(0, "crash", 0, node=2, params={"failpoint": "before_rename"})) == "crash n2 before_rename"


# ----------------------------------------------------------------------------------- availability, by hand

def _history(ops):
    """(process, f, key, value, call s, ret s, status, output) -> timed history lines in time order."""
    events = []
    for p, f, key, value, call, ret, status, output in ops:
        events.append((call, 0, {"process": p, "type": "invoke", "f": f, "key": key, "value": value,
                                 "time": int(call * S)}))
        if status != "open":
            events.append((ret, 1, {"process": p, "type": status, "f": f, "key": key,
                                    "value": output if f == "get" and status == "ok" else value,
                                    "time": int(ret * S)}))
    return [json.dumps(e) for _, _, e in sorted(events, key=lambda e: (e[0], e[1]))]


HAND = [  # two clients and a final reader (process 2); windows: kill [1, 2), partition [1.5, 3); 4 s run
    (0, "put", "x", [1], 0.1, 0.2, "ok", None), (1, "cas", "x", [[9], [2]], 0.2, 0.3, "fail", None),
    (0, "get", "x", None, 0.5, 0.6, "ok", [1]), (0, "put", "x", [3], 1.1, 1.9, "info", None),
    (1, "get", "x", None, 1.2, 1.3, "ok", [1]), (1, "put", "x", [4], 1.6, 2.5, "ok", None),
    (0, "get", "x", None, 2.1, 2.2, "ok", [4]), (1, "cas", "x", [[1], [5]], 2.6, 2.7, "fail", None),
    (1, "get", "x", None, 3.1, 3.2, "ok", [4]), (0, "put", "x", [6], 3.5, 3.6, "ok", None),
    (2, "get", "x", None, 4.5, 4.6, "ok", [6]),
]
WINDOWS = [Window(1.0, 2.0, "#0 kill n1", "kill"), Window(1.5, 3.0, "#1 partition 1|2,3", "partition")]


def test_availability_per_window_matches_the_hand_count():
    history = parse_history(_history(HAND), "hand.jsonl")
    spans = history_spans(history, [0, 1])  # the final read is not part of the run's figures
    rows = {(r["scope"], r["label"]): r for r in availability(spans, 4.0, WINDOWS)}
    pick = {k: (r["invoked"], r["ok"], r["fail"], r["indefinite"], r["fraction"], r["answered"])
            for k, r in rows.items()}
    assert pick == {
        ("run", "all"): (10, 7, 2, 1, 0.7, 0.9),
        ("kind", "kill"): (3, 2, 0, 1, 2 / 3, 2 / 3),            # invoked at 1.1 (info), 1.2, 1.6
        ("kind", "partition"): (3, 2, 1, 0, 2 / 3, 1.0),         # 1.6, 2.1, 2.6 (fail: answered)
        ("kind", "calm"): (5, 4, 1, 0, 0.8, 1.0),                # [0, 1) and [3, 4)
        ("window", "#0 kill n1"): (3, 2, 0, 1, 2 / 3, 2 / 3),
        ("window", "#1 partition 1|2,3"): (3, 2, 1, 0, 2 / 3, 1.0),
    }
    assert rows[("kind", "calm")]["windows"] == 2 and rows[("kind", "calm")]["seconds"] == 2.0
    summary = summarize_ops(spans, 4.0, WINDOWS)
    assert summary.counts == {"invoke": 10, "ok": 7, "fail": 2, "info": 1} and summary.throughput == 7 / 4
    assert summary.latency_ms["p50"] == pytest.approx(100) and summary.latency_ms["max"] == pytest.approx(900)
    text = summary.render()
    assert "availability kill 1 window, 1.0 s: 66.7% ok, 66.7% answered of 3" in text
    assert "availability #1 partition 1|2,3 [1.5, 3.0) s: 66.7% ok, 100.0% answered of 3" in text


def test_history_without_times_has_no_availability():
    untimed = parse_history([json.dumps({"process": 0, "type": "invoke", "f": "get", "key": "x", "value": None})])
    with pytest.raises(ValueError, match="needs times"):
        history_spans(untimed)


# ----------------------------------------------------------------------------- nothing acknowledged is lost

def _lost(ops):
    h = parse_history(_history(ops), "h.jsonl")
    return lost_writes(h, [0, 1], [9]), check_history(h)


def test_the_final_read_of_the_last_acknowledged_write_is_not_a_loss():
    report, result = _lost(HAND[:-1] + [(9, "get", "x", None, 4.5, 4.6, "ok", [6])])
    assert report == {"keys_read": 1, "judged": 1, "left_to_checker": 0, "lost": []}
    assert result.verdict == LINEARIZABLE


def test_an_acknowledged_write_missing_from_the_final_read_is_lost_and_not_linearizable():
    report, result = _lost(HAND[:-1] + [(9, "get", "x", None, 4.5, 4.6, "ok", [4])])
    assert [(r["key"], r["final"], r["write"], r["line"], r["reason"]) for r in report["lost"]] == [
        ("x", [4], "p0 put x=[6] ok", 19, "an acknowledged write came after the one read")]
    assert result.verdict == NOT_LINEARIZABLE  # the checker agrees


CASES = [  # ops on key y, the final read's value, whether an acknowledged write is lost
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "put", "y", [2], 2, 3, "ok", None)], [1], True),
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "put", "y", [2], 2, 3, "ok", None)], [2], False),
    ([(0, "put", "y", [1], 0, 5, "ok", None), (1, "put", "y", [2], 1, 3, "ok", None)], [1], False),
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "put", "y", [2], 2, 3, "info", None)], [1], False),
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "put", "y", [2], 2, 3, "info", None)], [2], False),
    ([(0, "put", "y", [1], 0, 1, "ok", None)], None, True),
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "delete", "y", None, 2, 3, "ok", None)], None, False),
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "delete", "y", None, 2, 3, "ok", None)], [1], True),
    ([(0, "put", "y", [1], 0, 1, "ok", None)], [7], True),
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "put", "y", [2], 8, 12, "ok", None)], [1], False),
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "cas", "y", [[1], [2]], 2, 3, "ok", None)], [1], True),
    ([(0, "put", "y", [1], 0, 1, "ok", None), (1, "cas", "y", [[5], [2]], 2, 3, "fail", None)], [1], False),
]


@pytest.mark.parametrize("ops, final, lost", CASES)
def test_lost_writes_agree_with_the_checker(ops, final, lost):
    report, result = _lost([*ops, (9, "get", "y", None, 10, 11, "ok", final)])
    assert bool(report["lost"]) is lost and report["judged"] == 1
    if final == [7]:
        assert report["lost"][0]["reason"] == "no write wrote this value" and report["lost"][0]["write"] is None
    assert (result.verdict == NOT_LINEARIZABLE) is lost


APPENDS = [  # ops on key z, the final read's value, whether an acknowledged append is lost
    ([(0, "append", "z", [1], 0, 1, "ok", None), (1, "append", "z", [2], 2, 3, "ok", None)], [1, 2], False),
    ([(0, "append", "z", [1], 0, 1, "ok", None), (1, "append", "z", [2], 2, 3, "ok", None)], [1], True),
    ([(0, "append", "z", [1], 0, 1, "ok", None), (1, "append", "z", [2], 2, 3, "info", None)], [1], False),
    ([(0, "append", "z", [1], 0, 1, "ok", None)], None, True),
    ([(0, "append", "z", [1], 0, 1, "ok", None), (1, "put", "z", [5], 2, 3, "ok", None)], [5], False),
    ([(0, "append", "z", [1], 0, 1, "ok", None), (1, "delete", "z", None, 0.5, 3, "ok", None)], None, False),
    ([(0, "append", "z", [1], 2, 3, "ok", None), (1, "delete", "z", None, 0, 1, "ok", None)], None, True),
    ([(0, "put", "z", [5], 0, 1, "ok", None), (1, "append", "z", [1], 2, 3, "ok", None)], [5, 1], False),
    ([(0, "put", "z", [5], 0, 1, "ok", None), (1, "append", "z", [1], 2, 3, "ok", None)], [1], True),
    ([(0, "put", "z", [5], 0, 1, "ok", None), (1, "append", "z", [1], 2, 3, "info", None)], None, True),
    ([(0, "put", "z", [5], 0, 1, "ok", None), (1, "append", "z", [1], 2, 3, "ok", None),
      (0, "delete", "z", None, 4, 5, "info", None)], None, False),
    ([(0, "put", "z", [5], 0, 1, "ok", None), (1, "append", "z", [1], 0.5, 3, "ok", None)], [1], True),
    ([(0, "put", "z", [5], 0, 2, "ok", None), (1, "cas", "z", [[5], [6]], 1, 3, "ok", None),
      (0, "append", "z", [1], 4, 5, "ok", None)], [6, 1], False),
]


@pytest.mark.parametrize("ops, final, lost", APPENDS)
def test_lost_appends_agree_with_the_checker(ops, final, lost):
    report, result = _lost([*ops, (9, "get", "z", None, 10, 11, "ok", final)])
    assert bool(report["lost"]) is lost and report["judged"] == 1
    assert (result.verdict == NOT_LINEARIZABLE) is lost


def test_keys_with_string_appends_are_left_to_the_checker():
    report, _ = _lost([(0, "append", "s", "ab", 0, 1, "ok", None), (9, "get", "s", None, 2, 3, "ok", "ab")])
    assert report["left_to_checker"] == 1 and report["judged"] == 0 and not report["lost"]


# ------------------------------------------------------------------------------------------- the command

def test_workload_refuses_bad_kinds_and_a_nemesis_without_a_run_directory(fake, tmp_path, monkeypatch):
    bad = CliRunner().invoke(main, ["workload", "--nemesis", "kill,frob", *_eps(fake)])
    assert bad.exit_code == 2 and "raftzmq: error: unknown nemesis kind(s) frob" in bad.output
    no_dir = CliRunner().invoke(main, ["workload", "--nemesis", "kill", *_eps(fake)])
    assert no_dir.exit_code == 2 and "needs the cluster's run directory" in no_dir.output
    monkeypatch.chdir(tmp_path)
    none = CliRunner().invoke(main, ["workload", "--nemesis", "kill", "--run-dir", str(tmp_path / "nothing")])
    assert none.exit_code == 2 and none.output.startswith("raftzmq: error:") and len(none.output.splitlines()) == 1


def test_workload_reads_every_key_at_the_end_and_writes_workload_json(fake, tmp_path):
    path = tmp_path / "h.jsonl"
    out = CliRunner().invoke(main, ["workload", "--clients", "3", "--keys", "4", "--rate", "200", "--duration",
                                    "1", "--history", str(path), *_eps(fake)])
    assert out.exit_code == 0, out.output
    assert "final reads: 4 of 4 keys; acknowledged writes lost: 0" in out.output
    history = read_history(path)
    finals = [op for op in history.operations if op.process not in (0, 1, 2)]
    doc = json.loads((tmp_path / "workload.json").read_text())
    tag = doc["key_prefix"]
    assert sorted(op.key for op in finals) == [f"{tag}k{i}" for i in range(4)] and all(op.status == "ok"
                                                                                          for op in finals)
    assert all(op.output == fake.value(op.key) for op in finals)  # what the store holds at the end
    assert doc["verdict"] == LINEARIZABLE and doc["final"]["keys_read"] == 4 and doc["nemesis"] is None
    assert doc["counts"]["invoke"] == len(history.operations) - 4  # the run's figures leave the final reads out
    assert isinstance(doc["t0_mono_ns"], int)


def test_a_second_run_on_the_same_cluster_does_not_meet_the_first_ones_values(fake, tmp_path):
    """Each run's history starts every key absent and writes [1], [2], ...: on the keys of an earlier run it
    would read that run's values and be judged not linearizable. A fresh key prefix per run keeps them apart."""
    args = ["workload", "--clients", "3", "--keys", "2", "--rate", "200", "--duration", "0.5", *_eps(fake)]
    tags = []
    for n in range(2):
        out = CliRunner().invoke(main, [*args, "--history", str(tmp_path / f"h{n}.jsonl")])
        assert out.exit_code == 0, out.output
        tags.append(json.loads((tmp_path / "workload.json").read_text())["key_prefix"])
    assert tags[0] != tags[1]
    same = CliRunner().invoke(main, [*args, "--history", str(tmp_path / "h2.jsonl"), "--key-prefix", tags[1]])
    assert same.exit_code == 1 and "NOT LINEARIZABLE" in same.output  # what the prefix prevents


def test_a_store_that_forgets_its_data_fails_the_run_and_names_the_lost_writes(fake, tmp_path, monkeypatch):
    """Before the final reads the store loses everything (as a node that never fsynced would after a power
    cut): the reads see every key absent; the checker and the direct comparison both say so, exit 1."""
    from raftzmq.lab.live import workload as workload_mod

    real = workload_mod.final_reads

    def forgetful(*args, **kwargs):
        with fake.lock:
            fake.store.data.clear()
        return real(*args, **kwargs)

    monkeypatch.setattr(workload_mod, "final_reads", forgetful)
    out = CliRunner().invoke(main, ["workload", "--clients", "3", "--keys", "3", "--rate", "200", "--duration",
                                    "1", "--history", str(tmp_path / "h.jsonl"), *_eps(fake)])
    assert out.exit_code == 1, out.output
    lost = out.output.count("    LOST key ")
    assert "NOT LINEARIZABLE" in out.output and f"acknowledged writes lost: {lost} (3 keys judged directly)" \
        in out.output
    assert lost >= 1 and "read null" in out.output


class _Supervisor:
    """Answers the control requests the nemesis makes; the first status request breaks (KeyError)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.broken = 1

    def request(self, cmd, **args):
        self.calls.append(cmd)
        if cmd != "status":
            return {}
        if self.broken:
            self.broken -= 1
            raise KeyError("nodes")
        return {"leader": 1, "term": 1, "nodes": [{"id": i, "alive": True, "paused": False, "leader": 1,
                                                  "role": "leader" if i == 1 else "follower"} for i in (1, 2, 3)]}


def test_a_step_that_breaks_is_recorded_and_the_schedule_goes_on_then_everything_heals():
    import time

    from raftzmq.lab.live.kvnemesis import NemesisRun
    from raftzmq.lab.live.nemesis import Action
    from raftzmq.runtime.cluster.waiting import wait_until

    sup = _Supervisor()
    t0 = time.monotonic_ns()
    nem = NemesisRun(sup, 3, [Action(0, 0.0, "kill", target="leader"),  # type: ignore[arg-type]
                              Action(1, 0.01, "partition", params={"groups": [[1], [2, 3]]})],
                     lambda: time.monotonic_ns() - t0)
    nem.start()
    assert wait_until(lambda: len(nem.executed) == 2, 10.0), nem.executed
    assert nem.executed[0]["did"] == "error: KeyError: 'nodes'" and nem.executed[1]["did"].startswith("partition")
    assert nem.stop_and_heal(converge_s=5.0) and nem.heal["did"] == "healed"
    assert "partition" in sup.calls and "heal" in sup.calls and "kill" not in sup.calls
    assert [w.kind for w in nem.windows()] == ["partition"]  # the broken kill opened no window
