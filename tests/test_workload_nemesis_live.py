"""The KV service under a nemesis on real processes (issue 19, Must show): clients write through a leader kill, a
minority partition and a restart; the history is linearizable and every acknowledged write is readable afterwards
(each key read at the end into the history, compared with the acknowledged writes); the nemesis's steps sit on
the history's clock and line up with the supervisor's records of them. Then the same through the command,
`raftzmq workload --nemesis kill,partition,restart`, with its seeded schedule.

Bounded waits only (the nemesis thread, the heal's wait for one agreed leader, the final reads have deadlines);
the cluster fixture stops everything by pid even on failure and `raftzmq check` must find the run clean."""
from __future__ import annotations

import json
from typing import Any

import pytest

from cluster_harness import Cluster
from raftzmq.client import Client
from raftzmq.evidence.history import read_history
from raftzmq.evidence.lincheck import LINEARIZABLE, check_history
from raftzmq.lab.live.kvnemesis import NemesisRun
from raftzmq.lab.live.nemesis import Action, plan
from raftzmq.lab.live.workload import (Recorder, final_reads, generate, history_spans, lost_writes, run_live,
                                       summarize_ops)
from raftzmq.runtime.cluster.control import ControlClient
from raftzmq.runtime.cluster.rundir import RunDir

pytestmark = pytest.mark.cluster

MIX = {"get": 0.4, "put": 0.35, "cas": 0.2, "delete": 0.05}  # no appends: every key is judged directly too
CLIENTS, KEYS = 4, 3
SCRIPT = [  # the Must show, in this order
    Action(0, 1.0, "kill", target="leader"),
    Action(1, 2.5, "undo", undoes=0),                  # restart the killed leader
    Action(2, 3.5, "isolate-leader", target="leader"),  # the leader alone in a minority
    Action(3, 5.0, "heal"),
    Action(4, 6.0, "restart", target="leader"),        # SIGKILL the leader and start it again at once
]
DURATION = 7.5


def _leader_at(records: list[dict[str, Any]], mono_ns: int) -> int | None:
    """The leader of the highest term elected before `mono_ns`."""
    won = [r for r in records if r["event"] == "became_leader" and r["mono_ns"] <= mono_ns]
    return max(won, key=lambda r: (r["term"], r["mono_ns"]))["node"] if won else None


def _acked_writes_in(history, start_s: float, end_s: float) -> int:
    return sum(op.status == "ok" and op.f in ("put", "cas", "delete") and op.process in range(CLIENTS)
               and start_s * 1e9 <= op.call_time < end_s * 1e9 for op in history.operations)


