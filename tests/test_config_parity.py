"""One config path: start, sim, chaos and bench apply the same switches with the same rules (runtime/config.py),
so what one refuses every other refuses, with the same message and exit 2."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.lab.sim.simtypes import SimConfig
from raftzmq.runtime.config import ClusterConfig

# Each command with arguments that keep it short should a refusal be missing (the test then fails, not hangs).
COMMANDS = {
    "start": ["start", "--detach", "--wait", "1"],
    "sim": ["sim", "--seeds", "1", "--duration", "0.1"],
    "bench sim": ["bench", "sim", "--seeds", "1", "--runs", "1", "--duration", "0.1"],
    "chaos": ["chaos", "--duration", "0.5"],
    "bench cluster": ["bench", "cluster", "--runs", "1", "--idle", "0.1"],
    "bench large": ["bench", "large", "--hold", "0"],
}

BAD = {
    "heartbeat too close to the timeout": (["--heartbeat", "100", "--election-timeout", "150-300"],
                                           "key 'heartbeat_ms': 100 ms is too close to the minimum election timeout"),
    "empty timeout range": (["--election-timeout", "300-150"], "need 0 < min < max, got min 300 and max 150"),
    "timeout not a range": (["--election-timeout", "fast"], "expected MIN-MAX in milliseconds"),
    "timeout in seconds": (["--election-timeout", "150-70000"], "max 70000 exceeds 60000 ms"),
    "no nodes": (["--nodes", "0"], "key 'nodes': must be between 1 and 256, got 0"),
    "too many nodes": (["--nodes", "300"], "key 'nodes': must be between 1 and 256, got 300"),
    "zero heartbeat": (["--heartbeat", "0"], "key 'heartbeat_ms': must be > 0, got 0"),
    "missing config file": (["--config", "no/such.toml"], "no/such.toml: config file not found"),
}


@pytest.mark.parametrize("bad", sorted(BAD))
def test_every_command_refuses_bad_switches_with_the_same_message_and_exit_2(bad, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a command would write despite a missing refusal lands here
    args, needle = BAD[bad]
    errors = {}
    for name, command in COMMANDS.items():
        result = CliRunner().invoke(main, [*command, *args])
        assert result.exit_code == 2, (name, result.output)
        errors[name] = result.stderr.strip()
    assert len(set(errors.values())) == 1, errors
    message = next(iter(errors.values()))
    assert message.startswith("raftzmq: error: ") and needle in message and "\n" not in message, message
    assert not (tmp_path / "logs").exists(), "refused before anything was started or written"


def test_persist_mode_names_are_the_cores():
    for name, command in COMMANDS.items():
        result = CliRunner().invoke(main, [*command, "--persist", "term-and-vote"])
        assert result.exit_code == 2 and "'term+vote', 'term-only'" in result.output, (name, result.output)


def test_the_simulator_runs_the_live_clusters_rules():
    cluster = ClusterConfig(nodes=3, election_timeout_ms=(200, 400), heartbeat_ms=40, prevote=False)
    sim = SimConfig.from_cluster(cluster)
    # Same rules; only the hint window is sized by each network's own one-way latency.
    assert sim.core_config(2) == cluster.core_config(2, one_way_ms=sim.delay_ms)
    hinted = SimConfig.from_cluster(ClusterConfig(hints=True))
    assert hinted.hints and hinted.core_config(1).hints and not sim.core_config(1).hints
    assert cluster.core_config(2).election_timeout_min == 0.2 and cluster.core_config(2).heartbeat_interval == 0.04
    with pytest.raises(ValueError, match="heartbeat_ms"):
        SimConfig(heartbeat_ms=100)  # the rule `start` applies: heartbeat * 2 <= minimum election timeout
