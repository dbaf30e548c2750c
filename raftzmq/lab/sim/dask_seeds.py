"""Simulator seeds as Dask tasks: `raftzmq sim --scheduler tcp://HOST:PORT` for hunts that outgrow one machine.

Each seed is independent and deterministic, so where it runs changes nothing but the wall time: a worker runs a
batch of seeds with the very `run_seed` a local run uses, and the results come back in seed order, exactly as a
single process would yield them (the identity is tested against a local run). Only a bounded window of batches is
in flight at once, so a range of 10^7 seeds does not become 10^7 futures in the scheduler's memory, and stopping
early (the first failing seed, Ctrl-C) cancels what is still queued.

Dask is an optional extra (`pip install -e '.[dask]'`); nothing here is imported unless `--scheduler` is given.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from raftzmq.lab.sim.simtypes import SimConfig, SimResult

__all__ = ["DaskUnavailable", "run_seeds_on_dask", "map_seeds_on_dask", "batch_size", "worker_count"]

T = TypeVar("T")

_CONNECT_TIMEOUT_S = 10.0  # a scheduler that does not answer in this long is not there
_IN_FLIGHT_PER_WORKER = 4  # batches queued per worker: enough to hide a round trip, few enough to stop fast
_WORKER_WAIT_S = 30.0  # a scheduler with no worker after this long would leave every task queued forever


class DaskUnavailable(RuntimeError):
    """Dask is not installed, or the scheduler cannot be reached: a one-line reason for the user."""


def _run_batch(config: SimConfig, seeds: Sequence[int]) -> list[SimResult]:
    # Runs on a worker. Imported there, so a worker needs raftzmq installed (docs/multi-host.md).
    from raftzmq.lab.sim.simulator import run_seed

    out = []
    for seed in seeds:
        r = run_seed(config, seed)
        out.append(r)
        if not r.ok:  # the caller stops at the first failing seed: the rest of this batch is wasted work
            break
    return out


def batch_size(n_seeds: int, workers: int) -> int:
    """Seeds per task: big enough that a task costs far more than its scheduling (about a millisecond), small
    enough that every worker gets several (the same rule as the local pool's chunks)."""
    return max(1, min(50, n_seeds // (max(1, workers) * 8)))


def _connect(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError as exc:
        raise DaskUnavailable("--scheduler needs Dask's distributed scheduler: pip install -e '.[dask]'") from exc
    try:
        return Client(address, timeout=_CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise DaskUnavailable(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


def _environment_error(address: str, exc: BaseException) -> DaskUnavailable | None:
    """A task that failed because the worker's Python is not ours (raftzmq missing or another version there):
    a one-line reason for the user, or None when the failure is something else (a real error in the task, shown
    as it is)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ImportError) or "raftzmq" in text and "No module named" in text \
            or "deserializ" in text.lower():
        return DaskUnavailable(f"the Dask workers of {address} cannot run raftzmq's tasks ({text.splitlines()[0]}): "
                               "install the same raftzmq on every worker and the scheduler (docs/multi-host.md)")
    return None


def _wait_for_workers(client: Any, address: str) -> int:
    try:
        client.wait_for_workers(1, timeout=_WORKER_WAIT_S)
    except (OSError, TimeoutError) as exc:
        raise DaskUnavailable(f"the Dask scheduler at {address} has no workers after {_WORKER_WAIT_S:g} s: "
                              "start some with `dask worker " + address + "`") from exc
    return max(1, len(client.scheduler_info().get("workers", {})))


def worker_count(address: str) -> int:
    client = _connect(address)
    try:
        return len(client.scheduler_info().get("workers", {}))
    finally:
        client.close()


def run_seeds_on_dask(config: SimConfig, seeds: Sequence[int], address: str) -> Iterator[SimResult]:
    """Yield one SimResult per seed, in seed order, computed on the Dask cluster at `address`. A seed that fails
    ends its batch early (the caller stops there anyway), so the yielded sequence can be shorter than `seeds` only
    after a failing result."""
    return map_seeds_on_dask(address, _run_batch, config, seeds, failed=lambda r: not r.ok)


def map_seeds_on_dask(address: str, batch_fn: Callable[[Any, list[int]], list[T]], shared: Any,
                      seeds: Sequence[int], failed: Callable[[T], bool]) -> Iterator[T]:
    """Run `batch_fn(shared, batch)` on the workers for consecutive batches of `seeds` and yield the items it
    returns, in seed order, until the first item that `failed` (batch_fn itself should stop its batch there).
    `shared` goes to every worker once; `batch_fn` must be importable there (a module-level function)."""
    client = _connect(address)
    in_flight: deque[Any] = deque()  # futures in seed order: the oldest is the next to yield
    try:
        workers = _wait_for_workers(client, address)
        size = batch_size(len(seeds), workers)
        batches = (list(seeds[i:i + size]) for i in range(0, len(seeds), size))
        try:
            shared_future = client.scatter(shared, broadcast=True)
        except Exception as exc:  # the workers could not even unpickle our config
            raise _environment_error(address, exc) or exc

        def submit_next() -> None:
            batch = next(batches, None)
            if batch is not None:
                in_flight.append(client.submit(batch_fn, shared_future, batch, pure=False))

        for _ in range(workers * _IN_FLIGHT_PER_WORKER):
            submit_next()
        while in_flight:
            try:
                items = in_flight.popleft().result()  # later batches keep running on the other workers meanwhile
            except Exception as exc:
                raise _environment_error(address, exc) or exc
            submit_next()
            for item in items:
                yield item
                if failed(item):
                    return
    finally:
        for fut in in_flight:
            fut.cancel()
        client.close()
