"""Network faults applied inside a node: partitions, loss, delay (with jitter). Pure: no sockets, no clock.

The supervisor publishes the wanted network state over netctl (docs/CONTRACTS.md); every node applies it to
its own traffic. Partitions are enforced on both ends (a sender drops what would cross a partition, a receiver
drops what arrives across one), so a partition holds as soon as either side has the new state. Loss and delay
apply to sends only, so a lossy link loses each message once, not twice.

Time is passed in (`now`, seconds on the caller's monotonic clock) and randomness comes from an injected RNG
seeded by the node, so a test can pin both.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["NetState", "NetemError", "NetEm", "SEND", "DROP", "DELAYED", "MAX_DELAY_MS", "MAX_DELAYED"]

SEND, DROP, DELAYED = "send", "drop", "delayed"
MAX_DELAY_MS = 60_000  # same guard against seconds-vs-milliseconds typos as the config's timeouts
MAX_DELAYED = 1024  # bounded memory: beyond this a delayed message is dropped ("delay_queue_full")


class NetemError(ValueError):
    """A netctl "net" document that is not valid."""


class _Rng(Protocol):
    def random(self) -> float: ...
    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True, slots=True)
class NetState:
    version: int = -1  # -1: nothing applied yet; any published version (>= 0) is newer
    groups: tuple[frozenset[int], ...] | None = None
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0

    @classmethod
    def from_doc(cls, doc: Any) -> NetState:
        """Validate a netctl/net.json document: {"type": "net", "version", "groups", "loss", "delay_ms", ...}."""
        if not isinstance(doc, dict):
            raise NetemError(f"expected an object, got {type(doc).__name__}")
        if doc.get("type", "net") != "net":
            raise NetemError(f"type must be 'net', got {doc.get('type')!r}")
        version = doc.get("version")
        if type(version) is not int or version < 0:
            raise NetemError(f"version must be an int >= 0, got {version!r}")
        groups = doc.get("groups")
        parsed: tuple[frozenset[int], ...] | None = None
        if groups is not None:
            if not isinstance(groups, list) or not all(isinstance(g, list) for g in groups):
                raise NetemError(f"groups must be null or a list of lists of node ids, got {groups!r}")
            seen: set[int] = set()
            for g in groups:
                for n in g:
                    if type(n) is not int or n < 1:
                        raise NetemError(f"groups: bad node id {n!r}")
                    if n in seen:
                        raise NetemError(f"groups: node {n} is in more than one group")
                    seen.add(n)
            parsed = tuple(frozenset(g) for g in groups)
        loss = _number(doc, "loss", 0.0, 1.0)
        delay = _number(doc, "delay_ms", 0.0, MAX_DELAY_MS)
        jitter = _number(doc, "jitter_ms", 0.0, MAX_DELAY_MS)
        return cls(version, parsed, float(loss), float(delay), float(jitter))

    def to_fields(self) -> dict[str, Any]:
        """For log records (net_applied)."""
        groups = None if self.groups is None else [sorted(g) for g in self.groups]
        return {"version": self.version, "groups": groups, "loss": self.loss, "delay_ms": self.delay_ms,
                "jitter_ms": self.jitter_ms}


def _number(doc: dict[str, Any], key: str, low: float, high: float) -> float:
    v = doc.get(key, 0)
    if type(v) not in (int, float) or not math.isfinite(v) or not low <= v <= high:
        raise NetemError(f"{key} must be a number in [{low:g}, {high:g}], got {v!r}")
    return v


class NetEm:
    """Current network state for node `node_id` plus its queue of delayed sends.

    Messages are anything with `.src`/`.dst` (protocol messages). `route(msg, now)` decides at send time;
    delayed messages come back from `pop_due(now)` and are re-checked against the partition then (a partition
    that appears while a message is "in flight" cuts it).
    """

    def __init__(self, node_id: int, rng: _Rng, max_delayed: int = MAX_DELAYED) -> None:
        self.node_id = node_id
        self.rng = rng
        self.state = NetState()
        self.max_delayed = max_delayed
        self._delayed: list[tuple[float, int, Any]] = []  # heap of (due, seq, msg)
        self._seq = 0

    # ------------------------------------------------------------------ state

    def apply(self, doc_or_state: Any) -> bool:
        """Adopt a new state if its version is newer than the current one. Returns True if adopted.

        Raises NetemError for an invalid document (the current state is kept)."""
        state = doc_or_state if isinstance(doc_or_state, NetState) else NetState.from_doc(doc_or_state)
        if state.version <= self.state.version:
            return False
        self.state = state
        return True

    def allows(self, src: int, dst: int) -> bool:
        """False when src and dst are in different partition groups. Nodes listed in no group together form
        one more implicit group, so `[[1], [2, 3]]` in a 5-node cluster means {1}, {2, 3}, {4, 5}."""
        groups = self.state.groups
        if groups is None:
            return True
        return self._group_of(src, groups) == self._group_of(dst, groups)

    @staticmethod
    def _group_of(node: int, groups: Iterable[frozenset[int]]) -> int:
        for i, g in enumerate(groups):
            if node in g:
                return i
        return -1

    # ------------------------------------------------------------------ sending

    def route(self, msg: Any, now: float) -> tuple[str, str | None]:
        """(SEND, None) | (DROP, "partition" | "loss" | "delay_queue_full") | (DELAYED, None)."""
        if not self.allows(msg.src, msg.dst):
            return DROP, "partition"
        st = self.state
        if st.loss > 0.0 and self.rng.random() < st.loss:
            return DROP, "loss"
        if st.delay_ms <= 0.0 and st.jitter_ms <= 0.0:
            return SEND, None
        delay = st.delay_ms
        if st.jitter_ms > 0.0:
            delay = max(0.0, delay + self.rng.uniform(-st.jitter_ms, st.jitter_ms))
        if len(self._delayed) >= self.max_delayed:
            return DROP, "delay_queue_full"
        self._seq += 1
        heapq.heappush(self._delayed, (now + delay / 1000.0, self._seq, msg))
        return DELAYED, None

    @property
    def next_due(self) -> float | None:
        """When the earliest delayed message is due (for the poll timeout), or None."""
        return self._delayed[0][0] if self._delayed else None

    @property
    def delayed_count(self) -> int:
        return len(self._delayed)

    def pop_due(self, now: float) -> tuple[list[Any], list[Any]]:
        """Delayed messages whose time has come: (to send now, dropped because a partition now separates us)."""
        ready: list[Any] = []
        cut: list[Any] = []
        while self._delayed and self._delayed[0][0] <= now:
            _, _, msg = heapq.heappop(self._delayed)
            (ready if self.allows(msg.src, msg.dst) else cut).append(msg)
        return ready, cut