def test_writes_through_a_leader_kill_a_minority_partition_and_a_restart(cluster: Cluster):
    cluster.start("--nodes", "3")
    cluster.wait_leader(timeout=15)
    path = cluster.run_dir / "history.jsonl"
    clients = [Client(str(cluster.run_dir), timeout=2.0, seed=p) for p in range(CLIENTS)]
    control = ControlClient(RunDir(cluster.run_dir))
    try:
        with open(path, "w") as out:
            rec = Recorder(out)
            nem = NemesisRun(control, 3, SCRIPT, rec.now)
            nem.start()
            try:
                run_live(clients, generate(7, CLIENTS, KEYS, rate=120, duration=DURATION, mix=MIX), out, DURATION,
                         drain_s=3.0, recorder=rec, keep_open=True)
            finally:
                converged = nem.stop_and_heal(converge_s=20.0)
            finals = final_reads(rec, lambda i: Client(str(cluster.run_dir), timeout=3.0, seed=100 + i),
                                 [f"k{i}" for i in range(KEYS)], CLIENTS, readers=KEYS, deadline_s=20.0)
            rec.close()
    finally:
        for c in clients:
            c.close()
    assert converged, nem.heal
    steps = {s["index"]: s for s in nem.executed}
    assert sorted(steps) == [0, 1, 2, 3, 4] and not any(s["did"].startswith(("skipped", "refused"))
                                                        for s in steps.values()), nem.executed

    # The steps hit the leader of the moment, and the supervisor's records of them fall inside the step's
    # [at, done] on the history's clock: history, nemesis and logs line up.
    records = cluster.records()
    t0 = rec.t0_ns
    for index, event in ((0, "node_killed"), (2, "partition"), (4, "node_killed")):
        step = steps[index]
        lo, hi = t0 + int(step["at"] * 1e9), t0 + int(step["done"] * 1e9) + 1
        found = [r for r in records if r["event"] == event and r["by"] == "supervisor" and lo <= r["mono_ns"] <= hi]
        assert found, f"no supervisor {event} within step {step}"
        target = steps[index]["node"]
        assert _leader_at(records, lo) == target, (index, target)
        if event == "node_killed":
            assert found[0]["node"] == target
        else:
            assert found[0]["groups"] in ([[target], [n for n in (1, 2, 3) if n != target]],
                                          [[n for n in (1, 2, 3) if n != target], [target]])
    assert steps[1]["did"].startswith(f"undo #0: restart node {steps[0]['node']}")

    history = read_history(path)
    # Clients kept writing: acknowledged writes invoked while the leader was dead, while it was cut off in a
    # minority, and after the restart.
    for start, end in ((steps[0]["done"], steps[1]["at"]), (steps[2]["done"], steps[3]["at"]),
                       (steps[4]["done"], DURATION)):
        assert _acked_writes_in(history, start, end) > 0, (start, end)

    result = check_history(history)
    assert result.verdict == LINEARIZABLE, result.to_dict()
    assert sorted(finals) == [f"k{i}" for i in range(KEYS)]  # every key read back after the heal
    lost = lost_writes(history, range(CLIENTS), range(CLIENTS, CLIENTS + KEYS))
    assert lost["judged"] == KEYS and lost["lost"] == [], lost
    # and each final value is the value of a write (or absence), seen by the reads in the history
    written = [json.dumps(op.value[1] if op.f == "cas" else None if op.f == "delete" else op.value)
               for op in history.operations if op.f in ("put", "cas", "delete") and op.status != "fail"]
    assert all(json.dumps(v) in written or v is None for v in finals.values())

    summary = summarize_ops(history_spans(history, range(CLIENTS)), DURATION, nem.windows())
    kinds = {r["kind"] for r in summary.availability if r["scope"] == "kind"}
    assert kinds == {"kill", "isolate-leader", "restart", "calm"}
    assert summary.counts["ok"] > 200 and summary.availability[0]["fraction"] > 0.5


def _seed_with(kinds: set[str], duration: float, gap: tuple[float, float]) -> int:
    """A seed whose schedule on 3 nodes starts each of `kinds` while nothing else is down (so none is skipped)."""
    for seed in range(500):
        actions = plan(seed, 3, duration, ("kill", "partition", "restart"), gap)
        if kinds <= {a.kind for a in actions} and len(actions) <= 6:
            return seed
    raise AssertionError("no seed plans every kind")


def test_the_workload_command_with_a_nemesis(cluster: Cluster):
    cluster.start("--nodes", "3")
    cluster.wait_leader(timeout=15)
    seed = _seed_with({"kill", "partition", "restart"}, 6.5, (0.75, 2.25))  # 8 s less the calm first 1.5 s
    proc = cluster.cli("workload", "--clients", "4", "--keys", "3", "--rate", "100", "--duration", "8",
                       "--nemesis", "kill,partition,restart", "--nemesis-interval", "1.5", "--seed", str(seed),
                       "--timeout", "2", check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads((cluster.run_dir / "workload.json").read_text())  # what --json prints, beside the history
    assert doc["verdict"] == LINEARIZABLE and doc["final"]["keys_read"] == 3 and doc["final"]["lost"] == []
    nem = doc["nemesis"]
    assert nem["kinds"] == ["kill", "partition", "restart"] and nem["heal"]["converged"]
    assert [a["index"] for a in nem["schedule"]] == [a.index for a in plan(seed, 3, 6.5, (
        "kill", "partition", "restart"), (0.75, 2.25))]  # the seed is the schedule
    done = {s["kind"] for s in nem["executed"] if not s["did"].startswith(("skipped", "refused"))}
    assert {"kill", "partition", "restart"} <= done
    rows = {(r["scope"], r["kind"]) for r in doc["availability"]}
    assert {("kind", "kill"), ("kind", "partition"), ("kind", "restart"), ("run", "")} <= rows
    assert len(nem["windows"]) >= 3 and all(0 <= w["start"] <= w["end"] for w in nem["windows"])
    out = proc.stdout
    assert "LINEARIZABLE" in out and "acknowledged writes lost: 0" in out and "availability kill" in out
    assert "faults: kill n" in proc.stderr and "ok/s" in proc.stderr  # the progress line says what is in force
