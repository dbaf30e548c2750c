"""The HTML report in a real headless Chromium (Debian's package, installed by .ci/run): it loads with no script
error and no network request, shows one lane per node and the verdict banner, its violation links lead to the
records, the wheel zooms, and a screenshot shows the lanes in their role colours. A 30-simulated-minute run stays
bounded in what it draws (window and downsampling)."""
from __future__ import annotations

import pytest

from headless import Browser, chromium_path, decode_png, pixel
from report_runs import html_report, sim

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="chromium is not installed (.ci/run installs it with apt-get)")

STATUS = "document.getElementById('status').dataset.status"
TL = "document.getElementById('timeline').dataset"


def hex_rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def loaded(browser: Browser, path) -> None:
    browser.open(path)
    status = browser.wait_for(f"{STATUS} !== 'loading' && {STATUS}")
    assert status == "ok", status
    assert browser.errors() == []


def lane_boxes(browser: Browser) -> list[dict]:
    return browser.eval("""[...document.querySelectorAll('#timeline g.lane')].map(g => {
        const r = g.querySelector('rect.seg').getBoundingClientRect();
        return {node: +g.dataset.node, top: r.top, bottom: r.bottom};
    })""")


def role_pixels(png: bytes, box: dict, left: int, colors: dict[str, tuple[int, int, int]]) -> dict[str, int]:
    width, _, rows, bpp = decode_png(png)
    y = int((box["top"] + box["bottom"]) / 2)
    counts = dict.fromkeys(colors, 0)
    for x in range(left, width, 2):
        rgb = pixel(rows, bpp, x, y)
        for name, want in colors.items():
            if all(abs(a - b) <= 6 for a, b in zip(rgb, want)):
                counts[name] += 1
    return counts


