"""The one embedding of the core: how a `Ready` (the core's `Output`) becomes effects, through narrow ports.

Used by the node process (runtime/node/process.py), the simulator (lab/sim/simulator.py) and the test harnesses, so the
order below is the order everywhere and a reordering bug shows in every simulated seed:

    log the events the core produced before it changed durable state
    [failpoint before_persist]
    -> one group commit: append `entries` to the log and save the hard state, fsync if `must_sync`
    -> log state_persisted (term or vote changed) / log_appended (entries)
    -> [failpoint after_persist_before_send]
    -> log the remaining events -> send the messages -> [failpoint after_send]
    -> apply `committed` (durable by now) -> log entries_applied

Nothing leaves before what it depends on is durable: a message is sent only after the hard state and the entries
of the same Ready are on disk, and committed entries are applied only after that too. Raft allows one exception
that this embedding does NOT use yet: a leader may write its own new entries to its log in parallel with sending
them in AppendEntries (thesis §10.2.1), because it counts itself towards a commit only once its own write is
durable. When replication lands and uses it, it will be a separate, tested path; today every send waits.

Records come out in the order the core produced them, and every record's `term` is the node's term right after
that record's event (docs/log-schema.md). `state_persisted` therefore goes right before the first event of the
term it persists: e.g. `election_timeout` (old term T), `state_persisted` (T+1), `became_candidate` (T+1). A
node's records never go back in term, and a vote is durable before it is logged as granted and before it leaves
(the core emits `vote_granted` in the term it persists, after the state change).

Election-only Readys (contract v1: no entries, no commit, nothing committed) take exactly the v1 path: `save`, no
`append`, no `apply`, and no record that v1 did not write.

Ports:
    save(state: HardState)                     durable write of a changed term/vote; returns once durable
    log(event, *, term, **fields)              append one record (LogWriter.write is one)
    send(messages: list[Message])              hand the messages to the network (non-empty lists only)
    failpoint(name: str)                       one of runtime/failpoints.NAMES; may not return
    append(entries, state, sync)               the group commit when there are entries or the hard state moved
                                               only its commit index: write `entries` (may be empty), replacing
                                               the log from entries[0].index on, and `state` (None: unchanged) as
                                               one group; fsync iff `sync`; returns the fields of the
                                               `log_appended` record (None: no record). Default: refuses entries.
    apply(committed)                           hand committed, durable entries to the state machine in log order;
                                               returns the fields of the `entries_applied` record (None: none).
                                               Default: does nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from raftzmq.protocol.messages import Entry, Message
from raftzmq.protocol.ready import Event, HardState, Output, hard_state_changed, must_sync

__all__ = ["Apply", "SavePort", "LogPort", "SendPort", "FailpointPort", "AppendPort", "ApplyPort", "embed",
           "persist_index", "no_log"]

SavePort = Callable[[HardState], Any]
LogPort = Callable[..., Any]  # log(event: str, *, term: int, **fields)
SendPort = Callable[[list[Message]], Any]
FailpointPort = Callable[[str], Any]
AppendPort = Callable[[Sequence[Entry], "HardState | None", bool], "dict[str, Any] | None"]
ApplyPort = Callable[[Sequence[Entry]], "dict[str, Any] | None"]
Apply = Callable[[Output], None]


def persist_index(events: list[Event], term: int) -> int:
    """Where `state_persisted` at `term` goes among `events`: before the first event of that term (events of one
    Output never go back in term), or after all of them."""
    for i, ev in enumerate(events):
        if ev.term >= term:
            return i
    return len(events)


def no_log(entries: Sequence[Entry], state: HardState | None, sync: bool) -> dict[str, Any] | None:
    """The default append port: an embedding without a log refuses entries (dropping them would let messages
    that depend on them leave); a commit-only hard state is simply not written (a lost commit index is learnt
    again from the leader)."""
    if entries:
        raise ValueError(f"this embedding has no log to append {len(entries)} entries to")
    return None


def _apply_nothing(committed: Sequence[Entry]) -> dict[str, Any] | None:
    return None


def embed(save: SavePort, log: LogPort, send: SendPort, failpoint: FailpointPort | None = None, *,
          append: AppendPort = no_log, apply: ApplyPort = _apply_nothing, state: HardState | None = None) -> Apply:
    """Return `apply(ready)`, which carries out one core Output (a Ready) through the ports in the contract's
    order. `state` is the hard state the node started from (None: unknown, so the first persist always syncs).
    Without a failpoint port (the simulator, the harnesses) no failpoint is ever called."""
    durable: list[HardState | None] = [state]  # the last durable hard state: what must_sync compares with
    apply_committed = apply

    def group(out: Output) -> list[Event]:
        """The group commit and its records; returns the events still to log."""
        persist, events, entries = out.persist, out.events, out.entries
        prev = durable[0]
        changed = persist is not None and hard_state_changed(prev, persist)
        if persist is not None and changed:
            cut = persist_index(events, persist.term)
        else:
            cut = 0  # entries or a commit-only change: every event of this Ready is logged after the write
        for ev in events[:cut]:
            log(ev.name, term=ev.term, **ev.fields)
        sync = must_sync(prev, out)
        if sync and failpoint is not None:
            failpoint("before_persist")
        appended = None
        if entries or (persist is not None and not changed):
            appended = append(entries, persist, sync)
        elif persist is not None:
            save(persist)  # the v1 path: term or vote changed, no entries
        if persist is not None:
            durable[0] = persist
            if changed:
                log("state_persisted", term=persist.term, voted_for=persist.voted_for)
        if appended is not None:
            term = persist.term if persist is not None else (prev.term if prev is not None else None)
            if term is None:
                raise ValueError("entries to append but the node's term is unknown (pass embed(state=...))")
            log("log_appended", term=term, **appended)
        if sync and failpoint is not None:
            failpoint("after_persist_before_send")
        return events[cut:]

    def carry_out(out: Output) -> None:
        events = out.events
        if out.persist is not None or out.entries:
            events = group(out)
        if events:  # the hot path (a heartbeat or its answer) has neither persist nor events
            for ev in events:
                log(ev.name, term=ev.term, **ev.fields)
        if out.messages:
            send(out.messages)
            if failpoint is not None:
                failpoint("after_send")
        if out.committed:
            applied = apply_committed(out.committed)
            if applied is not None:
                d = durable[0]
                log("entries_applied", term=d.term if d is not None else 0, **applied)

    return carry_out
