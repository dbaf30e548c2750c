#!/usr/bin/env python3
"""A Raft election core as a child process speaking line-delimited JSON on stdin/stdout — the form a core written
in any language takes. It does not import raftzmq: the protocol is all it knows (docs/core-contract.md, "Cores in
other languages"). The election is the paper's §5.2 one (no PreVote, no CheckQuorum).

    raftzmq conform "exec:python3 examples/jsonl_core.py" --seeds 20
    raftzmq start --core "exec:python3 examples/jsonl_core.py"

Requests arrive one per line; each init/step/tick/transfer gets exactly one answer line. "persisted" lines
acknowledge that the hard state this core asked for is durable; they get no answer. Diagnostics go to stderr.
"""
import json
import random
import sys


class Core:
    def __init__(self, req):
        cfg, state = req["config"], req["state"]
        self.id, self.members = cfg["node_id"], cfg["members"]
        self.peers = [m for m in self.members if m != self.id]
        self.et_min, self.et_max, self.hb = cfg["election_timeout_min"], cfg["election_timeout_max"], \
            cfg["heartbeat_interval"]
        self.rng = random.Random(req["seed"])  # seeded by the embedding: a simulator run replays exactly
        self.term, self.voted_for = state["term"], state["voted_for"]
        self.saved = (self.term, self.voted_for)
        self.durable = self.saved  # the last state the embedding acknowledged
        self.role, self.leader, self.votes = "follower", None, set()
        self.now, self.deadline = req["now"], 0.0
        self.out, self.events = [], []
        self.reset_timer()

    # ---------------------------------------------------------------- inputs

    def step(self, msg, now):
        self.now = now
        kind, term, src = msg["kind"], msg["term"], msg["src"]
        if term > self.term:
            self.follow(term, src if kind in ("append_entries", "timeout_now") else None)
        if kind == "request_vote":
            self.on_request_vote(term, src)
        elif kind == "vote_response":
            if self.role == "candidate" and term == self.term and msg["granted"]:
                self.votes.add(src)
                if 2 * len(self.votes) > len(self.members):
                    self.lead()
        elif kind == "append_entries":
            self.on_heartbeat(term, src)
        elif kind == "timeout_now" and term == self.term and self.role == "follower":
            self.campaign()

    def tick(self, now):
        self.now = now
        if now >= self.deadline:
            if self.role == "leader":
                self.heartbeat()
            else:
                self.emit("election_timeout")
                self.campaign()

    def transfer(self, target, now):
        self.now = now
        if self.role == "leader" and target in self.peers:
            self.emit("transfer_started", target=target)
            self.send("timeout_now", target)

    # ---------------------------------------------------------------- handlers

    def on_request_vote(self, term, src):
        grant = term == self.term and self.voted_for in (None, src) and self.role == "follower"
        if grant:
            self.voted_for = src
            self.reset_timer()
            self.emit("vote_granted", candidate=src)
        else:
            self.emit("vote_denied", candidate=src, reason="stale_term" if term < self.term else "voted")
        self.send("vote_response", src, granted=grant)

    def on_heartbeat(self, term, src):
        if term < self.term:
            self.send("append_response", src, success=False)
            return
        if self.role != "follower" or self.leader != src:
            self.follow(self.term, src)
        self.reset_timer()
        self.send("append_response", src, success=True)

    def follow(self, term, leader):
        if self.role != "follower":
            self.events.append({"name": "stepped_down", "term": term,
                                "fields": {"reason": "higher_term" if term > self.term else "leader_found"}})
        if term > self.term:
            self.term, self.voted_for = term, None
        self.role, self.leader, self.votes = "follower", leader, set()
        self.reset_timer()
        self.emit("became_follower", leader=leader)

    def campaign(self):
        self.term += 1
        self.role, self.leader, self.voted_for, self.votes = "candidate", None, self.id, {self.id}
        self.reset_timer()
        self.emit("became_candidate")
        self.emit("vote_granted", candidate=self.id)
        if len(self.members) == 1:
            self.lead()
            return
        for p in self.peers:
            self.send("request_vote", p)

    def lead(self):
        self.role, self.leader = "leader", self.id
        self.emit("became_leader")
        self.heartbeat()

    def heartbeat(self):
        for p in self.peers:
            self.send("append_entries", p)
        self.deadline = self.now + self.hb

    # ---------------------------------------------------------------- plumbing

    def reset_timer(self):
        self.deadline = self.now + self.rng.uniform(self.et_min, self.et_max)

    def send(self, kind, dst, **flags):
        self.out.append({"kind": kind, "term": self.term, "src": self.id, "dst": dst, **flags})

    def emit(self, name, **fields):
        self.events.append({"name": name, "term": self.term, "fields": fields})

    def answer(self):
        state = (self.term, self.voted_for)
        persist = {"term": state[0], "voted_for": state[1]} if state != self.saved else None
        self.saved = state
        doc = {"persist": persist, "messages": self.out, "events": self.events, "deadline": self.deadline,
               "role": self.role, "term": self.term}
        self.out, self.events = [], []
        return doc


def main():
    core = None
    for line in sys.stdin:  # ends when the embedding closes our stdin (or its process dies)
        req = json.loads(line)
        op = req["op"]
        if op == "persisted":
            if core is not None:
                core.durable = (req["term"], req["voted_for"])
            continue
        if op == "init":
            core = Core(req)
        elif op == "step":
            core.step(req["msg"], req["now"])
        elif op == "tick":
            core.tick(req["now"])
        elif op == "transfer":
            core.transfer(req["target"], req["now"])
        else:
            print(json.dumps({"error": f"unknown op {op!r}"}), flush=True)
            continue
        sys.stdout.write(json.dumps(core.answer(), separators=(",", ":")) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
