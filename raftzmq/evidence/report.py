"""Recovery figures computed from a run's merged records: elections, terms and failover times.

The planned end of a run (`cluster_stopping`) ends the analysis.
A failover starts when the current leader is lost — killed, stopped, paused, cut into a minority by a partition,
or stepping down — and ends at the first `became_leader` of a higher term. Times come from mono_ns.
A failover came through a disconnect hint when the winner's campaign began with a hint pre-vote
(`became_precandidate` with `hint`) rather than with its election timer.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from collections.abc import Iterable
from typing import Any

from .stats import quantile

__all__ = ["Failover", "failovers", "failover_times", "recovery_summary", "render_report"]


def _minority(groups: list[list[int]] | None, node: int, cluster_size: int) -> bool:
    if not groups:
        return False
    for group in groups:
        if node in group:
            return len(group) <= cluster_size // 2
    return True


@dataclass(frozen=True, slots=True)
class Failover:
    cause: str  # node_killed | node_paused | stepped_down:<reason> | partition
    leader: int
    term: int
    lost_ns: int
    new_leader: int | None = None
    new_term: int | None = None
    seconds: float | None = None  # None: never recovered before the run ended
    via_hint: bool = False  # the winner's campaign was a hint pre-vote


def failovers(records: Iterable[dict[str, Any]], cluster_size: int) -> list[Failover]:
    """Every loss of the current leader, with what caused it and when a leader of a higher term followed."""
    leader: tuple[int, int] | None = None  # (node, term)
    open_loss: Failover | None = None
    out: list[Failover] = []
    hinted: dict[int, bool] = {}  # node -> its current campaign began with a hint pre-vote
    for rec in records:
        event = rec["event"]
        if event == "cluster_stopping":
            break  # the planned end of the run: nothing after it is a failure to recover from
        if event in ("became_precandidate", "election_timeout", "became_follower") and rec["by"] == "node":
            hinted[rec["node"]] = event == "became_precandidate" and rec.get("hint") is True
        if event == "became_leader":
            if leader is None or rec["term"] > leader[1]:
                if open_loss is not None:
                    out.append(replace(open_loss, new_leader=rec["node"], new_term=rec["term"],
                                       seconds=(rec["mono_ns"] - open_loss.lost_ns) / 1e9,
                                       via_hint=hinted.get(rec["node"], False)))
                    open_loss = None
                leader = (rec["node"], rec["term"])
            continue
        if leader is None or open_loss is not None:
            continue
        cause = None
        if rec["by"] == "supervisor" and event in ("node_killed", "node_paused") and rec["node"] == leader[0]:
            cause = event
        elif (event == "stepped_down" and rec["by"] == "node" and rec["node"] == leader[0]
              and rec["term"] <= leader[1] + 1):
            cause = f"stepped_down:{rec.get('reason')}"
        elif event == "partition" and _minority(rec.get("groups"), leader[0], cluster_size):
            cause = "partition"
        if cause is not None:
            open_loss = Failover(cause, leader[0], leader[1], rec["mono_ns"])
    if open_loss is not None:
        out.append(open_loss)
    return out


def failover_times(records: Iterable[dict[str, Any]], cluster_size: int) -> tuple[list[float], int]:
    """(seconds from each leader loss to the next leader of a higher term, losses never recovered)."""
    found = failovers(records, cluster_size)
    return [f.seconds for f in found if f.seconds is not None], sum(f.seconds is None for f in found)


def render_report(records: list[dict[str, Any]], cluster_size: int, unseen: Iterable[str] = ()) -> str:
    """A human account of a run: who led which term when, and every failover with its cause and duration.
    `unseen` names what the records cannot show (lost records, incarnations, files); it is said first, because
    everything below is computed without it."""
    lost = [f"  {line}" for line in unseen]
    head = ["INCOMPLETE EVIDENCE: this report cannot see", *lost, ""] if lost else []
    if not records:
        return "\n".join([*head, "no records"]) + "\n"
    t0 = records[0]["mono_ns"]
    def at(ns: int) -> str:
        return f"{(ns - t0) / 1e9:8.3f}s"

    lines = [*head, f"cluster of {cluster_size}; times from the first record", "", "leaders:"]
    for r in records:
        if r["event"] == "became_leader":
            lines.append(f"  {at(r['mono_ns'])}  term {r['term']:>4}  node {r['node']}")
    lines += ["", "failovers (leader lost -> leader of a higher term):"]
    for f in failovers(records, cluster_size):
        took = f"{f.seconds * 1000:7.0f} ms -> node {f.new_leader} (term {f.new_term})" if f.seconds is not None \
            else "   never recovered"
        took += " via hint" if f.via_hint else ""
        lines.append(f"  {at(f.lost_ns)}  node {f.leader} (term {f.term}) {f.cause:<26} {took}")
    summary = recovery_summary(records, cluster_size)
    lines += ["", "summary: " + ", ".join(f"{k}={v}" for k, v in summary.items())]
    return "\n".join(lines) + "\n"


def recovery_summary(records: list[dict[str, Any]], cluster_size: int) -> dict[str, Any]:
    via_hint = sum(f.via_hint for f in failovers(records, cluster_size))
    failovers_s, unresolved = failover_times(records, cluster_size)
    leaders = [r for r in records if r["event"] == "became_leader"]
    terms = [r["term"] for r in records if r.get("by") == "node"]
    summary: dict[str, Any] = {
        "elections_won": len(leaders),
        "max_term": max(terms) if terms else 0,
        "failovers": len(failovers_s),
        "unresolved_failovers": unresolved,
        "failovers_via_hint": via_hint,
    }
    if failovers_s:
        summary.update(failover_median_s=round(quantile(failovers_s, 0.5), 3),
                       failover_max_s=round(max(failovers_s), 3),
                       failover_p90_s=round(quantile(failovers_s, 0.9), 3))
    return summary
