"""The one embedding of the core: how a `Ready` (the core's `Output`) becomes effects, through narrow ports.

Used by the node process (runtime/node/process.py), the simulator (lab/sim/simulator.py) and the test harnesses, so the
order below is the order everywhere and a reordering bug shows in every simulated seed:

    log the events the core produced before it changed durable state
    -> send `early` (messages that may leave before the persist: a candidate's RequestVotes)
    [failpoint before_persist]
    -> one group commit: append `entries` to the log and save the hard state, fsync if `must_sync`
    -> log state_persisted (term or vote changed) / log_appended (entries)
    -> [failpoint after_persist_before_send]
    -> log the remaining events -> send the messages -> [failpoint after_send]
    -> apply `committed` (durable by now) -> log entries_applied -> hand `reads` (ReadIndex answers) to the reads port

Nothing leaves before what it depends on is durable: a message is sent only after the hard state and the entries
of the same Ready are on disk, and committed entries are applied only after that too. The one exception is
`early`, which the core fills only with messages that depend on nothing in the persist: a candidate's
RequestVotes go out before its own term and vote are durable, so that its fsync and its voters' run in parallel,
and the core counts its own vote only at its next input, when this Ready has been carried out
(docs/core-contract.md, "Asking before the own vote is durable"). The same argument lets a leader write its own
new entries in parallel with sending them (thesis §10.2.1): a core that takes durability acknowledgements
(`persisted`, below) puts its AppendEntries with new entries in `early` and counts itself only once told.

Durability acknowledgements (`embed(persisted=...)`, for a core with `persisted(state, last_index, now)`): right
after each Ready whose group commit synced (and after the rest of that Ready is carried out), the embedding
calls `persisted(durable hard state, durable last index)` and carries out the Output it returns the same way
(that one may sync again: repeated until nothing new is durable). An embedding whose group commit completes
later (the node process, which syncs once per loop turn; the simulator's asynchronous disk) calls
`acknowledge()` itself when it completes instead. `early=` is where early messages go (default: `send`), for an
embedding whose `send` waits for the group commit.

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
    early(messages: list[Message])             send `early` messages at once (default: send)
    persisted(state, last_index) -> Output     the core's acknowledgement input, bound to its clock (optional)
    failpoint(name: str)                       one of runtime/failpoints.NAMES; may not return
    append(entries, state, sync)               the group commit when there are entries or the hard state moved
                                               only its commit index: write `entries` (may be empty), replacing
                                               the log from entries[0].index on, and `state` (None: unchanged) as
                                               one group; fsync iff `sync`. The log first: a hard state whose
                                               commit covers new entries is saved only after they are synced.
                                               A replicating embedding (`embed(recovered=...)`) ignores what it
                                               returns and writes `log_appended` itself; otherwise it returns the
                                               record's fields (None: no record). Default: refuses entries.
    apply(committed)                           hand committed, durable entries to the state machine in log order.
                                               Replicating: `entries_applied` is written by the embedding;
                                               otherwise the port returns its fields (None: none). Default: nothing.
    reads(states)                              ReadIndex answers (ReadState), after the Ready's applies: the state
                                               machine serves each once it has applied its index. Default: nothing.

Replication records (replicating embeddings, docs/log-schema.md): `log_loaded` when the caller says so
(`Embedding.log_loaded()`, right after `node_started` and any `log_tail_cut`), `log_appended` right after the group
commit (with `state_persisted`), `commit_advanced` after the Ready's other events and before its messages leave,
`entries_applied` after the apply port. Digests come from one `evidence.logdigest.DigestChain` per incarnation,
built from the recovered log. Every record's `term` is the node's current term (the last persisted or logged).

One loop turn, one group commit: `Embedding.apply_many(readys)` merges consecutive Readys (the last hard state,
entries folded into one run, messages, events and committed entries in order) and splits only before a Ready
that changes term or vote again, so each `state_persisted` still precedes the records that depend on it.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from raftzmq.evidence.logdigest import DigestChain
from raftzmq.protocol.messages import Entry, Message
from raftzmq.protocol.ready import Event, HardState, Output, ReadState, hard_state_changed, must_sync

__all__ = ["Apply", "SavePort", "LogPort", "SendPort", "FailpointPort", "AppendPort", "ApplyPort", "ReadsPort",
           "PersistedPort",
           "Embedding",
           "embed", "merge", "persist_index", "no_log"]

SavePort = Callable[[HardState], Any]
LogPort = Callable[..., Any]  # log(event: str, *, term: int, **fields)
SendPort = Callable[[list[Message]], Any]
FailpointPort = Callable[[str], Any]
PersistedPort = Callable[[HardState, int], "Output | None"]
AppendPort = Callable[[Sequence[Entry], "HardState | None", bool], "dict[str, Any] | None"]
ApplyPort = Callable[[Sequence[Entry]], "dict[str, Any] | None"]
ReadsPort = Callable[[Sequence[ReadState]], Any]
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


def _read_nothing(states: Sequence[ReadState]) -> None:
    return None


def _fold(entries: Sequence[Entry]) -> list[Entry]:
    """Several Readys' entries as one run: each later group replaces the log from its first index on."""
    run: list[Entry] = []
    for e in entries:
        if run and e.index != run[-1].index + 1:
            keep = e.index - run[0].index
            if keep < 0 or e.index > run[-1].index + 1:
                raise ValueError(f"entry {e.index} does not follow or replace entries {run[0].index}..{run[-1].index}")
            del run[keep:]
        run.append(e)
    return run


