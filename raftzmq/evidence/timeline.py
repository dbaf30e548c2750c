"""A static picture of a run for READMEs and papers, computed from its logs: one lane per node coloured by role
over time, every fault marked and labelled with its details, network states shaded, the checker's violations
marked, and a legend for every kind of mark. Plain SVG: no plotting library, and it says everything without hover
(hover titles add the full records).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from .checker import CheckResult
from .logview import LOG_STYLE, LogStep, LogView, build_log_view
from .runview import MARK_STYLE, ROLE_STYLE, SKEW_STYLE, Mark, RunView, Segment, build_view, role_segments

__all__ = ["Segment", "role_segments", "render_svg", "nice_ticks", "GROUP_COLORS"]

GROUP_COLORS = ("#1565c0", "#ef6c00", "#6a1b9a", "#2e7d32", "#ad1457", "#00838f")
_PARTITION_SHADE, _NET_SHADE = "#d81b60", "#6d4c41"
_LEFT, _RIGHT, _LANE_H, _LANE_GAP, _LABEL_ROWS, _LABEL_ROW_H = 70, 20, 22, 14, 3, 13
_MAX_LABEL_ROWS = 8  # rows of fault labels above the lanes; labels that fit in none are numbered notes below
_CHAR_W = 6.2  # average width of an 11 px sans-serif character, for fitting labels
_LOG_H, _LOG_TOP_GAP = 30, 22  # a node's log lane (below the role lanes, when the run replicates)


def nice_ticks(span_s: float, max_ticks: int = 10) -> list[float]:
    """Round tick positions (1, 2 or 5 times a power of ten) from 0 to span_s."""
    if span_s <= 0:
        return [0.0]
    raw = span_s / max_ticks
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [round(k * step, 9) for k in range(int(span_s / step + 1e-9) + 1)]


def _tick_text(t: float, step: float) -> str:
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{t:.{decimals}f}s"


class _Canvas:
    """Coordinates of one picture: time to x, node to lane y."""

    def __init__(self, view: RunView, width: int, label_rows: int = _LABEL_ROWS, logs: LogView | None = None) -> None:
        self.view, self.width = view, width
        self.plot_w = width - _LEFT - _RIGHT
        self.span = max(1, view.last_ns - view.first_ns)
        self.label_rows = label_rows
        self.net_y = 34 + label_rows * _LABEL_ROW_H
        self.top = self.net_y + 26
        self.row = {node: i for i, node in enumerate(view.nodes)}
        self.bottom = self.lanes_bottom = self.top + len(view.nodes) * (_LANE_H + _LANE_GAP)
        # The log lanes (one per node, the same order) sit below the role lanes, on the same time axis.
        self.logs = logs if logs is not None and not logs.empty else None
        self.log_top = self.bottom + _LOG_TOP_GAP
        if self.logs is not None:
            self.bottom = self.log_top + len(view.nodes) * (_LOG_H + _LANE_GAP)

    def log_y(self, node: int, index: int) -> float:
        """The y of log index `index` in `node`'s log lane: 0 at its bottom, the run's highest index at its top."""
        base = self.log_top + self.row.get(node, 0) * (_LOG_H + _LANE_GAP) + _LOG_H
        top = self.logs.max_index if self.logs is not None else 0
        return base - (index * (_LOG_H - 4) / top if top else 0.0)

    def x(self, ns: int) -> float:
        return _LEFT + (ns - self.view.first_ns) * self.plot_w / self.span

    def y(self, node: int) -> int:
        return self.top + self.row.get(node, 0) * (_LANE_H + _LANE_GAP)


def _defs() -> str:
    paused = ROLE_STYLE["paused"][0]
    return ('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ede7f6"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{paused}" stroke-width="3"/></pattern></defs>')


def _fill(state: str) -> str:
    return "url(#hatch)" if state == "paused" else ROLE_STYLE[state][0]


def _segment(c: _Canvas, node: int, seg: Segment, short_labels: dict[int, float]) -> str:
    """One state of one node; a leader's term as its label, inside or (short terms) above the lane.
    `short_labels[node]`: where the last label above that lane ends."""
    x0, x1, y = c.x(seg.start_ns), c.x(seg.end_ns), c.y(node)
    label = f"node {node}: {seg.state} (term {seg.term}) {(seg.end_ns - seg.start_ns) / 1e9:.3f}s"
    stroke = {"down": ' stroke="#e53935" stroke-dasharray="3,2"', "stopped": ' stroke="#9e9e9e"'}.get(seg.state, "")
    out = (f'<rect class="{seg.state}" x="{x0:.1f}" y="{y}" width="{max(0.5, x1 - x0):.1f}" height="{_LANE_H}" '
           f'fill="{_fill(seg.state)}"{stroke}><title>{escape(label)}</title></rect>')
    if seg.state == "leader":
        text = f"t{seg.term}"
        if x1 - x0 > len(text) * _CHAR_W + 4:
            out += f'<text class="term-label" x="{x0 + 3:.1f}" y="{y + 15}" fill="white">{text}</text>'
        elif (x0 + x1) / 2 - len(text) * 3.5 > short_labels.get(node, -1e9):  # above the lane, if there is room
            short_labels[node] = (x0 + x1) / 2 + len(text) * 3.5 + 2
            out += (f'<text class="term-label short" x="{(x0 + x1) / 2:.1f}" y="{y - 2}" '
                    f'font-size="10" text-anchor="middle" fill="#2e7d32">{text}</text>')
    return out


def _visible_segments(c: _Canvas, segments: list[Segment]) -> list[Segment]:
    """Leader segments and segments at least a pixel wide as they are; runs of narrower ones merged into one
    (the state that took most of their time), so a long run draws a picture and not thousands of hairlines."""
    out: list[Segment] = []
    bucket: list[Segment] = []

    def flush() -> None:
        if bucket:
            time_in: dict[str, int] = {}
            for seg in bucket:
                time_in[seg.state] = time_in.get(seg.state, 0) + seg.end_ns - seg.start_ns
            state = max(time_in, key=time_in.__getitem__)
            out.append(Segment(bucket[0].start_ns, bucket[-1].end_ns, state, None, bucket[0].index))
            bucket.clear()

    for seg in segments:
        if seg.state == "leader" or c.x(seg.end_ns) - c.x(seg.start_ns) >= 1:
            flush()
            out.append(seg)
            continue
        bucket.append(seg)
        if c.x(seg.end_ns) - c.x(bucket[0].start_ns) >= 2:
            flush()
    flush()
    return out


def _lanes(c: _Canvas) -> list[str]:
    parts: list[str] = []
    short: dict[int, float] = {}
    for node in c.view.nodes:
        parts.append(f'<text x="{_LEFT - 8}" y="{c.y(node) + 15}" text-anchor="end">node {node}</text>')
        parts += [_segment(c, node, seg, short) for seg in _visible_segments(c, c.view.lanes.get(node, []))]
    return parts


def _net(c: _Canvas) -> list[str]:
    parts = [f'<text x="{_LEFT - 8}" y="{c.net_y + 12}" text-anchor="end" font-size="11">network</text>']
    for span in c.view.net:
        x0, x1 = c.x(span.start_ns), c.x(span.end_ns)
        w = max(1.0, x1 - x0)
        label = span.label
        color = _PARTITION_SHADE if span.partitioned else _NET_SHADE
        parts.append(f'<rect class="net-span" x="{x0:.1f}" y="{c.net_y}" width="{w:.1f}" height="16" fill="{color}" '
                     f'fill-opacity="0.25"><title>{escape(label)}</title></rect>')
        if w > len(label) * _CHAR_W * 0.9:
            parts.append(f'<text x="{x0 + 2:.1f}" y="{c.net_y + 12}" font-size="10">{escape(label)}</text>')
        if span.partitioned:
            parts.append(f'<rect class="partition-band" x="{x0:.1f}" y="{c.top - 2}" width="{w:.1f}" '
                         f'height="{c.lanes_bottom - c.top}" fill="{_PARTITION_SHADE}" fill-opacity="0.07"/>')
            parts += _group_strips(c, span, x0, w)
    return parts


def _group_strips(c: _Canvas, span: Any, x0: float, w: float) -> list[str]:
    """A thin strip above each lane: the colour of its partition group, or the partition colour if one of its
    links is cut (without disjoint groups)."""
    out = []
    cut = {n for link in span.cuts for n in link}
    for node in c.view.nodes:
        g = span.group_of(node)
        if g is not None:
            color, cls, what = GROUP_COLORS[g % len(GROUP_COLORS)], "group-strip", f"group {g + 1}: {span.groups[g]}"
        elif node in cut:
            color, cls, what = _PARTITION_SHADE, "cut-strip", f"node {node} has cut links: {span.label}"
        else:
            continue
        out.append(f'<rect class="{cls}" x="{x0:.1f}" y="{c.y(node) - 4}" width="{w:.1f}" height="3" '
                   f'fill="{color}"><title>{escape(what)}</title></rect>')
    return out


class _Placed:
    """Where each mark's label goes: a row above the lanes (`rows`: mark, row, anchor, note numbers), or, when no
    row has room, a numbered note below the legend; its number joins the label placed last before it."""

    def __init__(self, c: _Canvas) -> None:
        self.rows: list[tuple[Mark, int, str, list[int]]] = []
        self.notes: list[Mark] = []
        row_end = [-1e9] * _MAX_LABEL_ROWS  # x where the last label in each row ends
        row_last: list[int | None] = [None] * _MAX_LABEL_ROWS  # index in self.rows of each row's last label
        used = 0
        for m in c.view.marks:
            spot = _row_for(row_end, c.x(m.at_ns), m.label, c.width)
            if spot is not None:
                row_last[spot[0]] = len(self.rows)
                self.rows.append((m, spot[0], spot[1], []))
                used = max(used, spot[0] + 1)
                continue
            self.notes.append(m)
            # its number goes with the label placed last (the crowd's neighbour); only that row grows by it
            row = self.rows[-1][1] if self.rows else 0
            last = row_last[row]
            if last is not None:
                held, _, anchor, refs = self.rows[last]
                refs.append(len(self.notes))
                if anchor == "start":
                    row_end[row] = c.x(held.at_ns) + len(held.label + _refs_text(refs)) * _CHAR_W + 6
        self.used_rows = max(_LABEL_ROWS, used)


def _refs_text(refs: list[int]) -> str:
    """Note numbers as " [1–5,9]" (ascending runs joined by a dash)."""
    if not refs:
        return ""
    runs: list[list[int]] = []
    for n in refs:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return " [" + ",".join(str(a) if a == b else f"{a}–{b}" for a, b in runs) + "]"


def _row_for(row_end: list[float], xf: float, text: str, width: int) -> tuple[int, str] | None:
    label_w = len(text) * _CHAR_W
    anchor = "end" if xf + label_w > width else "start"  # keep labels near the right edge inside
    start = xf - label_w if anchor == "end" else xf
    row = next((r for r in range(len(row_end)) if row_end[r] < start), None)
    if row is None:
        return None
    row_end[row] = start + label_w + 6
    return row, anchor


def _marks(c: _Canvas, placed: _Placed) -> list[str]:
    parts: list[str] = []
    last_x: dict[int, float] = {}
    for m in c.view.marks:
        color, xf = MARK_STYLE[m.kind][0], c.x(m.at_ns)
        if xf - last_x.get(m.node, -1e9) < 2:
            continue  # one line per node every 2 pixels (its label is still placed, or a numbered note)
        last_x[m.node] = xf
        y_from = c.net_y if m.node == 0 else c.y(m.node) - 4
        y_to = c.lanes_bottom if m.node == 0 else c.y(m.node) + _LANE_H + 4  # (not over the log lanes)
        parts.append(f'<line class="fault {m.kind}" x1="{xf:.1f}" y1="{y_from}" x2="{xf:.1f}" y2="{y_to}" '
                     f'stroke="{color}" stroke-width="2"><title>{escape(m.detail)}</title></line>')
    for m, row, anchor, refs in placed.rows:
        color, xf = MARK_STYLE[m.kind][0], c.x(m.at_ns)
        y = 34 + row * _LABEL_ROW_H + 10
        y_from = c.net_y if m.node == 0 else c.y(m.node) - 4
        ref = f'<tspan class="note-ref" fill="#424242">{_refs_text(refs)}</tspan>' if refs else ""
        parts.append(f'<text class="fault-label" x="{xf:.1f}" y="{y}" font-size="11" fill="{color}" '
                     f'text-anchor="{anchor}">{escape(m.label)}{ref}</text>')
        parts.append(f'<line x1="{xf:.1f}" y1="{y + 2}" x2="{xf:.1f}" y2="{y_from}" stroke="{color}" '
                     'stroke-width="0.6" stroke-dasharray="1,2"/>')
    return parts


def _notes(c: _Canvas, placed: _Placed, y0: int) -> tuple[list[str], int]:
    """The labels that fit above the lanes in no row, numbered as their marks, with their times."""
    if not placed.notes:
        return [], y0
    parts = [f'<text x="{_LEFT}" y="{y0 + 10}" font-size="11" font-weight="bold">labels of crowded marks '
             f'(their numbers follow the label above the lanes next to them):</text>']
    x, y = float(_LEFT), y0 + 18
    for k, m in enumerate(placed.notes, 1):
        text = f"[{k}] {(m.at_ns - c.view.first_ns) / 1e9:.3f}s {m.label}"
        w = len(text) * _CHAR_W + 14
        if x + w > c.width and x > _LEFT:
            x, y = _LEFT, y + 15
        parts.append(f'<text class="fault-label note" x="{x:.1f}" y="{y + 10}" font-size="11" '
                     f'fill="{MARK_STYLE[m.kind][0]}">{escape(text)}</text>')
        x += w
    return parts, y + 18


def _skews(c: _Canvas) -> list[str]:
    """A band at the bottom of a skewed node's lane while its timers run fast or slow, labelled with the factor."""
    parts: list[str] = []
    color = SKEW_STYLE[0]
    for s in c.view.skews:
        if s.node not in c.row:
            continue
        x0, x1, y = c.x(s.start_ns), c.x(s.end_ns), c.y(s.node)
        w = max(1.0, x1 - x0)
        title = f"node {s.node}: timers skewed {s.label} for {(s.end_ns - s.start_ns) / 1e9:.3f}s"
        parts.append(f'<rect class="skew-band" x="{x0:.1f}" y="{y + _LANE_H - 5}" width="{w:.1f}" height="5" '
                     f'fill="{color}" fill-opacity="0.8"><title>{escape(title)}</title></rect>')
        # the factor, inside the band's lane when there is room, else just after it (never left out)
        inside = w > len(s.label) * _CHAR_W + 4
        tx, anchor = (x1 - 2, "end") if inside else (x1 + 2, "start")
        parts.append(f'<text class="skew-label" x="{tx:.1f}" y="{y + _LANE_H - 7}" font-size="10" font-weight="bold" '
                     f'fill="{color}" text-anchor="{anchor}">{escape(s.label)}</text>')
    return parts


