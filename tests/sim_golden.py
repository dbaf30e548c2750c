"""Golden digests of simulator runs: the election's behaviour, pinned seed by seed.

For each configuration below and each of its seeds, the digest is a hash of the summary counts (elections,
leaders, max term, messages, faults, failovers, violations...) and of every record stream the run wrote
(node-<id>.jsonl and supervisor.jsonl, in order, every field). A refactor of the core or of the embedding that
keeps the election's behaviour (and the RNG draw order) keeps every digest; tests/test_sim_golden.py checks them.

    PYTHONPATH=$PWD python3 tests/sim_golden.py --write   # re-record (only when a change is meant to alter runs;
                                                          # say why in the commit)
    PYTHONPATH=$PWD python3 tests/sim_golden.py           # compare, print the totals per configuration
"""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from raftzmq.lab.sim.simulator import SimConfig, Simulator

GOLDEN = Path(__file__).with_name("data") / "sim_golden.json"
SEEDS = range(20)
DURATION = 10.0

CONFIGS: dict[str, dict[str, Any]] = {
    "default-5": {},
    "nodes-3": {"nodes": 3},
    "hints-on": {"hints": True},
    "hints-on-3": {"hints": True, "nodes": 3},
    "term-only": {"persist_mode": "term-only", "vote_crash": 0.5},
    "no-prevote-no-cq": {"prevote": False, "check_quorum": False},
    "no-prevote-no-cq-3": {"prevote": False, "check_quorum": False, "nodes": 3},
    "faults-none": {"faults": frozenset()},
    "faults-crash": {"faults": frozenset({"crash"})},
    "faults-pause": {"faults": frozenset({"pause"})},
    "faults-partition": {"faults": frozenset({"partition"})},
    "faults-net": {"faults": frozenset({"loss", "dup", "delay"})},
    "unsafe-disk": {"disk": "unsafe-no-fsync"},
    "persist-ms": {"persist_ms": 2.0, "delay_dist": "exponential"},
    # replication (issue 18): client proposals, every fault, logs on the SimDisk with torn tails
    "proposals-20": {"proposals": 20.0},
    "proposals-unsafe-3": {"proposals": 50.0, "nodes": 3, "disk": "unsafe-no-fsync"},
}

COUNTS = ("elections", "leaders", "max_term", "messages", "faults", "lost_writes", "unresolved_failovers")


def run(name: str, seed: int) -> tuple[str, dict[str, Any]]:
    cfg = SimConfig(duration=DURATION, **CONFIGS[name])
    res = Simulator(cfg, seed).run()
    summary = res.summary()
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(summary, sort_keys=True).encode())
    for fname in sorted(res.files):
        h.update(fname.encode())
        for rec in res.files[fname]:
            h.update(json.dumps(rec, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest(), summary


def compute(names: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names or list(CONFIGS):
        digests, totals = {}, dict.fromkeys(COUNTS, 0)
        totals["violations"] = 0
        for seed in SEEDS:
            digest, s = run(name, seed)
            digests[str(seed)] = digest
            for k in COUNTS:
                totals[k] += s[k]
            totals["violations"] += len(s["violations"])
        out[name] = {"totals": totals, "digests": digests}
    return out


def main(argv: list[str]) -> int:
    got = compute()
    if "--write" in argv:
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    bad = 0
    for name, v in got.items():
        diff = [s for s, d in v["digests"].items() if want[name]["digests"].get(s) != d]
        bad += len(diff)
        print(f"{name:20} {'OK ' if not diff else 'DIFF'} {v['totals']}" + (f" seeds {diff}" if diff else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
