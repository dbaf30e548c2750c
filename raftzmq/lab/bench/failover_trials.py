"""Failover trials read back from a run's logs, live or simulated: the one definition every output uses.

A trial is a SIGKILL of the current leader (`node_killed` by the supervisor, cause `node_killed` in
evidence.report.failovers) and ends at the first `became_leader` of a higher term. downtime = that record's
mono_ns - the kill's mono_ns (the kill is logged just before the signal is sent); terms = new term - old term;
detect = the first survivor's `election_timeout` after the kill - the kill (how long until anyone noticed).
The winning election is split further from the winner's own records: prevote = its `became_precandidate` ->
its `state_persisted` of the new term (the pre-vote round plus its durable self-vote), vote = that record ->
`became_leader` (RequestVote out, the voters' persists, their answers back). voter = the median over the voters
that granted it of their `vote_granted` - that record: one message hop plus the voter's persist (a vote is
logged once durable, the candidate's state before its RequestVotes leave), i.e. the persist time as the nodes
paid it during the run.
"""
from __future__ import annotations

import bisect
import csv
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from raftzmq.evidence.stats import median
from raftzmq.evidence.logfile import read_run
from raftzmq.evidence.report import failovers
from raftzmq.lab.bench.machine_load import is_loaded, load_at

__all__ = ["Trial", "trials_from_run", "disruptions", "write_csv", "read_csv", "cluster_size"]


@dataclass(frozen=True, slots=True)
class Trial:
    source: str  # "real" | "sim"
    range: str  # "150-300"
    trial: int  # 1.. within (source, range), in time order
    leader: int
    term: int
    new_leader: int
    new_term: int
    kill_mono_ns: int
    leader_mono_ns: int
    downtime_ms: float
    terms: int
    detect_ms: float | None
    prevote_ms: float | None
    vote_ms: float | None
    voter_ms: float | None
    load1: float | None
    busy: float | None
    steal: float | None
    loaded: bool | None


def cluster_size(run_dir: Path) -> int:
    return int(json.loads((run_dir / "cluster.json").read_text())["nodes"]) if (run_dir / "cluster.json").exists() \
        else _started_nodes(run_dir)


def _started_nodes(run_dir: Path) -> int:
    for loc in read_run(run_dir):
        if loc.record["event"] == "cluster_started":
            return int(loc.record["nodes"])
    raise ValueError(f"{run_dir}: no cluster.json and no cluster_started record: cannot tell the cluster size")


def trials_from_run(run_dir: Path, *, source: str, label: str, samples: list[dict[str, Any]] | None = None,
                    nodes: int | None = None) -> tuple[list[Trial], int]:
    """(every leader kill that a new leader followed, leader kills never recovered) in time order."""
    records = [loc.record for loc in read_run(run_dir)]
    found = [f for f in failovers(records, nodes or cluster_size(run_dir)) if f.cause == "node_killed"]
    timeouts = [r["mono_ns"] for r in records if r["event"] == "election_timeout"]
    out: list[Trial] = []
    for f in found:
        if f.seconds is None or f.new_leader is None or f.new_term is None:
            continue  # never recovered: counted below
        i = bisect.bisect_left(timeouts, f.lost_ns)
        leader_ns = f.lost_ns + round(f.seconds * 1e9)
        # A failover without a timeout (a disconnect hint) has no detect time: not a later trial's timeout.
        detect = _ms(timeouts[i] - f.lost_ns) if i < len(timeouts) and timeouts[i] <= leader_ns else None
        prevote, vote, voter = _winning_election(records, f.new_leader, f.new_term, f.lost_ns, leader_ns)
        s = load_at(samples, f.lost_ns) if samples else None
        out.append(Trial(source, label, len(out) + 1, f.leader, f.term, f.new_leader, f.new_term, f.lost_ns,
                         leader_ns, _ms(leader_ns - f.lost_ns), f.new_term - f.term, detect, prevote, vote, voter,
                         s["load1"] if s else None, s["busy"] if s else None, s["steal"] if s else None,
                         is_loaded(s)))
    return out, sum(f.seconds is None for f in found)


def disruptions(run_dir: Path, nodes: int) -> dict[str, Any]:
    """What else happened in a benchmark run: kills that found the leader already gone (its role had moved on
    between the status check and the kill) and leader losses the benchmark did not cause, by cause."""
    records = [loc.record for loc in read_run(run_dir)]
    found = failovers(records, nodes)
    kills = 0
    for r in records:
        if r["event"] == "cluster_stopping":
            break
        kills += r["event"] == "node_killed" and r["by"] == "supervisor"
    others: dict[str, int] = {}
    for f in found:
        if f.cause != "node_killed":
            others[f.cause] = others.get(f.cause, 0) + 1
    return {"kills": kills, "kills_missing_the_leader": kills - sum(f.cause == "node_killed" for f in found),
            "other_leader_losses": others}


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


def _winning_election(records: list[dict[str, Any]], winner: int, term: int, start_ns: int,
                      end_ns: int) -> tuple[float | None, float | None, float | None]:
    pre = persisted = None
    granted: list[int] = []
    lo = bisect.bisect_left(records, start_ns, key=lambda r: r["mono_ns"])
    for r in records[lo:]:
        if r["mono_ns"] > end_ns:
            break
        if r["by"] != "node" or r["term"] != term and r["event"] != "became_precandidate":
            continue
        if r["node"] != winner:
            if r["event"] == "vote_granted" and r["candidate"] == winner and persisted is not None:
                granted.append(r["mono_ns"] - persisted)
        elif r["event"] == "became_precandidate":
            pre = r["mono_ns"]
        elif r["event"] == "state_persisted" and r["voted_for"] == winner:
            persisted = r["mono_ns"]
    if persisted is None:
        return None, None, None
    prevote = None if pre is None or pre > persisted else _ms(persisted - pre)
    return prevote, _ms(end_ns - persisted), _ms(median(granted)) if granted else None


_COLUMNS = [f.name for f in fields(Trial)]


def write_csv(path: Path, trials: list[Trial]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=_COLUMNS)
        w.writeheader()
        for t in trials:
            w.writerow({k: ("" if v is None else v) for k, v in asdict(t).items()})


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
