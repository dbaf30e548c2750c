"""Network faults applied inside a node: partitions, one-way cuts, loss, delay (with jitter). Pure: no sockets,
no clock.

The supervisor publishes the wanted network state over netctl (docs/CONTRACTS.md) as a NetModel
(protocol/netmodel.py: its one validation and version rule); every node applies it to its own traffic.
Partitions and cuts are enforced on both ends (a sender drops what would cross one, a receiver drops what
arrives across one), so they hold as soon as either side has the new state; a cut is directed, so both ends
check the same (src, dst) pair. Loss and delay apply to sends only, so a lossy link loses each message once,
not twice.

Time is passed in (`now`, seconds on the caller's monotonic clock) and randomness comes from an injected RNG
seeded by the node, so a test can pin both.
"""
from __future__ import annotations

import heapq
import json
from typing import Any, Protocol

from raftzmq.protocol.netmodel import HEALED, NetModel, NetModelError
from raftzmq.protocol.units import ms_to_s

__all__ = ["NetModel", "NetModelError", "NetEm", "NetctlError", "decode_netctl", "SEND", "DROP", "DELAYED", "MAX_DELAYED"]

SEND, DROP, DELAYED = "send", "drop", "delayed"
_SEND_NOW = (SEND, None)
MAX_DELAYED = 1024  # bounded memory: beyond this a delayed message is dropped ("delay_queue_full")


class _Rng(Protocol):
    def random(self) -> float: ...
    def uniform(self, a: float, b: float) -> float: ...


class NetEm:
    """Current network state for node `node_id` plus its queue of delayed sends.

    Messages are anything with `.src`/`.dst` (protocol messages). `route(msg, now)` decides at send time;
    delayed messages come back from `pop_due(now)` and are re-checked against the partition then (a partition
    that appears while a message is "in flight" cuts it).
    """

    def __init__(self, node_id: int, rng: _Rng, max_delayed: int = MAX_DELAYED) -> None:
        self.node_id = node_id
        self.rng = rng
        self.state: NetModel | None = None  # None: nothing applied yet; any published model supersedes it
        self.max_delayed = max_delayed
        self._delayed: list[tuple[float, int, Any]] = []  # heap of (due, seq, msg)
        self._seq = 0
        # The common case, decided once per model instead of per message: no partition or cut (`_open`), and
        # also no loss or delay (`_clear`).
        self._open = self._clear = True

    # ------------------------------------------------------------------ state

    def apply(self, doc_or_model: Any) -> bool:
        """Adopt a model if it supersedes the current one. Returns True if adopted.

        Raises NetModelError for an invalid document (the current state is kept)."""
        model = doc_or_model if isinstance(doc_or_model, NetModel) else NetModel.from_doc(doc_or_model)
        if not model.supersedes(self.state):
            return False
        self.state = model
        self._open = model.groups is None and not model.cuts
        self._clear = self._open and model.loss <= 0.0 and model.delay_ms <= 0.0 and model.jitter_ms <= 0.0
        return True

    @property
    def model(self) -> NetModel:
        return HEALED if self.state is None else self.state

    def allows(self, src: int, dst: int) -> bool:
        """False when a partition or a cut stops messages from src to dst (see NetModel.allows)."""
        return self._open or self.state is None or self.state.allows(src, dst)

    # ------------------------------------------------------------------ sending

    def route(self, msg: Any, now: float) -> tuple[str, str | None]:
        """(SEND, None) | (DROP, "partition" | "loss" | "delay_queue_full") | (DELAYED, None)."""
        if self._clear:
            return _SEND_NOW
        if not self.allows(msg.src, msg.dst):
            return DROP, "partition"
        st = self.model
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
        heapq.heappush(self._delayed, (now + ms_to_s(delay), self._seq, msg))
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


class NetctlError(ValueError):
    """A netctl frame (or net.json) that is not a JSON object: rejected and logged, never a crash."""


MAX_NETCTL_BYTES = 64 * 1024  # a net document is small; the SUB socket's MAXMSGSIZE says the same


def decode_netctl(raw: bytes) -> dict[str, Any]:
    """bytes -> a JSON object, or NetctlError for anything else: too large, not UTF-8, not JSON, nested too
    deeply for the parser (RecursionError), or not an object."""
    if len(raw) > MAX_NETCTL_BYTES:
        raise NetctlError(f"{len(raw)} bytes > {MAX_NETCTL_BYTES}")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise NetctlError("JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise NetctlError(f"not JSON: {exc}"[:200]) from None
    if not isinstance(doc, dict):
        raise NetctlError(f"expected a JSON object, got {type(doc).__name__}")
    return doc
