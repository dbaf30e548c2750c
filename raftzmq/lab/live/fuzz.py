"""Hostile input against a live cluster: many malformed frames into every node's ROUTER, then proof that nothing
moved. Every node stays up (same pid, same incarnation), term and leader stay the same, and each node's logs
account for every frame it was sent (the sum of `count` over its `message_rejected` records, plus `frames` over
its `frames_throttled` records: frames beyond their connection's budget, dropped undecoded) in a bounded number
of records (the transport's LogLimiter and budgets): hostile input cannot flood the disk.

Frames are generated from a seed. Each one is checked against the target's own codec before it is sent and
replaced if that codec would accept it, so every frame is one the node must reject: a well-formed frame that
claims to come from a member cannot be told from that member without authentication (README, Limits), and would
legitimately move terms. Frames beyond the transport's MAXMSGSIZE are not sent: ZeroMQ drops the connection
before the node sees them, so they exercise libzmq, not raftzmq (the transport tests cover that disconnect).
Categories cover every field of wire version 4 (flags, ints, log positions, entries: counts beyond the limit,
an entry beyond the data limit, inconsistent indexes and terms, lengths that lie), truncation, trailing bytes,
other versions (a v3 JSON frame), oversized frames (rarely: each is ~1 MiB) and extra frames.
"""
from __future__ import annotations

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
from raftzmq.protocol.codec import ENTRY, LAYOUTS, MAX_FRAME_BYTES, WIRE_VERSION
from raftzmq.protocol.messages import (
    MAX_ENTRIES_PER_MESSAGE,
    MAX_ENTRY_DATA_BYTES,
    MAX_TERM,
    AppendEntries,
    AppendResponse,
    Entry,
    RequestVote,
    TimeoutNow,
    VoteResponse,
)
from raftzmq.runtime.cluster.control import ControlClient
from raftzmq.runtime.cluster.rundir import RunDir
from raftzmq.runtime.cluster.waiting import wait_until
from raftzmq.runtime.node.transport import MAXMSGSIZE

__all__ = ["CATEGORIES", "WEIGHTS", "FuzzResult", "FrameFactory", "FuzzRefused", "poke", "run_fuzz"]

SEND_TIMEOUT_S = 10.0  # a node that takes no frame for this long is stuck: stop and report
SETTLE_TIMEOUT_S = 30.0  # for the rate-limited summaries to account for every frame


