"""Any run folder works (issue 21, item 2): check, report, report --html and timeline accept a live, chaos,
scenario, simulator or benchmark output folder; a folder holding several runs has each judged or drawn under its
name; a folder that is not a run is refused with what was expected."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from logs_fixtures import clean_run
from raftzmq.cli import main
from raftzmq.evidence.logfile import NotARunError, find_runs, run_files

import pytest


def _bench_failover_folder(tmp_path: Path) -> Path:
    """The layout `bench failover` writes: failover.json, load.jsonl (not a raftzmq log) and one run per range."""
    out = tmp_path / "fig16"
    out.mkdir()
    (out / "failover.json").write_text("{}")
    (out / "load.jsonl").write_text(json.dumps({"ts": None, "load1": 0.5}) + "\n")
    (out / "trials.csv").write_text("range,ms\n")
    clean_run(out / "real-150-300")
    clean_run(out / "sim-150-300")
    return out


def test_find_runs_of_a_run_a_benchmark_folder_and_a_logs_root(tmp_path):
    bench = _bench_failover_folder(tmp_path)
    assert find_runs(bench) == [bench / "real-150-300", bench / "sim-150-300"]
    assert find_runs(bench / "real-150-300") == [bench / "real-150-300"]
    (tmp_path / "latest").symlink_to(bench / "real-150-300")  # logs/latest: a link, not a second copy
    assert find_runs(tmp_path) == [bench / "real-150-300", bench / "sim-150-300"]


def test_other_jsonl_files_beside_the_logs_are_not_read_as_logs(tmp_path):
    clean_run(tmp_path)
    (tmp_path / "history.jsonl").write_text('{"op": "put"}\n')
    (tmp_path / "notes.jsonl").write_text('{"op": "put"}\n')
    assert [p.name for p in run_files(tmp_path)] == ["node-1.jsonl", "node-2.jsonl", "node-3.jsonl",
                                                     "supervisor.jsonl"]
    got = CliRunner().invoke(main, ["check", str(tmp_path)])
    # The logs are clean; the client history beside them is judged as a history (tests/test_check_run_history.py),
    # and this one cannot be read: exit 2 naming it, not a log format error.
    assert got.exit_code == 2, got.output
    assert "OK: no safety violations" in got.output and "history.jsonl: cannot be checked" in got.output
    (tmp_path / "history.jsonl").unlink()
    got = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert got.exit_code == 0, got.output  # notes.jsonl is neither a log nor a history


def test_a_folder_that_is_not_a_run_says_what_was_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(NotARunError, match="expected node-<id>.jsonl and supervisor.jsonl"):
        find_runs(tmp_path)
    for cmd in (["check"], ["report"], ["report", "--html"], ["timeline"]):
        got = CliRunner().invoke(main, [*cmd, str(tmp_path)])
        assert got.exit_code == 2, (cmd, got.output)
        assert got.output.startswith("raftzmq: error: ") and "not a run folder" in got.output
        assert "notes.txt" in got.output and "Traceback" not in got.output


def test_check_judges_each_run_of_a_benchmark_folder_and_names_it(tmp_path):
    bench = _bench_failover_folder(tmp_path)
    got = CliRunner().invoke(main, ["check", str(bench)])
    assert got.exit_code == 0, got.output
    assert f"== run {bench / 'real-150-300'} ==" in got.output and f"== run {bench / 'sim-150-300'} ==" in got.output
    assert got.output.count("OK: no safety violations") == 2 and "2 runs: 2 ok" in got.output
    doc = json.loads(CliRunner().invoke(main, ["check", str(bench), "--json"]).output)
    assert [Path(r["run_dir"]).name for r in doc["runs"]] == ["real-150-300", "sim-150-300"]
    assert all(r["verdict"] == "ok" for r in doc["runs"])


def test_check_of_several_runs_exits_with_the_worst_verdict(tmp_path):
    bench = _bench_failover_folder(tmp_path)
    (bench / "sim-150-300" / "node-3.jsonl").unlink()
    got = CliRunner().invoke(main, ["check", str(bench)])
    assert got.exit_code == 3 and "1 ok, 1 incomplete" in got.output, got.output


def test_report_html_and_timeline_draw_each_run_of_a_benchmark_folder(tmp_path):
    bench = _bench_failover_folder(tmp_path)
    cli = CliRunner()
    rep = cli.invoke(main, ["report", str(bench)])
    assert rep.exit_code == 0 and rep.output.count("== run ") == 2, rep.output
    rep_json = json.loads(cli.invoke(main, ["report", str(bench), "--json"]).output)
    assert len(rep_json["runs"]) == 2
    html = cli.invoke(main, ["report", str(bench), "--html"])
    assert html.exit_code == 0, html.output
    svg = cli.invoke(main, ["timeline", str(bench)])
    assert svg.exit_code == 0, svg.output
    for sub in ("real-150-300", "sim-150-300"):
        assert (bench / sub / "report.html").is_file() and f"wrote {bench / sub / 'report.html'}" in html.output
        assert (bench / sub / "timeline.svg").is_file() and f"wrote {bench / sub / 'timeline.svg'}" in svg.output
    assert not (bench / "report.html").exists()
    for cmd in (["report", "--html"], ["timeline"]):
        one = cli.invoke(main, [*cmd, str(bench), "-o", str(tmp_path / "x")])
        assert one.exit_code == 2 and "holds 2 runs" in one.output and "real-150-300" in one.output, one.output
