"""The raw client wire (protocol/clientwire.py): round trips, and strict decoding that refuses anything else."""
from __future__ import annotations

import struct

import pytest

from raftzmq.protocol.clientwire import (MAX_REQUEST_BYTES, WIRE_TAG, ClientRequest, ClientResponse, ClientWireError,
                                         decode_request, decode_response, encode_request, encode_response,
                                         error_response)
from raftzmq.protocol.messages import MAX_ENTRY_DATA_BYTES


@pytest.mark.parametrize("req", [ClientRequest(7, "propose", b"x=1"), ClientRequest(0, "propose", b""),
                                 ClientRequest(2**64 - 1, "info"),
                                 ClientRequest(3, "propose", b"\x00" * MAX_ENTRY_DATA_BYTES)])
def test_requests_round_trip(req):
    assert decode_request(encode_request(req)) == req


@pytest.mark.parametrize("resp", [ClientResponse(1, "ok", 3, 10, 2, 10), ClientResponse(0, "bad_request", message="no"),
                                  ClientResponse(5, "not_leader", 2, endpoint="ipc:///tmp/c-2.sock", message="é"),
                                  ClientResponse(9, "dropped", 0, 4, 1, 4), ClientResponse(9, "unknown"),
                                  ClientResponse(9, "busy")])
def test_responses_round_trip(resp):
    assert decode_response(encode_response(resp)) == resp


def _frame(rid=1, op=1, data=b"ab", length=None, tag=WIRE_TAG):
    return struct.pack(">BQBI", tag, rid, op, len(data) if length is None else length) + data


@pytest.mark.parametrize("frame, what, rid", [
    (b"", "too short", 0),
    (_frame()[:13], "too short", 0),
    (_frame(tag=1), "first byte", 0),
    (_frame(op=4), "unknown op", 1),
    (_frame(op=3, data=b"x"), "stats carries no data", 1),
    (_frame(op=0), "unknown op", 1),
    (_frame(length=3), "does not match", 1),
    (_frame(length=1), "does not match", 1),
    (_frame() + b"z", "does not match", 1),
    (_frame(op=2, data=b"x"), "info carries no data", 1),
    (_frame(rid=4, length=MAX_ENTRY_DATA_BYTES + 1, data=b""), "limit", 4),
    (_frame(rid=5, data=b"x" * (MAX_REQUEST_BYTES)), "limit", 5),
])
def test_malformed_requests_are_refused_with_the_request_id_when_readable(frame, what, rid):
    with pytest.raises(ClientWireError, match=what) as exc:
        decode_request(frame)
    assert exc.value.request_id == rid
    answer = decode_response(error_response(exc.value))
    assert answer.status == "bad_request" and answer.request_id == rid and answer.message


def test_encoding_refuses_what_cannot_be_sent():
    with pytest.raises(ClientWireError):
        encode_request(ClientRequest(1, "propose", b"x" * (MAX_ENTRY_DATA_BYTES + 1)))
    with pytest.raises(ClientWireError):
        encode_request(ClientRequest(1, "delete", b""))
    with pytest.raises(ClientWireError):
        encode_request(ClientRequest(-1, "info"))
    with pytest.raises(ClientWireError):
        encode_response(ClientResponse(1, "maybe"))
    with pytest.raises(ClientWireError):
        encode_response(ClientResponse(1, "ok", index=-1))


@pytest.mark.parametrize("cut", [0, 5, 40, 43])
def test_truncated_or_padded_responses_are_refused(cut):
    frame = encode_response(ClientResponse(1, "not_leader", 2, endpoint="ipc:///x", message="m"))
    with pytest.raises(ClientWireError):
        decode_response(frame[:cut])
    with pytest.raises(ClientWireError):
        decode_response(frame + b"\x00")


def test_a_long_message_is_cut_to_the_limit_not_refused():
    resp = decode_response(encode_response(ClientResponse(1, "bad_request", message="é" * 2000)))
    assert 0 < len(resp.message.encode()) <= 512
