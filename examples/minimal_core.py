"""A minimal Raft election core to copy: the paper's §5.2 election, nothing more (no PreVote, no CheckQuorum).

It stays contract v1 (election only, no `propose`, no log): `raftzmq conform` judges it on the election claims and
election-only seeds and says the replication claims were skipped. For a core with log replication (contract v2)
see examples/jsonl_raft_core.py.

Run it:   raftzmq conform examples/minimal_core.py:MinimalCore
          raftzmq start --core examples/minimal_core.py:MinimalCore
The contract it implements is docs/core-contract.md. It only uses raftzmq.protocol's value types; everything else
(sockets, disk, clocks, logs) is the embedding's job. Each input returns an Output: the hard state to persist
(the embedding makes it durable before anything is sent), the messages, the events (named as in
docs/log-schema.md) and when to call tick() next.
"""
from __future__ import annotations

from raftzmq.protocol import (
    AppendEntries,
    AppendResponse,
    CoreConfig,
    Event,
    HardState,
    Output,
    RequestVote,
    TimeoutNow,
    VoteResponse,
)


class MinimalCore:
    def __init__(self, config: CoreConfig, state: HardState, now: float, rng) -> None:
        self.config, self.rng = config, rng
        self.id = config.node_id
        self.peers = tuple(m for m in config.members if m != self.id)
        self.term, self.voted_for = state.term, state.voted_for  # what the embedding loaded from disk
        self.role, self.leader, self.votes = "follower", None, set()
        self.now = now
        self.deadline = 0.0
        self._saved = (self.term, self.voted_for)
        self._out: list = []
        self._events: list = []
        self._reset_timer()

    # ---------------------------------------------------------------- the three inputs

    def step(self, msg, now: float) -> Output:
        self.now = now
        if msg.term > self.term:  # §5.1: a higher term makes anyone a follower of that term, vote cleared
            self._follow(msg.term, msg.src if isinstance(msg, (AppendEntries, TimeoutNow)) else None)
        if isinstance(msg, RequestVote):
            self._on_request_vote(msg)
        elif isinstance(msg, VoteResponse):
            self._on_vote(msg)
        elif isinstance(msg, AppendEntries):
            self._on_heartbeat(msg)
        elif isinstance(msg, TimeoutNow) and msg.term == self.term and self.role == "follower":
            self._campaign()
        return self._output()

    def tick(self, now: float) -> Output:
        self.now = now
        if now >= self.deadline:
            if self.role == "leader":
                self._heartbeat()
            else:
                self._emit("election_timeout")
                self._campaign()
        return self._output()

    def transfer_leadership(self, target: int, now: float) -> Output:
        self.now = now
        if self.role == "leader" and target in self.peers:
            self._emit("transfer_started", target=target)
            self._out.append(TimeoutNow(self.term, self.id, target))
        return self._output()

    # ---------------------------------------------------------------- handlers

    def _on_request_vote(self, msg: RequestVote) -> None:
        # §5.2: one vote per term, first come first served; a stale term is denied with our term (§5.1).
        grant = msg.term == self.term and self.voted_for in (None, msg.src) and self.role == "follower"
        if grant:
            self.voted_for = msg.src  # persisted by _output() in the same Output as the response
            self._reset_timer()
            self._emit("vote_granted", candidate=msg.src)
        else:
            self._emit("vote_denied", candidate=msg.src, reason="stale_term" if msg.term < self.term else "voted")
        self._out.append(VoteResponse(self.term, self.id, msg.src, granted=grant))

    def _on_vote(self, msg: VoteResponse) -> None:
        if self.role == "candidate" and msg.term == self.term and msg.granted:
            self.votes.add(msg.src)  # a set: a duplicated response counts once
            if 2 * len(self.votes) > len(self.config.members):
                self._lead()

    def _on_heartbeat(self, msg: AppendEntries) -> None:
        if msg.term < self.term:
            self._out.append(AppendResponse(self.term, self.id, msg.src, success=False))
            return
        if self.role != "follower" or self.leader != msg.src:
            self._follow(self.term, msg.src)
        self._reset_timer()
        self._out.append(AppendResponse(self.term, self.id, msg.src, success=True))

    # ---------------------------------------------------------------- roles

    def _follow(self, term: int, leader) -> None:
        if self.role != "follower":
            self._emit_at(term, "stepped_down", reason="higher_term" if term > self.term else "leader_found")
        if term > self.term:
            self.term, self.voted_for = term, None
        self.role, self.leader, self.votes = "follower", leader, set()
        self._reset_timer()
        self._emit("became_follower", leader=leader)

    def _campaign(self) -> None:
        self.term += 1
        self.role, self.leader, self.voted_for, self.votes = "candidate", None, self.id, {self.id}
        self._reset_timer()
        self._emit("became_candidate")
        self._emit("vote_granted", candidate=self.id)
        if len(self.config.members) == 1:
            self._lead()
            return
        self._out.extend(RequestVote(self.term, self.id, p) for p in self.peers)

    def _lead(self) -> None:
        self.role, self.leader = "leader", self.id
        self._emit("became_leader")
        self._heartbeat()

    def _heartbeat(self) -> None:
        self._out.extend(AppendEntries(self.term, self.id, p) for p in self.peers)
        self.deadline = self.now + self.config.heartbeat_interval

    # ---------------------------------------------------------------- plumbing

    def _reset_timer(self) -> None:
        # §5.2: randomized, from the injected RNG, so the simulator can replay it.
        lo, hi = self.config.election_timeout_min, self.config.election_timeout_max
        self.deadline = self.now + self.rng.uniform(lo, hi)

    def _emit(self, name: str, **fields) -> None:
        self._events.append(Event(name, self.term, fields))

    def _emit_at(self, term: int, name: str, **fields) -> None:
        self._events.append(Event(name, term, fields))

    def _output(self) -> Output:
        # Ask for the hard state to be saved whenever it changed: the embedding persists it before it sends.
        state = (self.term, self.voted_for)
        persist = HardState(*state) if state != self._saved else None
        self._saved = state
        out = Output(persist, self._out, self._events, self.deadline)
        self._out, self._events = [], []
        return out
