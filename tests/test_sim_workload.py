"""`raftzmq sim --workload` (issue 19, deliver 3): simulated KV clients against the simulated nodes' KV services, a
history per seed in the live workload's format, checked for linearizability; deterministic per seed; broken nodes
and broken cores are caught by the history alone."""
from __future__ import annotations

import json
import shlex
from dataclasses import replace

from click.testing import CliRunner

from raftzmq.commands.evidence import check
from raftzmq.commands.sim import sim
from raftzmq.evidence.history import parse_history
from raftzmq.lab.sim.parallel import run_seeds
from raftzmq.lab.sim.simkv import WorkloadConfig
from raftzmq.lab.sim.simulator import SimConfig, run_seed

KV3 = SimConfig(nodes=3, duration=10.0, workload=WorkloadConfig())
MUTANT_CORE = "raftzmq.lab.conform.mutants:AcksBeforePersist"


def history(result) -> str:
    text = result.workload["history"]
    assert text
    return text


def test_a_seed_gives_a_byte_identical_history_and_other_seeds_differ():
    a, b, c = run_seed(KV3, 4), run_seed(KV3, 4), run_seed(KV3, 5)
    assert history(a) == history(b)
    assert a.workload["counts"] == b.workload["counts"] and a.workload["latency_ns"] == b.workload["latency_ns"]
    assert history(a) != history(c)
    assert a.workload["counts"]["invoke"] > 200


def test_jobs_give_the_results_of_one_process():
    cfg = replace(KV3, duration=5.0)
    one = list(run_seeds(cfg, range(4), jobs=1))
    two = list(run_seeds(cfg, range(4), jobs=2))
    assert [history(r) for r in one] == [history(r) for r in two]
    assert [r.workload["verdict"] for r in one] == [r.workload["verdict"] for r in two]


def test_the_history_is_the_live_workloads_format_in_virtual_time():
    r = run_seed(KV3, 2)
    lines = history(r).splitlines()
    times = []
    for line in lines:
        rec = json.loads(line)
        assert set(rec) == {"process", "type", "f", "key", "value", "time"}
        assert line == json.dumps(rec, separators=(", ", ": "))  # lab/live/workload.Recorder's serialisation
        times.append(rec["time"])
    assert times == sorted(times) and times[-1] <= 10 * 10**9  # line order is time order; virtual ns
    h = parse_history(lines)
    assert h.timed and {op.f for op in h.operations} == {"get", "put", "cas", "append", "delete"}
    assert any(op.f == "get" and op.status == "ok" and op.output is not None for op in h.operations)


def test_histories_are_linearizable_under_every_fault_on_3_and_5_nodes():
    totals = {"info": 0, "fail": 0, "ok": 0}
    attempts: dict[str, int] = {}
    for nodes in (3, 5):
        cfg = SimConfig(nodes=nodes, duration=10.0, workload=WorkloadConfig(timeout=1.0), record_logs=False)
        for seed in range(5):
            r = run_seed(cfg, seed)
            assert r.ok and r.workload["verdict"] == "linearizable", (nodes, seed, r.violations, r.workload["report"])
            for k in totals:
                totals[k] += r.workload["counts"][k]
            for k, v in r.workload["attempts"].items():
                attempts[k] = attempts.get(k, 0) + v
    # not vacuous: timeouts became info, cas failed, leaders moved, answers were lost and duplicated, `retry`s
    assert totals["ok"] > 2000 and totals["info"] > 10 and totals["fail"] > 50
    assert all(attempts.get(k, 0) > 10 for k in ("timeouts", "redirects", "retries", "lost", "duplicated")), attempts


def test_a_deadline_gives_info_at_the_deadline():
    cfg = SimConfig(nodes=3, duration=10.0, workload=WorkloadConfig(timeout=0.2))
    r = run_seed(cfg, 1)
    assert r.workload["verdict"] == "linearizable"
    h = parse_history(history(r).splitlines())
    infos = [op for op in h.operations if op.status == "info"]
    assert len(infos) > 5
    assert all(abs(op.ret_time - op.call_time - 200_000_000) <= 1 for op in infos if op.ret_time is not None)
    assert all(op.ret_time - op.call_time <= 200_000_001 for op in h.operations if op.ret_time is not None)


