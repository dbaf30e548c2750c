"""The one embedding of the election core: how an `Output` becomes effects, through four narrow ports.

Used by the node process (runtime/node/process.py), the simulator (lab/sim/simulator.py) and the test harnesses, so the
order below is the order everywhere and a reordering bug shows in every simulated seed:

    log the events the core produced before it changed durable state
    [failpoint before_persist] -> save (durable) -> log state_persisted -> [failpoint after_persist_before_send]
    -> log the remaining events -> send the messages -> [failpoint after_send]

Records come out in the order the core produced them, and every record's `term` is the node's term right after
that record's event (docs/log-schema.md). `state_persisted` therefore goes right before the first event of the
term it persists: e.g. `election_timeout` (old term T), `state_persisted` (T+1), `became_candidate` (T+1). A
node's records never go back in term, and a vote is durable before it is logged as granted and before it leaves
(the core emits `vote_granted` in the term it persists, after the state change).

Ports:
    save(state: HardState)                     durable write; returns only once the state is durable
    log(event, *, term, **fields)              append one record (LogWriter.write is one)
    send(messages: list[Message])              hand the messages to the network (non-empty lists only)
    failpoint(name: str)                       one of runtime/failpoints.NAMES; may not return
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftzmq.protocol.core import Event, HardState, Output
from raftzmq.protocol.messages import Message

__all__ = ["Apply", "SavePort", "LogPort", "SendPort", "FailpointPort", "embed", "persist_index"]

SavePort = Callable[[HardState], Any]
LogPort = Callable[..., Any]  # log(event: str, *, term: int, **fields)
SendPort = Callable[[list[Message]], Any]
FailpointPort = Callable[[str], Any]
Apply = Callable[[Output], None]


def persist_index(events: list[Event], term: int) -> int:
    """Where `state_persisted` at `term` goes among `events`: before the first event of that term (events of one
    Output never go back in term), or after all of them."""
    for i, ev in enumerate(events):
        if ev.term >= term:
            return i
    return len(events)


def embed(save: SavePort, log: LogPort, send: SendPort, failpoint: FailpointPort | None = None) -> Apply:
    """Return `apply(output)`, which carries out one core Output through the ports in the contract's order.
    Without a failpoint port (the simulator, the harnesses) no failpoint is ever called."""

    def apply(out: Output) -> None:
        persist, events = out.persist, out.events
        if persist is not None:
            cut = persist_index(events, persist.term)
            for ev in events[:cut]:
                log(ev.name, term=ev.term, **ev.fields)
            if failpoint is not None:
                failpoint("before_persist")
            save(persist)
            log("state_persisted", term=persist.term, voted_for=persist.voted_for)
            if failpoint is not None:
                failpoint("after_persist_before_send")
            events = events[cut:]
        if events:  # the hot path (a heartbeat or its answer) has neither persist nor events
            for ev in events:
                log(ev.name, term=ev.term, **ev.fields)
        if out.messages:
            send(out.messages)
            if failpoint is not None:
                failpoint("after_send")

    return apply
