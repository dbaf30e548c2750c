"""The start-up barrier: a cluster's first nodes hold their election timers until all of them are up.

Started together, N processes come up over a second or more (more under load), and a node whose timer fires
while most peers are still starting campaigns in vain, at a cost to everyone starting up. So the supervisor
writes `startup_hold` into cluster.json — `{"bound_ms": B, "incarnations": {"<id>": K, ...}}` — and a node whose
incarnation is the listed one does not run its election timer until the supervisor publishes `{"type":
"release", "first": F}` on netctl (two reconnect intervals after the connect step below), or until `bound_ms`
after its own start, whichever comes first: a lost release delays elections, never stops them.

The connect step (`{"type": "connect", "first": F}`, once every listed node has logged `node_started`) names F
already. F connects to every peer, the others only to F (the rest of the mesh once they hear a leader): the first
election needs the 2 (N - 1) connections to and from F, not all N (N - 1). F campaigns as soon as enough peers
have connected to it and it to them that a majority is reachable both ways (its ROUTER's handshakes, its DEALERs
writable; `connected_enough`), or `first_connect_bound_s` after the connect step, so its first round finds the
connections a majority needs; F's candidacy stays open for `first_election_patience_s`. The release then only
starts the others' patience (and names F again, or another node if F is gone; a node named only there campaigns
at once). The others keep holding until they hear a leader, or for that long. So the first election is one
election, not a storm of every node's timer firing while the votes of a large cluster are still being made
durable. A node answers every message meanwhile, and a node that campaigns anyway (TimeoutNow) is no longer
held. Nodes restarted later (a higher incarnation) never hold. See docs/CONTRACTS.md.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["HOLD_KEY", "hold_bound_ms", "first_election_patience_s", "first_connect_bound_s", "connected_enough",
           "hold_document", "held_until", "StartupHoldError"]

HOLD_KEY = "startup_hold"


class StartupHoldError(ValueError):
    pass


def hold_bound_ms(nodes: int) -> int:
    """How long a node waits for the release before it starts its timer anyway. The release only fails to come
    when a node of the start never comes up (hangs before node_started) or every republication is lost, so this
    is generous: well above the time a busy 2-core machine needs to start `nodes` processes from the forkserver
    (~10-35 ms each, docs/benchmarks.md)."""
    return 5000 + 100 * nodes


def first_election_patience_s(nodes: int) -> float:
    """After the release: how long the named first node keeps one candidacy open, and how long the others wait
    to hear a leader before their own timers run. One round of durable votes from `nodes` peers took up to 2.6 s
    for 101 nodes on this 2-core machine under load (docs/benchmarks.md), far beyond a 150-300 ms timeout."""
    return 1.0 + 0.03 * nodes


def first_connect_bound_s(nodes: int) -> float:
    """How long the node named at the connect step waits for its connections before it campaigns anyway (a peer
    that died during the start never connects). Loopback connects take milliseconds; `nodes` processes each
    making `nodes - 1` of them on a loaded 2-core machine took up to ~1 s for 51 (docs/benchmarks.md)."""
    return 0.5 + 0.02 * nodes


def connected_enough(nodes: int) -> int:
    """How many connections each way the first candidate waits for: the peers that can answer it (inbound) and
    those it can reach (outbound) are counted apart, not matched, so it waits until any peers missing from
    either count still leave a majority's worth in both (in ≥ k and out ≥ k among P = nodes - 1 peers share at
    least 2k - P; k = P - ⌊(P - (M - 1)) / 2⌋ makes that M - 1, M the majority). Waiting for all P would wait
    for the slowest of N × (N - 1) connections a loaded machine makes at once; a majority is what a vote needs."""
    peers, quorum_peers = nodes - 1, nodes // 2
    return peers - (peers - quorum_peers) // 2


def hold_document(incarnations: Mapping[int, int], nodes: int) -> dict[str, Any]:
    return {"bound_ms": hold_bound_ms(nodes), "incarnations": {str(n): k for n, k in incarnations.items()}}


def held_until(doc: Any, node_id: int, incarnation: int, now: float) -> float | None:
    """When this node stops waiting for the release (monotonic seconds), or None if it does not hold at all."""
    if doc is None:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("incarnations"), dict):
        raise StartupHoldError(f"{HOLD_KEY} must be an object with 'incarnations'")
    bound = doc.get("bound_ms")
    if type(bound) is not int or not 0 <= bound <= 600_000:
        raise StartupHoldError(f"{HOLD_KEY}.bound_ms must be an int in 0..600000, got {bound!r}")
    if doc["incarnations"].get(str(node_id)) != incarnation:
        return None
    return now + bound / 1000.0
