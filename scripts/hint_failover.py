"""SIGKILL the leader of a live cluster again and again; print failover times with hints on or off.

    python scripts/hint_failover.py --hints on --trials 50 [--nodes 5] [--timeout 150-300] [--out DIR]

A stop-gap until `raftzmq bench failover --hints on|off` (branch `failover`) lands. Per trial: wait until one
leader has held for 2x the maximum election timeout, wait a uniformly random point of its heartbeat interval,
SIGKILL it (the supervisor logs `node_killed` before it signals), wait for a leader of a higher term, restart the
killed node. Downtime = the new leader's `became_leader` mono_ns - `node_killed` mono_ns (one host clock). Also
counts how many failovers came through a hint (the winner's campaign was a hint pre-vote) and prints the load.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from raftzmq.evidence.logfile import read_run
from raftzmq.evidence.report import failovers
from raftzmq.runtime.control import ControlClient
from raftzmq.runtime.rundir import RunDir


def wait(predicate, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise RuntimeError(f"timed out waiting for {what}")


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values) + 0.5) - 1))]


def run(args: argparse.Namespace) -> dict:
    lo, hi = map(int, args.timeout.split("-"))
    out = Path(args.out or tempfile.mkdtemp(prefix="raftzmq-hints-")) / "run"
    subprocess.run([sys.executable, "-m", "raftzmq", "start", "--detach", "--run-dir", str(out), "--nodes",
                    str(args.nodes), "--election-timeout", args.timeout, "--heartbeat", str(lo // 3),
                    "--hints", args.hints], check=True)
    client = ControlClient(RunDir(out))
    rng = random.Random(args.seed)
    load = [os.getloadavg()[0]]
    try:
        for trial in range(args.trials):
            st = wait(lambda: (s := client.request("status"))["leader"] is not None and s, 10, "a leader")
            since = time.monotonic()
            while time.monotonic() - since < 2 * hi / 1000:  # the leader must have held a while
                time.sleep(0.02)
                s = client.request("status")
                if (s["leader"], s["term"]) != (st["leader"], st["term"]):
                    st, since = s, time.monotonic()
            time.sleep(rng.uniform(0, lo / 3 / 1000))  # a random point of the heartbeat interval
            client.request("kill", ids=[st["leader"]])
            wait(lambda: client.request("status")["leader"] not in (None, st["leader"]), 10, "a new leader")
            client.request("restart", ids=[st["leader"]])
            if trial % 10 == 9:
                load.append(os.getloadavg()[0])
                print(f"{trial + 1}/{args.trials} kills", file=sys.stderr)
    finally:
        subprocess.run([sys.executable, "-m", "raftzmq", "stop", "--run-dir", str(out)], capture_output=True)
    return summarize(out, args, load)


def summarize(out: Path, args: argparse.Namespace, load: list[float]) -> dict:
    records = [loc.record for loc in read_run(out)]
    found = [f for f in failovers(records, args.nodes) if f.cause == "node_killed" and f.seconds is not None]
    times = sorted(f.seconds * 1000 for f in found)
    hinted = sum(1 for f in found if f.via_hint)
    return {"hints": args.hints, "nodes": args.nodes, "timeout_ms": args.timeout, "kills": len(found),
            "via_hint": hinted, "p50_ms": round(percentile(times, 50), 2), "p90_ms": round(percentile(times, 90), 2),
            "p99_ms": round(percentile(times, 99), 2), "max_ms": round(times[-1], 2),
            "mean_ms": round(statistics.mean(times), 2), "loadavg_1m": [round(x, 2) for x in load],
            "run_dir": str(out)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hints", choices=("on", "off"), default="on")
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--timeout", default="150-300")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", default=None)
    print(json.dumps(run(p.parse_args()), indent=2))


if __name__ == "__main__":
    main()
