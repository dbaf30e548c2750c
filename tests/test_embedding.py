"""One embedding: the simulator and the node process apply the core's Outputs identically, in the contract's order.

A seeded simulator run is the scenario. Every Output the simulator's nodes produce is also applied by a real
`runtime.node.Node` (its own `_embedding()` and port methods) whose disk, log and transport are in-memory
fakes. Both sides record their effects (saves, records, sends) per node incarnation; the two effect streams
must be identical, and must keep "nothing leaves before the state it depends on is durable".
"""
from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

import pytest

import raftzmq.lab.sim.simulator as simulator_mod
import raftzmq.runtime.node.process as node_mod
from raftzmq.evidence.logfile import LogWriter
from raftzmq.lab.sim.simulator import SimConfig, Simulator
from raftzmq.protocol.core import HardState, Output
from raftzmq.protocol.messages import RequestVote, VoteResponse
from raftzmq.runtime.node.embedding import embed, persist_index
from raftzmq.runtime.node.failpoints import Failpoints
from raftzmq.runtime.node.netem import NetEm

SCENARIO = SimConfig(nodes=3, duration=8.0)  # all faults, including crashes right after a vote
SEED = 2  # 5 crashes, 7 campaigns, 5 leaders

Trace = list[tuple[Any, ...]]


class _MemStateFile:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def save(self, state: HardState) -> None:
        self.trace.append(("save", state))


class _MemLog:
    """The node's log port target: a real LogWriter (validating) on the simulator's clock, into the trace."""

    def __init__(self, trace: Trace, node: int, incarnation: int, clock: Any) -> None:
        self.trace = trace
        self.writer = LogWriter.to_list(by="node", node=node, incarnation=incarnation, clock=clock)
        self.writer.seq = 1  # node_started (seq 1) is written by the node's start-up, not by the embedding

    def write(self, event: str, **kw: Any) -> dict[str, Any]:
        rec = self.writer.write(event, **kw)
        self.trace.append(("log", rec))
        return rec


class _MemTransport:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def send(self, msg: Any) -> None:
        self.trace.append(("send", msg))

    def log_drop(self, *args: Any) -> None:
        raise AssertionError("the in-memory network drops nothing")


def _live_node(sim: Simulator, nid: int, inc: int, trace: Trace, tmp: str) -> node_mod.Node:
    """A node process object, not started: its ports point at in-memory fakes, its embedding is its own."""
    node = node_mod.Node(tmp, nid, inc, os.getpid(), env={})
    node.state_file = _MemStateFile(trace)
    node.log = _MemLog(trace, nid, inc, sim)
    node.transport = _MemTransport(trace)
    node.netem = NetEm(nid, None)  # no faults applied: every message is SEND
    node.failpoints = Failpoints([], nid, inc)
    return node


class Recording(Simulator):
    """The simulator with its ports recorded, each Output also applied by a live Node's embedding."""

    def __init__(self, config: SimConfig, seed: int, tmp: str) -> None:
        super().__init__(config, seed)
        self.tmp = tmp
        self.sim_trace: dict[tuple[int, int], Trace] = defaultdict(list)
        self.node_trace: dict[tuple[int, int], Trace] = defaultdict(list)

    def _ports(self, node, log):
        save, log_event, send = super()._ports(node, log)
        trace = self.sim_trace[(node.id, node.inc)]

        def rec_save(state: HardState) -> None:
            trace.append(("save", state))
            save(state)

        def rec_log(event: str, *, term: int, **fields: Any) -> dict[str, Any]:
            rec = log_event(event, term=term, **fields)
            trace.append(("log", rec))
            return rec

        def rec_send(messages: list) -> None:
            trace.extend(("send", m) for m in messages)
            send(messages)
        return rec_save, rec_log, rec_send

    def _embedding(self, node, log, state=None):
        sim_apply = super()._embedding(node, log, state)
        live = _live_node(self, node.id, node.inc, self.node_trace[(node.id, node.inc)], self.tmp)
        live_apply = live._embedding(state)

        def both(out: Output) -> None:
            live_apply(out)
            sim_apply(out)
        return both


