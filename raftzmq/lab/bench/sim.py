"""Simulator throughput: simulated seconds per wall second (`raftzmq bench sim`).

Runs the same seed range several times and reports the median ratio, because a shared machine is noisy; the
ratio against this process's CPU time is reported too (steadier when other processes compete for the cores). The
checker and the in-memory trace stay on (they are part of every real run); writing log files is off.
"""
from __future__ import annotations

import cProfile
import io
import platform
import pstats
import time
from dataclasses import replace
from typing import Any

from raftzmq.evidence.stats import median
from raftzmq.lab.sim.parallel import run_seeds
from raftzmq.lab.sim.simulator import SimConfig, run_seed

__all__ = ["bench_sim", "profile_sim"]


def _dask_against_local(config: SimConfig, rng: range, runs: int, jobs: int, scheduler: str) -> dict[str, Any]:
    # By turns (local, dask, local, dask...) so that a noisy stretch of the shared machine hits both alike; the
    # figure is the median of the per-pair ratios, the reference measured in the same run.
    from raftzmq.lab.sim.dask_seeds import worker_count

    pairs = [(_one(config, rng, jobs), _one(config, rng, 1, scheduler=scheduler)) for _ in range(runs)]
    ratios = [d["seeds_per_s"] / loc["seeds_per_s"] for loc, d in pairs]

    def side(runs_: list[dict[str, Any]]) -> dict[str, Any]:
        return {"seeds_per_s_median": median(r["seeds_per_s"] for r in runs_),
                "wall_s_median": median(r["wall_s"] for r in runs_),
                "violations": runs_[0]["violations"]}

    return {"config": config.to_dict(), "seeds": len(rng), "runs": runs, "jobs": jobs, "scheduler": scheduler,
            "dask_workers": worker_count(scheduler),
            "local": side([p[0] for p in pairs]), "dask": side([p[1] for p in pairs]),
            "ratio_median": median(ratios), "ratios": ratios,
            "python": platform.python_version(), "machine": platform.machine()}


def _one(config: SimConfig, seeds: range, jobs: int, scheduler: str | None = None) -> dict[str, Any]:
    start, cpu0 = time.perf_counter(), time.process_time()
    messages = elections = bad = 0
    for r in run_seeds(config, seeds, jobs, scheduler=scheduler):
        messages += r.messages
        elections += r.elections
        bad += not r.ok
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    sim = config.duration * len(seeds)
    return {"wall_s": wall, "cpu_s": cpu, "sim_s": sim, "ratio": sim / wall, "cpu_ratio": sim / cpu, "messages_per_s": messages / wall,
            "elections": elections, "violations": bad, "seeds_per_s": len(seeds) / wall}


def bench_sim(config: SimConfig | None = None, *, seeds: int = 20, runs: int = 5, first_seed: int = 0,
              jobs: int = 1, scheduler: str | None = None) -> dict[str, Any]:
    """Median over `runs` of (simulated seconds / wall second) for `seeds` seeds each, on `jobs` processes
    (with jobs > 1 the CPU ratio only counts this process, so it is reported as None). With `scheduler`, the same
    seeds on that Dask cluster and locally on `jobs` processes, run by turns, and the ratio of their rates."""
    config = replace(config or SimConfig(), record_logs=False)
    rng = range(first_seed, first_seed + seeds)
    if scheduler is not None:
        return _dask_against_local(config, rng, runs, jobs, scheduler)
    results = [_one(config, rng, jobs) for _ in range(runs)]
    ratios = sorted(r["ratio"] for r in results)
    return {
        "config": config.to_dict(),
        "seeds": seeds,
        "runs": runs,
        "ratio_median": median(ratios),
        "ratio_min": ratios[0],
        "ratio_max": ratios[-1],
        # CPU time is what this process got; on a shared box it is the steadier figure for comparisons.
        "cpu_ratio_median": median(r["cpu_ratio"] for r in results) if jobs == 1 else None,
        "jobs": jobs,
        "messages_per_s_median": median(r["messages_per_s"] for r in results),
        "wall_s_median": median(r["wall_s"] for r in results),
        "violations": results[0]["violations"],
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def profile_sim(config: SimConfig | None = None, *, seeds: int = 10, top: int = 20) -> str:
    """cProfile of one pass, sorted by own time: where the wall time goes."""
    config = replace(config or SimConfig(), record_logs=False)
    prof = cProfile.Profile()
    prof.enable()
    for seed in range(seeds):
        run_seed(config, seed)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()
