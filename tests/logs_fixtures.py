"""Hand-made run directories for evidence tests, written through the real LogWriter with a fake shared clock.

Reads like a transcript: `run.start(1)`, `run.campaign(1, term=1)`, `run.grant(2, term=1, cand=1)`, `run.lead(1, 1)`.
Each helper writes exactly the records a correct node would, in the order the embedding produces them (events
of the old term, `state_persisted`, then the new term's events); tests break invariants by calling the
lower-level `rec`/`vote` helpers directly.

Replication (`Run(..., replication=True)`): every node has a log "on disk" (a DigestChain with real digests);
`start` then writes `log_loaded` from it, `append` carries out a Ready's entries and writes `log_appended`,
`commit` / `apply` write `commit_advanced` / `entries_applied` with the digests of the node's log, and
`lose_tail` drops entries from a node's disk without any record (a lost write, for bad histories).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from raftzmq.evidence.logdigest import DigestChain
from raftzmq.evidence.logfile import LogWriter
from raftzmq.protocol.messages import Entry


class FakeClock:
    """One clock shared by every writer of a run, so mono_ns orders records globally, as on one host."""

    def __init__(self) -> None:
        self.ns = 0

    def time(self) -> float:
        return 1_700_000_000 + self.ns / 1e9

    def monotonic_ns(self) -> int:
        self.ns += 1_000
        return self.ns


class Run:
    def __init__(self, run_dir: Path, nodes: int | None = 3, *, cluster_started: bool = True,
                 replication: bool = False) -> None:
        self.replication = replication
        self.written = 0  # records written through rec()
        self.disk: dict[int, DigestChain] = {}  # per node: its log as it is on disk (digests)
        self.entries: dict[int, list[Entry]] = {}  # ... and its entries
        self.saved_commit: dict[int, int] = {}  # per node: the commit index its hard state holds
        self.commits: dict[int, int] = {}  # per node: its commit index in this incarnation
        self.applied: dict[int, int] = {}
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.clock = FakeClock()
        self.sup = LogWriter(self.dir / "supervisor.jsonl", by="supervisor", node=0, clock=self.clock)
        self.writers: dict[int, LogWriter] = {}
        self.incs: dict[int, int] = {}
        if cluster_started and nodes is not None:
            self.sup.write("cluster_started", nodes=nodes, config={"election_timeout_ms": [150, 300]})

    # -- lifecycle

    def start(self, node: int, term: int = 0, voted_for: int | None = None, mode: str = "term+vote") -> LogWriter:
        if node in self.writers:
            self.writers[node].close()
        inc = self.incs[node] = self.incs.get(node, 0) + 1
        self.sup.write("node_spawned", node=node, pid=1000 * node + inc, incarnation=inc)
        w = self.writers[node] = LogWriter(self.dir / f"node-{node}.jsonl", by="node", node=node, incarnation=inc,
                                           clock=self.clock)
        w.write("node_started", term=term, voted_for=voted_for, persist_mode=mode)
        if self.replication:
            chain = self.disk.setdefault(node, DigestChain())
            commit = min(self.saved_commit.get(node, 0), chain.last)
            self.commits[node], self.applied[node] = commit, 0
            w.write("log_loaded", term=term, **chain.loaded_fields(commit))
        return w

    def kill(self, node: int) -> None:
        self.sup.write("node_killed", node=node, pid=1000 * node + self.incs[node], signal="SIGKILL")
        self.writers.pop(node).close()

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.sup.write("cluster_stopped")
        self.sup.close()

    # -- records

    def rec(self, node: int, event: str, term: int, **fields: Any) -> dict[str, Any]:
        self.written += 1
        return self.writers[node].write(event, term=term, **fields)

    def persist(self, node: int, term: int, voted_for: int | None) -> None:
        self.rec(node, "state_persisted", term, voted_for=voted_for)

    def vote(self, node: int, term: int, cand: int) -> None:
        self.rec(node, "vote_granted", term, candidate=cand)

    # -- replication

    def append(self, node: int, term: int, terms: list[int], first: int | None = None, *, data: bytes = b"",
               record_term: int | None = None) -> dict[str, Any]:
        """Entries of `terms` replace the node's log from `first` (default: after its last) on: durable, then
        logged. `data` is mixed into every payload (two nodes given different data hold different entries)."""
        chain = self.disk.setdefault(node, DigestChain())
        start = chain.last + 1 if first is None else first
        entries = [Entry(start + k, t, data + f"{start + k}/{t}".encode()) for k, t in enumerate(terms)]
        return self.append_entries(node, term if record_term is None else record_term, entries)

    def append_entries(self, node: int, term: int, entries: list[Entry]) -> dict[str, Any]:
        chain = self.disk.setdefault(node, DigestChain())
        fields = chain.replace_from(entries)
        assert fields is not None
        held = self.entries.setdefault(node, [])
        del held[entries[0].index - 1:]
        held.extend(entries)
        return self.rec(node, "log_appended", term, **fields)

    def sync(self, follower: int, leader: int, term: int, upto: int | None = None) -> None:
        """A correct AppendEntries exchange: the follower's log from the first difference on becomes the
        leader's (its longer matching suffix, if any, stays); `upto`: only the leader's entries 1..upto."""
        lead, mine = self.entries.get(leader, [])[:upto], self.entries.get(follower, [])
        if len(mine) <= len(lead) and (not mine or mine[-1] == lead[len(mine) - 1]):
            p = len(mine)  # Log Matching: equal last entries, equal logs up to there (keeps long runs linear)
        else:
            p = next((k for k, (a, b) in enumerate(zip(lead, mine)) if a != b), min(len(lead), len(mine)))
        if p < len(lead):
            self.append_entries(follower, term, lead[p:])

    def commit(self, node: int, term: int, commit: int, *, save: bool = True) -> None:
        self.commits[node] = commit
        if save:
            self.saved_commit[node] = commit
        self.rec(node, "commit_advanced", term, commit=commit, digest=self.disk[node].digest(commit))

    def apply(self, node: int, term: int, last: int | None = None, first: int | None = None) -> None:
        last = self.commits[node] if last is None else last
        first = self.applied.get(node, 0) + 1 if first is None else first
        self.applied[node] = last
        self.rec(node, "entries_applied", term, first=first, last=last, digest=self.disk[node].digest(last))

    def lose_tail(self, node: int, keep: int) -> None:
        """The node's disk keeps entries 1..keep only, and nothing says so (a lost write)."""
        self.disk[node].truncate(keep)
        del self.entries[node][keep:]

    def replicate(self, leader: int, term: int, followers: list[int], n: int = 1, *, apply: bool = True) -> int:
        """The leader appends n entries of its term, the followers take them, the leader commits, the followers
        learn the commit (and all apply). Returns the new commit index."""
        first = self.disk.setdefault(leader, DigestChain()).last + 1
        self.append(leader, term, [term] * n)
        for f in followers:
            self.sync(f, leader, term)
        last = first + n - 1
        for node in (leader, *followers):
            self.commit(node, term, last)
            if apply:
                self.apply(node, term)
        return last

    # -- well-behaved steps

    def campaign(self, node: int, term: int, *, from_term: int | None = None) -> None:
        self.rec(node, "election_timeout", term - 1 if from_term is None else from_term)
        self.persist(node, term, node)
        self.rec(node, "became_candidate", term)
        self.vote(node, term, node)

    def grant(self, node: int, term: int, cand: int) -> None:
        self.persist(node, term, cand)
        self.vote(node, term, cand)

    def lead(self, node: int, term: int) -> None:
        self.rec(node, "became_leader", term)

    def follow(self, node: int, term: int, leader: int | None) -> None:
        self.rec(node, "became_follower", term, leader=leader)

    def elect(self, leader: int, term: int, voters: list[int], followers: list[int] | None = None) -> None:
        self.campaign(leader, term)
        for v in voters:
            self.grant(v, term, leader)
        self.lead(leader, term)
        for f in followers if followers is not None else voters:
            self.follow(f, term, leader)


def clean_run(run_dir: Path) -> Run:
    """A realistic 3-node history: election, a leader killed and restarted, a new election, the old leader
    rejoining at a higher term. Every invariant holds."""
    r = Run(run_dir, 3)
    for n in (1, 2, 3):
        r.start(n)
    r.elect(1, 1, voters=[2, 3])
    r.kill(1)
    r.campaign(2, 2, from_term=1)
    r.grant(3, 2, 2)  # 3 first persists term 2 + vote, then grants
    r.lead(2, 2)
    r.follow(3, 2, 2)
    r.start(1, term=1, voted_for=1)  # loads exactly what it persisted
    r.persist(1, 2, None)  # hears the term-2 leader: term up, no vote
    r.follow(1, 2, 2)
    r.rec(3, "vote_denied", 2, candidate=1, reason="already_voted")
    r.close()
    return r
