"""Commands computed from logs: `logs` (merged, coloured, following), `check` (the safety verdict) and `report`
(how the run recovered)."""
from __future__ import annotations

import difflib
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..evidence.checker import CheckResult, check_located, check_run, exit_code, render_summary
from ..evidence.report import failovers, recovery_summary, render_report
from ..evidence.history import HistoryError, read_history
from ..evidence.html import existing_report, write_html_report
from ..evidence.lincheck import (DEFAULT_BUDGET_S, DEFAULT_MAX_STATES, LINEARIZABLE, MODELS, NOT_LINEARIZABLE,
                                 check_history, render_text)
from ..evidence.linview import write_lin_html
from ..evidence.runhistory import RunHistory, run_history
from ..evidence.timeline import render_svg
from ..evidence.logfile import EVENT_NAMES, Located, LogFormatError, LogTail, NotARunError, find_runs, read_run
from ..evidence.recordline import format_record
from ..runtime.cluster.clusterfile import ClusterFileError, load as load_cluster_file
from ..runtime.cluster.rundir import RunDir, default_logs_root
from .cluster import RUN_DIR_HELP, fail, note_which

__all__ = ["logs", "check", "report", "timeline"]

_NODE_COLORS = ["cyan", "magenta", "blue", "yellow", "green", "bright_cyan", "bright_magenta", "bright_blue"]
_EVENT_STYLE: dict[str, dict[str, Any]] = {
    "became_leader": {"fg": "green", "bold": True},
    "stepped_down": {"fg": "red", "bold": True},
    "became_candidate": {"fg": "yellow"},
    "became_precandidate": {"fg": "yellow"},
    "vote_granted": {"fg": "bright_green"},
    "node_failed": {"fg": "red", "bold": True},
    "node_killed": {"fg": "red"},
    "partition": {"fg": "bright_red"},
    "heal": {"fg": "bright_green"},
}
def _paint(column: str, text: str, rec: dict[str, Any]) -> str:
    if column == "who":
        return click.style(text, fg=_NODE_COLORS[rec["node"] % len(_NODE_COLORS)])
    return click.style(text, **_EVENT_STYLE.get(rec["event"], {}))


def _run_path(run_dir: str | None) -> Path:
    # logs/check also read simulator runs, which have no cluster.json: any directory of *.jsonl will do.
    if run_dir:
        return Path(run_dir)
    if os.environ.get("RAFTZMQ_RUN_DIR"):
        return Path(os.environ["RAFTZMQ_RUN_DIR"])
    latest = default_logs_root() / "latest"
    if not latest.exists():
        fail(f"no run directory at {latest}; start one with `raftzmq start` or give a path")
    note_which(None, RunDir(latest.resolve()))  # several clusters running: say which one this reads
    return latest.resolve()


def _runs(path: Path, output: str | None = None, as_json: bool = False) -> list[Path]:
    """The runs a path stands for (itself, or every run folder below a benchmark's or campaign's output)."""
    try:
        runs = find_runs(path)
    except (NotARunError, OSError) as exc:
        fail(str(exc), as_json=as_json)
    if output and len(runs) > 1:
        fail(f"{path} holds {len(runs)} runs ({', '.join(str(r.relative_to(path)) for r in runs)}); -o names one "
             f"file: give one of them, or leave -o out to write one into each")
    return runs


def _heading(runs: list[Path], run: Path) -> None:
    if len(runs) > 1:
        click.echo(f"== run {run} ==")


def _note_report(path: Path) -> None:
    report = existing_report(path)
    if report:  # on stderr, so `logs --json | jq` still reads only records
        click.echo(f"report of this run: {report}", err=True)


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new records (new nodes and incarnations too).")
@click.option("--node", "nodes", type=int, multiple=True, help="Only this node (repeatable).")
@click.option("--event", "events", multiple=True, metavar="NAME", help="Only this event (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Raw JSON lines (for jq).")
@click.option("--run-dir", "run_dir", metavar="DIR", help=RUN_DIR_HELP)
def logs(follow: bool, nodes: tuple[int, ...], events: tuple[str, ...], as_json: bool, run_dir: str | None) -> None:
    """Print the run's logs, merged by time across nodes and the supervisor.

    \b
    Examples:
      raftzmq logs -f
      raftzmq logs --event became_leader --event stepped_down
      raftzmq logs --node 3 --json | jq -c '{term, event}'
    """
    path = _run_path(run_dir)
    if not path.is_dir():
        fail(f"no run directory at {path}")
    color = sys.stdout.isatty() and not as_json
    tail = LogTail(path)

    def emit(batch: list[Located]) -> None:
        for loc in batch:
            rec = loc.record
            if (nodes and rec["node"] not in nodes) or (events and rec["event"] not in events):
                continue
            click.echo(json.dumps(rec, separators=(",", ":")) if as_json
                       else format_record(rec, wall_clock=True, paint=_paint if color else None))

    if follow:
        _note_report(path)
    try:
        first = tail.poll()
        _check_filters(path, first, nodes, events)
        emit(first)
        if not follow:
            _note_report(path)
        while follow:
            time.sleep(0.1)  # tail -f: wake up to look for new lines; nothing else waits on this
            emit(tail.poll())
    except LogFormatError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, BrokenPipeError):
        pass


