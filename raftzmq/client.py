"""The Python client of the replicated KV service (issue 19; the wire is protocol/kvwire.py, docs/CONTRACTS.md).

    from raftzmq.client import Client, Indefinite

    with Client("logs/latest", timeout=5.0) as kv:      # a run directory, or {node id: endpoint}, or [endpoints]
        kv.put("x", 1)
        kv.append("log", "a")
        assert kv.cas("x", 1, 2)                        # True: swapped; False: the value was not 1
        print(kv.get("x"))                              # 2 (None when absent)
        kv.delete("x")
        try:
            kv.put("y", [1, 2])
        except Indefinite as exc:                       # timed out: it may or may not have happened
            print("unknown outcome:", exc)

Outcomes: a return value (it happened); `Failed` (it certainly did not happen: a bad request, an append to a
number; `cas` returns False instead of raising); `Indefinite` (the deadline passed, or an attempt's answer was
lost: it may or may not have happened - never report it as a failure). `Indefinite` is not a `Failed`.

How it gets there. Every write goes through a session (registered on first use, through the log): the command
carries (session, seq) and a retry reuses them, so however many attempts reach the leader the command applies
once and every answer is its first result. The client sends to the node it believes leads; a `not_leader`
answer names the leader (its endpoint or node id) when known and the client goes there at once; no hint, a
`retry` answer or an attempt with no answer within `attempt_timeout` moves on to the next node after a backoff
(exponential from `backoff` to `max_backoff`, full jitter). All of it within `timeout` (the deadline of one
operation) and at most `retries` resends; then `Indefinite`.

One Client per thread (a ZeroMQ socket is not thread-safe).
"""
from __future__ import annotations

import json
import os
import random
import struct
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import zmq

from .protocol.kvstore import Command, CommandError
from .protocol.kvwire import WIRE_VERSION, Request, Response, WireError, decode_response, encode_request

__all__ = ["Client", "KVError", "Failed", "BadRequest", "Indefinite", "NoClientEndpoint", "client_endpoints",
           "NO_ENDPOINT_MESSAGE"]

NO_ENDPOINT_MESSAGE = "no cluster with a client endpoint is running"
_HEADER = struct.Struct(">BQ")  # the request frame's version and request id (protocol/kvwire.py)


class KVError(Exception):
    """Base of the client's exceptions."""


class Failed(KVError):
    """The operation certainly did not take effect (a definite `fail` in a history)."""

    def __init__(self, message: str, current: Any = None) -> None:
        super().__init__(message)
        self.current = current  # the value the store holds, when the answer carried it


class BadRequest(Failed):
    """Refused before anything was proposed: malformed, unknown op, oversized key or value."""


class Indefinite(KVError):
    """The outcome is unknown: the operation may or may not have taken effect (an `info` in a history).

    `maybe_applied` is False when no attempt could have reached a leader's log (e.g. registering the session
    timed out before the command was ever sent); it is still reported as indefinite."""

    def __init__(self, message: str, attempts: int = 0, maybe_applied: bool = True) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.maybe_applied = maybe_applied


class NoClientEndpoint(KVError):
    """The run directory has no cluster with client endpoints (`raftzmq kv` says: exit 2)."""


def client_endpoints(run_dir: str | os.PathLike[str]) -> dict[int, str]:
    """{node id: client endpoint} from the run directory's cluster.json `client_endpoints` (written by the
    supervisor once the node processes serve clients); NoClientEndpoint when there is none."""
    path = Path(run_dir) / "cluster.json"
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise NoClientEndpoint(f"{NO_ENDPOINT_MESSAGE} (no {path})") from None
    except (OSError, ValueError) as exc:
        raise NoClientEndpoint(f"{NO_ENDPOINT_MESSAGE} ({path} unreadable: {exc})") from None
    eps = doc.get("client_endpoints") if isinstance(doc, dict) else None
    if not isinstance(eps, dict) or not eps:
        raise NoClientEndpoint(f"{NO_ENDPOINT_MESSAGE} ({path} has no client_endpoints)")
    try:
        return {int(k): str(v) for k, v in sorted(eps.items(), key=lambda kv: int(kv[0]))}
    except (TypeError, ValueError):
        raise NoClientEndpoint(f"{NO_ENDPOINT_MESSAGE} ({path}: bad client_endpoints)") from None


