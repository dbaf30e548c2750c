"""Measure how fast an HTML report draws in headless Chromium (docs/benchmarks.md, "HTML report").

    python tests/report_render_bench.py REPORT.html [--repeat 7]

Prints JSON: the page's load time (navigation to its status "ok"), and the median time of one redraw
(the page's own `data-render-ms`: building the visible window's elements) at the whole run, a tenth of it and a
hundredth, plus how many elements each view drew.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from headless import Browser  # noqa: E402
from raftzmq.evidence.stats import median  # noqa: E402

TL = "document.getElementById('timeline').dataset"


def redraw(browser: Browser, start: float, end: float) -> tuple[float, int]:
    before = int(browser.eval(f"{TL}.renders"))
    browser.eval(f"window.raftzmqReport.setWindow({start}, {end})")
    browser.wait_for(f"+{TL}.renders > {before}")
    return float(browser.eval(f"{TL}.renderMs")), int(browser.eval(f"{TL}.elements"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    out = {"report": str(args.report), "bytes": args.report.stat().st_size}
    with tempfile.TemporaryDirectory() as profile, Browser(Path(profile), width=1400, height=900) as browser:
        started = time.monotonic()
        browser.open(args.report)
        browser.wait_for("document.getElementById('status').dataset.status === 'ok'", timeout=120)
        out["load_s"] = round(time.monotonic() - started, 2)
        end = browser.eval("window.raftzmqReport.data.t_end_ms")
        for name, span in (("whole", end), ("tenth", end / 10), ("hundredth", end / 100)):
            times, elements = [], 0
            for k in range(args.repeat):
                start = (end - span) * k / max(1, args.repeat - 1)  # a different window each time: real pans
                ms, elements = redraw(browser, start, start + span)
                times.append(ms)
            out[name] = {"median_ms": round(median(times), 1), "max_ms": round(max(times), 1),
                         "elements": elements}
        out["errors"] = browser.errors()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
