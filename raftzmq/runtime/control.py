"""The supervisor's control endpoint: JSON requests from the CLI over a REQ/REP socket on ipc in the run dir.

Requests: {"cmd": name, ...args}. Replies: {"ok": true, ...} or {"ok": false, "error": "..."}.
The endpoint lives in a 0700 directory, so only its owner can reach it.
"""
from __future__ import annotations

import json
from typing import Any

import zmq

from .rundir import RunDir, RunDirError

__all__ = ["COMMANDS", "ControlError", "ControlClient", "request"]

# command -> argument names it takes (validated on the supervisor side)
COMMANDS: dict[str, tuple[str, ...]] = {
    "status": (),
    "kill": ("ids",),
    "restart": ("ids",),
    "stop": ("ids",),
    "pause": ("ids",),
    "resume": ("ids",),
    "partition": ("groups",),
    "isolate": ("id",),
    "heal": (),
    "net": ("loss", "delay_ms", "jitter_ms"),
    "transfer": ("target",),
}


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
        ctx = zmq.Context.instance()
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


def request(run: RunDir, cmd: str, **args: Any) -> dict[str, Any]:
    return ControlClient(run).request(cmd, **args)
