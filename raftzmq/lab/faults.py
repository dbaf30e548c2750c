"""Fault vocabulary for the simulator: fault kinds, the network's delay model and partition shapes.

Partitions are returned as a link matrix `links[src][dst]` (index 0 unused) because a majorities-ring is not
a set of disjoint groups: node i talks to i±1..i±k around a ring, so each node sees a different majority.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = [
    "FAULT_KINDS",
    "DELAY_DISTS",
    "PARTITION_SHAPES",
    "parse_faults",
    "NetParams",
    "full_links",
    "links_from_groups",
    "ring_views",
    "links_from_views",
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


@dataclass(slots=True)
class NetParams:
    """Current network behaviour. Both distributions have mean `delay`; `jitter` is the half-width (uniform)
    or the standard deviation (exponential: delay - jitter + Exp(mean=jitter))."""

    delay: float = 0.005
    jitter: float = 0.004
    dist: str = "uniform"
    loss: float = 0.0
    dup: float = 0.0

    def sampler(self, rng: random.Random):
        """A zero-argument delay sampler with the parameters bound (the hot path calls it per message)."""
        r = rng.random
        if self.dist == "uniform":
            lo, width = max(1e-5, self.delay - self.jitter), 2 * self.jitter
            return lambda: lo + width * r()
        base, scale, log = max(1e-5, self.delay - self.jitter), self.jitter, math.log
        return lambda: base - scale * log(1.0 - r())


def full_links(n: int) -> list[list[bool]]:
    return [[True] * (n + 1) for _ in range(n + 1)]


def links_from_groups(n: int, groups: list[list[int]]) -> list[list[bool]]:
    where = [0] * (n + 1)
    for g, members in enumerate(groups):
        for node in members:
            where[node] = g
    return [[where[a] == where[b] for b in range(n + 1)] for a in range(n + 1)]


def ring_views(n: int, rng: random.Random) -> list[list[int]]:
    """Majorities-ring over a random ring order: each node sees itself and k neighbours each side, where
    2k + 1 is the smallest odd count >= a majority. Returns each node's view, indexed by position node-1."""
    order = list(range(1, n + 1))
    rng.shuffle(order)
    k = (n // 2 + 1) // 2
    views: list[list[int]] = [[] for _ in range(n)]
    for pos, node in enumerate(order):
        views[node - 1] = sorted({order[(pos + d) % n] for d in range(-k, k + 1)})
    return views


def links_from_views(n: int, views: list[list[int]]) -> list[list[bool]]:
    links = [[False] * (n + 1) for _ in range(n + 1)]
    for a in range(1, n + 1):
        for b in views[a - 1]:
            links[a][b] = links[b][a] = True
    return links


def random_split(n: int, rng: random.Random) -> list[list[int]]:
    nodes = list(range(1, n + 1))
    rng.shuffle(nodes)
    cut = rng.randint(1, n - 1)
    return [sorted(nodes[:cut]), sorted(nodes[cut:])]
