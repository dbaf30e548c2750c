"""Runs and their HTML reports for the report tests: a simulator run written to a directory, and
`raftzmq report --html` on it with the page's data read back."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cluster_harness import REPO
from raftzmq.cli import main
from raftzmq.evidence.html import read_report_data


def sim(log_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "raftzmq", "sim", "--log-dir", str(log_dir), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def html_report(run_dir: Path, *extra: str) -> tuple[Path, dict]:
    result = CliRunner().invoke(main, ["report", str(run_dir), "--html", *extra])
    assert result.exit_code == 0, result.output
    path = Path(result.output.split("wrote ", 1)[1].strip())
    return path, read_report_data(path.read_text())
