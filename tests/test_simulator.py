"""The seeded simulator: safe settings stay safe, unsafe ones are caught, runs replay exactly."""
import random
import re
from dataclasses import replace

import pytest
from click.testing import CliRunner

from raftzmq.commands.sim import bench_sim, replay_command, sim
from raftzmq.evidence.checker import check_run
from raftzmq.evidence.logfile import read_run, validate_record
from raftzmq.lab.sim import faults as F
from raftzmq.lab.sim.simdisk import SimDisk
from raftzmq.lab.sim.simulator import SimConfig, Simulator, run_seed, write_logs
from raftzmq.protocol.core import HardState
from raftzmq.protocol.messages import AppendEntries
from raftzmq.protocol.netmodel import NetModel

# The fault mix that makes term-only persistence break: 3 nodes, slow jittery network, crash right after a vote.
TERM_ONLY = ["--nodes", "3", "--persist", "term-only", "--faults", "crash,delay", "--vote-crash", "0.5"]
UNSAFE_DISK = SimConfig(nodes=3, disk="unsafe-no-fsync", faults=frozenset({"crash", "delay"}), vote_crash=0.5)


def invoke(*args):
    return CliRunner().invoke(sim, list(args), catch_exceptions=False)


def invariants(result):
    return sorted({v.invariant for v in result.violations})


# ---------------------------------------------------------------------------------------------- safe stays safe


def test_five_nodes_all_faults_few_hundred_seeds_clean():
    cfg = SimConfig(nodes=5, duration=10.0, record_logs=False)
    bad = [(s, invariants(r)) for s in range(300) if not (r := run_seed(cfg, s)).ok]
    assert bad == []


def test_every_fault_kind_fires_and_elections_recover():
    r = run_seed(SimConfig(nodes=5, duration=30.0), 7)
    events = {rec["event"] for rec in r.files["supervisor.jsonl"]}
    assert {"cluster_started", "node_killed", "node_spawned", "node_paused", "node_resumed", "partition", "heal",
            "net_changed"} <= events
    shapes = {rec["shape"] for s in range(5) for rec in run_seed(SimConfig(), s).files["supervisor.jsonl"]
              if rec["event"] == "partition"}
    assert shapes == set(F.PARTITION_SHAPES)
    assert r.ok and r.leaders >= 3 and r.failovers and r.leaderless < r.sim_time / 2


def test_records_follow_the_live_schema_and_node_order(tmp_path):
    r = run_seed(SimConfig(nodes=3, duration=10.0), 2)
    for name, records in r.files.items():
        for rec in records:
            assert validate_record(rec) is None, (name, rec)
        if name.startswith("node-"):
            # each incarnation opens with node_started, seq restarts at 1; state_persisted stands where the core
            # entered the new term (right before became_candidate), so terms never go back within an incarnation
            starts = [rec for rec in records if rec["seq"] == 1]
            assert starts and all(rec["event"] == "node_started" for rec in starts)
            for prev, rec in zip(records, records[1:]):
                if rec["event"] == "became_candidate":
                    assert prev["event"] == "state_persisted" and prev["term"] == rec["term"]
                if rec["incarnation"] == prev["incarnation"]:
                    assert rec["term"] >= prev["term"], (prev, rec)
    d = write_logs(r, tmp_path / "run")
    assert sorted(p.name for p in d.iterdir()) == ["node-1.jsonl", "node-2.jsonl", "node-3.jsonl", "supervisor.jsonl"]
    assert len(read_run(d)) == sum(len(v) for v in r.files.values())
    assert check_run(d).ok


# ---------------------------------------------------------------------------------------------- unsafe is caught


