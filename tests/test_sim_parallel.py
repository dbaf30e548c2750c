"""Seeds run on a worker pool give exactly the results of one process, in seed order."""
from dataclasses import replace

from raftzmq.lab.sim.parallel import run_seeds
from raftzmq.lab.sim.simulator import SimConfig


def _digest(r):
    return (r.seed, r.ok, r.elections, r.leaders, r.max_term, r.messages, round(r.leaderless, 9),
            [round(f, 9) for f in r.failovers])


def test_pool_results_equal_single_process_results_in_seed_order():
    cfg = replace(SimConfig(nodes=5), duration=5.0)
    seeds = range(10, 22)
    single = [_digest(r) for r in run_seeds(cfg, seeds, jobs=1)]
    pooled = [_digest(r) for r in run_seeds(cfg, seeds, jobs=2)]
    assert pooled == single
    assert [d[0] for d in pooled] == list(seeds)
    assert sum(d[2] for d in single) > 0  # the runs did elect
