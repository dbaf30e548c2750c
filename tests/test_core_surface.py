"""The core per role (one reset of per-term state, step and tick swapped per role) and its public, typed surface
(protocol/surface.py): what a core is, and mutants built from it without private overrides."""
from __future__ import annotations

import ast
import math
import random
from pathlib import Path

import pytest

from core_harness import Cluster, make_core
from raftzmq.lab.conform.mutants import GALLERY
from raftzmq.protocol.core import CANDIDATE, FOLLOWER, LEADER, PRECANDIDATE, ElectionCore, HardState, Hints
from raftzmq.protocol.messages import AppendEntries, AppendResponse, RequestVote, TimeoutNow
from raftzmq.protocol.surface import Core, CoreWrapper, HintedCore
from raftzmq.runtime.cores.coreload import load_core

REPO = Path(__file__).resolve().parent.parent

# State that is not per-term: reset(term) leaves it alone (timers, clocks, what was persisted, the role, wiring).
NOT_PER_TERM = {"config", "id", "peers", "_peer_set", "rules", "hints", "_steps", "_ticks", "quorum", "rng", "role",
                "_step_role", "_tick_role", "now", "election_deadline", "transfer_deadline", "_patience_until",
                "_term_only", "_persisted", "_messages", "_events", "term", "voted_for",
                "log", "_entries",  # the log and the entries staged for the next Ready outlive terms
                "_early", "_own_vote",  # (the own vote is counted only in its own candidacy's term and role)
                "_reads", "_start_lease_until",  # ReadIndex answers staged for the next Ready (waiting reads are per term: refused)
                "_durable_index"}  # what the embedding acknowledged durable: a fact about the disk, not the term


def _leader_with_everything_set() -> ElectionCore:
    """Node 1 leads term 1 of 3 nodes, heard from its peers, a transfer pending, and hint state of its own."""
    c = Cluster(3, prevote=False, hints=True)
    c.fire(1)
    c.stabilize()
    core = c[1]
    assert core.role == LEADER
    c.tick(1, core.deadline)
    c.stabilize()
    c.transfer(1, 2)
    c.pending = []
    core.hints.leader, core.hints.at, core.hints.deadline, core.hints.round = 3, 0.5, 9.0, True
    return core


# Hint state: `leader`, `deadline` and `round` are per term; `at` and `gap` only mean something while `leader` or
# `round` is set, and `round_seen` (term, when) expires by itself once the term moves on.
HINTS_PER_TERM = ("leader", "deadline", "round")


def _attrs(core: ElectionCore) -> dict:
    d = {k: v for k, v in vars(core).items()}
    d.update({f"hints.{k}": getattr(core.hints, k) for k in HINTS_PER_TERM})
    return d


def test_one_reset_clears_every_piece_of_per_term_state():
    """A field added to the core that survives a term change (and is not declared NOT_PER_TERM) fails this."""
    core = _leader_with_everything_set()
    assert core.transfer_target == 2 and core.peer_heard_at and core.votes == set() and core.leader == 1
    core.reset(core.term + 1)
    fresh = make_core(1, 3, state=HardState(core.term), now=core.now, prevote=False, hints=True)
    mine, new = _attrs(core), _attrs(fresh)
    assert set(mine) == set(new)
    survived = {k for k in mine if k not in NOT_PER_TERM and mine[k] != new[k]}
    assert survived == set(), survived
    assert set(Hints.__slots__) == {*HINTS_PER_TERM, "at", "gap", "round_seen"}
    assert core.voted_for is None and core.term == 2
    with pytest.raises(ValueError, match="go back"):
        core.reset(1)


def test_every_field_is_either_per_term_or_declared_otherwise():
    core = make_core(1, 3)
    per_term = set(vars(core)) - NOT_PER_TERM
    assert per_term == {"leader", "leader_heard_at", "votes", "peer_heard_at", "transfer_target",
                        "transfer_sent", "heartbeat_deadline", "tracker",
                        "_read_round", "_read_acked", "_read_quorum_round", "_read_sent_at", "_read_waiting",
                        "_lease_until", "_lease_off", "_term_start",
                        "_beats", "_answer"}  # the reused heartbeats and heartbeat answer (the idle hot path)


