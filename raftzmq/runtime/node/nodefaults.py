"""Faults the supervisor injects into running nodes: timer skew, failpoints, disk faults. One contract for both
ends: the supervisor keeps a FaultTable and publishes it over netctl; each node takes its own entry with
`entry_for` and applies it to its ports (clock.py, failpoints.py, diskfaults.py).

netctl message (republished with the network state, so a late subscriber still gets it):
  {"type": "faults", "version": k,
   "nodes": {"3": {"skew": 2.0, "incarnation": 4, "failpoints": ["before_persist"], "disk": "fsync:EIO"}}}
`skew` holds for the node whatever its incarnation (it is the node's clock); `failpoints` and `disk` only for the
named incarnation (each fires once, kills or stops the node, and must not fire again after a restart).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from raftzmq.runtime.node.clock import SkewedClock, SkewError, check_skew
from raftzmq.runtime.node.diskfaults import DiskFaultError, FaultyFileOps, check_fault
from raftzmq.runtime.node.failpoints import NAMES as FAILPOINT_NAMES
from raftzmq.runtime.node.failpoints import Failpoints

__all__ = ["FaultsError", "NodeFaults", "FaultTable", "FaultReceiver", "entry_for", "check_failpoint"]


class FaultsError(ValueError):
    """A faults message or request that is not valid."""


def check_failpoint(name: object) -> str:
    if not isinstance(name, str) or name not in FAILPOINT_NAMES:
        raise FaultsError(f"unknown failpoint {name!r}; known: {', '.join(FAILPOINT_NAMES)}")
    return name


@dataclass(slots=True)
class NodeFaults:
    skew: float = 1.0
    incarnation: int | None = None  # the incarnation `failpoints` and `disk` are armed for
    failpoints: list[str] = field(default_factory=list)
    disk: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return {"skew": self.skew, "incarnation": self.incarnation, "failpoints": list(self.failpoints),
                "disk": self.disk}

    def log_fields(self) -> dict[str, Any]:
        """For the node's `faults_applied` record (its own incarnation is on every record already)."""
        return {"skew": self.skew, "failpoints": list(self.failpoints), "disk": self.disk}

    @property
    def empty(self) -> bool:
        return self.skew == 1.0 and not self.failpoints and self.disk is None


class FaultTable:
    """The supervisor's side: what is injected where. Every change bumps `version`."""

    def __init__(self) -> None:
        self.version = 0
        self.nodes: dict[int, NodeFaults] = {}

    def _entry(self, node: int) -> NodeFaults:
        return self.nodes.setdefault(node, NodeFaults())

    def _arm_entry(self, node: int, incarnation: int) -> NodeFaults:
        entry = self._entry(node)
        if entry.incarnation != incarnation:  # arms for an older incarnation are void
            entry.incarnation, entry.failpoints, entry.disk = incarnation, [], None
        return entry

    def set_skew(self, node: int, factor: Any) -> None:
        try:
            self._entry(node).skew = check_skew(factor)
        except SkewError as exc:
            raise FaultsError(str(exc)) from None
        self._changed()

    def arm_failpoint(self, node: int, incarnation: int, name: Any) -> None:
        entry = self._arm_entry(node, incarnation)
        if check_failpoint(name) not in entry.failpoints:
            entry.failpoints.append(name)
        self._changed()

    def arm_disk(self, node: int, incarnation: int, fault: Any) -> None:
        try:
            self._arm_entry(node, incarnation).disk = check_fault(fault)
        except DiskFaultError as exc:
            raise FaultsError(str(exc)) from None
        self._changed()

    def drop_arms(self, node: int) -> bool:
        """The node's process exited: its failpoints and disk fault went with it (its skew stays).
        True if that changed anything."""
        entry = self.nodes.get(node)
        if entry is None or not (entry.failpoints or entry.disk):
            return False
        entry.incarnation, entry.failpoints, entry.disk = None, [], None
        self._changed()
        return True

    def clear(self) -> None:
        self.nodes.clear()
        self._changed()

    def _changed(self) -> None:
        self.version += 1

    def message(self) -> dict[str, Any]:
        return {"type": "faults", "version": self.version,
                "nodes": {str(n): e.to_doc() for n, e in sorted(self.nodes.items()) if not e.empty}}

    def summary(self) -> dict[str, dict[str, Any]]:
        """For `status`: per node, what is injected (skew != 1, pending failpoints and disk faults)."""
        return {str(n): e.to_doc() for n, e in sorted(self.nodes.items()) if not e.empty}


def entry_for(doc: Any, node: int, incarnation: int) -> tuple[int, NodeFaults]:
    """Node side: validate a faults message and return (version, what applies to this node incarnation)."""
    if not isinstance(doc, dict) or doc.get("type") != "faults":
        raise FaultsError("expected a faults message")
    version, nodes = doc.get("version"), doc.get("nodes")
    if type(version) is not int or version < 0 or not isinstance(nodes, dict):
        raise FaultsError(f"bad faults message: version {version!r}, nodes {type(nodes).__name__}")
    raw = nodes.get(str(node))
    if raw is None:
        return version, NodeFaults()
    if not isinstance(raw, dict):
        raise FaultsError(f"faults for node {node}: expected an object")
    try:
        entry = NodeFaults(skew=check_skew(raw.get("skew", 1.0)))
        if raw.get("incarnation") == incarnation:
            fps = raw.get("failpoints") or []
            if not isinstance(fps, list):
                raise FaultsError("failpoints must be a list")
            entry.failpoints = [check_failpoint(n) for n in fps]
            entry.disk = None if raw.get("disk") is None else check_fault(raw["disk"])
            entry.incarnation = incarnation
    except (SkewError, DiskFaultError) as exc:
        raise FaultsError(f"faults for node {node}: {exc}") from None
    return version, entry


class FaultReceiver:
    """Node side: applies this node's entry of each newer faults message to its clock, failpoints and disk."""

    def __init__(self, node: int, incarnation: int, clock: SkewedClock, failpoints: Failpoints,
                 disk: FaultyFileOps) -> None:
        self.node, self.incarnation = node, incarnation
        self.clock, self.failpoints, self.disk = clock, failpoints, disk
        self.version = -1
        self.applied = NodeFaults()

    def apply(self, doc: Any) -> NodeFaults | None:
        """Apply `doc` if it is newer; returns the new entry if anything changed for this node, else None.
        Raises FaultsError for an invalid message (nothing is changed then)."""
        version, entry = entry_for(doc, self.node, self.incarnation)
        if version <= self.version:
            return None
        self.version = version
        if entry == self.applied:
            return None
        self.clock.set_factor(entry.skew)
        self.failpoints.inject(entry.failpoints)
        self.disk.arm(entry.disk)
        self.applied = entry
        return entry