def _check_filters(path: Path, batch: list[Located], nodes: tuple[int, ...], events: tuple[str, ...]) -> None:
    """A --node or --event that can never match is a typo, not an empty answer."""
    seen = {loc.record["node"] for loc in batch} | {0}
    sizes = [loc.record.get("nodes") for loc in batch if loc.record["event"] == "cluster_started"]
    members = set(range(sizes[-1] + 1)) if sizes and type(sizes[-1]) is int else set()
    for n in nodes:
        if n not in seen | members:
            fail(f"unknown node id {n}: {path} has records of nodes {', '.join(map(str, sorted(seen - {0})))}")
    known = EVENT_NAMES | {loc.record["event"] for loc in batch}
    for e in events:
        if e not in known:
            close = difflib.get_close_matches(e, sorted(known), n=1)
            fail(f"unknown event {e!r}" + (f"; did you mean {close[0]!r}?" if close else
                                           "; docs/log-schema.md lists the events"))


@click.command()
@click.argument("run_dir_arg", metavar="[RUN_DIR]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@click.option("--nodes", "-n", "nodes", type=click.IntRange(min=1), metavar="N",
              help="The cluster has members 1..N (for logs without a cluster.json): a member without records "
                   "makes the evidence incomplete.")
@click.option("--cluster", "cluster_file", metavar="FILE",
              help="The cluster file the nodes ran from (`raftzmq init-cluster`): its members, like --nodes.")
@click.option("--run-dir", "run_dir", metavar="DIR", help=RUN_DIR_HELP)
@click.option("--history", "history", metavar="FILE",
              help="Check a client history (JSON lines, docs/history-format.md) for linearizability instead.")
@click.option("--model", type=click.Choice(sorted(MODELS)),
              help="With --history: the model (default: inferred from the f names).")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help=f"With --history: seconds for the search, and again for shrinking a violation's window "
                   f"(default {DEFAULT_BUDGET_S:g}); when they run out the verdict is unknown (exit 3).")
@click.option("--max-states", type=click.IntRange(min=1), metavar="N",
              help=f"With --history: explored states per key before giving up as unknown "
                   f"(default {DEFAULT_MAX_STATES}).")
@click.option("--html", "html_out", metavar="OUT",
              help="With --history: also write a self-contained HTML page: operations per process on a time axis, "
                   "the longest linearizable prefix, the window and the operation that cannot be placed.")
def check(run_dir_arg: str | None, as_json: bool, nodes: int | None, cluster_file: str | None,
          run_dir: str | None, history: str | None, model: str | None, budget: float | None,
          max_states: int | None, html_out: str | None) -> None:
    """Verify a run's logs: one leader per term, one vote per node per term (across restarts), terms never go
    back, every leader backed by a majority, every vote durable before it was sent; logs that match, commits that
    never go back or vanish, one entry applied per index. A run folder holding a workload's history.jsonl has
    that history checked for linearizability too (and workload.json's acknowledged writes found lost).

    Works on live, chaos, scenario, benchmark and simulator runs; a folder holding several runs (a benchmark's
    output) has each judged, under its name. Exit 0 clean, 1 a violation (with file:line), 2 unreadable input,
    3 incomplete evidence: records are missing (a member without records, e.g. one host's folder of a multi-host
    cluster; a deleted log file, a lost incarnation, a seq gap), so no verdict is given and no violation is
    reported; the output says what is missing. The members come from cluster.json, the supervisor's
    cluster_started record, --nodes or --cluster.

    With --history FILE: is the client history linearizable? Models: cas-register (read, write, cas) and kv
    (get, put, delete, cas, append), checked key by key; fail operations did not happen, info and unfinished
    ones may or may not have. Exit 0 linearizable, 1 not (with the smallest window of operations that cannot
    be linearized and the one that cannot be placed), 2 bad input (file:line), 3 unknown (the budget ran out:
    never a pass).

    \b
    Examples:
      raftzmq check                      # logs/latest
      raftzmq check logs/20261126-101500-ab12 --json
      raftzmq check collected --nodes 3  # logs gathered from three hosts, without their cluster.json
      raftzmq check collected --cluster cluster.toml
      raftzmq check runs/fig16           # every run a `bench failover` kept
      raftzmq check --history history.jsonl
      raftzmq check --history history.jsonl --model kv --budget 300 --json | jq .violation.window
      raftzmq check --history history.jsonl --html lin.html
    """
    if history is None:
        for name, value in (("--model", model), ("--budget", budget), ("--max-states", max_states),
                            ("--html", html_out)):
            if value is not None:
                fail(f"{name} is for --history FILE")
        sys.exit(_check_runs(run_dir_arg or run_dir, as_json, nodes, cluster_file))
    if run_dir_arg or run_dir:
        fail("give either a run directory or --history FILE, not both")
    if nodes is not None or cluster_file is not None:
        fail("--nodes and --cluster are for run directories, not --history FILE")
    sys.exit(_check_history(history, model, as_json, DEFAULT_BUDGET_S if budget is None else budget,
                            DEFAULT_MAX_STATES if max_states is None else max_states, html_out))


