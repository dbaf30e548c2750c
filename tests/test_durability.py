"""Durability acknowledgements (issue 18/20): `core.persisted(state, last_index, now)`, the leader's parallel write
(thesis §10.2.1), the simulator's asynchronous disk (`--disk async`) and the two mutants that count before their
writes are durable. Each claim has a test that fails if it is broken; v1/v2 cores without `persisted` keep their
behaviour."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from dataclasses import replace

import pytest

from cluster_harness import REPO
from core_harness import make_core, msgs
from logs_fixtures import Run
from raftzmq.evidence.checker import check_run
from raftzmq.lab.conform.claims import REPLICATION_CLAIMS, run_claims
from raftzmq.lab.conform.mutants import DURABILITY
from raftzmq.lab.conform.scorecard import conform
from raftzmq.lab.sim.asyncdisk import AsyncDisk
from raftzmq.lab.sim.simdisk import SimDisk
from raftzmq.lab.sim.simtypes import SimConfig
from raftzmq.lab.sim.simulator import Simulator
from raftzmq.protocol import CoreConfig, CoreWrapper, DurableCore, ElectionCore, HardState
from raftzmq.protocol.core import CANDIDATE, LEADER
from raftzmq.protocol.messages import AppendEntries, AppendResponse, Entry, RequestVote, VoteResponse
from raftzmq.protocol.surface import acknowledges
from raftzmq.runtime.cores.coreload import load_core
from raftzmq.runtime.node.embedding import embed

MINIMAL = f"{REPO}/examples/minimal_core.py:MinimalCore"


def _candidate(core: ElectionCore) -> object:
    out = core.tick(core.deadline)
    assert core.role == CANDIDATE
    return out


# ------------------------------------------------------------------------------------------------- the core


def test_an_acknowledged_candidate_counts_its_own_vote_only_once_persisted_says_so():
    core = make_core(1, 3, prevote=False)
    core.persisted(HardState(), 0, 0.0)  # what it loaded is durable: acknowledged mode from here
    assert core.acknowledged
    out = _candidate(core)
    assert out.persist == HardState(1, 1) and {m.dst for m in out.early if isinstance(m, RequestVote)} == {2, 3}
    core.tick(core.now + 0.001)  # another input: in acknowledged mode it proves nothing durable
    core.step(VoteResponse(1, 2, 1, granted=True), core.now + 0.002)
    assert core.role == CANDIDATE and core.votes == {2}  # one grant; its own vote is not durable yet
    core.persisted(HardState(0, None), 0, core.now + 0.003)  # an older write completing covers nothing
    assert core.role == CANDIDATE
    out = core.persisted(HardState(1, 1), 0, core.now + 0.004)
    assert core.role == LEADER and "became_leader" in [e.name for e in out.events]


def test_without_acknowledgements_the_own_vote_counts_at_the_next_input_as_before():
    core = make_core(1, 3, prevote=False)
    _candidate(core)
    assert not core.acknowledged and core.votes == set()
    core.step(VoteResponse(1, 2, 1, granted=True), core.now + 0.001)
    assert core.role == LEADER  # own vote counted at this input, then the grant: a majority


def _acked_leader(n: int = 3) -> ElectionCore:
    core = make_core(1, n, prevote=False, check_quorum=False)
    core.persisted(HardState(), 0, 0.0)
    _candidate(core)
    core.persisted(HardState(1, 1), 0, core.now)
    for peer in range(2, 2 + n // 2):
        core.step(VoteResponse(1, peer, 1, granted=True), core.now)
    assert core.role == LEADER
    for peer in range(2, n + 1):  # the first heartbeats' answers: every follower out of PROBE
        core.step(AppendResponse(1, peer, 1, True, 0), core.now)
    return core


def test_an_acknowledged_leader_sends_new_entries_early_and_counts_itself_only_once_durable():
    core = _acked_leader(3)
    proposal, out = core.propose(b"x", core.now)
    assert proposal.accepted and proposal.index == 1
    early = [m for m in out.early if isinstance(m, AppendEntries) and m.entries]
    assert {m.dst for m in early} == {2, 3} and not [m for m in out.messages if isinstance(m, AppendEntries)
                                                      and m.entries]
    assert out.entries and out.entries[0].index == 1  # the leader's own write, in parallel
    out = core.step(AppendResponse(1, 2, 1, True, 1), core.now)
    assert core.commit_index == 0 and not out.committed  # 2's copy + a copy not yet durable: no majority
    assert core.own_match == 0
    out = core.persisted(HardState(1, 1), 1, core.now)
    assert core.commit_index == 1 and [e.index for e in out.committed] == [1]


def test_two_followers_commit_without_the_leaders_own_copy():
    """§10.2.1: the leader's durable copy is not needed when a majority of followers have theirs."""
    core = _acked_leader(5)
    core.propose(b"x", core.now)
    core.step(AppendResponse(1, 2, 1, True, 1), core.now)
    core.step(AppendResponse(1, 3, 1, True, 1), core.now)
    assert core.commit_index == 0  # two of five
    core.step(AppendResponse(1, 4, 1, True, 1), core.now)
    assert core.commit_index == 1 and core.own_match == 0  # three followers: durable on a majority


