"""The client side of `raftzmq propose`: hand one command to the leader's client endpoint and wait for its commit
(protocol/clientwire.py; the nodes' endpoints are cluster.json's `client_endpoints`).

A raw command has no session, so it is never sent twice where the first attempt may have been appended: the client
first asks the nodes where the leader is (`info`, which changes nothing), proposes to the node that says it leads
(or that a node names), and then only re-proposes after a definite "not appended" (`not_leader`, `busy`) or a
definite "will never commit" (`dropped`). An attempt without an answer is waited for until the deadline: the
outcome is then unknown (it may still commit), which the caller must report as such.
"""
from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import zmq

from raftzmq.protocol.clientwire import (ClientRequest, ClientResponse, ClientWireError, decode_response,
                                         encode_request)

__all__ = ["ProposeResult", "propose", "node_info", "ask_all", "ClientSockets", "read_client_endpoints"]

_BACKOFF_S = 0.02
_MAX_BACKOFF_S = 0.25


@dataclass(slots=True)
class ProposeResult:
    committed: bool
    index: int = 0
    term: int = 0
    node: int | None = None  # the node that answered the commit
    definite: bool = False  # not committed, and certainly never will be (only with committed False)
    reason: str = ""
    attempts: int = 0
    elapsed_s: float = 0.0

    def to_doc(self) -> dict[str, Any]:
        return {"committed": self.committed, "index": self.index or None, "term": self.term or None,
                "node": self.node, "fate": "committed" if self.committed else
                ("not committed" if self.definite else "unknown"),
                "reason": self.reason, "attempts": self.attempts, "elapsed_ms": round(self.elapsed_s * 1000, 3)}


class ClientSockets:
    """One DEALER per node endpoint (lazily), and request ids; close() when done."""

    def __init__(self, endpoints: Mapping[int, str]) -> None:
        self.endpoints = dict(endpoints)
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.socks: dict[int, zmq.Socket] = {}
        self._rid = random.getrandbits(48)
        self.poller = zmq.Poller()

    def sock(self, node: int) -> zmq.Socket:
        s = self.socks.get(node)
        if s is None:
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.endpoints[node])
            self.socks[node] = s
            self.poller.register(s, zmq.POLLIN)
        return s

    def send(self, node: int, op: str, data: bytes = b"") -> int:
        self._rid += 1
        self.sock(node).send(encode_request(ClientRequest(self._rid, op, data)), zmq.NOBLOCK)
        return self._rid

    def recv(self, until: float) -> list[tuple[int, ClientResponse]]:
        """Answers that arrive before `until` (monotonic); [] when none did."""
        wait_ms = max(0, int((until - time.monotonic()) * 1000))
        out = []
        for sock, _ in self.poller.poll(wait_ms):
            node = next(n for n, s in self.socks.items() if s is sock)
            while True:
                try:
                    frame = sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    out.append((node, decode_response(frame)))
                except ClientWireError:
                    continue  # a garbled answer is no answer
        return out

    def close(self) -> None:
        for s in self.socks.values():
            s.close(linger=0)
        self.socks.clear()


def ask_all(endpoints: Mapping[int, str], op: str, timeout_s: float = 1.0) -> dict[int, ClientResponse]:
    """Send `op` ("info", "stats") to every node's client endpoint; the answers that came within `timeout_s`."""
    cs = ClientSockets(endpoints)
    try:
        want = {cs.send(n, op): n for n in endpoints}
        got: dict[int, ClientResponse] = {}
        deadline = time.monotonic() + timeout_s
        while want and time.monotonic() < deadline:
            for node, resp in cs.recv(deadline):
                if want.pop(resp.request_id, None) == node:
                    got[node] = resp
        return got
    finally:
        cs.close()


def node_info(endpoints: Mapping[int, str], timeout_s: float = 1.0) -> dict[int, ClientResponse]:
    """Ask every node for (leader, last index, term, commit); the answers that came within `timeout_s`."""
    return ask_all(endpoints, "info", timeout_s)


