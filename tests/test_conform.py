"""`raftzmq conform`: the built-in core passes; every mutant of the gallery fails its claim and its finding, with
the smallest failing seed and a replay that reproduces it; cores written against the contract pass."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner

from cluster_harness import REPO
from raftzmq.cli import main
from raftzmq.lab.conform.claims import CLAIMS, REPLICATION_CLAIMS
from raftzmq.lab.conform.scorecard import base_config, conform, replay_seed
from raftzmq.lab.conform.mutants import GALLERY
from raftzmq.lab.sim.simtypes import SimConfig
from raftzmq.runtime.cores.coreload import load_core

# Few, short seeds: enough for every mutant below to fail (CountsDuplicateVotes needs 5 nodes and a duplicated
# grant; GrantsAnyTerm a stale candidate), cheap in CI.
SEEDS, DURATION = 8, 20.0


def test_builtin_core_passes_conform():
    card = conform("builtin", seeds=3, duration=10.0)
    assert card.ok, card.to_dict()
    assert [c.name for c in card.claims if c.ok] == list(CLAIMS) + list(REPLICATION_CLAIMS)
    assert card.contract == 2 and card.proposals > 0  # the built-in core replicates: seeds with proposals
    assert card.seeds_run == 6 and card.failure is None
    assert card.liveness["first_leader_max_s"] < 20 * 0.3
    assert card.liveness["failovers"] > 0  # the seeds did inject faults that cost leaders


@pytest.mark.parametrize("name", sorted(GALLERY))  # (the election mutants; replication: test_conform_replication)
def test_each_mutant_fails_its_claim_and_its_finding_at_the_smallest_seed(name):
    mutant = GALLERY[name]
    spec = f"raftzmq.lab.conform.mutants:{name}"
    card = conform(spec, seeds=SEEDS, duration=DURATION)
    assert not card.ok
    failed = {c.name for c in card.claims if not c.ok}
    assert mutant.claim in failed, failed
    f = card.failure
    assert f is not None and mutant.finding in {x.kind for x in f.findings}, f
    # The smallest failing seed: every earlier seed of that size (and every seed of smaller sizes) was clean.
    if not f.fault_free:
        factory = load_core(spec)
        base = replace(base_config(spec, 1, duration=DURATION), nodes=f.nodes, record_logs=True)
        for seed in range(f.seed):
            assert replay_seed(spec, base, seed, factory)[0] is None, seed
    # The replay command names the seed and replays the same first finding.
    assert f"--seed {f.seed} --nodes {f.nodes}" in f.replay
    cfg = replace(base_config(spec, 1, duration=float(f.replay.split("--duration ")[1].split()[0])),
                  nodes=f.nodes, record_logs=True, **({"faults": frozenset()} if f.fault_free else {}))
    again, _ = replay_seed(spec, cfg, f.seed, load_core(spec))
    assert again is not None and again.findings[0] == f.findings[0]


def test_contract_core_from_tests_passes_conform():
    card = conform(f"{REPO}/tests/contract_core.py:ContractCore", seeds=3, duration=10.0)
    assert card.ok, card.to_dict()


def test_jsonl_example_child_process_passes_conform():
    spec = f"exec:{sys.executable} {REPO}/examples/jsonl_core.py"
    card = conform(spec, seeds=1, sizes=(3,), duration=5.0)
    assert card.ok, card.to_dict()
    assert card.seeds_run == 1 and all(c.ok for c in card.claims)


def test_conform_cli_exit_codes(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["conform", "builtin", "--seeds", "1", "--nodes", "3", "--duration", "5"])
    assert ok.exit_code == 0 and "verdict: PASS" in ok.output
    bad = runner.invoke(main, ["conform", "raftzmq.lab.conform.mutants:TermOnly", "--seeds", "2", "--nodes", "3"])
    assert bad.exit_code == 1 and "verdict: FAIL" in bad.output
    assert "replay: raftzmq conform raftzmq.lab.conform.mutants:TermOnly --seed 0 --nodes 3" in bad.output
    replay = runner.invoke(main, ["conform", "raftzmq.lab.conform.mutants:TermOnly", "--seed", "0", "--nodes", "3",
                                  "--log-dir", str(tmp_path / "c0")])
    assert replay.exit_code == 1 and "(e)" in replay.output
    check = runner.invoke(main, ["check", str(tmp_path / "c0")])
    assert check.exit_code == 1 and "vote-durable-first" in check.output
    missing = runner.invoke(main, ["conform", "no_such_module:Core"])
    assert missing.exit_code == 2 and "cannot import no_such_module" in missing.output
    assert "Traceback" not in missing.output


DOUBLE_VOTER = """\
import os
import shutil
import subprocess
import sys
sys.path.insert(0, sys.argv[1])
import jsonl_core


def grant_any(self, term, src):  # the bug: a follower grants every candidate of its term, voted or not
    grant = term == self.term and self.role == "follower"
    if grant:
        self.voted_for = src
        self.reset_timer()
        self.emit("vote_granted", candidate=src)
    else:
        self.emit("vote_denied", candidate=src, reason="stale_term")
    self.send("vote_response", src, granted=grant)


jsonl_core.Core.on_request_vote = grant_any
jsonl_core.main()
"""


def test_replay_line_of_an_exec_core_with_spaces_pastes_into_a_shell(tmp_path):
    """The printed replay line, run by bash as it stands, reproduces the finding, although the exec: spec holds
    spaces and quotes (a folder with a space in its name, an argument)."""
    folder = tmp_path / "my cores"
    folder.mkdir()
    (folder / "double_vote.py").write_text(DOUBLE_VOTER)
    spec = f"exec:{sys.executable} '{folder}/double_vote.py' {REPO}/examples"
    card = CliRunner().invoke(main, ["conform", spec, "--seeds", "3", "--nodes", "3", "--duration", "5"])
    assert card.exit_code == 1 and "verdict: FAIL" in card.output, card.output
    line = next(x.split("replay: ", 1)[1] for x in card.output.splitlines() if "replay: " in x)
    assert line.startswith("raftzmq conform 'exec:")
    if shutil.which("raftzmq") is None:  # not installed: the same line through the interpreter
        line = line.replace("raftzmq ", f"{sys.executable} -m raftzmq ", 1)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    replay = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert replay.returncode == 1, replay.stderr
    assert "seed 0 (3 nodes):" in replay.stdout and "(b) node" in replay.stdout, replay.stdout