def test_without_acknowledgements_a_leader_sends_entries_after_its_write_as_before():
    core = make_core(1, 3, prevote=False, check_quorum=False)
    _candidate(core)
    core.step(VoteResponse(1, 2, 1, granted=True), core.now)
    for peer in (2, 3):
        core.step(AppendResponse(1, peer, 1, True, 0), core.now)
    _, out = core.propose(b"x", core.now)
    assert not out.early and {m.dst for m in out.messages if isinstance(m, AppendEntries) and m.entries} == {2, 3}
    core.step(AppendResponse(1, 2, 1, True, 1), core.now)
    assert core.commit_index == 1  # counted its whole log, which the embedding made durable before the send


def test_a_one_node_cluster_elects_and_commits_through_persisted():
    core = make_core(1, 1, prevote=False, check_quorum=False)
    core.persisted(HardState(), 0, 0.0)
    out = core.tick(core.deadline)
    assert core.role == CANDIDATE and core.deadline > core.now  # no tick at once: persisted elects it
    out = core.persisted(out.persist, 0, core.now)
    assert core.role == LEADER
    _, out = core.propose(b"x", core.now)
    assert core.commit_index == 0
    out = core.persisted(core.hard_state(), 1, core.now)
    assert core.commit_index == 1 and [e.index for e in out.committed] == [1]


def test_persisted_refuses_a_bad_last_index():
    core = make_core(1, 3)
    with pytest.raises(ValueError, match="last_index"):
        core.persisted(HardState(), -1, 0.0)


# ------------------------------------------------------------------------------------------------- the surface


def test_persisted_is_an_optional_capability_that_wrappers_forward_only_when_it_exists():
    cfg = CoreConfig(1, (1, 2, 3), prevote=False, check_quorum=False)
    builtin = ElectionCore(cfg, HardState(), 0.0, random.Random(0))
    assert isinstance(builtin, DurableCore) and acknowledges(builtin) and acknowledges(CoreWrapper(builtin))
    minimal = load_core(MINIMAL)(cfg, HardState(), 0.0, random.Random(0))  # a v1 plug-in behind CheckedCore
    assert not acknowledges(minimal) and not isinstance(minimal, DurableCore)
    assert not acknowledges(CoreWrapper(minimal.inner))
    wrapped = CoreWrapper(ElectionCore(cfg, HardState(), 0.0, random.Random(0)))
    wrapped.persisted(HardState(), 0, 0.0)
    assert wrapped.acknowledged  # forwarded through call("persisted", ...)


def test_exec_adapter_takes_no_acknowledgements():
    factory = load_core(f"exec:{sys.executable} {REPO}/examples/jsonl_raft_core.py")
    try:
        core = factory(CoreConfig(1, (1, 2, 3), prevote=False, check_quorum=False), HardState(), 0.0,
                       random.Random(0))
        assert not acknowledges(core)
    finally:
        factory.close()


# ------------------------------------------------------------------------------------------------- the embedding


def test_the_embedding_acknowledges_right_after_a_synced_group_commit_and_carries_out_the_answer():
    core = make_core(1, 3, prevote=False)
    order: list[str] = []
    calls: list[tuple[HardState, int]] = []

    def persisted(state, last):
        calls.append((state, last))
        order.append("persisted")
        return core.persisted(state, last, core.now)

    emb = embed(lambda s: order.append("save"), lambda ev, **f: order.append(ev),
                lambda m: order.append("send"), early=lambda m: order.append("early"), persisted=persisted,
                state=HardState())
    emb(core.tick(core.deadline))
    assert calls == [(HardState(1, 1), 0)]
    assert order.index("early") < order.index("save") < order.index("state_persisted") < order.index("persisted")
    assert core.votes == {1}  # counted from the acknowledgement
    calls.clear()
    emb(core.step(VoteResponse(1, 2, 1, granted=True, prevote=False), core.now))
    assert core.role == LEADER and calls == []  # nothing synced: no acknowledgement


