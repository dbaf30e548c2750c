"""Link-level partition shapes as directed cuts (protocol/netmodel.py), for `raftzmq partition --ring/--bridge`,
the simplex-leader case and chaos. Pure: node ids in, a set of (src, dst) cuts out. Members are 1..n.

- majorities-ring (Jepsen): each node talks to itself and its nearest neighbours on a ring, as many as make a
  majority; every node sees a majority, but no two see the same one (lab/sim/faults.py, shared with the simulator).
- bridge (Jepsen): the other nodes split into two halves that cannot talk to each other; the bridge node talks
  to both, so only a majority that includes it exists.
- into(node): every link *into* the node cut; what it sends still arrives. A leader cut this way is the
  "simplex leader" of etcd-io/raft's report "leader election not triggered under simplex leader partitions".
"""
from __future__ import annotations

import random

from raftzmq.protocol.netmodel import Cuts
from raftzmq.lab.sim.faults import ring_cuts as _ring_cuts_of
from raftzmq.lab.sim.faults import ring_views

__all__ = ["ring_cuts", "bridge_cuts", "into_cuts"]


def ring_cuts(n: int, rng: random.Random | None = None) -> Cuts:
    """The majorities-ring over nodes 1..n: in id order, or in an order shuffled by `rng`."""
    return _ring_cuts_of(ring_views(n, rng))


def bridge_cuts(n: int, bridge: int) -> Cuts:
    """Nodes other than `bridge`, in id order, split into halves cut from each other (both directions)."""
    if not 1 <= bridge <= n:
        raise ValueError(f"bridge node {bridge} is not one of 1..{n}")
    rest = [m for m in range(1, n + 1) if m != bridge]
    first = set(rest[:len(rest) // 2])
    return frozenset((a, b) for a in rest for b in rest if (a in first) != (b in first))


def into_cuts(n: int, node: int) -> Cuts:
    """Every link into `node` (one way): it hears nobody, everybody hears it."""
    return frozenset((src, node) for src in range(1, n + 1) if src != node)
