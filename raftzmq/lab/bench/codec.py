"""`raftzmq bench codec`: what one message costs to encode and decode, per wire encoding, for a heartbeat and for
an AppendEntries carrying a batch (100 x 1 KB by default). The numbers chose wire version 4 (docs/benchmarks.md,
"Wire encoding").

Candidates (each decodes into validated messages, as a node must):
  packed        the codec (protocol/codec.py, v4): one frame, big-endian header, entry headers, then the data
  packed+frame  the same header and entry headers, the entries' data in a second ZeroMQ frame (multipart)
  json          the v3 style: one compact JSON object, entries as [index, term, base64 data]
  json-v3       the previous wire exactly (heartbeat only: it cannot carry entries), for the no-regression ratio
The heartbeat is also measured through the codec's caches (`packed cached`, `json-v3 cached`): an idle cluster
sends the same heartbeat over and over, and both codecs remember small frames.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Callable
from typing import Any

from raftzmq.evidence.stats import median
from raftzmq.protocol.codec import ENTRY, LAYOUTS, WIRE_VERSION, Codec
from raftzmq.protocol.messages import AppendEntries, Entry, Message

__all__ = ["CANDIDATES", "measure", "heartbeat", "batch"]

MEMBERS = (1, 2, 3)


def heartbeat() -> AppendEntries:
    return AppendEntries(7, 1, 2, prev_index=1000, prev_term=7, commit=1000)


def batch(entries: int = 100, size: int = 1024) -> AppendEntries:
    return AppendEntries(7, 1, 2, prev_index=1000, prev_term=7, commit=1000,
                         entries=tuple(Entry(1001 + i, 7, bytes([i % 256]) * size) for i in range(entries)))


# ------------------------------------------------------------------ packed + a second frame for the data

_AE = LAYOUTS["append_entries"].struct


def _mp_encode(msg: AppendEntries) -> list[bytes]:
    head = [_AE.pack(WIRE_VERSION, 3, msg.term, msg.src, msg.dst, msg.prev_index, msg.prev_term, len(msg.entries),
                     msg.commit, msg.round)]
    head += [ENTRY.pack(e.index, e.term, len(e.data)) for e in msg.entries]
    return [b"".join(head), b"".join(e.data for e in msg.entries)]


def _mp_decode(parts: list[bytes]) -> AppendEntries:
    head, data = parts
    _, _, term, src, dst, pi, pt, n, commit, rnd = _AE.unpack_from(head)
    if len(head) != _AE.size + ENTRY.size * n:
        raise ValueError("bad length")
    entries, off = [], 0
    for index, eterm, length in ENTRY.iter_unpack(memoryview(head)[_AE.size:]):
        entries.append(Entry(index, eterm, data[off:off + length]))
        off += length
    if off != len(data):
        raise ValueError("bad data length")
    return AppendEntries(term, src, dst, prev_index=pi, prev_term=pt, entries=tuple(entries), commit=commit,
                         round=rnd)


# ------------------------------------------------------------------ JSON, entries as base64

_ENC = json.JSONEncoder(separators=(",", ":"))
_DEC = json.JSONDecoder()


def _json_encode(msg: AppendEntries) -> bytes:
    return _ENC.encode({"v": 4, "k": "append_entries", "t": msg.term, "s": msg.src, "d": msg.dst,
                        "pi": msg.prev_index, "pt": msg.prev_term, "c": msg.commit, "r": msg.round,
                        "e": [[e.index, e.term, base64.b64encode(e.data).decode("ascii")] for e in msg.entries]}
                       ).encode()


def _json_decode(frame: bytes) -> AppendEntries:
    doc = _DEC.decode(frame.decode("utf-8"))
    try:
        entries = tuple(Entry(i, t, base64.b64decode(d, validate=True)) for i, t, d in doc["e"])
    except binascii.Error:
        raise ValueError("bad base64") from None
    return AppendEntries(doc["t"], doc["s"], doc["d"], prev_index=doc["pi"], prev_term=doc["pt"], entries=entries,
                         commit=doc["c"], round=doc["r"])


# ------------------------------------------------------------------ the previous wire (v3), heartbeat only

class _V3:
    """protocol/codec.py as of wire version 3, for an AppendEntries heartbeat (no fields beyond the header)."""

    def __init__(self) -> None:
        self.members, self.self_id = frozenset(MEMBERS), 2
        self.frames: dict[Any, bytes] = {}
        self.messages: dict[bytes, Message] = {}

    @staticmethod
    def encode(msg: Message) -> bytes:
        return _ENC.encode({"v": 3, "k": msg.kind, "t": msg.term, "s": msg.src, "d": msg.dst}).encode()

    def decode(self, frame: bytes) -> Message:
        if len(frame) > 256:
            raise ValueError("too_large")
        doc = _DEC.decode(frame.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("v") != 3 or type(doc.get("v")) is not int:
            raise ValueError("bad_version")
        if doc.get("k") != "append_entries" or set(doc) != {"v", "k", "t", "s", "d"}:
            raise ValueError("bad_fields")
        term, src, dst = doc["t"], doc["s"], doc["d"]
        if type(term) is not int or not 0 <= term <= 2**63 - 1 or type(src) is not int or src not in self.members \
                or src == self.self_id or type(dst) is not int or dst != self.self_id:
            raise ValueError("bad ids")
        return AppendEntries(term=term, src=src, dst=dst)

    def encode_cached(self, msg: Message) -> bytes:  # v3's Codec.encode_cached, line for line
        frame = self.frames.get(msg)
        if frame is None:
            if len(self.frames) >= 1024:
                self.frames.clear()
            frame = self.frames[msg] = self.encode(msg)
        return frame

    def decode_cached(self, frame: bytes) -> Message:  # v3's Codec.decode, line for line
        if type(frame) is not bytes:
            return self.decode(frame)
        msg = self.messages.get(frame)
        if msg is None:
            msg = self.decode(frame)
            if len(self.messages) >= 1024:
                self.messages.clear()
            self.messages[frame] = msg
        return msg


def _candidates() -> dict[str, Callable[[AppendEntries], tuple[Callable[[], object], int] | None]]:
    codec, cached_codec, v3 = Codec(MEMBERS, 2), Codec(MEMBERS, 2), _V3()

    def packed(m: AppendEntries) -> tuple[Callable[[], object], int]:
        return (lambda: codec._decode(Codec.encode(m))), len(Codec.encode(m))

    def packed_cached(m: AppendEntries) -> tuple[Callable[[], object], int] | None:
        if m.entries:
            return None
        return (lambda: cached_codec.decode(cached_codec.encode_cached(m))), len(Codec.encode(m))

    def packed_frame(m: AppendEntries) -> tuple[Callable[[], object], int]:
        return (lambda: _mp_decode(_mp_encode(m))), sum(map(len, _mp_encode(m)))

    def json_(m: AppendEntries) -> tuple[Callable[[], object], int]:
        return (lambda: _json_decode(_json_encode(m))), len(_json_encode(m))

    def json_v3(m: AppendEntries) -> tuple[Callable[[], object], int] | None:
        if m.entries:
            return None
        hb = AppendEntries(m.term, m.src, m.dst)
        return (lambda: v3.decode(v3.encode(hb))), len(v3.encode(hb))

    def json_v3_cached(m: AppendEntries) -> tuple[Callable[[], object], int] | None:
        if m.entries:
            return None
        hb = AppendEntries(m.term, m.src, m.dst)
        return (lambda: v3.decode_cached(v3.encode_cached(hb))), len(v3.encode(hb))

    return {"packed": packed, "packed+frame": packed_frame, "json": json_, "json-v3": json_v3,
            "packed cached": packed_cached, "json-v3 cached": json_v3_cached}


CANDIDATES = ("packed", "packed+frame", "json", "json-v3", "packed cached", "json-v3 cached")


def _time(fn: Callable[[], object], budget_s: float) -> float:
    """Microseconds per call: as many calls as fit in about `budget_s`."""
    n, t0 = 0, time.perf_counter()
    while True:
        for _ in range(16):
            fn()
        n += 16
        elapsed = time.perf_counter() - t0
        if elapsed >= budget_s:
            return elapsed / n * 1e6


def measure(*, runs: int = 7, entries: int = 100, entry_bytes: int = 1024, budget_s: float = 0.2,
            progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Median over `runs` of encode + decode microseconds per message, per candidate and workload. Each run
    times every candidate once, in turn, for about `budget_s` each."""
    if runs < 1 or entries < 1 or entry_bytes < 0:
        raise RuntimeError("--runs and --entries must be >= 1, --entry-bytes >= 0")
    workloads = {"heartbeat": heartbeat(), f"{entries} x {entry_bytes} B": batch(entries, entry_bytes)}
    makers = _candidates()
    rows: dict[str, dict[str, Any]] = {}
    for wname, msg in workloads.items():
        fns = {}
        for cname in CANDIDATES:
            made = makers[cname](msg)
            if made is not None:
                fns[cname] = made
                made[0]()  # warm the caches and check it works
        samples: dict[str, list[float]] = {c: [] for c in fns}
        for _ in range(runs):  # the candidates take turns in every run: a load that changes hits them all alike
            for cname, (fn, _size) in fns.items():
                samples[cname].append(_time(fn, budget_s))
        for cname, (_fn, size) in fns.items():
            rows.setdefault(wname, {})[cname] = {"us": round(median(samples[cname]), 2), "bytes": size,
                                                 "samples_us": [round(x, 2) for x in samples[cname]]}
            progress(f"bench codec: {wname}, {cname}: {rows[wname][cname]['us']} us")
    hb = rows["heartbeat"]
    return {"runs": runs, "results": rows,
            "heartbeat packed / json-v3": round(hb["packed"]["us"] / hb["json-v3"]["us"], 3),
            "heartbeat packed cached / json-v3 cached": round(hb["packed cached"]["us"]
                                                              / hb["json-v3 cached"]["us"], 3)}


def table(result: dict[str, Any]) -> str:
    """The markdown table docs/benchmarks.md shows."""
    lines = ["| encoding | " + " | ".join(f"{w} (us, bytes)" for w in result["results"]) + " |",
             "|---" * (1 + len(result["results"])) + "|"]
    for cname in CANDIDATES:
        cells = []
        for rows in result["results"].values():
            r = rows.get(cname)
            cells.append("-" if r is None else f"{r['us']:g} ({r['bytes']})")
        lines.append(f"| {cname} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

