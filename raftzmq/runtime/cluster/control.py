"""The supervisor's control endpoint: JSON requests from the CLI over a REQ/REP socket on ipc in the run dir.

Requests: {"cmd": name, ...args}. Replies: {"ok": true, ...} or {"ok": false, "error": "..."}.
The endpoint lives in a 0700 directory, so only its owner can reach it.
"""
from __future__ import annotations

import json
from typing import Any

import zmq

from raftzmq.runtime.cluster.errors import SupervisorError
from raftzmq.runtime.cluster.rundir import RunDir, RunDirError

__all__ = ["COMMANDS", "ControlError", "ControlClient", "parse_ids", "validate_groups"]

# The commands the supervisor serves; each handler validates its own arguments.
COMMANDS = frozenset({"status", "kill", "restart", "stop", "pause", "resume", "partition", "isolate", "heal", "net",
                      "cut", "uncut", "links", "transfer", "skew", "failpoint", "disk"})


class ControlError(Exception):
    """The supervisor refused the request (bad ids, ...) or could not be reached."""


class ControlClient:
    def __init__(self, run: RunDir, timeout_ms: int = 3000) -> None:
        cluster = run.read_cluster()
        if run.live_supervisor() is None:
            raise RunDirError(f"no cluster is running in {run.path} (its supervisor is gone); "
                              f"`raftzmq start --resume --run-dir {run.path}` starts it again")
        self.endpoint = cluster["control"]
        self.timeout_ms = timeout_ms
        self.run = run

    def request(self, cmd: str, **args: Any) -> dict[str, Any]:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
        sock.setsockopt(zmq.SNDTIMEO, self.timeout_ms)
        try:
            sock.connect(self.endpoint)
            sock.send(json.dumps({"cmd": cmd, **args}).encode())
            reply = json.loads(sock.recv())
        except zmq.Again:
            raise ControlError(f"the supervisor at {self.endpoint} did not answer within "
                               f"{self.timeout_ms} ms") from None
        finally:
            sock.close()
        if not reply.get("ok"):
            raise ControlError(reply.get("error", "request refused"))
        return reply


# Validation of request arguments, shared by every command that names nodes.

def parse_ids(raw: Any, members: tuple[int, ...]) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise SupervisorError("give at least one node id")
    ids: list[int] = []
    for item in raw:
        if type(item) is not int or item not in members:
            raise SupervisorError(f"unknown node id {item!r}; this cluster has nodes {members[0]}..{members[-1]}")
        if item in ids:
            raise SupervisorError(f"node id {item} given twice")
        ids.append(item)
    return ids


def validate_groups(raw: Any, members: tuple[int, ...]) -> list[list[int]]:
    if not isinstance(raw, list) or len(raw) < 2:
        raise SupervisorError("a partition needs at least two groups, e.g. `partition 1,2 3,4,5`")
    groups = [parse_ids(g, members) for g in raw]
    seen: dict[int, int] = {}
    for index, group in enumerate(groups):
        for node in group:
            if node in seen:
                raise SupervisorError(f"node {node} is in two groups ({seen[node] + 1} and {index + 1})")
            seen[node] = index
    missing = [m for m in members if m not in seen]
    if missing:
        raise SupervisorError(f"nodes {','.join(map(str, missing))} are in no group; list every node "
                              "(a node in no group would be ambiguous)")
    return [sorted(g) for g in groups]
