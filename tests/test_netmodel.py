"""The one network-fault model (protocol/netmodel.py), as the supervisor, the nodes and the simulator use it."""
import random

import pytest

from raftzmq.lab.sim import faults as F
from raftzmq.lab.sim.simulator import SimConfig, Simulator
from raftzmq.protocol.messages import AppendEntries
from raftzmq.protocol.netmodel import HEALED, NetModel, NetModelError, cuts_outside
from raftzmq.runtime.config import ClusterConfig
from raftzmq.runtime.cluster.errors import SupervisorError
from raftzmq.runtime.node.netem import DROP, SEND, NetctlError, NetEm, decode_netctl
from raftzmq.runtime.cluster.rundir import RunDir
from raftzmq.runtime.cluster.supervisor import Supervisor

# Bad values and the one message every user of the model gives for them.
BAD_VALUES = [
    ({"loss": 1.5}, "loss must be a number in [0, 1], got 1.5"),
    ({"loss": float("nan")}, "loss must be a number in [0, 1], got nan"),
    ({"delay_ms": -1}, "delay_ms must be a number in [0, 60000], got -1"),
    ({"delay_ms": 60_001}, "delay_ms must be a number in [0, 60000], got 60001"),
    ({"jitter_ms": True}, "jitter_ms must be a number in [0, 60000], got True"),
    ({"delay_ms": "20"}, "delay_ms must be a number in [0, 60000], got '20'"),
]


@pytest.mark.parametrize("values,message", BAD_VALUES)
def test_one_validation_refuses_bad_values_with_the_same_message_everywhere(values, message, tmp_path):
    with pytest.raises(NetModelError) as model:
        NetModel(**values)
    with pytest.raises(NetModelError) as node:
        NetEm(1, random.Random(1)).apply({"type": "net", "version": 1, **values})
    supervisor = Supervisor(RunDir(tmp_path), ClusterConfig(nodes=3))
    with pytest.raises(SupervisorError) as sup:
        supervisor.handle({"cmd": "net", **values})
    assert supervisor.net == HEALED, "a refused change leaves the published state alone"
    sim = Simulator(SimConfig(nodes=3), 1)
    with pytest.raises(NetModelError) as simulated:
        sim.set_net_model(sim.net.model.changed(**values))
    assert str(model.value) == str(node.value) == str(sup.value) == str(simulated.value) == message


@pytest.mark.parametrize("doc,message", [
    ({"type": "net"}, "version is missing"),
    ({"type": "net", "version": -1}, "version must be an int >= 0, got -1"),
    ({"type": "net", "version": 1, "groups": [[1], [1, 2]]}, "groups: node 1 is in more than one group"),
    ({"type": "net", "version": 1, "groups": ["12"]}, "groups must be null or a list of lists of node ids"),
    ({"type": "net", "version": 1, "cuts": [[1, 1]]}, "cuts: node 1 cannot be cut from itself"),
    ({"type": "net", "version": 1, "cuts": [[1, 2, 3]]}, "cuts must be a list of [src, dst] pairs"),
    ({"type": "net", "version": 1, "cuts": [[1, 0]]}, "cuts: bad node id 0"),
    ({"type": "net", "version": 1, "lossy": 0.1}, "unknown field(s) lossy"),
])
def test_documents_are_validated_strictly(doc, message):
    with pytest.raises(NetModelError, match=None) as exc:
        NetModel.from_doc(doc)
    assert str(exc.value).startswith(message)


def test_document_round_trip_and_version_rule():
    model = NetModel(3, groups=([1], [2, 3]), cuts=[(4, 5)], loss=0.25, delay_ms=20, jitter_ms=5)
    assert NetModel.from_doc(model.to_doc()) == model
    assert model.supersedes(None) and model.supersedes(NetModel(2)) and not model.supersedes(NetModel(3))
    nxt = model.changed(cuts=frozenset())
    assert nxt.version == 4 and nxt.cuts == frozenset() and nxt.groups == model.groups


