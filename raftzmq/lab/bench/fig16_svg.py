"""The CDF plot of Figure 16 as hand-written SVG: one panel per timeout range, x = time without a leader (ms, log
scale), y = cumulative share of trials; one curve per source (paper, model, simulator, real processes), or per
run and source when several runs are compared (`bench failover --from A --from B`).

Each curve is a <path> with `data-source`, `data-range` and `data-values` (the sorted downtimes it draws, ms), so
a reader (and the test) can check the picture against the logs it came from.
"""
from __future__ import annotations

import math
from html import escape

__all__ = ["SOURCES", "Style", "compare_styles", "render_cdf_svg"]

Style = tuple[str, str, str]  # stroke colour, dash pattern ("" = solid), legend text
# One curve per key of a panel's series, drawn in this order (paper first, from its own points).
SOURCES: dict[str, Style] = {"paper": ("#888888", "6,3", "paper (LogCabin, 1000 trials)"),
                             "model": ("#2c7bb6", "2,2", "model (Monte Carlo)"),
                             "sim": ("#1a9641", "", "simulator"), "real": ("#d7191c", "", "real processes")}
_RUN_COLORS = ("#d7191c", "#7b3294", "#e66101", "#008837", "#0571b0")
_PANEL_W, _PANEL_H, _MARGIN, _COLS = 330, 210, 44, 3
_LEGEND_ROW = 16


def compare_styles(runs: list[str]) -> dict[str, Style]:
    """Styles for several runs on one chart: the paper and the model as usual, then per run (by name) its real
    curve solid and its simulated one dashed, in one colour per run; series keys are "real <name>", "sim <name>"."""
    styles = {k: SOURCES[k] for k in ("paper", "model")}
    for i, name in enumerate(runs):
        color = _RUN_COLORS[i % len(_RUN_COLORS)]
        styles[f"real {name}"] = (color, "", f"real, {name}")
        styles[f"sim {name}"] = (color, "5,2", f"simulator, {name}")
    return styles


def _ticks(lo: float, hi: float) -> list[float]:
    out = []
    for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        out += [m * 10 ** k for m in (1, 2, 5) if lo <= m * 10 ** k <= hi]
    return out


class _Panel:
    def __init__(self, x0: float, y0: float, lo: float, hi: float) -> None:
        self.x0, self.y0 = x0 + _MARGIN, y0 + 20
        self.w, self.h = _PANEL_W - _MARGIN - 10, _PANEL_H - 20 - 34
        self.llo, self.lhi = math.log10(lo), math.log10(hi)

    def x(self, ms: float) -> float:
        return self.x0 + self.w * (math.log10(ms) - self.llo) / (self.lhi - self.llo)

    def y(self, share: float) -> float:
        return self.y0 + self.h * (1.0 - share)


def _line(panel: _Panel, pts: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{panel.x(ms):.1f},{panel.y(s):.1f}" for i, (ms, s) in enumerate(pts))


def _steps(panel: _Panel, values: list[float]) -> str:
    """The empirical CDF: a step up by 1/n at each value (H to the value's x, V to the new share)."""
    n = len(values)
    parts = [f"M{panel.x(values[0]):.1f},{panel.y(0.0):.1f}"]
    for i, v in enumerate(values):
        parts.append(f"H{panel.x(v):.1f}V{panel.y((i + 1) / n):.1f}")
    return "".join(parts)


def _dash(style: Style) -> str:
    return f' stroke-dasharray="{style[1]}"' if style[1] else ""


def _path(d: str, source: str, style: Style, label: str, values: list[float]) -> str:
    data = " ".join(f"{v:g}" for v in values)
    return (f'<path d="{d}" fill="none" stroke="{style[0]}" stroke-width="1.4"{_dash(style)} '
            f'data-source="{escape(source)}" data-range="{label}" data-values="{data}"/>')


def _axes(panel: _Panel, lo: float, hi: float, title: str) -> list[str]:
    out = [f'<text x="{panel.x0 + panel.w / 2:.1f}" y="{panel.y0 - 6:.1f}" text-anchor="middle" '
           f'font-weight="bold">{escape(title)}</text>',
           f'<rect x="{panel.x0:.1f}" y="{panel.y0:.1f}" width="{panel.w:.1f}" height="{panel.h:.1f}" '
           'fill="none" stroke="#000" stroke-width="0.6"/>']
    for t in _ticks(lo, hi):
        x = panel.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{panel.y0:.1f}" x2="{x:.1f}" y2="{panel.y0 + panel.h:.1f}" '
                   'stroke="#ddd" stroke-width="0.5"/>')
        out.append(f'<text x="{x:.1f}" y="{panel.y0 + panel.h + 12:.1f}" text-anchor="middle">{t:g}</text>')
    for share in (0.0, 0.5, 0.9, 1.0):
        y = panel.y(share)
        out.append(f'<line x1="{panel.x0:.1f}" y1="{y:.1f}" x2="{panel.x0 + panel.w:.1f}" y2="{y:.1f}" '
                   'stroke="#ddd" stroke-width="0.5"/>')
        out.append(f'<text x="{panel.x0 - 4:.1f}" y="{y + 3:.1f}" text-anchor="end">{share * 100:.0f}%</text>')
    out.append(f'<text x="{panel.x0 + panel.w / 2:.1f}" y="{panel.y0 + panel.h + 26:.1f}" '
               'text-anchor="middle">time without leader (ms)</text>')
    return out


def _legend(y: float, styles: dict[str, Style], width: float) -> tuple[list[str], float]:
    """The legend from `y` on, wrapped to `width`; (SVG elements, the y below it)."""
    out, x = [], 10.0
    for style in styles.values():
        step = 40 + 6 * len(style[2])
        if x > 10 and x + step > width:
            x, y = 10.0, y + _LEGEND_ROW
        out.append(f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="{style[0]}" stroke-width="2"'
                   f"{_dash(style)}/>")
        out.append(f'<text x="{x + 28}" y="{y + 4}">{escape(style[2])}</text>')
        x += step
    return out, y + _LEGEND_ROW


def render_cdf_svg(panels: list[tuple[str, dict[str, list[float]], list[tuple[float, float]]]], title: str,
                   styles: dict[str, Style] = SOURCES) -> str:
    """panels: (range label, {series key: downtimes ms}, paper points [(ms, share)]) -> an SVG document; one
    curve per key of `styles` that a panel has (`compare_styles` for several runs on one chart)."""
    rows = max(1, math.ceil(len(panels) / _COLS))
    width = _COLS * _PANEL_W + 10
    legend, top = _legend(36, styles, width)
    height = rows * _PANEL_H + top + 4
    body = [f'<text x="10" y="18" font-weight="bold" font-size="13">{escape(title)}</text>'] + legend
    for i, (label, series, paper) in enumerate(panels):
        everything = [v for vs in series.values() for v in vs] + [p[0] for p in paper]
        lo = max(1.0, min(everything, default=1.0) * 0.8)
        hi = max(lo * 10, max(everything, default=10.0) * 1.2)
        panel = _Panel((i % _COLS) * _PANEL_W, top - 2 + (i // _COLS) * _PANEL_H, lo, hi)
        body += _axes(panel, lo, hi, f"{label} ms")
        if paper:
            body.append(_path(_line(panel, paper), "paper", styles["paper"], label, [p[0] for p in paper]))
        for source, style in styles.items():
            values = sorted(series.get(source) or []) if source != "paper" else []
            if values:
                body.append(_path(_steps(panel, values), source, style, label, values))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">\n'
            f'<rect width="{width}" height="{height}" fill="#fff"/>\n' + "\n".join(body) + "\n</svg>\n")