class FrameFactory:
    """Seeded generator of frames that node `target` must reject. `frame(category, target)` -> list of parts.
    Frames are built from the codec's layouts (protocol/codec.py LAYOUTS, derived from messages.FIELDS), so every
    field of every kind gets its share of bad values."""

    def __init__(self, rng: random.Random, members: tuple[int, ...]) -> None:
        self.rng, self.members = rng, members
        self.codecs = {m: Codec(members, m) for m in members}

    def _valid(self, target: int) -> Message:
        rng = self.rng
        src = rng.choice([m for m in self.members if m != target] or [target])
        term = rng.randint(2, 9)
        prev = rng.randint(0, 50)
        pt = 0 if prev == 0 else rng.randint(1, term)
        entries = tuple(Entry(prev + 1 + i, max(pt, 1), rng.randbytes(rng.randint(0, 64)))
                        for i in range(rng.randint(0, 5)))
        options: list[Message] = [
            RequestVote(term, src, target, prevote=rng.random() < 0.5, last_log_index=prev, last_log_term=pt),
            VoteResponse(term, src, target, granted=True, prevote=False),
            AppendEntries(term, src, target, prev_index=prev, prev_term=pt, entries=entries, commit=prev),
            AppendResponse(term, src, target, success=False, index=prev, conflict_index=prev, conflict_term=pt),
            TimeoutNow(term, src, target)]
        return rng.choice(options)

    def _valid_frame(self, target: int) -> tuple[bytes, str]:
        msg = self._valid(target)
        return Codec.encode(msg), msg.kind

    def random_bytes(self, target: int) -> list[bytes]:
        return [self.rng.randbytes(self.rng.randint(0, 256))]

    def truncated(self, target: int) -> list[bytes]:
        whole, _ = self._valid_frame(target)
        return [whole[:self.rng.randint(0, len(whole) - 1)]]

    def bad_flags(self, target: int) -> list[bytes]:
        kind = self.rng.choice([k for k, lay in LAYOUTS.items() if lay.bools])
        frame = self._frame_of(kind, target)
        bits = self.rng.choice([1 << len(LAYOUTS[kind].bools), 0x80, 0xFF, 0b100, 0b110, 0b111])
        return [poke(frame, kind, "flags", bits)]

    def bad_numbers(self, target: int) -> list[bytes]:
        frame, kind = self._valid_frame(target)
        lay = LAYOUTS[kind]
        slot = self.rng.choice(["term", *lay.ints])
        value = self.rng.choice([MAX_TERM + 1, 2**64 - 1, 2**63 + 12345])
        if lay.ints and self.rng.random() < 0.3:  # in range, but an inconsistent log position
            slot, value = lay.ints[0], self.rng.choice([0, 7])
            other = lay.ints[1]
            frame = poke(frame, kind, other, 0 if value else 3)
        return [poke(frame, kind, slot, value)]

    def unknown_ids(self, target: int) -> list[bytes]:
        frame, kind = self._valid_frame(target)
        if self.rng.random() < 0.5:
            return [poke(frame, kind, "src", self.rng.choice([0, len(self.members) + 1, 999, 2**31 - 1, 2**32 - 1]))]
        # addressed to someone else (a member or not)
        return [poke(frame, kind, "dst", self.rng.choice([m for m in (*self.members, 0, 999) if m != target]))]

    def spoofed_ids(self, target: int) -> list[bytes]:
        frame, kind = self._valid_frame(target)
        return [poke(frame, kind, "src", target)]  # claims to come from the receiver itself

    def malformed(self, target: int) -> list[bytes]:
        frame, kind = self._valid_frame(target)
        v3 = b'{"v":3,"k":"append_entries","t":1,"s":%d,"d":%d}' % (self._peer(target), target)
        return [self.rng.choice([
            v3, bytes([WIRE_VERSION + 1]) + frame[1:], bytes([WIRE_VERSION - 1]) + frame[1:],
            frame[:1] + bytes([self.rng.choice([0, 6, 255])]) + frame[2:], frame + b"\0",
            frame + self.rng.randbytes(self.rng.randint(1, 64)), b"", frame[:1]])]

    def bad_entries(self, target: int) -> list[bytes]:
        rng, lay = self.rng, LAYOUTS["append_entries"]
        term, prev = rng.randint(2, 9), rng.randint(0, 50)
        pt = 0 if prev == 0 else rng.randint(1, term)
        n = rng.randint(1, 6)
        heads = [[prev + 1 + i, max(pt, 1), rng.randint(0, 16)] for i in range(n)]
        count = n
        i = rng.randrange(n)
        how = rng.randrange(8)
        if how == 0:
            heads[i][0] += rng.choice([1, 2, -1, 10**6])  # not consecutive from prev_index + 1
        elif how == 1:
            heads[i][1] = term + rng.randint(1, 5)  # newer than the message
        elif how == 2:
            heads[i][1] = 0  # term 0
        elif how == 3 and n > 1:
            heads[0][1], heads[-1][1] = term, 1  # terms decrease
        elif how == 4:
            count = rng.choice([MAX_ENTRIES_PER_MESSAGE + 1, 2**32 - 1, n + 1, n - 1])  # count lies
        elif how == 5:
            heads[i][2] = rng.choice([MAX_ENTRY_DATA_BYTES + 1, 2**32 - 1])  # one entry beyond the data limit
        else:  # data shorter or longer than the lengths say
            heads[i][2] += rng.choice([1, 5, -heads[i][2] - 1 if heads[i][2] else 1])
            heads[i][2] = max(heads[i][2], 0)
        data = b"".join(rng.randbytes(h[2] if how != 5 or j != i else 8) for j, h in enumerate(heads)
                        if h[2] < MAX_ENTRY_DATA_BYTES)
        if how >= 6:
            data = data[:-1] if rng.random() < 0.5 and data else data + b"x"
        fixed = lay.struct.pack(WIRE_VERSION, lay.code, term, self._peer(target), target, prev, pt, count, prev,
                                rng.randint(0, 9))  # (commit, round)
        return [fixed + b"".join(ENTRY.pack(*h) for h in heads) + data]

    def oversize(self, target: int) -> list[bytes]:
        frame, _ = self._valid_frame(target)
        size = self.rng.randint(MAX_FRAME_BYTES + 1, MAXMSGSIZE)
        return [frame + bytes(size - len(frame))]

    def many_parts(self, target: int) -> list[bytes]:
        good = Codec.encode(AppendEntries(1, self._peer(target), target))
        return [good] * self.rng.randint(2, 20)

    def _peer(self, target: int) -> int:
        return [m for m in self.members if m != target][0]

    def _frame_of(self, kind: str, target: int) -> bytes:
        while True:
            msg = self._valid(target)
            if msg.kind == kind:
                return Codec.encode(msg)

    def frame(self, category: str, target: int) -> list[bytes]:
        for _ in range(100):
            parts: list[bytes] = getattr(self, category)(target)
            if len(parts) > 1 or not self._accepted(parts[0], target):
                return parts
        raise RuntimeError(f"could not generate an invalid {category} frame")  # a generator bug, not input

    def _accepted(self, frame: bytes, target: int) -> bool:
        try:
            self.codecs[target].decode(frame)
        except ProtocolError:
            return False
        return True