class Client:
    """A KV client: get/put/delete/cas/append against the cluster's client endpoints."""

    def __init__(self, target: str | os.PathLike[str] | Mapping[int, str] | Sequence[str], *,
                 timeout: float = 5.0, attempt_timeout: float = 0.5, retries: int | None = None,
                 backoff: float = 0.01, max_backoff: float = 0.25, seed: int | None = None,
                 context: zmq.Context[Any] | None = None) -> None:
        if isinstance(target, Mapping):
            self.endpoints = {int(k): str(v) for k, v in target.items()}
        elif isinstance(target, (str, os.PathLike)) and not str(target).startswith(("ipc://", "tcp://")):
            self.endpoints = client_endpoints(target)
        elif isinstance(target, (str, os.PathLike)):
            self.endpoints = {1: str(target)}
        else:
            self.endpoints = {n: str(e) for n, e in enumerate(target, 1)}
        if not self.endpoints:
            raise NoClientEndpoint(NO_ENDPOINT_MESSAGE)
        if timeout <= 0 or attempt_timeout <= 0 or backoff < 0 or max_backoff < backoff:
            raise ValueError("timeout and attempt_timeout must be positive, 0 <= backoff <= max_backoff")
        self.timeout, self.attempt_timeout = timeout, attempt_timeout
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self._rng = random.Random(seed)
        self._own_context = context is None
        self._ctx = context if context is not None else zmq.Context()
        self._sockets: dict[str, zmq.Socket[Any]] = {}
        self._order = list(self.endpoints.values())
        self._current = self._order[0]
        self._next_rid = self._rng.getrandbits(48) + 1
        self.session = 0
        self._seq = 0
        self.stats = {"attempts": 0, "redirects": 0, "timeouts": 0, "registrations": 0}

    # ------------------------------------------------------------------ operations
    def get(self, key: str) -> Any:
        """The value of `key` (None when absent), linearizable (the node serves it by ReadIndex)."""
        return self.execute(Command("get", key)).value

    def put(self, key: str, value: Any) -> None:
        self.execute(Command("put", key, value))

    def delete(self, key: str) -> None:
        self.execute(Command("delete", key))

    def append(self, key: str, value: str | list[Any]) -> None:
        self.execute(Command("append", key, value))

    def cas(self, key: str, expected: Any, new: Any) -> bool:
        """True if the value was `expected` and is now `new`; False if it was something else (nothing changed)."""
        try:
            self.execute(Command("cas", key, expected, new))
        except BadRequest:
            raise
        except Failed:
            return False
        return True

    @property
    def leader(self) -> str:
        """The endpoint the client believes leads (where the next request goes first)."""
        return self._current

    def execute(self, cmd: Command) -> Response:
        """Run one command: the `ok` Response, or Failed / BadRequest / Indefinite. A write gets this client's
        session and next seq here (`cmd.client`/`cmd.seq` are ignored)."""
        deadline = time.monotonic() + self.timeout
        if cmd.op in ("put", "delete", "cas", "append"):
            if not self.session:
                self._register(deadline)
            self._seq += 1
            cmd = Command(cmd.op, cmd.key, cmd.value, cmd.new, self.session, self._seq)
        elif cmd.op == "get":
            cmd = Command("get", cmd.key)
        return self._run(cmd, deadline, fresh_session=True)

    def _register(self, deadline: float) -> None:
        try:
            resp = self._run(Command("register"), deadline, fresh_session=False)
        except Indefinite as exc:
            raise Indefinite(f"could not register a session: {exc}", exc.attempts, maybe_applied=False) from None
        if not isinstance(resp.value, int) or isinstance(resp.value, bool) or resp.value <= 0:
            raise Indefinite(f"register answered a bad session id {resp.value!r}", 1, maybe_applied=False)
        self.session, self._seq = resp.value, 0
        self.stats["registrations"] += 1

    def _run(self, cmd: Command, deadline: float, fresh_session: bool) -> Response:
        try:
            body = encode_request(Request(0, cmd))[9:]  # validated before anything is sent; resent as is
        except CommandError as exc:
            raise BadRequest(str(exc)) from None
        attempts, sent_any, delay = 0, False, self.backoff
        hops = 0  # redirects followed at once since the last backoff (nodes that name each other: back off)
        why = "no answer"
        while True:
            now = time.monotonic()
            if now >= deadline or (self.retries is not None and attempts > self.retries):
                raise Indefinite(f"{cmd.op} {cmd.key!r}: {why} after {attempts} attempt(s) in "
                                 f"{self.timeout:g} s", attempts, maybe_applied=sent_any)
            attempts += 1
            self.stats["attempts"] += 1
            resp = self._attempt(body, min(deadline, now + self.attempt_timeout))
            if resp is None:  # no answer: it may have been proposed; try the next node
                self.stats["timeouts"] += 1
                sent_any, why = True, "no answer"
                self._rotate()
                continue
            status = resp.status
            if status == "ok":
                return resp
            if status == "fail":
                raise Failed(resp.message or f"{cmd.op} failed", resp.value)
            if status == "bad_request":
                raise BadRequest(resp.message or "bad request")
            if status == "not_leader":
                self.stats["redirects"] += 1
                why = "no leader answered"
                target = resp.endpoint or self.endpoints.get(resp.leader, "")
                if target and target != self._current:
                    self._current = target  # a named leader: go there now (unless they keep naming each other)
                    hops += 1
                    if hops <= len(self.endpoints):
                        continue
                else:
                    self._rotate()
            elif status == "session_expired" and cmd.client:
                if fresh_session and not sent_any:  # nothing could have applied under the old session
                    self.session = 0
                    self._register(deadline)
                    self._seq = 1
                    cmd = Command(cmd.op, cmd.key, cmd.value, cmd.new, self.session, self._seq)
                    body = encode_request(Request(0, cmd))[9:]
                    continue
                self.session = 0  # register again for the next command
                raise Indefinite(f"{cmd.op} {cmd.key!r}: the session expired while the command was in "
                                 f"flight", attempts)
            elif status == "stale":
                raise Indefinite(f"{cmd.op} {cmd.key!r}: {resp.message or 'stale sequence number'}", attempts)
            else:  # retry: the attempt's outcome is unknown; back off and resend
                sent_any, why = True, resp.message or "the node asked to retry"
            hops = 0
            self._sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(self.max_backoff, max(delay * 2, 0.001))

    def _sleep(self, limit: float) -> None:
        time.sleep(self._rng.uniform(0, limit))  # backoff with full jitter (not synchronisation)

    def _rotate(self) -> None:
        if self._current in self._order:
            self._current = self._order[(self._order.index(self._current) + 1) % len(self._order)]
        else:
            self._current = self._order[0]

    def _socket(self, endpoint: str) -> zmq.Socket[Any]:
        sock = self._sockets.get(endpoint)
        if sock is None:
            sock = self._ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(endpoint)
            self._sockets[endpoint] = sock
        return sock

    def _drop_socket(self, endpoint: str) -> None:
        sock = self._sockets.pop(endpoint, None)
        if sock is not None:
            sock.close(linger=0)

    def _attempt(self, body: bytes, until: float) -> Response | None:
        rid = self._next_rid
        self._next_rid += 1
        frame = _HEADER.pack(WIRE_VERSION, rid) + body
        endpoint = self._current
        sock = self._socket(endpoint)
        try:
            sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            self._drop_socket(endpoint)
            return None
        while True:
            left = until - time.monotonic()
            if left <= 0 or not sock.poll(max(1, int(left * 1000)), zmq.POLLIN):
                # A fresh socket next time: answers to this attempt must not be mistaken for the next one's, and
                # a request queued towards a dead node is dropped with it.
                self._drop_socket(endpoint)
                return None
            parts = sock.recv_multipart(zmq.NOBLOCK)
            if len(parts) != 1:
                continue
            try:
                resp = decode_response(parts[0])
            except WireError:
                continue  # not an answer we can read: keep waiting for one
            if resp.request_id == rid:
                return resp

    def close(self) -> None:
        for endpoint in list(self._sockets):
            self._drop_socket(endpoint)
        if self._own_context:
            self._ctx.term()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
