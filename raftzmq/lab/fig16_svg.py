"""The CDF plot of Figure 16 as hand-written SVG: one panel per timeout range, x = time without a leader (ms, log
scale), y = cumulative share of trials; one curve per source (paper, model, simulator, real processes).

Each curve is a <path> with `data-source`, `data-range` and `data-values` (the sorted downtimes it draws, ms), so
a reader (and the test) can check the picture against the logs it came from.
"""
from __future__ import annotations

import math
from html import escape

__all__ = ["COLORS", "render_cdf_svg"]

COLORS = {"paper": "#888888", "model": "#2c7bb6", "sim": "#1a9641", "real": "#d7191c"}
_DASH = {"paper": "6,3", "model": "2,2", "sim": "", "real": ""}
_PANEL_W, _PANEL_H, _MARGIN, _COLS = 330, 210, 44, 3


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


def _path(d: str, source: str, label: str, values: list[float]) -> str:
    data = " ".join(f"{v:g}" for v in values)
    dash = f' stroke-dasharray="{_DASH[source]}"' if _DASH[source] else ""
    return (f'<path d="{d}" fill="none" stroke="{COLORS[source]}" stroke-width="1.4"{dash} '
            f'data-source="{source}" data-range="{label}" data-values="{data}"/>')


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


def _legend(y: float) -> list[str]:
    out, x = [], 10.0
    names = {"paper": "paper (LogCabin, 1000 trials)", "model": "model (Monte Carlo)", "sim": "simulator",
             "real": "real processes"}
    for source, name in names.items():
        out.append(f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="{COLORS[source]}" stroke-width="2"'
                   + (f' stroke-dasharray="{_DASH[source]}"' if _DASH[source] else "") + "/>")
        out.append(f'<text x="{x + 28}" y="{y + 4}">{escape(name)}</text>')
        x += 40 + 7 * len(name)
    return out


def render_cdf_svg(panels: list[tuple[str, dict[str, list[float]], list[tuple[float, float]]]], title: str) -> str:
    """panels: (range label, {source: downtimes ms}, paper points [(ms, share)]) -> an SVG document."""
    rows = max(1, math.ceil(len(panels) / _COLS))
    width, height = _COLS * _PANEL_W + 10, rows * _PANEL_H + 60
    body = [f'<text x="10" y="18" font-weight="bold" font-size="13">{escape(title)}</text>'] + _legend(36)
    for i, (label, series, paper) in enumerate(panels):
        everything = [v for vs in series.values() for v in vs] + [p[0] for p in paper]
        lo = max(1.0, min(everything, default=1.0) * 0.8)
        hi = max(lo * 10, max(everything, default=10.0) * 1.2)
        panel = _Panel((i % _COLS) * _PANEL_W, 50 + (i // _COLS) * _PANEL_H, lo, hi)
        body += _axes(panel, lo, hi, f"{label} ms")
        if paper:
            body.append(_path(_line(panel, paper), "paper", label, [p[0] for p in paper]))
        for source in ("model", "sim", "real"):
            values = sorted(series.get(source) or [])
            if values:
                body.append(_path(_steps(panel, values), source, label, values))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">\n'
            f'<rect width="{width}" height="{height}" fill="#fff"/>\n' + "\n".join(body) + "\n</svg>\n")