def test_term_only_is_caught_and_the_seed_replays(tmp_path):
    res = invoke(*TERM_ONLY, "--seeds", "200", "--log-dir", str(tmp_path / "hunt"))
    assert res.exit_code == 1, res.output
    seed = int(re.search(r"VIOLATION with seed (\d+)", res.output).group(1))
    first = re.search(r"\(([ab])\) one-(?:leader|vote)-per-term: [^\n]+", res.output)
    assert first, res.output
    assert f"replay: raftzmq sim --seed {seed} " in res.output
    assert check_run(tmp_path / "hunt").violations[0].invariant == first.group(1)  # `raftzmq check` agrees

    again = invoke(*TERM_ONLY, "--seed", str(seed), "--log-dir", str(tmp_path / "replay"))
    assert again.exit_code == 1
    assert first.group(0) in again.output  # same invariant, same term, same nodes

    # the same seeds, default persistence: clean
    clean = invoke(*TERM_ONLY[:2], *TERM_ONLY[4:], "--seeds", str(max(seed + 1, 50)))
    assert clean.exit_code == 0, clean.output
    assert "violations: 0" in clean.output


def test_term_only_leads_to_two_leaders_in_one_term_within_the_readme_seeds():
    cfg = SimConfig(nodes=3, persist_mode="term-only", faults=frozenset({"crash", "delay"}), vote_crash=0.5,
                    record_logs=False)
    two_leaders = next((s for s in range(200) if "a" in invariants(run_seed(cfg, s))), None)
    assert two_leaders is not None


def test_unsafe_disk_double_votes_across_restart_safe_disk_never():
    unsafe = {s: invariants(run_seed(UNSAFE_DISK, s)) for s in range(10)}
    assert any("b" in inv for inv in unsafe.values()), unsafe  # double vote across a restart
    assert all("c" in inv for inv in unsafe.values())  # and restarts that load less than was durable
    safe = replace(UNSAFE_DISK, disk="safe", record_logs=False)
    assert all(run_seed(safe, s).ok for s in range(10))


def test_unsafe_disk_loses_only_unsynced_writes():
    disk = SimDisk("unsafe-no-fsync", random.Random(0))
    assert disk.write(1, HardState(1, 2), 0.0) is not None  # first dirty write: caller schedules a sync
    disk.sync(1)
    assert disk.write(1, HardState(2, 3), 1.0) is not None
    assert disk.write(1, HardState(3, None), 1.1) is None  # already dirty
    disk.crash(1)
    assert disk.load(1) == HardState(1, 2) and disk.lost_writes == 1
    safe = SimDisk("safe", random.Random(0))
    assert safe.write(1, HardState(5, 1), 0.0) is None
    safe.crash(1)
    assert safe.load(1) == HardState(5, 1)


# ---------------------------------------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_logs(tmp_path):
    for name in ("a", "b"):
        assert invoke("--seed", "11", "--log-dir", str(tmp_path / name)).exit_code == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files and files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    other = invoke("--seed", "12", "--log-dir", str(tmp_path / "c"))
    assert (tmp_path / "c" / "supervisor.jsonl").read_bytes() != (tmp_path / "a" / "supervisor.jsonl").read_bytes()
    assert other.exit_code == 0


class _Injections(Simulator):
    """Records the simulated time of every fault injection (whether or not the fault finds a target)."""

    def __init__(self, config, seed):
        super().__init__(config, seed)
        self.injections = []

    def _inject(self):
        self.injections.append(self.now)
        super()._inject()


def _injection_times(faults, seed=3, cls=_Injections):
    sim = cls(SimConfig(duration=20.0, faults=frozenset(faults)), seed)
    assert sim.run().ok
    return sim.injections


def test_fault_clock_does_not_depend_on_which_faults_are_on():
    base = _injection_times({"crash", "partition"})
    assert len(base) >= 20  # every injection time is compared, not only the first
    for faults in ({"crash", "partition", "pause"}, {"loss"}, F.FAULT_KINDS):
        assert _injection_times(faults) == base, sorted(faults)
    assert _injection_times({"crash", "partition"}, seed=4) != base  # it is the seed's clock


def test_the_fault_clock_check_catches_a_clock_shared_with_the_fault_choice():
    class SharedClock(_Injections):  # mutant: gaps drawn from the RNG that also picks kinds and parameters
        def _next_fault_gap(self):
            return self.now + self.fault_rng.expovariate(1.0 / self.cfg.fault_interval)

    two = _injection_times({"crash", "partition"}, cls=SharedClock)
    three = _injection_times({"crash", "partition", "pause"}, cls=SharedClock)
    assert two[0] == three[0] and two != three  # the old test compared only [0]: it could not fail


