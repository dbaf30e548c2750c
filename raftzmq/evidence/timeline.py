"""A picture of a run, computed from its logs: one lane per node, coloured by role over time, with the
supervisor's faults marked. Plain SVG, so it needs no plotting library and opens in any browser.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import Any

__all__ = ["Segment", "role_segments", "render_svg"]

_ROLE_OF = {"node_started": "follower", "became_follower": "follower", "became_precandidate": "precandidate",
            "became_candidate": "candidate", "became_leader": "leader"}
_DOWN = {"node_stopping", "node_failed"}
COLORS = {"follower": "#cfd8dc", "precandidate": "#ffe082", "candidate": "#ffb74d", "leader": "#43a047",
          "paused": "#7e57c2", "down": "#ffffff"}
_FAULTS = {"node_killed": "#e53935", "node_paused": "#7e57c2", "node_resumed": "#7e57c2", "partition": "#d81b60",
           "heal": "#00897b", "net_changed": "#6d4c41", "transfer_requested": "#1e88e5"}


@dataclass(frozen=True, slots=True)
class Segment:
    start_ns: int
    end_ns: int
    state: str  # a role, "paused" or "down"
    term: int | None


def role_segments(records: Iterable[dict[str, Any]]) -> tuple[dict[int, list[Segment]], int, int]:
    """Per node, the time it spent in each state; records merged by mono_ns. Also (first_ns, last_ns)."""
    current: dict[int, tuple[int, str, int | None]] = {}  # node -> (since, state, term)
    resume_to: dict[int, tuple[str, int | None]] = {}
    out: dict[int, list[Segment]] = {}
    first = last = None

    def switch(node: int, at: int, state: str, term: int | None) -> None:
        if node in current:
            since, old, old_term = current[node]
            if (old, old_term) == (state, term):
                return
            if at > since:
                out.setdefault(node, []).append(Segment(since, at, old, old_term))
        current[node] = (at, state, term)

    for rec in records:
        at, event, node = rec["mono_ns"], rec["event"], rec["node"]
        first = at if first is None else first
        last = at
        if rec["by"] == "node":
            if event in _ROLE_OF:
                switch(node, at, _ROLE_OF[event], rec["term"])
            elif event in _DOWN:
                switch(node, at, "down", rec["term"])
        elif node:  # supervisor records about one node
            term = current.get(node, (0, "", None))[2]
            if event == "node_killed" and rec.get("signal") in ("SIGKILL", 9):
                switch(node, at, "down", term)
            elif event == "node_exited":
                switch(node, at, "down", term)
            elif event == "node_paused" and node in current:
                resume_to[node] = current[node][1:]
                switch(node, at, "paused", term)
            elif event == "node_resumed" and node in resume_to:
                switch(node, at, *resume_to.pop(node))
    for node, (since, state, term) in current.items():
        if last is not None and last > since:
            out.setdefault(node, []).append(Segment(since, last, state, term))
    return out, first or 0, last or 0


def render_svg(records: list[dict[str, Any]], *, width: int = 1200, title: str = "") -> str:
    """The run as an SVG document (a string)."""
    lanes, first, last = role_segments(records)
    nodes = sorted(lanes)
    left, top, lane_h, gap = 70, 40, 22, 6
    plot_w = width - left - 20
    height = top + len(nodes) * (lane_h + gap) + 60
    span = max(1, last - first)
    def x(ns: int) -> float:
        return left + (ns - first) * plot_w / span

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             '<rect width="100%" height="100%" fill="white"/>',
             f'<text x="{left}" y="20" font-size="14">{escape(title)}</text>']
    for i, node in enumerate(nodes):
        y = top + i * (lane_h + gap)
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">node {node}</text>')
        for seg in lanes[node]:
            x0, x1 = x(seg.start_ns), x(seg.end_ns)
            label = f"node {node}: {seg.state} (term {seg.term}) {(seg.end_ns - seg.start_ns) / 1e9:.3f}s"
            stroke = ' stroke="#9e9e9e" stroke-dasharray="3,2"' if seg.state == "down" else ""
            parts.append(f'<rect class="{seg.state}" x="{x0:.1f}" y="{y}" width="{max(0.5, x1 - x0):.1f}" '
                         f'height="{lane_h}" fill="{COLORS[seg.state]}"{stroke}><title>{escape(label)}</title></rect>')
            if seg.state == "leader" and x1 - x0 > 24:
                parts.append(f'<text x="{x0 + 3:.1f}" y="{y + 15}" fill="white">t{seg.term}</text>')
    bottom = top + len(nodes) * (lane_h + gap)
    for rec in records:
        color = _FAULTS.get(rec["event"])
        if rec["by"] != "supervisor" or color is None:
            continue
        xf = x(rec["mono_ns"])
        what = rec["event"] + (f" node {rec['node']}" if rec["node"] else "")
        parts.append(f'<line class="fault" x1="{xf:.1f}" y1="{top - 6}" x2="{xf:.1f}" y2="{bottom}" '
                     f'stroke="{color}" stroke-width="1.5"><title>{escape(what)}</title></line>')
    seconds = span / 1e9
    for k in range(11):
        xt = left + k * plot_w / 10
        parts.append(f'<text x="{xt:.1f}" y="{bottom + 16}" text-anchor="middle">{k * seconds / 10:.2f}s</text>')
    legend_x = left
    for name, color in COLORS.items():
        parts.append(f'<rect x="{legend_x}" y="{bottom + 28}" width="12" height="12" fill="{color}" '
                     'stroke="#9e9e9e"/>')
        parts.append(f'<text x="{legend_x + 16}" y="{bottom + 38}">{name}</text>')
        legend_x += 110
    parts.append(f'<text x="{legend_x}" y="{bottom + 38}">| lines: faults (hover for details)</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
