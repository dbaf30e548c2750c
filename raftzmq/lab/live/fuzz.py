"""Hostile input against a live cluster: many malformed frames into every node's ROUTER, then proof that nothing
moved. Every node stays up (same pid, same incarnation), term and leader stay the same, and each node's logs
account for every frame it was sent (the sum of `count` over its `message_rejected` records) in a bounded number
of records (the transport's LogLimiter): hostile input cannot flood the disk.

Frames are generated from a seed. Each one is checked against the target's own codec before it is sent and
replaced if that codec would accept it, so every frame is one the node must reject: a well-formed frame that
claims to come from a member cannot be told from that member without authentication (README, Limits), and would
legitimately move terms. Frames beyond the transport's MAXMSGSIZE are not sent: ZeroMQ drops the connection
before the node sees them, so they exercise libzmq, not raftzmq (the transport tests cover that disconnect).
"""
from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from raftzmq.evidence.logfile import iter_records
from raftzmq.protocol import Codec, Message, ProtocolError
from raftzmq.protocol.codec import MAX_FRAME_BYTES, WIRE_VERSION
from raftzmq.protocol.messages import MAX_TERM, AppendEntries, RequestVote, VoteResponse
from raftzmq.runtime.cluster.control import ControlClient
from raftzmq.runtime.cluster.rundir import RunDir
from raftzmq.runtime.node.transport import MAXMSGSIZE

__all__ = ["CATEGORIES", "FuzzResult", "FrameFactory", "FuzzRefused", "run_fuzz"]

SEND_TIMEOUT_S = 10.0  # a node that takes no frame for this long is stuck: stop and report
SETTLE_TIMEOUT_S = 30.0  # for the rate-limited summaries to account for every frame


class FrameFactory:
    """Seeded generator of frames that node `target` must reject. `frame(category)` -> list of parts."""

    def __init__(self, rng: random.Random, members: tuple[int, ...]) -> None:
        self.rng, self.members = rng, members
        self.codecs = {m: Codec(members, m) for m in members}

    def _valid_doc(self, target: int) -> dict[str, Any]:
        rng = self.rng
        src = rng.choice([m for m in self.members if m != target] or [target])
        options: list[Message] = [RequestVote(1, src, target, prevote=rng.random() < 0.5),
                                  VoteResponse(1, src, target, granted=True, prevote=False),
                                  AppendEntries(1, src, target)]
        msg = rng.choice(options)
        return dict(json.loads(Codec.encode(msg)))

    def random_bytes(self, target: int) -> list[bytes]:
        return [self.rng.randbytes(self.rng.randint(0, MAX_FRAME_BYTES))]

    def truncated_json(self, target: int) -> list[bytes]:
        whole = json.dumps(self._valid_doc(target), separators=(",", ":")).encode()
        return [whole[:self.rng.randint(0, len(whole) - 1)]]

    def wrong_types(self, target: int) -> list[bytes]:
        doc = self._valid_doc(target)
        key = self.rng.choice(sorted(doc))
        doc[key] = self.rng.choice(["7", [1], {"x": 1}, 1.5, None, True, "" if key != "k" else 3])
        return [json.dumps(doc).encode()]

    def bad_numbers(self, target: int) -> list[bytes]:
        doc = self._valid_doc(target)
        key = self.rng.choice(["t", "s", "d"])
        doc[key] = self.rng.choice([-1, -2**63, MAX_TERM + 1, 2**64, 10**30, 10**300, 2**31, 0])
        return [json.dumps(doc).encode()]

    def unknown_ids(self, target: int) -> list[bytes]:
        doc = self._valid_doc(target)
        if self.rng.random() < 0.5:
            doc["s"] = self.rng.choice([0, len(self.members) + 1, 999, 2**31 - 1])
        else:  # addressed to someone else (a member or not)
            doc["d"] = self.rng.choice([m for m in (*self.members, 0, 999) if m != target])
        return [json.dumps(doc).encode()]

    def spoofed_ids(self, target: int) -> list[bytes]:
        doc = self._valid_doc(target)
        doc["s"] = target  # claims to come from the receiver itself
        return [json.dumps(doc).encode()]

    def malformed(self, target: int) -> list[bytes]:
        doc = self._valid_doc(target)
        text = json.dumps(doc)
        return [self.rng.choice([
            text.replace('"t":', '"t":NaN,"x":', 1).encode(), text[:-1].encode() + b',"t":1}',
            b"[1,2,3]", b'"request_vote"', b"42", b"null", text.encode("utf-16"), b"\xff\xfe" + text.encode(),
            json.dumps({**doc, "k": "install_snapshot"}).encode(), json.dumps({**doc, "v": WIRE_VERSION + 1}).encode(),
            json.dumps({**doc, "extra": 1}).encode(), b""])]

    def oversize(self, target: int) -> list[bytes]:
        doc = self._valid_doc(target)
        doc["pad"] = "x" * self.rng.randint(MAX_FRAME_BYTES, MAXMSGSIZE - 80)
        return [json.dumps(doc).encode()[:MAXMSGSIZE]]

    def many_parts(self, target: int) -> list[bytes]:
        good = Codec.encode(AppendEntries(1, [m for m in self.members if m != target][0], target))
        return [good] * self.rng.randint(2, 20)

    def frame(self, category: str, target: int) -> list[bytes]:
        for _ in range(100):
            parts = getattr(self, category)(target)
            if len(parts) > 1 or not self._accepted(parts[0], target):
                return parts
        raise RuntimeError(f"could not generate an invalid {category} frame")  # a generator bug, not input

    def _accepted(self, frame: bytes, target: int) -> bool:
        try:
            self.codecs[target].decode(frame)
        except ProtocolError:
            return False
        return True


