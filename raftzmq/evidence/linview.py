"""`raftzmq check --history FILE --html OUT`: the verdict as one self-contained HTML page (inline SVG and CSS,
nothing loaded from the network).

The picture: one lane per process, each operation a bar from its invoke to its completion on a time axis (ns
from the first event, or the event number when the history has no times). For a violation it shows the key
that cannot be linearized around its window: the longest linearizable prefix shaded green up to the return of
the operation that cannot be placed (red), the other operations of the window in orange, timed-out
operations open to the right edge (hatched), failed ones dashed (they did not happen). Hover a bar for its
lines. The result as JSON sits in `<script type="application/json" id="lincheck-data">`.

`lin_section` gives the same verdict, window and picture as one `<section id="history">` (its CSS scoped to it,
its SVG ids prefixed) for `raftzmq report --html` to put under a run's timeline, with the nemesis windows of
`raftzmq workload --nemesis` as bands behind the operations (Band: start and end ns on the history's clock).
"""
from __future__ import annotations

import errno
import json
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any, NamedTuple

from .history import History, Operation, key_text
from .lincheck import LINEARIZABLE, NOT_LINEARIZABLE, LinResult

__all__ = ["render_lin_html", "write_lin_html", "read_lin_data", "lin_section", "Band", "MAX_BARS"]

