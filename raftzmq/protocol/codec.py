"""Bytes <-> messages, with strict validation at the one boundary where bytes come in.

Wire format: a compact JSON object, e.g. {"v":3,"k":"request_vote","t":7,"s":2,"d":3,"p":true,"x":false,"h":false}.
Version 2 added the request_vote key "x" (a vote request made for a leadership transfer); version 3 the key "h"
(a pre-vote started by a disconnect hint; "h" true needs "p" true and "x" false).
JSON keeps frames readable in a packet capture; every field is checked (kind known, exact key set, integer
ranges, ids in the cluster, destination is us) so that nothing malformed or spoofed from outside the member
set ever reaches the core. Any failure raises ProtocolError and nothing else.
"""
from __future__ import annotations

import json
from collections.abc import Iterable

from .messages import (
    MAX_TERM,
    AppendEntries,
    AppendResponse,
    Message,
    RequestVote,
    TimeoutNow,
    VoteResponse,
)

__all__ = ["WIRE_VERSION", "MAX_FRAME_BYTES", "ProtocolError", "Codec"]

WIRE_VERSION = 3
MAX_FRAME_BYTES = 256  # the largest valid frame is ~90 bytes; anything bigger is not ours
CACHE_ENTRIES = 1024  # per direction; a cache that fills is emptied (new terms make the old entries useless)

# kind -> (class, {wire key: attribute} for the kind-specific boolean fields)
_FLAGS: dict[str, tuple[type[Message], dict[str, str]]] = {
    "request_vote": (RequestVote, {"p": "prevote", "x": "transfer", "h": "hint"}),
    "vote_response": (VoteResponse, {"g": "granted", "p": "prevote"}),
    "append_entries": (AppendEntries, {}),
    "append_response": (AppendResponse, {"ok": "success"}),
    "timeout_now": (TimeoutNow, {}),
}
_COMMON = {"v", "k", "t", "s", "d"}


class ProtocolError(ValueError):
    """A frame that is not a valid message for this node. `reason` is a short machine-friendly tag."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Codec:
    """Encodes any message; decodes only messages a member of `members` sent to `self_id`.

    An idle cluster sends the same few messages over and over (a leader's heartbeat to each peer, a follower's
    answer), so `encode_cached` and `decode` remember recent results: a message and its frame determine each
    other, and whether a frame is valid depends only on its bytes and this codec's fixed (members, self_id).
    Only valid frames are remembered; both caches are bounded.
    """

    def __init__(self, members: Iterable[int], self_id: int) -> None:
        self.members = frozenset(members)
        if self_id not in self.members:
            raise ValueError(f"node {self_id} is not a member of {sorted(self.members)}")
        self.self_id = self_id
        self._frames: dict[Message, bytes] = {}
        self._messages: dict[bytes, Message] = {}

    def encode_cached(self, msg: Message) -> bytes:
        frame = self._frames.get(msg)
        if frame is None:
            if len(self._frames) >= CACHE_ENTRIES:
                self._frames.clear()
            frame = self._frames[msg] = self.encode(msg)
        return frame

    @staticmethod
    def encode(msg: Message) -> bytes:
        doc: dict[str, object] = {"v": WIRE_VERSION, "k": msg.kind, "t": msg.term, "s": msg.src, "d": msg.dst}
        for key, attr in _FLAGS[msg.kind][1].items():
            doc[key] = getattr(msg, attr)
        return _ENCODER.encode(doc).encode()

    def decode(self, frame: bytes) -> Message:
        if type(frame) is not bytes:  # bytearray/memoryview: not hashable, not cached
            return self._decode(frame)
        msg = self._messages.get(frame)
        if msg is None:
            msg = self._decode(frame)
            if len(self._messages) >= CACHE_ENTRIES:
                self._messages.clear()
            self._messages[frame] = msg
        return msg

    def _decode(self, frame: bytes) -> Message:
        if len(frame) > MAX_FRAME_BYTES:
            raise ProtocolError("too_large", f"{len(frame)} bytes > {MAX_FRAME_BYTES}")
        try:
            # UTF-8 only (json.loads would sniff UTF-16/32), and a repeated key is an error, not "last one wins".
            doc = _DECODER.decode(frame.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError("not_json", str(exc)[:80]) from None
        if not isinstance(doc, dict):
            raise ProtocolError("not_object")
        if doc.get("v") != WIRE_VERSION or type(doc.get("v")) is not int:
            raise ProtocolError("bad_version", repr(doc.get("v"))[:20])
        kind = doc.get("k")
        if type(kind) is not str or kind not in _FLAGS:  # a list/dict kind is unhashable: no TypeError here
            raise ProtocolError("unknown_kind", repr(kind)[:40])
        cls, flags = _FLAGS[kind]
        if set(doc) != _COMMON | set(flags):
            raise ProtocolError("bad_fields", ",".join(sorted(map(str, set(doc) ^ (_COMMON | set(flags))))))
        term, src, dst = doc["t"], doc["s"], doc["d"]
        if type(term) is not int or not 0 <= term <= MAX_TERM:
            raise ProtocolError("bad_term", repr(term)[:30])
        if type(src) is not int or src not in self.members:
            raise ProtocolError("unknown_source", repr(src)[:30])
        if src == self.self_id:
            raise ProtocolError("spoofed_source", "claims to come from this node")
        if type(dst) is not int or dst != self.self_id:
            raise ProtocolError("wrong_destination", repr(dst)[:30])
        kwargs: dict[str, bool] = {}
        for key, attr in flags.items():
            if type(doc[key]) is not bool:
                raise ProtocolError("bad_flag", f"{key}={doc[key]!r}"[:40])
            kwargs[attr] = doc[key]
        try:
            return cls(term=term, src=src, dst=dst, **kwargs)
        except ValueError as exc:  # flags that contradict each other (a hint that is not a pre-vote)
            raise ProtocolError("bad_flag", str(exc)[:60]) from None


def _no_dup_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        raise ValueError("repeated key")
    return doc


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


# Built once: json.loads/dumps with options construct a new decoder/encoder on every call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_no_dup_keys)
_ENCODER = json.JSONEncoder(separators=(",", ":"))