def test_an_embedding_without_a_persisted_port_never_calls_it():
    core = make_core(1, 3, prevote=False)
    emb = embed(lambda s: None, lambda ev, **f: None, lambda m: None, state=HardState())
    emb(core.tick(core.deadline))
    assert not core.acknowledged and core.votes == set()


# ------------------------------------------------------------------------------------------------- the async disk


class _FakeSim:
    """What AsyncDisk uses of the Simulator: a clock, a call heap run by hand, a SimDisk, sends and crashes."""

    def __init__(self) -> None:
        self.now = 0.0
        self.cfg = SimConfig(nodes=3, disk="async", faults=frozenset())
        self.down, self._max_down = 0, 1
        self.disk = SimDisk("async", random.Random(0))
        self.sent: list[tuple[float, object]] = []
        self.calls: list[tuple[float, object, tuple]] = []

    def _send_all(self, messages, after=0.0):
        self.sent += [(self.now + after, m) for m in messages]

    def _call_at(self, t, fn, *args):
        self.calls.append((t, fn, args))

    def _arm(self, node, deadline):
        pass

    def run_next(self):
        self.calls.sort(key=lambda c: c[0])
        t, fn, args = self.calls.pop(0)
        self.now = t
        fn(*args)


class _FakeNode:
    def __init__(self, nid: int) -> None:
        self.id, self.gen, self.up, self.paused, self.busy_until, self.core = nid, 0, True, False, 0.0, None


class _Records:
    def __init__(self) -> None:
        self.events: list[tuple[float, str]] = []

    def write(self, event, *, term, **fields):
        self.events.append((event, term))


def _async_node(sim: _FakeSim, core_factory=ElectionCore):
    node, records = _FakeNode(1), _Records()
    disk = AsyncDisk(sim, 10.0, random.Random(1), random.Random(2))
    p = disk.ports(node, records)
    emb = embed(p["save"], p["log"], p["send"], append=p["append"], early=p["early"], state=HardState(),
                recovered=[])
    core = core_factory(CoreConfig(1, (1, 2, 3), prevote=False, check_quorum=False), HardState(), 0.0,
                        random.Random(0), log=[]) if core_factory is ElectionCore else \
        core_factory(CoreConfig(1, (1, 2, 3), prevote=False, check_quorum=False), HardState(), 0.0,
                     random.Random(0))
    node.core = core
    disk.attach(node, emb, core)
    return node, records, disk, emb, core


def test_async_disk_sends_early_at_once_holds_the_rest_and_delivers_persisted_on_completion():
    sim = _FakeSim()
    node, records, disk, emb, core = _async_node(sim)
    sim.now = core.deadline
    emb(core.tick(sim.now))
    assert {m.dst for _, m in sim.sent if isinstance(m, RequestVote)} == {2, 3}  # early: at once
    assert ("state_persisted", 1) not in records.events and sim.disk.load(1) == HardState()  # not durable yet
    done_at = sim.calls[0][0]
    assert done_at > sim.now
    # the node goes on: a grant arrives before its own write completes, and must not elect it
    emb(core.step(VoteResponse(1, 2, 1, granted=True), sim.now + 0.0001))
    assert core.role == CANDIDATE
    sim.run_next()  # the write completes
    assert sim.disk.load(1) == HardState(1, 1)
    names = [e for e, _ in records.events]
    assert names[:3] == ["election_timeout", "state_persisted", "became_candidate"] and "vote_granted" in names
    assert core.role == LEADER  # persisted delivered: its own vote counts now, with 2's grant
    assert names.index("state_persisted") < names.index("became_leader")


