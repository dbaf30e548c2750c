"""How a node's loop behaves: wake-ups, timer ticks and how late the ticks fire (actual minus intended wake).

Counting costs one add per wake and one append per tick; the samples are a bounded ring, so a node that runs for
days keeps the latest SAMPLES ticks. The node writes the summary once, at a clean stop (`loop_stats`,
docs/log-schema.md); `raftzmq bench hotpath` reads it.
"""
from __future__ import annotations

from typing import Any

from raftzmq.evidence.stats import quantile

__all__ = ["LoopStats", "SAMPLES"]

SAMPLES = 4096


class LoopStats:
    __slots__ = ("wakes", "ticks", "flood_pauses", "_late", "_next")

    def __init__(self) -> None:
        self.wakes = 0
        self.flood_pauses = 0  # the ROUTER left unread for a moment after a batch of nothing but hostile frames
        self.ticks = 0
        self._late: list[float] = []
        self._next = 0

    def tick_late(self, seconds: float) -> None:
        """A timer meant for t fired at t + seconds."""
        self.ticks += 1
        if len(self._late) < SAMPLES:
            self._late.append(seconds)
        else:
            self._late[self._next] = seconds
            self._next = (self._next + 1) % SAMPLES

    def summary(self) -> dict[str, Any]:
        s = self._late
        pick = (lambda q: round(quantile(s, q) * 1e6)) if s else (lambda q: None)
        return {"wakes": self.wakes, "ticks": self.ticks, "flood_pauses": self.flood_pauses,
                "late_p50_us": pick(0.5), "late_p99_us": pick(0.99),
                "late_max_us": round(max(s) * 1e6) if s else None}
