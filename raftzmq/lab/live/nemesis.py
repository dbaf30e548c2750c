"""The chaos nemesis as a plan and an executor.

Network faults: partition (two groups), isolate-leader, net (loss, delay), cut (one link, both ways), one-way (one
direction of a link), ring (a majorities-ring in a random order), bridge (two halves joined by one node),
simplex-leader (every link into the leader cut; it still sends). All are undone by `heal`.
`restart` (only in WORKLOAD_KINDS, so chaos schedules of a seed stay what they were): SIGKILL a node and start it
again at once, a crash-recovery with no down time to undo.

`plan(seed, ...)` turns a seed into the whole fault schedule before anything runs: when, which fault, with which
parameters, and what it undoes. It never consults the live cluster, so the same seed always gives the same
schedule (`raftzmq chaos --seed S` replays it; chaos.json records it). What depends on the live cluster - who
the leader is at that moment, which nodes are up - is left symbolic in the plan ("the leader", "pick 0.37 of the
eligible nodes") and resolved by the executor when the action runs; chaos.json records the resolution too.

The planner keeps the fault load bounded: at most a minority of nodes is down (killed, paused, or armed to crash
or fail its disk) at any time, and about half of the steps undo an earlier fault.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from raftzmq.protocol.quorum import majority
from raftzmq.runtime.node.diskfaults import STATE_FAULTS
from raftzmq.runtime.node.failpoints import NAMES as FAILPOINTS

__all__ = ["NEMESES", "DOWN_KINDS", "NET_KINDS", "WORKLOAD_KINDS", "Action", "plan", "parse_kinds"]

DOWN_KINDS = ("kill", "pause", "crash", "disk")  # take one node down (crash/disk: at its next persist)
NET_KINDS = ("partition", "isolate-leader", "net", "cut", "one-way", "ring", "bridge", "simplex-leader")  # heal
NEMESES = (*DOWN_KINDS, *NET_KINDS, "transfer", "skew")
WORKLOAD_KINDS = (*NEMESES, "restart")  # `raftzmq workload --nemesis all`
SKEWS = (0.25, 0.5, 2.0, 4.0)


def parse_kinds(text: str, known: tuple[str, ...] = WORKLOAD_KINDS) -> tuple[str, ...]:
    """A comma list of kinds ("all": every one of `known`); ValueError naming what is unknown."""
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    if "all" in kinds:
        return known
    bad = [k for k in kinds if k not in known]
    if bad or not kinds:
        raise ValueError(f"unknown nemesis kind(s) {', '.join(bad) or '(none)'}; choose from all, "
                         f"{', '.join(known)}")
    return kinds


@dataclass(frozen=True, slots=True)
class Action:
    """One step of the schedule. `target`: "leader" or "pick" (node = eligible[int(pick * len(eligible))])."""
    index: int
    at: float  # seconds after the start of the faults
    kind: str  # a NEMESES kind, or "undo"
    target: str | None = None
    pick: float = 0.0
    params: dict[str, Any] = field(default_factory=dict)
    undoes: int | None = None  # undo: the index of the action it reverts

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "at": round(self.at, 3), "kind": self.kind, "target": self.target,
                "pick": round(self.pick, 4), "params": self.params, "undoes": self.undoes}


class _Planner:
    def __init__(self, rng: random.Random, nodes: int, kinds: tuple[str, ...]) -> None:
        self.rng, self.nodes, self.kinds = rng, nodes, kinds
        self.down: list[Action] = []  # open node faults
        self.net_open: list[Action] = []  # open network faults and skews (heal clears them all)
        self.actions: list[Action] = []

    def _add(self, at: float, kind: str, **kw: Any) -> Action:
        action = Action(len(self.actions), at, kind, **kw)
        self.actions.append(action)
        return action

    def step(self, at: float) -> None:
        rng = self.rng
        undo, kind, pick, leader = rng.random() < 0.5, rng.choice(self.kinds), rng.random(), rng.random() < 0.5
        value = rng.random()  # every step draws the same numbers: the stream never depends on the branch taken
        if undo and (self.down or self.net_open):
            self._undo(at, pick)
        elif kind in DOWN_KINDS:
            if len(self.down) < self.nodes - majority(self.nodes):
                self.down.append(self._add(at, kind, target="leader" if leader else "pick", pick=pick,
                                           params=self._down_params(kind, value)))
        elif kind == "partition" and self.nodes >= 3:
            self.net_open.append(self._add(at, kind, params={"groups": self._split(value)}))
        elif kind == "isolate-leader" and self.nodes >= 2:
            self.net_open.append(self._add(at, kind, target="leader"))
        elif kind in ("cut", "one-way", "ring", "bridge") and self.nodes >= 3:
            self.net_open.append(self._add(at, kind, params=self._links(kind, value)))
        elif kind == "simplex-leader" and self.nodes >= 3:
            self.net_open.append(self._add(at, kind, target="leader"))
        elif kind == "net":
            self.net_open.append(self._add(at, kind, params={
                "loss": round(0.05 + 0.25 * value, 2), "delay_ms": int(40 * pick), "jitter_ms": int(20 * value)}))
        elif kind == "transfer":
            self._add(at, kind, target="pick", pick=pick)
        elif kind == "restart":  # down for an instant: only while one more node may go down
            if len(self.down) < self.nodes - majority(self.nodes):
                self._add(at, kind, target="leader" if leader else "pick", pick=pick)
        elif kind == "skew":
            self.net_open.append(self._add(at, kind, target="leader" if leader else "pick", pick=pick,
                                           params={"factor": SKEWS[int(value * len(SKEWS))]}))

    def _down_params(self, kind: str, value: float) -> dict[str, Any]:
        if kind == "crash":
            return {"failpoint": FAILPOINTS[int(value * len(FAILPOINTS))]}
        if kind == "disk":
            names = list(STATE_FAULTS)  # the ones an election-only node meets (LOG_FAULTS once it has a log)
            return {"fault": names[int(value * len(names))]}
        return {}

    def _links(self, kind: str, value: float) -> dict[str, Any]:
        """cut / one-way: a random link (its src -> dst), ring: a random ring order, bridge: a random bridge."""
        ids = list(range(1, self.nodes + 1))
        random.Random(value).shuffle(ids)  # derived from the step's own draw
        if kind == "ring":
            return {"order_seed": int(value * 2**31)}
        if kind == "bridge":
            return {"bridge": ids[0]}
        return {"src": ids[0], "dst": ids[1], "one_way": kind == "one-way"}

    def _split(self, value: float) -> list[list[int]]:
        ids = list(range(1, self.nodes + 1))
        random.Random(value).shuffle(ids)  # derived from the step's own draw
        cut = 1 + int(value * (self.nodes - 1))
        return [sorted(ids[:cut]), sorted(ids[cut:])]

    def _undo(self, at: float, pick: float) -> None:
        options = self.down + ([None] if self.net_open else [])
        chosen = options[int(pick * len(options))]
        if chosen is None:
            self.net_open.clear()
            self._add(at, "heal")
        else:
            self.down.remove(chosen)
            self._add(at, "undo", undoes=chosen.index)


def plan(seed: int, nodes: int, duration: float, kinds: tuple[str, ...] = NEMESES,
         gap: tuple[float, float] = (0.2, 0.8)) -> list[Action]:
    """The schedule for `seed`: actions at increasing times within `duration` seconds (healing comes after)."""
    rng = random.Random(seed)
    planner = _Planner(rng, nodes, kinds)
    at = 0.0
    while at < duration:
        planner.step(at)
        at += rng.uniform(*gap)
    return planner.actions