def _check_runs(run_dir: str | None, as_json: bool, nodes: int | None, cluster_file: str | None) -> int:
    """The safety check of every run the path stands for; the exit code of the worst verdict."""
    if cluster_file is not None:
        if nodes is not None:
            fail("give --nodes or --cluster, not both", as_json=as_json)
        try:
            nodes = load_cluster_file(cluster_file).config.nodes
        except ClusterFileError as exc:
            fail(str(exc), as_json=as_json)
    path = _run_path(run_dir)
    runs = _runs(path, as_json=as_json)
    results: list[tuple[Path, CheckResult]] = []
    histories: dict[Path, RunHistory] = {}
    for run in runs:
        try:
            results.append((run, check_run(run, cluster_size=nodes)))
        except (LogFormatError, OSError) as exc:
            fail(str(exc), as_json=as_json)
        history = run_history(run)  # a workload's history.jsonl in the run folder is judged with it
        if history is not None:
            histories[run] = history
    if as_json:
        def one(run: Path, res: CheckResult) -> dict[str, Any]:
            doc = res.to_dict()
            if run in histories:
                doc["history"] = histories[run].to_dict()
            return doc
        doc = one(*results[0]) if len(runs) == 1 else \
            {"runs": [{"run_dir": str(run), **one(run, res)} for run, res in results]}
        click.echo(json.dumps(doc, indent=2))
    else:
        for run, res in results:
            _heading(runs, run)
            click.echo(render_summary(res), nl=False)
            if run in histories:
                click.echo(histories[run].line())
        if len(runs) > 1:
            verdicts = [res.verdict for _, res in results]
            click.echo(f"{len(runs)} runs: " + ", ".join(f"{verdicts.count(v)} {v}" for v in
                                                         ("ok", "violation", "incomplete") if v in verdicts))
    codes = {exit_code(res) for _, res in results} | {_history_code(h) for h in histories.values()}
    return 1 if 1 in codes else 2 if 2 in codes else 3 if 3 in codes else 0


def _history_code(history: RunHistory) -> int:
    """A run's client history as an exit code: 1 not linearizable or an acknowledged write lost (workload.json),
    2 unreadable, 3 unknown (the checker's budget ran out), 0 linearizable."""
    if history.error is not None or history.result is None:
        return 2
    final = history.workload.get("final")
    if isinstance(final, dict) and final.get("lost"):
        return 1
    return {LINEARIZABLE: 0, NOT_LINEARIZABLE: 1}.get(history.result.verdict, 3)


def _check_history(path: str, model: str | None, as_json: bool, budget: float, max_states: int,
                   html_out: str | None) -> int:
    try:
        hist = read_history(path)
        result = check_history(hist, model, budget_s=budget, max_states=max_states)
    except HistoryError as exc:
        fail(str(exc))
    if html_out:
        try:
            write_lin_html(hist, result, html_out)
        except OSError as exc:
            fail(f"cannot write {html_out}: {exc.strerror or exc}")
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(render_text(result), nl=False)
    if html_out:
        click.echo(f"wrote {html_out}", err=as_json)
    return result.exit_code


