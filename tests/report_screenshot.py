"""Screenshot an HTML report in headless Chromium; how docs/report-example.png is made:

    python tests/report_screenshot.py logs/RUN/report.html docs/report-example.png --click kill

`--click KIND` clicks the first fault mark of that kind first (so the records panel is filled).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from headless import Browser  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--size", default="1300x1000", help="WIDTHxHEIGHT of the viewport")
    parser.add_argument("--click", metavar="KIND", help="click the first mark of this kind (kill, pause, ...)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as profile, Browser(Path(profile), width=width, height=height) as browser:
        browser.open(args.report)
        status = browser.wait_for("document.getElementById('status').dataset.status !== 'loading' && "
                                  "document.getElementById('status').dataset.status")
        if status != "ok":
            sys.exit(f"the page says: {status}")
        if args.click:
            box = browser.eval(f"""(() => {{ const r = document.querySelector('#timeline line.mark.{args.click}')
                .getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()""")
            browser.click(*box)
            browser.wait_for("!!document.querySelector('#records .rec')")
            browser.eval("scrollTo(0, 0)")
        args.png.write_bytes(browser.screenshot())
        if browser.errors():
            sys.exit(f"script errors: {browser.errors()}")


if __name__ == "__main__":
    main()
