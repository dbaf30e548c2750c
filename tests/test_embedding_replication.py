"""The replicating embedding (embed(recovered=...)): it writes the replication records from its own digest chain,
in the order docs/log-schema.md gives, and `apply_many` carries out a loop turn's Readys with one group commit."""
from __future__ import annotations

from raftzmq.evidence.logdigest import chain_all
from raftzmq.protocol.core import HardState
from raftzmq.protocol.messages import AppendEntries, Entry, RequestVote
from raftzmq.protocol.ready import Event, Ready
from raftzmq.runtime.node.embedding import embed, merge

E1, E2, E3 = Entry(1, 1, b"a"), Entry(2, 1, b"b"), Entry(3, 2, b"c")


class Ports:
    def __init__(self) -> None:
        self.trace: list[tuple] = []
        self.records: list[tuple[str, int, dict]] = []
        self.disk: list[Entry] = []

    def save(self, state):
        self.trace.append(("save", state))

    def log(self, event, *, term, **fields):
        self.trace.append(("log", event))
        self.records.append((event, term, fields))

    def send(self, messages):
        self.trace.append(("send", len(messages)))

    def append(self, entries, state, sync):
        if entries:
            self.disk[entries[0].index - 1:] = list(entries)
        self.trace.append(("append", tuple(e.index for e in entries), state, sync))
        return "ignored"  # a replicating embedding computes the record itself

    def apply(self, committed):
        self.trace.append(("apply", tuple(e.index for e in committed)))

    def embed(self, state=HardState(1, None), recovered=()):
        self.disk = list(recovered)
        return embed(self.save, self.log, self.send, append=self.append, apply=self.apply, state=state,
                     recovered=list(recovered))

    def named(self, name):
        return [(t, f) for e, t, f in self.records if e == name]


def test_log_loaded_reports_the_recovered_log_and_a_commit_cut_to_it():
    p = Ports()
    emb = p.embed(HardState(3, 2, 9), recovered=[E1, E2])
    emb.log_loaded()
    [(term, f)] = p.named("log_loaded")
    assert term == 3 and f == {"last": 2, "digest": chain_all([E1, E2])[-1], "commit": 2, "terms": [[1, 2]]}


def test_records_carry_digests_of_the_chain_and_follow_the_schema_order():
    p = Ports()
    emb = p.embed(HardState(1, None))
    emb(Ready(HardState(1, None, 2), [AppendEntries(1, 1, 2)], [Event("became_leader", 1)], 0.0, [E1, E2],
              [E1, E2]))
    kinds = [t[1] if t[0] == "log" else t[0] for t in p.trace]
    assert kinds == ["append", "log_appended", "became_leader", "commit_advanced", "send", "apply",
                     "entries_applied"]
    d = chain_all([E1, E2])
    assert p.named("log_appended") == [(1, {"first": 1, "last": 2, "terms": [[1, 2]], "prev_digest": "0" * 16,
                                            "digest": d[1]})]
    assert p.named("commit_advanced") == [(1, {"commit": 2, "digest": d[1]})]
    assert p.named("entries_applied") == [(1, {"first": 1, "last": 2, "digest": d[1]})]
    assert p.trace[0] == ("append", (1, 2), HardState(1, None, 2), True)  # log and hard state: one group


def test_entries_applied_uses_the_nodes_current_term_even_without_a_persist():
    p = Ports()
    emb = p.embed(HardState(4, 1, 0), recovered=[E1, E2])
    emb(Ready(None, [], [], 0.0, (), [E1]))  # (a restarted node re-applies its committed prefix)
    assert p.named("entries_applied")[0][0] == 4


def test_a_commit_only_change_writes_commit_advanced_without_fsync_or_log_appended():
    p = Ports()
    emb = p.embed(HardState(2, 1, 0), recovered=[E1, E2])
    emb(Ready(HardState(2, 1, 1), [], [], 0.0, (), [E1]))
    assert p.trace[0] == ("append", (), HardState(2, 1, 1), False)
    assert not p.named("log_appended") and p.named("commit_advanced") == [(2, {"commit": 1,
                                                                                "digest": chain_all([E1])[0]})]


def test_apply_many_is_one_group_commit_for_a_turn_and_folds_replacements():
    p = Ports()
    emb = p.embed(HardState(2, 1, 0), recovered=[E1])
    readys = [Ready(None, [AppendEntries(2, 1, 2)], [], 0.0, [E2]),
              Ready(HardState(2, 1, 1), [AppendEntries(2, 1, 3)], [], 0.0, [Entry(2, 2, b"x"), E3], [E1])]
    emb.apply_many(readys)
    appends = [t for t in p.trace if t[0] == "append"]
    assert appends == [("append", (2, 3), HardState(2, 1, 1), True)]  # one write, one fsync
    assert p.disk == [E1, Entry(2, 2, b"x"), E3]
    kinds = [t[1] if t[0] == "log" else t[0] for t in p.trace]
    assert kinds.index("log_appended") < kinds.index("send") < kinds.index("apply")
    assert [t for t in p.trace if t[0] == "send"] == [("send", 2)]
    assert p.named("log_appended")[0][1]["first"] == 2


def test_apply_many_splits_at_a_second_term_or_vote_change():
    """A vote granted in term 5 must be durable before `vote_granted` at term 5 is logged, even if the same turn
    then moves to term 6: two group commits, each before its own records."""
    p = Ports()
    emb = p.embed(HardState(4, None, 0), recovered=[])
    r1 = Ready(HardState(5, 2), [RequestVote(5, 1, 2)], [Event("vote_granted", 5, {"candidate": 2})], 0.0)
    r2 = Ready(HardState(6, None), [], [Event("became_follower", 6, {"leader": None})], 0.0)
    emb.apply_many([r1, r2])
    kinds = [t[1] if t[0] == "log" else t[0] for t in p.trace]
    assert kinds == ["save", "state_persisted", "vote_granted", "send", "save", "state_persisted",
                     "became_follower"]


def test_merge_keeps_order_and_the_last_hard_state():
    m = merge([Ready(HardState(1), [], [Event("a", 1)], 1.0, [E1]), Ready(HardState(1, None, 1), [], [], 2.0, [E2],
                                                                            [E1])])
    assert m.persist == HardState(1, None, 1) and list(m.entries) == [E1, E2] and list(m.committed) == [E1]
    assert m.deadline == 2.0


def test_merge_carries_fields_added_to_the_ready_later(monkeypatch):
    """A field added to Output later (a sequence, e.g. ReadIndex's `reads`) is concatenated in order by merge,
    not dropped: the node merges a batch of client proposals' Readys."""
    import dataclasses

    import raftzmq.runtime.node.embedding as embedding

    @dataclasses.dataclass(slots=True)
    class Later(Ready):
        reads: tuple = ()
    monkeypatch.setattr(embedding, "Output", Later)
    a = Later(None, [], [], 1.0, reads=("r1",))
    b = Later(None, [], [], 2.0)
    c = Later(None, [], [], 3.0, reads=("r2", "r3"))
    assert list(merge([a, b, c]).reads) == ["r1", "r2", "r3"] and merge([a, b, c]).deadline == 3.0
    assert list(merge([b, b]).reads) == []
