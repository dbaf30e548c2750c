"""`raftzmq report` / `report --html` on a run with a client history (issue 19, deliverable 4): the history in the
run folder is checked; a history that is not linearizable gets its smallest window drawn under the timeline
(operations per process on a time axis, the longest linearizable prefix, the operation that cannot be placed), with
the nemesis windows of workload.json behind it; a good one says so and draws no culprit; an unreadable one says why
without failing the report; nothing in a history can break out of its section."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.evidence.history import parse_history
from raftzmq.evidence.lincheck import LINEARIZABLE, NOT_LINEARIZABLE, check_history
from report_runs import html_report, sim

MS = 1_000_000
# p0 writes 1; p1 reads 1; p0 writes 2 (acked at 40 ms); p1 then reads 1 again: a stale read, not linearizable
STALE = [(0, "invoke", "put", [1], 10), (0, "ok", "put", [1], 12), (1, "invoke", "get", None, 14),
         (1, "ok", "get", [1], 16), (0, "invoke", "put", [2], 30), (0, "ok", "put", [2], 40),
         (1, "invoke", "get", None, 50), (1, "ok", "get", [1], 55)]
GOOD = STALE[:-1] + [(1, "ok", "get", [2], 55)]


def _write(path: Path, events, key="x") -> None:
    path.write_text("".join(json.dumps({"process": p, "type": t, "f": f, "key": key, "value": v, "time": ms * MS})
                            + "\n" for p, t, f, v, ms in events))


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("hist") / "run"
    assert sim(run, "--seed", "3", "--duration", "5").returncode == 0
    return run


@pytest.fixture
def run(base_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(base_run, copy)
    return copy


def _workload_json(run: Path) -> None:
    (run / "workload.json").write_text(json.dumps({
        "history_path": str(run / "history.jsonl"), "t0_mono_ns": 123,
        "availability": [{"label": "all", "scope": "run", "kind": "", "invoked": 4, "fraction": 0.75,
                          "answered": 1.0}, {"label": "kill", "scope": "kind", "kind": "kill", "invoked": 2,
                                             "fraction": 0.5, "answered": 0.5}],
        "final": {"keys_read": 1, "lost": []},
        "nemesis": {"windows": [{"start": 0.02, "end": 0.045, "label": "#0 kill n2", "kind": "kill"}]}}))


def _section(page: str) -> str:
    m = re.search(r"<section id='history'.*?</section>", page, re.S)
    assert m, "no history section"
    return m.group(0)


def test_a_stale_read_history_draws_its_window_in_the_report(run):
    _write(run / "history.jsonl", STALE)
    _workload_json(run)
    expected = check_history(parse_history((run / "history.jsonl").read_text().splitlines()))
    assert expected.verdict == NOT_LINEARIZABLE and expected.window is not None
    path, data = html_report(run)
    h = data["history"]
    assert h["verdict"] == NOT_LINEARIZABLE and h["file"] == "history.jsonl"
    assert h["result"]["violation"]["cannot_place"]["line"] == expected.window.culprit.line == 7
    assert [op["line"] for op in h["result"]["violation"]["window"]] == [op.line for op in expected.window.operations]
    section = _section(path.read_text())
    assert "not linearizable" in section and "cannot be placed" in section
    assert "longest linearizable prefix" in section and "p1 get x→[1] ok" in section
    assert section.count("<svg") == 1 and "url(#lin-plot)" in section
    assert 'id="hatch"' not in section  # the timeline's own pattern keeps its id
    assert "<title>#0 kill n2</title>" in section and "#ede9fe" in section  # the nemesis window, behind
    assert "<td>kill</td><td>2</td><td>50.0%</td><td>50.0%</td>" in section  # availability per kind
    assert "acknowledged writes lost: 0" in section
    text = CliRunner().invoke(main, ["report", str(run)])
    assert text.exit_code == 0 and "client history history.jsonl: NOT LINEARIZABLE (4 operations; " \
                                   "acknowledged writes lost: 0)" in text.output


def test_a_linearizable_history_says_so_without_a_culprit(run):
    _write(run / "history.jsonl", GOOD)
    path, data = html_report(run)
    assert data["history"]["verdict"] == LINEARIZABLE and data["history"]["result"]["violation"] is None
    section = _section(path.read_text())
    assert "linearizable" in section and "cannot be placed" not in section and "<svg" in section
    assert data["history"]["windows"] == [] and data["history"]["t0_ms"] is None  # no workload.json


def test_without_a_history_there_is_no_section(run):
    path, data = html_report(run)
    assert data["history"] is None and "<section id='history'" not in path.read_text()


def test_an_unreadable_history_is_named_and_the_report_still_written(run):
    (run / "history.jsonl").write_text('{"process": 0, "type": "ok", "f": "get", "key": "x", "value": 1}\n')
    path, data = html_report(run)
    assert data["history"]["verdict"] is None and "without an open invoke" in data["history"]["error"]
    assert "cannot be checked" in _section(path.read_text())


def test_nothing_in_a_history_escapes_its_section(run):
    nasty = "</section></script><script>alert(1)</script>__DATA__/*JS*/"
    _write(run / "history.jsonl", STALE, key=nasty)
    path, data = html_report(run)
    page = path.read_text()
    assert "<script>alert(1)" not in page and data["history"]["result"]["violation"]["key"] == nasty
    assert page.count("<section id='history'") == 1 and page.count('id="run-data"') == 1


def test_the_history_section_in_headless_chromium(run, tmp_path):
    """The page with a violating history loads with no script error or network request; the section shows the
    culprit's red bar and the timeline still draws its lanes (the section's CSS and ids stay inside it)."""
    from headless import Browser, chromium_path

    if chromium_path() is None:
        pytest.skip("chromium is not installed (.ci/run installs it with apt-get)")
    _write(run / "history.jsonl", STALE)
    _workload_json(run)
    path, data = html_report(run)
    with Browser(tmp_path / "profile") as browser:
        browser.open(path)
        status = browser.wait_for("document.getElementById('status').dataset.status !== 'loading' && "
                                  "document.getElementById('status').dataset.status")
        assert status == "ok" and browser.errors() == []
        assert all(url.startswith("file:") for url in browser.requested_urls())
        red = browser.eval("""[...document.querySelectorAll('#history rect')].filter(r =>
            r.getAttribute('fill') === '#dc2626').map(r => r.getBoundingClientRect().width)""")
        assert len(red) == 1 and red[0] > 5  # the operation that cannot be placed, drawn
        lanes = browser.eval("document.querySelectorAll('#timeline g.lane').length")
        assert lanes == len(data["nodes"])
        body_margin = browser.eval("getComputedStyle(document.body).margin")
        assert body_margin != "24px"  # the section's page CSS did not leak onto the report's body
