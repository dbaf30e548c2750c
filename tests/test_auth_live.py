"""A live cluster with `--auth curve` against an outsider holding its own keypair (issue 14, "Must show").

The same outsider against an unauthenticated cluster is the control: there its forged frames do move every
node's term, so the curve case passing is not an accident of the outsider being harmless.
"""
from __future__ import annotations

import json
import random

import pytest
import zmq

from cluster_harness import wait_for
from raftzmq.protocol import AppendEntries, Codec, RequestVote, VoteResponse
from raftzmq.runtime.node import curve

pytestmark = pytest.mark.cluster


class Outsider:
    """One process (this one) with its own CURVE keypair, connecting to every node like a member would."""

    def __init__(self, cluster_doc: dict, use_curve: bool) -> None:
        self.ctx = zmq.Context()
        self.keypair = curve.generate_keypair()
        self.socks = {}
        for n, ep in cluster_doc["endpoints"].items():
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            if use_curve:  # public keys are public: an outsider may know them all
                curve.make_client(s, self.keypair, cluster_doc["public_keys"][n].encode())
            s.connect(ep)
            self.socks[int(n)] = s

    def send_forged(self, term: int, rng: random.Random) -> None:
        """Well-formed frames claiming to come from other members, with a far higher term; some fuzz."""
        for dst, sock in self.socks.items():
            src = rng.choice([m for m in self.socks if m != dst])
            frames = [Codec.encode(AppendEntries(term, src, dst)),
                      Codec.encode(RequestVote(term, src, dst, prevote=False)),
                      Codec.encode(VoteResponse(term, src, dst, granted=True, prevote=False)),
                      bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 120)))]
            for frame in frames:
                try:
                    sock.send(frame, zmq.NOBLOCK)
                except zmq.Again:
                    pass

    def close(self) -> None:
        self.ctx.destroy(linger=0)


def _terms(status: dict) -> dict[int, int]:
    return {n["id"]: n["term"] for n in status["nodes"]}


@pytest.mark.parametrize("auth", ["curve", "none"])
def test_outsider_with_its_own_keypair_changes_no_term_only_with_curve(cluster, auth):
    cluster.start("--nodes", "5", "--auth", auth)
    before = cluster.wait_leader()
    doc = json.loads((cluster.run_dir / "cluster.json").read_text())
    outsider = Outsider(doc, use_curve=auth == "curve")
    rng = random.Random(14)
    forged_term = before["term"] + 50
    try:
        def effect():
            outsider.send_forged(forged_term, rng)
            if auth == "none":  # the control: the forged AppendEntries reach the core and move the terms
                return all(t >= forged_term for t in _terms(cluster.status()).values())
            rejected = {r["node"] for r in cluster.records("auth_rejected")}
            return rejected == set(range(1, 6))
        wait_for(effect, 10, "the outsider's effect on every node", interval=0.1)
        for _ in range(20):  # keep trying after the handshakes were refused: still nothing gets in
            outsider.send_forged(forged_term, rng)
    finally:
        outsider.close()
    if auth == "none":
        return
    after = cluster.status()
    assert _terms(after) == _terms(before) and after["leader"] == before["leader"], (before, after)
    assert not cluster.records("message_rejected"), "an outsider's frame reached a codec"
    rejected = cluster.records("auth_rejected")
    assert {r["reason"] for r in rejected} == {"unknown_key"}
    assert {r["public_key"] for r in rejected} == {outsider.keypair.public.decode()}
