"""Careless use without a running cluster gets a one-line error naming the path or value, exit 2, never a
traceback (issue 13): unwritable run dirs and outputs, bad intervals, filters that can never match, ..."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fs_helpers import read_only
from logs_fixtures import clean_run
from raftzmq.cli import main
from raftzmq.commands import sim as sim_command
from raftzmq.commands.cluster import _parse_delay
from raftzmq.runtime.config import ClusterConfig
from raftzmq.runtime.cluster.runs import list_runs, parse_age, select_for_removal
from raftzmq.runtime.cluster.supervisor import NodeProc, Supervisor, SupervisorError
from raftzmq.runtime.cluster.rundir import RunDir


def invoke(*args: str, **kw):
    return CliRunner().invoke(main, list(args), **kw)


def one_line_error(result, code: int = 2) -> str:
    """The error text; asserts the exit code and that no traceback was printed."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output and not isinstance(result.exception, (OSError, ValueError, TypeError))
    return result.output


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test here may see (or be refused because of) clusters of other tests or other users of the machine."""
    monkeypatch.setenv("RAFTZMQ_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("RAFTZMQ_LOGS", str(tmp_path / "logs"))
    monkeypatch.delenv("RAFTZMQ_RUN_DIR", raising=False)


# ------------------------------------------------------------------------------------------- traceback cases


@pytest.mark.parametrize("interval", ["-1", "0"])
def test_status_watch_interval_must_be_positive(interval):
    assert "--interval" in one_line_error(invoke("status", "--watch", "--interval", interval))


@pytest.mark.parametrize("detach", [[], ["--detach"]], ids=["foreground", "detached"])
def test_start_in_an_unwritable_run_dir_names_it(tmp_path, detach):
    run = tmp_path / "ro"
    run.mkdir()
    with read_only(run):
        out = one_line_error(invoke("start", "--run-dir", str(run), *detach))
    assert f"cannot write in the run directory {run}" in out
    assert not (run / "cluster.json").exists()


def _stopped_run(path: Path) -> Path:
    path.mkdir()
    (path / "cluster.json").write_text(json.dumps({"nodes": 3, "config": ClusterConfig(nodes=3).to_dict()}))
    return path


def test_resume_in_a_read_only_run_dir_names_it(tmp_path):
    run = _stopped_run(tmp_path / "old")
    with read_only(run):
        out = one_line_error(invoke("start", "--resume", "--detach", "--run-dir", str(run)))
    assert f"cannot write in the run directory {run}" in out and "\n" == out[-1] and out.count("\n") == 1


def test_timeline_into_a_read_only_run_dir_names_the_file(tmp_path):
    clean_run(tmp_path / "run")
    with read_only(tmp_path / "run"):
        out = one_line_error(invoke("timeline", str(tmp_path / "run")))
    assert str(tmp_path / "run" / "timeline.svg") in out and "-o FILE" in out


def test_timeline_output_into_a_missing_directory_names_it(tmp_path):
    clean_run(tmp_path / "run")
    target = tmp_path / "no" / "such" / "t.svg"
    assert str(target) in one_line_error(invoke("timeline", str(tmp_path / "run"), "-o", str(target)))


def test_timeline_output_naming_a_directory_says_so(tmp_path):
    clean_run(tmp_path / "run")
    out = one_line_error(invoke("timeline", str(tmp_path / "run"), "-o", str(tmp_path)))
    assert str(tmp_path) in out and "not a directory" in out


def test_sim_log_dir_that_cannot_be_created_fails_before_running(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = one_line_error(invoke("sim", "--seed", "1", "--log-dir", str(blocker / "logs")))
    assert f"cannot create --log-dir {blocker / 'logs'}" in out


def test_failing_sim_in_an_unwritable_directory_still_reports_the_violation(tmp_path, monkeypatch):
    cwd = tmp_path / "ro"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    args = ["sim", "--nodes", "3", "--persist", "term-only", "--faults", "crash,delay", "--vote-crash", "0.5",
            "--seeds", "200"]
    with read_only(cwd):
        out = one_line_error(invoke(*args), code=1)
    assert "VIOLATION with seed" in out and "replay: raftzmq sim --seed" in out
    assert "cannot write the logs to logs/sim-" in out


# ------------------------------------------------------------------------------------------- smaller cases


def test_help_is_a_command_not_a_suggestion_to_heal():
    result = invoke("help")
    assert result.exit_code == 0 and "Watch and break Raft" in result.output and "heal" in result.output
    start = invoke("help", "start")
    assert start.exit_code == 0 and "--resume" in start.output
    assert "no such command 'nope'" in one_line_error(invoke("help", "nope"))


def test_status_json_without_a_cluster_is_json():
    result = invoke("status", "--json")
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and "no run directory" in doc["error"]


@pytest.mark.parametrize("text, expected", [("30", (30, 0)), ("30ms", (30, 0)), ("30±10", (30, 10)),
                                            ("30ms+-10ms", (30, 10)), (" 30 ± 10 ", (30, 10))])
def test_net_delay_accepts_ms_units(text, expected):
    assert _parse_delay(text) == expected


def test_net_delay_rejects_other_units():
    assert "--delay" in one_line_error(invoke("net", "--delay", "3s"))


@pytest.mark.parametrize("args, needle", [(["--node", "42"], "unknown node id 42"),
                                          (["--event", "became_leadr"], "did you mean 'became_leader'")])
def test_logs_filters_that_can_never_match_are_errors(tmp_path, args, needle):
    clean_run(tmp_path / "run")
    assert needle in one_line_error(invoke("logs", "--run-dir", str(tmp_path / "run"), *args))


def test_logs_filters_that_match_are_accepted(tmp_path):
    clean_run(tmp_path / "run")
    result = invoke("logs", "--run-dir", str(tmp_path / "run"), "--node", "2", "--event", "vote_granted")
    assert result.exit_code == 0 and result.output.count("vote_granted") == 2
    quiet = invoke("logs", "--run-dir", str(tmp_path / "run"), "--event", "transfer_aborted")  # known, absent
    assert quiet.exit_code == 0 and quiet.output == ""


class _Alive:
    """A node process handle that is running (for supervisor checks that need no real process)."""
    pid, returncode = 999_999_999, None

    def poll(self):
        return None


def _supervisor(tmp_path) -> Supervisor:
    sup = Supervisor(RunDir(tmp_path), ClusterConfig(nodes=3))
    sup.nodes = {n: NodeProc(n, f"tcp://127.0.0.1:{9000 + n}") for n in (1, 2, 3)}
    sup.nodes[2].popen, sup.nodes[2].incarnation = _Alive(), 1
    return sup


@pytest.mark.parametrize("cmd", ["pause", "resume"])
def test_pause_and_resume_of_a_dead_node_are_errors(tmp_path, cmd):
    with pytest.raises(SupervisorError, match=r"node 1 is not running, so it cannot be"):
        _supervisor(tmp_path).handle({"cmd": cmd, "ids": [2, 1]})


def test_resume_of_a_node_never_paused_says_so(tmp_path):
    assert _supervisor(tmp_path).handle({"cmd": "resume", "ids": [2]})["done"] == ["node 2 is not paused"]


# ------------------------------------------------------------------------------------------- ps, clean, completion


def test_ps_without_clusters():
    result = invoke("ps")
    assert result.exit_code == 0 and result.output == "no cluster is running\n"
    assert invoke("ps", "--json").output == ""


def _fake_run(root: Path, name: str, age_s: float) -> Path:
    run = root / name
    run.mkdir(parents=True)
    log = run / "node-1.jsonl"
    log.write_text("x" * 1000)
    stamp = time.time() - age_s
    import os

    os.utime(log, (stamp, stamp))
    os.utime(run, (stamp, stamp))
    return run


def test_clean_keeps_the_newest_and_the_latest_and_only_touches_runs(tmp_path):
    root = tmp_path / "logs"
    runs = [_fake_run(root, f"r{i}", age_s=3600 * i) for i in range(5)]  # r0 newest
    (root / "latest").symlink_to("r4")
    (root / "notes").mkdir()
    (root / "notes" / "mine.txt").write_text("keep me")
    result = invoke("clean", "--keep", "2")
    assert result.exit_code == 0, result.output
    assert [p.name for p in runs if p.exists()] == ["r0", "r1", "r4"]  # r4: logs/latest points to it
    assert (root / "notes" / "mine.txt").exists() and "2 run(s)" in result.output


def test_clean_older_than_and_dry_run(tmp_path):
    root = tmp_path / "logs"
    runs = [_fake_run(root, f"r{i}", age_s=86400 * i) for i in range(4)]
    dry = invoke("clean", "--older-than", "36h", "--dry-run")
    assert dry.exit_code == 0 and "would delete" in dry.output and all(p.exists() for p in runs)
    assert invoke("clean", "--older-than", "36h").exit_code == 0
    assert [p.name for p in runs if p.exists()] == ["r0", "r1"]
    assert "--older-than" in one_line_error(invoke("clean", "--older-than", "7 days"))


def test_age_units_and_selection():
    assert parse_age("90s") == 90 and parse_age("1.5h") == 5400 and parse_age("2w") == 14 * 86400
    assert select_for_removal([], keep=0, older_than_s=None, now=0) == []
    assert list_runs(Path("/nonexistent")) == []


def test_shell_completion_script_is_generated():
    result = CliRunner().invoke(main, [], prog_name="raftzmq", env={"_RAFTZMQ_COMPLETE": "bash_source"})
    assert result.exit_code == 0 and "_raftzmq_completion" in result.output


# ------------------------------------------------------------------------------------------- sim progress


def _results(n: int):
    from raftzmq.lab.sim.simulator import SimConfig, run_seed

    return [run_seed(SimConfig(nodes=3, duration=0.5), s) for s in range(n)]


def test_sim_progress_has_an_eta(monkeypatch):
    done = _results(3)
    monkeypatch.setattr(sim_command, "run_seeds", lambda cfg, seeds, jobs, scheduler=None: iter(done))
    monkeypatch.setattr(sim_command, "_PROGRESS_EVERY_S", 0.0)
    result = invoke("sim", "--seeds", "3")
    assert result.exit_code == 0 and "[sim] 1/3 seeds, 0 violations" in result.stderr and "ETA" in result.stderr


def test_sim_ctrl_c_prints_a_partial_summary(monkeypatch):
    done = _results(2)

    def interrupted(cfg, seeds, jobs, scheduler=None):
        yield from done
        raise KeyboardInterrupt

    monkeypatch.setattr(sim_command, "run_seeds", interrupted)
    result = invoke("sim", "--seeds", "10")
    assert result.exit_code == sim_command.EXIT_INTERRUPTED
    assert "interrupted after 2 of 10 seeds" in result.output and "seeds run: 2, violations: 0" in result.output


def test_readme_jq_example_shows_what_its_comment_says(tmp_path):
    clean_run(tmp_path / "run")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    line = next(l for l in readme.splitlines() if l.startswith("jq") and "became_leader" in l)
    cmd = line.replace("logs/latest", str(tmp_path / "run"))
    try:
        out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        pytest.skip("jq is not installed")
    if out.returncode == 127:
        pytest.skip("jq is not installed")
    rows = [json.loads(l) for l in out.stdout.splitlines()]
    assert [(r["term"], r["node"]) for r in rows] == [(1, 1), (2, 2)]  # every election won, in time order
    assert all(set(r) == {"term", "node", "after_s"} for r in rows) and rows[0]["after_s"] >= 0


def test_a_large_start_reports_progress(monkeypatch, capsys):
    from raftzmq.commands import cluster

    clock = iter([0.5, 1.2, 1.3, 2.5])
    monkeypatch.setattr(cluster.time, "monotonic", lambda: next(clock))
    progress = cluster._Progress(40, began=0.0)
    st = {"leader": None, "nodes": [{"role": "follower"}] * 25 + [{"role": None}] * 15}
    for _ in range(4):
        progress.show(st)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["raftzmq: starting: 25/40 nodes up, no leader yet (1.2 s)",
                     "raftzmq: starting: 25/40 nodes up, no leader yet (2.5 s)"]
    small = cluster._Progress(5, began=0.0)
    monkeypatch.setattr(cluster.time, "monotonic", lambda: 10.0)
    small.show(st)
    assert capsys.readouterr().err == ""


def test_ctrl_c_of_a_parallel_sim_is_one_summary_not_a_traceback_per_worker(tmp_path):
    import os
    import signal
    import sys

    from cluster_harness import REPO, wait_for

    err = tmp_path / "err"
    with open(err, "w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "raftzmq", "sim", "--seeds", "1000000", "--jobs", "2",
                                 "--duration", "2"], cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(REPO)),
                                stdout=subprocess.PIPE, stderr=err_file, text=True, start_new_session=True)
        try:
            wait_for(lambda: "ETA" in err.read_text(), 60, "a progress line")
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
            out, _ = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == sim_command.EXIT_INTERRUPTED
    assert "interrupted after" in out and "of 1000000 seeds" in out
    assert "Traceback" not in err.read_text() and "KeyboardInterrupt" not in err.read_text(), err.read_text()


def test_ps_forgets_supervisors_that_died_without_unregistering(tmp_path):
    registry = tmp_path / "registry"
    registry.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    run = _stopped_run(tmp_path / "old")
    (run / "supervisor.pid").write_text(f"{dead.pid}\n")
    (registry / str(dead.pid)).write_text(f"{run}\n")
    assert invoke("ps").output == "no cluster is running\n"
    assert not (registry / str(dead.pid)).exists()