@click.command()
@click.argument("run_dir_arg", metavar="[RUN_DIR]", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable figures.")
@click.option("--html", "as_html", is_flag=True,
              help="Write one self-contained interactive HTML page of the run instead (default RUN_DIR/report.html).")
@click.option("-o", "--output", metavar="FILE", help="Where to write the HTML page (with --html).")
@click.option("--run-dir", "run_dir", metavar="DIR", help=RUN_DIR_HELP)
def report(run_dir_arg: str | None, as_json: bool, as_html: bool, output: str | None, run_dir: str | None) -> None:
    """How the run recovered, computed from its logs: who led which term, and every failover with its cause
    (kill, pause, partition, step-down) and how long until a leader of a higher term took over. If records are
    missing (see `raftzmq check`), it says first what it could not see.

    With --html: one HTML file (no network needed) with a lane per node over time, terms and leaders, faults,
    partitions, votes, the checker's verdict linking to the violating records, and the failovers with their CDF;
    zoom with the wheel, pan by dragging, click for the records.

    A run with a client history (RUN_DIR/history.jsonl, from `raftzmq workload`) is checked for
    linearizability too: one line in the text report; with --html a section with the verdict, the availability
    per nemesis window and, for a violation, the smallest window drawn (operations per client on a time axis,
    the longest linearizable prefix, the operation that cannot be placed).

    \b
    Examples:
      raftzmq report
      raftzmq report logs/sim-17 --json | jq .summary
      raftzmq report --html                          # logs/latest/report.html
      raftzmq report logs/sim-17 --html -o sim17.html
    """
    path = _run_path(run_dir_arg or run_dir)
    if output and not as_html:
        fail("-o/--output is for --html")
    runs = _runs(path, output)
    if as_html:
        for run in runs:
            _html_report(run, output)
        return
    docs = []
    for run in runs:
        try:
            records = [loc.record for loc in read_run(run, on_warning=lambda message: None)]
            checked = check_run(run)
        except (LogFormatError, OSError) as exc:
            fail(str(exc))
        size = checked.cluster_size or 0
        history = run_history(run)
        if as_json:
            docs.append({"run_dir": str(run), "complete": checked.complete,
                         "incomplete": [g.to_dict() for g in checked.incomplete],
                         "summary": recovery_summary(records, size),
                         "failovers": [asdict(f) for f in failovers(records, size)],
                         "history": None if history is None else history.to_dict()})
        else:
            _heading(runs, run)
            click.echo(render_report(records, size, [g.message for g in checked.incomplete]), nl=False)
            if history is not None:
                click.echo(history.line())
    if as_json:
        click.echo(json.dumps(docs[0] if len(docs) == 1 else {"runs": docs}, indent=2))


def _html_report(path: Path, output: str | None) -> None:
    try:
        target = write_html_report(path, output)
    except (LogFormatError, OSError) as exc:
        fail(str(exc))
    click.echo(f"wrote {target}")


@click.command()
@click.argument("run_dir_arg", metavar="[RUN_DIR]", required=False)
@click.option("-o", "--output", metavar="FILE", help="Where to write the SVG (default: RUN_DIR/timeline.svg).")
@click.option("--width", type=click.IntRange(400, 20000), default=1200, show_default=True, help="Pixels.")
@click.option("--run-dir", "run_dir", metavar="DIR", help=RUN_DIR_HELP)
def timeline(run_dir_arg: str | None, output: str | None, width: int, run_dir: str | None) -> None:
    """Draw the run from its logs: a lane per node coloured by role over time, every fault marked and labelled,
    network states shaded, the checker's violations marked, and a legend. A static SVG for READMEs and papers
    (`raftzmq report --html` is the interactive view); hover in a browser for the full records.

    \b
    Examples:
      raftzmq timeline                       # logs/latest/timeline.svg
      raftzmq timeline logs/sim-17 -o sim17.svg --width 2400
    """
    path = _run_path(run_dir_arg or run_dir)
    for run in _runs(path, output):
        _timeline(run, output, width)


def _timeline(path: Path, output: str | None, width: int) -> None:
    try:
        torn: list[str] = []
        located = read_run(path, on_warning=torn.append)
        check = check_located(path, located, warnings=torn) if located else None
    except (LogFormatError, OSError) as exc:
        fail(str(exc))
    if not located:
        fail(f"{path}: no log records to draw")
    target = Path(output) if output else path / "timeline.svg"
    svg = render_svg([loc.record for loc in located], width=width, title=f"raftzmq run {path.resolve().name}",
                     wheres=[loc.where for loc in located], check=check)
    try:
        target.write_text(svg)
    except OSError as exc:
        hint = " (give a file name, not a directory)" if target.is_dir() else \
            "" if output else "; write it elsewhere with -o FILE"
        fail(f"cannot write {target}: {exc.strerror or exc}{hint}")
    click.echo(f"wrote {target}")
