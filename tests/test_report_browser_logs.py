"""The HTML report's log lanes in headless Chromium (issue 18 deliver 7): for a replicated run, each commit_advanced
in view is a dot at its time's x and its commit index's height, each node's growth line ends at its last index,
hovering a dot says what it is, clicking it lists its record, and zooming redraws them for the new window."""
from __future__ import annotations

import pytest

from headless import Browser, chromium_path
from report_runs import html_report, sim

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="chromium is not installed (.ci/run installs it with apt-get)")

STATUS = "document.getElementById('status').dataset.status"
# For every drawn dot: [its data-i, cx, cy, the x its time should have, the y its commit index should have].
DOTS = """(() => {
  const tl = document.getElementById('timeline'), D = raftzmqReport.data, w = raftzmqReport.window;
  const width = +tl.getAttribute('width'), plotW = width - 78 - 14;
  const lane = (n) => tl.querySelector(`rect.log-lane[data-node="${n}"]`);
  return [...tl.querySelectorAll('circle.commit-mark')].map((c) => {
    const [t, node, commit] = D.logs.commits[+c.dataset.i], r = lane(node);
    const y0 = +r.dataset.y0, top = +r.dataset.ytop, lo = +r.dataset.lo, hi = +r.dataset.hi;
    return [+c.dataset.i, +c.getAttribute('cx'), +c.getAttribute('cy'), 78 + (t - w[0]) * plotW / (w[1] - w[0]),
            y0 + (top - y0) * (commit - lo) / (hi - lo)];
  });
})()"""
ENDS = """(() => {
  const tl = document.getElementById('timeline');
  return [...tl.querySelectorAll('path.log-growth')].map((p) => {
    const r = tl.querySelector(`rect.log-lane[data-node="${p.dataset.node}"]`);
    const pts = p.getAttribute('d').slice(1).split(' L').map((xy) => xy.split(',').map(Number));
    return [+p.dataset.node, pts[pts.length - 1][1], +r.dataset.y0, +r.dataset.ytop, +r.dataset.lo, +r.dataset.hi];
  });
})()"""


def test_log_lanes_in_headless_chromium(tmp_path):
    run = tmp_path / "run"
    assert sim(run, "--seed", "3", "--nodes", "3", "--duration", "6", "--proposals", "4",
               "--faults", "crash").returncode == 0
    path, data = html_report(run)
    logs = data["logs"]
    assert logs is not None and logs["commits"]
    with Browser(tmp_path / "profile") as browser:
        browser.open(path)
        assert browser.wait_for(f"{STATUS} !== 'loading' && {STATUS}") == "ok" and browser.errors() == []
        dots = browser.eval(DOTS)
        per_node: dict[int, list[float]] = {}
        for c in logs["commits"]:
            per_node.setdefault(c[1], []).append(c[0])
        assert 0 < len(dots) <= len(logs["commits"])  # (dots closer than 1.5 px on one lane are one)
        for _, cx, cy, want_x, want_y in dots:
            assert abs(cx - want_x) < 0.6 and abs(cy - want_y) < 0.6
        ends = browser.eval(ENDS)
        assert sorted(e[0] for e in ends) == data["nodes"]
        for node, y, y0, top, lo, hi in ends:
            last = logs["growth"][str(node)][-1][1]
            assert lo == 0 and hi == logs["max_index"]  # the whole run: the whole index range
            assert abs(y - (y0 + (top - y0) * (last - lo) / (hi - lo))) < 0.6, node

        # hover and click on one dot: its description, then its record
        box = browser.eval("""(() => { const r = document.querySelector('#timeline circle.commit-mark')
            .getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()""")
        browser.page("Input.dispatchMouseEvent", type="mouseMoved", x=box[0], y=box[1])
        assert " commits up to index " in browser.wait_for("!document.getElementById('tooltip').hidden && "
                                                            "document.getElementById('tooltip').textContent")
        browser.click(*box)
        assert "commit_advanced" in browser.wait_for("document.querySelector('#records .rec.hl') && "
                                                     "document.querySelector('#records .rec.hl').textContent")

        # zoomed into the first second of commits: every commit in the window has its dot, at the new x
        first = logs["commits"][0][0]
        browser.eval(f"raftzmqReport.setWindow({first - 5}, {first + 1000})")
        browser.wait_for("document.getElementById('timeline').dataset.window === raftzmqReport.window.join(',')")
        zoomed = browser.eval(DOTS)
        assert zoomed and all(abs(cx - wx) < 0.6 and abs(cy - wy) < 0.6 for _, cx, cy, wx, wy in zoomed)
        # the index scale follows the window: its top is the highest index shown there, below the run's highest
        lo, hi = browser.eval("(() => { const r = document.querySelector('#timeline rect.log-lane');"
                              " return [+r.dataset.lo, +r.dataset.hi]; })()")
        assert hi < logs["max_index"] and hi >= max(c[2] for c in logs["commits"] if c[0] <= first + 1000)
        assert browser.errors() == []
