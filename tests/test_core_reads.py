"""ReadIndex and lease reads in the core (Raft thesis §6.4 and §6.4.1), one test per claim.

ReadIndex: the leader takes its commit index as the read index once it knows it is the cluster's (an entry of its
term committed), and answers only after a quorum answered a heartbeat round that started after the read arrived;
reads that arrive while a round is out share the next round; anyone else refuses, naming the leader; a deposed
leader never answers. Lease reads answer at once while the lease holds, which is only as safe as the clocks:
`test_a_slow_clock_lets_a_partitioned_leader_serve_a_stale_lease_read` builds the history that shows it.
"""
from __future__ import annotations

import json

import pytest
from core_harness import Cluster, E, leader_of, make_core

from raftzmq.evidence.history import parse_history
from raftzmq.evidence.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, check_history
from raftzmq.protocol.core import FOLLOWER, LEADER, CoreConfig, ElectionCore, HardState
from raftzmq.protocol.messages import AppendEntries, AppendResponse, Entry, VoteResponse
from raftzmq.protocol.ready import ReadState




def committed_leader(n: int = 3, **cfg) -> ElectionCore:
    """A leader of term 2 whose no-op (index 2, after entry 1 of term 1) every follower acknowledged."""
    lead = leader_of(n, log=[E(1, 1, b"a")], term=2, **cfg)
    for peer in lead.peers:
        lead.step(AppendResponse(2, peer, 1, True, 2), lead.now)
    assert lead.commit_index == 2
    return lead


def heartbeats(out) -> list[AppendEntries]:
    return [m for m in out.messages if isinstance(m, AppendEntries)]


def ack(lead: ElectionCore, peer: int, rnd: int):
    return lead.step(AppendResponse(lead.term, peer, 1, True, lead.last_index, 0, 0, rnd), lead.now)


def test_a_new_leader_refuses_reads_until_an_entry_of_its_term_commits():
    """§6.4 step 1: until the no-op of its term commits, the leader does not know the cluster's commit index
    (entry 1 of term 1 may be committed): it refuses, naming itself, and sends nothing for the read."""
    lead = leader_of(log=[E(1, 1, b"a")], term=2)
    out = lead.read_index(7, lead.now)
    assert list(out.reads) == [ReadState(7, None, 1)] and not out.messages
    lead.step(AppendResponse(2, 2, 1, True, 1), lead.now)  # entry 1 on a majority: still not of term 2
    assert list(lead.read_index(8, lead.now).reads) == [ReadState(8, None, 1)]
    lead.step(AppendResponse(2, 2, 1, True, 2), lead.now)  # the no-op commits
    out = lead.read_index(9, lead.now)
    assert list(out.reads) == [] and len(heartbeats(out)) == 2  # a round started: no refusal any more


def test_a_leader_whose_log_was_all_committed_serves_reads_without_a_no_op():
    """Every entry it held when elected is known committed (last index == commit): its commit index is the
    cluster's (Leader Completeness), so reads need no new entry."""
    lead = leader_of(term=1)  # an empty log: nothing to commit
    out = lead.read_index(1, lead.now)
    assert list(out.reads) == [] and {m.round for m in heartbeats(out)} == {1}
    assert list(ack(lead, 2, 1).reads) == [ReadState(1, 0, 1)]


def test_the_read_waits_for_a_quorum_answering_a_round_sent_after_it():
    """§6.4 steps 2-3: the read is answered once a majority (the leader counted) answered a heartbeat round that
    started after the read arrived. Answers to heartbeats sent before it (round 0) prove nothing about now."""
    lead = committed_leader(5)
    out = lead.read_index(42, lead.now)
    hb = heartbeats(out)
    assert sorted(m.dst for m in hb) == [2, 3, 4, 5] and {m.round for m in hb} == {1} and not out.reads
    assert list(ack(lead, 2, 0).reads) == [] and list(ack(lead, 3, 0).reads) == []  # older heartbeats' answers
    assert list(ack(lead, 2, 1).reads) == []  # 2 of 5 with the leader
    assert list(ack(lead, 2, 1).reads) == []  # a duplicate counts once
    assert list(ack(lead, 4, 1).reads) == [ReadState(42, 2, 1)]  # 3 of 5: a quorum
    assert list(ack(lead, 5, 1).reads) == []  # answered once