def _violations(c: _Canvas) -> list[str]:
    parts = []
    color = MARK_STYLE["violation"][0]
    for v in c.view.violations:
        if v.at_ns is None:
            continue
        xf, y = c.x(v.at_ns), c.y(v.node) if v.node in c.row else c.top
        text = f"({v.invariant}) {v.name}: {v.message}"
        parts.append(f'<g class="violation"><title>{escape(text)}</title>'
                     f'<line x1="{xf:.1f}" y1="{c.top}" x2="{xf:.1f}" y2="{c.bottom}" stroke="{color}" '
                     'stroke-width="2" stroke-dasharray="5,3"/>'
                     f'<path d="M{xf - 7:.1f},{y - 1} L{xf + 7:.1f},{y - 1} L{xf:.1f},{y + 11} Z" fill="{color}"/>'
                     f'<text x="{xf + 9:.1f}" y="{y + 10}" font-size="11" font-weight="bold" fill="{color}" stroke="white" stroke-width="3" paint-order="stroke">'
                     f'({v.invariant}) {escape(v.name)}</text></g>')
    return parts


def _step_points(c: _Canvas, node: int, steps: list[LogStep]) -> list[tuple[float, float]]:
    """A step function as polyline points (x, y) up to the end of the run; steps that land within a pixel of
    the previous point only move that point (a long run draws a line, not thousands of risers), so the last
    point is always at the last value."""
    pts: list[tuple[float, float]] = []
    for st in steps:
        x, y = c.x(st.at_ns), c.log_y(node, st.value)
        if pts and x - pts[-1][0] < 1.0:
            pts[-1] = (pts[-1][0], y)  # the same pixel column: the riser ends at the newest value
        elif not pts or y != pts[-1][1]:
            if pts:
                pts.append((x, pts[-1][1]))  # hold the previous value until this step
            pts.append((x, y))
    if pts:
        pts.append((c.x(c.view.last_ns), pts[-1][1]))
    return pts


