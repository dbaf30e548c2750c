"""The failover trials of bench_failover, run on the simulator: same core, same protocol of a trial, the network
delay and persist time measured on this machine, no CPU contention, no timer lateness, no poll rounding.

A callback driver on the virtual clock: wait until one leader has held for `settle_s` with every node up, wait a
uniform fraction of a heartbeat interval, kill the leader, poll (every 0.5 ms virtual) until a leader of a higher
term exists, restart the old one, repeat. The simulator's logs are written like a live run's, so the same reader
(failover_trials) turns both into trials. (The simulator logs `state_persisted` when a persist starts and holds
the step's messages back for the persist time, so its pre-vote/vote split of a failover differs from a live
node's; the sums agree.)
"""
from __future__ import annotations

import random
from pathlib import Path

from raftzmq.lab.sim.simulator import SimConfig, Simulator, write_logs

__all__ = ["run_sim_trials"]

_POLL_S = 0.0005
_GIVE_UP_S = 600.0  # virtual seconds without a new leader: the run stops (it shows as an unrecovered kill)


class _Driver:
    def __init__(self, sim: Simulator, trials: int, heartbeat_s: float, settle_s: float, seed: int) -> None:
        self.sim, self.trials, self.heartbeat_s, self.settle_s = sim, trials, heartbeat_s, settle_s
        self.rng = random.Random(f"failover-sim-driver/{seed}")
        self.done = 0
        self.stable_since: float | None = None
        self.stable_leader: tuple[int, int] | None = None
        self.killed: tuple[int, int, float] | None = None  # (node, term, when)

    def wait_stable(self) -> None:
        sim = self.sim
        leader = sim.leader() if sim.all_up() else None
        if leader is None or leader != self.stable_leader or self.stable_since is None:
            self.stable_leader, self.stable_since = leader, sim.now
        elif sim.now - self.stable_since >= self.settle_s:
            sim.call_at(sim.now + self.rng.uniform(0.0, self.heartbeat_s), self.kill, leader)
            return
        sim.call_at(sim.now + _POLL_S * 10, self.wait_stable)

    def kill(self, leader: tuple[int, int]) -> None:
        sim = self.sim
        if sim.leader() != leader:  # it changed in the meantime: start over
            self.stable_leader = None
            self.wait_stable()
            return
        sim.kill(leader[0])
        self.killed = (leader[0], leader[1], sim.now)
        self.wait_successor()

    def wait_successor(self) -> None:
        assert self.killed is not None, "wait_successor runs only after a kill"
        sim, (node, term, when) = self.sim, self.killed
        now_leader = sim.leader()
        if now_leader is not None and now_leader[1] > term:
            sim.restart(node)
            self.done += 1
            self.stable_leader = None
            if self.done == self.trials:
                sim.stop()
            else:
                self.wait_stable()
        elif sim.now - when > _GIVE_UP_S:
            sim.stop()
        else:
            sim.call_at(sim.now + _POLL_S, self.wait_successor)


def run_sim_trials(log_dir: Path, *, timeout_ms: tuple[int, int], heartbeat_ms: int, nodes: int, trials: int,
                   one_way_ms: float, jitter_ms: float, persist_ms: float, settle_s: float, seed: int,
                   hints: bool = False, core: str = "builtin") -> Path:
    """Run `trials` leader kills on the simulator and write its logs to `log_dir`."""
    config = SimConfig(nodes=nodes, duration=1e7, faults=frozenset(), election_timeout_ms=timeout_ms,
                       heartbeat_ms=heartbeat_ms, delay_ms=one_way_ms, jitter_ms=min(jitter_ms, one_way_ms),
                       persist_ms=persist_ms, vote_crash=0.0, hints=hints, core=core)
    sim = Simulator(config, seed)
    driver = _Driver(sim, trials, heartbeat_ms / 1000, settle_s, seed)
    sim.call_at(0.0, driver.wait_stable)
    return write_logs(sim.run(), log_dir)