def test_the_read_index_is_the_commit_index_when_the_read_arrived():
    lead = committed_leader(3)
    lead.read_index(1, lead.now)
    prop, _ = lead.propose(b"x", lead.now)
    lead.step(AppendResponse(2, 2, 1, True, prop.index, 0, 0, 0), lead.now)  # commits entry 3, round 0
    assert lead.commit_index == 3
    assert list(ack(lead, 2, 1).reads) == [ReadState(1, 2, 1)]
    out = lead.read_index(2, lead.now)
    assert {m.round for m in heartbeats(out)} == {2}
    assert list(ack(lead, 3, 2).reads) == [ReadState(2, 3, 1)]


def test_reads_arriving_while_a_round_is_out_share_the_next_round():
    """Batching: one round per batch. Reads 2 and 3 arrive after round 1 left, so round 1's answers cannot
    confirm them; they wait together for round 2, which starts as soon as round 1 is answered."""
    lead = committed_leader(3)
    lead.read_index(1, lead.now)
    for ctx in (2, 3):
        assert not lead.read_index(ctx, lead.now).messages  # no new heartbeats while round 1 is out
    out = ack(lead, 2, 1)
    assert list(out.reads) == [ReadState(1, 2, 1)]
    assert {m.round for m in heartbeats(out)} == {2} and len(heartbeats(out)) == 2  # round 2 left at once
    out = ack(lead, 3, 2)
    assert list(out.reads) == [ReadState(2, 2, 1), ReadState(3, 2, 1)]
    assert not heartbeats(out)  # nothing waits: no round 3


def test_a_follower_echoes_the_round_and_refuses_reads_naming_its_leader():
    f = make_core(2, 3, prevote=False)
    out = f.step(AppendEntries(1, 1, 2, 0, 0, (), 0, 5), 0.01)
    assert [m.round for m in out.messages if isinstance(m, AppendResponse)] == [5]
    out = f.step(AppendEntries(1, 1, 2, 0, 0, (E(1, 1),), 0, 6), 0.02)
    assert [(m.success, m.round) for m in out.messages] == [(True, 6)]
    out = f.step(AppendEntries(1, 1, 2, 5, 1, (), 0, 7), 0.03)  # a gap: rejected, still echoing the round
    assert [(m.success, m.round) for m in out.messages] == [(False, 7)]
    assert list(f.read_index(3, 0.04).reads) == [ReadState(3, None, 1)]
    assert list(make_core(3, 3).read_index(4, 0.0).reads) == [ReadState(4, None, None)]


def test_a_one_node_cluster_answers_at_once():
    core = make_core(1, 1)
    core.tick(core.deadline)
    core.tick(core.now)
    assert core.role == LEADER
    assert list(core.read_index(5, core.now).reads) == [ReadState(5, core.commit_index, 1)]


def test_a_deposed_leader_cannot_answer_a_read():
    """Node 1 leads term 1 and is cut off; nodes 2 and 3 elect node 2 in term 2, which commits a write. A read
    at node 1 sends a round nobody of term 1 answers: no answer; the first answer (term 2) deposes it, and the
    waiting read is refused. Had it answered from its commit index, the read would have missed the write."""
    c = Cluster(3, prevote=False, fracs=[0.0, 0.5, 0.9])
    c.fire(1)
    c.stabilize()
    c.propose(1, b"v1")
    c.stabilize()
    assert c[1].commit_index == 1 and c[1].role == LEADER
    cut = lambda m: 1 not in (m.src, m.dst)  # noqa: E731
    c.pending = []
    c.now += 0.31  # past every lease
    c.fire(2)
    c.stabilize(cut)
    assert c[2].role == LEADER and c[2].term == 2
    prop = c.propose(2, b"v2")
    c.stabilize(cut)
    assert c[2].commit_index >= prop.index > c[1].commit_index
    out = c[1].read_index(9, c.now)
    assert c[1].role == LEADER and list(out.reads) == [] and len(heartbeats(out)) == 2
    for m in heartbeats(out):  # the round reaches nodes 2 and 3 now: both answer with term 2
        answer = c[m.dst].step(m, c.now)
        assert [(r.term, r.success) for r in answer.messages] == [(2, False)]
        step = c[1].step(answer.messages[0], c.now)
        if m.dst == 2:
            assert c[1].role == FOLLOWER and list(step.reads) == [ReadState(9, None, None)]
    assert list(c[1].read_index(10, c.now).reads) == [ReadState(10, None, None)]


