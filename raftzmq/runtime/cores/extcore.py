"""A core in any language: a child process that speaks line-delimited JSON on stdin/stdout (`--core exec:COMMAND`).

The protocol is in docs/core-contract.md ("Cores in other languages"). In short, one JSON object per line:
  to the child:   {"op":"init","config":{...},"state":{"term":T,"voted_for":V,"commit":C},"log":[entry...],
                   "now":S,"seed":N}
                  {"op":"step","msg":{message},"now":S}   {"op":"tick","now":S}
                  {"op":"transfer","target":ID,"now":S}
                  {"op":"propose","data":BASE64,"now":S}                                (contract v2 only)
                  {"op":"persisted","term":T,"voted_for":V[,"commit":C,"last_index":I]}  (an acknowledgement; no
                   answer; commit and last_index for a v2 child)
  from the child: {"persist":null|{"term":T,"voted_for":V[,"commit":C]},"messages":[...],
                   "events":[{"name","term","fields"}],"deadline":S,"role":"follower"|...,"term":T
                   [,"entries":[entry...],"committed":[entry...],"contract":2][,"proposal":{...}]}
                   (one line per init/step/tick/transfer/propose)
A message is its kind and its fields, e.g. {"kind":"request_vote","term":5,"src":2,"dst":1,"prevote":false}; an
entry is {"index":I,"term":T,"data":BASE64} (in messages, in `log`, `entries` and `committed`). Fields a child
leaves out take their defaults, so a child keeps working when a message gains a field, and an election-only (v1)
child that never says `"contract": 2` keeps working unchanged: the adapter's core then reports
`contract_version` 1 and refuses `propose`, so the embedding and `conform` treat it as election-only. The embedding
applies an Output completely (persist first) before it calls the core again, so the adapter acknowledges each
persist request with "persisted" just before the next call. A child that answers late, exits, or writes anything else
is a CoreContractError; a child must exit when its stdin closes (that is how it learns its node died).
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import select
import shlex
import subprocess
import time
from typing import Any

from collections.abc import Sequence
from raftzmq.protocol.core import CoreConfig, Event, HardState, Output, Proposal
from raftzmq.protocol.messages import MESSAGE_TYPES, Entry, Message

from raftzmq.runtime.cores.coreload import CoreContractError

__all__ = ["ExternalCore", "ExternalCoreFactory", "ANSWER_TIMEOUT_S", "message_to_json", "message_from_json",
           "entry_to_json", "entry_from_json", "Proposal"]


ANSWER_TIMEOUT_S = 10.0  # generous: a loaded machine; a core that takes this long per call is broken anyway
_MAX_LINE = 64 << 20  # a leader may answer with a full AppendEntries (~1.4 MiB as base64 JSON) per peer


class _Child:
    """One child process and its line-buffered pipes."""

    def __init__(self, command: str) -> None:
        self.command = command
        try:
            self.proc = subprocess.Popen(shlex.split(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         close_fds=True)
        except (OSError, ValueError) as exc:
            raise CoreContractError(f"core exec:{command}: cannot start: {exc}") from None
        assert self.proc.stdin is not None and self.proc.stdout is not None  # both are PIPE
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.buf = b""

    def send(self, *docs: dict[str, Any]) -> None:
        """Write the lines in one go (an acknowledgement and the next request share a write)."""
        data = b"".join(json.dumps(doc, separators=(",", ":")).encode() + b"\n" for doc in docs)
        try:
            self.stdin.write(data)
            self.stdin.flush()
        except (BrokenPipeError, OSError):
            self._died("its stdin is closed")

    def receive(self) -> dict[str, Any]:
        line = self._readline()
        try:
            doc = json.loads(line)
        except ValueError:
            raise CoreContractError(f"core exec:{self.command}: answered with a line that is not JSON: "
                                    f"{line[:120]!r}") from None
        if not isinstance(doc, dict):
            raise CoreContractError(f"core exec:{self.command}: answer is not a JSON object: {line[:120]!r}")
        if "error" in doc:
            raise CoreContractError(f"core exec:{self.command}: reported an error: {str(doc['error'])[:200]}")
        return doc

    def _readline(self) -> bytes:
        fd, deadline = self.stdout.fileno(), time.monotonic() + ANSWER_TIMEOUT_S
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise CoreContractError(f"core exec:{self.command}: no answer within {ANSWER_TIMEOUT_S:g} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                self._died("it closed its stdout")
            self.buf += chunk
            if len(self.buf) > _MAX_LINE:
                raise CoreContractError(f"core exec:{self.command}: an answer longer than {_MAX_LINE} bytes")
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def _died(self, how: str) -> None:
        code = self.proc.poll()
        raise CoreContractError(f"core exec:{self.command}: {how}"
                                + (f" (exited with {code})" if code is not None else ""))

    def close(self) -> None:
        for pipe in (self.stdin, self.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ExternalCore:
    """The core contract on top of a child process (one per node; re-initialised on each incarnation).
    `contract_version` is what the child said in its first answer: 2 (`"contract": 2`: replication, `propose`)
    or 1 (election only)."""

    def __init__(self, child: _Child, config: CoreConfig, state: HardState, now: float, rng: Any,
                 log: Sequence[Entry] = ()) -> None:
        self.child, self.id = child, config.node_id
        self.peers = tuple(m for m in config.members if m != self.id)
        self._unacked: tuple[HardState | None, int] | None = None
        self.contract_version = 1
        self.last_index, self.commit_index = len(log), state.commit
        self.role, self.term, self.deadline = "follower", state.term, now
        self._hard = state
        self._proposal: Any = None
        cfg = {"node_id": config.node_id, "members": list(config.members),
               "election_timeout_min": config.election_timeout_min,
               "election_timeout_max": config.election_timeout_max,
               "heartbeat_interval": config.heartbeat_interval, "prevote": config.prevote,
               "check_quorum": config.check_quorum}
        seed = int(rng.uniform(0, 2**53))  # the child's own randomness, drawn from the injected RNG: replayable
        request: dict[str, Any] = {"op": "init", "config": cfg,
                                   "state": {"term": state.term, "voted_for": state.voted_for,
                                             "commit": state.commit},
                                   "log": [entry_to_json(e) for e in log], "now": now, "seed": seed}
        if not log and not state.commit:  # exactly the v1 init line for a node with nothing logged
            del request["log"]
            del request["state"]["commit"]
        self._call(request, first=True)

    def step(self, msg: Message, now: float) -> Output:
        return self._call({"op": "step", "msg": message_to_json(msg), "now": now})

    def tick(self, now: float) -> Output:
        return self._call({"op": "tick", "now": now})

    def transfer_leadership(self, target: int, now: float) -> Output:
        return self._call({"op": "transfer", "target": target, "now": now})

    def propose(self, data: bytes, now: float) -> tuple[Any, Output]:
        """Contract v2: hand the leader a command. A v1 child has no `propose`: CoreContractError."""
        if self.contract_version < 2:
            raise CoreContractError(f"core exec:{self.child.command}: propose on an election-only (v1) core "
                                    "(its answers never said \"contract\": 2)")
        out = self._call({"op": "propose", "data": base64.b64encode(data).decode("ascii"), "now": now})
        doc = self._proposal
        try:
            leader = doc.get("leader")
            proposal = Proposal(bool(doc["accepted"]), int(doc.get("index", 0)), int(doc.get("term", self.term)),
                                None if leader is None else int(leader))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CoreContractError(f"core exec:{self.child.command}: malformed proposal "
                                    f"({exc.__class__.__name__}: {exc}): {str(doc)[:200]}") from None
        return proposal, out

    def _call(self, request: dict[str, Any], first: bool = False) -> Output:
        ack = self._unacked
        if ack is None:
            self.child.send(request)
        else:
            hard, last = ack
            state = hard if hard is not None else self._hard
            line: dict[str, Any] = {"op": "persisted", "term": state.term, "voted_for": state.voted_for}
            if self.contract_version >= 2:
                line.update(commit=state.commit, last_index=last)
            self.child.send(line, request)
        doc = self.child.receive()
        if first and doc.get("contract") == 2:
            self.contract_version = 2
        out = self._output(doc)
        if out.persist is not None:
            self._hard = out.persist
        if out.entries:
            self.last_index = out.entries[-1].index
        if out.committed:
            self.commit_index = max(self.commit_index, out.committed[-1].index)
        self._unacked = (out.persist, self.last_index) if out.persist is not None or out.entries else None
        return out

    def _output(self, doc: dict[str, Any]) -> Output:
        v2 = self.contract_version >= 2
        try:
            persist = doc["persist"]
            hard = None if persist is None else HardState(persist["term"], persist["voted_for"],
                                                          persist.get("commit", 0) if v2 else 0)
            messages = [self._message(m) for m in doc["messages"]]
            events = [Event(e["name"], e["term"], dict(e.get("fields", {}))) for e in doc["events"]]
            entries = [entry_from_json(e) for e in doc.get("entries", ())] if v2 else []
            committed = [entry_from_json(e) for e in doc.get("committed", ())] if v2 else []
            if not v2 and (doc.get("entries") or doc.get("committed")):
                raise ValueError("entries or committed from a core that did not say \"contract\": 2 at init")
            self._proposal = doc.get("proposal")
            self.role, self.term, self.deadline = doc["role"], doc["term"], doc["deadline"]
            return Output(hard, messages, events, doc["deadline"], entries, committed)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CoreContractError(f"core exec:{self.child.command}: malformed answer ({exc.__class__.__name__}: "
                                    f"{exc}): {json.dumps(doc)[:200]}") from None

    def _message(self, doc: Any) -> Message:
        msg = message_from_json(doc)
        if msg.dst not in self.peers:
            raise ValueError(f"message to {msg.dst!r}, not to a peer")
        return msg


def message_to_json(msg: Message) -> dict[str, Any]:
    """A message as the child sees it: its kind and its fields by name; entries as objects with base64 data."""
    doc: dict[str, Any] = {"kind": msg.kind, **{f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)}}
    if "entries" in doc:
        doc["entries"] = [entry_to_json(e) for e in doc["entries"]]
    return doc


def entry_to_json(entry: Entry) -> dict[str, Any]:
    return {"index": entry.index, "term": entry.term, "data": base64.b64encode(entry.data).decode("ascii")}


def entry_from_json(doc: Any) -> Entry:
    if not isinstance(doc, dict) or set(doc) - {"index", "term", "data"} or not {"index", "term"} <= set(doc):
        raise ValueError(f"entry {doc!r}: an object with index, term and (base64) data")
    data = doc.get("data", "")
    if not isinstance(data, str):
        raise ValueError(f"entry {doc!r}: data must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ValueError(f"entry {str(doc)[:80]}: data is not base64") from None
    return Entry(doc["index"], doc["term"], raw)


def message_from_json(doc: Any) -> Message:
    """The inverse of message_to_json; missing fields take their defaults, unknown keys are an error."""
    cls = MESSAGE_TYPES.get(str(doc.get("kind"))) if isinstance(doc, dict) else None
    if cls is None:
        raise ValueError(f"message {doc!r}: kind must be one of {', '.join(MESSAGE_TYPES)}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(doc) - names - {"kind"}
    if unknown:
        raise ValueError(f"message {doc!r}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    kwargs = {k: v for k, v in doc.items() if k != "kind"}
    if "entries" in kwargs:
        if not isinstance(kwargs["entries"], list):
            raise ValueError(f"message {str(doc)[:120]}: entries must be a list")
        kwargs["entries"] = tuple(entry_from_json(e) for e in kwargs["entries"])
    return cls(**kwargs)


class ExternalCoreFactory:
    """Makes ExternalCores for `command`, keeping one child per node id: a restart in the simulator re-initialises
    the child instead of paying a process start. `close()` ends them all (a later call starts new ones)."""

    def __init__(self, command: str) -> None:
        if not shlex.split(command):
            raise CoreContractError("core exec: needs a command, e.g. exec:python3 examples/jsonl_core.py")
        self.command = command
        self._children: dict[int, _Child] = {}

    def __call__(self, config: CoreConfig, state: HardState, now: float, rng: Any,
                 log: Sequence[Entry] = ()) -> ExternalCore:
        child = self._children.get(config.node_id)
        if child is None or child.proc.poll() is not None:
            child = self._children[config.node_id] = _Child(self.command)
        return ExternalCore(child, config, state, now, rng, log)

    def close(self) -> None:
        children, self._children = self._children, {}
        for child in children.values():
            child.close()