CATEGORIES = ("random_bytes", "truncated_json", "wrong_types", "bad_numbers", "unknown_ids", "spoofed_ids",
              "malformed", "oversize", "many_parts")


@dataclass
class FuzzResult:
    run_dir: str
    seed: int
    frames: int = 0
    seconds: float = 0.0
    sent: Counter = field(default_factory=Counter)  # per category
    per_node: dict[int, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "seed": self.seed, "ok": self.ok, "frames": self.frames,
                "seconds": round(self.seconds, 2), "frames_per_s": round(self.frames / max(self.seconds, 1e-9)),
                "sent": dict(self.sent), "per_node": {str(n): v for n, v in self.per_node.items()},
                "before": self.before, "after": self.after, "problems": self.problems}


def _snapshot(client: ControlClient) -> dict[str, Any]:
    st = client.request("status")
    return {"leader": st["leader"], "term": st["term"],
            "nodes": {str(n["id"]): [n["pid"], n["incarnation"], n["alive"]] for n in st["nodes"]}}


def _rejects_since(path: Path, since_ns: int) -> tuple[int, int]:
    """(frames accounted for, records written) by message_rejected records after `since_ns`."""
    total = records = 0
    for rec, _ in iter_records(path, on_warning=lambda m: None):
        if rec["event"] == "message_rejected" and rec["mono_ns"] >= since_ns:
            total += rec.get("count", 1)
            records += 1
    return total, records


def _send_all(endpoints: dict[int, str], factory: FrameFactory, frames: int, rng: random.Random,
              result: FuzzResult, progress: Callable[[str], None]) -> Counter:
    ctx = zmq.Context()
    per_target: Counter = Counter()
    socks = {}
    try:
        for n, ep in endpoints.items():
            s = ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, int(SEND_TIMEOUT_S * 1000))  # close() delivers what is queued
            s.setsockopt(zmq.SNDHWM, 2000)
            s.connect(ep)
            socks[n] = s
        targets = sorted(endpoints)
        for i in range(frames):
            target, category = targets[i % len(targets)], rng.choice(CATEGORIES)
            sock = socks[target]
            if not sock.poll(int(SEND_TIMEOUT_S * 1000), zmq.POLLOUT):
                raise RuntimeError(f"node {target} took no frame for {SEND_TIMEOUT_S:g} s")
            sock.send_multipart(factory.frame(category, target), zmq.NOBLOCK)
            result.sent[category] += 1
            per_target[target] += 1
            if (i + 1) % 20_000 == 0:
                progress(f"fuzz: {i + 1} frames sent")
    finally:
        for s in socks.values():
            s.close()  # lingers until the queue is delivered (bounded)
        ctx.term()
    return per_target


class FuzzRefused(RuntimeError):
    """The cluster cannot be fuzzed as asked (the message says why)."""


def run_fuzz(run_dir: Path, *, frames: int = 100_000, seed: int | None = None,
             progress: Callable[[str], None] = lambda s: None) -> FuzzResult:
    """Fuzz the cluster running in `run_dir` (it must be running). Raises RunDirError/ControlError if none."""
    run = RunDir(run_dir)
    cluster = run.read_cluster()
    if cluster.get("auth") == "curve":  # its nodes drop unauthenticated connections at the handshake
        raise FuzzRefused(f"{run.path} was started with --auth curve: every node refuses connections without a "
                          "member's CURVE key at the handshake (logged as auth_rejected), so no fuzz frame would "
                          "reach a codec; fuzz a cluster started without --auth curve")
    client = ControlClient(run)
    endpoints = {int(k): v for k, v in cluster["endpoints"].items()}
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    result = FuzzResult(str(run_dir), seed)
    result.before = _snapshot(client)
    logs = {n: run.path / f"node-{n}.jsonl" for n in endpoints}
    sizes = {n: p.stat().st_size for n, p in logs.items()}
    start_ns, t0 = time.monotonic_ns(), time.monotonic()
    per_target = _send_all(endpoints, FrameFactory(rng, tuple(sorted(endpoints))), frames, rng, result, progress)
    result.frames = sum(per_target.values())
    result.seconds = time.monotonic() - t0
    progress(f"fuzz: {result.frames} frames in {result.seconds:.1f} s; waiting for the nodes to account for them")
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    counted: dict[int, tuple[int, int]] = {}
    while True:
        counted = {n: _rejects_since(logs[n], start_ns) for n in endpoints}
        if all(counted[n][0] >= per_target[n] for n in endpoints) or time.monotonic() >= deadline:
            break
        time.sleep(0.2)  # polling the nodes' logs with a deadline
    result.after = _snapshot(client)
    for n in endpoints:
        result.per_node[n] = {"sent": per_target[n], "rejected": counted[n][0], "records": counted[n][1],
                              "log_bytes_added": logs[n].stat().st_size - sizes[n]}
    result.problems = _problems(result)
    return result


def _problems(result: FuzzResult) -> list[str]:
    out = []
    before, after = result.before, result.after
    if (before["leader"], before["term"]) != (after["leader"], after["term"]):
        out.append(f"leader/term changed: {before['leader']}/{before['term']} -> {after['leader']}/{after['term']}")
    for n, was in before["nodes"].items():
        if after["nodes"][n] != was:
            out.append(f"node {n} changed: pid/incarnation/alive {was} -> {after['nodes'][n]}")
    for n, row in result.per_node.items():
        if row["rejected"] != row["sent"]:
            out.append(f"node {n}: {row['sent']} frames sent, {row['rejected']} accounted for in its log")
    return out
