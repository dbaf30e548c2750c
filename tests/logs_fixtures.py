"""Hand-made run directories for evidence tests, written through the real LogWriter with a fake shared clock.

Reads like a transcript: `run.start(1)`, `run.campaign(1, term=1)`, `run.grant(2, term=1, cand=1)`, `run.lead(1, 1)`.
Each helper writes exactly the records a correct node would, in the order the embedding produces them (events
of the old term, `state_persisted`, then the new term's events); tests break invariants by calling the
lower-level `rec`/`vote` helpers directly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from raftzmq.evidence.logfile import LogWriter


class FakeClock:
    """One clock shared by every writer of a run, so mono_ns orders records globally, as on one host."""

    def __init__(self) -> None:
        self.ns = 0

    def time(self) -> float:
        return 1_700_000_000 + self.ns / 1e9

    def monotonic_ns(self) -> int:
        self.ns += 1_000
        return self.ns


class Run:
    def __init__(self, run_dir: Path, nodes: int | None = 3, *, cluster_started: bool = True) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.clock = FakeClock()
        self.sup = LogWriter(self.dir / "supervisor.jsonl", by="supervisor", node=0, clock=self.clock)
        self.writers: dict[int, LogWriter] = {}
        self.incs: dict[int, int] = {}
        if cluster_started and nodes is not None:
            self.sup.write("cluster_started", nodes=nodes, config={"election_timeout_ms": [150, 300]})

    # -- lifecycle

    def start(self, node: int, term: int = 0, voted_for: int | None = None, mode: str = "term+vote") -> LogWriter:
        if node in self.writers:
            self.writers[node].close()
        inc = self.incs[node] = self.incs.get(node, 0) + 1
        self.sup.write("node_spawned", node=node, pid=1000 * node + inc, incarnation=inc)
        w = self.writers[node] = LogWriter(self.dir / f"node-{node}.jsonl", by="node", node=node, incarnation=inc,
                                           clock=self.clock)
        w.write("node_started", term=term, voted_for=voted_for, persist_mode=mode)
        return w

    def kill(self, node: int) -> None:
        self.sup.write("node_killed", node=node, pid=1000 * node + self.incs[node], signal="SIGKILL")
        self.writers.pop(node).close()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.sup.write("cluster_stopped")
        self.sup.close()

    # -- records

    def rec(self, node: int, event: str, term: int, **fields: Any) -> dict[str, Any]:
        return self.writers[node].write(event, term=term, **fields)

    def persist(self, node: int, term: int, voted_for: int | None) -> None:
        self.rec(node, "state_persisted", term, voted_for=voted_for)

    def vote(self, node: int, term: int, cand: int) -> None:
        self.rec(node, "vote_granted", term, candidate=cand)

    # -- well-behaved steps

    def campaign(self, node: int, term: int, *, from_term: int | None = None) -> None:
        self.rec(node, "election_timeout", term - 1 if from_term is None else from_term)
        self.persist(node, term, node)
        self.rec(node, "became_candidate", term)
        self.vote(node, term, node)

    def grant(self, node: int, term: int, cand: int) -> None:
        self.persist(node, term, cand)
        self.vote(node, term, cand)

    def lead(self, node: int, term: int) -> None:
        self.rec(node, "became_leader", term)

    def follow(self, node: int, term: int, leader: int | None) -> None:
        self.rec(node, "became_follower", term, leader=leader)

    def elect(self, leader: int, term: int, voters: list[int], followers: list[int] | None = None) -> None:
        self.campaign(leader, term)
        for v in voters:
            self.grant(v, term, leader)
        self.lead(leader, term)
        for f in followers if followers is not None else voters:
            self.follow(f, term, leader)


def clean_run(run_dir: Path) -> Run:
    """A realistic 3-node history: election, a leader killed and restarted, a new election, the old leader
    rejoining at a higher term. Every invariant holds."""
    r = Run(run_dir, 3)
    for n in (1, 2, 3):
        r.start(n)
    r.elect(1, 1, voters=[2, 3])
    r.kill(1)
    r.campaign(2, 2, from_term=1)
    r.grant(3, 2, 2)  # 3 first persists term 2 + vote, then grants
    r.lead(2, 2)
    r.follow(3, 2, 2)
    r.start(1, term=1, voted_for=1)  # loads exactly what it persisted
    r.persist(1, 2, None)  # hears the term-2 leader: term up, no vote
    r.follow(1, 2, 2)
    r.rec(3, "vote_denied", 2, candidate=1, reason="already_voted")
    r.close()
    return r
