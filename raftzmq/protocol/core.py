"""The Raft state machine of one node, election and log replication: sans-IO.

Input: a message or the passage of time (`now`, seconds on any monotonic clock) and an injected RNG.
Output: an `Output` saying what to persist, what to send, what happened (events) and when to call again.
It never touches sockets, files or clocks, so the very same code runs in node processes and in the simulator.

The embedding (runtime/node/embedding.py, the one used everywhere) applies an Output in this order: log the events
produced before the core entered the persisted term, persist `persist` durably (if not None) and log
`state_persisted`, log the remaining events, then send `messages`. That is what makes "a vote leaves only after
it is durable" true (Raft thesis, section 3.8). Events of one Output never go back in term.

Replication (§5.3-5.4; protocol/raftlog.py holds the log, protocol/progress.py what a leader knows of each follower):
`propose(data, now)` appends a command on the leader (or refuses it, naming the leader); the leader streams
AppendEntries per follower as its progress allows (PROBE: one and wait; REPLICATE: a window bounded by count and
bytes, each message by `max_entries_per_message` / `max_bytes_per_message`); a follower checks (prev_index,
prev_term), replaces a conflicting suffix (never a committed entry) and answers with its match or the fast-backup
hint; the leader commits the highest index on a majority whose entry is of its own term (§5.4.2) and appends an
empty entry when elected with entries it does not know committed; votes and pre-votes go only to candidates at
least as up-to-date (§5.4.1); a leadership transfer sends TimeoutNow once the target's log matches. What the log
took goes out as the Ready's `entries`, the commit index in its hard state, newly committed entries once, in log
order, as `committed`. With no proposals every log stays empty and the election behaves (and draws) exactly as
the election-only core did.

Durability acknowledgements (`persisted(state, last_index, now)`, docs/core-contract.md): once the embedding calls
it, the core is in acknowledged mode. A candidate counts its own vote only when `state` covers its candidacy; a
leader counts its own log towards a commit only up to `last_index` (`own_match`), and so its AppendEntries with
new entries go out in `Output.early`, before its own write (the Raft thesis, §10.2.1). Why that is safe: the
AppendEntries promise nothing a crash takes back. A leader that crashes before its write completes comes back
with a shorter log at its durable term; what it sent is on the followers, durably once they answer, and an entry
counts as committed only on a majority of durable copies - the leader's own only once acknowledged - so a
minority's crash loses no committed entry and the election restriction keeps the entry in every later leader.
What it cannot do is commit on a copy that is not durable, and that is exactly what it never counts. Everything
else (votes granted, AppendResponses, heartbeats, TimeoutNow, commit-dependent replies) still leaves only after
what it depends on is durable. Without acknowledgements (embeddings that never call it) the core counts both at
its next input, as before, and sends entries only with its other messages.

Structure follows etcd-io/raft: term handling happens once at the top of `step`, for every role; then the
current role's own step (a table: message type -> handler) and, on `tick`, the role's own tick. `_become` swaps
both in and refuses transitions not in `TRANSITIONS`; `become_follower`, `become_candidate` and `become_leader`
share one `reset(term)` of the per-term state (a pre-candidacy asks about term + 1 and keeps the term). Disconnect
hints live in a collaborator (protocol/hints.py) that the core consults at a few points. Experiments bend the
rules through documented configuration hooks (`ElectionRules`, a `Hints` subclass), never private overrides.

CheckQuorum's leader lease, as etcd-io/raft has it (`inLease` in raft.go's Step): a node that heard from a live
leader within the minimum election timeout (or is that leader) ignores a RequestVote of a higher term: it neither
adopts the term nor answers (it logs `vote_denied`, reason `leader_alive`). Only a request that says it comes from
a leadership transfer (`RequestVote.transfer`, sent by a node told TimeoutNow) passes the lease. What the ignored
node still does, as in etcd: it answers the leader's heartbeats of the lower term with an AppendResponse of its
higher term, and that response deposes the leader (`stepped_down`, reason `higher_term`) — the disruption etcd
calls inevitable to free a node stuck at a higher term, and which only PreVote prevents.

Disconnect hints (`CoreConfig.hints`, off by default): the embedding tells the core through `hint(peer, now)` that
its connection to `peer` closed (a crashed process's connections close at once; a paused or partitioned one's do
not). A follower that hears this about its leader waits a random delay in [0, hint_window) and then starts a
*pre-vote* flagged `hint` — never a real vote, so a false hint cannot depose a live leader. A hint the node saw
itself ends its own lease for that leader (for at most one minimum election timeout), so it grants such
pre-votes and the real vote that follows; a node that saw no hint keeps its lease and denies them. Followers
that all saw the same close must not split the real vote: a node that grants a hint pre-vote drops its own
pending hint campaign (someone else runs already), a node that sees the close after it heard another's hint
pre-vote starts none (the hint pre-candidate asks again, after 1, 2, 4... hint windows, those who have not granted
yet), and of two hinted pre-candidates that meet, the lower id runs on and the other yields.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .messages import (
    APPEND_ENTRIES_FIXED_BYTES,
    ENTRY_WIRE_BYTES,
    MAX_ENTRIES_PER_MESSAGE,
    MAX_FRAME_BYTES,
    AppendEntries,
    AppendResponse,
    Entry,
    Message,
    RequestVote,
    TimeoutNow,
    VoteResponse,
)
from .progress import PROBE, Tracker
from .quorum import majority
from .raftlog import Accepted, LogSafetyError, RaftLog
from .hints import Hints
from .ready import Event, HardState, Output, ReadState, Ready, must_sync
from .surface import Rng

__all__ = [
    "FOLLOWER",
    "PRECANDIDATE",
    "CANDIDATE",
    "LEADER",
    "TRANSITIONS",
    "PERSIST_MODES",
    "READ_MODES",
    "CoreConfig",
    "HardState",
    "Event",
    "Output",
    "Ready",
    "must_sync",
    "ElectionCore",
    "ElectionRules",
    "Proposal",
    "MAX_MESSAGE_ENTRY_BYTES",
    "Hints",
    "IllegalTransition",
]

FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER = "follower", "precandidate", "candidate", "leader"

# Every role change the core may make, as data, so the docs and the code cannot drift apart.
TRANSITIONS: dict[str, frozenset[str]] = {
    FOLLOWER: frozenset({FOLLOWER, PRECANDIDATE, CANDIDATE}),
    PRECANDIDATE: frozenset({FOLLOWER, PRECANDIDATE, CANDIDATE}),
    CANDIDATE: frozenset({FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER}),
    LEADER: frozenset({FOLLOWER}),
}

# "term-only" is deliberately unsafe: it exists so users can watch the checker catch the double vote it allows.
PERSIST_MODES = ("term+vote", "term-only")
# How `read_index` confirms leadership (docs/core-contract.md, "ReadIndex"): "index" by a quorum's answer to a
# heartbeat round sent after the read arrived (thesis §6.4); "lease" serves at once while CheckQuorum's lease holds
# (thesis §6.4.1), which assumes clocks that run at the same rate within `max_clock_drift` (clock-dependent).
READ_MODES = ("index", "lease")


# The largest entry budget one AppendEntries may carry: its frame minus the fixed part. Entry sizes in the core's
# RaftLog include ENTRY_WIRE_BYTES each, so a budget bounds the encoded message, not just the payloads.
MAX_MESSAGE_ENTRY_BYTES = MAX_FRAME_BYTES - APPEND_ENTRIES_FIXED_BYTES


class IllegalTransition(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Proposal:
    """What `propose` did: `accepted` means appended to the leader's log at (`index`, `term`) - not committed
    yet; the embedding learns the commit from Ready.committed. Refused (not leader, or a leadership transfer is
    under way): index and term are 0 and `leader` is the leader this node knows (None: unknown; this node's own
    id during a transfer)."""

    accepted: bool
    index: int
    term: int
    leader: int | None


@dataclass(frozen=True, slots=True)
class CoreConfig:
    node_id: int
    members: tuple[int, ...]
    election_timeout_min: float = 0.150
    election_timeout_max: float = 0.300
    heartbeat_interval: float = 0.050
    prevote: bool = True
    check_quorum: bool = True
    persist_mode: str = "term+vote"
    hints: bool = False
    hint_window: float = 0.002  # a hinted follower campaigns after a delay drawn from [0, hint_window)
    # replication (per follower): one AppendEntries carries at most this many entries and bytes (entry wire size:
    # ENTRY_WIRE_BYTES + data); at most max_inflight_messages unacknowledged AppendEntries and (softly)
    # max_inflight_bytes of entries are out at once
    max_entries_per_message: int = MAX_ENTRIES_PER_MESSAGE
    max_bytes_per_message: int = MAX_MESSAGE_ENTRY_BYTES
    max_inflight_messages: int = 256
    max_inflight_bytes: int = 8 << 20
    # reads (read_index): "index" (ReadIndex) or "lease" (served locally while the leader lease holds: the last
    # quorum-acknowledged heartbeat round's send time + election_timeout_min * (1 - max_clock_drift); needs
    # CheckQuorum, and no disconnect hints, which end followers' leases early)
    read_mode: str = "index"
    max_clock_drift: float = 0.1

    def __post_init__(self) -> None:
        if self.node_id not in self.members:
            raise ValueError(f"node {self.node_id} is not among members {self.members}")
        if len(set(self.members)) != len(self.members):
            raise ValueError(f"duplicate member ids in {self.members}")
        if not 0 < self.election_timeout_min < self.election_timeout_max:
            raise ValueError("need 0 < election_timeout_min < election_timeout_max")
        if not 0 < self.heartbeat_interval < self.election_timeout_min:
            raise ValueError("heartbeat_interval must be positive and below election_timeout_min")
        if self.persist_mode not in PERSIST_MODES:
            raise ValueError(f"persist_mode must be one of {PERSIST_MODES}")
        if not 0 < self.hint_window < self.election_timeout_min:
            raise ValueError("hint_window must be positive and below election_timeout_min")
        for name, value, high in (("max_entries_per_message", self.max_entries_per_message, MAX_ENTRIES_PER_MESSAGE),
                                  ("max_bytes_per_message", self.max_bytes_per_message, MAX_MESSAGE_ENTRY_BYTES),
                                  ("max_inflight_messages", self.max_inflight_messages, 1 << 20),
                                  ("max_inflight_bytes", self.max_inflight_bytes, 1 << 40)):
            if type(value) is not int or not 1 <= value <= high:
                raise ValueError(f"{name} must be an integer in [1, {high}], got {value!r}")
        if self.read_mode not in READ_MODES:
            raise ValueError(f"read_mode must be one of {READ_MODES}, got {self.read_mode!r}")
        if self.read_mode == "lease" and (not self.check_quorum or self.hints):
            raise ValueError("lease reads need check_quorum on and hints off (the followers' lease is what they "
                             "rely on)")
        if not (isinstance(self.max_clock_drift, (int, float)) and 0 <= self.max_clock_drift < 1):
            raise ValueError(f"max_clock_drift must be in [0, 1), got {self.max_clock_drift!r}")
        if self.max_bytes_per_message < ENTRY_WIRE_BYTES:
            raise ValueError(f"max_bytes_per_message must be at least {ENTRY_WIRE_BYTES} (one empty entry)")


class ElectionRules:
    """Configuration hooks: rules of the election that an experiment may bend. `ElectionCore(..., rules=R())` runs
    the core with a subclass that changes one decision; raftzmq/lab/conform/mutants.py builds its deliberately broken
    cores from these hooks and from composition (docs/core-contract.md, "The built-in core's hooks"). The defaults
    are Raft's; each hook is a decision (the core does the acting) and none is on the heartbeat path."""

    def lease_ignores(self, core: ElectionCore, msg: Message) -> bool:
        """A message of a higher term: ignore it, without adopting its term or answering? etcd-io/raft's inLease:
        with CheckQuorum, a real vote request is ignored while the leader lease holds, unless it was made for a
        leadership transfer. (Pre-votes are answered, denied, by the pre-vote rules.)"""
        return (isinstance(msg, RequestVote) and not msg.prevote and not msg.transfer
                and core.config.check_quorum and core.in_lease())

    def steps_down(self, core: ElectionCore, msg: Message) -> bool:
        """A (pre)candidate or leader hears of a higher term: become its follower (Raft, §5.1). False only adopts
        the term and keeps the role: unsafe, for mutants."""
        return True

    def keeps_vote_on_step_down(self, core: ElectionCore) -> bool:
        """Becoming follower without a term change keeps the vote of that term (§5.2). False forgets it: unsafe."""
        return True

    def grants_stale_vote(self, core: ElectionCore, msg: RequestVote) -> bool:
        """A real vote request of a lower term: grant it anyway? Never in Raft (§5.1): it is denied with our term."""
        return False

    def candidate_up_to_date(self, core: ElectionCore, msg: RequestVote) -> bool:
        """§5.4.1: a (pre-)vote goes only to a candidate whose log is at least as up-to-date as ours (the later
        last term wins; with equal last terms, the longer log). False everywhere: unsafe, for mutants."""
        return core.log.is_up_to_date(msg.last_log_index, msg.last_log_term)

    def appends_noop(self, core: ElectionCore) -> bool:
        """A new leader appends an empty entry of its term (§5.4.2, thesis §3.6.2: earlier terms' entries commit
        only through one of the current term; a read needs the leader to know its commit index). Needed only when
        the log holds entries the leader does not know committed: when last index == commit index, Leader
        Completeness puts every committed entry in its log, so its commit index is already the cluster's and a
        no-op would change nothing (an election-only run, whose logs stay empty, writes no entry at all)."""
        return core.log.last_index > core.log.commit

    def commit_index(self, core: ElectionCore) -> int:
        """The commit index the leader may take now: the highest index on a majority whose entry is of its own
        term (§5.4.2, the tracker); never an earlier term's entry by counting replicas (Figure 8). The leader
        counts itself as holding `core.own_match`: its whole log, or, once the embedding acknowledges writes
        (`persisted`), only what is durable (thesis §10.2.1)."""
        tracker = core.tracker
        assert tracker is not None
        return tracker.committable(core.log, core.term, core.own_match)