def test_closed_loop_issues_each_next_operation_when_the_last_completes():
    cfg = SimConfig(nodes=3, duration=5.0, faults=frozenset(), workload=WorkloadConfig(rate=0, clients=4))
    r = run_seed(cfg, 3)
    assert r.workload["verdict"] == "linearizable"
    last_done: dict[int, int] = {}
    for line in history(r).splitlines():
        rec = json.loads(line)
        if rec["type"] == "invoke":
            if rec["process"] in last_done:
                assert rec["time"] == last_done[rec["process"]]
        else:
            last_done[rec["process"]] = rec["time"]
    assert r.workload["counts"]["invoke"] > 500  # far more than an open loop at 50/s would issue in 5 s


def test_duplicated_requests_apply_once_through_sessions():
    cfg = SimConfig(nodes=3, duration=10.0, faults=frozenset({"dup"}),
                    workload=WorkloadConfig(keys=2, rate=100), record_logs=False)
    dups = 0
    for seed in range(3):
        r = run_seed(cfg, seed)
        assert r.workload["verdict"] == "linearizable", r.workload["report"]
        dups += r.workload["attempts"].get("duplicated", 0)
    assert dups > 50  # appends delivered twice would be seen twice by later reads


def test_a_node_that_reads_its_local_state_is_caught_and_the_correct_one_is_not():
    bad = replace(KV3, workload=WorkloadConfig(mutant="stale-reads"), record_logs=False)
    rejected = []
    for seed in range(4):
        assert run_seed(replace(KV3, record_logs=False), seed).workload["verdict"] == "linearizable"
        r = run_seed(bad, seed)
        assert not r.violations  # the log is fine: only the history shows the bug
        if r.workload["verdict"] == "not linearizable":
            rejected.append(r)
    assert rejected, "the stale-read node was not caught at seeds 0-3"
    window = rejected[0].workload["check"]["violation"]
    assert window["cannot_place"]["f"] == "get"  # the operation that cannot be placed is a read


def test_a_core_that_acks_before_persist_loses_writes_the_history_shows():
    # the same seeds, the built-in core against the mutant: only the mutant's histories are rejected
    wl = WorkloadConfig(rate=200, keys=4)
    good = SimConfig(nodes=3, duration=10.0, workload=wl, record_logs=False)
    bad = replace(good, core=MUTANT_CORE)
    caught = []
    for seed in range(10):
        assert run_seed(good, seed).workload["verdict"] == "linearizable", seed
        if run_seed(bad, seed).workload["verdict"] == "not linearizable":
            caught.append(seed)
    assert caught, "AcksBeforePersist's histories were all linearizable at seeds 0-9"


