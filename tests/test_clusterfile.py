"""The cluster file (runtime/cluster/clusterfile.py), init-cluster, a standalone node's preparation, and the netns
packet rules (pure text; the live rules are exercised in test_netns.py)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.runtime.cluster.clusterfile import ClusterFileError, load, parse
from raftzmq.runtime.config import default_config
from raftzmq.runtime.node.curve import generate_keypair
from raftzmq.protocol import NetModel
from raftzmq.runtime.cluster.netns import node_address, rules_for


def groups_allow(groups):
    return NetModel(groups=groups).allows
from raftzmq.runtime.cluster.standalone import StandaloneError, init_cluster, prepare_node

KEY = generate_keypair().public.decode()


def _doc(auth="curve", members=None, **top):
    members = members or [{"id": n, "endpoint": f"tcp://10.0.0.{n}:7000",
                           "public_key": generate_keypair().public.decode()} for n in (1, 2, 3)]
    return {"auth": auth, "members": members, **top}


def test_init_cluster_writes_a_file_that_parses_back_with_one_private_key_per_member(tmp_path):
    cf = init_cluster(["10.0.0.1:7000", "10.0.0.2:7000", "tcp://node3.lan:7000"], tmp_path / "c.toml",
                      tmp_path / "keys", "curve", default_config())
    again = load(tmp_path / "c.toml")
    assert again.members == cf.members and again.config == cf.config and again.config.nodes == 3
    assert again.endpoints()[3] == "tcp://node3.lan:7000"
    for n in (1, 2, 3):
        key = tmp_path / "keys" / f"node-{n}.key"
        assert key.stat().st_mode & 0o777 == 0o600
        assert json.loads(key.read_text())["public"] == cf.members[n].public_key
    with pytest.raises(StandaloneError, match="exists"):
        init_cluster(["10.0.0.1:7000"], tmp_path / "c.toml", tmp_path / "k2", "curve", default_config())


@pytest.mark.parametrize("doc, needle", [
    (_doc(auth="none", members=[{"id": 1, "endpoint": "tcp://10.0.0.1:7000"}]), 'need auth = "curve"'),
    (_doc(members=[{"id": 1, "endpoint": "tcp://10.0.0.1:7000"}]), "public key"),
    (_doc(members=[{"id": 2, "endpoint": "tcp://10.0.0.1:7000", "public_key": KEY}]), "must be 1..1"),
    (_doc(members=[{"id": 1, "endpoint": "tcp://*:7000", "public_key": KEY}]), "tcp://HOST:PORT"),
    (_doc(members=[{"id": 1, "endpoint": "tcp://a:1", "public_key": KEY},
                   {"id": 2, "endpoint": "tcp://a:1", "public_key": KEY}]), "share an endpoint"),
    (_doc(members=[{"id": 1, "endpoint": "tcp://a:1", "public_key": KEY},
                   {"id": 2, "endpoint": "tcp://b:1", "public_key": KEY}]), "share a key"),
    (_doc(timing={"heartbeat_ms": 500}), "heartbeat_ms"),
    (_doc(network={"host": "0.0.0.0"}), "reconnect_ms"),
    (_doc(nodes=3), "unknown key 'nodes'"),
    ({"auth": "tls", "members": []}, "auth must be"),
])
def test_bad_cluster_files_say_what_is_wrong(doc, needle):
    with pytest.raises(ClusterFileError, match=needle):
        parse(doc, "c.toml")


def test_private_network_allows_unauthenticated_namespace_addresses():
    doc = _doc(auth="none", members=[{"id": 1, "endpoint": "tcp://10.77.0.1:7000"}])
    assert parse(doc, "c.toml", private_network=True).endpoints() == {1: "tcp://10.77.0.1:7000"}


def test_standalone_node_refuses_a_foreign_key_and_unknown_id(tmp_path):
    init_cluster(["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"], tmp_path / "c.toml", tmp_path / "keys",
                 "curve", default_config())
    with pytest.raises(StandaloneError, match="not node 1's key"):
        prepare_node(str(tmp_path / "c.toml"), 1, str(tmp_path / "d"), str(tmp_path / "keys" / "node-2.key"))
    with pytest.raises(StandaloneError, match="not in"):
        prepare_node(str(tmp_path / "c.toml"), 4, str(tmp_path / "d"), None)
    data, incarnation = prepare_node(str(tmp_path / "c.toml"), 2, str(tmp_path / "d"),
                                     str(tmp_path / "keys" / "node-2.key"))
    doc = json.loads((data / "cluster.json").read_text())
    assert incarnation == 1 and doc["auth"] == "curve" and doc["supervisor_pid"] is None
    assert doc["key_file"] == str(tmp_path / "keys" / "node-2.key")


def test_node_command_bad_input_is_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["node", "--cluster", str(tmp_path / "none.toml"), "--id", "1"])
    assert result.exit_code == 2 and "cluster file not found" in result.output


def test_partition_rules_drop_arrivals_from_the_other_groups_only():
    script = rules_for(1, groups_allow([[1, 2], [3, 4, 5]]), 0.0, range(1, 6))
    addresses = "{ " + ", ".join(node_address(n) for n in (3, 4, 5)) + " }"
    assert f"ip saddr {addresses} drop" in script
    assert node_address(2) not in script and "numgen" not in script and "output" not in script
    healed = rules_for(1, groups_allow(None), 0.0, range(1, 6))
    assert "drop" not in healed and "delete table inet raftzmq" in healed


def test_loss_rule_drops_that_fraction_of_arriving_packets():
    script = rules_for(3, groups_allow(None), 0.25, range(1, 6))
    assert "numgen random mod 10000 < 2500 drop" in script.split("chain input")[1]


def test_a_one_way_cut_drops_only_at_the_receiver():
    cut_1_to_2 = NetModel(cuts=[(1, 2)]).allows
    sender, receiver = rules_for(1, cut_1_to_2, 0.0, range(1, 4)), rules_for(2, cut_1_to_2, 0.0, range(1, 4))
    assert "drop" not in sender
    assert f"ip saddr {{ {node_address(1)} }} drop" in receiver
