"""`raftzmq bench failover`: Figure 16 of the Raft paper on real processes (and the simulator, and the model).

Per timeout range, one live cluster (started through the CLI, driven through the supervisor's control endpoint):
  1. wait until every node is up and follows one leader, and that has held for `settle` (2 x the max timeout);
  2. wait U[0, heartbeat) more, then SIGKILL the leader (`kill`; the supervisor logs `node_killed` first);
  3. wait for a `became_leader` of a higher term in the logs; restart the old leader; next trial.

Heartbeat phase. Heartbeats are not logged (a record per heartbeat would cost a write every 6 ms at 12-24 ms and
shift what we measure), so the phase is not read back per trial; it is made uniform by construction: the moment
the driver decides to kill (after step 1) is independent of the leader's heartbeat timer, and the extra U[0, hb)
makes (kill - any heartbeat) mod hb exactly uniform for a periodic timer. The logs check it statistically: the
first survivor's `election_timeout` comes min(T_i) - phase after the kill, so its mean (`detect_ms`) must be
E[min T_i] - hb/2; the summary shows both.

Costs for the simulator and the model: the one-way loopback latency is measured before each range
(machine_costs); the persist time is taken from the range's own logs (a voter's vote_granted - the candidate's
persisted self-vote - one hop, median over one-term trials), because a micro-benchmark's fsyncs on this shared VM
disk took 3x longer than the nodes' own; the micro-benchmark's figure is kept beside it.

Everything reported (table, CSV, SVG) is recomputed from the run directory (`analyze`), which is what
`--from RUN_DIR` does too. Layout of RUN_DIR: failover.json (parameters, machine costs), load.jsonl,
real-<range>/ (a live run dir), sim-<range>/ (simulator logs), trials.csv, summary.json, table.txt, fig16.svg.
"""
from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftzmq.evidence.stats import median
from raftzmq.evidence.logfile import LogTail
from raftzmq.runtime.cluster.control import ControlClient, ControlError
from raftzmq.runtime.cores.coreload import BUILTIN
from raftzmq.runtime.cluster.rundir import RunDir
from raftzmq.runtime.cluster.waiting import wait_until
from raftzmq.lab.live.cli_driver import run_cli
from raftzmq.lab.bench.failover_sim import run_sim_trials
from raftzmq.lab.bench.failover_trials import trials_from_run
from raftzmq.lab.bench.fig16 import range_label
from raftzmq.lab.bench.machine_costs import measure_costs
from raftzmq.lab.bench.machine_load import LoadSampler, run_queue_wait

__all__ = ["META", "heartbeat_for", "persist_for_models", "run_failover", "settle_s"]

META = "failover.json"
_SUCCESSOR_TIMEOUT_S = 120.0
_STABLE_TIMEOUT_S = 60.0