def test_a_one_way_cut_drops_only_that_direction_in_netem():
    cut = {"type": "net", "version": 1, "cuts": [[1, 2]]}
    sender, receiver = NetEm(1, random.Random(1)), NetEm(2, random.Random(2))
    assert sender.apply(cut) and receiver.apply(cut)
    assert sender.route(AppendEntries(1, 1, 2), 0.0) == (DROP, "partition")
    assert sender.route(AppendEntries(1, 1, 3), 0.0) == (SEND, None)
    assert receiver.route(AppendEntries(1, 2, 1), 0.0) == (SEND, None), "the other direction still works"
    assert not receiver.allows(1, 2), "the receiver drops what arrives across the cut too"


def test_a_one_way_cut_drops_only_that_direction_in_the_simulator():
    def follower_records(cuts):
        sim = Simulator(SimConfig(nodes=3, duration=3.0, faults=frozenset(), check_quorum=False), 5)
        sim.set_net_model(NetModel(cuts=cuts))
        files = sim.run().files
        return [r for r in files["node-3.jsonl"] if r["event"] == "became_follower" and r["leader"] is not None]

    # Nothing reaches node 3: it never hears a leader. Nothing leaves node 3: it follows the leader it hears.
    assert follower_records({(1, 3), (2, 3)}) == []
    assert follower_records({(3, 1), (3, 2)}) != []


def test_majorities_ring_is_cuts_both_ways():
    views = {1: [1, 2, 5], 2: [1, 2, 3], 3: [2, 3, 4], 4: [3, 4, 5], 5: [4, 5, 1]}
    model = NetModel(cuts=cuts_outside(views))
    assert all(model.allows(a, b) == (b in views[a]) for a in views for b in views)
    assert model.cuts == F.ring_cuts([views[i] for i in range(1, 6)])


@pytest.mark.parametrize("frame", [
    b"[" * 20_000 + b"]" * 20_000,  # nested too deeply for the parser: RecursionError inside json
    b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    b"\xff\xfe", b"not json", b"[1, 2]", b"x" * (64 * 1024 + 1), b"NaN",
])
def test_netctl_frames_that_do_not_parse_are_refused_not_raised(frame):
    with pytest.raises(NetctlError):
        decode_netctl(frame)


def test_netem_fast_path_follows_every_model_change():
    """NetEm decides 'no faults' once per model; each fault kind, and healing, must flip that decision."""
    em = NetEm(1, random.Random(3))
    msg = AppendEntries(1, 1, 2)
    assert em.route(msg, 0.0) == (SEND, None) and em.allows(2, 1)
    em.apply({"type": "net", "version": 1, "groups": [[1], [2, 3]]})
    assert em.route(msg, 0.0) == (DROP, "partition") and not em.allows(2, 1)
    em.apply({"type": "net", "version": 2, "loss": 1.0})
    assert em.route(msg, 0.0) == (DROP, "loss") and em.allows(2, 1)
    em.apply({"type": "net", "version": 3, "delay_ms": 10})
    assert em.route(msg, 0.0)[0] == "delayed" and em.delayed_count == 1
    em.apply({"type": "net", "version": 4})
    assert em.route(msg, 0.0) == (SEND, None) and em.allows(2, 1)


@pytest.mark.parametrize("model", [
    HEALED,
    NetModel(groups=([1, 2], [3, 4, 5])),
    NetModel(groups=([1], [2, 3])),  # nodes 4 and 5 in no group: cut off from everyone, as allows() says
    NetModel(cuts=cuts_outside({1: [1, 2, 5], 2: [1, 2, 3], 3: [2, 3, 4], 4: [3, 4, 5], 5: [4, 5, 1]})),
    NetModel(groups=([1, 2, 3], [4, 5]), cuts=[(1, 2), (5, 4)]),
])
def test_the_link_matrix_is_allows_for_every_pair(model):
    # The simulator's per-message lookup table, built in one pass; it must say what allows() says, index 0 too.
    links = model.link_matrix(5)
    assert links == [[model.allows(a, b) for b in range(6)] for a in range(6)]