def test_cli_failing_seed_shows_the_window_writes_the_history_and_replays(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    res = runner.invoke(sim, ["--workload", "--kv-mutant", "stale-reads", "--nodes", "3", "--seeds", "4",
                              "--duration", "10"])
    assert res.exit_code == 1, res.output
    out = res.output
    assert "NOT LINEARIZABLE history with seed" in out and "cannot be placed" in out
    replay = next(line for line in out.splitlines() if line.startswith("replay: "))[len("replay: "):]
    assert "--workload" in replay and "--kv-mutant stale-reads" in replay
    seed = int(out.split("history with seed ", 1)[1].split(":")[0])
    hist = tmp_path / "logs" / f"sim-{seed}" / "history.jsonl"
    assert hist.is_file()
    assert runner.invoke(check, ["--history", str(hist)]).exit_code == 1
    again = runner.invoke(sim, shlex.split(replay)[2:] + ["--log-dir", str(tmp_path / "again")])
    assert again.exit_code == 1 and f"history with seed {seed}:" in again.output
    assert (tmp_path / "again" / "history.jsonl").read_bytes() == hist.read_bytes()


def test_cli_summary_counts_and_verdicts_the_same_with_jobs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--workload", "--nodes", "3", "--seeds", "4", "--duration", "5", "--clients", "4", "--json"]
    one = CliRunner().invoke(sim, args)
    two = CliRunner().invoke(sim, args + ["--jobs", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    w1, w2 = (json.loads(r.output)["summary"]["workload"] for r in (one, two))
    w1.pop("check_s"), w2.pop("check_s")
    assert w1 == w2
    assert w1["seeds"] == {"linearizable": 4, "not linearizable": 0, "unknown": 0}
    c = w1["counts"]
    assert c["invoke"] == c["ok"] + c["fail"] + c["info"] + c["open"] and c["ok"] > 0
    text = CliRunner().invoke(sim, args[:-1])
    assert "workload: " in text.output and "histories: 4 linearizable" in text.output


def test_cli_single_seed_log_dir_has_the_history(tmp_path):
    res = CliRunner().invoke(sim, ["--workload", "--nodes", "3", "--seed", "1", "--duration", "3",
                                   "--log-dir", str(tmp_path / "kv")])
    assert res.exit_code == 0, res.output
    assert "LINEARIZABLE" in res.output and (tmp_path / "kv" / "history.jsonl").is_file()
    assert CliRunner().invoke(check, ["--history", str(tmp_path / "kv" / "history.jsonl")]).exit_code == 0


def test_cli_usage_errors_are_one_line_exit_2():
    runner = CliRunner()
    cases = [
        (["--clients", "4"], "--clients is an option of --workload"),
        (["--kv-mutant", "stale-reads"], "--kv-mutant is an option of --workload"),
        (["--rate", "0", "--seeds", "1"], "--rate is an option of --workload"),
        (["--workload", "--core", "examples/minimal_core.py:MinimalCore", "--no-prevote", "--no-check-quorum",
          "--seeds", "1", "--duration", "1"], "election-only"),
    ]
    for args, message in cases:
        res = runner.invoke(sim, args)
        assert res.exit_code == 2, (args, res.output)
        lines = [line for line in res.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("raftzmq: error: ") and message in lines[0], res.output


def test_help_shows_the_workload_options_with_examples():
    out = CliRunner().invoke(sim, ["--help"]).output
    for text in ("--workload", "--clients", "--keys", "--rate", "--timeout", "--budget", "--kv-mutant",
                 "raftzmq sim --workload --seeds 200 --jobs 2"):
        assert text in out


def test_a_checker_that_runs_out_of_budget_fails_the_seed_as_unknown():
    r = run_seed(replace(KV3, workload=WorkloadConfig(max_states=1), duration=3.0, record_logs=False), 0)
    assert r.workload["verdict"] == "unknown" and not r.ok and not r.violations
    assert r.workload["history"]  # kept (not linearizable or unknown), even though the run kept no records


def test_dask_gives_the_histories_and_the_first_failing_seed_of_a_local_run(dask_scheduler):
    cfg = replace(KV3, duration=3.0)
    local = list(run_seeds(cfg, range(4)))
    remote = list(run_seeds(cfg, range(4), scheduler=dask_scheduler))
    assert [history(r) for r in remote] == [history(r) for r in local]
    bad = replace(KV3, workload=WorkloadConfig(mutant="stale-reads"), record_logs=False)
    first = lambda results: next(r.seed for r in results if not r.ok)  # noqa: E731
    assert first(run_seeds(bad, range(6), scheduler=dask_scheduler)) == first(run_seeds(bad, range(6)))


def test_requests_wait_for_a_paused_node_and_an_fsync_and_stay_linearizable_with_hints():
    cfg = SimConfig(nodes=3, duration=10.0, persist_ms=2.0, hints=True, workload=WorkloadConfig(), record_logs=False)
    waited = {"waited_in_pause": 0, "waited_for_fsync": 0}
    for seed in range(3):
        r = run_seed(cfg, seed)
        assert r.ok and r.workload["verdict"] == "linearizable", (seed, r.violations, r.workload["report"])
        for k in waited:
            waited[k] += r.workload["attempts"].get(k, 0)
    assert all(v > 0 for v in waited.values()), waited
