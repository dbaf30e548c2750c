"""`raftzmq scenario figure8`: the paper's Figure 8 as a scripted schedule on the simulator (5 nodes, no random
faults, no client but the script), run with any core. With a core that commits an entry of an earlier term by
counting replicas (`raftzmq.lab.conform.mutants:CommitsOldTerm`), two nodes apply different entries at one index
and the checker says so (state machine safety, exit 1); with the built-in core the same script is clean (exit 0).

The script (S1 is whoever leads first; the names follow the paper):
  1. S1 leads term T. Partition {S1, S2} | the rest; S1 gets command X: only S2 stores it (index i, term T).
  2. The majority side elects a leader, "S5", of a term T' > T. S5 gets command Y, at index i too, and is cut off
     at once and killed: Y (term T') stays on S5 alone.
  3. Heal (S5 stays down). S1 or S2 ("S1'") wins a later term (its log ends at X, newer than the others') and
     sends X to the others. A correct leader cannot commit X by counting replicas: it appended a no-op of its
     term and commits X through it, once that no-op is on a majority. The mutant commits X as soon as a majority
     holds X. Either way, the moment S1' commits index i it is killed (before a heartbeat tells anyone).
  4. S5 restarts with Y. Against the mutant's logs (X of term T last) Y's term T' is newer: S5 wins, gets command
     Z (an entry of its own term), replaces X with Y everywhere it can and commits: the others apply Y at i while
     S1' applied X. Against the built-in core's logs (the no-op of S1's later term last) S5's log is older: it
     cannot win, and no entry is ever applied differently.
  Then the checker reads the run's records (`--log-dir` keeps them for `raftzmq check`).

On live processes (`--live`): figure8_live.py, the same story with every step waiting on the nodes' records and
one-way cuts in place of the instant kill.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raftzmq.evidence.checker import Violation
from raftzmq.lab.sim.simtypes import SimConfig, SimResult
from raftzmq.lab.sim.simulator import Simulator
from raftzmq.protocol.core import LEADER

__all__ = ["Figure8Result", "figure8_sim", "STEP_S", "DURATION_S"]

STEP_S = 0.005  # the script looks at the cluster every 5 simulated ms
DURATION_S = 30.0


@dataclass
class Figure8Result:
    core: str
    steps: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    completed: bool = False  # the script reached its last step
    result: SimResult | None = None

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        return {"core": self.core, "ok": self.ok, "completed": self.completed, "steps": self.steps,
                "violations": [v.to_dict() for v in self.violations]}


class _Script:
    def __init__(self, sim: Simulator, out: Figure8Result, say: Callable[[str], None]) -> None:
        self.sim, self.out, self.say_ = sim, out, say
        self.stage = 0
        self.s1 = self.s2 = self.s5 = self.s1b = 0
        self.index = 0
        self.term = 0
        self.wait_until = 0.0

    def say(self, text: str) -> None:
        line = f"{self.sim.now:8.3f}s  {text}"
        self.out.steps.append(line)
        self.say_(line)

    def core(self, i: int) -> Any:
        return self.sim.nodes[i].core

    def up(self, i: int) -> bool:
        node = self.sim.nodes[i]
        return node.up and node.core is not None

    def leader(self, among: list[int]) -> int | None:
        best = None
        for i in among:
            if self.up(i) and self.core(i).role == LEADER and (best is None or self.core(i).term > self.core(best).term):
                best = i
        return best

    def propose(self, i: int, data: bytes) -> Any:
        node = self.sim.nodes[i]
        core: Any = node.core
        proposal, ready = core.propose(data, self.sim.now)
        self.sim._apply(node, ready)  # (as the simulator's client does)
        return proposal

    def partition(self, groups: list[list[int]]) -> None:
        sim = self.sim
        sim.set_net_model(sim.net.model.changed(groups=groups, cuts=frozenset()))
        sim.sup.write("partition", groups=groups, shape="script")

    def heal(self) -> None:
        sim = self.sim
        sim.set_net_model(sim.net.model.changed(groups=None, cuts=frozenset()))
        sim.sup.write("heal")

    def tick(self) -> None:
        sim = self.sim
        try:
            self.step()
        finally:
            if not self.out.completed and sim.now + STEP_S < sim.cfg.duration:
                sim.call_at(sim.now + STEP_S, self.tick)

    def step(self) -> None:
        sim, everyone = self.sim, list(range(1, 6))
        if self.stage == 0:  # a leader, everyone caught up
            lead = self.leader(everyone)
            if lead is None or sim.now < 1.0:
                return
            last = self.core(lead).last_index
            if any(self.core(i).last_index != last for i in everyone) or self.core(lead).commit_index != last:
                return
            self.s1, self.term = lead, self.core(lead).term
            self.s2 = next(i for i in everyone if i != lead)
            rest = [i for i in everyone if i not in (self.s1, self.s2)]
            self.partition([[self.s1, self.s2], rest])
            p = self.propose(self.s1, b"X")
            self.index = p.index
            self.say(f"1. S1 = node {self.s1} leads term {self.term}; partition {{{self.s1}, {self.s2}}} | {rest}; "
                     f"S1 takes X at index {p.index} (term {p.term}): only node {self.s2} can store it")
            self.stage = 1
        elif self.stage == 1:  # the majority side's leader takes Y and is cut off, then killed
            rest = [i for i in everyone if i not in (self.s1, self.s2)]
            lead = self.leader(rest)
            if lead is None or self.core(lead).last_index + 1 != self.index:
                return
            self.s5 = lead
            self.partition([[self.s5], [i for i in everyone if i != self.s5]])
            p = self.propose(self.s5, b"Y")
            sim.kill(self.s5)
            self.say(f"2. S5 = node {lead} leads term {p.term} on the majority side, takes Y at index {p.index} and "
                     f"is cut off and killed at once: Y of term {p.term} is on node {lead} alone")
            self.heal()
            self.stage = 2
        elif self.stage == 2:  # a later leader with X commits index i: killed at that moment
            for i in everyone:
                if i == self.s5 or not self.up(i):
                    continue
                c = self.core(i)
                if c.role == LEADER and c.term > self.term and c.commit_index >= self.index:
                    self.s1b = i
                    sim.kill(i)
                    self.say(f"3. node {i} leads term {c.term} and commits index {self.index} (X); killed at once, "
                             "before any heartbeat tells the others")
                    others = [j for j in everyone if j not in (i, self.s5)]
                    cuts = frozenset((a, b) for a in others for b in others if a != b)
                    sim.set_net_model(sim.net.model.changed(groups=None, cuts=cuts))
                    sim.sup.write("link_cut", cuts=[list(x) for x in sorted(cuts)])
                    sim.restart(self.s5)
                    self.say(f"4. S5 (node {self.s5}) restarts with Y at index {self.index}; nodes {others} hear "
                             "only S5 (so only S5 can gather a majority, if their logs let it)")
                    self.wait_until = sim.now + 3.0
                    self.stage = 3
                    return
        elif self.stage == 3:  # whoever leads now gets Z, an entry of its own term
            lead = self.leader([i for i in everyone if i != self.s1b])
            if lead is not None:
                p = self.propose(lead, b"Z")
                if p.accepted:
                    self.say(f"5. node {lead} leads term {p.term} and takes Z at index {p.index}")
                    self.wait_until = sim.now + 2.0
                    self.stage = 4
            elif sim.now >= self.wait_until:
                self.say("5. S5 could not win (its log is older); the links heal")
                self.heal()
                self.wait_until = sim.now + 3.0
        elif self.stage == 4 and sim.now >= self.wait_until:
            self.out.completed = True
            sim.stop()


def figure8_sim(core: str = "builtin", *, log: Callable[[str], None] = lambda s: None,
                duration: float = DURATION_S) -> Figure8Result:
    """Run the script on a 5-node simulated cluster with `core`; the records stay in `result.result.files`."""
    cfg = SimConfig(nodes=5, duration=duration, faults=frozenset(), prevote=False, check_quorum=False, core=core,
                    record_logs=True, proposals=1e-9)  # (a client that never comes: replication records on)
    sim = Simulator(cfg, 0)
    out = Figure8Result(core)
    script = _Script(sim, out, log)
    sim.call_at(STEP_S, script.tick)
    result = sim.run()
    out.result = result
    out.violations = list(result.violations)
    return out
