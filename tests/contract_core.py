"""An election core written from docs/core-contract.md alone (not derived from raftzmq's own core), used by the
tests to show that the contract is enough: it runs on a live cluster, under chaos and under `conform`.

Style on purpose different from examples/minimal_core.py: handlers in a table by message type, state changes
through one `_set_term`, and the Output built by a small accumulator.
"""
from __future__ import annotations

from raftzmq.protocol import (
    AppendEntries,
    AppendResponse,
    Event,
    HardState,
    Output,
    RequestVote,
    TimeoutNow,
    VoteResponse,
)


class _Acc:
    def __init__(self) -> None:
        self.messages: list = []
        self.events: list = []


class ContractCore:
    def __init__(self, config, state: HardState, now: float, rng) -> None:
        self.cfg, self.rng = config, rng
        self.me = config.node_id
        self.peers = [m for m in config.members if m != self.me]
        self.term, self.vote = state.term, state.voted_for
        self.role, self.known_leader, self.granted = "follower", None, set()
        self.durable = (state.term, state.voted_for)
        self.now, self.deadline = now, now
        self.acc = _Acc()
        self._arm_election()
        self.handlers = {RequestVote: self._request_vote, VoteResponse: self._vote_response,
                         AppendEntries: self._append, AppendResponse: lambda m: None, TimeoutNow: self._timeout_now}

    # -------------------------------------------------------------- contract inputs

    def step(self, msg, now):
        self.now = now
        if msg.term > self.term:
            self._set_term(msg.term, "higher_term")
        self.handlers[type(msg)](msg)
        return self._drain()

    def tick(self, now):
        self.now = now
        if now < self.deadline:
            return self._drain()
        if self.role == "leader":
            self._beat()
        else:
            self._stand()
        return self._drain()

    def transfer_leadership(self, target, now):
        self.now = now
        if self.role == "leader":
            self.acc.messages.append(TimeoutNow(self.term, self.me, target))
            self._event("transfer_started", target=target)
        return self._drain()

    # -------------------------------------------------------------- message handlers

    def _request_vote(self, m):
        ok = m.term == self.term and self.role == "follower" and self.vote in (None, m.src)
        if ok:
            self.vote = m.src
            self._arm_election()
            self._event("vote_granted", candidate=m.src)
        else:
            self._event("vote_denied", candidate=m.src, reason="not_granted")
        self.acc.messages.append(VoteResponse(self.term, self.me, m.src, granted=ok))

    def _vote_response(self, m):
        if self.role != "candidate" or m.term != self.term or not m.granted:
            return
        self.granted.add(m.src)
        if len(self.granted) * 2 > len(self.cfg.members):
            self.role, self.known_leader = "leader", self.me
            self._event("became_leader")
            self._beat()

    def _append(self, m):
        if m.term < self.term:
            self.acc.messages.append(AppendResponse(self.term, self.me, m.src, success=False))
            return
        if self.role != "follower":
            self._event("stepped_down", reason="leader_of_term")
            self.role = "follower"
        if self.known_leader != m.src:
            self.known_leader = m.src
            self._event("became_follower", leader=m.src)
        self._arm_election()
        self.acc.messages.append(AppendResponse(self.term, self.me, m.src, success=True))

    def _timeout_now(self, m):
        if m.term == self.term and self.role == "follower" and m.src == self.known_leader:
            self._stand()

    # -------------------------------------------------------------- transitions

    def _set_term(self, term, reason):
        was = self.role
        self.term, self.vote, self.known_leader, self.granted = term, None, None, set()
        self.role = "follower"
        if was != "follower":
            self._event("stepped_down", reason=reason)
        self._event("became_follower", leader=None)
        self._arm_election()

    def _stand(self):
        self.term += 1
        self.role, self.vote, self.known_leader, self.granted = "candidate", self.me, None, {self.me}
        self._arm_election()
        self._event("became_candidate")
        self._event("vote_granted", candidate=self.me)
        if len(self.cfg.members) == 1:
            self.role, self.known_leader = "leader", self.me
            self._event("became_leader")
            self._beat()
            return
        self.acc.messages.extend(RequestVote(self.term, self.me, p) for p in self.peers)

    def _beat(self):
        self.acc.messages.extend(AppendEntries(self.term, self.me, p) for p in self.peers)
        self.deadline = self.now + self.cfg.heartbeat_interval

    def _arm_election(self):
        self.deadline = self.now + self.rng.uniform(self.cfg.election_timeout_min, self.cfg.election_timeout_max)

    # -------------------------------------------------------------- output

    def _event(self, name, **fields):
        self.acc.events.append(Event(name, self.term, fields))

    def _drain(self):
        now_state = (self.term, self.vote)
        persist = None
        if now_state != self.durable:
            persist, self.durable = HardState(*now_state), now_state
        acc, self.acc = self.acc, _Acc()
        return Output(persist, acc.messages, acc.events, self.deadline)
