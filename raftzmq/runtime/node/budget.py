"""Per-connection budgets on a node's ROUTER: frames and bytes per second for each incoming connection.

A flood of hostile frames costs the node CPU for every frame it decodes, and on a shared 2-core machine that CPU
comes out of everyone's heartbeats: a flood that no codec accepts can still move leadership. So each
connection (ZeroMQ's routing id on the ROUTER: one per connection, whatever the frames claim) has two token
buckets, frames and bytes, refilled at `frames_per_s` and `bytes_per_s` up to one `burst_s` worth. A frame the
buckets cannot pay for is dropped before it is decoded, and counted. Legitimate peers stay far below the
defaults (an idle follower gets 20 frames a second from a 50 ms leader, a vote round one frame per peer).

The excess is never logged per frame: `summary()` hands back one record's fields per `window_s` at most
(`frames_throttled {frames, bytes, connections}`), which the transport writes through its LogLimiter.

Each bucket is kept as the time at which it would be full again (its "theoretical arrival time", as in the
generic cell rate algorithm: the same admissions as a token bucket, in one number per budget): a frame is admitted
while paying for it leaves that time at most `burst_s` ahead of now. An admitted frame costs a few comparisons and
two stores, and nothing is recomputed for a connection that stays within its budget (every legitimate one).

Throttled connections are kept in a bounded table (`max_connections`; beyond it, new connections share one
bucket), and entries idle for `idle_s` are dropped, so a process that opens connection after connection cannot
grow it without bound.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ConnectionBudgets", "FRAMES_PER_S", "BYTES_PER_S"]

FRAMES_PER_S = 10_000  # per connection; a Python node handles ~20-50 k frames a second in all
BYTES_PER_S = 64 * 2**20  # per connection (frames reach 1 MiB: a leader shipping entries may send tens of MB/s)
_OVERFLOW = b""  # the shared bucket of connections beyond max_connections


class ConnectionBudgets:
    def __init__(self, frames_per_s: float = FRAMES_PER_S, bytes_per_s: float = BYTES_PER_S, *,
                 burst_s: float = 1.0, window_s: float = 1.0, max_connections: int = 4096,
                 idle_s: float = 30.0) -> None:
        if frames_per_s <= 0 or bytes_per_s <= 0 or burst_s <= 0:
            raise ValueError("budgets and burst must be positive")
        self.frames_per_s, self.bytes_per_s = float(frames_per_s), float(bytes_per_s)
        self.max_frames, self.max_bytes = self.frames_per_s * burst_s, self.bytes_per_s * burst_s
        self.window_s, self.max_connections, self.idle_s = window_s, max_connections, idle_s
        # A frame costs 1/frames_per_s seconds of the frame budget and size/bytes_per_s of the byte budget; the
        # bucket holds burst_s seconds (the epsilon absorbs the rounding of summing many costs: 100 frames of
        # 1/100 s fill exactly one second).
        self._frame_cost, self._byte_cost = 1.0 / self.frames_per_s, 1.0 / self.bytes_per_s
        self._burst = burst_s * (1.0 + 1e-9)
        # routing id -> [frame budget full again at, byte budget full again at]
        self._buckets: dict[bytes, list[float]] = {}
        self.excess_frames = self.excess_bytes = 0  # since the last summary
        self._excess_conns: set[bytes] = set()
        self.total_frames = self.total_bytes = 0  # over the whole life
        self._window_start: float | None = None
        self._next_sweep = 0.0

    def admit(self, conn: bytes, size: int, now: float) -> bool:
        """Pay for one frame of `size` bytes from connection `conn`; False if its budget cannot (counted)."""
        b = self._buckets.get(conn)
        if b is None:
            if len(self._buckets) >= self.max_connections:
                conn = _OVERFLOW
                b = self._buckets.get(conn)
            if b is None:
                b = self._buckets[conn] = [now, now]
        f, y = b
        f = (f if f > now else now) + self._frame_cost
        y = (y if y > now else now) + size * self._byte_cost
        if f - now <= self._burst and y - now <= self._burst:
            b[0], b[1] = f, y
            return True
        self.excess_frames += 1
        self.excess_bytes += size
        self._excess_conns.add(conn)
        if self._window_start is None:
            self._window_start = now
        return False

    def summary(self, now: float, force: bool = False) -> dict[str, Any] | None:
        """The fields of one `frames_throttled` record for the excess since the last one, once its window has
        ended (or `force`, at a stop); None if there is nothing to report yet. Also forgets idle connections."""
        if now >= self._next_sweep:
            self._next_sweep = now + self.idle_s
            # A bucket full again idle_s ago: its connection sent nothing it had to pay for since (about) then.
            for conn in [c for c, b in self._buckets.items() if now - b[0] > self.idle_s]:
                del self._buckets[conn]
        if self._window_start is None or (not force and now - self._window_start < self.window_s):
            return None
        out = {"frames": self.excess_frames, "bytes": self.excess_bytes, "connections": len(self._excess_conns),
               "window_ms": round((now - self._window_start) * 1000)}
        self.total_frames += self.excess_frames
        self.total_bytes += self.excess_bytes
        self.excess_frames = self.excess_bytes = 0
        self._excess_conns.clear()
        self._window_start = None
        return out

    @property
    def pending_frames(self) -> int:
        return self.excess_frames

    @property
    def connections(self) -> int:
        return len(self._buckets)
