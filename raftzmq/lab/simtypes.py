"""The simulator's value types: its configuration, a run's result, and how a run's records are shown and saved."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftzmq.evidence.checker import Violation
from raftzmq.protocol.core import CoreConfig

from . import faults as F
from .simdisk import DISK_MODES

__all__ = ["SimConfig", "SimResult", "format_record", "write_logs"]


@dataclass(frozen=True, slots=True)
class SimConfig:
    nodes: int = 5
    duration: float = 30.0  # simulated seconds
    faults: frozenset[str] = frozenset(F.FAULT_KINDS)
    persist_mode: str = "term+vote"
    prevote: bool = True
    check_quorum: bool = True
    election_timeout: tuple[float, float] = (0.150, 0.300)
    heartbeat: float = 0.050
    disk: str = "safe"
    delay: float = 0.005  # network baseline, see faults.NetParams
    jitter: float = 0.004
    delay_dist: str = "uniform"
    fault_interval: float = 0.5  # mean simulated seconds between fault injections
    vote_crash: float = 0.1  # probability that a node granting a vote crashes right after sending it
    persist_delay: float = 0.0  # seconds a persist takes: the node is blocked, and that step's messages wait
    record_logs: bool = True  # keep every record (needed to write logs); off: only the trace window

    def __post_init__(self) -> None:
        if not 1 <= self.nodes <= 256:
            raise ValueError(f"nodes must be 1..256, got {self.nodes}")
        if not self.duration > 0:
            raise ValueError("duration must be > 0")
        if self.disk not in DISK_MODES:
            raise ValueError(f"disk must be one of {DISK_MODES}")
        if self.delay_dist not in F.DELAY_DISTS:
            raise ValueError(f"delay distribution must be one of {F.DELAY_DISTS}")
        if not 0 <= self.jitter <= self.delay:
            raise ValueError("need 0 <= jitter <= delay")
        if not 0 <= self.persist_delay < 1:
            raise ValueError("persist_delay must be in [0, 1) seconds")
        bad = set(self.faults) - set(F.FAULT_KINDS)
        if bad:
            raise ValueError(f"unknown faults {sorted(bad)}")
        self.core_config(1)  # the core validates timeouts, heartbeat and persist mode

    def core_config(self, node: int) -> CoreConfig:
        lo, hi = self.election_timeout
        return CoreConfig(node, tuple(range(1, self.nodes + 1)), lo, hi, self.heartbeat, self.prevote,
                          self.check_quorum, self.persist_mode)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes, "duration": self.duration, "faults": sorted(self.faults),
            "persist": self.persist_mode, "prevote": self.prevote, "check_quorum": self.check_quorum,
            "election_timeout_ms": [round(self.election_timeout[0] * 1000, 3), round(self.election_timeout[1] * 1000, 3)],
            "heartbeat_ms": round(self.heartbeat * 1000, 3), "disk": self.disk,
            "delay_ms": self.delay * 1000, "jitter_ms": self.jitter * 1000, "delay_dist": self.delay_dist,
            "fault_interval": self.fault_interval, "vote_crash": self.vote_crash,
            "persist_delay_ms": self.persist_delay * 1000,
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

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "ok": self.ok, "violations": [v.to_dict() for v in self.violations],
            "sim_time": self.sim_time, "elections": self.elections, "leaders": self.leaders,
            "max_term": self.max_term, "leaderless_s": round(self.leaderless, 6),
            "failovers_s": [round(f, 6) for f in self.failovers], "unresolved_failovers": self.unresolved_failovers,
            "messages": self.messages, "faults": self.faults_injected, "lost_writes": self.lost_writes,
        }


def format_record(rec: dict[str, Any]) -> str:
    """One line per record for violation reports: time, who, event, term, the remaining fields."""
    skip = {"ts", "mono_ns", "event", "by", "node", "term", "seq", "incarnation"}
    who = f"node {rec['node']}" if rec["by"] == "node" else "supervisor" + (f"->{rec['node']}" if rec["node"] else "")
    inc = f"#{rec['incarnation']}" if "incarnation" in rec else ""
    term = f" t{rec['term']}" if "term" in rec else ""
    rest = " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in rec.items() if k not in skip)
    return f"{rec['mono_ns'] / 1e9:10.6f}s {who + inc:<14} {rec['event']}{term} {rest}".rstrip()


def write_logs(result: SimResult, directory: str | os.PathLike[str]) -> Path:
    """Write node-<id>.jsonl and supervisor.jsonl as the live cluster does (same serialisation as LogWriter)."""
    if not result.files:
        raise ValueError("this result kept no records (record_logs=False); rerun the seed to get logs")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    for name, records in result.files.items():
        lines = [json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in records]
        (d / name).write_text("".join(lines))
    return d
