"""`raftzmq report --html`: one self-contained HTML file that shows a run interactively (lanes per node, terms and
leaders, faults, network states, votes, the checker's verdict, failovers and their CDF), with zoom and pan.

The page is the template, stylesheet and script in assets/ with the run's data inlined as JSON (in a
`<script type="application/json" id="run-data">`, which tests and tools can read back). Nothing is loaded from
the network. The data is the run view of runview.py, so it says exactly what the static SVG says.
A run with a client history (history.jsonl, from `raftzmq workload`) gets a section under the timeline: its
linearizability verdict and, for a violation, linview.py's picture of the window (evidence/runhistory.py).
"""
from __future__ import annotations

import errno
import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from .checker import CheckResult, check_located
from .linview import Band, lin_section
from .logfile import Located, LogFormatError, read_run
from .logview import LOG_STYLE, build_log_view
from .report import failovers, recovery_summary
from .runhistory import RunHistory, run_history
from .runview import MARK_STYLE, ROLE_STYLE, SKEW_STYLE, RunView, build_view, short_label

__all__ = ["REPORT_NAME", "DATA_VERSION", "report_data", "render_html", "history_section", "write_html_report",
           "existing_report", "read_report_data"]

REPORT_NAME = "report.html"
DATA_VERSION = 1
_DATA_TAG = '<script type="application/json" id="run-data">'


def _ms(view: RunView, ns: int) -> float:
    return round((ns - view.first_ns) / 1e6, 3)


def _lanes(view: RunView) -> dict[str, list[list[Any]]]:
    return {str(node): [[_ms(view, s.start_ns), _ms(view, s.end_ns), s.state, s.term, s.index] for s in segs]
            for node, segs in view.lanes.items()}


def _net(view: RunView) -> list[dict[str, Any]]:
    return [{"t0": _ms(view, s.start_ns), "t1": _ms(view, s.end_ns), "groups": s.groups, "views": s.views,
             "cuts": s.cuts, "loss": s.loss, "delay_ms": s.delay_ms, "jitter_ms": s.jitter_ms,
             "partitioned": s.partitioned, "label": s.label, "rec": s.index} for s in view.net]


def _violations(view: RunView) -> list[dict[str, Any]]:
    return [{"invariant": v.invariant, "name": v.name, "message": v.message, "where": list(v.where),
             "recs": list(v.indexes), "t": None if v.at_ns is None else _ms(view, v.at_ns), "node": v.node}
            for v in view.violations]


def _gaps(check: CheckResult, index_of: dict[str, int]) -> list[dict[str, Any]]:
    return [{**gap.to_dict(), "rec": index_of.get(gap.where, -1) if gap.where else -1} for gap in check.incomplete]


def _verdict(view: RunView, check: CheckResult, index_of: dict[str, int]) -> dict[str, Any]:
    return {"ok": check.ok, "verdict": check.verdict, "incomplete": _gaps(check, index_of),
            "violations": _violations(view), "suppressed": check.suppressed, "withheld": check.withheld,
            "cluster_size": check.cluster_size, "cluster_size_source": check.cluster_size_source,
            "warnings": check.warnings, "stats": {k: v for k, v in check.stats.items() if k != "leaders_per_term"}}


def _failovers(view: RunView, size: int) -> list[dict[str, Any]]:
    out = []
    for f in failovers(view.records, size):
        row = asdict(f)
        row["lost_ms"] = _ms(view, row.pop("lost_ns"))
        out.append(row)
    return out


def _logs(view: RunView) -> dict[str, Any] | None:
    """The log lanes (evidence/logview.py): per node its last index and commit index as steps [t, value, rec],
    every commit_advanced [t, node, commit, rec] and replaced suffix [t, node, first, old_last, rec]; None for
    a run without replication records (the page then draws no log lanes)."""
    logs = build_log_view(view.records)
    if logs.empty:
        return None
    def steps(lines: dict[int, Any]) -> dict[str, list[list[Any]]]:
        return {str(n): [[_ms(view, st.at_ns), st.value, st.index] for st in lines.get(n, [])] for n in view.nodes}
    return {"max_index": logs.max_index, "growth": steps(logs.growth), "commit_line": steps(logs.commit_line),
            "commits": [[_ms(view, m.at_ns), m.node, m.commit, m.index] for m in logs.commits],
            "replaced": [[_ms(view, r.at_ns), r.node, r.first, r.old_last, r.index] for r in logs.replaced],
            "style": LOG_STYLE}


def _records(located: Sequence[Located], files: dict[str, int], view: RunView) -> list[list[Any]]:
    return [[files.setdefault(loc.file, len(files)), loc.line, _ms(view, loc.record["mono_ns"]), loc.record]
            for loc in located]


