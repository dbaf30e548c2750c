"""Hand-made runs with every kind of fault the pictures draw: kill, restart, pause, partitions (isolate, ring,
bridge), a cut link, skew, an armed failpoint that fires, a disk fault that fails its node; and a crowded stretch
(many kills within a few milliseconds) where labels cannot all sit side by side."""
from __future__ import annotations

from pathlib import Path

from logs_fixtures import Run


def every_fault_run(run_dir: Path, *, crowded: int = 0) -> Run:
    """A 5-node run; `crowded` adds that many kill/restart pairs packed into a short stretch."""
    r = Run(run_dir, 5)
    for n in (1, 2, 3, 4, 5):
        r.start(n)
    r.elect(1, 1, voters=[2, 3, 4, 5])
    r.clock.ns += 500_000_000
    r.sup.write("fault_injected", node=2, kind="skew", value=4, incarnation=1)
    r.clock.ns += 400_000_000
    r.sup.write("partition", groups=[[4], [1, 2, 3, 5]], version=1)  # isolate 4
    r.clock.ns += 300_000_000
    r.sup.write("heal", version=2)
    r.clock.ns += 300_000_000
    ring = [[1, 3], [3, 1], [1, 4], [4, 1], [2, 4], [4, 2], [2, 5], [5, 2], [3, 5], [5, 3]]
    r.sup.write("link_cut", cuts=ring, groups=None, version=3)  # partition --ring
    r.clock.ns += 300_000_000
    r.sup.write("link_cut", cuts=[[1, 2], [2, 1]], groups=None, version=4)  # cut 1 2
    r.clock.ns += 300_000_000
    r.sup.write("heal", version=5)
    r.clock.ns += 300_000_000
    r.sup.write("fault_injected", node=3, kind="failpoint", value="before_rename", incarnation=1)
    r.clock.ns += 200_000_000
    r.rec(3, "election_timeout", 1)
    r.rec(3, "failpoint_hit", 1, name="before_rename")
    r.sup.write("node_exited", node=3, pid=3001, code=-9, signal="SIGKILL")
    r.sup.write("node_failed", node=3, reason="failpoint before_rename")
    r.writers.pop(3).close()
    r.clock.ns += 300_000_000
    r.sup.write("fault_injected", node=4, kind="disk", value="fsync:EIO", incarnation=1)
    r.clock.ns += 200_000_000
    r.rec(4, "node_failed", 1, reason="fsync temp file failed: [Errno 5] Input/output error")
    r.sup.write("node_exited", node=4, pid=4001, code=4, signal=None)
    r.sup.write("node_failed", node=4, reason="disk fault fsync:EIO: fsync temp file failed: [Errno 5] Input/output error")
    r.writers.pop(4).close()
    r.clock.ns += 300_000_000
    r.sup.write("link_cut", cuts=[[1, 3], [3, 1], [1, 4], [4, 1]], groups=None, version=6)  # --bridge-ish
    r.clock.ns += 300_000_000
    r.sup.write("heal", version=7)
    for _ in range(crowded):
        r.clock.ns += 1_000_000
        r.kill(5)
        r.start(5, term=1, voted_for=1)
        r.follow(5, 1, 1)
    r.clock.ns += 500_000_000
    r.sup.write("fault_injected", node=2, kind="skew", value=1, incarnation=1)  # skew back to normal
    r.clock.ns += 500_000_000
    r.close()
    return r
