"""Run simulator seeds on several cores (or, with a scheduler address, on a Dask cluster). Each seed is independent and deterministic, so a pool changes only the
wall time: results come back in seed order, exactly as a single process would produce them."""
from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator
from functools import partial

from raftzmq.lab.sim.simulator import SimConfig, SimResult, run_seed

__all__ = ["default_jobs", "run_seeds"]


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _ignore_ctrl_c() -> None:
    # A Ctrl-C reaches the whole process group. The parent stops the pool and prints the partial summary; a
    # worker that raised KeyboardInterrupt too would only add a traceback per worker to the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_seeds(config: SimConfig, seeds: Iterable[int], jobs: int = 1,
              scheduler: str | None = None) -> Iterator[SimResult]:
    """Yield one SimResult per seed, in seed order. Stop iterating early and the workers are stopped too.
    With `scheduler` (a Dask scheduler's address) the seeds run as Dask tasks instead (lab/sim/dask_seeds.py)."""
    seeds = list(seeds)
    if scheduler is not None:
        from raftzmq.lab.sim.dask_seeds import run_seeds_on_dask  # Dask is optional: imported only when asked

        yield from run_seeds_on_dask(config, seeds, scheduler)
        return
    if jobs <= 1 or len(seeds) < 2:
        for seed in seeds:
            yield run_seed(config, seed)
        return
    # fork is safe here: the simulator process holds no ZeroMQ context, threads or open sockets.
    ctx = multiprocessing.get_context("fork")
    chunk = max(1, min(50, len(seeds) // (jobs * 8)))
    with ctx.Pool(jobs, initializer=_ignore_ctrl_c) as pool:
        yield from pool.imap(partial(run_seed, config), seeds, chunksize=chunk)