@pytest.mark.parametrize("role", [FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER])
def test_each_role_has_its_own_step_and_tick_swapped_in_when_it_becomes_that_role(role):
    core = make_core(1, 3, prevote=True)
    if role != FOLLOWER:
        core.become_precandidate()
    if role in (CANDIDATE, LEADER):
        core.become_candidate()
    if role == LEADER:
        core.become_leader()
    assert core.role == role
    assert core._step_role is core._steps[role] and core._tick_role == core._ticks[role]
    tables = {id(core._steps[r]) for r in core._steps}
    assert len(tables) == 4  # one step table per role
    # ... and they behave differently: an AppendResponse only matters to a leader, a TimeoutNow only to a follower
    before = dict(core.peer_heard_at)
    core.step(AppendResponse(core.term, 2, 1), core.now + 0.001)
    assert (core.peer_heard_at != before) == (role == LEADER)


def test_roles_swap_back_on_step_down():
    c = Cluster(3, prevote=False)
    c.fire(1)
    c.stabilize()
    core = c[1]
    out = core.step(AppendEntries(5, 2, 1), core.now)
    assert core.role == FOLLOWER and core._step_role is core._steps[FOLLOWER]
    assert [e.name for e in out.events] == ["stepped_down", "became_follower"]
    core.step(TimeoutNow(5, 2, 1), core.now)  # the follower's step: its leader asks it to take over
    assert core.role == CANDIDATE and core._tick_role == core._ticks[CANDIDATE]


def test_the_deadline_is_computed_in_one_place():
    core = make_core(1, 3)
    out = core.tick(0.0)
    assert out.deadline == core.deadline
    core.hints.deadline = core.election_deadline - 0.01
    assert core.tick(0.0).deadline == core.deadline == core.hints.deadline


# ---------------------------------------------------------------------------------------------- the Protocol


def test_every_core_we_ship_satisfies_the_core_protocol():
    from raftzmq.protocol import CoreConfig

    cfg = CoreConfig(1, (1, 2, 3), prevote=False, check_quorum=False)
    builtin = ElectionCore(cfg, HardState(), 0.0, random.Random(0))
    assert isinstance(builtin, Core) and isinstance(builtin, HintedCore)
    minimal = load_core(f"{REPO}/examples/minimal_core.py:MinimalCore")(cfg, HardState(), 0.0, random.Random(0))
    assert isinstance(minimal, Core)
    assert not isinstance(minimal.inner, HintedCore)  # hint is optional: MinimalCore has none
    for name, mutant in GALLERY.items():
        core = mutant.cls(cfg, HardState(), 0.0, random.Random(0))
        assert isinstance(core, HintedCore), name
        assert core.role == FOLLOWER and core.term == 0 and math.isfinite(core.deadline)


def test_a_wrapper_forwards_the_surface_and_reads_through():
    from raftzmq.protocol import CoreConfig

    inner = ElectionCore(CoreConfig(1, (1, 2, 3), prevote=False), HardState(3, 2), 0.0, random.Random(0))
    w = CoreWrapper(inner)
    assert (w.role, w.term, w.deadline, w.voted_for) == (FOLLOWER, 3, inner.deadline, 2)
    out = w.tick(w.deadline)
    assert w.role == CANDIDATE and out.persist == HardState(4, 1)

    class DropsVotes(CoreWrapper):
        def edit_input(self, msg, now):
            return None if isinstance(msg, RequestVote) else msg

    d = DropsVotes(ElectionCore(CoreConfig(2, (1, 2, 3)), HardState(), 0.0, random.Random(0)))
    out = d.step(RequestVote(1, 1, 2), 0.1)
    assert out.messages == [] and out.events == [] and d.term == 0


