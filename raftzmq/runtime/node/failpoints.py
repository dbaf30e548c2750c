"""Named failpoints: a node SIGKILLs itself at an exact moment of applying an Output (docs/CONTRACTS.md).

Armed through the environment: ``RAFTZMQ_FAILPOINTS="N[@K]:name[,N[@K]:name...]"`` arms `name` on node N,
optionally only in incarnation K. Names: ``before_persist``, ``before_rename`` (the new state is written to
the temp file and synced, the state file not yet replaced), ``after_persist_before_send``, ``after_send``.
The supervisor can also arm one in a running node (`raftzmq failpoint`, over netctl: runtime/node/nodefaults.py).

A SIGKILL (not an exception, not exit()) is the point: no finally blocks, no atexit, no socket flushing —
exactly what a power cut or OOM kill leaves behind, minus the page cache (see STYLE.md).
"""
from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["ENV_VAR", "NAMES", "FailpointError", "FailpointSpec", "Failpoints", "parse"]

ENV_VAR = "RAFTZMQ_FAILPOINTS"
NAMES = ("before_persist", "before_rename", "after_persist_before_send", "after_send")


class FailpointError(ValueError):
    """RAFTZMQ_FAILPOINTS does not parse; the message quotes the bad item."""


@dataclass(frozen=True, slots=True)
class FailpointSpec:
    node: int
    incarnation: int | None  # None: every incarnation
    name: str

    def matches(self, node: int, incarnation: int) -> bool:
        return self.node == node and (self.incarnation is None or self.incarnation == incarnation)


def _positive_int(text: str, what: str, item: str) -> int:
    if not text.isdigit() or int(text) < 1:  # isdigit: no sign, no spaces, no "1_0"
        raise FailpointError(f"{ENV_VAR}: {what} must be a positive integer in {item!r}")
    return int(text)


def parse(spec: str) -> list[FailpointSpec]:
    """Parse the variable's value. Empty or blank means none. Raises FailpointError on anything else odd."""
    out: list[FailpointSpec] = []
    if not spec.strip():
        return out
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            raise FailpointError(f"{ENV_VAR}: empty item in {spec!r} (stray comma?)")
        where, sep, name = item.partition(":")
        if not sep:
            raise FailpointError(f"{ENV_VAR}: expected N[@K]:name, got {item!r}")
        if name not in NAMES:
            raise FailpointError(f"{ENV_VAR}: unknown failpoint {name!r} in {item!r}; known: {', '.join(NAMES)}")
        node_text, at, inc_text = where.partition("@")
        node = _positive_int(node_text, "node id", item)
        incarnation = _positive_int(inc_text, "incarnation", item) if at else None
        out.append(FailpointSpec(node, incarnation, name))
    return out


class Failpoints:
    """The failpoints armed for one node incarnation. `hit(name)` kills the process if `name` is armed."""

    def __init__(self, specs: list[FailpointSpec], node: int, incarnation: int,
                 kill: Callable[[], None] | None = None) -> None:
        self.node, self.incarnation = node, incarnation
        self._from_env = frozenset(s.name for s in specs if s.matches(node, incarnation))
        self.armed = self._from_env
        self._kill = kill or _sigkill_self
        self.on_hit: Callable[[str], None] | None = None  # told the name just before the kill (the node logs it)

    def inject(self, names: list[str]) -> None:
        """Arm `names` in addition to the environment's (failpoints injected into a running node; a new list
        replaces the previous one)."""
        unknown = [n for n in names if n not in NAMES]
        if unknown:
            raise FailpointError(f"unknown failpoint {unknown[0]!r}; known: {', '.join(NAMES)}")
        self.armed = self._from_env | frozenset(names)

    @classmethod
    def from_env(cls, node: int, incarnation: int, env: Mapping[str, str] | None = None) -> Failpoints:
        env = os.environ if env is None else env
        return cls(parse(env.get(ENV_VAR, "")), node, incarnation)

    def hit(self, name: str, before_kill: Callable[[], None] | None = None) -> None:
        """Die here if `name` is armed. `before_kill` runs first (e.g. to let sent messages leave)."""
        if name not in NAMES:
            raise ValueError(f"unknown failpoint {name!r}")  # a typo in the caller must not silently never fire
        if name in self.armed:
            if self.on_hit is not None:
                self.on_hit(name)
            if before_kill is not None:
                before_kill()
            self._kill()

    def __bool__(self) -> bool:
        return bool(self.armed)


def _sigkill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
    raise SystemExit(137)  # unreachable on POSIX; keeps the "never returns" promise if SIGKILL is unavailable
