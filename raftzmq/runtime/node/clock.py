"""The node's clock port: what `now` the core is given, and how long a core duration takes in real time.

Timer skew (`raftzmq skew NODE FACTOR`, Jepsen's clock nemesis in the form that matters to Raft) lives here and
nowhere else: the core keeps its timeouts in its own seconds, and a node whose clock runs FACTOR times fast
hands the core a `now` that advances FACTOR seconds per real second. Its election timeouts and heartbeats then
fire FACTOR times as often in real time (a slow clock, FACTOR < 1, fires them less often). The core cannot tell;
the log records keep real monotonic time (they are the evidence, ordered across processes).

A change of factor is continuous: `now` never jumps and never goes backwards.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["SKEW_MIN", "SKEW_MAX", "SkewError", "SkewedClock", "check_skew"]

SKEW_MIN, SKEW_MAX = 0.1, 10.0  # beyond these a node is simply dead or flapping; nothing more to learn


class SkewError(ValueError):
    """A skew factor out of range."""


def check_skew(factor: object) -> float:
    if not (isinstance(factor, (int, float)) and type(factor) is not bool and math.isfinite(factor)
            and SKEW_MIN <= factor <= SKEW_MAX):
        raise SkewError(f"skew factor must be a number in [{SKEW_MIN:g}, {SKEW_MAX:g}], got {factor!r}")
    return float(factor)


class SkewedClock:
    """`now()` runs `factor` times as fast as `source` (default time.monotonic); factor 1 is the source itself."""

    def __init__(self, source: Callable[[], float] = time.monotonic, factor: float = 1.0) -> None:
        self._source = source
        self.factor = check_skew(factor)
        self._real0 = source()
        self._skewed0 = self._real0

    def now(self) -> float:
        return self._skewed0 + (self._source() - self._real0) * self.factor

    def set_factor(self, factor: float) -> None:
        factor = check_skew(factor)
        real = self._source()
        self._skewed0 = self._skewed0 + (real - self._real0) * self.factor  # rebase: now() is continuous
        self._real0, self.factor = real, factor

    def real_seconds(self, clock_seconds: float) -> float:
        """How long `clock_seconds` of this clock take in real time (for the poll timeout)."""
        return clock_seconds / self.factor
