#!/usr/bin/env python3
"""A whole Raft core (election and log replication, contract v2) as a child process speaking line-delimited JSON on
stdin/stdout. Like examples/jsonl_core.py (its election-only, v1 sibling) it does not import raftzmq: the protocol
in docs/core-contract.md ("Cores in other languages") is all it knows. The paper's §5.2-5.4, nothing more: no
PreVote, no CheckQuorum; one AppendEntries per follower per heartbeat or answer (stop and wait).

    raftzmq conform "exec:python3 examples/jsonl_raft_core.py" --seeds 10
    raftzmq sim --core "exec:python3 examples/jsonl_raft_core.py" --proposals 20

What v2 adds over the v1 protocol: `init` carries the recovered `log` and the persisted `commit`; the first answer
says `"contract": 2`; answers may carry `entries` (to make durable, replacing the log from the first one's index)
and `committed` (to apply, in log order, once durable), and `persist` carries `commit`; `propose` asks the leader
to append a command and its answer carries `proposal`. Entries are {"index", "term", "data": base64}.
"""
import json
import random
import sys

MAX_BATCH = 64  # entries per AppendEntries


class Core:
    def __init__(self, req):
        cfg, state = req["config"], req["state"]
        self.id, self.members = cfg["node_id"], cfg["members"]
        self.peers = [m for m in self.members if m != self.id]
        self.et_min, self.et_max, self.hb = cfg["election_timeout_min"], cfg["election_timeout_max"], \
            cfg["heartbeat_interval"]
        self.rng = random.Random(req["seed"])
        self.term, self.voted_for = state["term"], state["voted_for"]
        self.log = list(req.get("log", []))  # entry i is self.log[i - 1]
        self.commit = min(state.get("commit", 0), len(self.log))
        self.saved = (self.term, self.voted_for, self.commit)
        self.role, self.leader, self.votes = "follower", None, set()
        self.next, self.match = {}, {}
        self.transfer_to, self.transfer_until = None, 0.0
        self.now, self.deadline = req["now"], 0.0
        self.out, self.events, self.new, self.done = [], [], None, []
        self.reset_timer()

    # ---------------------------------------------------------------- the log

    def last(self):
        return len(self.log), (self.log[-1]["term"] if self.log else 0)

    def term_at(self, i):
        return self.log[i - 1]["term"] if 0 < i <= len(self.log) else 0

    def write(self, entries):
        """Replace the log from entries[0]'s index on; what the embedding must make durable."""
        first = entries[0]["index"]
        self.log[first - 1:] = entries
        self.new = [e for e in (self.new or []) if e["index"] < first] + entries

    def commit_to(self, index):
        if index > self.commit:
            self.done.extend(self.log[self.commit:index])
            self.commit = index

    # ---------------------------------------------------------------- inputs

    def step(self, msg, now):
        self.now = now
        kind, term, src = msg["kind"], msg["term"], msg["src"]
        if term > self.term:
            self.follow(term, src if kind in ("append_entries", "timeout_now") else None)
        if kind == "request_vote":
            self.on_request_vote(msg)
        elif kind == "vote_response":
            if self.role == "candidate" and term == self.term and msg.get("granted"):
                self.votes.add(src)
                if 2 * len(self.votes) > len(self.members):
                    self.lead()
        elif kind == "append_entries":
            self.on_append(msg)
        elif kind == "append_response":
            if self.role == "leader" and term == self.term:
                self.on_append_response(msg)
        elif kind == "timeout_now" and term == self.term and self.role == "follower":
            self.campaign()

    def tick(self, now):
        self.now = now
        if now >= self.deadline:
            if self.role == "leader":
                if self.transfer_to is not None and now >= self.transfer_until:
                    self.emit("transfer_aborted", target=self.transfer_to)
                    self.transfer_to = None
                self.broadcast()
            else:
                self.emit("election_timeout")
                self.campaign()

    def transfer(self, target, now):
        self.now = now
        if self.role == "leader" and target in self.peers:
            self.emit("transfer_started", target=target)
            self.transfer_to, self.transfer_until = target, now + self.et_max
            self.maybe_timeout_now(target)

    def propose(self, data, now):
        self.now = now
        if self.role != "leader":
            return {"accepted": False, "index": 0, "term": self.term, "leader": self.leader}
        index = len(self.log) + 1
        self.write([{"index": index, "term": self.term, "data": data}])
        for p in self.peers:
            self.send_append(p)
        self.advance_commit()
        return {"accepted": True, "index": index, "term": self.term, "leader": self.id}

    # ---------------------------------------------------------------- handlers

    def on_request_vote(self, msg):
        term, src = msg["term"], msg["src"]
        my_index, my_term = self.last()
        li, lt = msg.get("last_log_index", 0), msg.get("last_log_term", 0)
        up_to_date = lt > my_term or (lt == my_term and li >= my_index)  # §5.4.1
        grant = term == self.term and self.voted_for in (None, src) and self.role == "follower" and up_to_date
        if grant:
            self.voted_for = src
            self.reset_timer()
            self.emit("vote_granted", candidate=src)
        else:
            reason = "stale_term" if term < self.term else ("voted" if up_to_date else "log_behind")
            self.emit("vote_denied", candidate=src, reason=reason)
        self.send("vote_response", src, granted=grant)

    def on_append(self, msg):
        term, src = msg["term"], msg["src"]
        if term < self.term:
            self.send("append_response", src, success=False)
            return
        if self.role != "follower" or self.leader != src:
            self.follow(self.term, src)
        self.reset_timer()
        prev, prev_term = msg.get("prev_index", 0), msg.get("prev_term", 0)
        if prev > len(self.log):
            self.send("append_response", src, success=False, index=prev, conflict_index=len(self.log) + 1)
            return
        if prev and self.term_at(prev) != prev_term:
            t = self.term_at(prev)
            first = prev
            while first > 1 and self.term_at(first - 1) == t:
                first -= 1
            self.send("append_response", src, success=False, index=prev, conflict_index=first, conflict_term=t)
            return
        entries = msg.get("entries", [])
        for k, e in enumerate(entries):  # skip what we hold; replace from the first conflict (§5.3)
            if e["index"] > len(self.log) or self.term_at(e["index"]) != e["term"]:
                self.write(entries[k:])
                break
        match = prev + len(entries)
        self.commit_to(min(msg.get("commit", 0), match))  # never beyond what matches the leader
        self.send("append_response", src, success=True, index=match)

    def on_append_response(self, msg):
        src = msg["src"]
        if msg.get("success", True):
            if msg.get("index", 0) > self.match[src]:
                self.match[src] = msg["index"]
                self.next[src] = msg["index"] + 1
                self.advance_commit()
            if self.next[src] <= len(self.log):
                self.send_append(src)
            self.maybe_timeout_now(src)
        else:
            ci, ct = msg.get("conflict_index", 0), msg.get("conflict_term", 0)
            nxt = ci
            if ct:
                have = [e["index"] for e in self.log if e["term"] == ct]
                if have:
                    nxt = have[-1] + 1
            self.next[src] = max(self.match[src] + 1, min(nxt or 1, msg.get("index", 1) or 1))
            self.send_append(src)

    def advance_commit(self):
        # §5.4.2: count replicas only for an entry of the current term; earlier ones commit through it.
        matches = sorted([len(self.log)] + [self.match[p] for p in self.peers], reverse=True)
        n = matches[len(self.members) // 2]
        if n > self.commit and self.term_at(n) == self.term:
            self.commit_to(n)

    def maybe_timeout_now(self, peer):
        if self.transfer_to == peer and self.match[peer] == len(self.log):  # thesis §3.10: caught up first
            self.send("timeout_now", peer)
            self.transfer_to = None

    # ---------------------------------------------------------------- roles

    def follow(self, term, leader):
        if self.role != "follower":
            self.events.append({"name": "stepped_down", "term": term,
                                "fields": {"reason": "higher_term" if term > self.term else "leader_found"}})
        if term > self.term:
            self.term, self.voted_for = term, None
        self.role, self.leader, self.votes, self.transfer_to = "follower", leader, set(), None
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
        li, lt = self.last()
        for p in self.peers:
            self.send("request_vote", p, last_log_index=li, last_log_term=lt)

    def lead(self):
        self.role, self.leader = "leader", self.id
        self.emit("became_leader")
        self.next = {p: len(self.log) + 1 for p in self.peers}
        self.match = {p: 0 for p in self.peers}
        self.write([{"index": len(self.log) + 1, "term": self.term, "data": ""}])  # the no-op (§8)
        self.advance_commit()
        self.broadcast()

    def broadcast(self):
        for p in self.peers:
            self.send_append(p)
        self.deadline = self.now + self.hb

    def send_append(self, p):
        nxt = self.next[p]
        entries = self.log[nxt - 1:nxt - 1 + MAX_BATCH]
        self.send("append_entries", p, prev_index=nxt - 1, prev_term=self.term_at(nxt - 1), entries=entries,
                  commit=min(self.commit, nxt - 1 + len(entries)))

    # ---------------------------------------------------------------- plumbing

    def reset_timer(self):
        self.deadline = self.now + self.rng.uniform(self.et_min, self.et_max)

    def send(self, kind, dst, **fields):
        self.out.append({"kind": kind, "term": self.term, "src": self.id, "dst": dst, **fields})

    def emit(self, name, **fields):
        self.events.append({"name": name, "term": self.term, "fields": fields})

    def answer(self):
        state = (self.term, self.voted_for, self.commit)
        persist = {"term": state[0], "voted_for": state[1], "commit": state[2]} if state != self.saved else None
        self.saved = state
        doc = {"persist": persist, "messages": self.out, "events": self.events, "deadline": self.deadline,
               "role": self.role, "term": self.term, "entries": self.new or [], "committed": self.done,
               "contract": 2}
        self.out, self.events, self.new, self.done = [], [], None, []
        return doc


def main():
    core = None
    for line in sys.stdin:  # ends when the embedding closes our stdin (or its process dies)
        req = json.loads(line)
        op = req["op"]
        if op == "persisted":
            continue  # everything asked for is durable; this core does not need to know
        proposal = None
        if op == "init":
            core = Core(req)
        elif op == "step":
            core.step(req["msg"], req["now"])
        elif op == "tick":
            core.tick(req["now"])
        elif op == "transfer":
            core.transfer(req["target"], req["now"])
        elif op == "propose":
            proposal = core.propose(req["data"], req["now"])
        else:
            print(json.dumps({"error": f"unknown op {op!r}"}), flush=True)
            continue
        doc = core.answer()
        if proposal is not None:
            doc["proposal"] = proposal
        sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
