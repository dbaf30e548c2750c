"""The election state machine: sans-IO.

Input: a message or the passage of time (`now`, seconds on any monotonic clock) and an injected RNG.
Output: an `Output` saying what to persist, what to send, what happened (events) and when to call again.
It never touches sockets, files or clocks, so the very same code runs in node processes and in the simulator.

The embedding (runtime/node/embedding.py, the one used everywhere) applies an Output in this order: log the events
produced before the core entered the persisted term, persist `persist` durably (if not None) and log
`state_persisted`, log the remaining events, then send `messages`. That is what makes "a vote leaves only after
it is durable" true (Raft thesis, section 3.8). Events of one Output never go back in term.

Structure follows etcd-io/raft: term handling happens once at the top of `step`; then a flat dispatch on
message type; roles change only through `_become`, which refuses transitions not in `TRANSITIONS`.

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
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, Protocol

from .messages import AppendEntries, AppendResponse, Message, RequestVote, TimeoutNow, VoteResponse
from .quorum import majority

__all__ = [
    "FOLLOWER",
    "PRECANDIDATE",
    "CANDIDATE",
    "LEADER",
    "TRANSITIONS",
    "PERSIST_MODES",
    "CoreConfig",
    "HardState",
    "Event",
    "Output",
    "ElectionCore",
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


class IllegalTransition(RuntimeError):
    pass


class Rng(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


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


@dataclass(frozen=True, slots=True)
class HardState:
    """What must survive a crash: the current term, whom we voted for in it, and the commit index."""

    term: int = 0
    voted_for: int | None = None
    commit: int = 0

    def __post_init__(self) -> None:
        if type(self.term) is not int or self.term < 0:
            raise ValueError(f"term must be a non-negative int, got {self.term!r}")
        if self.voted_for is not None and (type(self.voted_for) is not int or self.voted_for < 1):
            raise ValueError(f"voted_for must be None or a node id, got {self.voted_for!r}")
        if type(self.commit) is not int or self.commit < 0:
            raise ValueError(f"commit must be a non-negative int, got {self.commit!r}")


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, named as in docs/log-schema.md; `term` is the node's term after it."""

    name: str
    term: int
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Output:
    persist: HardState | None
    messages: list[Message]
    events: list[Event]
    deadline: float  # call tick() at or after this time