_RULES = ElectionRules()
_INF = float("inf")


class ElectionCore:
    """One node's election state. Not thread-safe by design: one caller, one loop.

    Per role, as etcd-io/raft does it: each role has its own step table (message type -> handler) and tick, and
    `_become` swaps them in; the `become_*` transitions share one `reset(term)` of the per-term state. Term handling
    happens once, at the top of `step`, for every role. Disconnect hints live in the `hints` collaborator.

    Public state (read by embeddings, conform and tests): `config`, `id`, `peers`, `quorum`, `rng`, `now`, `term`,
    `voted_for`, `role`, `leader`, `votes`, `deadline`, `transfer_target`, `hints`, `rules`; replication: `log`
    (the RaftLog), `tracker` (the leader's Tracker, else None), `last_index`, `commit_index`, `transfer_sent`.

    `log`: the entries recovered from disk, in index order (the WAL's); `state.commit` is the commit index saved
    with the hard state (cut to the recovered log). `applied`: how much of the committed prefix the state machine
    already holds (0: everything committed is handed out again in the first Ready, for an in-memory state
    machine rebuilt at start)."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None,
                 log: Iterable[Entry] = (), *, applied: int = 0, rules: ElectionRules | None = None,
                 hints: Hints | None = None) -> None:
        self.config = config
        self.id = config.node_id
        self.peers = tuple(m for m in config.members if m != self.id)
        self._peer_set = frozenset(self.peers)
        self.rules = rules if rules is not None else _RULES
        self.hints = hints if hints is not None else Hints()
        vote, ignore = self._on_request_vote, self._ignore
        self._steps: dict[str, dict[type, Callable[[Any], None]]] = {
            FOLLOWER: {RequestVote: vote, VoteResponse: ignore, AppendEntries: self._follower_append,
                       AppendResponse: ignore, TimeoutNow: self._follower_timeout_now},
            PRECANDIDATE: {RequestVote: vote, VoteResponse: self._precandidate_vote_response,
                           AppendEntries: self._precandidate_heartbeat, AppendResponse: ignore, TimeoutNow: ignore},
            CANDIDATE: {RequestVote: vote, VoteResponse: self._candidate_vote_response,
                        AppendEntries: self._candidate_heartbeat, AppendResponse: ignore, TimeoutNow: ignore},
            LEADER: {RequestVote: vote, VoteResponse: ignore, AppendEntries: self._leader_heartbeat,
                     AppendResponse: self._leader_append_response, TimeoutNow: ignore},
        }
        self._ticks: dict[str, Callable[[float], None]] = {
            FOLLOWER: self._tick_follower, PRECANDIDATE: self._tick_precandidate, CANDIDATE: self._tick_candidate,
            LEADER: self._tick_leader,
        }
        self.quorum = majority(len(config.members))
        self.rng: Rng = rng if rng is not None else random.Random()
        self.term = state.term
        self.voted_for = state.voted_for
        # The log as recovered; a commit index beyond it (a disk that lost a synced-looking tail) is cut to it.
        entries = list(log)
        commit = state.commit if state.commit <= len(entries) else len(entries)
        self.log = RaftLog(entries, commit, applied=min(applied, commit), entry_overhead=ENTRY_WIRE_BYTES)
        if self.log.last_term > self.term:
            # A hard state older than the log it wrote (an entry of term T is appended only once T is adopted):
            # only a disk that loses writes out of order does this (`sim --disk unsafe-no-fsync`). The node takes
            # the log's term with no vote - the vote it may have cast there is lost, which the checker can catch
            # as a double vote - instead of sending messages its own log contradicts.
            self.term, self.voted_for = self.log.last_term, None
        self.tracker: Tracker | None = None  # leader only: what it knows of each follower's log
        self._entries: list[Entry] = []  # appended to the log since the last Ready: that Ready's `entries`
        self.role = FOLLOWER
        self._step_role = self._steps[FOLLOWER]
        self._tick_role = self._ticks[FOLLOWER]
        # per-term state: reset(term) clears all of it
        self.leader: int | None = None
        self.votes: set[int] = set()  # voters that granted this (pre)candidacy, self included
        self.leader_heard_at: float | None = None  # last heartbeat from the current leader
        self.peer_heard_at: dict[int, float] = {}  # leader only: last response per peer, for CheckQuorum
        self.transfer_target: int | None = None
        self.transfer_sent = False  # TimeoutNow went out (once the target caught up)
        self.heartbeat_deadline = _INF
        # ReadIndex (per term; the leader's): rounds of heartbeats, each read waits for a quorum's answer to one
        self._read_round = 0  # the round the leader's AppendEntries carry now (0: no read yet this term)
        self._read_acked: dict[int, int] = {}  # peer -> highest round it answered
        self._read_quorum_round = 0  # highest round a quorum (the leader included) answered
        self._read_sent_at: dict[int, float] = {}  # lease mode: round -> when it started
        self._read_waiting: list[tuple[int, int, int]] = []  # (round, ctx, read index), rounds ascending
        self._lease_until = -_INF
        self._lease_off = False  # TimeoutNow went out this term: the lease no longer holds
        self._term_start = 0  # the leader's last index when elected: reads need the commit index there
        self._reads: list[ReadState] = []  # answers of this input: the Ready's `reads`
        # not per-term
        self.transfer_deadline = 0.0
        self.now = now
        self.election_deadline = 0.0
        self._patience_until = 0.0  # campaign_now: candidacies (not pre-candidacies) last at least until then
        # Lease reads: a node that (re)starts may have acknowledged a leader's heartbeat just before it crashed; it
        # keeps that leader's lease by ignoring candidates for a minimum election timeout from its start
        self._start_lease_until = now + config.election_timeout_min if config.read_mode == "lease" else -_INF
        self._term_only = config.persist_mode == "term-only"
        # what is on disk (the recovered state): a term taken from the log above is persisted with the first Ready
        self._persisted = HardState(state.term, None if self._term_only else state.voted_for, commit)
        self._messages: list[Message] = []
        # The idle hot path sends the same messages again and again: the last heartbeat to each peer and the last
        # heartbeat answer are reused while every field is the same (messages are immutable; an equal message
        # is the same message), which spares building and validating them, and the codec's cache finds them
        # by identity.
        self._beats: dict[int, AppendEntries] = {}
        self._answer: AppendResponse | None = None
        self._early: list[Message] = []  # may leave before this input's persist is durable (see become_candidate)
        self._own_vote = 0  # a candidacy's term whose own vote is not counted yet (it is not known durable)
        # Durability acknowledgements (`persisted`): None until the embedding first calls it, and then the core
        # counts its own vote and (as leader) its own log only from them; else at its next input, as before.
        self._durable_index: int | None = None  # the log is durable up to here (acknowledged mode)
        self._events: list[Event] = []
        self._reset_election_timer()

    # ------------------------------------------------------------------ public API

    def step(self, msg: Message, now: float) -> Output:
        """Handle one message addressed to this node: term handling once, for every role, then the role's step."""
        self.now = now
        if msg.dst != self.id or msg.src not in self._peer_set:
            raise ValueError(f"message {msg} is not for node {self.id} from a peer (the codec should stop it)")
        if self._own_vote and self._durable_index is None:
            self._count_own_vote()
        term = msg.term
        if term > self.term:
            if self.rules.lease_ignores(self, msg):
                self._emit("vote_denied", candidate=msg.src, reason="leader_alive")  # no answer, no term change
                return self._flush()
            if not self._is_future_term_probe(msg):
                if self.role == FOLLOWER or self.rules.steps_down(self, msg):
                    leader = msg.src if isinstance(msg, (AppendEntries, TimeoutNow)) else None
                    reason = "transfer" if msg.src == self.transfer_target else "higher_term"
                    self.become_follower(term, leader, reason)
                else:
                    self.term, self.voted_for = term, None  # (a rules hook kept the role: unsafe, mutants only)
        elif term < self.term:
            self._answer_stale(msg)
            return self._flush()
        self._step_role[type(msg)](msg)  # the role's step: a flat switch on message type, as a table
        return self._flush()

    def tick(self, now: float) -> Output:
        """Advance time: the role's tick fires the election timeout, a hint or the leader's heartbeat if due."""
        self.now = now
        if self._own_vote and self._durable_index is None:
            self._count_own_vote()
        self._tick_role(now)
        return self._flush()

    def hint(self, peer: int, now: float, closed: str = "connection") -> Output:
        """The embedding saw its connection to `peer` close (`closed` says which, for the log). Acted on only with
        `config.hints`, by a follower, about its current leader, once per leader; anything else changes nothing."""
        self.now = now
        if peer not in self._peer_set:
            raise ValueError(f"node {peer} is not a peer of node {self.id}")
        if self._own_vote and self._durable_index is None:
            self._count_own_vote()
        if self.hints.observe(self, peer, now):
            self._emit("hint", peer=peer, closed=closed)
        return self._flush()

    def persisted(self, state: HardState, last_index: int, now: float) -> Output:
        """The embedding's acknowledgement: the hard state `state` and the log up to `last_index` are durable
        (called right after each group commit; a write completes in order, so everything handed out before it
        is durable too). From the first call on, the core is in *acknowledged mode*: a candidate counts its own
        vote only once `state` covers its candidacy's term, and a leader counts itself towards a commit only up
        to `last_index`, which lets its AppendEntries with new entries leave in `Output.early`, before its own
        write (thesis §10.2.1; docs/core-contract.md, "Durability acknowledgements"). An embedding that calls
        it once calls it after every write; calling it at start with the loaded state (true: it is durable)
        switches the mode on before the first input."""
        self.now = now
        if type(last_index) is not int or last_index < 0:
            raise ValueError(f"last_index must be a non-negative int, got {last_index!r}")
        self._durable_index = last_index
        if self._own_vote and state.term >= self._own_vote:
            self._count_own_vote()
        elif self.role == LEADER:
            self._advance_commit()
        return self._flush()

    @property
    def own_match(self) -> int:
        """How much of its log the node counts as its own copy towards a commit: all of it, or in acknowledged
        mode what `persisted` said is durable (never beyond the log: a durable index from before a truncation)."""
        durable, last = self._durable_index, self.log.last_index
        return last if durable is None or durable > last else durable

    @property
    def acknowledged(self) -> bool:
        """Whether the embedding acknowledges writes (`persisted` was called): see `persisted`."""
        return self._durable_index is not None

    @property
    def last_index(self) -> int:
        return self.log.last_index

    @property
    def commit_index(self) -> int:
        return self.log.commit

    def propose(self, data: bytes, now: float) -> tuple[Proposal, Output]:
        """A client's command: the leader appends it to its log as an entry of its term and starts replicating
        it (Figure 2, "Rules for Servers: Leaders"); it is committed once a majority holds it (Ready.committed).
        Anyone else, and a leader in the middle of a leadership transfer (thesis §3.10: it stops accepting
        commands), refuses, naming the leader it knows."""
        self.now = now
        if self.role != LEADER:
            return Proposal(False, 0, 0, self.leader), self._flush()
        if self.transfer_target is not None:
            return Proposal(False, 0, 0, self.id), self._flush()
        entry = self.log.leader_append(self.term, data)
        self._entries.append(entry)
        for peer in self.peers:
            self._replicate(peer)
        if not self.peers:
            self._advance_commit()
        return Proposal(True, entry.index, entry.term, self.id), self._flush()

    def read_index(self, ctx: int, now: float) -> Output:
        """A linearizable read, `ctx` chosen by the caller (thesis §6.4, ReadIndex): answered in this or a later
        Ready's `reads` as ReadState(ctx, index, leader). The leader takes its commit index as the read index
        once it knows that index is the cluster's (an entry of its term committed, or every entry it held when
        elected; else refused at once, leader = its own id) and answers when a quorum has answered a heartbeat
        round that started after the read arrived: reads arriving while a round is out share the next one. A
        follower or candidate refuses (index None) naming the leader it knows; a leader that steps down refuses
        what still waits. With `read_mode="lease"` a leader whose lease holds answers at once (clock-dependent);
        otherwise it falls back to a round."""
        self.now = now
        if self._own_vote:
            self._count_own_vote()
        log = self.log
        if self.role != LEADER:
            self._reads.append(ReadState(ctx, None, self.leader))
        elif log.commit < self._term_start:
            self._reads.append(ReadState(ctx, None, self.id))
        elif not self.peers or self._lease_holds(now):
            self._reads.append(ReadState(ctx, log.commit, self.id))
        elif self._read_quorum_round == self._read_round:  # no round out: start one for this read
            self._start_round()
            self._read_waiting.append((self._read_round, ctx, log.commit))
            self._broadcast_heartbeat()
        else:  # a round is out: this read waits for the next, started when that one is answered
            self._read_waiting.append((self._read_round + 1, ctx, log.commit))
        return self._flush()

    def lease_holds(self, now: float) -> bool:
        """Lease reads (`read_mode="lease"`): this leader may serve a read locally at `now`."""
        return self.role == LEADER and self._lease_holds(now)

    def _lease_holds(self, now: float) -> bool:
        return (self.config.read_mode == "lease" and not self._lease_off and self.transfer_target is None
                and now < self._lease_until)

    def _start_round(self) -> None:
        r = self._read_round = self._read_round + 1
        if self.config.read_mode == "lease":
            self._read_sent_at[r] = self.now

    def _read_answered(self, peer: int, r: int) -> None:
        """`peer` answered an AppendEntries of round `r` (> the quorum's round): confirm what a quorum now
        answered, release the reads of those rounds, extend the lease, and start the next round if reads wait."""
        self._read_acked[peer] = r
        need = self.quorum - 1  # the leader answers every round itself
        rounds = sorted((self._read_acked.get(p, 0) for p in self.peers), reverse=True)
        q = min(rounds[need - 1] if need > 0 else self._read_round, self._read_round)
        if q <= self._read_quorum_round:
            return
        self._read_quorum_round = q
        sent_at = self._read_sent_at
        if sent_at:
            started = sent_at.get(q)
            if started is not None:
                cfg = self.config
                until = started + cfg.election_timeout_min * (1.0 - cfg.max_clock_drift)
                if until > self._lease_until:
                    self._lease_until = until
            for k in [k for k in sent_at if k <= q]:
                del sent_at[k]
        waiting = self._read_waiting
        n = 0
        while n < len(waiting) and waiting[n][0] <= q:
            _, ctx, index = waiting[n]
            self._reads.append(ReadState(ctx, index, self.id))
            n += 1
        if n:
            del waiting[:n]
        if waiting and q == self._read_round:
            self._start_round()
            self._broadcast_heartbeat()

    def _refuse_reads(self, leader: int | None) -> None:
        if self._read_waiting:
            self._reads.extend(ReadState(ctx, None, leader) for _, ctx, _ in self._read_waiting)
            self._read_waiting = []

    def propose_batch(self, datas: Sequence[bytes], now: float) -> tuple[list[Proposal], Output]:
        """Several client commands at once, in order: what `propose` does for each one after the other (the same
        log, the same answers, all accepted or all refused), in one Ready whose AppendEntries carry them together
        (one message per follower where the progress allows, not one per command; the embedding program reads a
        batch of requests per wake-up). tests/test_core_replication.py holds it to `propose` one by one."""
        self.now = now
        if self.role != LEADER or self.transfer_target is not None:
            refused = Proposal(False, 0, 0, self.leader if self.role != LEADER else self.id)
            return [refused] * len(datas), self._flush()
        entries = self.log.leader_append_batch(self.term, datas)
        self._entries.extend(entries)
        if entries:
            for peer in self.peers:
                self._replicate(peer)
            if not self.peers:
                self._advance_commit()
        me, term = self.id, self.term
        return [Proposal(True, e.index, term, me) for e in entries], self._flush()

    def restart_election_timer(self, now: float) -> None:
        """Draw a follower's election timeout afresh from `now`, as at construction. The embedding program calls
        this when it stops holding a new node's timer (the cluster's start-up barrier): a timer drawn when the
        process started may have expired long ago, and all such timers firing at once would collide."""
        if self.role == FOLLOWER:
            self.now = now
            self._reset_election_timer()

    def campaign_now(self, now: float, patience: float = 0.0) -> Output:
        """A follower's election timer fires now: the usual (pre-)election, as if its timeout had expired, except
        that its candidacies last at least until `now + patience` before it tries again. The embedding
        nominates one node so at a cluster's start, while the others hold their timers: on a busy machine one
        round of durable votes from a large cluster can take longer than an election timeout, and restarting the
        election would throw those votes away (pre-vote rounds, which persist nothing, retry at the usual pace).
        Ends when it leads or follows; timers only decide liveness."""
        if self.role == FOLLOWER:
            self.election_deadline = now
            self._patience_until = now + patience
        return self.tick(now)

    def transfer_leadership(self, target: int, now: float) -> Output:
        """Ask `target` to take over: it campaigns at once, skipping the pre-vote."""
        self.now = now
        if self.role != LEADER:
            raise ValueError(f"node {self.id} is {self.role}, only a leader can transfer leadership")
        if target not in self.peers:
            raise ValueError(f"node {target} is not a peer of node {self.id}")
        self.transfer_target = target
        self.transfer_sent = False
        # A lost TimeoutNow, or a target that never catches up, must not leave the transfer pending forever (etcd
        # aborts after an election timeout).
        self.transfer_deadline = now + self.config.election_timeout_max
        self._emit("transfer_started", target=target)
        self._maybe_send_timeout_now()
        if not self.transfer_sent:
            pr = self.tracker[target] if self.tracker is not None else None
            if pr is not None and pr.can_send() and (pr.state == PROBE or pr.next <= self.log.last_index):
                self._replicate(target)
            elif pr is not None and pr.state != PROBE:
                self._probe_tail(target)
        return self._flush()

    def _maybe_send_timeout_now(self) -> None:
        # Thesis §3.10: TimeoutNow goes only once the target's log matches the leader's (it could not win
        # otherwise: a voter with a longer log would deny it), and only once.
        target, tracker = self.transfer_target, self.tracker
        if (target is not None and not self.transfer_sent and tracker is not None
                and tracker[target].match == self.log.last_index):
            self.transfer_sent = True
            self._lease_off = True  # the target may lead before our lease runs out: no more lease reads this term
            self._send(TimeoutNow(self.term, self.id, target))

    def hard_state(self) -> HardState:
        return HardState(self.term, self.voted_for, self.log.commit)

    @property
    def deadline(self) -> float:
        if self.role == LEADER:
            return self.heartbeat_deadline
        hint_deadline = self.hints.deadline
        return hint_deadline if hint_deadline < self.election_deadline else self.election_deadline

    def in_lease(self) -> bool:
        """This node is the leader, or heard from the current leader within the minimum election timeout and has
        not itself seen that leader's connection close since (CheckQuorum's lease); with lease reads, also for a
        minimum election timeout after the node started (it may have acknowledged a lease before a crash)."""
        return self.role == LEADER or (
            self.leader is not None
            and self.leader_heard_at is not None
            and self.now - self.leader_heard_at < self.config.election_timeout_min
            and not self.hints.holds(self)
        ) or self.now < self._start_lease_until

    # ------------------------------------------------------------------ role changes

    def reset(self, term: int) -> None:
        """Enter `term` (the vote is cleared when the term changes) and clear every piece of per-term state: the
        leader and when it was heard from, the votes collected, the leader's view of its peers, a pending transfer,
        the heartbeat timer, the reused heartbeat messages and the hint state. Called by every transition that starts a term's role (follower,
        candidate, leader); a pre-candidacy asks about term + 1 and changes none of it but the leader and votes."""
        if term != self.term:
            if term < self.term:
                raise ValueError(f"node {self.id}: term may not go back from {self.term} to {term}")
            self.term, self.voted_for = term, None
        self.leader = None
        self.leader_heard_at = None
        self.votes = set()
        self.peer_heard_at = {}
        self.tracker = None
        self.transfer_target = None
        self.transfer_sent = False
        self.heartbeat_deadline = _INF
        self._refuse_reads(None)
        self._read_round = self._read_quorum_round = 0
        self._read_acked = {}
        self._read_sent_at = {}
        self._lease_until = -_INF
        self._lease_off = False
        self._term_start = 0
        self._beats, self._answer = {}, None  # the reused heartbeats and answer belong to one term
        self.hints.reset()

    def _become(self, role: str) -> None:
        if role not in TRANSITIONS[self.role]:
            raise IllegalTransition(f"node {self.id}: {self.role} -> {role} is not allowed")
        self.role = role
        self._step_role = self._steps[role]
        self._tick_role = self._ticks[role]

    def become_follower(self, term: int, leader: int | None, reason: str | None) -> None:
        if self.role != FOLLOWER and reason is not None:
            self._emit_at(term, "stepped_down", reason=reason)
        self._become(FOLLOWER)
        self._refuse_reads(leader)  # a deposed leader's waiting reads: refused, naming the leader it now knows
        self.reset(term)
        if not self.rules.keeps_vote_on_step_down(self):
            self.voted_for = None
        self.leader = leader
        self.leader_heard_at = self.now if leader is not None else None
        self._patience_until = 0.0
        self._reset_election_timer()
        self._emit("became_follower", leader=leader)

    def become_precandidate(self, hint: bool = False) -> None:
        """Ask for pre-votes for term + 1 (nothing changes durably: a retry soon costs nothing)."""
        self.leader = None
        self.leader_heard_at = None
        self.votes = {self.id}
        self.hints.begin_round(hint)
        self._reset_election_timer()
        self._become(PRECANDIDATE)
        self._emit("became_precandidate", **({"hint": True} if hint else {}))
        if len(self.votes) >= self.quorum:  # a one-node cluster elects itself
            self.become_candidate()
            return
        ask = self.term + 1
        li, lt = self.log.last_index, self.log.last_term
        for peer in self.peers:
            self._send(RequestVote(ask, self.id, peer, prevote=True, hint=hint, last_log_index=li,
                                   last_log_term=lt))
        if hint:
            self.hints.arm_retry(self)

    def become_candidate(self, transfer: bool = False) -> None:
        """Vote for ourselves in term + 1 and ask the peers. The RequestVotes go out *early*, while the new term
        and vote are being made durable (`Output.early`): they promise nothing a crash could take back, and the
        voters' fsyncs then run in parallel with ours instead of after it. Our own vote counts only from our next
        input on, when the embedding has made it durable (docs/core-contract.md, "Asking before the own vote is
        durable"); the `vote_granted` record for it is logged after `state_persisted`, as every vote's is."""
        self._become(CANDIDATE)
        self.reset(self.term + 1)
        self.voted_for = self.id  # persisted with the term; counted once durable (_count_own_vote)
        self.votes = set()
        self._own_vote = self.term
        self._reset_election_timer()
        self.election_deadline = max(self.election_deadline, self._patience_until)
        self._emit("became_candidate")
        self._emit("vote_granted", candidate=self.id)
        if self.quorum <= 1:
            if self._durable_index is None:  # (acknowledged mode: `persisted` counts it and elects us)
                self.election_deadline = self.now  # nobody else will write: the next input is our own tick, now
            return
        term = self.term
        li, lt = self.log.last_index, self.log.last_term
        for peer in self.peers:
            self._early.append(RequestVote(term, self.id, peer, prevote=False, transfer=transfer, last_log_index=li,
                                            last_log_term=lt))

    def _count_own_vote(self) -> None:
        """The candidacy's own vote is durable now: `persisted` said so, or (without acknowledgements) the Ready
        that persisted it has been carried out before this input."""
        term, self._own_vote = self._own_vote, 0
        if self.role == CANDIDATE and self.term == term and self.voted_for == self.id:
            self.votes.add(self.id)
            if len(self.votes) >= self.quorum:
                self.become_leader()

    def become_leader(self) -> None:
        self._become(LEADER)
        self.reset(self.term)
        self._patience_until = 0.0
        self.leader = self.id
        # A fresh leader gives every peer one election timeout of grace before CheckQuorum counts it dead.
        self.peer_heard_at = {p: self.now for p in self.peers}
        cfg, log = self.config, self.log
        # Every follower starts in PROBE at the leader's last index + 1 (Figure 2: nextIndex), before the no-op.
        self.tracker = Tracker(self.id, self.peers, log.last_index + 1, max_inflight=cfg.max_inflight_messages,
                               max_inflight_bytes=cfg.max_inflight_bytes)
        self._emit("became_leader")
        self._term_start = log.last_index
        if self.config.read_mode == "lease":
            self._start_round()  # the first heartbeats start the lease
        if self.rules.appends_noop(self):
            self._entries.append(log.leader_append(self.term, b""))
            if not self.peers:
                self._advance_commit()
        self._broadcast_heartbeat()

    def _campaign(self, pre: bool) -> None:
        self.become_precandidate() if pre else self.become_candidate()

    def _step_down(self, reason: str) -> None:
        self._emit("stepped_down", reason=reason)
        self.become_follower(self.term, None, None)

    # ------------------------------------------------------------------ term handling (every role)

    def _is_future_term_probe(self, msg: Message) -> bool:
        # Pre-votes ask about term+1 without anyone moving to it; a granted pre-vote echoes that term back.
        # A *denied* pre-vote carries the voter's real term, which the pre-candidate must adopt.
        if isinstance(msg, RequestVote):
            return msg.prevote
        return isinstance(msg, VoteResponse) and msg.prevote and msg.granted

    def _answer_stale(self, msg: Message) -> None:
        # Tell a stale sender the current term so it steps down; stale responses are simply ignored.
        if isinstance(msg, (AppendEntries, TimeoutNow)):
            self._send(AppendResponse(self.term, self.id, msg.src, success=False))
        elif isinstance(msg, RequestVote):
            if not msg.prevote and self.rules.grants_stale_vote(self, msg):
                self.voted_for = msg.src
                self._emit("vote_granted", candidate=msg.src)
                self._send(VoteResponse(msg.term, self.id, msg.src, granted=True))
                return
            name = "prevote_denied" if msg.prevote else "vote_denied"
            self._emit(name, candidate=msg.src, reason="stale_term")
            self._send(VoteResponse(self.term, self.id, msg.src, granted=False, prevote=msg.prevote))

    # ------------------------------------------------------------------ votes (every role: msg.term >= self.term)

    def _on_request_vote(self, msg: RequestVote) -> None:
        if msg.prevote:
            self._on_prevote(msg)
            return
        # Real vote: msg.term == self.term now. One vote per term; a node that knows this term's leader
        # refuses (that leader already holds a majority, so the candidate could not win anyway).
        if self.voted_for == msg.src:
            grant, reason = True, ""
        elif self.voted_for is not None:
            grant, reason = False, f"voted_for_{self.voted_for}"
        elif self.leader is not None:
            grant, reason = False, "has_leader"
        elif not self.rules.candidate_up_to_date(self, msg):
            grant, reason = False, "log_behind"  # §5.4.1: the candidate's log is less up-to-date than ours
        else:
            grant, reason = True, ""
        if grant:
            self.voted_for = msg.src
            self._reset_election_timer()
            self._emit("vote_granted", candidate=msg.src)
        else:
            self._emit("vote_denied", candidate=msg.src, reason=reason)
        self._send(VoteResponse(self.term, self.id, msg.src, granted=grant, prevote=False))

    def _on_prevote(self, msg: RequestVote) -> None:
        hints = self.hints
        reason = None
        if msg.hint:
            hints.saw_prevote(self, msg)  # someone runs a hint round for msg.term: see Hints.round_running
            rival = hints.rival(self, msg)
            if rival == "refuse":
                reason = "hint_rival"
            elif rival == "yield":
                self.become_follower(self.term, None, None)
        in_lease = self.in_lease()
        if reason is None and (msg.term <= self.term or in_lease):
            reason = "leader_alive" if in_lease else "term"
        if reason is None and not self.rules.candidate_up_to_date(self, msg):
            reason = "log_behind"  # §5.4.1 applies to pre-votes too: such a candidate could not win the real vote
        grant = reason is None
        if grant and msg.hint:
            hints.defer(self)
            self._emit("prevote_granted", candidate=msg.src, hint=True)
        elif grant:
            self._emit("prevote_granted", candidate=msg.src)
        else:
            self._emit("prevote_denied", candidate=msg.src, reason=reason)
        self._send(VoteResponse(msg.term if grant else self.term, self.id, msg.src, granted=grant, prevote=True))

    # ------------------------------------------------------------------ follower

    def _ignore(self, msg: Message) -> None:
        pass

    def _follower_append(self, msg: AppendEntries) -> None:
        if self.leader != msg.src:
            self.become_follower(self.term, msg.src, None)
        self._heard_from_leader(msg)

    def _heard_from_leader(self, msg: AppendEntries) -> None:
        """The AppendEntries receiver (Figure 2; §5.3): the consistency check at (prev_index, prev_term), then the
        entries (a conflicting suffix replaced, never a committed entry) and the commit index, bounded by the
        last entry the message vouches for. Success answers with that index; a rejection with the fast-backup
        hint. The answer leaves after the new entries are durable (the Ready's order)."""
        self.leader_heard_at = self.now
        self._reset_election_timer()
        if not msg.entries:  # a heartbeat (the hot path)
            match = self.log.heartbeat(msg.prev_index, msg.prev_term, msg.commit)
            if match >= 0:
                ans = self._answer
                if ans is None or ans.index != match or ans.dst != msg.src or ans.term != self.term \
                        or ans.round != msg.round:
                    ans = self._answer = AppendResponse(self.term, self.id, msg.src, True, match, 0, 0, msg.round)
                self._messages.append(ans)  # _send, inlined
                return
        try:
            res = self.log.follower_append(msg.prev_index, msg.prev_term, msg.entries, msg.commit)
        except LogSafetyError:
            # The leader would replace an entry we know committed: safety is already broken (an unsafe disk
            # lost a committed entry somewhere, or a mutant). Refuse it and say so; the checker judges.
            self._emit("message_dropped", peer=msg.src, kind=msg.kind, reason="conflicts_with_committed")
            return
        if isinstance(res, Accepted):
            if res.entries:
                self._stage(res.entries)
            self._messages.append(AppendResponse(self.term, self.id, msg.src, True, res.match, 0, 0, msg.round))
        else:
            self._messages.append(AppendResponse(self.term, self.id, msg.src, False, res.prev_index,
                                                 res.conflict_index, res.conflict_term, msg.round))

    def _follower_timeout_now(self, msg: TimeoutNow) -> None:
        if msg.src == self.leader:
            self.become_candidate(transfer=True)

    def _tick_follower(self, now: float) -> None:
        hints = self.hints
        if now >= hints.deadline:
            if hints.prevote_first(self):
                self.become_precandidate(hint=True)  # a pre-vote whatever config.prevote says
            else:
                self.become_candidate()
        elif now >= self.election_deadline:
            self._emit("election_timeout")
            self._campaign(self.config.prevote)

    # ------------------------------------------------------------------ pre-candidate

    def _precandidate_vote_response(self, msg: VoteResponse) -> None:
        # Only granted answers to this round's question (term + 1) count; a set: a duplicate counts once.
        if msg.prevote and msg.granted and msg.term == self.term + 1:
            self.votes.add(msg.src)
            if len(self.votes) >= self.quorum:
                self.become_candidate()

    def _precandidate_heartbeat(self, msg: AppendEntries) -> None:
        hints = self.hints
        if hints.round and hints.is_ghost(self, msg):
            self._emit("message_dropped", peer=msg.src, kind=msg.kind, reason="after_hint")
            return
        # A pre-candidate that meets this term's leader simply follows it; that is not a step-down.
        self.become_follower(self.term, msg.src, None)
        self._heard_from_leader(msg)

    def _tick_precandidate(self, now: float) -> None:
        if now >= self.election_deadline:
            self._emit("election_timeout")
            self._campaign(self.config.prevote)
        elif now >= self.hints.deadline:
            ask = self.term + 1
            for peer in self.hints.retry(self):
                self._send(RequestVote(ask, self.id, peer, prevote=True, hint=True))

    # ------------------------------------------------------------------ candidate

    def _candidate_vote_response(self, msg: VoteResponse) -> None:
        if not msg.prevote and msg.granted and msg.term == self.term:
            self.votes.add(msg.src)
            if len(self.votes) >= self.quorum:
                self.become_leader()

    def _candidate_heartbeat(self, msg: AppendEntries) -> None:
        self.become_follower(self.term, msg.src, None)  # this term's leader: follow it (not a step-down)
        self._heard_from_leader(msg)

    _tick_candidate = _tick_precandidate  # (a candidate's hint deadline is never set: only its election timer)

    # ------------------------------------------------------------------ leader

    def _leader_heartbeat(self, msg: AppendEntries) -> None:
        # Another leader in our own term: election safety is already broken (only possible with the unsafe
        # term-only persistence). Keep running and say so; the checker turns the logs into the verdict.
        self._emit("message_dropped", peer=msg.src, kind=msg.kind, reason="conflicting_leader")

    def _leader_append_response(self, msg: AppendResponse) -> None:
        peer = msg.src
        self.peer_heard_at[peer] = self.now
        if msg.round > self._read_quorum_round:  # (an idle leader's answers repeat the answered round: skipped)
            self._read_answered(peer, msg.round)
        tracker = self.tracker
        if tracker is None:
            return
        pr = tracker.progress[peer]
        log = self.log
        if msg.success and msg.index == pr.match == len(log._ents) and pr.state != PROBE:
            return  # a caught-up follower answered a heartbeat (the hot path): nothing to do
        if msg.index > len(log._ents):
            self._emit("message_dropped", peer=peer, kind=msg.kind, reason="beyond_log")
            return  # claims entries this leader never had: not an answer to any AppendEntries of its term
        if msg.success:
            if pr.on_success(msg.index):
                self._advance_commit()
                if peer == self.transfer_target:
                    self._maybe_send_timeout_now()
            else:  # nothing new: a heartbeat's answer (or a duplicate)
                pr.on_heartbeat_response(log.last_index)
        elif msg.index <= pr.match:
            # Stale, or the follower lost entries it had acknowledged (a disk that broke its fsync promise, the
            # checker's (k)): there is nothing to rewind to, and probing again at once would ping-pong without
            # end. Ignored: the heartbeats keep the follower's timer and nothing else moves.
            return
        elif not pr.on_reject(msg.index, log.backup_next(msg.conflict_index, msg.conflict_term)):
            return  # a stale rejection
        if pr.next <= log.last_index:
            self._replicate(peer)

    def _advance_commit(self) -> None:
        """Take the commit index the tracker allows (§5.4.2); committed entries go out in the next Ready."""
        c = self.rules.commit_index(self)
        if c > self.log.commit:
            self.log.commit_to(c)

    def _replicate(self, peer: int) -> None:
        """Send `peer` what its progress allows: in PROBE one AppendEntries (then wait for its answer), in
        REPLICATE as many as the in-flight window takes, each bounded by count and bytes (max message size)."""
        tracker = self.tracker
        assert tracker is not None
        pr = tracker[peer]
        log, cfg, term, me = self.log, self.config, self.term, self.id
        # Acknowledged mode: entries go out early, while the leader writes them itself (thesis §10.2.1).
        send = self._messages.append if self._durable_index is None else self._early.append
        last = log.last_index
        while pr.can_send():
            nxt = pr.next
            ents = log.entries_from(nxt, cfg.max_entries_per_message, cfg.max_bytes_per_message)
            end = nxt - 1 + len(ents)
            if ents:
                send(AppendEntries(term, me, peer, nxt - 1, log.term_at(nxt - 1), ents, log.commit,
                                   self._read_round))
            else:  # an empty probe (a PROBE follower with nothing to send, e.g. an idle cluster's empty log)
                self._messages.append(self._beat(peer, nxt - 1, log.term_at(nxt - 1), log.commit))
            pr.sent(end, log.size(nxt, end))
            if pr.state == PROBE or end >= last:
                break

    def _tick_leader(self, now: float) -> None:
        if self.transfer_target is not None and now >= self.transfer_deadline:
            self._emit("transfer_aborted", target=self.transfer_target)
            self.transfer_target = None
        if now >= self.heartbeat_deadline:
            if self.config.check_quorum and not self._quorum_active():
                self._step_down("check_quorum")
            else:
                if self.config.read_mode == "lease":
                    self._start_round()  # every heartbeat renews the lease (and is then a new frame)
                self._broadcast_heartbeat()

    def _broadcast_heartbeat(self) -> None:
        """Every heartbeat interval, each follower hears from the leader: the entries it still lacks when its
        progress allows (a PROBE not waiting for an answer, or a REPLICATE window with room), else a heartbeat at
        its match, carrying the commit index bounded by that match (the follower holds that much of this log)."""
        term, me, append, log = self.term, self.id, self._messages.append, self.log
        tracker = self.tracker
        assert tracker is not None
        last, commit, rnd = log.last_index, log.commit, self._read_round
        progress, beats = tracker.progress, self._beats
        for peer in self.peers:
            pr = progress[peer]
            m = pr.match
            if m == last and pr.state != PROBE:  # caught up: a heartbeat (the hot path)
                c, t = commit if commit < m else m, log.term_at(m) if m else 0
                hb = beats.get(peer)
                if hb is None or hb.prev_index != m or hb.commit != c or hb.term != term or hb.prev_term != t \
                        or hb.round != rnd:
                    hb = beats[peer] = AppendEntries(term, me, peer, m, t, (), c, rnd)
                append(hb)
            elif pr.can_send() and (pr.state == PROBE or pr.next <= last):
                self._replicate(peer)
            elif pr.match < last and pr.next > last and pr.state != PROBE:
                self._probe_tail(peer)
            else:
                m = pr.match
                append(self._beat(peer, m, log.term_at(m) if m else 0, commit if commit < m else m))
        self.heartbeat_deadline = self.now + self.config.heartbeat_interval

    def _beat(self, peer: int, prev: int, prev_term: int, commit: int) -> AppendEntries:
        """An AppendEntries without entries to `peer`: the last one sent it when every field is the same."""
        hb, rnd = self._beats.get(peer), self._read_round
        if hb is None or hb.prev_index != prev or hb.commit != commit or hb.term != self.term \
                or hb.prev_term != prev_term or hb.round != rnd:
            hb = self._beats[peer] = AppendEntries(self.term, self.id, peer, prev, prev_term, (), commit, rnd)
        return hb

    def _probe_tail(self, peer: int) -> None:
        """Everything was sent to `peer` (REPLICATE) but not all acknowledged: maybe lost. An empty AppendEntries
        at next - 1 stands in for the heartbeat: accepted, it acknowledges all; rejected, it rewinds `next` with
        the hint (as etcd-io/raft's empty MsgApp after a heartbeat response)."""
        pr = self.tracker[peer] if self.tracker is not None else None
        assert pr is not None
        log = self.log
        prev = pr.next - 1
        self._messages.append(self._beat(peer, prev, log.term_at(prev), log.commit))

    def _quorum_active(self) -> bool:
        window = self.config.election_timeout_max
        alive = 1 + sum(1 for t in self.peer_heard_at.values() if self.now - t <= window)
        return alive >= self.quorum

    # ------------------------------------------------------------------ plumbing

    def _reset_election_timer(self) -> None:
        # Redrawn at every reset so that two nodes that collided once are unlikely to collide again.
        cfg = self.config
        self.election_deadline = self.now + self.rng.uniform(cfg.election_timeout_min, cfg.election_timeout_max)

    def _send(self, msg: Message) -> None:
        self._messages.append(msg)

    def _emit(self, name: str, **fields: Any) -> None:
        self._events.append(Event(name, self.term, fields))

    def _emit_at(self, term: int, name: str, **fields: Any) -> None:
        self._events.append(Event(name, term, fields))

    def _flush(self) -> Output:
        # What must be durable: term and vote ("term-only" deliberately drops the vote). A change of either is
        # what protocol.must_sync syncs for; compared field by field (no HardState built on the hot path).
        persist = None
        vote = None if self._term_only else self.voted_for
        durable = self._persisted
        log = self.log
        commit = log._commit  # (the hot path: RaftLog's slots read directly, not through its properties)
        if self.term != durable.term or vote != durable.voted_for or commit != durable.commit:
            persist = self._persisted = HardState(self.term, vote, commit)
        entries: Sequence[Entry] = self._entries
        if entries:
            self._entries = []
        else:
            entries = ()  # (never the list the next Ready's entries go into)
        out = Output(persist, self._messages, self._events, self.deadline, entries,
                     log.unapplied() if log._applied != commit else ())
        if self._early:
            out.early, self._early = self._early, []
        if self._reads:
            out.reads, self._reads = self._reads, []
        self._messages, self._events = [], []
        return out

    def _stage(self, entries: tuple[Entry, ...]) -> None:
        """Entries the log took from `entries[0].index` on: the next Ready makes them durable (replacing any
        staged ones from that index on, so the Ready's entries are one run from its first index)."""
        staged = self._entries
        if staged and entries[0].index <= staged[-1].index:
            keep = entries[0].index - staged[0].index
            del staged[max(keep, 0):]
        staged.extend(entries)
