"""A seeded nemesis against a live cluster (after Jepsen's etcd tests): the schedule from lab/live/nemesis.py (kill,
pause, failpoint crashes, disk errors, partitions, isolating the leader, cut and one-way links, majorities-ring,
bridge, simplex leader, lossy/slow network, leadership transfer, timer skew), executed against real processes; then heal everything, wait for one agreed leader, stop, and check
the logs. The schedule is reproducible from the seed; the cluster's own timing is not (real processes).
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftzmq.evidence.checker import check_run
from raftzmq.evidence.logfile import read_run
from raftzmq.evidence.report import recovery_summary
from raftzmq.runtime.cluster.control import ControlClient, ControlError
from raftzmq.runtime.cluster.waiting import wait_until
from raftzmq.lab.live.cli_driver import detached_cluster
from raftzmq.lab.live.leaderless import longest_leaderless
from raftzmq.lab.live.netshapes import bridge_cuts, into_cuts, ring_cuts
from raftzmq.lab.live.nemesis import DOWN_KINDS, NEMESES, Action, plan

__all__ = ["NEMESES", "ChaosResult", "Executor", "agreed_leader", "run_chaos"]


@dataclass
class ChaosResult:
    run_dir: str
    seed: int
    faults: Counter = field(default_factory=Counter)
    converged: bool = False
    check_ok: bool = False
    check_verdict: str = "ok"  # checker.CheckResult.verdict: ok | violation | incomplete
    violations: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # what the logs are missing (no verdict then)
    recovery: dict[str, Any] = field(default_factory=dict)
    schedule: list[dict[str, Any]] = field(default_factory=list)
    executed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.converged and self.check_ok

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "seed": self.seed, "ok": self.ok, "faults": dict(self.faults),
                "converged": self.converged, "check_ok": self.check_ok, "check_verdict": self.check_verdict,
                "violations": self.violations, "incomplete": self.incomplete,
                "recovery": self.recovery, "schedule": self.schedule, "executed": self.executed}


class Executor:
    """Runs plan actions against the supervisor; resolves symbolic targets against the live status."""

    def __init__(self, client: ControlClient, nodes: int, actions: list[Action]) -> None:
        self.client, self.nodes = client, nodes
        self.kind_of = {a.index: a.kind for a in actions}
        self.node_of: dict[int, int] = {}  # action index -> the node it resolved to
        self.down: set[int] = set()  # nodes taken down by an action not undone yet
        self.status: dict[str, Any] = {}

    def _req(self, cmd: str, **args: Any) -> dict[str, Any]:
        return self.client.request(cmd, **args)

    def _eligible(self, kind: str) -> list[int]:
        st = self.status
        up = [n["id"] for n in st["nodes"] if n["alive"] and not n["paused"]]
        if kind == "skew":
            return list(range(1, self.nodes + 1))
        if kind == "transfer":
            return [n for n in up if n != st["leader"] and st["nodes"][n - 1]["role"] is not None]
        return [n for n in up if n not in self.down]

    def _target(self, action: Action) -> int | None:
        leader = self.status["leader"]
        if action.target == "leader" and leader is not None and (action.kind not in (*DOWN_KINDS, "restart")
                                                                   or leader not in self.down):
            return leader
        eligible = self._eligible(action.kind)
        return eligible[int(action.pick * len(eligible))] if eligible else None

    def run(self, action: Action) -> str:
        """Apply one action; returns what was done (or why it was skipped)."""
        self.status = self._req("status")
        if action.kind == "undo":
            return self._undo(action)
        if action.kind in ("heal", "partition", "net"):
            self._req(action.kind, **action.params)
            return f"{action.kind} {action.params or ''}".rstrip()
        if action.kind in ("cut", "one-way", "ring", "bridge"):
            return self._links(action)
        node = self._target(action)
        if node is None:
            return "skipped: no eligible node"
        self.node_of[action.index] = node
        return getattr(self, "_" + action.kind.replace("-", "_"))(node, action)

    def _kill(self, node: int, action: Action) -> str:
        self._req(action.kind, ids=[node])
        self.down.add(node)
        return f"{action.kind} node {node}"

    _pause = _kill

    def _restart(self, node: int, action: Action) -> str:
        self._req("restart", ids=[node])  # SIGKILL and start again: nothing to undo
        return f"restart node {node}"

    def _crash(self, node: int, action: Action) -> str:
        if action.kind == "crash":
            self._req("failpoint", id=node, name=action.params["failpoint"])
        else:
            self._req("disk", id=node, fault=action.params["fault"])
        self.down.add(node)
        others = [n for n in self._eligible("transfer") if n != node]
        if others:  # a new term makes every node persist: the armed fault fires now, not at some later election
            self._try_transfer(others[int(action.pick * len(others))])
        return f"{action.kind} node {node} {action.params}"

    _disk = _crash

    def _links(self, action: Action) -> str:
        p = action.params
        if action.kind in ("cut", "one-way"):
            self._req("cut", src=p["src"], dst=p["dst"], one_way=p["one_way"])
            return f"{action.kind} {p['src']}->{p['dst']}"
        cuts = ring_cuts(self.nodes, random.Random(p["order_seed"])) if action.kind == "ring" else \
            bridge_cuts(self.nodes, p["bridge"])
        self._req("links", cuts=[list(c) for c in sorted(cuts)])
        return f"{action.kind} {p}"

    def _simplex_leader(self, node: int, action: Action) -> str:
        self._req("links", cuts=[list(c) for c in sorted(into_cuts(self.nodes, node))])
        return f"simplex leader {node}: every link into it cut"

    def _isolate_leader(self, node: int, action: Action) -> str:
        self._req("isolate", id=node)
        return f"isolate node {node}"

    def _transfer(self, node: int, action: Action) -> str:
        return f"transfer to node {node}" if self._try_transfer(node) else "transfer refused (leader moved)"

    def _skew(self, node: int, action: Action) -> str:
        self._req("skew", id=node, factor=action.params["factor"])
        return f"skew node {node} x{action.params['factor']:g}"

    def _try_transfer(self, node: int) -> bool:
        try:
            self._req("transfer", target=node)
            return True
        except ControlError:
            return False  # no leader right now, or the target just went away: nothing was changed

    def _bring_back(self, node: int, paused: bool) -> str:
        self.down.discard(node)
        verb = "resume" if paused else "restart"
        self._req(verb, ids=[node])
        return f"{verb} node {node}"

    def _undo(self, action: Action) -> str:
        assert action.undoes is not None  # the planner always says what an undo reverts
        node = self.node_of.get(action.undoes)
        if node is None or node not in self.down:
            return "skipped: nothing to undo"
        return f"undo #{action.undoes}: " + self._bring_back(node, self.kind_of[action.undoes] == "pause")

    def heal_all(self) -> None:
        self._req("heal")
        for node in sorted(self.down):
            self._bring_back(node, self._req("status")["nodes"][node - 1]["paused"])


def agreed_leader(client: ControlClient) -> bool:
    st = client.request("status")
    return st["leader"] is not None and all(n["alive"] and n["leader"] == st["leader"] for n in st["nodes"])


def _progress_line(started: float, duration: float, executed: int, total: int, st: dict[str, Any]) -> str:
    up = sum(n["alive"] and not n["paused"] for n in st["nodes"])
    return (f"[{time.monotonic() - started:5.1f}/{duration:g} s] fault {executed}/{total} | "
            f"leader {st['leader'] if st['leader'] is not None else '-'} term {st['term']} | "
            f"up {up}/{len(st['nodes'])}")


def _execute(executor: Executor, actions: list[Action], duration: float, result: ChaosResult,
             log: Callable[[str], None], progress: Callable[[str], None]) -> None:
    started = time.monotonic()
    for i, action in enumerate(actions):
        wait = started + action.at - time.monotonic()
        if wait > 0:
            time.sleep(wait)  # the schedule's own timing: the gap between faults is part of the scenario
        try:
            what = executor.run(action)
        except ControlError as exc:
            what = f"refused: {exc}"
        result.executed.append({"index": action.index, "at": round(time.monotonic() - started, 3), "did": what})
        if not what.startswith(("skipped", "refused")):
            result.faults[action.kind] += 1
        log(f"nemesis #{action.index}: {what}")
        progress(_progress_line(started, duration, i + 1, len(actions), executor.status))


def run_chaos(run_dir: Path, *, nodes: int = 5, duration: float = 20.0, seed: int | None = None,
              gap: tuple[float, float] = (0.2, 0.8), kinds: tuple[str, ...] = NEMESES,
              converge_s: float = 15.0, extra: list[str] | None = None,
              log: Callable[[str], None] = lambda s: None,
              progress: Callable[[str], None] = lambda s: None) -> ChaosResult:
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    actions = plan(seed, nodes, duration, kinds, gap)
    result = ChaosResult(str(run_dir), seed, schedule=[a.to_dict() for a in actions])
    with detached_cluster(run_dir, "--nodes", str(nodes), *(extra or [])) as client:
        executor = Executor(client, nodes, actions)
        _execute(executor, actions, duration, result, log, progress)
        log("nemesis: heal everything and wait for one agreed leader")
        executor.heal_all()
        result.converged = bool(wait_until(lambda: agreed_leader(client), converge_s, interval=0.05))
    verdict = check_run(run_dir)
    result.check_ok, result.check_verdict = verdict.ok, verdict.verdict
    result.incomplete = [g.message for g in verdict.incomplete]
    result.violations = [f"{v.name}: {v.message}" for v in verdict.violations]
    records = [loc.record for loc in read_run(run_dir)]
    result.recovery = recovery_summary(records, nodes)
    result.recovery["longest_leaderless_with_majority_s"] = longest_leaderless(records, nodes)
    (run_dir / "chaos.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
