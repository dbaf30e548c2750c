"""An outsider: a process with its own CURVE keypair that connects to every node of a run like a member and
sends well-formed frames claiming other members, with a far higher term, plus random bytes, for a while.

    python tests/outsider.py RUN_DIR SECONDS      (run it inside a network namespace with `ip netns exec`)
Prints its public key on the first line of stdout.
"""
from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

import zmq

from raftzmq.protocol import AppendEntries, Codec, RequestVote, VoteResponse
from raftzmq.runtime.node import curve


def main(run_dir: str, seconds: float) -> None:
    doc = json.loads((Path(run_dir) / "cluster.json").read_text())
    keypair = curve.generate_keypair()
    print(keypair.public.decode(), flush=True)
    ctx = zmq.Context()
    socks = {}
    for n, ep in doc["endpoints"].items():
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        curve.make_client(s, keypair, doc["public_keys"][n].encode())
        s.connect(ep)
        socks[int(n)] = s
    rng = random.Random(14)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for dst, sock in socks.items():
            src = rng.choice([m for m in socks if m != dst])
            for frame in (Codec.encode(AppendEntries(10_000, src, dst)),
                          Codec.encode(RequestVote(10_000, src, dst, prevote=False)),
                          Codec.encode(VoteResponse(10_000, src, dst, granted=True, prevote=False)),
                          bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 120)))):
                try:
                    sock.send(frame, zmq.NOBLOCK)
                except zmq.Again:
                    pass
        time.sleep(0.02)  # a steady trickle, not a flood: this measures authentication, not overload
    ctx.destroy(linger=0)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
