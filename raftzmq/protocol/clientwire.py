"""The raw client wire of a node's client endpoint (issue 18): propose an opaque command, ask a node where its log
is. Pure: frames in, frames out (docs/CONTRACTS.md, "Client endpoint").

A client is a DEALER (or REQ); each node's client endpoint is a ROUTER apart from the peer socket. A request is ONE
frame and its answer one frame sent back to the same routing id. The first byte tells the protocol: this wire is
`WIRE_TAG` (0x52, "R"); the KV wire (protocol/kvwire.py) starts with its own version byte (1), so one endpoint
serves both by looking at the first byte. Big-endian.

Request frame:
    u8  WIRE_TAG
    u64 request id     chosen by the client, echoed in the answer (a late answer to an earlier attempt is
                       recognised and dropped)
    u8  op             1 propose, 2 info, 3 stats
    u32 data length, data   (propose: the command, at most MAX_ENTRY_DATA_BYTES; info: empty)
    nothing after it

Response frame:
    u8  WIRE_TAG
    u64 request id     (0 when the request was too malformed to carry one)
    u8  status         STATUSES below
    u32 leader         the leader's node id when this node knows it, else 0
    u64 index, u64 term    propose ok: where the command was committed; info: the node's last index and term
    u64 commit         the node's commit index
    u16 + UTF-8        the leader's client endpoint when known, else empty
    u16 + UTF-8        a message (errors), at most MAX_MESSAGE_BYTES

Statuses:
    ok           propose: committed at (index, term); info: the answer; stats: the node's counters as compact
                 JSON in the message (messages sent per kind, syncs): cheap, for benchmarks and tests
    not_leader   this node does not lead: nothing was proposed; `leader`/`endpoint` name the leader when known
    busy         too many proposals are waiting at this node: nothing was proposed, try again later
    bad_request  malformed or oversized: nothing was proposed or changed
    dropped      the command was appended at (index, term) but another entry was committed at that index: it
                 will never be committed (a new leader replaced it); proposing it again is safe
    unknown      the node gave up waiting (it stopped leading, or the wait outlived its bound) without learning
                 the command's fate: it may still be committed
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from .messages import MAX_ENTRY_DATA_BYTES

__all__ = ["WIRE_TAG", "OPS", "STATUSES", "MAX_MESSAGE_BYTES", "MAX_ENDPOINT_BYTES", "MAX_REQUEST_BYTES",
           "MAX_RESPONSE_BYTES", "ClientWireError", "ClientRequest", "ClientResponse", "encode_request",
           "decode_request", "encode_response", "decode_response", "error_response"]

WIRE_TAG = 0x52
OPS = {1: "propose", 2: "info", 3: "stats"}
_OP_CODES = {name: code for code, name in OPS.items()}
STATUSES = ("ok", "not_leader", "busy", "bad_request", "dropped", "unknown")
_STATUS_CODES = {name: code for code, name in enumerate(STATUSES)}
MAX_MESSAGE_BYTES = 512
MAX_ENDPOINT_BYTES = 512
_REQ_HEAD = struct.Struct(">BQBI")  # tag, request id, op, data length
_RESP_HEAD = struct.Struct(">BQBIQQQ")  # tag, request id, status, leader, index, term, commit
MAX_REQUEST_BYTES = _REQ_HEAD.size + MAX_ENTRY_DATA_BYTES
MAX_RESPONSE_BYTES = _RESP_HEAD.size + 2 + MAX_ENDPOINT_BYTES + 2 + MAX_MESSAGE_BYTES
_MAX_U64 = (1 << 64) - 1
_MAX_INT = (1 << 63) - 1


class ClientWireError(ValueError):
    """A frame that is not a valid request/response; `request_id` when it could be read (else 0)."""

    def __init__(self, message: str, request_id: int = 0) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class ClientRequest:
    request_id: int
    op: str  # "propose" | "info"
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ClientResponse:
    request_id: int
    status: str
    leader: int = 0  # 0: unknown
    index: int = 0
    term: int = 0
    commit: int = 0
    endpoint: str = ""  # the leader's client endpoint, "" unknown
    message: str = ""


def encode_request(req: ClientRequest) -> bytes:
    if type(req.request_id) is not int or not 0 <= req.request_id <= _MAX_U64:
        raise ClientWireError(f"request id {req.request_id!r} out of range")
    if req.op not in _OP_CODES:
        raise ClientWireError(f"unknown op {req.op!r}; known: {', '.join(_OP_CODES)}")
    if not isinstance(req.data, bytes):
        raise ClientWireError("data must be bytes")
    if len(req.data) > MAX_ENTRY_DATA_BYTES:
        raise ClientWireError(f"a command of {len(req.data)} bytes; the limit is {MAX_ENTRY_DATA_BYTES}")
    if req.op != "propose" and req.data:
        raise ClientWireError(f"{req.op} carries no data")
    return _REQ_HEAD.pack(WIRE_TAG, req.request_id, _OP_CODES[req.op], len(req.data)) + req.data


def decode_request(frame: bytes) -> ClientRequest:
    """Strict: the exact length, a known op, data within the limit; ClientWireError otherwise."""
    if len(frame) > MAX_REQUEST_BYTES:
        rid = int.from_bytes(frame[1:9], "big") if frame[:1] == bytes([WIRE_TAG]) else 0
        raise ClientWireError(f"request of {len(frame)} bytes; the limit is {MAX_REQUEST_BYTES}", rid)
    if len(frame) < _REQ_HEAD.size:
        raise ClientWireError(f"request of {len(frame)} bytes is too short for a header")
    tag, rid, op, length = _REQ_HEAD.unpack_from(frame, 0)
    if tag != WIRE_TAG:
        raise ClientWireError(f"not a raw client request (first byte {tag:#04x})")
    if op not in OPS:
        raise ClientWireError(f"unknown op {op}", rid)
    if length > MAX_ENTRY_DATA_BYTES:
        raise ClientWireError(f"a command of {length} bytes; the limit is {MAX_ENTRY_DATA_BYTES}", rid)
    if _REQ_HEAD.size + length != len(frame):
        raise ClientWireError(f"data length {length} does not match the frame ({len(frame) - _REQ_HEAD.size} "
                              "bytes follow the header)", rid)
    if OPS[op] != "propose" and length:
        raise ClientWireError(f"{OPS[op]} carries no data", rid)
    return ClientRequest(rid, OPS[op], frame[_REQ_HEAD.size:])


def _text(value: str, limit: int) -> bytes:
    raw = value.encode("utf-8", "replace")
    if len(raw) > limit:
        raw = raw[:limit].decode("utf-8", "ignore").encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def encode_response(resp: ClientResponse) -> bytes:
    if resp.status not in _STATUS_CODES:
        raise ClientWireError(f"unknown status {resp.status!r}")
    for name in ("index", "term", "commit"):
        v = getattr(resp, name)
        if type(v) is not int or not 0 <= v <= _MAX_INT:
            raise ClientWireError(f"{name} {v!r} out of range")
    if not 0 <= resp.request_id <= _MAX_U64 or not 0 <= resp.leader < 1 << 32:
        raise ClientWireError("request id or leader out of range")
    if len(resp.endpoint.encode("utf-8")) > MAX_ENDPOINT_BYTES:
        raise ClientWireError("endpoint too long")
    return (_RESP_HEAD.pack(WIRE_TAG, resp.request_id, _STATUS_CODES[resp.status], resp.leader, resp.index,
                            resp.term, resp.commit)
            + _text(resp.endpoint, MAX_ENDPOINT_BYTES) + _text(resp.message, MAX_MESSAGE_BYTES))


def decode_response(frame: bytes) -> ClientResponse:
    if len(frame) > MAX_RESPONSE_BYTES:
        raise ClientWireError(f"response of {len(frame)} bytes; the limit is {MAX_RESPONSE_BYTES}")
    if len(frame) < _RESP_HEAD.size:
        raise ClientWireError(f"response of {len(frame)} bytes is too short")
    tag, rid, code, leader, index, term, commit = _RESP_HEAD.unpack_from(frame, 0)
    if tag != WIRE_TAG:
        raise ClientWireError(f"not a raw client response (first byte {tag:#04x})")
    if code >= len(STATUSES):
        raise ClientWireError(f"unknown status code {code}", rid)
    if max(index, term, commit) > _MAX_INT:
        raise ClientWireError("index, term or commit out of range", rid)
    at, texts = _RESP_HEAD.size, []
    for limit in (MAX_ENDPOINT_BYTES, MAX_MESSAGE_BYTES):
        if len(frame) - at < 2:
            raise ClientWireError("response truncated", rid)
        n = int.from_bytes(frame[at:at + 2], "big")
        at += 2
        if n > limit or len(frame) - at < n:
            raise ClientWireError("response field too long or truncated", rid)
        try:
            texts.append(frame[at:at + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise ClientWireError("response text is not UTF-8", rid) from None
        at += n
    if at != len(frame):
        raise ClientWireError(f"{len(frame) - at} trailing bytes after the response", rid)
    return ClientResponse(rid, STATUSES[code], leader, index, term, commit, texts[0], texts[1])


def error_response(exc: ClientWireError) -> bytes:
    """The bad_request answer to a request that could not be decoded (nothing was proposed)."""
    return encode_response(ClientResponse(exc.request_id, "bad_request", message=str(exc)))