def test_check_quorum_stepping_down_refuses_the_waiting_reads():
    lead = committed_leader(3)
    lead.read_index(1, lead.now)
    now = lead.now
    outs = [lead.tick(now + k * 0.05) for k in range(1, 12)]
    assert lead.role != LEADER and any(e.name == "stepped_down" for o in outs for e in o.events)
    assert [r for o in outs for r in o.reads] == [ReadState(1, None, None)]


# ---------------------------------------------------------------------------------------------- lease reads


def test_lease_mode_needs_check_quorum_and_no_hints():
    with pytest.raises(ValueError, match="check_quorum"):
        CoreConfig(1, (1, 2, 3), read_mode="lease", check_quorum=False)
    with pytest.raises(ValueError, match="hints"):
        CoreConfig(1, (1, 2, 3), read_mode="lease", hints=True)
    with pytest.raises(ValueError, match="read_mode"):
        CoreConfig(1, (1, 2, 3), read_mode="stale")
    with pytest.raises(ValueError, match="max_clock_drift"):
        CoreConfig(1, (1, 2, 3), read_mode="lease", max_clock_drift=1.0)


def test_a_lease_read_is_answered_at_once_while_the_lease_holds_and_by_a_round_after():
    """The lease: the send time of the last round a quorum answered + election_timeout_min * (1 - drift)
    (0.150 * 0.9 = 0.135 s here). Inside it the leader answers without a message; after it, it falls back to a
    ReadIndex round."""
    lead = committed_leader(3, read_mode="lease")
    t0 = lead.now
    hb = heartbeats(lead.tick(t0 + 0.05))  # the periodic heartbeat: a new round each time in lease mode
    rnd = hb[0].round
    assert {m.round for m in hb} == {rnd} and rnd >= 2
    assert not lead.lease_holds(t0 + 0.05)  # (the no-op's acks carried round 0: no lease yet)
    ack(lead, 2, rnd)
    assert lead.lease_holds(t0 + 0.05 + 0.134) and not lead.lease_holds(t0 + 0.05 + 0.136)
    out = lead.read_index(1, t0 + 0.06)
    assert list(out.reads) == [ReadState(1, 2, 1)] and not out.messages
    out = lead.read_index(2, t0 + 0.05 + 0.14)  # the lease ran out: a round, answered by a quorum
    assert not out.reads and heartbeats(out)
    assert list(ack(lead, 3, heartbeats(out)[0].round).reads) == [ReadState(2, 2, 1)]


def test_no_lease_reads_once_a_leadership_transfer_sent_timeout_now():
    """A transfer's candidate passes the followers' lease (RequestVote.transfer), so it may lead before our lease
    ends: from the TimeoutNow on, reads need a round again for the rest of the term."""
    lead = committed_leader(3, read_mode="lease")
    rnd = heartbeats(lead.tick(lead.now + 0.05))[0].round
    ack(lead, 2, rnd)
    assert lead.lease_holds(lead.now)
    lead.transfer_leadership(2, lead.now)  # node 2 is caught up: TimeoutNow goes at once
    assert lead.transfer_sent and not lead.lease_holds(lead.now)
    assert list(lead.read_index(1, lead.now).reads) == []