# ---------------------------------------------------------------------------------------------- pieces


@pytest.mark.parametrize("n", [3, 4, 5, 7, 9])
def test_majorities_ring_every_node_sees_a_different_majority(n):
    views = F.ring_views(n, random.Random(n))
    links = NetModel(cuts=F.ring_cuts(views)).link_matrix(n)
    assert all(links[a][b] == (b in views[a - 1]) for a in range(1, n + 1) for b in range(1, n + 1))
    assert all(len(v) >= n // 2 + 1 for v in views)
    assert all(links[a][b] == links[b][a] for a in range(1, n + 1) for b in range(1, n + 1))
    if n >= 5:
        assert len({tuple(v) for v in views}) == n and all(len(v) < n for v in views)


@pytest.mark.parametrize("dist", F.DELAY_DISTS)
def test_send_all_draws_what_the_sampler_draws(dist):
    # _send_all draws uniform delays inline (a call less per message): same draws, same order, same sums as the
    # sampler, with a loss/duplication draw before each message's delay.
    sim = Simulator(SimConfig(nodes=3, faults=frozenset()), 1)
    model = NetModel(delay_ms=20.0, jitter_ms=15.0, loss=0.3)
    sim._set_net(F.NetParams(model, 0.3, dist))
    twin = random.Random()
    twin.setstate(sim.net_rng.getstate())
    sample = F.NetParams(model, 0.3, dist).sampler(twin)
    sim.now = 1.25
    messages = [AppendEntries(1, 1, dst) for dst in (2, 3)] * 40
    sim._send_all(messages)
    expected = []
    for m in messages:
        r = twin.random()
        if r < 0.3:
            continue
        for _ in range(2 if r < 0.6 else 1):  # a duplicate: two deliveries, two delay draws
            expected.append((1.25 + sample(), m))
    got = [(t, m) for t, _, _, m, _ in sorted(sim.heap, key=lambda e: e[1])]
    assert len(got) > len(messages) / 2 and got == expected


def test_parse_faults():
    assert F.parse_faults("all") == frozenset(F.FAULT_KINDS)
    assert F.parse_faults("none") == frozenset()
    assert F.parse_faults("crash, pause") == {"crash", "pause"}
    with pytest.raises(ValueError, match="bogus"):
        F.parse_faults("crash,bogus")


def test_replay_command_round_trips_non_defaults():
    cfg = SimConfig(nodes=3, persist_mode="term-only", faults=frozenset({"crash", "delay"}), vote_crash=0.5,
                    prevote=False, disk="unsafe-no-fsync")
    cmd = replay_command(cfg, 42)
    assert cmd.startswith("raftzmq sim --seed 42 ")
    for part in ("--nodes 3", "--persist term-only", "--faults crash,delay", "--vote-crash 0.5", "--no-prevote",
                 "--disk unsafe-no-fsync"):
        assert part in cmd
    assert replay_command(SimConfig(), 1) == "raftzmq sim --seed 1"


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_usage_errors_exit_2():
    assert invoke("--seed", "1", "--seeds", "3").exit_code == 2
    assert invoke("--faults", "crash,meteor").exit_code == 2
    assert invoke("--election-timeout", "300-150").exit_code == 2
    assert invoke("--nodes", "0").exit_code == 2
    assert invoke("--heartbeat", "200").exit_code == 2  # not below the election timeout


def test_cli_help_has_examples():
    res = invoke("--help")
    assert res.exit_code == 0 and "Examples:" in res.output and "--persist term-only" in res.output


def test_cli_summary_and_json(tmp_path):
    res = invoke("--seeds", "3", "--duration", "5")
    assert res.exit_code == 0
    for words in ("seeds run: 3, violations: 0", "failover", "time without a leader", "real time"):
        assert words in res.output
    import json

    out = json.loads(invoke("--seed", "4", "--duration", "5", "--json").output)
    assert out["ok"] and out["summary"]["seeds_run"] == 1 and out["run"]["seed"] == 4


def test_bench_sim_command_runs():
    res = CliRunner().invoke(bench_sim, ["--seeds", "1", "--runs", "1", "--duration", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert '"ratio_median"' in res.output