def test_async_disk_holds_a_followers_answer_until_its_entries_are_durable():
    sim = _FakeSim()
    node, records, disk, emb, core = _async_node(sim)
    node.id = 1
    emb(core.step(AppendEntries(1, 2, 1, 0, 0, (Entry(1, 1, b"a"),), 0), 0.001))
    answers = [m for _, m in sim.sent if isinstance(m, AppendResponse)]
    assert answers == []  # depends on the entry: held
    emb(core.step(AppendEntries(1, 2, 1, 1, 1, (), 0), 0.002))  # a heartbeat's answer waits behind it too
    assert [m for _, m in sim.sent if isinstance(m, AppendResponse)] == []
    while sim.calls:
        sim.run_next()
    answers = [m for _, m in sim.sent if isinstance(m, AppendResponse)]
    assert [a.index for a in answers] == [1, 1] and sim.disk.synced_log(1) == [Entry(1, 1, b"a")]


def test_a_crash_before_the_write_completes_loses_it():
    sim = _FakeSim()
    node, records, disk, emb, core = _async_node(sim)
    emb(core.step(AppendEntries(1, 2, 1, 0, 0, (Entry(1, 1, b"a"), Entry(2, 1, b"b")), 0), 0.001))
    pending = disk.crash(node)
    assert [e.index for e in pending] == [1, 2] and disk.lost == 1
    assert sim.disk.load(1) == HardState() and sim.disk.synced_log(1) == []
    node.gen += 1
    sim.run_next()  # the stale completion does nothing
    assert sim.disk.synced_log(1) == [] and [m for _, m in sim.sent if isinstance(m, AppendResponse)] == []


def test_a_core_without_persisted_gets_a_blocking_disk():
    sim = _FakeSim()
    spec = load_core(MINIMAL)
    node, records, disk, emb, core = _async_node(sim, spec)
    assert not acknowledges(core)
    sim.now = core.deadline
    emb(core.tick(sim.now))
    assert sim.disk.load(1).term == 1 and node.busy_until > sim.now  # durable at once, the node blocked
    assert ("state_persisted", 1) in records.events and not sim.calls


def _async_cfg(**kw) -> SimConfig:
    return SimConfig(disk="async", proposals=20.0, duration=10.0, record_logs=False, **kw)


@pytest.mark.parametrize("nodes", [3, 5])
def test_the_parallel_write_is_safe_no_committed_entry_is_lost_across_crashes_on_the_async_disk(nodes):
    """The built-in core (early AppendEntries, own vote and own log counted from persisted) under every fault on
    the asynchronous disk, with crashes aimed before pending writes complete: no violation of any invariant
    ((g) leader completeness and (k) committed-never-lost included), and the runs are not vacuous."""
    crashes = lost = committed = completed = 0
    for seed in range(12):
        sim = Simulator(_async_cfg(nodes=nodes), seed)
        result = sim.run()
        assert result.ok, (seed, [v.message for v in result.violations])
        crashes += sim.async_disk.pending_crashes
        lost += sim.async_disk.lost
        completed += sim.async_disk.completed
        committed += result.replication["max_commit"]
    assert crashes > 10 and lost > 10 and completed > 1000 and committed > 500, (crashes, lost, completed,
                                                                                 committed)


def test_the_default_disk_runs_without_acknowledgements():
    sim = Simulator(SimConfig(duration=2.0, record_logs=False, proposals=20.0), 0)
    sim.run()
    assert sim.async_disk is None
    assert not any(n.core is not None and n.core.acknowledged for n in sim.nodes[1:])


# ------------------------------------------------------------------------------------------------- the mutants


def test_builtin_core_holds_the_durability_claims_and_v2_cores_without_persisted_are_not_judged_on_them():
    results = {r.name: r for r in run_claims(ElectionCore, 2)}
    for claim in ("own-vote-counted-once-durable", "leader-counts-itself-once-durable"):
        assert claim in REPLICATION_CLAIMS and results[claim].ok, results[claim].expected
    factory = load_core(f"exec:{sys.executable} {REPO}/examples/jsonl_raft_core.py", probe=True)
    try:
        ext = {r.name: r for r in run_claims(factory, 2)}
    finally:
        factory.close()
    assert ext["own-vote-counted-once-durable"].ok
    assert any("no durability acknowledgements" in line for line in ext["own-vote-counted-once-durable"].transcript)


@pytest.mark.parametrize("name", sorted(DURABILITY))
def test_each_durability_mutant_fails_its_claim(name):
    mutant = DURABILITY[name]
    results = {r.name: r for r in run_claims(load_core(f"raftzmq.lab.conform.mutants:{name}"), 2)}
    assert not results[mutant.claim].ok
    assert [n for n, r in results.items() if not r.ok] == [mutant.claim]


