"""Recovery figures computed from a run's merged records: elections, terms and failover times.

The planned end of a run (`cluster_stopping`) ends the analysis.
A failover starts when the current leader is lost — killed, stopped, paused, cut into a minority by a partition,
or stepping down — and ends at the first `became_leader` of a higher term. Times come from mono_ns.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

__all__ = ["failover_times", "recovery_summary"]


def _minority(groups: list[list[int]] | None, node: int, cluster_size: int) -> bool:
    if not groups:
        return False
    for group in groups:
        if node in group:
            return len(group) <= cluster_size // 2
    return True


def failover_times(records: Iterable[dict[str, Any]], cluster_size: int) -> tuple[list[float], int]:
    """(seconds from each leader loss to the next leader of a higher term, losses never recovered)."""
    leader: tuple[int, int] | None = None  # (node, term)
    lost_at: int | None = None
    out: list[float] = []
    for rec in records:
        event = rec["event"]
        if event == "cluster_stopping":
            break  # the planned end of the run: nothing after it is a failure to recover from
        if event == "became_leader":
            if leader is None or rec["term"] > leader[1]:
                if lost_at is not None:
                    out.append((rec["mono_ns"] - lost_at) / 1e9)
                    lost_at = None
                leader = (rec["node"], rec["term"])
            continue
        if leader is None or lost_at is not None:
            continue
        lost = (
            (rec["by"] == "supervisor" and event in ("node_killed", "node_paused") and rec["node"] == leader[0])
            or (event == "stepped_down" and rec["by"] == "node" and rec["node"] == leader[0]
                and rec["term"] <= leader[1] + 1)
            or (event == "partition" and _minority(rec.get("groups"), leader[0], cluster_size))
        )
        if lost:
            lost_at = rec["mono_ns"]
    return out, int(lost_at is not None)


def recovery_summary(records: list[dict[str, Any]], cluster_size: int) -> dict[str, Any]:
    failovers, unresolved = failover_times(records, cluster_size)
    leaders = [r for r in records if r["event"] == "became_leader"]
    terms = [r["term"] for r in records if r.get("by") == "node"]
    summary: dict[str, Any] = {
        "elections_won": len(leaders),
        "max_term": max(terms) if terms else 0,
        "failovers": len(failovers),
        "unresolved_failovers": unresolved,
    }
    if failovers:
        ordered = sorted(failovers)
        summary.update(failover_median_s=round(statistics.median(ordered), 3),
                       failover_max_s=round(ordered[-1], 3),
                       failover_p90_s=round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3))
    return summary
