"""Simulator seeds on a real Dask cluster (a LocalCluster: scheduler and two worker processes on loopback) give
exactly what a local run gives: the same results per seed, in seed order, and the same first failing seed."""
from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.lab.sim import dask_seeds
from raftzmq.lab.sim.parallel import run_seeds
from raftzmq.lab.sim.simulator import SimConfig

pytest.importorskip("distributed", reason="the dask extra is not installed (pip install -e '.[dask]')")


@pytest.fixture(scope="module")
def scheduler(dask_scheduler):  # conftest.py: two worker processes on loopback
    return dask_scheduler


def _fingerprint(r) -> str:
    return json.dumps({"summary": r.summary(), "trace": r.trace, "stats": r.stats}, sort_keys=True, default=str)


def test_fifty_seeds_on_dask_are_identical_to_a_local_run(scheduler):
    cfg = SimConfig(nodes=5, duration=5.0)
    local = [_fingerprint(r) for r in run_seeds(cfg, range(50))]
    remote = [_fingerprint(r) for r in run_seeds(cfg, range(50), scheduler=scheduler)]
    assert len(remote) == 50
    assert remote == local  # same results, same (seed) order
    assert [json.loads(f)["summary"]["seed"] for f in remote] == list(range(50))


def test_the_first_failing_seed_and_its_replay_line_are_the_same_on_dask(scheduler, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # At this rate the first double vote comes at seed 10: later batches are already running when it is found.
    args = ["sim", "--nodes", "3", "--persist", "term-only", "--faults", "crash,delay", "--vote-crash", "0.02",
            "--seeds", "60", "--json"]
    runner = CliRunner()
    local = runner.invoke(main, args)
    remote = runner.invoke(main, args + ["--scheduler", scheduler])
    assert local.exit_code == 1, local.output
    assert remote.exit_code == 1, remote.output
    a, b = json.loads(local.output), json.loads(remote.output)
    assert b["failing_seed"] == a["failing_seed"]
    assert b["replay"] == a["replay"]
    assert b["violations"] == a["violations"]
    assert a["failing_seed"] > 0
    assert b["summary"]["seeds_run"] == a["summary"]["seeds_run"] == a["failing_seed"] + 1  # stopped there


def test_batches_keep_every_worker_busy_and_tasks_coarse():
    assert dask_seeds.batch_size(10, 2) == 1
    assert dask_seeds.batch_size(1600, 2) == 50
    assert dask_seeds.batch_size(10**7, 64) == 50  # never more than 50 seeds a task: stopping stays quick


def test_an_unreachable_scheduler_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(dask_seeds, "_CONNECT_TIMEOUT_S", 1.0)
    result = CliRunner().invoke(main, ["sim", "--seeds", "3", "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_without_dask_installed_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` raise ImportError
    result = CliRunner().invoke(main, ["sim", "--seeds", "3", "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2, result.output
    assert "pip install -e '.[dask]'" in result.output


def test_conform_on_dask_gives_the_same_scorecard(scheduler):
    runner = CliRunner()
    args = ["conform", "raftzmq.lab.conform.mutants:TermOnly", "--seeds", "4", "--nodes", "3", "--json"]
    local = runner.invoke(main, args)
    remote = runner.invoke(main, args + ["--scheduler", scheduler])
    assert local.exit_code == remote.exit_code == 1, remote.output
    a, b = json.loads(local.output), json.loads(remote.output)
    assert b == a  # claims, seeds run, the failure with its seed, trace and replay line, liveness


def _batch_on_a_worker_without_raftzmq(shared, seeds):
    # What a worker with another Python environment raises when it unpickles our task.
    raise ModuleNotFoundError("No module named 'raftzmq'")


def test_workers_that_cannot_import_raftzmq_give_a_one_line_reason(scheduler):
    with pytest.raises(dask_seeds.DaskUnavailable) as caught:
        list(dask_seeds.map_seeds_on_dask(scheduler, _batch_on_a_worker_without_raftzmq, None, list(range(4)),
                                          failed=lambda item: False))
    message = str(caught.value)
    assert "cannot run raftzmq's tasks" in message and "No module named 'raftzmq'" in message
    assert "install the same raftzmq on every worker" in message and "\n" not in message


def _batch_with_a_bug(shared, seeds):
    raise ZeroDivisionError("a real bug in a task")


def test_a_real_error_in_a_task_is_not_disguised_as_an_environment_problem(scheduler):
    with pytest.raises(ZeroDivisionError):
        list(dask_seeds.map_seeds_on_dask(scheduler, _batch_with_a_bug, None, [0], failed=lambda item: False))


def test_a_scheduler_without_workers_is_an_error_not_a_wait_forever(monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(dask_seeds, "_WORKER_WAIT_S", 1.0)
    cluster = distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None,
                                       silence_logs=40)
    try:
        result = CliRunner().invoke(main, ["sim", "--seeds", "3", "--scheduler", cluster.scheduler_address])
    finally:
        cluster.close()
    assert result.exit_code == 2, result.output
    assert "has no workers after 1 s" in result.output and "Traceback" not in result.output