@pytest.mark.parametrize("name", sorted(DURABILITY))
def test_each_durability_mutant_is_caught_on_the_async_disk_with_a_shell_replay(name, tmp_path):
    mutant = DURABILITY[name]
    spec = f"raftzmq.lab.conform.mutants:{name}"
    card = conform(spec, seeds=30, sizes=(3,), duration=10.0, disk=mutant.disk)
    f = card.failure
    assert f is not None and mutant.finding in {x.kind for x in f.findings}, f
    assert "--disk async" in f.replay
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(["bash", "-c", f.replay + f" --log-dir {tmp_path}/logs"], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"({f.findings[0].kind})" in out.stdout and "Traceback" not in out.stderr
    checked = subprocess.run([sys.executable, "-m", "raftzmq", "check", f"{tmp_path}/logs"], capture_output=True,
                             text=True, env=env, timeout=120)
    # `raftzmq check` judges the replay's logs alone and finds a violation there too (the replay stops just after
    # conform's first finding, so check may see another face of the same loss, e.g. (h) for (g)).
    assert checked.returncode == 1 and "VIOLATIONS" in checked.stdout, checked.stdout


def test_the_own_vote_mutant_hides_on_the_synchronous_disk():
    """Why the async disk is needed: with writes that complete before the next input nobody can tell."""
    card = conform("raftzmq.lab.conform.mutants:CountsOwnVoteEarly", seeds=30, sizes=(3,), duration=10.0)
    assert card.failure is None


def test_a_v1_core_passes_conform_on_the_async_disk_with_a_blocking_disk():
    card = conform(MINIMAL, seeds=2, sizes=(3,), duration=5.0, disk="async")
    assert card.ok, card.to_dict()


# ------------------------------------------------------------------------------------------------- the checker


def test_checker_knows_a_leader_from_its_followers(tmp_path):
    """Bad logs: node 1 counted its own vote before it was durable and crashed before the write (its records of
    term 1 are gone); node 2 granted it a vote and followed it; node 3 then won term 1 with node 1's second
    vote. (d): node 1 acted as leader with 1 vote of 3; (a): two leaders of term 1."""
    r = Run(tmp_path / "bad", 3)
    for n in (1, 2, 3):
        r.start(n)
    r.grant(2, 1, 1)
    r.follow(2, 1, 1)
    r.kill(1)
    r.start(1)
    r.campaign(3, 1, from_term=0)
    r.grant(1, 1, 3)
    r.lead(3, 1)
    r.close()
    res = check_run(tmp_path / "bad")
    letters = {v.invariant for v in res.violations}
    assert letters == {"a", "d"}, [v.message for v in res.violations]
    # A clean election followed by its followers is fine, and so is a follower record with no election shown.
    ok = Run(tmp_path / "ok", 3)
    for n in (1, 2, 3):
        ok.start(n)
    ok.elect(1, 1, voters=[2], followers=[2, 3])
    ok.follow(2, 2, 3)  # (no vote for 3 in term 2 anywhere: the election is not in these records)
    ok.close()
    assert check_run(tmp_path / "ok").violations == []


# ------------------------------------------------------------------------------------------------- what it buys


class _LatencyProbe:
    """A core factory for the simulator that times each accepted proposal until the leader hands it out committed;
    `acks` False hides `persisted` (the same core, as a core without acknowledgements: a blocking disk)."""

    def __init__(self, acks: bool) -> None:
        self.acks, self.proposed, self.committed = acks, {}, {}

    def __call__(self, config, state, now, rng, log=()):
        probe, core = self, ElectionCore(config, state, now, rng, log)

        class Timed(CoreWrapper):
            def call(self, what, fn, *args):
                out = fn(*args)
                for e in out.committed:
                    probe.committed.setdefault(e.index, args[-1] if what != "hint" else args[1])
                return out

            @property
            def propose(self):
                def propose(data, now):
                    proposal, out = core.propose(data, now)
                    if proposal.accepted:
                        probe.proposed.setdefault(proposal.index, now)
                    self.call("propose", lambda *a: out, now)
                    return proposal, out
                return propose

        if self.acks:
            return Timed(core)

        class Blocking(Timed):
            persisted = None  # (acknowledges() is False: the asynchronous disk blocks this node instead)

        return Blocking(core)

    def p50(self) -> float:
        lat = sorted(self.committed[i] - t for i, t in self.proposed.items() if i in self.committed)
        assert len(lat) > 50
        return lat[len(lat) // 2]


def test_the_parallel_write_takes_one_persist_off_the_commit_path():
    """Simulated (10 ms persists, 0.5 ms network): the leader writing in parallel commits in about one persist
    plus a round trip; the same core without acknowledgements, blocking on its own write, in about two."""
    cfg = SimConfig(nodes=5, disk="async", faults=frozenset(), proposals=5.0, duration=20.0, record_logs=False,
                    delay_ms=0.5, jitter_ms=0.2)
    parallel, blocking = _LatencyProbe(True), _LatencyProbe(False)
    Simulator(cfg, 0, make_core=parallel).run()
    Simulator(cfg, 0, make_core=blocking).run()
    assert parallel.p50() < 0.7 * blocking.p50(), (parallel.p50(), blocking.p50())


# ------------------------------------------------------------------------------------------------- the node process


def test_a_node_sends_its_leaders_new_entries_before_its_fsync_and_acknowledges_after_it(tmp_path):
    """The node process (one fsync per loop turn): the turn's early AppendEntries leave (coalesced) before the
    fsync, the leader counts its own entries only from the acknowledgement _flush gives after it, and a follower's
    answer in the same turn waits for the fsync."""
    import raftzmq.runtime.node.process as node_mod
    from raftzmq.evidence.logfile import LogWriter
    from raftzmq.runtime.node.failpoints import Failpoints
    from raftzmq.runtime.node.netem import NetEm
    from test_node_wal import MemStateFile, MemTransport, TracedDisk

    core = make_core(1, 3, state=HardState(1), prevote=False, check_quorum=False)
    core.persisted(HardState(1), 0, 0.0)
    _candidate(core)
    core.persisted(HardState(2, 1), 0, core.now)
    core.step(VoteResponse(2, 2, 1, granted=True), core.now)
    for peer in (2, 3):
        core.step(AppendResponse(2, peer, 1, True, 0), core.now)
    assert core.role == LEADER
    trace: list = []
    node = node_mod.Node(tmp_path, 1, 1, os.getpid(), env={})
    node.log = LogWriter.to_list(by="node", node=1, incarnation=1)
    node.disk, node.state_file, node.transport = TracedDisk(trace), MemStateFile(trace), MemTransport(trace)
    node.netem, node.failpoints = NetEm(1, None), Failpoints([], 1, 1)
    node._open_wal(HardState(2, 1))
    node.core = core
    node._apply = node._embedding(HardState(2, 1))
    trace.clear()
    node._in_turn = True
    for data in (b"a", b"b"):
        node._apply(core.propose(data, core.now)[1])
    assert trace == [] and core.own_match == 0
    node._flush()
    assert trace[:3] == [("send", 2), ("send", 3), "fsync"]  # two proposals, one AppendEntries per follower
    assert core.own_match == 2  # acknowledged after the fsync
    out = core.step(AppendResponse(2, 2, 1, True, 2), core.now)
    assert core.commit_index == 2 and [e.index for e in out.committed] == [1, 2]


def test_in_acknowledged_mode_everything_else_still_waits_for_the_write():
    """Only RequestVotes and AppendEntries with entries go early: votes granted, AppendResponses, heartbeats and
    TimeoutNow stay with the messages that leave after the persist."""
    follower = make_core(2, 3, prevote=False, check_quorum=False)
    follower.persisted(HardState(), 0, 0.0)
    out = follower.step(RequestVote(1, 1, 2), 0.01)
    assert not out.early and msgs(out, VoteResponse, granted=True) and out.persist == HardState(1, 1)
    out = follower.step(AppendEntries(1, 1, 2, 0, 0, (Entry(1, 1, b"a"),), 0), 0.02)
    assert not out.early and msgs(out, AppendResponse, success=True) and out.entries
    leader = _acked_leader(3)
    out = leader.tick(leader.heartbeat_deadline)
    assert not out.early and msgs(out, AppendEntries)  # heartbeats
    leader.propose(b"x", leader.now)
    leader.persisted(HardState(1, 1), 1, leader.now)
    leader.step(AppendResponse(1, 2, 1, True, 1), leader.now)
    out = leader.transfer_leadership(2, leader.now)
    assert not out.early and [m.dst for m in out.messages if type(m).__name__ == "TimeoutNow"] == [2]
