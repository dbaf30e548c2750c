"""The longest time without a leader while a majority was up and connected, computed from a run's merged records.

Why this figure: a liveness claim only makes sense when it is possible. While most nodes are down, or the
network leaves no majority that can talk among itself (a majorities-ring has none), no leader is expected; the
interesting number is how long the cluster went leaderless when one *could* have been elected.

At every record the state is rebuilt from what the logs say:
- up: a node runs and is not paused (node_started .. node_killed/node_exited/node_failed; paused .. resumed);
- the network: the supervisor's `partition` groups, `link_cut` cuts, `heal` (loss and delay do not disconnect);
- a connected majority: a set of at least a majority of up nodes in which every two can talk both ways;
- a serving leader: an up node whose last role record is `became_leader`, inside such a set.
Time counts while a connected majority exists and no serving leader does. `cluster_stopping` ends the analysis.
"""
from __future__ import annotations

from collections.abc import Iterable
from itertools import combinations
from typing import Any

from raftzmq.protocol.quorum import majority

__all__ = ["longest_leaderless"]

_NOT_LEADER = ("became_follower", "became_candidate", "became_precandidate", "stepped_down", "node_stopping",
               "node_failed")
_RELEVANT = frozenset({"node_started", "became_leader", *_NOT_LEADER, "node_exited", "node_killed", "node_paused",
                       "node_resumed", "node_spawned", "partition", "link_cut", "heal"})
_BRUTE_FORCE_MAX = 11  # exact clique search up to here; beyond, a greedy search (may miss a majority)


class _State:
    def __init__(self, n: int) -> None:
        self.n = n
        self.up: set[int] = set()
        self.paused: set[int] = set()
        self.leaders: set[int] = set()
        self.groups: list[set[int]] | None = None
        self.cuts: set[tuple[int, int]] = set()

    def feed(self, rec: dict[str, Any]) -> None:
        event, node = rec["event"], int(rec.get("node", 0))
        if rec.get("by") == "node":
            if event == "node_started":
                self.up.add(node)
            elif event == "became_leader":
                self.leaders.add(node)
            elif event in _NOT_LEADER:
                self.leaders.discard(node)
            if event in ("node_stopping", "node_failed"):
                self.up.discard(node)
            return
        if event in ("node_exited", "node_failed") or (event == "node_killed" and rec.get("signal") == "SIGKILL"):
            self.up.discard(node)
            self.leaders.discard(node)
        elif event == "node_paused":
            self.paused.add(node)
        elif event in ("node_resumed", "node_spawned"):
            self.paused.discard(node)
        elif event == "partition":
            self.groups = [set(g) for g in rec.get("groups") or []] or None
        elif event == "link_cut":
            self.cuts = {(a, b) for a, b in rec.get("cuts", [])}
            if "groups" in rec:  # a shape replaces the partition
                self.groups = [set(g) for g in rec["groups"] or []] or None
        elif event == "heal":
            self.groups, self.cuts = None, set()

    def _talk(self, a: int, b: int) -> bool:
        if (a, b) in self.cuts or (b, a) in self.cuts:
            return False
        if self.groups is None:
            return True
        ga = next((i for i, g in enumerate(self.groups) if a in g), -1)
        return ga == next((i for i, g in enumerate(self.groups) if b in g), -1)

    def _clique_with(self, must: int | None) -> bool:
        live = sorted(self.up - self.paused)
        need = majority(self.n)
        base = [] if must is None else [must]
        rest = [x for x in live if x != must]
        if len(base) + len(rest) < need:
            return False
        if len(live) > _BRUTE_FORCE_MAX:
            return self._greedy(base, rest, need)
        for extra in combinations(rest, need - len(base)):
            group = base + list(extra)
            if all(self._talk(a, b) for a, b in combinations(group, 2)):
                return True
        return False

    def _greedy(self, base: list[int], rest: list[int], need: int) -> bool:
        group = list(base)
        for x in rest:
            if all(self._talk(x, g) for g in group):
                group.append(x)
        return len(group) >= need

    def leaderless_but_possible(self) -> bool:
        if not self._clique_with(None):
            return False
        serving = [l for l in self.leaders if l in self.up and l not in self.paused]
        return not any(self._clique_with(l) for l in serving)


def longest_leaderless(records: Iterable[dict[str, Any]], cluster_size: int) -> float:
    """Seconds of the longest stretch with a connected majority up and no leader serving it."""
    state = _State(cluster_size)
    longest, since = 0.0, None
    last_ns = None
    for rec in records:
        if rec["event"] == "cluster_stopping":
            break
        if rec["event"] not in _RELEVANT:
            continue
        state.feed(rec)
        last_ns = rec["mono_ns"]
        if state.leaderless_but_possible():
            since = rec["mono_ns"] if since is None else since
        elif since is not None:
            longest, since = max(longest, (rec["mono_ns"] - since) / 1e9), None
    if since is not None and last_ns is not None:
        longest = max(longest, (last_ns - since) / 1e9)
    return round(longest, 3)
