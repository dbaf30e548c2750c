"""Fixtures shared by the test modules (pytest finds them here; a module may still define its own of a name)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_harness import Cluster, cluster_session


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A run directory for one live cluster and the CLI acting on it (`cluster.start("--nodes", "5")`); afterwards
    the cluster is stopped, whatever is left SIGKILLed by pid, and `raftzmq check` must find its run clean."""
    with cluster_session(tmp_path / "run") as c:
        yield c