def _core_subclasses_with_private_methods(path: Path | str) -> list[str]:
    """Classes in `path` (or source text) deriving from ElectionCore that define a method named _x (not __init__)."""
    tree = ast.parse(path.read_text() if isinstance(path, Path) else path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(getattr(b, "id", None) == "ElectionCore" for b in node.bases):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("_") and item.name != "__init__":
                    found.append(f"{getattr(path, 'name', '<src>')}:{node.name}.{item.name}")
    return found


def test_mutants_and_test_cores_override_no_private_method_of_the_core():
    files = [REPO / "raftzmq/lab/conform/mutants.py", *sorted((REPO / "tests").glob("*.py"))]
    found = [f for path in files for f in _core_subclasses_with_private_methods(path)]
    assert found == []
    # (the scan does see an override: a class that had one would be listed)
    probe = "class Bad(ElectionCore):\n    def __init__(self): pass\n    def _flush(self): pass\n"
    assert _core_subclasses_with_private_methods(probe) == ["<src>:Bad._flush"]


def _heartbeats(c: Cluster, leader: int) -> dict[int, AppendEntries]:
    out = c.fire(leader)
    return {m.dst: m for m in out.messages if isinstance(m, AppendEntries)}


def test_idle_heartbeats_and_their_answers_are_reused_only_while_every_field_is_the_same():
    """The idle hot path reuses the last heartbeat to each peer and the last answer (immutable messages); a
    heartbeat whose commit moved, or an answer at a new match or in a new term, is a new message."""
    c = Cluster(3, prevote=False)
    c.fire(1)
    c.stabilize()
    leader = c[1]
    assert leader.role == LEADER
    first = _heartbeats(c, 1)
    answers = [c.step(m).messages[0] for m in first.values()]
    again = _heartbeats(c, 1)
    assert all(again[p] is first[p] for p in first), "same fields: the same message"
    answers2 = [c.step(m).messages[0] for m in again.values()]
    assert [a.index for a in answers2] == [a.index for a in answers] and answers2[-1] is answers[-1]
    c.pending = []
    c.propose(1, b"x")
    c.stabilize()  # replicated and committed: match and commit moved
    moved = _heartbeats(c, 1)
    assert all(moved[p] is not first[p] and moved[p].prev_index > first[p].prev_index for p in first)
    answer = c.step(moved[2]).messages[0]
    assert isinstance(answer, AppendResponse) and answer.index == moved[2].prev_index and answer is not answers[0]
    c.pending = []
    c[2].reset(c[2].term + 1)  # a new term forgets them
    assert c[2]._answer is None and c[2]._beats == {}


def test_a_probing_leaders_empty_appendentries_are_reused_too():
    """A follower the leader still probes (its answers not delivered) gets the same empty AppendEntries each
    heartbeat: the same message object while its fields are the same (equal to a freshly built one)."""
    c = Cluster(3, prevote=False)
    c.fire(1)
    c.stabilize()
    c.pending = []
    first = _heartbeats(c, 1)  # answers never delivered from here on
    c.pending = []
    again = _heartbeats(c, 1)
    assert set(first) == set(again) == {2, 3}
    for p in first:
        assert again[p] is first[p]
        assert again[p] == AppendEntries(c[1].term, 1, p, again[p].prev_index, again[p].prev_term, (), again[p].commit)


def test_the_node_loops_empty_ready_shortcut_names_every_field_of_the_ready():
    """The node skips the embedding for a Ready with nothing in it (runtime/node/process.py `_service`); a field
    added to the Ready and missing there would be silently dropped (as ReadIndex answers once were)."""
    import dataclasses
    import inspect

    from raftzmq.protocol.ready import Output
    from raftzmq.runtime.node import process

    source = inspect.getsource(process.Node._service)
    for field in dataclasses.fields(Output):
        if field.name != "deadline":
            assert f"out.{field.name}" in source, field.name