def report_data(located: Sequence[Located], check: CheckResult, *, title: str,
                history: RunHistory | None = None) -> dict[str, Any]:
    """Everything the page shows, as JSON-able data. Times are milliseconds from the first record. `history`:
    the run's client history and its verdict (`history` in the data; null without one)."""
    records, wheres = [loc.record for loc in located], [loc.where for loc in located]
    view = build_view(records, wheres=wheres, check=check)
    size = check.cluster_size or len(view.nodes)
    files: dict[str, int] = {}
    rows = _records(located, files, view)
    return {
        "version": DATA_VERSION, "title": title, "first_ns": view.first_ns, "t_end_ms": _ms(view, view.last_ns),
        "nodes": view.nodes, "cluster_size": size,
        "style": {"roles": ROLE_STYLE, "marks": MARK_STYLE, "skew": SKEW_STYLE},
        "lanes": _lanes(view),
        "terms": [[_ms(view, t.start_ns), _ms(view, t.end_ns), t.term, list(t.leaders)] for t in view.terms],
        "marks": [{"t": _ms(view, m.at_ns), "kind": m.kind, "node": m.node, "label": m.label,
                   "short": short_label(m.label), "detail": m.detail, "rec": m.index} for m in view.marks],
        "skews": [{"t0": _ms(view, s.start_ns), "t1": _ms(view, s.end_ns), "node": s.node, "factor": s.factor,
                   "label": s.label, "rec": s.index} for s in view.skews],
        "net": _net(view),
        "votes": [[_ms(view, a.at_ns), a.kind, a.voter, a.candidate, a.term, a.granted, a.index]
                  for a in view.arrows],
        "verdict": _verdict(view, check, {w: i for i, w in enumerate(wheres)}),
        "failovers": _failovers(view, size),
        "logs": _logs(view),
        "summary": recovery_summary(records, size),
        "files": [Path(name).name for name in files],
        "records": rows,
        "history": history.to_dict(view.first_ns) if history is not None else None,
    }


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


def render_html(located: Sequence[Located], check: CheckResult, *, title: str,
                history: RunHistory | None = None) -> str:
    """The report page as one string: template + inline CSS + inline JS + the data as JSON (+ the section of
    the run's client history, when it has one)."""
    data = json.dumps(report_data(located, check, title=title, history=history), separators=(",", ":"),
                      allow_nan=False)
    data = data.replace("<", "\\u003c")  # no "</script>" or "<!--" can end the data block early
    page = _asset("report.html").replace("__TITLE__", escape(title))
    for key, value in (("/*CSS*/", _asset("report.css")), ("/*JS*/", _asset("report.js")), ("__DATA__", data)):
        page = page.replace(key, value, 1)  # once, and last the data, so no run can inject a placeholder
    if history is not None:  # after the placeholders, so nothing in a history can become one
        page = page.replace("<footer>", history_section(history) + "\n<footer>", 1)
    return page


def history_section(h: RunHistory) -> str:
    """The client history's verdict under the timeline: for a violation the smallest window that cannot be
    linearized, drawn (operations per process on a time axis, the longest linearizable prefix, the operation that
    cannot be placed), with the nemesis windows of workload.json behind it; the availability per window."""
    title = f"Client history {h.path.name}"
    if h.error is not None or h.history is None or h.result is None:
        return (f"<section id='history'><h2>{escape(title)}</h2><p class='banner bad'>It cannot be checked: "
                f"{escape(h.error or 'unreadable')}</p></section>")
    bands = [Band(int(w["start"] * 1e9), int(w["end"] * 1e9), str(w.get("label", "")))
             for w in h.windows if isinstance(w.get("start"), (int, float)) and isinstance(w.get("end"), (int, float))]
    return lin_section(h.history, h.result, title=title, note=_availability_table(h), bands=bands)


def _availability_table(h: RunHistory) -> str:
    rows = [r for r in h.workload.get("availability", []) if isinstance(r, dict) and r.get("scope") != "window"]
    if not rows:
        return ""
    def pct(v: Any) -> str:
        return "–" if not isinstance(v, (int, float)) else f"{100 * v:.1f}%"
    body = "".join(f"<tr><td>{escape(str(r.get('label')))}</td><td>{r.get('invoked')}</td>"
                   f"<td>{pct(r.get('fraction'))}</td><td>{pct(r.get('answered'))}</td></tr>" for r in rows)
    final = h.workload.get("final")
    lost = ""
    if isinstance(final, dict) and isinstance(final.get("lost"), list):
        lost = (f"<p class='note'>Final reads: {final.get('keys_read')} keys; acknowledged writes lost: "
                f"{len(final['lost'])}.</p>")
    return ("<p class='note'>Availability (raftzmq workload): of the operations invoked in each, the ok fraction "
            "and the answered fraction (ok or a definite fail).</p><table><tr><th>window</th><th>invoked</th>"
            f"<th>ok</th><th>answered</th></tr>{body}</table>{lost}")


def write_html_report(run_dir: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> Path:
    """Read and check the run, write its report (default RUN_DIR/report.html) and return the path.
    Raises LogFormatError/OSError like check_run for a run that cannot be read."""
    run = Path(run_dir)
    torn: list[str] = []
    located = read_run(run, on_warning=torn.append)
    if not located:
        raise LogFormatError(str(run), "no log records")
    check = check_located(run, located, warnings=torn)
    target = Path(output) if output is not None else run / REPORT_NAME
    _write_whole(target, render_html(located, check, title=f"raftzmq run {run.resolve().name}",
                                     history=run_history(run)))
    return target


def _write_whole(target: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader (a browser reloading) never sees half a page.
    OSErrors name `target`, never the temporary file."""
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory; give a file name", str(target))
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(target)) from None


def existing_report(run_dir: str | os.PathLike[str]) -> Path | None:
    """The run's HTML report at its default place, if one was written."""
    path = Path(run_dir) / REPORT_NAME
    return path if path.is_file() else None


def read_report_data(html: str) -> dict[str, Any]:
    """The data inlined in a report page (for tests and tools)."""
    start = html.index(_DATA_TAG) + len(_DATA_TAG)
    data: dict[str, Any] = json.loads(html[start:html.index("</script>", start)])
    return data