MAX_BARS = 400  # operations drawn at most (the rest is summarised)
_DATA_TAG = '<script type="application/json" id="lincheck-data">'
_WIDTH = 1180
_LEFT = 96  # lane labels
_RIGHT = 24
_LANE = 30
_BAR = 20
_TOP = 58  # room for the prefix label above the lanes
_AXIS = 44

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2937;background:#fff}
h1{font-size:20px;margin:0 0 4px} .sub{color:#4b5563;margin:0 0 16px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff;font-size:14px}
.ok{background:#15803d}.bad{background:#b91c1c}.unknown{background:#6b7280}
.box{border:1px solid #e5e7eb;border-radius:8px;padding:12px 16px;margin:12px 0;max-width:1140px}
.box.bad{background:#fef2f2;border-color:#fecaca;color:#1f2937}
table{border-collapse:collapse;margin-top:6px} td,th{padding:3px 10px;text-align:left;font-size:13px}
th{color:#6b7280;font-weight:600} tr.culprit td{color:#b91c1c;font-weight:600}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,monospace}
.legend span{display:inline-block;margin-right:16px;font-size:13px}
.sw{display:inline-block;width:22px;height:12px;border-radius:3px;vertical-align:-1px;margin-right:5px}
svg text{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.note{color:#6b7280;font-size:13px}
"""

_FILL = {"culprit": "#dc2626", "window": "#f59e0b", "other": "#cbd5e1", "fail": "#ffffff"}
_STROKE = {"culprit": "#7f1d1d", "window": "#92400e", "other": "#64748b", "fail": "#9ca3af"}
_KEY_COLORS = ["#93c5fd", "#a7f3d0", "#fde68a", "#f9a8d4", "#c4b5fd", "#fdba74", "#99f6e4", "#d9f99d"]


class Band(NamedTuple):
    """A stretch of time drawn behind the lanes (a nemesis window): ns on the history's clock."""
    start: int
    end: int
    label: str


def _scoped(css: str, scope: str) -> str:
    """`css` with every selector inside `scope` (body becomes the scope itself)."""
    out = []
    for rule in css.strip().split("}"):
        if "{" not in rule:
            continue
        selectors, body = rule.split("{", 1)
        sel = ",".join(scope if x.strip() == "body" else f"{scope} {x.strip()}" for x in selectors.split(","))
        out.append(f"{sel.strip()}{{{body}}}")
    return "\n".join(out)


def _x_of(history: History) -> tuple[Any, Any, str]:
    """(start of an operation, end of it (None: open), axis unit) in the history's own clock."""
    if history.timed:
        return (lambda op: op.call_time, lambda op: op.ret_time if op.ret_time is not None else None, "ms")
    return (lambda op: op.call, lambda op: op.done, "event")


def _label(op: Operation) -> str:
    text = op.describe()
    text = text.split(" ", 1)[1]  # the lane says the process
    return text[: -len(" ok")] if text.endswith(" ok") else text


def _pick(history: History, result: LinResult) -> tuple[list[Operation], str, float | None, float | None]:
    """The operations to draw, a caption, and the x range (None: all)."""
    start, stop, _ = _x_of(history)
    w = result.window
    if w is None:
        ops = list(history.operations[:MAX_BARS])
        more = len(history.operations) - len(ops)
        caption = "all operations" if not more else f"the first {len(ops)} operations ({more} more not drawn)"
        return ops, caption, None, None
    key = key_text(w.key)
    same = [op for op in history.operations if key_text(op.key) == key]
    lo = min(start(op) for op in w.operations)
    hi = stop(w.culprit)
    span = max(hi - lo, 1)
    first = min(start(op) for op in history.operations)
    lo_v, hi_v = max(lo - 0.25 * span, first), hi + 0.12 * span
    near = [op for op in same if start(op) <= hi_v and (stop(op) is None or stop(op) >= lo_v)]
    must = {op.index for op in w.operations}
    if len(near) > MAX_BARS:  # keep the window, then the closest others
        others = sorted((op for op in near if op.index not in must), key=lambda op: abs(start(op) - hi))
        near = sorted([*w.operations, *others[: MAX_BARS - len(must)]], key=lambda op: op.index)
    name = "" if w.key is None else f" of key {json.dumps(w.key)}"
    caption = f"the operations{name} around the window ({len(near)} of {len(same)})"
    return near, caption, lo_v, hi_v


def _svg(history: History, result: LinResult, ops: Sequence[Operation], lo_v: float | None,
         hi_v: float | None, ids: str = "", bands: Sequence[Band] = ()) -> str:
    start, stop, unit = _x_of(history)
    if not ops:
        return ""
    t_first = min(start(op) for op in history.operations)
    lo = lo_v if lo_v is not None else min(start(op) for op in ops)
    ends = [stop(op) for op in ops if stop(op) is not None]
    hi = hi_v if hi_v is not None else max([*ends, *(start(op) for op in ops)])
    hi = max(hi, lo + 1)
    procs = sorted({op.process for op in ops}, key=lambda p: (isinstance(p, str), p))
    lane = {p: i for i, p in enumerate(procs)}
    plot_w = _WIDTH - _LEFT - _RIGHT
    top = _TOP if result.window is not None else 12
    height = top + len(procs) * _LANE + _AXIS

    def x(v: float) -> float:
        return _LEFT + (v - lo) / (hi - lo) * plot_w

    def clampx(v: float) -> float:
        return min(max(x(v), _LEFT), _LEFT + plot_w)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" '
           f'viewBox="0 0 {_WIDTH} {height}" role="img">',
           '<defs><pattern id="{3}hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e5e7eb"/>'
           '<line x1="0" y1="0" x2="0" y2="6" stroke="#9ca3af" stroke-width="2"/></pattern>'
           '<clipPath id="{3}plot"><rect x="{0}" y="0" width="{1}" height="{2}"/></clipPath></defs>'
           .format(_LEFT, plot_w, height, ids)]
    w = result.window
    lanes_h = len(procs) * _LANE
    if history.timed:  # nemesis windows behind everything, where they meet the drawn range
        for band in bands:
            if band.end <= lo or band.start >= hi:
                continue
            bx0, bx1 = clampx(band.start), clampx(band.end)
            out.append(f'<g><title>{escape(band.label)}</title><rect x="{bx0:.1f}" y="{top - 4}" '
                       f'width="{max(bx1 - bx0, 1.5):.1f}" height="{lanes_h + 4}" fill="#ede9fe" '
                       f'stroke="#a78bfa" stroke-dasharray="3 3" opacity="0.7"/></g>')
    if w is not None:  # the longest linearizable prefix, and where it ends
        cut = clampx(stop(w.culprit))
        out.append(f'<rect x="{_LEFT}" y="{top - 8}" width="{cut - _LEFT:.1f}" height="{lanes_h + 8}" '
                   f'fill="#dcfce7" opacity="0.75"/>')
        out.append(f'<text x="{_LEFT + 6}" y="{top - 14}" fill="#166534" font-weight="600">'
                   f'← longest linearizable prefix (everything before this line)</text>')
        out.append(f'<line x1="{cut:.1f}" y1="{top - 30}" x2="{cut:.1f}" y2="{top + lanes_h}" stroke="#b91c1c" '
                   f'stroke-width="2"/>')
        note = f"{_label(w.culprit)} returned here and cannot be placed"
        anchor, tx = ("end", cut - 6) if cut > _LEFT + plot_w / 2 else ("start", cut + 6)
        out.append(f'<text x="{tx:.1f}" y="{top - 34}" fill="#b91c1c" font-weight="700" '
                   f'text-anchor="{anchor}">{escape(note)}</text>')
    for i, p in enumerate(procs):
        y = top + i * _LANE
        if i % 2:
            out.append(f'<rect x="{_LEFT}" y="{y}" width="{plot_w}" height="{_LANE}" fill="#f8fafc" opacity="0.6"/>')
        out.append(f'<text x="{_LEFT - 10}" y="{y + _LANE / 2 + 4}" text-anchor="end" fill="#374151">'
                   f'process {escape(str(p))}</text>')
    window_ids = {op.index for op in w.operations} if w else set()
    keys = sorted({key_text(op.key) for op in ops})
    key_color = {k: _KEY_COLORS[i % len(_KEY_COLORS)] for i, k in enumerate(keys)}
    out.append(f'<g clip-path="url(#{ids}plot)">')
    labels = []
    for op in ops:
        role = ("culprit" if w and op.index == w.culprit.index else "window" if op.index in window_ids
                else "fail" if op.status == "fail" else "other")
        yb = top + lane[op.process] * _LANE + (_LANE - _BAR) / 2
        x0 = x(start(op))
        end = stop(op)
        open_end = op.indefinite
        x1 = x(end) if end is not None else _LEFT + plot_w + 10
        x1 = max(x1, x0 + 3)
        fill = _FILL[role]
        if role == "other" and w is None and len(keys) > 1:
            fill = key_color[key_text(op.key)]
        where = f"line {op.line}" + (f"–{op.ret_line}" if op.ret_line else "")
        tip = f"{op.describe()} ({where})"
        if open_end:
            tip += ": indefinite, may or may not have taken effect, open until the end"
        elif op.status == "fail":
            tip += ": failed, did not happen (ignored)"
        dash = ' stroke-dasharray="4 3"' if op.status == "fail" else ""
        width = 2.5 if role in ("culprit", "window") else 1
        out.append(f'<g><title>{escape(tip)}</title>')
        if open_end:  # solid until the client gave up, hatched after: it may take effect any time later
            solid = x(end) if end is not None else x0 + 3
            solid = max(solid, x0 + 3)
            out.append(f'<rect x="{x0:.1f}" y="{yb:.1f}" width="{_LEFT + plot_w + 10 - x0:.1f}" height="{_BAR}" '
                       f'rx="3" fill="url(#{ids}hatch)" stroke="{_STROKE[role]}" stroke-width="{width}" '
                       f'stroke-dasharray="6 3"/>')
            out.append(f'<rect x="{x0:.1f}" y="{yb:.1f}" width="{solid - x0:.1f}" height="{_BAR}" rx="3" '
                       f'fill="{fill}" stroke="{_STROKE[role]}" stroke-width="{width}"/>')
        else:
            out.append(f'<rect x="{x0:.1f}" y="{yb:.1f}" width="{x1 - x0:.1f}" height="{_BAR}" rx="3" '
                       f'fill="{fill}" stroke="{_STROKE[role]}" stroke-width="{width}"{dash}/>')
        out.append("</g>")
        text = _label(op)
        fits = (x1 - x0) >= 7.3 * len(text) + 8
        if fits or role in ("culprit", "window"):
            color = "#ffffff" if role == "culprit" and fits else "#111827"
            weight = ' font-weight="700"' if role in ("culprit", "window") else ""
            halo = "" if fits else ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'
            tx = max(x0, _LEFT) + 5 if fits else min(x1, _LEFT + plot_w) + 5
            anchor = ""
            if not fits and tx + 7.3 * len(text) > _LEFT + plot_w:  # no room on the right: before the bar
                tx, anchor = max(x0, _LEFT) - 5, ' text-anchor="end"'
            labels.append(f'<text x="{tx:.1f}" y="{yb + _BAR / 2 + 4:.1f}" fill="{color}"{weight}{anchor}'
                          f'{halo} pointer-events="none">{escape(text)}</text>')
    out.extend(labels)
    out.append("</g>")
    # axis
    ya = top + lanes_h + 8
    out.append(f'<line x1="{_LEFT}" y1="{ya}" x2="{_LEFT + plot_w}" y2="{ya}" stroke="#6b7280"/>')
    for k in range(7):
        v = lo + (hi - lo) * k / 6
        xv = x(v)
        label = f"{(v - t_first) / 1e6:.3f} ms" if unit == "ms" else f"event {round(v)}"
        anchor = "start" if k == 0 else "end" if k == 6 else "middle"
        out.append(f'<line x1="{xv:.1f}" y1="{ya}" x2="{xv:.1f}" y2="{ya + 5}" stroke="#6b7280"/>')
        out.append(f'<text x="{xv:.1f}" y="{ya + 19}" text-anchor="{anchor}" fill="#4b5563">{label}</text>')
    axis = "time since the first event" if unit == "ms" else "history order (no times in the file)"
    out.append(f'<text x="{_LEFT + plot_w / 2}" y="{ya + 36}" text-anchor="middle" fill="#6b7280">{axis}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _where(op: Operation) -> str:
    return f"{op.line}" + (f"–{op.ret_line}" if op.ret_line else "")


def _fragment(history: History, result: LinResult, ids: str = "", bands: Sequence[Band] = ()) -> list[str]:
    """The page's body after its heading: counts, the unknown or violation box, the legend and the picture."""
    ops, caption, lo_v, hi_v = _pick(history, result)
    verdict = result.verdict
    nkeys = len(result.keys) + len(result.unchecked_keys)
    parts = [f"<p class='sub'>model <b>{escape(result.model)}</b> · {result.operations} operations on {nkeys} "
             f"key{'s' if nkeys != 1 else ''} · {result.failed} failed (ignored) · {result.indefinite} "
             f"indefinite · checked in {result.seconds:.2f} s</p>"]
    if verdict == "unknown":
        parts.append(f"<div class='box'>No verdict: {escape(result.reason or '')}. This is not a pass; give a "
                     f"larger <code>--budget</code> or <code>--max-states</code>.</div>")
    w = result.window
    if w is not None:
        rows = []
        for op in w.operations:
            cls_row = " class='culprit'" if op.index == w.culprit.index else ""
            note = "cannot be placed" if op.index == w.culprit.index else ""
            rows.append(f"<tr{cls_row}><td>{escape(_where(op))}</td><td>{escape(str(op.process))}</td>"
                        f"<td><code>{escape(op.describe().split(' ', 1)[1])}</code></td><td>{note}</td></tr>")
        order = w.linearization[-8:]
        shown = " → ".join(escape(o.describe().rsplit(" ", 1)[0]) for o in order)
        more = "… → " if len(w.linearization) > 8 else ""
        key = "" if w.key is None else f" of key <code>{escape(json.dumps(w.key))}</code>"
        parts.append(
            f"<div class='box bad'><b>{escape(w.culprit.describe())}</b> (lines {escape(_where(w.culprit))}) "
            f"cannot be placed: no order of the operations{key} invoked before its return is legal.<br>"
            f"{'Smallest' if w.minimal else 'A small (budget ran out before it was minimal)'} window that cannot "
            f"be linearized, {len(w.operations)} operations:"
            f"<table><tr><th>lines</th><th>process</th><th>operation</th><th></th></tr>{''.join(rows)}</table>"
            f"<p class='note'>Longest linearizable prefix{key}: everything before line {w.culprit.ret_line}. "
            f"One legal order of it{' (its end)' if more else ''}: {more}{shown or '(empty)'}</p></div>")
    parts.append(f"<p class='note'>Drawn: {escape(caption)}. Hover a bar for its lines.</p>")
    legend = [("culprit", "cannot be placed"), ("window", "rest of the window"), ("other", "other operations")]
    keys = sorted({key_text(op.key) for op in ops})
    by_key = w is None and len(keys) > 1
    parts.append("<div class='legend'>" + "".join(
        f"<span><i class='sw' style='background:{_FILL[r]};border:1px solid {_STROKE[r]}'></i>{t}</span>"
        for r, t in (legend if w else [] if by_key else legend[2:])) +
        ("".join(f"<span><i class='sw' style='background:{_KEY_COLORS[i % len(_KEY_COLORS)]};border:1px solid "
                 f"#64748b'></i>key {escape(k)}</span>" for i, k in enumerate(keys[:len(_KEY_COLORS)]))
         + (f"<span>(colours repeat every {len(_KEY_COLORS)} keys)</span>" if len(keys) > len(_KEY_COLORS) else "")
         if by_key else "") +
        "<span><i class='sw' style='background:repeating-linear-gradient(45deg,#e5e7eb 0 3px,#9ca3af 3px 5px)'>"
        "</i>indefinite (info / no reply): open until the end</span>"
        "<span><i class='sw' style='border:1px dashed #9ca3af'></i>failed: did not happen</span>" +
        ("<span><i class='sw' style='background:#dcfce7'></i>longest linearizable prefix</span>" if w else "") +
        "</div>")
    if bands and history.timed:
        parts.append("<div class='legend'><span><i class='sw' style='background:#ede9fe;border:1px dashed "
                     "#a78bfa'></i>a nemesis window (hover for which)</span></div>")
    parts.append(_svg(history, result, ops, lo_v, hi_v, ids, bands))
    return parts


def _badge(verdict: str) -> str:
    cls = "ok" if verdict == LINEARIZABLE else "bad" if verdict == NOT_LINEARIZABLE else "unknown"
    return f"<span class='badge {cls}'>{escape(verdict)}</span>"


def render_lin_html(history: History, result: LinResult) -> str:
    title = f"raftzmq check — {Path(history.name).name}"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{escape(title)} {_badge(result.verdict)}</h1>", *_fragment(history, result)]
    data = json.dumps(result.to_dict(), separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    parts.append(f"{_DATA_TAG}{data}</script></body></html>\n")
    return "\n".join(parts)


def lin_section(history: History, result: LinResult, *, title: str, note: str = "",
                bands: Sequence[Band] = ()) -> str:
    """The verdict and picture as one self-contained `<section id="history">` for another page. `note`: HTML
    put under the heading (the caller escapes it)."""
    css = _scoped(_CSS, "#history") + "\n#history{margin:24px 0}"  # the host page's margins, not a page's
    return "\n".join([f"<section id='history' class='lin'><style>{css}</style>",
                      f"<h2>{escape(title)} {_badge(result.verdict)}</h2>", note,
                      *_fragment(history, result, "lin-", bands), "</section>"])


def write_lin_html(history: History, result: LinResult, target: str | os.PathLike[str]) -> Path:
    """Write the page through a temporary file and a rename; OSErrors name the target."""
    path = Path(target)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory; give a file name", str(path))
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(render_lin_html(history, result), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    return path


def read_lin_data(html: str) -> dict[str, Any]:
    """The result inlined in a page (for tests and tools)."""
    start = html.index(_DATA_TAG) + len(_DATA_TAG)
    data: dict[str, Any] = json.loads(html[start:html.index("</script>", start)])
    return data
