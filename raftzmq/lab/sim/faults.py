"""Fault vocabulary for the simulator: fault kinds, the network's delay model and partition shapes.

Partitions are NetModels (protocol/netmodel.py), the same type live nodes apply. A majorities-ring is not a set
of disjoint groups (node i talks to i±1..i±k around a ring, so each node sees a different majority): it is
expressed as cuts. The simulator looks links up in the model's `link_matrix`.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from raftzmq.protocol.netmodel import HEALED, NetModel, cuts_outside
from raftzmq.protocol.units import ms_to_s

__all__ = [
    "FAULT_KINDS",
    "DELAY_DISTS",
    "PARTITION_SHAPES",
    "parse_faults",
    "NetParams",
    "ring_views",
    "ring_cuts",
    "random_split",
]

FAULT_KINDS = ("crash", "pause", "partition", "loss", "dup", "delay")
DELAY_DISTS = ("uniform", "exponential")
PARTITION_SHAPES = ("split", "isolate", "isolate-leader", "majorities-ring")


def parse_faults(text: str) -> frozenset[str]:
    """"all", "none" or a comma list of FAULT_KINDS."""
    text = text.strip().lower()
    if text == "all":
        return frozenset(FAULT_KINDS)
    if text in ("none", ""):
        return frozenset()
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in FAULT_KINDS]
    if bad:
        raise ValueError(f"unknown fault kind(s) {', '.join(bad)}; choose from all, none, {', '.join(FAULT_KINDS)}")
    return frozenset(kinds)


@dataclass(frozen=True, slots=True)
class NetParams:
    """The simulator's network: the shared NetModel (partitions, cuts, loss, delay and jitter in ms, with the
    same validation as on live nodes) plus what only the simulator models: duplication and the delay
    distribution. Both distributions have mean `delay_ms`; `jitter_ms` is the half-width (uniform) or the
    standard deviation (exponential: delay - jitter + Exp(mean=jitter))."""

    model: NetModel = HEALED
    dup: float = 0.0
    dist: str = "uniform"

    def __post_init__(self) -> None:
        if self.dist not in DELAY_DISTS:
            raise ValueError(f"delay distribution must be one of {DELAY_DISTS}")
        if type(self.dup) not in (int, float) or not 0 <= self.dup <= 1:
            raise ValueError(f"dup must be a number in [0, 1], got {self.dup!r}")

    @property
    def loss(self) -> float:
        return self.model.loss

    def uniform_span(self) -> tuple[float, float] | None:
        """(low, width) in seconds of the uniform delay, drawn as low + width * rng.random(); None if exponential.
        (The simulator's send loop draws uniform delays itself with this, saving a call per message.)"""
        if self.dist != "uniform":
            return None
        delay, jitter = ms_to_s(self.model.delay_ms), ms_to_s(self.model.jitter_ms)
        return max(1e-5, delay - jitter), 2 * jitter

    def sampler(self, rng: random.Random) -> Callable[[], float]:
        """A zero-argument delay sampler in seconds, parameters bound."""
        r = rng.random
        span = self.uniform_span()
        if span is not None:
            lo, width = span
            return lambda: lo + width * r()
        delay, jitter = ms_to_s(self.model.delay_ms), ms_to_s(self.model.jitter_ms)
        base, scale, log = max(1e-5, delay - jitter), jitter, math.log
        return lambda: base - scale * log(1.0 - r())


def ring_views(n: int, rng: random.Random | None = None) -> list[list[int]]:
    """Majorities-ring over a random ring order (rng None: ids in order, 1-2-...-n-1, as `partition --ring`
    makes it): each node sees itself and k neighbours each side, where 2k + 1 is the smallest odd count >= a
    majority. Returns each node's view, indexed by position node-1."""
    order = list(range(1, n + 1))
    if rng is not None:
        rng.shuffle(order)
    k = (n // 2 + 1) // 2
    views: list[list[int]] = [[] for _ in range(n)]
    for pos, node in enumerate(order):
        views[node - 1] = sorted({order[(pos + d) % n] for d in range(-k, k + 1)})
    return views


def ring_cuts(views: list[list[int]]) -> frozenset[tuple[int, int]]:
    """The cuts (both directions) that leave each node talking only to its view (views[i] is node i+1's)."""
    return cuts_outside({i + 1: v for i, v in enumerate(views)})


def random_split(n: int, rng: random.Random) -> list[list[int]]:
    nodes = list(range(1, n + 1))
    rng.shuffle(nodes)
    cut = rng.randint(1, n - 1)
    return [sorted(nodes[:cut]), sorted(nodes[cut:])]
