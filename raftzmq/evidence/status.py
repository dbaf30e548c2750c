"""Each node's role, term and leader as the logs tell it; the supervisor's `status` is computed from this.

Feed records in each file's order (LogTail does); the view of a node is its last incarnation's last word.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["NodeView", "RoleTracker"]

_ROLE_OF = {
    "became_follower": "follower",
    "became_precandidate": "precandidate",
    "became_candidate": "candidate",
    "became_leader": "leader",
    "node_started": "follower",
}


@dataclass(slots=True)
class NodeView:
    role: str | None = None
    term: int | None = None
    leader: int | None = None
    incarnation: int = 0
    failed: str | None = None  # the reason from the node's own node_failed (or failpoint_hit) record
    stopped: str | None = None  # the reason from node_stopping
    mono_ns: int = 0  # time of the last record
    last: int | None = None  # last log index (log_loaded / log_appended); None: the node logs no replication
    commit: int | None = None  # commit index (log_loaded / commit_advanced)


class RoleTracker:
    def __init__(self) -> None:
        self.nodes: dict[int, NodeView] = {}

    def feed(self, rec: dict[str, Any]) -> None:
        if rec.get("by") != "node":
            return
        view = self.nodes.setdefault(rec["node"], NodeView())
        inc = rec.get("incarnation", 0)
        if inc < view.incarnation:
            return  # a late line of an older incarnation says nothing about the current one
        if inc > view.incarnation:
            view.incarnation, view.role, view.leader, view.failed, view.stopped = inc, None, None, None, None
            view.last = view.commit = None
        event = rec["event"]
        view.term = rec.get("term", view.term)
        view.mono_ns = rec["mono_ns"]
        if event in _ROLE_OF:
            view.role = _ROLE_OF[event]
            if event == "became_leader":
                view.leader = rec["node"]
            elif event == "became_follower":
                view.leader = rec.get("leader")
            else:
                view.leader = None
        elif event == "log_appended":
            view.last = rec["last"]
        elif event == "commit_advanced":
            view.commit = rec["commit"]
        elif event == "log_loaded":
            view.last, view.commit = rec["last"], rec["commit"]
        elif event == "node_failed":
            view.failed, view.role = str(rec.get("reason", "unknown")), None
        elif event == "failpoint_hit":
            view.failed, view.role = f"failpoint {rec.get('name')}", None
        elif event == "node_stopping":
            view.stopped, view.role = str(rec.get("reason", "unknown")), None