def _path(pts: list[tuple[float, float]]) -> str:
    return "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)


def _log_lanes(c: _Canvas) -> list[str]:
    """Per node: its log's last index as an area, its commit index as a line with a tick at each commit_advanced,
    and the final values at the lane's right end."""
    logs = c.logs
    if logs is None:
        return []
    area_color, commit_color = LOG_STYLE["growth"][0], LOG_STYLE["commit"][0]
    parts = [f'<text class="log-title" x="{_LEFT}" y="{c.log_top - 8}" font-size="11" fill="#424242">log: last index '
             f'(area) and commit index (line, a dot per commit_advanced); scale 0 – {logs.max_index} on every lane'
             '</text>']
    for node in c.view.nodes:
        y0, y_top = c.log_y(node, 0), c.log_y(node, logs.max_index)
        parts.append(f'<text x="{_LEFT - 8}" y="{y0 - 9:.0f}" text-anchor="end">log {node}</text>')
        parts.append(f'<rect class="log-lane" data-node="{node}" data-y0="{y0:.1f}" data-ytop="{y_top:.1f}" '
                     f'data-max="{logs.max_index}" x="{_LEFT}" y="{y0 - _LOG_H:.1f}" width="{c.plot_w}" '
                     f'height="{_LOG_H}" fill="#fafafa" stroke="#e0e0e0"/>')
        grown = _step_points(c, node, logs.growth.get(node, []))
        if grown:
            area = _path([(grown[0][0], y0), *grown, (grown[-1][0], y0)]) + " Z"
            parts.append(f'<path class="log-area" d="{area}" fill="{area_color}" fill-opacity="0.55"/>')
            parts.append(f'<path class="log-growth" data-node="{node}" data-last="{logs.last(node)}" '
                         f'd="{_path(grown)}" fill="none" stroke="#1e88e5" stroke-width="1.2"/>')
        committed = _step_points(c, node, logs.commit_line.get(node, []))
        if committed:
            parts.append(f'<path class="commit-line" data-node="{node}" data-commit="{logs.commit(node)}" '
                         f'd="{_path(committed)}" fill="none" stroke="{commit_color}" stroke-width="1.6"/>')
        last_x = -1e9
        for m in logs.commits:
            if m.node != node:
                continue
            x = c.x(m.at_ns)
            if x - last_x < 1.5:
                continue  # one tick per node every 1.5 pixels (a busy run's commits form a comb, not a blot)
            last_x = x
            y = c.log_y(node, m.commit)
            t = (m.at_ns - c.view.first_ns) / 1e9
            parts.append(f'<g class="commit-mark" data-node="{node}" data-commit="{m.commit}" data-x="{x:.1f}">'
                         f'<title>node {node} commits up to index {m.commit} at {t:.3f}s</title>'
                         f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{commit_color}"/></g>')
        for r in logs.replaced:
            if r.node != node:
                continue
            x, t = c.x(r.at_ns), (r.at_ns - c.view.first_ns) / 1e9
            span = f"{r.first}" if r.first == r.old_last else f"{r.first}–{r.old_last}"
            parts.append(f'<g class="log-replaced" data-node="{node}" data-first="{r.first}" data-x="{x:.1f}">'
                         f'<title>node {node} replaced entries {span} at {t:.3f}s</title>'
                         f'<rect x="{x - 2:.1f}" y="{c.log_y(node, r.old_last):.1f}" width="4" '
                         f'height="{max(2.0, c.log_y(node, r.first - 1) - c.log_y(node, r.old_last)):.1f}" '
                         f'fill="{LOG_STYLE["replaced"][0]}"/></g>')
        text = f"last {logs.last(node)} · commit {logs.commit(node)}"
        parts.append(f'<text class="log-final" data-node="{node}" x="{_LEFT + c.plot_w}" y="{y0 - _LOG_H - 4:.1f}" '
                     f'font-size="10" text-anchor="end" fill="#0d47a1" stroke="white" stroke-width="3" '
                     f'paint-order="stroke">{text}</text>')
    return parts


def _axis(c: _Canvas) -> list[str]:
    seconds = c.span / 1e9
    ticks = nice_ticks(seconds)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    parts = [f'<line x1="{_LEFT}" y1="{c.bottom}" x2="{_LEFT + c.plot_w}" y2="{c.bottom}" stroke="#9e9e9e"/>']
    for t in ticks:
        xt = _LEFT + t * 1e9 * c.plot_w / c.span
        parts.append(f'<line x1="{xt:.1f}" y1="{c.bottom}" x2="{xt:.1f}" y2="{c.bottom + 4}" stroke="#9e9e9e"/>')
        parts.append(f'<text class="tick" x="{xt:.1f}" y="{c.bottom + 16}" text-anchor="middle">'
                     f'{_tick_text(t, step)}</text>')
    return parts


def _legend_items(logs: bool = False) -> list[tuple[str, str]]:
    """(swatch svg, text) for every kind of mark the picture can contain (the log lanes' only when drawn)."""
    items = [(f'<rect width="12" height="12" fill="{_fill(state)}" stroke="#9e9e9e"/>', text)
             for state, (_, text) in ROLE_STYLE.items()]
    items += [(f'<line x1="6" y1="0" x2="6" y2="12" stroke="{color}" stroke-width="2"/>', text)
              for kind, (color, text) in MARK_STYLE.items() if kind != "violation"]
    items += [(f'<rect width="12" height="12" fill="{_PARTITION_SHADE}" fill-opacity="0.25"/>',
               "network row: partition / cut links (strip above a lane: its group, or pink: a cut link)"),
              (f'<rect width="12" height="12" fill="{_NET_SHADE}" fill-opacity="0.25"/>', "network row: loss / delay"),
              (f'<rect y="7" width="12" height="5" fill="{SKEW_STYLE[0]}" fill-opacity="0.8"/>', SKEW_STYLE[1]),
              (f'<path d="M0,0 L12,0 L6,12 Z" fill="{MARK_STYLE["violation"][0]}"/>', MARK_STYLE["violation"][1]),
              ('<text x="0" y="10" font-size="10" fill="#2e7d32">t7</text>', "leader's term (above: a short term)")]
    if logs:
        items += [(f'<rect y="4" width="12" height="8" fill="{LOG_STYLE["growth"][0]}" stroke="#1e88e5"/>',
                   LOG_STYLE["growth"][1]),
                  (f'<path d="M0,9 L5,9 L5,4 L12,4" fill="none" stroke="{LOG_STYLE["commit"][0]}" stroke-width="1.6"/>'
                   f'<circle cx="5" cy="4" r="2.6" fill="{LOG_STYLE["commit"][0]}"/>', LOG_STYLE["commit"][1]),
                  (f'<rect x="4" y="1" width="4" height="10" fill="{LOG_STYLE["replaced"][0]}"/>',
                   LOG_STYLE["replaced"][1])]
    return items


def _legend(c: _Canvas, y0: int) -> tuple[list[str], int]:
    parts: list[str] = []
    x, y = float(_LEFT), y0
    for swatch, text in _legend_items(c.logs is not None):
        item_w = 18 + len(text) * _CHAR_W + 16
        if x + item_w > c.width and x > _LEFT:
            x, y = _LEFT, y + 18
        parts.append(f'<g class="legend" transform="translate({x},{y})">{swatch}'
                     f'<text x="18" y="10" font-size="11">{escape(text)}</text></g>')
        x += item_w
    return parts, y + 18


def _verdict_text(check: CheckResult) -> str:
    if check.violations:
        return f"{len(check.violations) + check.suppressed} VIOLATION(S), marked in red"
    return "INCOMPLETE evidence (records are missing): no verdict" if check.incomplete else "OK"


def render_svg(records: Sequence[dict[str, Any]], *, width: int = 1200, title: str = "",
               wheres: Sequence[str] | None = None, check: CheckResult | None = None) -> str:
    """The run as an SVG document (a string). Pass `wheres` ("file:line" per record) and `check` to mark the
    checker's violations on the records that broke an invariant."""
    view = build_view(records, wheres=wheres, check=check)
    placed = _Placed(_Canvas(view, width))  # label rows do not move x: place first, then size the canvas
    c = _Canvas(view, width, placed.used_rows, build_log_view(records))
    legend, after_legend = _legend(c, c.bottom + 30)
    notes, height = _notes(c, placed, after_legend + 4)
    verdict = "" if check is None else f" — checker: {_verdict_text(check)}"
    body = [f'<text x="{_LEFT}" y="20" font-size="14">{escape(title + verdict)}</text>', *_net(c), *_lanes(c),
            *_log_lanes(c), *_skews(c), *_marks(c, placed), *_violations(c), *_axis(c), *legend, *notes]
    return "\n".join([f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 4}" '
                      'font-family="sans-serif" font-size="12">', _defs(),
                      '<rect width="100%" height="100%" fill="white"/>', *body, "</svg>"]) + "\n"
