"""`raftzmq bench lincheck`: the linearizability checker's speed on a generated history (docs/benchmarks.md).

The history comes from a simulated linearizable store: clients invoke read, write and cas on random keys with
random think times and durations (so operations overlap), each takes effect at a random instant inside its
interval, and the register's state at that instant decides what a read returns and whether a cas succeeds (a
cas that does not match is a `fail`). A fraction of operations time out (`info`): half of those still took
effect. Written values are unique. The history is linearizable by construction; `mutate` plants one stale read
(a read returning the value of a write that a later completed write overwrote before the read began).
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...evidence.history import read_history
from ...evidence.stats import median
from ...evidence.lincheck import check_history

__all__ = ["generate", "mutate_stale_read", "write_history", "bench_lincheck"]


@dataclass(slots=True)
class _Op:
    process: int
    f: str
    key: str
    value: Any
    call: int
    at: int  # when it takes effect
    ret: int
    timeout: bool
    applied: bool = True
    output: Any = None
    ok: bool = True


def generate(ops: int = 10_000, clients: int = 16, keys: int = 8, seed: int = 1, info_rate: float = 0.01,
             read_frac: float = 0.5, cas_frac: float = 0.15, values: int = 0) -> list[dict[str, Any]]:
    """A linearizable history (records in time order, with `time` in ns). Written values are unique, or with
    `values` > 0 drawn from 0..values-1 (as Jepsen's register tests do: much more ambiguity to search)."""
    rng = random.Random(seed)
    clock = [rng.randrange(1_000_000) for _ in range(clients)]
    made: list[_Op] = []
    next_value = 1
    for n in range(ops):
        client = min(range(clients), key=clock.__getitem__)  # the client whose previous op ended first
        call = clock[client] + rng.randrange(200_000)
        long = rng.random() < 0.1
        duration = rng.randrange(200_000, 20_000_000 if long else 3_000_000)
        roll = rng.random()
        f = "read" if roll < read_frac else "cas" if roll < read_frac + cas_frac else "write"
        timeout = rng.random() < info_rate
        op = _Op(client, f, f"k{rng.randrange(keys)}", None, call, call + rng.randrange(duration), call + duration,
                 timeout)
        if f != "read":
            op.value = rng.randrange(values) if values else next_value
            next_value += 1
        if timeout:
            op.applied = rng.random() < 0.5
        made.append(op)
        clock[client] = op.ret
    state: dict[str, Any] = {}
    seen: dict[str, list[Any]] = {}
    for op in sorted(made, key=lambda o: o.at):
        current = state.get(op.key)
        if op.f == "read":
            op.output = current
        elif op.f == "write":
            if op.applied:
                state[op.key] = op.value
        else:
            history = seen.setdefault(op.key, [None])
            expect = current if rng.random() < 0.5 else rng.choice(history[-4:])
            op.value = [expect, op.value]
            op.ok = expect == current
            if op.ok and op.applied:
                state[op.key] = op.value[1]
        if op.f != "read" and op.applied and (op.f == "write" or op.ok):
            seen.setdefault(op.key, [None]).append(state[op.key])
    events: list[tuple[int, int, dict[str, Any]]] = []
    for op in made:
        events.append((op.call, 0, {"process": op.process, "type": "invoke", "f": op.f, "key": op.key,
                                    "value": op.value, "time": op.call}))
        kind = "info" if op.timeout else "ok" if op.ok else "fail"
        value = op.output if op.f == "read" else op.value
        events.append((op.ret, 1, {"process": op.process, "type": kind, "f": op.f, "key": op.key,
                                   "value": None if kind == "info" else value, "time": op.ret}))
    events.sort(key=lambda e: (e[0], e[1]))
    return [e[2] for e in events]


def mutate_stale_read(records: list[dict[str, Any]], seed: int = 1) -> tuple[list[dict[str, Any]], int]:
    """Make one late ok read return an overwritten value; returns (records, line number of the read's ok)."""
    rng = random.Random(seed)
    # per key: completed ok writes as (invoke time, return time, value)
    opened: dict[int, dict[str, Any]] = {}
    writes: dict[str, list[tuple[int, int, Any]]] = {}
    reads: list[tuple[int, int, str]] = []  # (ok index, invoke time, key)
    for i, rec in enumerate(records):
        if rec["type"] == "invoke":
            opened[rec["process"]] = rec
            continue
        inv = opened.pop(rec["process"])
        if rec["type"] == "ok" and rec["f"] == "write":
            writes.setdefault(rec["key"], []).append((inv["time"], rec["time"], rec["value"]))
        elif rec["type"] == "ok" and rec["f"] == "read":
            reads.append((i, inv["time"], rec["key"]))
    candidates = reads[len(reads) // 2:]
    rng.shuffle(candidates)
    for index, call, key in candidates:
        done = [w for w in writes.get(key, []) if w[1] < call]
        for older in reversed(done):
            if any(w[0] > older[1] and w[1] < call for w in done):  # overwritten, in real time, before the read
                out = [dict(r) for r in records]
                out[index]["value"] = older[2]
                return out, index + 1
    raise RuntimeError("no read to make stale; generate more operations")


def write_history(records: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_lincheck(ops: int = 10_000, clients: int = 16, keys: int = 8, runs: int = 5, seed: int = 1,
                   info_rate: float = 0.01, cli: bool = True,
                   progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Median seconds to read and check the generated history (and its stale-read mutant), in process and
    through `raftzmq check --history` (interpreter start included)."""
    records = generate(ops, clients, keys, seed, info_rate)
    bad, bad_line = mutate_stale_read(records, seed)
    with tempfile.TemporaryDirectory(prefix="raftzmq-lincheck-") as tmp:
        good_path, bad_path = Path(tmp) / "history.jsonl", Path(tmp) / "stale.jsonl"
        write_history(records, good_path)
        write_history(bad, bad_path)
        samples: dict[str, list[float]] = {"check_s": [], "violation_s": [], "cli_s": []}
        verdicts: set[str] = set()
        window: list[int] = []
        for run in range(runs):
            progress(f"run {run + 1}/{runs}")
            took, res = _timed(lambda: check_history(read_history(good_path)))
            samples["check_s"].append(took)
            verdicts.add(res.verdict)
            took, bad_res = _timed(lambda: check_history(read_history(bad_path)))
            samples["violation_s"].append(took)
            verdicts.add(bad_res.verdict)
            if bad_res.window is not None:
                window = [op.line for op in bad_res.window.operations]
                culprit = bad_res.window.culprit.ret_line
                minimal = bad_res.window.minimal
            if cli:
                cmd = [sys.executable, "-m", "raftzmq", "check", "--history", str(good_path)]
                took, proc = _timed(lambda: subprocess.run(cmd, capture_output=True, text=True,
                                                           env={**os.environ}))
                if proc.returncode != 0:
                    raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}: {proc.stderr.strip()}")
                samples["cli_s"].append(took)
        counts = {t: sum(r["type"] == t for r in records) for t in ("ok", "fail", "info")}
        return {
            "operations": ops, "clients": clients, "keys": keys, "seed": seed, "runs": runs,
            "history": {"events": len(records), **counts},
            "verdict_linearizable_history": res.verdict,
            "verdict_stale_read_history": bad_res.verdict,
            "stale_read_line": bad_line,
            "window_size": len(window),
            "window_minimal": minimal if bad_res.window is not None else None,
            "window_lines": window if len(window) <= 20 else window[:10] + ["..."] + window[-5:],
            "window_culprit_line": culprit if bad_res.window is not None else None,
            "check_median_s": round(median(samples["check_s"]), 3),
            "violation_median_s": round(median(samples["violation_s"]), 3),
            "cli_median_s": round(median(samples["cli_s"]), 3) if samples["cli_s"] else None,
            "samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