def heartbeat_for(rng: tuple[int, int], heartbeat: str | int) -> int:
    """The paper's convention: half the minimum election timeout (whole ms, rounded down)."""
    hb = max(1, rng[0] // 2) if heartbeat == "half" else int(heartbeat)
    if not 0 < hb * 2 <= rng[0]:
        raise ValueError(f"heartbeat {hb} ms is more than half the minimum timeout of {range_label(rng)}")
    return hb


def settle_s(rng: tuple[int, int]) -> float:
    return max(0.1, 2 * rng[1] / 1000)


class _Eta:
    def __init__(self, total: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.monotonic()

    def tick(self) -> str:
        self.done += 1
        left = (time.monotonic() - self.t0) / self.done * (self.total - self.done)
        return f"{self.done}/{self.total}, ETA {int(left // 60)} min {int(left % 60):02d} s"


class _LiveCluster:
    """One range's cluster: stability, kill, successor, restart — all through the control endpoint and logs."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.client = ControlClient(RunDir(run_dir), timeout_ms=10_000)
        self.tail = LogTail(run_dir, from_start=False)

    def stable_leader(self, hold_s: float) -> tuple[int, int]:
        """(leader, term) once all nodes have followed that leader for `hold_s`."""
        seen: list[Any] = [None, time.monotonic()]  # (leader, term) agreed by all, and since when

        def held() -> tuple[int, int] | None:
            st = self.client.request("status")
            ok = st["leader"] is not None and all(n["alive"] and n["leader"] == st["leader"] for n in st["nodes"])
            now = (st["leader"], st["term"]) if ok else None
            if now != seen[0]:
                seen[:] = [now, time.monotonic()]
            elif now is not None and time.monotonic() - seen[1] >= hold_s:
                return now
            return None
        found = wait_until(held, _STABLE_TIMEOUT_S)
        if found is None:
            raise RuntimeError(f"{self.run_dir}: no stable leader within {_STABLE_TIMEOUT_S:.0f} s")
        return found

    def kill_and_wait(self, leader: int, term: int) -> int | None:
        """SIGKILL the leader; the term of its successor (None if none came within the timeout)."""
        self.tail.poll()  # forget what came before the kill
        self.client.request("kill", ids=[leader])
        def successor() -> int | None:
            return next((loc.record["term"] for loc in self.tail.poll()
                         if loc.record["event"] == "became_leader" and loc.record["term"] > term), None)
        return wait_until(successor, _SUCCESSOR_TIMEOUT_S, interval=0.005)

    def run_queue_waits(self) -> dict[str, Any]:
        """Per live node, how long its main thread waited for a CPU per wake-up since it started."""
        nodes = {str(n["id"]): run_queue_wait(n["pid"]) for n in self.client.request("status")["nodes"] if n["pid"]}
        waits = [w["wait_per_run_ms"] for w in nodes.values() if w]
        return {"nodes": nodes, "median_wait_per_run_ms": median(waits) if waits else None}

    def restart(self, node: int) -> None:
        self.client.request("restart", ids=[node])

    def stop(self) -> None:
        try:
            self.client.request("stop")
        except ControlError:
            return
        wait_until(lambda: RunDir(self.run_dir).live_supervisor() is None, 15, interval=0.05)


def _live_range(out: Path, rng: tuple[int, int], meta: dict[str, Any], eta: _Eta,
                progress: Callable[[str], None]) -> None:
    label, hb = range_label(rng), meta["heartbeat_ms"][range_label(rng)]
    run_dir = out / f"real-{label}"
    run_cli("start", "--detach", "--run-dir", str(run_dir), "--nodes", str(meta["nodes"]),
            "--election-timeout", label, "--heartbeat", str(hb), "--hints", "on" if meta.get("hints") else "off",
            "--core", meta.get("core", BUILTIN), timeout=120)
    cluster = _LiveCluster(run_dir)
    phase_rng = random.Random(f"failover-live/{meta['seed']}/{label}")
    try:
        for i in range(meta["trials"]):
            leader, term = cluster.stable_leader(settle_s(rng))
            time.sleep(phase_rng.uniform(0.0, hb / 1000))  # the kill's phase: uniform over a heartbeat interval
            new_term = cluster.kill_and_wait(leader, term)
            if new_term is None:
                progress(f"{label}: no new leader within {_SUCCESSOR_TIMEOUT_S:.0f} s after killing {leader}")
                break
            cluster.restart(leader)
            progress(f"{label}: trial {i + 1} killed leader {leader} (term {term}), "
                     f"new leader in term {new_term} — {eta.tick()}")
        meta.setdefault("run_queue", {})[label] = cluster.run_queue_waits()
    finally:
        cluster.stop()


def persist_for_models(costs: dict[str, Any]) -> float:
    """The persist time the simulator and the model use: as the nodes paid it in the run, else the micro-benchmark."""
    in_run = costs.get("persist_in_run_ms")
    return in_run if in_run is not None else costs["persist_ms"]["median"]


def _in_run_persist(out: Path, rng: tuple[int, int], meta: dict[str, Any]) -> float | None:
    """Median over one-term trials of (a voter's vote_granted - the candidate's persisted self-vote) - one hop."""
    label = range_label(rng)
    if not (out / f"real-{label}").is_dir():  # the cluster never started (the range's error says why)
        return None
    trials, _ = trials_from_run(out / f"real-{label}", source="real", label=label, nodes=meta["nodes"])
    voter = [t.voter_ms for t in trials if t.terms == 1 and t.voter_ms is not None]
    if not voter:
        return None
    return round(max(0.0, median(voter) - meta["costs"][label]["one_way_ms"]["median"]), 4)


def _sim_range(out: Path, rng: tuple[int, int], meta: dict[str, Any]) -> None:
    label = range_label(rng)
    costs = meta["costs"][label]
    one_way = costs["one_way_ms"]
    run_sim_trials(out / f"sim-{label}", timeout_ms=rng, heartbeat_ms=meta["heartbeat_ms"][label],
                   nodes=meta["nodes"], trials=meta["trials"], one_way_ms=one_way["median"],
                   jitter_ms=max(0.0, one_way["p90"] - one_way["median"]), persist_ms=persist_for_models(costs),
                   settle_s=settle_s(rng), seed=meta["seed"], hints=bool(meta.get("hints")),
                   core=meta.get("core", BUILTIN))


def _write_meta(out: Path, meta: dict[str, Any]) -> None:
    (out / META).write_text(json.dumps(meta, indent=2) + "\n")


def run_failover(out: Path, *, ranges: list[tuple[int, int]], trials: int, nodes: int, heartbeat: str | int,
                 seed: int, sim: bool, progress: Callable[[str], None], hints: bool = False,
                 core: str = BUILTIN) -> dict[str, Any]:
    """Measure every range into `out` (which must not exist yet); return the metadata. analyze() reports.
    `core` is a spec already checked by coreload.resolve_spec; the live nodes and the simulator both run it."""
    heartbeats = {range_label(r): heartbeat_for(r, heartbeat) for r in ranges}
    out.mkdir(parents=True)
    meta: dict[str, Any] = {"ranges": [list(r) for r in ranges], "trials": trials, "nodes": nodes,
                            "heartbeat": heartbeat, "heartbeat_ms": heartbeats, "seed": seed, "sim": sim,
                            "hints": hints, "core": core, "costs": {}, "completed": [], "started_unix": time.time()}
    eta = _Eta(trials * len(ranges))
    with LoadSampler(out / "load.jsonl"):
        for rng in ranges:
            # Disk and CPU contention change by the minute here: measure the costs next to each range's trials.
            progress(f"{range_label(rng)}: measuring loopback latency and persist time on this machine")
            meta["costs"][range_label(rng)] = measure_costs(out)
            _write_meta(out, meta)
            try:
                _live_range(out, rng, meta, eta, progress)
            except (RuntimeError, ControlError) as exc:  # one broken range must not cost the others
                progress(f"{range_label(rng)}: stopped early: {exc}")
                meta.setdefault("errors", {})[range_label(rng)] = str(exc)
            meta["costs"][range_label(rng)]["persist_in_run_ms"] = _in_run_persist(out, rng, meta)
            if sim:
                _sim_range(out, rng, meta)
            meta["completed"].append(range_label(rng))
            _write_meta(out, meta)
    meta["finished_unix"] = time.time()
    _write_meta(out, meta)
    return meta
