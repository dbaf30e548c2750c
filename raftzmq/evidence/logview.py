"""Replication in the pictures: each node's log growth and its commits, from the replication records
(docs/log-schema.md: `log_loaded`, `log_appended`, `commit_advanced`).

Per node, the last index of its log over time is a step function: `log_loaded` sets it at a (re)start,
`log_appended` sets it to the batch's `last` (a batch that replaced a suffix can lower it), and it holds while the
node is down (its log stays on disk). The commit index is another step function, from `commit_advanced` (and the
commit a restart loaded); every `commit_advanced` is a commit mark, and every `log_appended` whose `first` is at or
below the node's last index replaced a suffix (a replacement mark: how Figure 8's overwrite shows). Both pictures (timeline.py's SVG and the HTML
report) draw this one model, on one index scale shared by all nodes (0 at the bottom of a lane, `max_index` at its
top; the HTML report's follows the window it shows), so two lanes at one height hold logs of one length.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LogStep", "CommitMark", "Replacement", "LogView", "build_log_view", "LOG_STYLE"]

# (colour, legend text) of each part of a log lane
LOG_STYLE: dict[str, tuple[str, str]] = {
    "growth": ("#90caf9", "log lane: the node's last index over time (area; one index scale for every lane, "
                          "given above them)"),
    "commit": ("#0d47a1", "its commit index (line) and each commit_advanced (dot)"),
    "replaced": ("#e65100", "a conflicting suffix replaced (bar: the replaced indexes)"),
}


@dataclass(frozen=True, slots=True)
class LogStep:
    at_ns: int
    value: int  # the last index (growth) or the commit index (commit line) from this moment on
    index: int  # the record


@dataclass(frozen=True, slots=True)
class CommitMark:
    at_ns: int
    node: int
    commit: int
    index: int  # the commit_advanced record


@dataclass(frozen=True, slots=True)
class Replacement:
    at_ns: int
    node: int
    first: int  # entries first..old_last were replaced (a conflicting suffix cut, §5.3)
    old_last: int
    index: int  # the log_appended record


@dataclass
class LogView:
    growth: dict[int, list[LogStep]] = field(default_factory=dict)  # node -> its last index, in time order
    commit_line: dict[int, list[LogStep]] = field(default_factory=dict)  # node -> its commit index
    commits: list[CommitMark] = field(default_factory=list)  # every commit_advanced, in time order
    replaced: list[Replacement] = field(default_factory=list)  # every log_appended that replaced a suffix
    max_index: int = 0

    @property
    def empty(self) -> bool:
        """No replication records: an election-only run, whose pictures stay as they were."""
        return not self.growth and not self.commits

    def last(self, node: int) -> int:
        steps = self.growth.get(node)
        return steps[-1].value if steps else 0

    def commit(self, node: int) -> int:
        steps = self.commit_line.get(node)
        return steps[-1].value if steps else 0


def build_log_view(records: Sequence[dict[str, Any]]) -> LogView:
    """The log lanes of a run from its merged records (in time order)."""
    view = LogView()
    for i, rec in enumerate(records):
        if rec.get("by") != "node":
            continue
        event, node = rec["event"], rec["node"]
        if event == "log_loaded":
            _step(view.growth, node, rec["mono_ns"], rec["last"], i)
            _step(view.commit_line, node, rec["mono_ns"], rec["commit"], i)
        elif event == "log_appended":
            steps = view.growth.get(node)
            old_last = steps[-1].value if steps else 0
            if rec["first"] <= old_last:
                view.replaced.append(Replacement(rec["mono_ns"], node, rec["first"], old_last, i))
            _step(view.growth, node, rec["mono_ns"], rec["last"], i)
        elif event == "commit_advanced":
            _step(view.commit_line, node, rec["mono_ns"], rec["commit"], i)
            view.commits.append(CommitMark(rec["mono_ns"], node, rec["commit"], i))
        else:
            continue
        view.max_index = max(view.max_index, rec.get("last", 0), rec.get("commit", 0))
    return view


def _step(lines: dict[int, list[LogStep]], node: int, at: int, value: int, index: int) -> None:
    steps = lines.setdefault(node, [])
    if steps and steps[-1].value == value:
        return  # no change: no new step
    steps.append(LogStep(at, value, index))
