"""A seeded nemesis against a live cluster (after Jepsen's etcd tests): kill, pause, partition, isolate the
leader, lossy/slow network, leadership transfer; then heal everything, wait for one agreed leader, stop, and
check the logs. The schedule is reproducible from the seed; the cluster's own timing is not (real processes).
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

from ..evidence.checker import check_run
from ..evidence.logfile import read_run
from ..evidence.report import recovery_summary
from ..protocol.quorum import majority
from ..runtime.control import ControlClient, ControlError
from ..runtime.rundir import RunDir
from .cli_driver import run_cli

__all__ = ["NEMESES", "ChaosResult", "run_chaos"]

NEMESES = ("kill", "pause", "partition", "isolate-leader", "net", "transfer")


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

    @property
    def ok(self) -> bool:
        return self.converged and self.check_ok

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "seed": self.seed, "ok": self.ok, "faults": dict(self.faults),
                "converged": self.converged, "check_ok": self.check_ok, "check_verdict": self.check_verdict,
                "violations": self.violations, "incomplete": self.incomplete,
                "recovery": self.recovery}


class _Nemesis:
    """Applies one random fault at a time and remembers what to undo; never takes down a majority."""

    def __init__(self, client: ControlClient, nodes: int, rng: random.Random, kinds: tuple[str, ...],
                 log: Callable[[str], None]) -> None:
        self.client, self.nodes, self.rng, self.kinds, self.log = client, nodes, rng, kinds, log
        self.down: dict[int, str] = {}  # node -> "kill" | "pause"
        self.partitioned = False
        self.net_bad = False
        self.faults: Counter = Counter()

    def _req(self, cmd: str, **args: Any) -> dict[str, Any]:
        return self.client.request(cmd, **args)

    def step(self) -> None:
        # First undo something half of the time, so faults overlap but do not pile up forever.
        if (self.down or self.partitioned or self.net_bad) and self.rng.random() < 0.5:
            self._undo_one()
            return
        kind = self.rng.choice(self.kinds)
        status = self._req("status")
        leader = status["leader"]
        up = [n["id"] for n in status["nodes"] if n["alive"] and not n["paused"]]
        can_take_down = len(self.down) < self.nodes - majority(self.nodes)
        if kind in ("kill", "pause") and can_take_down and up:
            target = leader if leader is not None and self.rng.random() < 0.5 else self.rng.choice(up)
            self._req(kind, ids=[target])
            self.down[target] = kind
        elif kind == "partition" and self.nodes >= 3:
            ids = list(range(1, self.nodes + 1))
            self.rng.shuffle(ids)
            cut = self.rng.randint(1, len(ids) - 1)
            self._req("partition", groups=[sorted(ids[:cut]), sorted(ids[cut:])])
            self.partitioned = True
        elif kind == "isolate-leader" and leader is not None and self.nodes >= 2:
            self._req("isolate", id=leader)
            self.partitioned = True
        elif kind == "net":
            self._req("net", loss=round(self.rng.uniform(0.05, 0.3), 2), delay_ms=self.rng.randint(0, 40),
                      jitter_ms=self.rng.randint(0, 20))
            self.net_bad = True
        elif kind == "transfer" and leader is not None:
            others = [n for n in up if n != leader]
            if not others:
                return
            try:
                self._req("transfer", target=self.rng.choice(others))
            except ControlError:
                return  # leadership moved between status and request; nothing was changed
        else:
            return
        self.faults[kind] += 1
        self.log(f"nemesis: {kind}")

    def _undo_one(self) -> None:
        options = [("node", n) for n in self.down] + ([("heal", 0)] if self.partitioned or self.net_bad else [])
        what, node = self.rng.choice(options)
        if what == "heal":
            self._req("heal")
            self.partitioned = self.net_bad = False
        elif self.down.pop(node) == "kill":
            self._req("restart", ids=[node])
        else:
            self._req("resume", ids=[node])
        self.log(f"nemesis: undo {what} {node or ''}".rstrip())

    def heal_all(self) -> None:
        self._req("heal")
        self.partitioned = self.net_bad = False
        for node, how in sorted(self.down.items()):
            self._req("restart" if how == "kill" else "resume", ids=[node])
        self.down.clear()


def _start(run: Path, nodes: int, extra: list[str]) -> None:
    run_cli("start", "--detach", "--run-dir", str(run), "--nodes", str(nodes), *extra)


def _agreed_leader(client: ControlClient) -> bool:
    st = client.request("status")
    return st["leader"] is not None and all(n["alive"] and n["leader"] == st["leader"] for n in st["nodes"])


def run_chaos(run_dir: Path, *, nodes: int = 5, duration: float = 20.0, seed: int | None = None,
              gap: tuple[float, float] = (0.2, 0.8), kinds: tuple[str, ...] = NEMESES,
              converge_s: float = 15.0, extra: list[str] | None = None,
              log: Callable[[str], None] = lambda s: None) -> ChaosResult:
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    result = ChaosResult(str(run_dir), seed)
    _start(run_dir, nodes, extra or [])
    client = ControlClient(RunDir(run_dir))
    nemesis = _Nemesis(client, nodes, rng, kinds, log)
    try:
        end = time.monotonic() + duration
        while time.monotonic() < end:
            nemesis.step()
            time.sleep(rng.uniform(*gap))  # the schedule's gap between faults (part of the scenario)
        log("nemesis: heal everything and wait for one agreed leader")
        nemesis.heal_all()
        deadline = time.monotonic() + converge_s
        while time.monotonic() < deadline and not result.converged:
            result.converged = _agreed_leader(client)
            time.sleep(0.05)  # polling for convergence with a deadline
    finally:
        result.faults = nemesis.faults
        try:
            client.request("stop")
            deadline = time.monotonic() + 15
            while RunDir(run_dir).live_supervisor() is not None and time.monotonic() < deadline:
                time.sleep(0.05)  # waiting for the supervisor's exit, bounded
        except ControlError:
            pass
    verdict = check_run(run_dir)
    result.check_ok, result.check_verdict = verdict.ok, verdict.verdict
    result.incomplete = [g.message for g in verdict.incomplete]
    result.violations = [f"{v.name}: {v.message}" for v in verdict.violations]
    records = [loc.record for loc in read_run(run_dir)]
    result.recovery = recovery_summary(records, nodes)
    (run_dir / "chaos.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
