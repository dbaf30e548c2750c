"""Fixtures shared by the test modules (pytest finds them here; a module may still define its own of a name)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_harness import Cluster, cluster_session
from kvfake import FakeCluster


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A run directory for one live cluster and the CLI acting on it (`cluster.start("--nodes", "5")`); afterwards
    the cluster is stopped, whatever is left SIGKILLed by pid, and `raftzmq check` must find its run clean.
    A module changes that with CLUSTER_SESSION, keyword arguments of cluster_session (e.g. {"check": False})."""
    with cluster_session(tmp_path / "run", **getattr(request.module, "CLUSTER_SESSION", {})) as c:
        yield c


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeCluster]:
    """A fake KV cluster (tests/kvfake.py: client endpoints served by one thread, no Raft), closed afterwards."""
    cluster = FakeCluster(tmp_path)
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def dask_scheduler() -> Iterator[str]:
    """The address of a Dask LocalCluster on loopback (a scheduler and two single-threaded worker processes),
    closed after the module. Skips when the dask extra is not installed."""
    distributed = pytest.importorskip("distributed",
                                      reason="the dask extra is not installed (pip install -e '.[dask]')")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()
