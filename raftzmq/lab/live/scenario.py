"""Scripted scenarios on real processes. `double_vote`: the double vote that term-only persistence allows.

A voter grants its vote, is killed, restarts, and a second candidate asks it in the same term. With term-only
persistence the restarted voter has forgotten its vote and grants again: two leaders in one term, which the
checker reports. With term+vote it refuses, and the second candidate has to win a later term: clean.

The script makes the interleaving deterministic with the testbed's own fault tools instead of luck (3 nodes,
leader L in term T, followers X and Y):
  1. kill Y                      Y stays at term T (a live but isolated node would raise its term)
  2. transfer to X               X campaigns in T+1; L grants, X leads T+1              (L is the voter)
  3. skew L 0.1, kill L          L's next incarnation times out ten times slower than normal
  4. partition {X} | {L, Y}      Y will not hear of T+1 from X
  5. restart L                   L loads term T+1 (and, with term+vote, its vote for X)
  6. restart Y                   Y, still at T, times out first and asks L for its vote in T+1
PreVote is off for the run: with it, the voter refuses a pre-vote for its own current term, so no candidate ever
asks it again in T+1 (PreVote happens to hide this bug; it does not fix it).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftzmq.evidence.checker import CheckResult, check_run
from raftzmq.evidence.logfile import read_run
from raftzmq.runtime.cluster.control import ControlClient
from raftzmq.runtime.cluster.waiting import wait_until
from raftzmq.lab.live.cli_driver import detached_cluster

__all__ = ["ScenarioError", "ScenarioResult", "double_vote"]

STEP_TIMEOUT_S = 10.0  # every wait in the script is bounded by this
SLOW_VOTER_SKEW = 0.1


class ScenarioError(RuntimeError):
    """A step did not happen in time (a loaded machine); the message says which."""


@dataclass
class ScenarioResult:
    run_dir: str
    persist: str
    steps: list[str] = field(default_factory=list)
    leaders_per_term: dict[int, list[int]] = field(default_factory=dict)
    check: CheckResult | None = None

    @property
    def ok(self) -> bool:
        return self.check is not None and self.check.ok

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "persist": self.persist, "ok": self.ok, "steps": self.steps,
                "leaders_per_term": {str(t): ns for t, ns in sorted(self.leaders_per_term.items())},
                "check": self.check.to_dict() if self.check else None}


def _wait(what: str, predicate: Callable[[], Any], timeout: float = STEP_TIMEOUT_S) -> Any:
    value = wait_until(predicate, timeout)
    if not value:
        raise ScenarioError(f"timed out after {timeout:g} s waiting for {what}")
    return value


def _leaders(run_dir: Path) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for loc in read_run(run_dir):
        rec = loc.record
        if rec["event"] == "became_leader":
            out.setdefault(rec["term"], [])
            if rec["node"] not in out[rec["term"]]:
                out[rec["term"]].append(rec["node"])
    return out


class _Script:
    def __init__(self, run_dir: Path, client: ControlClient, result: ScenarioResult,
                 log: Callable[[str], None]) -> None:
        self.run_dir, self.client, self.result, self.log = run_dir, client, result, log

    def say(self, text: str) -> None:
        self.result.steps.append(text)
        self.log(text)

    def do(self, cmd: str, **args: Any) -> dict[str, Any]:
        return self.client.request(cmd, **args)

    def node(self, n: int) -> dict[str, Any]:
        return self.do("status")["nodes"][n - 1]

    def up(self, n: int) -> None:
        _wait(f"node {n} to run", lambda: self.node(n)["role"] is not None)

    def run(self) -> None:
        st = self.do("status")
        leader, term = st["leader"], st["term"]
        x, y = [n["id"] for n in st["nodes"] if n["id"] != leader]
        self.say(f"node {leader} leads term {term}; X = node {x}, Y = node {y}; the voter is node {leader}")
        self.do("kill", ids=[y])
        self.say(f"1. killed node {y} (it stays at term {term})")
        self.do("transfer", target=x)
        t1 = _wait(f"node {x} to lead", lambda: (lambda s: s["leader"] == x and s["term"])(self.do("status")))
        self.say(f"2. transferred leadership: node {x} leads term {t1} with node {leader}'s vote")
        self.do("skew", id=leader, factor=SLOW_VOTER_SKEW)
        self.do("kill", ids=[leader])
        self.say(f"3. killed the voter, node {leader} (its next incarnation's timers run {SLOW_VOTER_SKEW:g}x)")
        self.do("partition", groups=[[x], sorted([leader, y])])
        self.say(f"4. partitioned {{{x}}} | {{{leader}, {y}}}")
        self.do("restart", ids=[leader])
        self.up(leader)
        self.say(f"5. restarted node {leader}: term {self.node(leader)['term']} from disk")
        self.do("restart", ids=[y])
        self.say(f"6. restarted node {y} at term {term}: it asks node {leader} for its vote in term {term + 1}")
        _wait("node Y to win an election", lambda: any(y in ns for t, ns in _leaders(self.run_dir).items()
                                                       if t > term))


def double_vote(run_dir: Path, *, persist: str = "term+vote", log: Callable[[str], None] = lambda s: None,
                extra: list[str] | None = None) -> ScenarioResult:
    """Run the script in a new 3-node cluster in `run_dir`, stop it, and check the logs."""
    result = ScenarioResult(str(run_dir), persist)
    with detached_cluster(run_dir, "--nodes", "3", "--no-prevote", "--persist", persist, *(extra or [])) as client:
        script = _Script(run_dir, client, result, log)
        script.run()
    result.leaders_per_term = _leaders(run_dir)
    twice = {t: ns for t, ns in result.leaders_per_term.items() if len(ns) > 1}
    script.say("two leaders in term " + ", ".join(f"{t}: nodes {ns}" for t, ns in twice.items()) if twice else
               "one leader per term: the restarted voter refused a second vote")
    result.check = check_run(run_dir)
    return result