def poke(frame: bytes, kind: str, slot: str, value: int) -> bytes:
    """`frame` (of `kind`) with one packed value of its fixed part replaced, unchecked. `slot`: a header field
    (version, kind, term, src, dst) or one of the layout's slots; the value is clipped to the slot's width."""
    lay = LAYOUTS[kind]
    names = ["version", "kind", "term", "src", "dst", *lay.slots]
    width = {"B": 2**8 - 1, "I": 2**32 - 1, "Q": 2**64 - 1}[lay.struct.format[1:][names.index(slot)]]
    vals = list(lay.struct.unpack_from(frame))
    vals[names.index(slot)] = min(max(value, 0), width)
    return lay.struct.pack(*vals) + frame[lay.size:]


CATEGORIES = ("random_bytes", "truncated", "bad_flags", "bad_numbers", "unknown_ids", "spoofed_ids",
              "malformed", "bad_entries", "oversize", "many_parts")
# Frames of ~1 MiB cost the sender and the node a copy each: a few of them exercise the limit as well as many.
WEIGHTS = tuple(0.02 if c == "oversize" else 1.0 for c in CATEGORIES)


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


def _rejects_since(path: Path, since_ns: int) -> tuple[int, int, int]:
    """(frames accounted for, records written, of those frames the ones throttled undecoded) by
    message_rejected and frames_throttled records after `since_ns`."""
    total = records = throttled = 0
    for rec, _ in iter_records(path, on_warning=lambda m: None):
        if rec["mono_ns"] < since_ns:
            continue
        if rec["event"] == "message_rejected":
            total += rec.get("count", 1)
            records += 1
        elif rec["event"] == "frames_throttled":
            total += rec["frames"]
            throttled += rec["frames"]
            records += 1
    return total, records, throttled


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
            target, category = targets[i % len(targets)], rng.choices(CATEGORIES, WEIGHTS)[0]
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

    def count() -> dict[int, tuple[int, int, int]]:
        return {n: _rejects_since(logs[n], start_ns) for n in endpoints}

    def settled() -> dict[int, tuple[int, int, int]] | None:
        c = count()
        return c if all(c[n][0] >= per_target[n] for n in endpoints) else None
    counted = wait_until(settled, SETTLE_TIMEOUT_S, interval=0.2) or count()
    result.after = _snapshot(client)
    for n in endpoints:
        result.per_node[n] = {"sent": per_target[n], "rejected": counted[n][0], "records": counted[n][1],
                              "throttled": counted[n][2],
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
