"""In a real headless Chromium, the HTML report lets no fault label silently vanish (issue 21, item 4): at the
whole-run zoom of a crowded run, every mark is labelled in full, abbreviated (full text on hover), or counted in a
"+N" label whose tooltip lists it; clicking "+N" zooms in until they have room. Skew bands and the new fault marks
are drawn, and the legend names them."""
from __future__ import annotations

import pytest

from fault_runs import every_fault_run
from headless import Browser, chromium_path
from raftzmq.evidence.html import read_report_data, write_html_report

pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed")

STATUS = "document.getElementById('status').dataset.status"
ACCOUNTED = """(() => {
  const seen = new Set();
  document.querySelectorAll('#timeline text.mark-label').forEach((e) => {
    if (e.dataset.kind === 'mark') seen.add(+e.dataset.i);
    if (e.dataset.marks) e.dataset.marks.split(',').forEach((k) => seen.add(+k));
  });
  return [...seen].sort((a, b) => a - b);
})()"""


def test_crowded_labels_stack_abbreviate_or_gather_and_none_vanishes(tmp_path):
    every_fault_run(tmp_path / "run", crowded=40)
    path = write_html_report(tmp_path / "run")
    data = read_report_data(path.read_text())
    with Browser(tmp_path / "profile", width=1200, height=900) as browser:
        browser.open(path)
        assert browser.wait_for(f"{STATUS} !== 'loading' && {STATUS}") == "ok"
        assert browser.errors() == []
        assert browser.eval(ACCOUNTED) == list(range(len(data["marks"])))  # every mark, at whole-run zoom
        crowds = browser.eval("[...document.querySelectorAll('#timeline text.crowd')].map(e => e.textContent)")
        assert crowds and all("+" in c for c in crowds)
        assert browser.eval("document.querySelectorAll('#timeline rect.skew-band').length") == 1
        for kind in ("skew", "failpoint", "disk", "failed"):
            assert browser.eval(f"document.querySelectorAll('#timeline line.mark.{kind}').length") >= 1, kind
        legend = browser.eval("document.getElementById('legend').textContent")
        assert data["style"]["skew"][1] in legend and data["style"]["marks"]["failpoint"][1] in legend

        kills = [i for i, m in enumerate(data["marks"]) if m["kind"] == "kill"]
        box = browser.eval(f"""(() => {{ const e = [...document.querySelectorAll('#timeline text.crowd')]
                                  .find((c) => c.dataset.marks.split(',').includes('{kills[-1]}'));
                              const r = e.getBoundingClientRect(); return [r.right - 4, r.top + r.height / 2]; }})()""")
        browser.page("Input.dispatchMouseEvent", type="mouseMoved", x=box[0], y=box[1])
        tip = browser.wait_for("!document.getElementById('tooltip').hidden && "
                               "document.getElementById('tooltip').textContent")
        assert "kill 5" in tip and "click to zoom in" in tip
        biggest = ("Math.max(0, ...[...document.querySelectorAll('#timeline text.crowd')]"
                   ".map(e => e.dataset.marks.split(',').length))")
        crowd_before = browser.eval(biggest)
        before = browser.eval("document.getElementById('timeline').dataset.window")
        browser.click(box[0], box[1])
        win = browser.wait_for(f"document.getElementById('timeline').dataset.window !== '{before}' && "
                               "document.getElementById('timeline').dataset.window")
        lo, hi = (float(v) for v in win.split(","))
        in_window = [i for i, m in enumerate(data["marks"]) if lo <= m["t"] <= hi]
        assert browser.eval(ACCOUNTED) == in_window  # zoomed in: still every mark of the window
        assert browser.eval(biggest) < crowd_before / 10  # and the crowd fanned out into labels of their own
        (tmp_path / "zoomed.png").write_bytes(browser.screenshot())
        assert browser.errors() == []
