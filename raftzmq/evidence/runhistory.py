"""A run's client history, for the reports: `history.jsonl` in the run folder (what `raftzmq workload` writes
there), checked for linearizability, and `workload.json` beside it (the nemesis windows, the availability, the
clock's origin `t0_mono_ns`, which puts history time 0 on the logs' mono_ns axis).

Neither file is a log file (docs/log-schema.md): a run without them has no history section; one whose history
cannot be read says why in its section instead of failing the report.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .history import History, HistoryError, read_history
from .lincheck import DEFAULT_BUDGET_S, LinResult, check_history

__all__ = ["HISTORY_NAME", "WORKLOAD_NAME", "RunHistory", "run_history"]

HISTORY_NAME = "history.jsonl"
WORKLOAD_NAME = "workload.json"


@dataclass
class RunHistory:
    path: Path
    history: History | None = None
    result: LinResult | None = None
    error: str | None = None  # the history could not be read or checked
    workload: dict[str, Any] = field(default_factory=dict)  # workload.json, {} when absent or unreadable

    @property
    def windows(self) -> list[dict[str, Any]]:
        nemesis = self.workload.get("nemesis") or {}
        return [w for w in nemesis.get("windows", []) if isinstance(w, dict)]

    def to_dict(self, first_ns: int | None = None) -> dict[str, Any]:
        t0 = self.workload.get("t0_mono_ns")
        return {"file": self.path.name, "error": self.error,
                "verdict": self.result.verdict if self.result else None,
                "result": self.result.to_dict() if self.result else None,
                "t0_ms": round((t0 - first_ns) / 1e6, 3) if isinstance(t0, int) and first_ns is not None else None,
                "windows": self.windows, "availability": self.workload.get("availability", []),
                "final": self.workload.get("final")}

    def line(self) -> str:
        """One line for the text report."""
        if self.error:
            return f"client history {self.path.name}: cannot be checked: {self.error}"
        assert self.result is not None
        r = self.result
        text = f"client history {self.path.name}: {r.verdict.upper()} ({r.operations} operations"
        final = self.workload.get("final")
        if isinstance(final, dict) and isinstance(final.get("lost"), list):
            text += f"; acknowledged writes lost: {len(final['lost'])}"
        return text + ")"


def run_history(run: str | Path, budget_s: float = DEFAULT_BUDGET_S) -> RunHistory | None:
    """The run folder's history, checked; None when it has none."""
    path = Path(run) / HISTORY_NAME
    if not path.is_file():
        return None
    out = RunHistory(path)
    try:
        doc = json.loads((path.parent / WORKLOAD_NAME).read_text(encoding="utf-8"))
        same = isinstance(doc, dict) and Path(str(doc.get("history_path", ""))).name == HISTORY_NAME
        out.workload = doc if same else {}  # it describes this history, not one written elsewhere
    except (OSError, ValueError):
        pass
    try:
        out.history = read_history(path)
        out.result = check_history(out.history, budget_s=budget_s)
    except (HistoryError, ValueError) as exc:
        out.error = str(exc)
    return out