class Clocks:
    """Three cores with their own clocks: node i's `now` runs `rate[i]` times real time (raftzmq skew)."""

    def __init__(self, rates: dict[int, float], **cfg) -> None:
        self.real = 0.0
        self.rate = rates
        self.base = {i: (0.0, 0.0) for i in rates}  # (real, local) at the last rate change
        self.cores = {i: make_core(i, 3, prevote=True, frac=[0.0, 0.5, 0.9][i - 1], **cfg) for i in rates}
        self.pending: list = []
        self.up = {1, 2, 3}  # who hears whom: a partition cuts the node out

    def local(self, i: int) -> float:
        r0, l0 = self.base[i]
        return l0 + (self.real - r0) * self.rate[i]

    def set_rate(self, i: int, rate: float) -> None:
        self.base[i] = (self.real, self.local(i))
        self.rate[i] = rate

    def take(self, out) -> None:
        self.pending += [*out.early, *out.messages]
        return out

    def run(self, until: float, step: float = 0.001) -> None:
        """Advance real time to `until`, ticking every node and delivering every message within the same ms."""
        while self.real < until:
            self.real = round(self.real + step, 6)
            for i, core in self.cores.items():
                if core.deadline <= self.local(i):
                    self.take(core.tick(self.local(i)))
            for _ in range(10):
                batch, self.pending = self.pending, []
                if not batch:
                    break
                for m in batch:
                    if (m.src in self.up) == (m.dst in self.up):
                        self.take(self.cores[m.dst].step(m, self.local(m.dst)))

    def leader(self) -> int | None:
        ls = [i for i, c in self.cores.items() if c.role == LEADER]
        return max(ls, key=lambda i: self.cores[i].term) if ls else None


def _stale_read_history(read_mode: str) -> tuple[list[str], ReadState | None]:
    """Node 1 leads and commits x=1; its clock is then skewed to 0.1x and it is cut off; nodes 2 and 3 elect a
    leader that commits x=2 (acknowledged to the client); then a client reads x at node 1."""
    c = Clocks({1: 1.0, 2: 1.0, 3: 1.0}, read_mode=read_mode)
    c.run(0.5)
    assert c.leader() == 1
    lines = []

    def op(process: int, type_: str, f: str, value) -> None:
        lines.append(json.dumps({"process": process, "type": type_, "f": f, "key": "x", "value": value}))

    op(0, "invoke", "put", 1)
    prop, out = c.cores[1].propose(b"1", c.local(1))
    c.take(out)
    c.run(c.real + 0.02)
    assert c.cores[1].commit_index >= prop.index
    op(0, "ok", "put", 1)
    c.run(c.real + 0.02)  # a heartbeat round answered: node 1's lease is fresh
    c.set_rate(1, 0.1)  # its clock now runs ten times slow...
    c.up = {2, 3}  # ...and it is cut off from the others (the client still reaches it)
    c.run(c.real + 0.6)
    new = c.leader()
    assert new in (2, 3) and c.cores[new].term > c.cores[1].term and c.cores[1].role == LEADER
    op(1, "invoke", "put", 2)
    prop2, out = c.cores[new].propose(b"2", c.local(new))
    c.take(out)
    c.run(c.real + 0.02)
    assert c.cores[new].commit_index >= prop2.index
    op(1, "ok", "put", 2)
    op(2, "invoke", "get", None)
    out = c.take(c.cores[1].read_index(1, c.local(1)))
    c.run(c.real + 0.05)
    states = list(out.reads)
    if states and states[0].index is not None:
        # node 1's state machine: the committed prefix up to the read index, the last value written
        value = int(c.cores[1].log.entry(states[0].index).data) if states[0].index else None
        op(2, "ok", "get", value)
    else:
        op(2, "info", "get", None)  # never answered: the client timed out
    return lines, (states[0] if states else None)


def test_a_slow_clock_lets_a_partitioned_leader_serve_a_stale_lease_read():
    """What `--reads lease` risks (README "Reads"): node 1's clock is skewed slow (0.1x, beyond the
    max_clock_drift of 0.1 the lease allows for), so its lease of 0.135 s of its time lasts 1.35 s of real time.
    Cut off, it still leads in its own eyes when the others have elected a new leader and committed x=2, and it
    serves x=1: the checker rejects the history. Deterministic: every clock and delivery is scripted."""
    lines, state = _stale_read_history("lease")
    assert state is not None and state.index is not None and state.leader == 1
    result = check_history(parse_history(lines))
    assert result.verdict == NOT_LINEARIZABLE
    assert result.window is not None and result.window.culprit.f == "get" and result.window.culprit.output == 1
    assert [(o.f, o.value, o.output) for o in result.window.operations] == [("put", 1, None), ("put", 2, None),
                                                                           ("get", None, 1)]


