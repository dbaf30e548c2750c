"""The network-fault model: one type, one validation, one version rule.

The supervisor publishes a NetModel (netctl, net.json), every node applies it to its own traffic (runtime/node/netem.py),
and the simulator drives its links and delays from it (lab/sim/simulator.py). Pure: no sockets, files or clocks.

What it says about a message from `src` to `dst`:
- `groups`: disjoint partition groups; nodes listed in no group form one more implicit group, so
  `[[1], [2, 3]]` in a 5-node cluster means {1}, {2, 3}, {4, 5}. Messages do not cross groups.
- `cuts`: directed links (src, dst) that carry nothing. A cut in one direction only is a one-way partition; cuts
  in both directions between chosen pairs express shapes groups cannot, such as a majorities-ring.
- `loss` (probability), `delay_ms` and `jitter_ms` (uniform half-width): applied once per message, on send.
- `version`: a node adopts a model only if it `supersedes` the one it holds, so a late or repeated publication
  never rolls the network back.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NetModel", "NetModelError", "MAX_DELAY_MS", "HEALED", "cuts_outside"]

MAX_DELAY_MS = 60_000  # same guard against seconds-vs-milliseconds typos as the config's timeouts
_DOC_KEYS = frozenset({"type", "version", "groups", "cuts", "loss", "delay_ms", "jitter_ms"})
_CONTAINERS = (list, tuple, set, frozenset)


class NetModelError(ValueError):
    """A network-fault description that is not valid; the message names the field."""


Groups = tuple[frozenset[int], ...]
Cuts = frozenset[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class NetModel:
    version: int = 0
    groups: Groups | None = None
    cuts: Cuts = frozenset()
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        if type(self.version) is not int or self.version < 0:
            raise NetModelError(f"version must be an int >= 0, got {self.version!r}")
        object.__setattr__(self, "groups", _groups(self.groups))
        object.__setattr__(self, "cuts", _cuts(self.cuts))
        for key, high in (("loss", 1.0), ("delay_ms", MAX_DELAY_MS), ("jitter_ms", MAX_DELAY_MS)):
            object.__setattr__(self, key, _number(key, getattr(self, key), high))

    # ------------------------------------------------------------------ documents (netctl, net.json)

    @classmethod
    def from_doc(cls, doc: Any) -> NetModel:
        """Validate a netctl/net.json document: {"type": "net", "version", "groups", "cuts", "loss", ...}.
        Missing fields take their defaults, except `version`, which a document must carry."""
        if not isinstance(doc, dict):
            raise NetModelError(f"expected an object, got {type(doc).__name__}")
        if doc.get("type", "net") != "net":
            raise NetModelError(f"type must be 'net', got {doc.get('type')!r}")
        unknown = sorted(map(str, set(doc) - _DOC_KEYS))
        if unknown:
            raise NetModelError(f"unknown field(s) {', '.join(unknown)}")
        if "version" not in doc:
            raise NetModelError("version is missing")
        fields = {k: v for k, v in doc.items() if k != "type" and not (k in ("groups", "cuts") and v is None)}
        return cls(**fields)

    def to_doc(self) -> dict[str, Any]:
        """The JSON form, for netctl, net.json and log records; from_doc(to_doc()) == self."""
        groups = None if self.groups is None else [sorted(g) for g in self.groups]
        return {"type": "net", "version": self.version, "groups": groups,
                "cuts": [list(c) for c in sorted(self.cuts)], "loss": self.loss, "delay_ms": self.delay_ms,
                "jitter_ms": self.jitter_ms}

    # ------------------------------------------------------------------ rules

    def supersedes(self, current: NetModel | None) -> bool:
        """The one version rule: adopt only what is newer than what is held (None: nothing held yet)."""
        return current is None or self.version > current.version

    def changed(self, **values: Any) -> NetModel:
        """The next version with `values` replaced (validated like any model)."""
        return dataclasses.replace(self, version=self.version + 1, **values)

    def allows(self, src: int, dst: int) -> bool:
        """False when a partition or a cut stops messages from src to dst."""
        if (src, dst) in self.cuts:
            return False
        groups = self.groups
        return groups is None or _group_of(src, groups) == _group_of(dst, groups)

    def link_matrix(self, n: int) -> list[list[bool]]:
        """links[src][dst] for nodes 1..n (index 0 unused): the simulator's per-message lookup table."""
        # allows(a, b) for every pair, with each node's group looked up once (faults rebuild this often)
        ids, cuts, groups = range(n + 1), self.cuts, self.groups
        if groups is None:
            return [[(a, b) not in cuts for b in ids] for a in ids]
        group = [_group_of(a, groups) for a in ids]
        return [[(a, b) not in cuts and group[a] == group[b] for b in ids] for a in ids]

    @property
    def partitioned(self) -> bool:
        return self.groups is not None or bool(self.cuts)


def cuts_outside(views: Mapping[int, Iterable[int]]) -> Cuts:
    """Cut both directions between every two nodes neither of which sees the other (`views[a]`: what a sees).
    A majorities-ring (each node sees a different majority) is expressed this way."""
    nodes = sorted(views)
    sees = {a: set(views[a]) for a in nodes}
    return frozenset((a, b) for a in nodes for b in nodes
                     if a != b and b not in sees[a] and a not in sees[b])


def _group_of(node: int, groups: Groups) -> int:
    for i, g in enumerate(groups):
        if node in g:
            return i
    return -1


def _node_id(where: str, n: Any) -> int:
    if type(n) is not int or n < 1:
        raise NetModelError(f"{where}: bad node id {n!r}")
    return n


def _groups(raw: Any) -> Groups | None:
    if raw is None:
        return None
    if not isinstance(raw, _CONTAINERS) or not all(isinstance(g, _CONTAINERS) for g in raw):
        raise NetModelError(f"groups must be null or a list of lists of node ids, got {raw!r}"[:200])
    seen: set[int] = set()
    for g in raw:
        for n in g:
            if _node_id("groups", n) in seen:
                raise NetModelError(f"groups: node {n} is in more than one group")
            seen.add(n)
    return tuple(frozenset(g) for g in raw)


def _cuts(raw: Any) -> Cuts:
    if not isinstance(raw, _CONTAINERS) or not all(isinstance(c, _CONTAINERS) and len(c) == 2 for c in raw):
        raise NetModelError(f"cuts must be a list of [src, dst] pairs of node ids, got {raw!r}"[:200])
    pairs = [(_node_id("cuts", a), _node_id("cuts", b)) for a, b in raw]
    for a, b in pairs:
        if a == b:
            raise NetModelError(f"cuts: node {a} cannot be cut from itself")
    return frozenset(pairs)


def _number(key: str, v: Any, high: float) -> float:
    if type(v) not in (int, float) or not math.isfinite(v) or not 0 <= v <= high:
        raise NetModelError(f"{key} must be a number in [0, {high:g}], got {v!r}")
    return float(v)


HEALED = NetModel()  # version 0: no fault (what the supervisor starts with)
