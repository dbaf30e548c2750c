"""The client wire protocol of the KV service (issue 19), pure: frames in, frames out (docs/CONTRACTS.md).

A client is a DEALER; each node's client endpoint is a ROUTER apart from the peer socket. A request is ONE frame
(the ROUTER sees [routing id, frame]) and the answer is one frame sent back to that routing id. Big-endian.

Request frame:
    u8  WIRE_VERSION (1)
    u64 request id     chosen by the client, echoed in the response (a late answer to an earlier attempt is
                       recognised and dropped); a retry of the same command reuses (client, seq), not the id
    ... the command body of kvstore (op, client, seq, stamp, key, values: see kvstore's docstring), stamp = 0
        (the node puts its own proposal time in the command it proposes)

Response frame:
    u8  WIRE_VERSION
    u64 request id     (0 when the request was too malformed to carry one)
    u8  status         STATUS_CODES below
    u32 leader         the leader's node id when known, else 0 (NOT_LEADER)
    u16 + UTF-8        the leader's client endpoint when known, else empty (NOT_LEADER)
    u32 + UTF-8 JSON   the value (empty: none): a get's value, register's session id, a FAIL's current value
    u16 + UTF-8        a message (errors); at most MAX_MESSAGE_BYTES

Statuses and what the client makes of them:
    ok               applied (writes) / the value read (get) / the session id (register)
    fail             certainly not applied: cas found another value, append to a number
    not_leader       this node will not serve it; `leader`/`endpoint` name the leader when known: go there
    session_expired  the session is unknown: register again (an earlier attempt may have applied: indefinite)
    stale            the seq is below the session's last (a bug in the client, or an ancient retry)
    bad_request      malformed, unknown op, oversized: nothing was proposed or changed (a definite failure)
    retry            not served now (no leader yet, the proposal was overtaken by a new leader's log, busy):
                     send the same (client, seq) again after a backoff; this attempt's outcome is unknown

Decoding is strict (`WireError`); the node answers a request it cannot decode with `bad_request` (request id 0
if it could not even read one) and changes nothing (`serve_error`).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from .kvstore import (COMMAND_VERSION, Command, CommandError, MAX_COMMAND_BYTES, decode_body, decode_value,
                      encode_body, validate_value)

__all__ = ["WIRE_VERSION", "MAX_REQUEST_BYTES", "MAX_RESPONSE_BYTES", "MAX_MESSAGE_BYTES", "MAX_ENDPOINT_BYTES",
           "STATUS_CODES", "STATUSES", "WireError", "Request", "Response", "encode_request", "decode_request",
           "encode_response", "decode_response", "peek_response", "decode_frames", "entry_data", "serve_error"]

WIRE_VERSION = 1
MAX_MESSAGE_BYTES = 1024
MAX_ENDPOINT_BYTES = 512
MAX_REQUEST_BYTES = 1 + 8 + MAX_COMMAND_BYTES
MAX_RESPONSE_BYTES = 1 + 8 + 1 + 4 + 2 + MAX_ENDPOINT_BYTES + 4 + 1 + MAX_COMMAND_BYTES + 2 + MAX_MESSAGE_BYTES
STATUSES = ("ok", "fail", "not_leader", "session_expired", "stale", "bad_request", "retry")
STATUS_CODES = {name: code for code, name in enumerate(STATUSES)}
_RHEAD = struct.Struct(">BQBI")
_EMPTY_TAIL = bytes(2 + 4 + 2)  # no endpoint, no value, no message
MAX_U64 = (1 << 64) - 1


class WireError(ValueError):
    """A frame that is not a valid request/response; `request_id` when it could be read (else 0)."""

    def __init__(self, message: str, request_id: int = 0) -> None:
        super().__init__(message)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    request_id: int
    command: Command


@dataclass(frozen=True, slots=True)
class Response:
    request_id: int
    status: str
    value: Any = None
    message: str = ""
    leader: int = 0  # 0: unknown
    endpoint: str = ""  # the leader's client endpoint, "" unknown


def encode_request(req: Request) -> bytes:
    """CommandError (oversized, unknown op...) before anything is sent."""
    if not 0 <= req.request_id <= MAX_U64:
        raise CommandError(f"request id {req.request_id} out of range")
    if req.command.stamp:
        raise CommandError("a client request carries stamp 0 (the leader stamps the command)")
    return struct.pack(">BQ", WIRE_VERSION, req.request_id) + encode_body(req.command)


def decode_request(frame: bytes) -> Request:
    if len(frame) > MAX_REQUEST_BYTES:
        raise WireError(f"request of {len(frame)} bytes; the limit is {MAX_REQUEST_BYTES}")
    if len(frame) < 9:
        raise WireError(f"request of {len(frame)} bytes is too short for a header")
    version, rid = struct.unpack_from(">BQ", frame, 0)
    if version != WIRE_VERSION:
        raise WireError(f"unknown wire version {version} (this node speaks {WIRE_VERSION})", rid)
    try:
        cmd, at = decode_body(frame, 9, "request")
    except CommandError as exc:
        raise WireError(str(exc), rid) from None
    if at != len(frame):
        raise WireError(f"{len(frame) - at} trailing bytes after the request", rid)
    if cmd.stamp:
        raise WireError("a client request carries stamp 0", rid)
    return Request(rid, cmd)


_STAMP_AT = 1 + 8 + 1 + 8 + 8  # version, request id, op, client, seq: where a request's stamp begins


def entry_data(frame: bytes, stamp: int) -> bytes:
    """The Entry.data of the request `frame` (one that `decode_request` accepted) stamped with `stamp`: the
    command version byte, then the request's own body with `stamp` in place of its 0. No re-encoding: for a frame
    that `encode_request` wrote this is exactly `encode_command(command with stamp)`; for any other accepted frame
    (JSON values written differently) it is bytes that `decode_command` reads as the same command, on every node."""
    if not 0 <= stamp <= MAX_U64:
        raise CommandError(f"stamp {stamp} out of range")
    if len(frame) < _STAMP_AT + 8 or frame[0] != WIRE_VERSION:
        raise WireError("not a request frame")
    return bytes((COMMAND_VERSION,)) + frame[9:_STAMP_AT] + stamp.to_bytes(8, "big") + frame[_STAMP_AT + 8:]


def decode_frames(frames: list[bytes]) -> Request:
    """The frames a ROUTER received after the routing id: exactly one request frame."""
    if len(frames) != 1:
        rid = 0
        if frames and len(frames[0]) >= 9 and frames[0][0] == WIRE_VERSION:
            rid = int.from_bytes(frames[0][1:9], "big")
        raise WireError(f"a request is one frame, got {len(frames)}", rid)
    return decode_request(frames[0])


def _text(value: str, limit: int, what: str) -> bytes:
    raw = value.encode("utf-8", "replace")
    if len(raw) > limit:
        if what == "endpoint":
            raise WireError(f"the {what} is {len(raw)} bytes; the limit is {limit}")
        raw = raw[:limit].decode("utf-8", "ignore").encode()
    return len(raw).to_bytes(2, "big") + raw


def encode_response(resp: Response) -> bytes:
    if resp.status not in STATUS_CODES:
        raise WireError(f"unknown status {resp.status!r}")
    if not (0 <= resp.request_id <= MAX_U64 and 0 <= resp.leader < 1 << 32):
        raise WireError("request id or leader out of range")
    if resp.value is None and not resp.endpoint and not resp.message:  # the common answer (ok to a write)
        return _RHEAD.pack(WIRE_VERSION, resp.request_id, STATUS_CODES[resp.status], resp.leader) + _EMPTY_TAIL
    value = b"" if resp.value is None else validate_value(resp.value)
    return (_RHEAD.pack(WIRE_VERSION, resp.request_id, STATUS_CODES[resp.status], resp.leader)
            + _text(resp.endpoint, MAX_ENDPOINT_BYTES, "endpoint")
            + len(value).to_bytes(4, "big") + value + _text(resp.message, MAX_MESSAGE_BYTES, "message"))


def decode_response(frame: bytes) -> Response:
    if len(frame) > MAX_RESPONSE_BYTES:
        raise WireError(f"response of {len(frame)} bytes; the limit is {MAX_RESPONSE_BYTES}")
    if len(frame) < _RHEAD.size:
        raise WireError(f"response of {len(frame)} bytes is too short")
    version, rid, code, leader = _RHEAD.unpack_from(frame, 0)
    if version != WIRE_VERSION:
        raise WireError(f"unknown wire version {version}", rid)
    if code >= len(STATUSES):
        raise WireError(f"unknown status code {code}", rid)
    at = _RHEAD.size
    fields: list[bytes] = []
    for width, limit in ((2, MAX_ENDPOINT_BYTES), (4, MAX_COMMAND_BYTES), (2, MAX_MESSAGE_BYTES)):
        if len(frame) - at < width:
            raise WireError("response truncated", rid)
        n = int.from_bytes(frame[at:at + width], "big")
        at += width
        if n > limit or len(frame) - at < n:
            raise WireError("response field too long or truncated", rid)
        fields.append(frame[at:at + n])
        at += n
    if at != len(frame):
        raise WireError(f"{len(frame) - at} trailing bytes after the response", rid)
    try:
        endpoint, message = fields[0].decode("utf-8"), fields[2].decode("utf-8")
        value = decode_value(fields[1]) if fields[1] else None
    except (UnicodeDecodeError, CommandError) as exc:
        raise WireError(f"response field not UTF-8/JSON ({exc})", rid) from None
    return Response(rid, STATUSES[code], value, message, leader, endpoint)


def peek_response(frame: bytes) -> tuple[int, str]:
    """(request id, status) from a response frame's header, the rest unread: for a load generator that counts
    answers; `decode_response` checks the whole frame. WireError if the header is not one."""
    if len(frame) < _RHEAD.size:
        raise WireError(f"response of {len(frame)} bytes is too short")
    version, rid, code, _ = _RHEAD.unpack_from(frame, 0)
    if version != WIRE_VERSION or code >= len(STATUSES):
        raise WireError(f"not a response header (version {version}, status code {code})", rid)
    return rid, STATUSES[code]


def serve_error(exc: WireError | CommandError) -> bytes:
    """The bad_request answer to a request that could not be decoded (nothing was proposed)."""
    rid = exc.request_id if isinstance(exc, WireError) else 0
    return encode_response(Response(rid, "bad_request", None, str(exc)[:MAX_MESSAGE_BYTES]))