def test_the_same_skew_cannot_make_a_readindex_read_stale():
    """The same script with ReadIndex: node 1's round never reaches a quorum, so the read is not answered (the
    client times out: `info`) and the history is linearizable."""
    lines, state = _stale_read_history("index")
    assert state is None
    assert check_history(parse_history(lines)).verdict == LINEARIZABLE


def test_an_idle_leaders_heartbeats_repeat_after_a_read_so_their_encoding_stays_cached():
    """The round moves only when reads arrive (index mode): the periodic heartbeats before and after a read
    round are each one repeated message, so the codec's encode cache (keyed by the message) keeps hitting."""
    from raftzmq.protocol.codec import Codec

    lead = committed_leader(3)
    before = [heartbeats(lead.tick(lead.deadline)) for _ in range(2)]
    assert before[0] == before[1] and before[0]
    lead.read_index(1, lead.now)
    ack(lead, 2, 1)
    after = [heartbeats(lead.tick(lead.deadline)) for _ in range(3)]
    assert after[0] == after[1] == after[2] and {m.round for m in after[0]} == {1}
    codec = Codec((1, 2, 3), 1)
    frames = [codec.encode_cached(m) for m in after[0] + after[1]]
    assert len(codec._frames) == 2 and frames[:2] == frames[2:]


def test_the_cluster_config_carries_the_read_mode_to_the_core_and_the_cli():
    from raftzmq.commands.options import start_args
    from raftzmq.runtime.config import ClusterConfig, ConfigError

    assert ClusterConfig().reads == "index" and ClusterConfig().core_config(1).read_mode == "index"
    lease = ClusterConfig(nodes=3, reads="lease")
    assert lease.core_config(2).read_mode == "lease" and ClusterConfig(reads="log").core_config(1).read_mode == "index"
    assert start_args(lease)[start_args(lease).index("--reads") + 1] == "lease"
    assert ClusterConfig.from_dict(lease.to_dict()) == lease
    for bad in ({"reads": "lease", "check_quorum": False}, {"reads": "lease", "hints": True}, {"reads": "fast"}):
        with pytest.raises(ConfigError, match="reads"):
            ClusterConfig(**bad)


def test_with_lease_reads_a_restarted_node_ignores_candidates_for_a_minimum_election_timeout():
    """A follower that acknowledged a leader's lease round and crashed comes back knowing no leader; granting a
    vote at once would let a new leader commit while the old leader's lease still holds. With lease reads a
    (re)started node ignores real votes (and denies pre-votes) for election_timeout_min after its start; with
    ReadIndex it votes at once, as before."""
    from raftzmq.protocol.messages import RequestVote

    ask = RequestVote(2, 3, 2, prevote=False)
    lease = make_core(2, 3, state=HardState(1), now=10.0, read_mode="lease", prevote=False)
    out = lease.step(ask, 10.1)
    assert lease.term == 1 and not out.messages  # ignored: no term change, no answer
    assert [m.granted for m in lease.step(RequestVote(2, 3, 2, prevote=False), 10.16).messages] == [True]
    index = make_core(2, 3, state=HardState(1), now=10.0, prevote=False)
    assert [m.granted for m in index.step(ask, 10.1).messages] == [True]


def test_the_embedding_hands_reads_over_after_the_applies_and_merging_keeps_them_in_order():
    from raftzmq.protocol.ready import Output
    from raftzmq.protocol.surface import merge_outputs
    from raftzmq.runtime.node.embedding import embed, merge

    order: list = []
    carry = embed(lambda s: None, lambda *a, **k: None, lambda m: None, state=HardState(1, None, 0),
                  append=lambda e, s, sync: None, apply=lambda c: order.append(("apply", [e.index for e in c])),
                  recovered=[E(1, 1)], reads=lambda states: order.append(("reads", [r.ctx for r in states])))
    a = Output(HardState(1, None, 1), [], [], 1.0, (), (E(1, 1),), (), (ReadState(1, 1, 1),))
    b = Output(None, [], [], 2.0, reads=(ReadState(2, None, 3),))
    assert [r.ctx for r in merge([a, b]).reads] == [1, 2] == [r.ctx for r in merge_outputs([a, b]).reads]
    carry.apply_many([a, b])
    assert order == [("apply", [1]), ("reads", [1, 2])]
