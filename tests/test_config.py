import dataclasses
import json
from pathlib import Path

import pytest

from raftzmq.runtime import config as cfgmod
from raftzmq.runtime.config import (
    DEFAULT_CONFIG_PATH,
    MAX_NODES,
    ClusterConfig,
    ConfigError,
    default_config,
    load_config,
    parse_timeout_range,
    with_overrides,
)

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


def write(tmp_path, text, name="x.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_config_error(path, key, *fragments):
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    if key is not None:
        assert f"key '{key}'" in msg, msg
        assert info.value.key == key
    for fragment in fragments:
        assert fragment in msg, msg
    return info.value


# --- shipped configs -------------------------------------------------------------------------


def test_shipped_configs_present():
    names = {p.name for p in CONFIGS}
    assert {"default.toml", "paper.toml", "fast.toml", "unsafe-term-only.toml", "large.toml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert isinstance(cfg, ClusterConfig)
    assert cfg.host in ("127.0.0.1", "localhost", "::1")
    assert ClusterConfig.from_dict(cfg.to_dict()) == cfg


def test_default_path_points_at_repo_default():
    assert DEFAULT_CONFIG_PATH.name == "default.toml"
    assert DEFAULT_CONFIG_PATH.is_file()


def test_builtin_defaults_match_default_toml():
    assert load_config(DEFAULT_CONFIG_PATH) == default_config()


def test_default_config_values():
    cfg = default_config()
    assert cfg.nodes == 5
    assert cfg.election_timeout_ms == (150, 300)
    assert cfg.heartbeat_ms == 50
    assert cfg.prevote and cfg.check_quorum
    assert cfg.persist == "term+vote"
    assert not cfg.hints  # plain runs behave like the paper's Raft
    assert (cfg.transport, cfg.host, cfg.base_port) == ("tcp", "127.0.0.1", 0)
    assert cfg.members == (1, 2, 3, 4, 5)


def test_default_config_needs_no_file(monkeypatch, tmp_path):
    monkeypatch.setattr(cfgmod, "DEFAULT_CONFIG_PATH", tmp_path / "missing.toml")
    assert default_config().nodes == 5


def test_specific_shipped_settings():
    by_name = {p.stem: load_config(p) for p in CONFIGS}
    paper = by_name["paper"]
    assert (paper.prevote, paper.check_quorum, paper.nodes) == (False, False, 5)
    assert paper.election_timeout_ms == (150, 300) and paper.heartbeat_ms == 50
    assert by_name["unsafe-term-only"].persist == "term-only"
    assert dataclasses.replace(by_name["unsafe-term-only"], persist="term+vote", name="default") == default_config()
    large = by_name["large"]
    assert large.nodes == 101 and large.election_timeout_ms[0] >= 500
    fast = by_name["fast"]
    assert fast.election_timeout_ms[1] <= 100 and fast.heartbeat_ms * 2 <= fast.election_timeout_ms[0]
    assert fast.hints and fast.core_config(1).hints
    assert not any(c.hints for name, c in by_name.items() if name != "fast")


def test_hints_is_a_features_key_with_the_boolean_rule(tmp_path):
    assert load_config(write(tmp_path, "[features]\nhints = true\n")).hints
    assert_config_error(write(tmp_path, '[features]\nhints = "on"\n'), "features.hints", "expected true or false")
    assert_config_error(write(tmp_path, "hints = true\n"), "hints", "did you mean 'features.hints'")


def test_empty_file_gives_builtin_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == ClusterConfig()


# --- bad inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,key,fragment",
    [
        ("[timing]\nelection_timeout_ms = [300, 150]\n", "timing.election_timeout_ms", "min 300 must be < max 150"),
        ("[timing]\nelection_timeout_ms = [200, 200]\n", "timing.election_timeout_ms", "must be <"),
        ("[timing]\nelection_timeout_ms = [0, 200]\n", "timing.election_timeout_ms", "min must be > 0"),
        ("[timing]\nelection_timeout_ms = [150]\n", "timing.election_timeout_ms", "[min, max]"),
        ("[timing]\nelection_timeout_ms = 150\n", "timing.election_timeout_ms", "[min, max]"),
        ("[timing]\nelection_timeout_ms = [150, 300000]\n", "timing.election_timeout_ms", "exceeds"),
        ("[timing]\nheartbeat_ms = 100\n", "timing.heartbeat_ms", "heartbeat_ms * 2 <= 150"),
        ("[timing]\nheartbeat_ms = 0\n", "timing.heartbeat_ms", "> 0"),
        ("nodes = 0\n", "nodes", "between 1 and"),
        (f"nodes = {MAX_NODES + 1}\n", "nodes", "between 1 and"),
        ('nodes = "5"\n', "nodes", "expected an integer, got string"),
        ("nodes = 5.0\n", "nodes", "expected an integer, got float"),
        ("nodes = true\n", "nodes", "expected an integer, got boolean"),
        ('[timing]\nelection_timeout_ms = ["150", 300]\n', "timing.election_timeout_ms", "integer"),
        ('[features]\nprevote = "yes"\n', "features.prevote", "true or false"),
        ("[features]\ncheck_quorum = 1\n", "features.check_quorum", "true or false"),
        ('[features]\npersist = "nothing"\n', "features.persist", "'term+vote'"),
        ('[network]\ntransport = "udp"\n', "network.transport", "'tcp'"),
        ('[network]\nhost = "0.0.0.0"\n', "network.host", "not a loopback"),
        ('[network]\nhost = "192.168.1.10"\n', "network.host", "not a loopback"),
        ("[network]\nbase_port = 80\n", "network.base_port", "1024..65535"),
        ("[network]\nbase_port = 70000\n", "network.base_port", "1024..65535"),
        ("[network]\nbase_port = 65534\n", "network.base_port", "beyond 65535"),
        ("[network]\nreconnect_ms = 0\n", "network.reconnect_ms", "1.."),
        ('name = ""\n', "name", "non-empty"),
        ("timing = 5\n", "timing", "expected a table"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path, text, key, fragment):
    assert_config_error(write(tmp_path, text), key, fragment)


@pytest.mark.parametrize(
    "text,key,suggestion",
    [
        ("[timing]\nheartbeat = 50\n", "timing.heartbeat", "did you mean 'timing.heartbeat_ms'"),
        ("[features]\nprevotes = true\n", "features.prevotes", "did you mean 'features.prevote'"),
        ("heartbeat_ms = 50\n", "heartbeat_ms", "did you mean 'timing.heartbeat_ms'"),
        ("[network]\nprevote = true\n", "network.prevote", "did you mean 'features.prevote'"),
        ("node = 5\n", "node", "did you mean 'nodes'"),
        ("[timng]\nheartbeat_ms = 50\n", "timng", "did you mean 'timing'"),
    ],
)
def test_unknown_key_with_suggestion(tmp_path, text, key, suggestion):
    assert_config_error(write(tmp_path, text), key, "unknown key", suggestion)


def test_unknown_key_without_close_match(tmp_path):
    err = assert_config_error(write(tmp_path, "zzzzqqq = 1\n"), "zzzzqqq", "unknown key")
    assert "did you mean" not in str(err)


def test_toml_syntax_error(tmp_path):
    path = write(tmp_path, "nodes = = 5\n")
    err = assert_config_error(path, None, "TOML syntax error", "line 1")
    assert err.key is None


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    assert_config_error(path, None, "not found")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match=str(tmp_path)):
        load_config(tmp_path)


def test_non_utf8_file(tmp_path):
    path = tmp_path / "x.toml"
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(ConfigError, match="x.toml"):
        load_config(path)


def test_error_is_value_error():
    assert issubclass(ConfigError, ValueError)


def test_ipc_transport_and_ipv6_loopback(tmp_path):
    cfg = load_config(write(tmp_path, '[network]\ntransport = "ipc"\nhost = "::1"\n'))
    assert (cfg.transport, cfg.host, cfg.base_port) == ("ipc", "::1", 0)
    cfg = load_config(write(tmp_path, '[network]\ntransport = "tcp"\nhost = "::1"\nbase_port = 20000\n'))
    assert (cfg.transport, cfg.host, cfg.base_port) == ("tcp", "::1", 20000)


def test_a_base_port_with_ipc_is_refused_not_ignored(tmp_path):
    with pytest.raises(ConfigError, match="is for transport tcp; with ipc the nodes listen on sockets"):
        load_config(write(tmp_path, '[network]\ntransport = "ipc"\nbase_port = 20000\n'))


# --- direct construction, overrides ----------------------------------------------------------


def test_constructor_validates():
    with pytest.raises(ConfigError, match="key 'heartbeat_ms'"):
        ClusterConfig(heartbeat_ms=80)
    assert ClusterConfig(election_timeout_ms=[100, 200]).election_timeout_ms == (100, 200)


def test_reconnect_default_derived_from_timeout():
    assert ClusterConfig().effective_reconnect_ms == 50
    assert ClusterConfig(election_timeout_ms=(500, 1000), heartbeat_ms=100).effective_reconnect_ms == 100
    assert ClusterConfig(election_timeout_ms=(2, 4), heartbeat_ms=1).effective_reconnect_ms == 1
    assert ClusterConfig(reconnect_ms=7).effective_reconnect_ms == 7


def test_overrides_apply_and_skip_none():
    base = default_config()
    cfg = with_overrides(base, nodes=7, prevote=False, heartbeat_ms=None, election_timeout_ms="200-400")
    assert (cfg.nodes, cfg.prevote, cfg.heartbeat_ms, cfg.election_timeout_ms) == (7, False, 50, (200, 400))
    assert with_overrides(base) is base
    assert with_overrides(base, nodes=None) is base


def test_overrides_revalidate_against_file_values():
    base = default_config()  # heartbeat 50
    with pytest.raises(ConfigError) as info:
        with_overrides(base, election_timeout_ms=(60, 120))
    assert info.value.key == "heartbeat_ms" and "heartbeat_ms * 2 <= 60" in str(info.value)
    with pytest.raises(ConfigError, match="key 'host'"):
        with_overrides(base, host="0.0.0.0")
    with pytest.raises(ConfigError, match="key 'nodes'"):
        with_overrides(base, nodes=0)
    with pytest.raises(ConfigError, match="key 'base_port'"):
        with_overrides(base, base_port=65535)  # 5 nodes do not fit


def test_overrides_reject_unknown_setting():
    with pytest.raises(ConfigError, match="did you mean 'heartbeat_ms'"):
        with_overrides(default_config(), heartbeat=20)


@pytest.mark.parametrize("text,expected", [("150-300", (150, 300)), (" 50-100 ", (50, 100))])
def test_parse_timeout_range(text, expected):
    assert parse_timeout_range(text) == expected


@pytest.mark.parametrize("text", ["150", "150-", "-300", "a-b", "150-300-400", "150:300", "300-150", "0-10", ""])
def test_parse_timeout_range_errors(text):
    with pytest.raises(ConfigError) as info:
        parse_timeout_range(text)
    assert info.value.key == "election_timeout_ms"
    assert "election_timeout_ms" in str(info.value)


# --- dict round trip -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        ClusterConfig(),
        default_config(),
        ClusterConfig(nodes=3, election_timeout_ms=(50, 100), heartbeat_ms=15, prevote=False,
                      check_quorum=False, persist="term-only", transport="ipc", host="localhost",
                      reconnect_ms=20, name="x"),
        ClusterConfig(nodes=3, transport="tcp", host="localhost", base_port=30000),
    ],
)
def test_dict_round_trip_through_json(cfg):
    data = json.loads(json.dumps(cfg.to_dict()))
    assert ClusterConfig.from_dict(data) == cfg
    assert data["election_timeout_ms"] == list(cfg.election_timeout_ms)


def test_from_dict_validates_and_rejects_unknown():
    data = default_config().to_dict()
    with pytest.raises(ConfigError, match="cluster.json: key 'heartbeat_ms'"):
        ClusterConfig.from_dict({**data, "heartbeat_ms": 500}, source="cluster.json")
    with pytest.raises(ConfigError, match="key 'nodez'.*did you mean 'nodes'"):
        ClusterConfig.from_dict({**data, "nodez": 3})
    with pytest.raises(ConfigError):
        ClusterConfig.from_dict([1, 2])


def test_public_exports():
    for name in cfgmod.__all__:
        assert hasattr(cfgmod, name), name