def propose(endpoints: Mapping[int, str], data: bytes, timeout_s: float) -> ProposeResult:
    """Propose `data` and wait until it is committed or `timeout_s` passed (see the module docstring)."""
    began = time.monotonic()
    deadline = began + timeout_s
    cs = ClientSockets(endpoints)
    result = ProposeResult(False, reason="no leader answered")
    backoff = _BACKOFF_S
    try:
        target: int | None = None
        while time.monotonic() < deadline:
            if target is None:
                target = _find_leader(cs, deadline)
                if target is None:
                    result.reason = "no node knows a leader"
                    _sleep_until(min(deadline, time.monotonic() + backoff))
                    backoff = min(_MAX_BACKOFF_S, backoff * 2)
                    continue
            rid = cs.send(target, "propose", data)
            result.attempts += 1
            resp = _wait_for(cs, target, rid, deadline)
            if resp is None:  # no answer in time: it may have been appended, so never re-propose
                result.reason = f"node {target} did not answer within the timeout"
                result.definite = False
                break
            if resp.status == "ok":
                result = ProposeResult(True, resp.index, resp.term, target, reason="", attempts=result.attempts)
                break
            result.reason = f"node {target}: {resp.status}" + (f" ({resp.message})" if resp.message else "")
            result.definite = resp.status in ("not_leader", "busy", "dropped", "bad_request")
            if resp.status == "bad_request":
                break
            if resp.status == "unknown":  # appended, fate unknown: never re-propose
                break
            nxt = resp.leader if resp.status == "not_leader" and resp.leader in endpoints else None
            if nxt is None or nxt == target:
                _sleep_until(min(deadline, time.monotonic() + backoff))
                backoff = min(_MAX_BACKOFF_S, backoff * 2)
            target = nxt
    finally:
        cs.close()
    if not result.committed and result.attempts == 0:
        result.definite = True  # never handed to any node
    result.elapsed_s = time.monotonic() - began
    return result


def _find_leader(cs: ClientSockets, deadline: float) -> int | None:
    """Ask every node: among those that say they lead, the one with the highest term (an old leader cut off in a
    minority may still think it leads); else the leader the answers name in the highest term."""
    want = {cs.send(n, "info"): n for n in cs.endpoints}
    until = min(deadline, time.monotonic() + 0.5)
    claims: dict[int, int] = {}
    named: dict[int, int] = {}
    while want and time.monotonic() < until:
        for node, resp in cs.recv(until):
            if want.pop(resp.request_id, None) != node:
                continue
            if resp.leader == node:
                claims[node] = resp.term
            elif resp.leader in cs.endpoints:
                named[resp.leader] = max(named.get(resp.leader, 0), resp.term)
        if claims and len(want) < len(cs.endpoints) / 2:  # most have answered: good enough
            break
    pick = claims or named
    return max(pick, key=lambda n: pick[n]) if pick else None


def _wait_for(cs: ClientSockets, node: int, rid: int, deadline: float) -> ClientResponse | None:
    while time.monotonic() < deadline:
        for n, resp in cs.recv(deadline):
            if n == node and resp.request_id == rid:
                return resp
    return None


def _sleep_until(t: float) -> None:
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)  # a client's backoff between attempts (not synchronisation)


def read_client_endpoints(cluster: Mapping[str, Any]) -> dict[int, str]:
    """cluster.json's `client_endpoints` as {node: endpoint}; ValueError when missing or malformed."""
    raw = cluster.get("client_endpoints")
    if not isinstance(raw, dict) or not raw:
        raise ValueError("this cluster has no client endpoints (started by an older raftzmq?)")
    try:
        return {int(k): str(v) for k, v in raw.items()}
    except (TypeError, ValueError):
        raise ValueError("cluster.json: bad client_endpoints") from None