def _run(tmp_path) -> Recording:
    sim = Recording(SCENARIO, SEED, str(tmp_path))
    result = sim.run()
    assert result.ok, result.violations
    return sim


def assert_durable_before_visible(trace: Trace, loaded: HardState) -> None:
    """Within one incarnation: records never go back in term; a vote is durable before it is logged as granted
    and before its response leaves; no message carries a term that is not durable (pre-votes ask about term+1)."""
    durable, last_term = loaded, loaded.term
    for entry in trace:
        if entry[0] == "save":
            durable = entry[1]
        elif entry[0] == "log":
            rec = entry[1]
            assert rec["term"] >= last_term, f"record term went back: {rec}"
            last_term = rec["term"]
            if rec["event"] == "vote_granted":
                assert durable == HardState(rec["term"], rec["candidate"]), f"{rec} logged before durable {durable}"
        else:
            msg = entry[1]
            if isinstance(msg, VoteResponse) and msg.granted and not msg.prevote:
                assert durable == HardState(msg.term, msg.dst), f"{msg} sent before durable {durable}"
            early = isinstance(msg, RequestVote) and msg.term == durable.term + 1  # a candidate asks early (Output.early)
            if not getattr(msg, "prevote", False) and not early:
                assert msg.term <= durable.term, f"{msg} sent before its term was durable ({durable})"


def check_one_embedding(tmp_path) -> Recording:
    sim = _run(tmp_path)
    assert sim.sim_trace.keys() == sim.node_trace.keys()
    for key, trace in sim.sim_trace.items():
        assert sim.node_trace[key] == trace, f"node {key[0]} incarnation {key[1]}: the two embeddings differ"
        started = next(r for r in sim.files[f"node-{key[0]}.jsonl"]
                       if r["event"] == "node_started" and r["incarnation"] == key[1])
        assert_durable_before_visible(trace, HardState(started["term"], started["voted_for"]))
    return sim


def test_simulator_and_node_process_apply_outputs_identically(tmp_path):
    sim = check_one_embedding(tmp_path)
    # The traces hold every record the simulator's nodes wrote apart from node_started, in file order ...
    for nid in range(1, SCENARIO.nodes + 1):
        records = [r for r in sim.files[f"node-{nid}.jsonl"] if r["event"] != "node_started"]
        traced = [e[1] for (n, _), t in sorted(sim.sim_trace.items()) if n == nid for e in t if e[0] == "log"]
        assert traced == records
    # ... and the scenario is not vacuous: restarts, saves, granted votes from others, vote responses sent.
    every = [e for t in sim.sim_trace.values() for e in t]
    assert max(inc for _, inc in sim.sim_trace) >= 2
    assert sum(e[0] == "save" for e in every) >= 10
    assert any(e[0] == "log" and e[1]["event"] == "vote_granted" and e[1]["candidate"] != e[1]["node"]
               for e in every)
    assert any(e[0] == "send" and isinstance(e[1], VoteResponse) and e[1].granted and not e[1].prevote
               for e in every)


def _send_first(save, log, send, failpoint=None, **ports):
    """Mutant embedding: sends before it persists (and logs)."""

    def apply(out: Output) -> None:
        if out.early or out.messages:
            send([*out.early, *out.messages])
        if out.persist is not None:
            save(out.persist)
            log("state_persisted", term=out.persist.term, voted_for=out.persist.voted_for)
        for ev in out.events:
            log(ev.name, term=ev.term, **ev.fields)
    return apply


def test_a_node_embedding_that_sends_before_it_persists_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(node_mod, "embed", _send_first)  # the node process only: the streams differ
    with pytest.raises(AssertionError, match="the two embeddings differ"):
        check_one_embedding(tmp_path)


def test_a_shared_embedding_that_sends_before_it_persists_is_caught(tmp_path, monkeypatch):
    monkeypatch.setattr(node_mod, "embed", _send_first)  # both sides: identical, but the order check fails
    monkeypatch.setattr(simulator_mod, "embed", _send_first)
    with pytest.raises(AssertionError, match="sent before"):
        check_one_embedding(tmp_path)


