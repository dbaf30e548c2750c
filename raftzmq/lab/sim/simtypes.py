"""The simulator's value types: its configuration, a run's result, and how a run's records are shown and saved."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raftzmq.evidence.checker import Violation
from raftzmq.protocol.core import PERSIST_MODES, CoreConfig
from raftzmq.protocol.netmodel import NetModel
from raftzmq.runtime.config import ClusterConfig, ConfigError

from raftzmq.lab.sim import faults as F
from raftzmq.lab.sim.simdisk import DISK_MODES

if TYPE_CHECKING:
    from raftzmq.lab.sim.simkv import WorkloadConfig

__all__ = ["SimConfig", "SimResult", "write_logs", "write_records"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    """A simulated run. The cluster settings (nodes, timing, features, persistence) are those of a live cluster and
    are validated by the same rules (runtime/config.py ClusterConfig); the network baseline by the NetModel's."""

    nodes: int = 5
    duration: float = 30.0  # simulated seconds
    faults: frozenset[str] = frozenset(F.FAULT_KINDS)
    persist_mode: str = PERSIST_MODES[0]
    prevote: bool = True
    check_quorum: bool = True
    hints: bool = False
    election_timeout_ms: tuple[int, int] = (150, 300)
    heartbeat_ms: int = 50
    disk: str = "safe"
    delay_ms: float = 5.0  # network baseline, see faults.NetParams
    jitter_ms: float = 4.0
    delay_dist: str = "uniform"
    fault_interval: float = 0.5  # mean simulated seconds between fault injections
    vote_crash: float = 0.1  # probability that a node granting a vote crashes right after sending it
    persist_ms: float = 0.0  # how long a persist takes: the node is blocked, and that step's messages wait
    record_logs: bool = True  # keep every record (needed to write logs); off: only the trace window
    core: str = "builtin"  # which core runs: a spec for raftzmq.runtime.cores.coreload (docs/core-contract.md)
    proposals: float = 0.0  # client commands per simulated second, to the node the simulator believes leads
    workload: WorkloadConfig | None = None  # sim --workload: KV clients, a history per seed (lab/sim/simkv.py)

    def __post_init__(self) -> None:
        self.cluster_config()  # nodes, timeouts, heartbeat, features and persist mode: the live cluster's rules
        if not self.duration > 0:
            raise ValueError("duration must be > 0")
        if self.disk not in DISK_MODES:
            raise ValueError(f"disk must be one of {DISK_MODES}")
        F.NetParams(NetModel(delay_ms=self.delay_ms, jitter_ms=self.jitter_ms), 0.0, self.delay_dist)
        if not self.jitter_ms <= self.delay_ms:
            raise ValueError("need 0 <= jitter <= delay")
        if not 0 <= self.persist_ms < 1000:
            raise ValueError("persist_ms must be in [0, 1000)")
        if not 0 <= self.proposals <= 100_000:
            raise ValueError("proposals must be in [0, 100000] per simulated second")
        bad = set(self.faults) - set(F.FAULT_KINDS)
        if bad:
            raise ValueError(f"unknown faults {sorted(bad)}")

    @classmethod
    def from_cluster(cls, cluster: ClusterConfig, **sim: Any) -> SimConfig:
        """The simulated counterpart of a live cluster config, plus simulator-only settings."""
        return cls(nodes=cluster.nodes, persist_mode=cluster.persist, prevote=cluster.prevote,
                   check_quorum=cluster.check_quorum, hints=cluster.hints,
                   election_timeout_ms=cluster.election_timeout_ms,
                   heartbeat_ms=cluster.heartbeat_ms, core=cluster.core, **sim)

    def cluster_config(self) -> ClusterConfig:
        try:
            return ClusterConfig(nodes=self.nodes, election_timeout_ms=self.election_timeout_ms,
                                 heartbeat_ms=self.heartbeat_ms, prevote=self.prevote,
                                 check_quorum=self.check_quorum, persist=self.persist_mode, hints=self.hints,
                                 core=self.core)
        except ConfigError as exc:
            raise ValueError(f"key '{exc.key}': {exc.reason}") from None

    def core_config(self, node: int) -> CoreConfig:
        """The live cluster's core config; the hint window is sized by the simulated network's latency."""
        return self.cluster_config().core_config(node, one_way_ms=self.delay_ms)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes, "duration": self.duration, "faults": sorted(self.faults),
            "persist": self.persist_mode, "prevote": self.prevote, "check_quorum": self.check_quorum,
            "hints": self.hints, "election_timeout_ms": list(self.election_timeout_ms),
            "heartbeat_ms": self.heartbeat_ms,
            "disk": self.disk, "delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms, "delay_dist": self.delay_dist,
            "fault_interval": self.fault_interval, "vote_crash": self.vote_crash, "core": self.core,
            "persist_ms": self.persist_ms,
            # (only when on: election-only runs keep the records they always had)
            **({"proposals": self.proposals} if self.proposals else {}),
            **({"workload": self.workload.to_dict()} if self.workload is not None else {}),
        }


@dataclass(slots=True)
class SimResult:
    seed: int
    config: SimConfig
    violations: list[Violation]
    trace: list[dict[str, Any]]  # the TRACE_LEN records up to and including the first violation
    files: dict[str, list[dict[str, Any]]]  # file name -> records (empty unless config.record_logs)
    sim_time: float
    elections: int  # campaigns (became_candidate)
    leaders: int  # became_leader
    max_term: int
    leaderless: float  # simulated seconds with no reachable leader
    failovers: list[float]  # leader loss -> new leader, seconds
    unresolved_failovers: int
    messages: int  # delivered
    faults_injected: int
    lost_writes: int
    stats: dict[str, Any] = field(default_factory=dict)
    replication: dict[str, int] = field(default_factory=dict)  # with proposals: proposed, accepted, committed...
    workload: dict[str, Any] | None = None  # sim --workload: counts, verdict, check, history (SimKV.finish)

    @property
    def ok(self) -> bool:
        """No safety violation, and with --workload a linearizable history (not linearizable or unknown: a
        failing seed)."""
        return not self.violations and (self.workload is None or self.workload["verdict"] == "linearizable")

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "ok": self.ok, "violations": [v.to_dict() for v in self.violations],
            "sim_time": self.sim_time, "elections": self.elections, "leaders": self.leaders,
            "max_term": self.max_term, "leaderless_s": round(self.leaderless, 6),
            "failovers_s": [round(f, 6) for f in self.failovers], "unresolved_failovers": self.unresolved_failovers,
            "messages": self.messages, "faults": self.faults_injected, "lost_writes": self.lost_writes,
            **({"replication": self.replication} if self.replication else {}),
            **({"workload": {k: v for k, v in self.workload.items() if k not in ("history", "latency_ns")}}
               if self.workload is not None else {}),
        }


def write_logs(result: SimResult, directory: str | os.PathLike[str]) -> Path:
    """Write node-<id>.jsonl and supervisor.jsonl as the live cluster does (same serialisation as LogWriter)."""
    if not result.files:
        raise ValueError("this result kept no records (record_logs=False); rerun the seed to get logs")
    return write_records(result.files, directory)


def write_records(files: dict[str, list[dict[str, Any]]], directory: str | os.PathLike[str]) -> Path:
    """Write records by file name (node-<id>.jsonl, supervisor.jsonl) into `directory`."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name, records in files.items():
        lines = [json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in records]
        (d / name).write_text("".join(lines))
    return d