def merge(outs: Sequence[Output]) -> Output:
    """One Ready standing for consecutive Readys of one core in which the hard state's term and vote change at
    most in the first (see `Embedding.apply_many`): the last hard state, every message, event and committed
    entry in order, the entries folded into one run, the last deadline."""
    if len(outs) == 1:
        return outs[0]
    persist = None
    messages: list[Message] = []
    events: list[Event] = []
    entries: list[Entry] = []
    committed: list[Entry] = []
    early: list[Message] = []
    for out in outs:
        if out.persist is not None:
            persist = out.persist
        messages += out.messages
        events += out.events
        entries += out.entries
        committed += out.committed
        early += out.early
    merged = Output(persist, messages, events, outs[-1].deadline, _fold(entries) if entries else (), committed)
    if early:
        merged.early = early
    for name in _extra_fields():  # fields added to the Ready later (e.g. `reads`): sequences, concatenated
        more = [v for out in outs for v in getattr(out, name)]
        if more:
            setattr(merged, name, more)
    return merged


_MERGED = frozenset({"persist", "messages", "events", "deadline", "entries", "committed", "early"})


def _extra_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(Output) if f.name not in _MERGED]


class Embedding:
    """`embedding(ready)` carries out one Ready; `apply_many(readys)` a loop turn's worth with one group commit
    (per term/vote change). Built by `embed`.

    A replicating embedding (`recovered` given: the entries the node's log holds at start) keeps the chained digest
    of its log (evidence/logdigest.DigestChain) and writes the replication records itself (docs/log-schema.md):
    `log_loaded` (call `log_loaded()` right after `node_started` and any `log_tail_cut`), `log_appended` after each
    group commit that wrote entries, `commit_advanced` when the commit index of a saved hard state rises (after
    the Ready's other events, before its messages leave), `entries_applied` after the apply port. The append
    port's return value is then ignored. Without `recovered` (contract v1 embeddings, old harnesses) the append
    and apply ports return the fields of those records themselves (None: no record)."""

    def __init__(self, save: SavePort, log: LogPort, send: SendPort, failpoint: FailpointPort | None, *,
                 append: AppendPort, apply: ApplyPort, state: HardState | None,
                 recovered: Sequence[Entry] | None, reads: ReadsPort = _read_nothing,
                 early: SendPort | None = None, persisted: PersistedPort | None = None) -> None:
        self._save, self._log, self._send, self._failpoint = save, log, send, failpoint
        self._early = early if early is not None else send
        self._append, self._apply, self._reads = append, apply, reads
        self.persisted_port = persisted  # set later by a caller that builds the core after the embedding
        self.auto_ack = True  # False: the caller calls acknowledge() when its group commit completes
        self._synced = False  # a group commit synced since the last acknowledgement
        self.last_index = len(recovered) if recovered is not None else 0  # the log's last index as written
        self.durable: HardState | None = state  # the last durable hard state: what must_sync compares with
        self.term = state.term if state is not None else 0  # the node's current term as the records know it
        self.chain: DigestChain | None = None
        self.commit = 0  # the highest commit index logged (or loaded)
        if recovered is not None:
            chain = self.chain = DigestChain()
            for e in recovered:
                if e.index != chain.last + 1:
                    raise ValueError(f"recovered entry {e.index} where {chain.last + 1} belongs")
                chain.append(e.term, e.data)
            c = state.commit if state is not None else 0
            self.commit = c if c <= chain.last else chain.last

    def log_loaded(self) -> None:
        """Write `log_loaded` (what the node recovered: last index, digest, commit index, term runs)."""
        chain = self.chain
        if chain is None:
            raise ValueError("log_loaded needs a replicating embedding (embed(recovered=...))")
        self._log("log_loaded", term=self.term, **chain.loaded_fields(self.commit))

    def __call__(self, out: Output) -> None:
        events = out.events
        if out.persist is not None or out.entries:
            events = self._group(out)  # sends `early` before it makes anything durable
        elif out.early:
            self._early(list(out.early))
        log = self._log
        if events:  # the hot path (a heartbeat or its answer) has neither persist nor events
            for ev in events:
                log(ev.name, term=ev.term, **ev.fields)
            self.term = events[-1].term
        chain = self.chain
        if chain is not None and out.persist is not None and out.persist.commit > self.commit:
            c = self.commit = out.persist.commit
            log("commit_advanced", term=self.term, commit=c, digest=chain.digest(c))
        if out.messages:
            self._send(out.messages)
            if self._failpoint is not None:
                self._failpoint("after_send")
        committed = out.committed
        if committed:
            applied = self._apply(committed)
            if chain is not None:
                last = committed[-1].index
                applied = {"first": committed[0].index, "last": last, "digest": chain.digest(last)}
            if applied is not None:
                log("entries_applied", term=self.term, **applied)
        if out.reads:
            self._reads(out.reads)
        if self._synced and self.auto_ack and self.persisted_port is not None:
            self.acknowledge()

    def acknowledge(self, state: HardState | None = None, last_index: int | None = None) -> None:
        """Tell the core what is durable (`persisted(state, last_index)`) and carry out its answer. Without
        arguments (a synchronous group commit): the last hard state and log written, only if something was
        synced since the last acknowledgement, repeated while the answer syncs again. With them (a write that
        completed later, e.g. the simulator's asynchronous disk): exactly that, once; the caller acknowledges
        whatever the answer writes when that completes. Nothing happens without a persisted port."""
        port = self.persisted_port
        if port is None:
            return
        given = state is not None
        while True:
            if not given:
                if not self._synced or self.durable is None:
                    return
                state, last_index = self.durable, self.last_index
            assert state is not None and last_index is not None
            self._synced = False
            out = port(state, last_index)
            if out is None:
                return
            auto, self.auto_ack = self.auto_ack, False
            try:
                self(out)
            finally:
                self.auto_ack = auto
            if given or not auto:
                return

    def apply_many(self, outs: Sequence[Output]) -> None:
        """Carry out consecutive Readys of one core as few as possible: merged, one group commit each, split only
        before a Ready that changes term or vote again (its records must follow the durable state they depend
        on: a merged Ready logs its events before the persist only up to the first event of the persisted term).
        Effects are those of applying them one by one; messages and applies wait for the one fsync."""
        seg: list[Output] = []
        last = self.durable
        for out in outs:
            p = out.persist
            if p is not None:
                if seg and hard_state_changed(last, p):
                    self(merge(seg))
                    seg = []
                last = p
            seg.append(out)
        if seg:
            self(merge(seg))

    def _group(self, out: Output) -> list[Event]:
        """The group commit and its records; returns the events still to log."""
        persist, events, entries = out.persist, out.events, out.entries
        prev = self.durable
        changed = persist is not None and hard_state_changed(prev, persist)
        if persist is not None and changed:
            cut = persist_index(events, persist.term)
        else:
            cut = 0  # entries or a commit-only change: every event of this Ready is logged after the write
        log, failpoint = self._log, self._failpoint
        for ev in events[:cut]:
            log(ev.name, term=ev.term, **ev.fields)
        if out.early:  # after the old term's records: what sending logs (a drop) carries the new term
            self._early(list(out.early))
        sync = must_sync(prev, out)
        if sync and failpoint is not None:
            failpoint("before_persist")
        appended = None
        if sync:
            self._synced = True
        if entries:
            self.last_index = entries[-1].index  # (the log is replaced from entries[0].index on)
        if entries or (persist is not None and not changed):
            appended = self._append(entries, persist, sync)
        elif persist is not None:
            self._save(persist)  # the v1 path: term or vote changed, no entries
        if persist is not None:
            self.durable = persist
            self.term = persist.term
            if changed:
                log("state_persisted", term=persist.term, voted_for=persist.voted_for)
        elif cut:
            self.term = events[cut - 1].term
        chain = self.chain
        if chain is not None:
            appended = chain.replace_from(entries) if entries else None
        if appended is not None:
            if prev is None and persist is None:
                raise ValueError("entries to append but the node's term is unknown (pass embed(state=...))")
            log("log_appended", term=self.term, **appended)
        if sync and failpoint is not None:
            failpoint("after_persist_before_send")
        return list(events[cut:])


def embed(save: SavePort, log: LogPort, send: SendPort, failpoint: FailpointPort | None = None, *,
          append: AppendPort = no_log, apply: ApplyPort = _apply_nothing, state: HardState | None = None,
          recovered: Sequence[Entry] | None = None, reads: ReadsPort = _read_nothing,
          early: SendPort | None = None, persisted: PersistedPort | None = None) -> Embedding:
    """Return the embedding whose call `apply(ready)` carries out one core Output (a Ready) through the ports in
    the contract's order. `state` is the hard state the node started from (None: unknown, so the first persist
    always syncs). `recovered`: the entries of the node's log at start; given, the embedding writes the
    replication records itself (see `Embedding`). Without a failpoint port (the simulator, the harnesses) no
    failpoint is ever called. `early`, `persisted`: see the module docstring (durability acknowledgements)."""
    return Embedding(save, log, send, failpoint, append=append, apply=apply, state=state, recovered=recovered,
                     reads=reads, early=early, persisted=persisted)
