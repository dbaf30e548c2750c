"""Contract v2: the core's Output is a Ready (hard state with commit, entries, committed), `must_sync` says when
to fsync, and the one embedding carries a Ready out in order: nothing is sent, logged as durable or applied before
the hard state and the entries it depends on are durable. Election-only (v1-shaped) cores keep working."""
from __future__ import annotations

import textwrap

import pytest

from cluster_harness import REPO
from raftzmq.lab.conform.scorecard import conform
from raftzmq.lab.sim.simulator import SimConfig, Simulator
from raftzmq.protocol import CONTRACT_VERSION, CoreWrapper, ElectionCore, Entry, Event, HardState, Output, Ready, RequestVote, must_sync
from raftzmq.runtime.cores.coreload import CoreContractError, load_core
from raftzmq.runtime.node.embedding import embed

E1, E2, E3 = Entry(1, 1, b"a"), Entry(2, 1, b"b"), Entry(3, 2, b"c")


def test_ready_is_output_and_v1_shapes_still_build():
    assert Ready is Output and CONTRACT_VERSION == 2
    out = Output(HardState(3, 2), [], [], 1.0)  # the v1 shape: 4 positional fields, a 2-field hard state
    assert out.entries == () and out.committed == () and out.persist == HardState(3, 2, 0)
    assert Ready(None, [], [], 0.0, [E1], [E1]).entries == [E1]
    with pytest.raises(ValueError, match="commit"):
        HardState(1, None, -1)
    with pytest.raises(ValueError, match="commit"):
        HardState(1, None, True)  # type: ignore[arg-type]


@pytest.mark.parametrize("prev, persist, entries, want", [
    (HardState(1, None), HardState(2, None), (), True),  # term changed
    (HardState(2, None), HardState(2, 3), (), True),  # vote changed
    (HardState(2, 3), None, (E1,), True),  # entries alone
    (HardState(2, 3, 0), HardState(2, 3, 5), (), False),  # commit only: no fsync
    (HardState(2, 3, 0), HardState(2, 3, 5), (E1,), True),  # commit and entries: the entries need it
    (HardState(2, 3), None, (), False),  # nothing
    (None, HardState(0, None), (), True),  # nothing known about the disk: sync
])
def test_must_sync_rule(prev, persist, entries, want):
    assert must_sync(prev, Ready(persist, [], [], 0.0, list(entries))) is want


class Ports:
    """Every port of the embedding, recording into one trace; a tiny in-memory log for `append`."""

    def __init__(self) -> None:
        self.trace: list[tuple] = []
        self.log_entries: list[Entry] = []

    def save(self, state):
        self.trace.append(("save", state))

    def log(self, event, *, term, **fields):
        self.trace.append(("log", event, term))

    def send(self, messages):
        self.trace.append(("send", len(messages)))

    def failpoint(self, name):
        self.trace.append(("fp", name))

    def append(self, entries, state, sync):
        if entries:
            del self.log_entries[entries[0].index - 1:]
            self.log_entries.extend(entries)
        self.trace.append(("append", tuple(e.index for e in entries), state, sync))
        return {"first": entries[0].index, "last": entries[-1].index} if entries else None

    def apply(self, committed):
        self.trace.append(("apply", tuple(e.index for e in committed)))
        return {"first": committed[0].index, "last": committed[-1].index}

    def embed(self, state=HardState(1, None)):
        return embed(self.save, self.log, self.send, self.failpoint, append=self.append, apply=self.apply,
                     state=state)


def _kinds(trace):
    return [t[0] if t[0] != "log" else t[1] for t in trace]


def test_a_ready_with_entries_is_durable_before_anything_is_sent_or_applied():
    p = Ports()
    msg = RequestVote(2, 1, 2)
    p.embed()(Ready(HardState(2, 1), [msg], [Event("election_timeout", 1), Event("became_candidate", 2)], 0.0,
                    [E1, E2], [E1]))
    assert _kinds(p.trace) == ["election_timeout", "fp", "append", "state_persisted", "log_appended", "fp",
                               "became_candidate", "send", "fp", "apply", "entries_applied"]
    assert p.trace[2] == ("append", (1, 2), HardState(2, 1), True)  # one group: entries and hard state, fsync
    assert ("save", HardState(2, 1)) not in p.trace  # the group commit replaces the separate save


def test_entries_replace_the_log_from_their_first_index():
    p = Ports()
    apply = p.embed()
    apply(Ready(None, [], [], 0.0, [E1, E2]))
    apply(Ready(None, [], [], 0.0, [Entry(2, 2, b"x"), E3]))
    assert p.log_entries == [E1, Entry(2, 2, b"x"), E3]
    assert [t for t in p.trace if t[0] == "log"] == [("log", "log_appended", 1)] * 2  # the known term


