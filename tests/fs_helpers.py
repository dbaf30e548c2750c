"""Unwritable directories for tests, also when the tests run as root (who ignores permission bits)."""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """Make `path` (a directory) impossible to create files in: mode 0555, plus `chattr +i` under root. Restored
    on exit. Skips the test where neither works (root without chattr)."""
    os.chmod(path, 0o555)
    immutable = os.geteuid() == 0
    try:
        if immutable:
            chattr = shutil.which("chattr")
            if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
                pytest.skip("running as root and cannot make a directory immutable (chattr +i)")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        os.chmod(path, 0o755)