class ElectionCore:
    """One node's election state. Not thread-safe by design: one caller, one loop."""

    def __init__(self, config: CoreConfig, state: HardState, now: float, rng: Rng | None = None) -> None:
        self.config = config
        self.id = config.node_id
        self.peers = tuple(m for m in config.members if m != self.id)
        self._peer_set = frozenset(self.peers)
        self._handlers: dict[type, Callable[[Any], None]] = {
            RequestVote: self._on_request_vote,
            VoteResponse: self._on_vote_response,
            AppendEntries: self._on_heartbeat,
            AppendResponse: self._on_append_response,
            TimeoutNow: self._on_timeout_now,
        }
        self.quorum = majority(len(config.members))
        self.rng: Rng = rng if rng is not None else random.Random()
        self.term = state.term
        self.voted_for = state.voted_for
        self.role = FOLLOWER
        self.leader: int | None = None
        self.votes: set[int] = set()  # voters that granted this (pre)candidacy, self included
        self.leader_heard_at: float | None = None  # last heartbeat from the current leader
        self.peer_heard_at: dict[int, float] = {}  # leader only: last response per peer, for CheckQuorum
        self.transfer_target: int | None = None
        self.transfer_deadline = 0.0
        self.hint_leader: int | None = None  # the leader whose connection this node saw close ...
        self.hint_at = 0.0  # ... and when
        self.hint_deadline = float("inf")  # when this node's own hint-driven pre-vote starts
        self.hint_round = False  # this node's current pre-vote was started by a hint
        self.hint_gap = 0.0  # a hint pre-candidate asks again after this long (doubling)
        self.hint_round_seen: tuple[int, float] | None = None  # (term, when) of the last hint pre-vote received
        self.now = now
        self.election_deadline = 0.0
        self.heartbeat_deadline = float("inf")
        self._patience_until = 0.0  # campaign_now: candidacies (not pre-candidacies) last at least until then
        self._term_only = config.persist_mode == "term-only"
        self._persisted = self._durable_view()
        self._messages: list[Message] = []
        self._events: list[Event] = []
        self._reset_election_timer()

    # ------------------------------------------------------------------ public API

    def step(self, msg: Message, now: float) -> Output:
        """Handle one message addressed to this node."""
        self.now = now
        if msg.dst != self.id or msg.src not in self._peer_set:
            raise ValueError(f"message {msg} is not for node {self.id} from a peer (the codec should stop it)")
        term = msg.term
        if term > self.term:
            if self._lease_ignores(msg):
                self._emit("vote_denied", candidate=msg.src, reason="leader_alive")  # no answer, no term change
                return self._flush()
            if not self._is_future_term_probe(msg):
                leader = msg.src if isinstance(msg, (AppendEntries, TimeoutNow)) else None
                reason = "transfer" if msg.src == self.transfer_target else "higher_term"
                self._become_follower(term, leader, reason)
        elif term < self.term:
            self._answer_stale(msg)
            return self._flush()
        self._handlers[type(msg)](msg)  # a flat switch on message type, as a table
        return self._flush()

    def tick(self, now: float) -> Output:
        """Advance time: fire the election timeout or the leader's heartbeat if due."""
        self.now = now
        if self.role == LEADER:
            if self.transfer_target is not None and now >= self.transfer_deadline:
                self._emit("transfer_aborted", target=self.transfer_target)
                self.transfer_target = None
            if now >= self.heartbeat_deadline:
                if self.config.check_quorum and not self._quorum_active():
                    self._step_down("check_quorum")
                else:
                    self._broadcast_heartbeat()
        elif now >= self.hint_deadline and self.role == FOLLOWER:
            self._campaign(pre=True, hint=True)  # a pre-vote whatever config.prevote says
        elif now >= self.election_deadline:
            self._emit("election_timeout")
            self._campaign(pre=self.config.prevote)
        elif now >= self.hint_deadline:
            self._retry_hint_prevote()
        return self._flush()

    def hint(self, peer: int, now: float, closed: str = "connection") -> Output:
        """The embedding saw its connection to `peer` close (`closed` says which, for the log). Acted on only with
        `config.hints`, by a follower, about its current leader, once per leader; anything else changes nothing."""
        self.now = now
        if peer not in self._peer_set:
            raise ValueError(f"node {peer} is not a peer of node {self.id}")
        if self.config.hints and self.role == FOLLOWER and peer == self.leader and not self._hint_holds():
            self.hint_leader, self.hint_at = peer, now
            if not self._hint_round_running():  # a node whose hint came late lets the running round be
                self.hint_deadline = now + self.rng.uniform(0.0, self.config.hint_window)
            self._emit("hint", peer=peer, closed=closed)
        return self._flush()

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
        # A lost TimeoutNow must not leave the transfer pending forever (etcd aborts after an election timeout).
        self.transfer_deadline = now + self.config.election_timeout_max
        self._emit("transfer_started", target=target)
        self._send(TimeoutNow(self.term, self.id, target))
        return self._flush()

    def hard_state(self) -> HardState:
        return HardState(self.term, self.voted_for)

    @property
    def deadline(self) -> float:
        if self.role == LEADER:
            return self.heartbeat_deadline
        return min(self.election_deadline, self.hint_deadline)

    # ------------------------------------------------------------------ term handling

    def _in_lease(self) -> bool:
        """This node is the leader, or heard from the current leader within the minimum election timeout and has
        not itself seen that leader's connection close since."""
        return self.role == LEADER or (
            self.leader is not None
            and self.leader_heard_at is not None
            and self.now - self.leader_heard_at < self.config.election_timeout_min
            and not self._hint_holds()
        )

    def _hint_holds(self) -> bool:
        # A hint speaks for the leader it was about, and only for as long as a lease lasts: a leader that is in
        # fact alive (a false hint) gets its lease back from the next heartbeats once this has passed.
        return (self.hint_leader is not None and self.hint_leader == self.leader
                and self.now - self.hint_at < self.config.election_timeout_min)

    def _lease_ignores(self, msg: Message) -> bool:
        # etcd-io/raft's inLease: with CheckQuorum, a real vote request of a higher term is ignored while the
        # lease holds, unless it was made for a leadership transfer. (Pre-votes are answered below, denied.)
        return (isinstance(msg, RequestVote) and not msg.prevote and not msg.transfer
                and self.config.check_quorum and self._in_lease())

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
            name = "prevote_denied" if msg.prevote else "vote_denied"
            self._emit(name, candidate=msg.src, reason="stale_term")
            self._send(VoteResponse(self.term, self.id, msg.src, granted=False, prevote=msg.prevote))

    # ------------------------------------------------------------------ dispatch (msg.term >= self.term)

    def _on_append_response(self, msg: AppendResponse) -> None:
        if self.role == LEADER:
            self.peer_heard_at[msg.src] = self.now

    def _on_timeout_now(self, msg: TimeoutNow) -> None:
        if self.role == FOLLOWER and msg.src == self.leader:
            self._campaign(pre=False, transfer=True)

    def _on_prevote(self, msg: RequestVote) -> None:
        reason = self._hint_refusal(msg) if msg.hint else None
        in_lease = self._in_lease()
        if reason is None and (msg.term <= self.term or in_lease):
            reason = "leader_alive" if in_lease else "term"
        grant = reason is None
        if msg.hint:
            self.hint_round_seen = (msg.term, self.now)  # someone runs a hint round for this term: see hint()
        if grant and msg.hint:
            self.hint_deadline = float("inf")  # the candidate saw the close too and runs already: defer to it
            self._emit("prevote_granted", candidate=msg.src, hint=True)
        elif grant:
            self._emit("prevote_granted", candidate=msg.src)
        else:
            self._emit("prevote_denied", candidate=msg.src, reason=reason)
        self._send(VoteResponse(msg.term if grant else self.term, self.id, msg.src, granted=grant, prevote=True))

    def _hint_refusal(self, msg: RequestVote) -> str | None:
        # Two hinted followers run at once: if both won their pre-votes they would split the real vote, so the
        # lower id runs on and the other yields (a pre-vote changed no term or vote: nothing to undo).
        if self.hint_round and msg.term == self.term + 1:
            if msg.src > self.id:
                return "hint_rival"
            self._become_follower(self.term, None, None)
        return None

    def _hint_round_running(self) -> bool:
        seen = self.hint_round_seen
        return (seen is not None and seen[0] == self.term + 1
                and self.now - seen[1] < self.config.election_timeout_min)

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
        else:
            grant, reason = True, ""
        if grant:
            self.voted_for = msg.src
            self._reset_election_timer()
            self._emit("vote_granted", candidate=msg.src)
        else:
            self._emit("vote_denied", candidate=msg.src, reason=reason)
        self._send(VoteResponse(self.term, self.id, msg.src, granted=grant, prevote=False))

    def _on_vote_response(self, msg: VoteResponse) -> None:
        if msg.prevote:
            # Only answers to this round's question (term + 1) count.
            if self.role != PRECANDIDATE or msg.term != self.term + 1 or not msg.granted:
                return
        elif self.role != CANDIDATE or msg.term != self.term or not msg.granted:
            return
        self.votes.add(msg.src)  # a set: a duplicated response counts once
        if len(self.votes) >= self.quorum:
            if self.role == PRECANDIDATE:
                self._campaign(pre=False)
            else:
                self._become_leader()

    def _is_ghost(self, msg: AppendEntries) -> bool:
        # A heartbeat the dead leader sent just before its connection closed can arrive after the hint (another
        # connection, another queue). Within the hint window it is taken for that; later, the leader lives.
        return (self.hint_round and msg.src == self.hint_leader
                and self.now - self.hint_at < self.config.hint_window)

    def _on_heartbeat(self, msg: AppendEntries) -> None:
        if self.hint_round and self._is_ghost(msg):  # (hint_round is _is_ghost's first test: skip the call)
            self._emit("message_dropped", peer=msg.src, kind=msg.kind, reason="after_hint")
            return
        if self.role == LEADER:
            # Another leader in our own term: election safety is already broken (only possible with the unsafe
            # term-only persistence). Keep running and say so; the checker turns the logs into the verdict.
            self._emit("message_dropped", peer=msg.src, kind=msg.kind, reason="conflicting_leader")
            return
        if self.role != FOLLOWER or self.leader != msg.src:
            # A (pre)candidate that meets this term's leader simply follows it; that is not a step-down.
            self._become_follower(self.term, msg.src, None)
        self.leader_heard_at = self.now
        self._reset_election_timer()  # (a method: lab/conform/mutants.py's FixedTimeouts overrides it)
        self._messages.append(AppendResponse(self.term, self.id, msg.src, success=True))  # _send, inlined

    # ------------------------------------------------------------------ role changes

    def _become(self, role: str) -> None:
        if role not in TRANSITIONS[self.role]:
            raise IllegalTransition(f"node {self.id}: {self.role} -> {role} is not allowed")
        self.role = role

    def _become_follower(self, term: int, leader: int | None, reason: str | None) -> None:
        if self.role != FOLLOWER and reason is not None:
            self._emit_at(term, "stepped_down", reason=reason)
        if term > self.term:
            self.term, self.voted_for = term, None
        self._become(FOLLOWER)
        self.leader = leader
        self.leader_heard_at = self.now if leader is not None else None
        self.votes = set()
        self.peer_heard_at = {}
        self.transfer_target = None
        self._forget_hint()
        self.heartbeat_deadline = float("inf")
        self._patience_until = 0.0
        self._reset_election_timer()
        self._emit("became_follower", leader=leader)

    def _step_down(self, reason: str) -> None:
        self._emit("stepped_down", reason=reason)
        self._become_follower(self.term, None, None)

    def _campaign(self, pre: bool, transfer: bool = False, hint: bool = False) -> None:
        self.leader = None
        self.leader_heard_at = None
        self.votes = {self.id}
        self.hint_deadline, self.hint_round = float("inf"), hint  # hint_leader stays: see _is_ghost
        self._reset_election_timer()
        if not pre:  # a pre-vote round makes nothing durable: retrying it soon costs nothing
            self.election_deadline = max(self.election_deadline, self._patience_until)
        if pre:
            self._become(PRECANDIDATE)
            self._emit("became_precandidate", **({"hint": True} if hint else {}))
            ask_term = self.term + 1
        else:
            self._become(CANDIDATE)
            self.term += 1
            self.voted_for = self.id  # persisted with the term before any RequestVote leaves (Output order)
            self._emit("became_candidate")
            self._emit("vote_granted", candidate=self.id)
            ask_term = self.term
        if len(self.votes) >= self.quorum:  # a one-node cluster elects itself
            self._campaign(pre=False) if pre else self._become_leader()
            return
        for peer in self.peers:
            self._send(RequestVote(ask_term, self.id, peer, prevote=pre, transfer=transfer, hint=hint))
        if hint:
            self.hint_gap = self.config.hint_window
            self.hint_deadline = self.now + self.hint_gap

    def _retry_hint_prevote(self) -> None:
        # Followers who denied the hint pre-vote because they had not seen the close yet (their lease held) see it
        # a few milliseconds later, and they start no round of their own (see hint()): ask them again.
        self.hint_gap *= 2
        self.hint_deadline = self.now + self.hint_gap
        for peer in self.peers:
            if peer not in self.votes:
                self._send(RequestVote(self.term + 1, self.id, peer, prevote=True, hint=True))

    def _become_leader(self) -> None:
        self._become(LEADER)
        self._patience_until = 0.0
        self.leader = self.id
        self.votes = set()
        # A fresh leader gives every peer one election timeout of grace before CheckQuorum counts it dead.
        self.peer_heard_at = {p: self.now for p in self.peers}
        self._emit("became_leader")
        self._broadcast_heartbeat()

    # ------------------------------------------------------------------ leader duties

    def _broadcast_heartbeat(self) -> None:
        term, me, append = self.term, self.id, self._messages.append
        for peer in self.peers:
            append(AppendEntries(term, me, peer))
        self.heartbeat_deadline = self.now + self.config.heartbeat_interval

    def _quorum_active(self) -> bool:
        window = self.config.election_timeout_max
        alive = 1 + sum(1 for t in self.peer_heard_at.values() if self.now - t <= window)
        return alive >= self.quorum

    # ------------------------------------------------------------------ plumbing

    def _forget_hint(self) -> None:
        self.hint_leader, self.hint_deadline, self.hint_round = None, float("inf"), False

    def _reset_election_timer(self) -> None:
        # Redrawn at every reset so that two nodes that collided once are unlikely to collide again.
        cfg = self.config
        self.election_deadline = self.now + self.rng.uniform(cfg.election_timeout_min, cfg.election_timeout_max)

    def _durable_view(self) -> tuple[int, int | None]:
        # What must be on disk; "term-only" deliberately drops the vote.
        return (self.term, None if self._term_only else self.voted_for)

    def _send(self, msg: Message) -> None:
        self._messages.append(msg)

    def _emit(self, name: str, **fields: Any) -> None:
        self._events.append(Event(name, self.term, fields))

    def _emit_at(self, term: int, name: str, **fields: Any) -> None:
        self._events.append(Event(name, term, fields))

    def _flush(self) -> Output:
        durable = self._durable_view()
        persist = None
        if durable != self._persisted:  # compare plain tuples: this runs after every input
            self._persisted = durable
            persist = HardState(*durable)
        if self.role == LEADER:  # the deadline property, inlined
            deadline = self.heartbeat_deadline
        else:
            deadline, hint_deadline = self.election_deadline, self.hint_deadline
            if hint_deadline < deadline:
                deadline = hint_deadline
        out = Output(persist, self._messages, self._events, deadline)
        self._messages, self._events = [], []
        return out