# ---------------------------------------------------------------------------------------------- the order itself


def _events(*spec):
    from raftzmq.protocol.core import Event
    return [Event(name, term) for name, term in spec]


def test_state_persisted_goes_where_the_core_entered_the_persisted_term():
    log: list = []
    apply = embed(lambda s: log.append(("save", s)), lambda e, term, **f: log.append((e, term)),
                  lambda ms: log.append(("send", len(ms))), lambda name: log.append(("fp", name)))
    events = _events(("election_timeout", 4), ("became_candidate", 5), ("vote_granted", 5))
    apply(Output(HardState(5, 1), ["m"], events, 0.0))
    assert log == [("election_timeout", 4), ("fp", "before_persist"), ("save", HardState(5, 1)),
                   ("state_persisted", 5), ("fp", "after_persist_before_send"), ("became_candidate", 5),
                   ("vote_granted", 5), ("send", 1), ("fp", "after_send")]
    assert persist_index(events, 6) == 3 and persist_index([], 1) == 0


def test_a_storage_fatal_error_mid_output_is_logged_without_going_back_in_term(tmp_path):
    """A follower told by its leader of a higher term to take over (TimeoutNow) logs became_follower at that term
    before the save of the next term fails; node_failed then carries the core's term, not the loaded one."""
    from raftzmq.protocol.core import CoreConfig, ElectionCore
    from raftzmq.protocol.messages import TimeoutNow
    from raftzmq.runtime.node.storage import StorageFatalError

    class BrokenDisk:
        path = tmp_path / "node-1.state"

        def save(self, state):
            raise StorageFatalError(self.path, "fsync temp file failed: [Errno 5] EIO")

    node = node_mod.Node(tmp_path, 1, 1, os.getpid(), env={})
    node.log = LogWriter.to_list(by="node", node=1, incarnation=1)
    node.state_file, node.failpoints = BrokenDisk(), Failpoints([], 1, 1)
    node.core = ElectionCore(CoreConfig(1, (1, 2, 3)), HardState(0, None), 0.0)
    sent: list = []
    node._send = sent.extend  # no network here; the candidate's RequestVotes leave before its save (early)
    node._apply = node._embedding()
    with pytest.raises(node_mod._Exit) as exit_:
        node._apply(node.core.step(TimeoutNow(3, 2, 1), 0.0))
    assert exit_.value.code == node_mod.EXIT_STORAGE
    records = node.log.records
    assert [(r["event"], r["term"]) for r in records] == [("became_follower", 3), ("node_failed", 4)]


def test_early_messages_leave_after_the_old_terms_records_and_before_the_persist():
    """Output.early: a candidate's RequestVotes go after the records of its old term (anything sending logs, such
    as a drop, carries the new term) and before its new term and vote are saved; the rest waits for the save."""
    from raftzmq.protocol.core import Event
    from raftzmq.protocol.messages import AppendEntries
    from raftzmq.runtime.node.embedding import embed

    trace: list = []
    apply = embed(lambda st: trace.append(("save", st)),
                  lambda event, term, **f: trace.append(("log", event, term)),
                  lambda msgs: trace.append(("send", [type(m).__name__ for m in msgs])),
                  state=HardState(4, None))
    ask = [RequestVote(5, 1, 2), RequestVote(5, 1, 3)]
    later = [AppendEntries(5, 1, 2)]
    apply(Output(HardState(5, 1), later, [Event("election_timeout", 4), Event("became_candidate", 5),
                                          Event("vote_granted", 5, {"candidate": 1})], 1.0, early=ask))
    assert trace == [("log", "election_timeout", 4), ("send", ["RequestVote", "RequestVote"]),
                     ("save", HardState(5, 1)), ("log", "state_persisted", 5), ("log", "became_candidate", 5),
                     ("log", "vote_granted", 5), ("send", ["AppendEntries"])]
    trace.clear()
    apply(Output(None, [], [], 2.0, early=ask))  # nothing to persist: they simply leave
    assert trace == [("send", ["RequestVote", "RequestVote"])]