def test_report_in_headless_chromium(tmp_path):
    run = tmp_path / "bad"
    assert sim(run, "--nodes", "3", "--persist", "term-only", "--faults", "crash,delay", "--vote-crash", "0.5",
               "--seeds", "200").returncode == 1
    path, data = html_report(run)
    with Browser(tmp_path / "profile") as browser:
        loaded(browser, path)
        assert all(url.startswith("file:") for url in browser.requested_urls()), browser.requested_urls()
        boxes = lane_boxes(browser)
        assert [b["node"] for b in boxes] == data["nodes"] == [1, 2, 3]
        assert browser.eval("document.getElementById('verdict').className") == "banner bad"
        links = browser.eval("document.querySelectorAll('#verdict a.where').length")
        assert links == sum(len(v["where"]) for v in data["verdict"]["violations"]) > 0
        assert browser.eval("document.querySelectorAll('#timeline path.violation').length") > 0
        assert browser.eval("document.querySelectorAll('#failovers tr.fo').length") == len(data["failovers"])

        lane_y = (boxes[1]["top"] + boxes[1]["bottom"]) / 2
        x = browser.eval(f"""(() => {{ for (let x = 100; x < 1300; x += 5) {{
            const e = document.elementFromPoint(x, {lane_y}); if (e && e.classList.contains('seg')) return x; }} }})()""")
        browser.page("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=lane_y)  # hover: what is there
        assert browser.wait_for("!document.getElementById('tooltip').hidden && "
                                "document.getElementById('tooltip').textContent").startswith("node 2")
        browser.click(x, lane_y)  # click: that node's records around that moment
        assert "node 2" in browser.wait_for("document.querySelector('#records .rec') && "
                                            "document.getElementById('records').textContent")

        whole = [float(v) for v in browser.eval(f"{TL}.window").split(",")]
        browser.eval("document.querySelector('#verdict a.where').click()")  # a violation link: zoom + records
        browser.wait_for(f"{TL}.window !== '{whole[0]},{whole[1]}'")
        assert browser.eval("document.querySelectorAll('#records .rec.hl').length") >= 1

        browser.eval("document.getElementById('zoom-reset').click()")
        browser.wait_for(f"{TL}.window === '0,{data['t_end_ms']}'")
        renders = int(browser.eval(f"{TL}.renders"))
        browser.wheel(700, (boxes[0]["top"] + boxes[0]["bottom"]) / 2, -400)  # wheel up: zoom in at the cursor
        browser.wait_for(f"+{TL}.renders > {renders}")
        start, end = (float(v) for v in browser.eval(f"{TL}.window").split(","))
        assert 0 <= start and end <= data["t_end_ms"] and end - start < 0.8 * data["t_end_ms"]

        y = (boxes[0]["top"] + boxes[0]["bottom"]) / 2  # drag to the left: the window moves later in time
        browser.page("Input.dispatchMouseEvent", type="mousePressed", x=700, y=y, button="left", clickCount=1)
        browser.page("Input.dispatchMouseEvent", type="mouseMoved", x=500, y=y, button="left", buttons=1)
        browser.page("Input.dispatchMouseEvent", type="mouseReleased", x=500, y=y, button="left", clickCount=1)
        browser.wait_for(f"{TL}.window !== '{start},{end}'")
        moved = [float(v) for v in browser.eval(f"{TL}.window").split(",")]
        assert moved[0] > start and abs((moved[1] - moved[0]) - (end - start)) < 1e-6 * data["t_end_ms"]

        browser.eval("document.getElementById('zoom-reset').click()")
        browser.wait_for(f"{TL}.window === '0,{data['t_end_ms']}'")
        prevotes = sum(v[1] == "prevote" for v in data["votes"])
        assert 0 < prevotes <= 800  # few enough to be drawn for the whole run (the page's limit)
        assert browser.eval("document.querySelectorAll('#timeline line.vote.prevote').length") == 0
        browser.eval("document.getElementById('show-prevotes').click()")  # the pre-vote toggle
        browser.wait_for(f"document.querySelectorAll('#timeline line.vote.prevote').length === {prevotes}")

        png = browser.screenshot()
        assert browser.errors() == []

        gap_run = tmp_path / "gap"  # a run with a lost record: no verdict, said in the banner
        assert sim(gap_run, "--seed", "11", "--duration", "5").returncode == 0
        lines = (gap_run / "node-2.jsonl").read_text().splitlines(keepends=True)
        (gap_run / "node-2.jsonl").write_text("".join(lines[:4] + lines[5:]))
        loaded(browser, html_report(gap_run)[0])
        assert browser.eval("document.getElementById('verdict').className") == "banner incomplete"
        assert browser.eval("document.querySelectorAll('#verdict li.gap-item').length") >= 1
    (tmp_path / "report.png").write_bytes(png)  # kept with the test's files, to look at when it fails
    roles = {k: hex_rgb(v[0]) for k, v in data["style"]["roles"].items() if k in ("follower", "leader")}
    seen = [role_pixels(png, box, 90, roles) for box in boxes]
    assert all(sum(c.values()) > 50 for c in seen), seen  # each lane is drawn, in role colours
    assert any(c["leader"] > 0 for c in seen), seen


def test_a_thirty_minute_run_draws_a_bounded_window(tmp_path):
    run = tmp_path / "long"
    assert sim(run, "--seed", "3", "--duration", "1800").returncode == 0
    path, data = html_report(run)
    segments = sum(len(lane) for lane in data["lanes"].values())
    with Browser(tmp_path / "profile", width=1200, height=800) as browser:
        loaded(browser, path)
        full = int(browser.eval(f"{TL}.elements"))
        assert full < segments / 2  # downsampled: far fewer elements than states in the run
        drawn = browser.eval("document.querySelectorAll('#timeline rect.seg').length")
        assert drawn <= len(data["nodes"]) * 1200 / 3 + 200  # at most one per 3 pixels (+ long segments)
        mid = data["t_end_ms"] / 2
        browser.eval(f"window.raftzmqReport.setWindow({mid}, {mid + 2000})")
        browser.wait_for(f"{TL}.window.startsWith('{mid},')")
        plot_w = browser.eval("document.getElementById('timeline').clientWidth") - 78 - 14
        wide = sum(1 for lane in data["lanes"].values() for s in lane
                   if s[1] >= mid and s[0] <= mid + 2000 and (s[1] - s[0]) * plot_w / 2000 >= 3)
        assert wide > 0  # zoomed in: every state at least 3 pixels wide is drawn as itself
        assert browser.eval("document.querySelectorAll('#timeline rect.seg:not(.merged)').length") == wide
        assert browser.errors() == []