def test_a_commit_only_change_needs_no_fsync_and_no_state_persisted_record():
    p = Ports()
    p.embed(HardState(2, 1))(Ready(HardState(2, 1, 4), [RequestVote(2, 1, 2)], [], 0.0))
    assert p.trace == [("append", (), HardState(2, 1, 4), False), ("send", 1), ("fp", "after_send")]


def test_an_election_only_ready_takes_the_v1_path_and_logs_nothing_new():
    p = Ports()
    p.embed()(Output(HardState(2, 1), [RequestVote(2, 1, 2)], [Event("became_candidate", 2)], 0.0))
    assert p.trace == [("fp", "before_persist"), ("save", HardState(2, 1)), ("log", "state_persisted", 2),
                       ("fp", "after_persist_before_send"), ("log", "became_candidate", 2), ("send", 1),
                       ("fp", "after_send")]


def test_an_embedding_without_a_log_refuses_entries_before_anything_leaves():
    trace: list = []
    apply = embed(trace.append, lambda *a, **k: trace.append("log"), trace.append)
    with pytest.raises(ValueError, match="no log"):
        apply(Ready(None, [RequestVote(2, 1, 2)], [], 0.0, [E1]))
    assert trace == []


def test_the_v1_minimal_core_passes_conform():
    """examples/minimal_core.py is written against contract v1 (Output with 4 fields, HardState(term, voted_for))."""
    card = conform(f"{REPO}/examples/minimal_core.py:MinimalCore", seeds=2, duration=10.0)
    assert card.ok, card.to_dict()


def test_a_v1_core_runs_in_the_simulator_and_a_core_with_bad_entries_breaks_the_contract(tmp_path):
    cfg = SimConfig(nodes=3, duration=5.0, prevote=False, check_quorum=False,
                    core=f"{REPO}/examples/minimal_core.py:MinimalCore")
    assert Simulator(cfg, 1).run().ok
    bad = tmp_path / "bad.py"
    bad.write_text(textwrap.dedent('''
        from raftzmq.protocol import ElectionCore
        class BadEntries(ElectionCore):
            def tick(self, now):
                out = super().tick(now)
                out.entries = ["not an entry"]
                return out
    '''))
    from raftzmq.protocol import CoreConfig
    import random
    core = load_core(f"{bad}:BadEntries")(CoreConfig(1, (1, 2, 3)), HardState(), 0.0, random.Random(0))
    with pytest.raises(CoreContractError, match="Output.entries must be a list"):
        core.tick(core.deadline)


class AppendsOnWinning(CoreWrapper):
    """A built-in core that, in the Ready where it becomes leader, also asks for an entry (index 1, its term):
    the simulator's append port must make it durable before that Ready's heartbeats leave."""

    def __init__(self, config, state, now, rng):
        super().__init__(ElectionCore(config, state, now, rng))

    def edit_output(self, out):
        if any(e.name == "became_leader" for e in out.events):
            out.entries = [Entry(1, self.inner.term, b"noop")]
        return out


class TracingSim(Simulator):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.ports_trace: list[tuple[str, int]] = []

    def _append(self, node, entries, state, sync):
        self.ports_trace.append(("append", node.id))
        return super()._append(node, entries, state, sync)

    def _send_all(self, messages, after=0.0):
        self.ports_trace.extend(("send", m.src) for m in messages[:1])
        return super()._send_all(messages, after)


@pytest.mark.parametrize("persist_ms", [0.0, 2.0])
def test_the_simulator_carries_entries_to_its_disk_before_the_ready_sends(persist_ms):
    sim = TracingSim(SimConfig(nodes=3, duration=5.0, faults=frozenset({"crash"}), persist_ms=persist_ms), 3,
                     make_core=AppendsOnWinning)
    res = sim.run()
    assert res.ok and res.leaders >= 1
    leaders = {i for i in range(1, 4) if sim.disk.view(i)}
    assert leaders and all(sim.disk.view(i)[0].index == 1 and sim.disk.view(i)[0].data == b"noop" for i in leaders)
    trace = sim.ports_trace
    appends = [i for i, (kind, _) in enumerate(trace) if kind == "append"]
    assert len(appends) == res.leaders
    for i in appends:  # the winning Ready's heartbeats leave right after its entries were written, not before
        assert trace[i + 1] == ("send", trace[i][1])
