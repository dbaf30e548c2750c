"""`raftzmq sim` and `raftzmq bench sim`: the election core in the seeded simulator. Thin: parse, call
raftzmq.lab, print, exit 0 (clean), 1 (a safety violation), 2 (usage)."""
from __future__ import annotations

import json
import math
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..evidence.stats import quantile
from ..lab.sim import faults as F
from ..lab.bench.sim import bench_sim as _bench, profile_sim
from ..lab.sim.simdisk import DISK_MODES
from ..lab.sim.simkv import KV_MUTANTS, WorkloadConfig
from ..lab.kv.schedule import MAX_CLIENTS
from ..lab.sim.dask_seeds import DaskUnavailable
from ..lab.sim.parallel import default_jobs, run_seeds
from ..lab.sim.simulator import SimConfig, SimResult, format_record, run_seed, write_logs
from ..runtime.cores.coreload import CoreContractError
from ..protocol.units import s_to_ms
from ..runtime.config import ClusterConfig

from .options import cluster_options, fail, resolve_cluster


__all__ = ["sim", "bench_sim", "build_config", "replay_command"]

_DEFAULT = SimConfig()


def build_config(cluster: ClusterConfig, *, duration: float, faults: str, disk: str, delay_ms: float,
                 jitter_ms: float, delay_dist: str, vote_crash: float, fault_interval: float,
                 proposals: float = 0.0, workload: WorkloadConfig | None = None) -> SimConfig:
    """A resolved cluster config plus the simulator's own flags -> SimConfig; exit 2 on anything invalid."""
    try:
        kinds = F.parse_faults(faults)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--faults") from None
    try:
        return SimConfig.from_cluster(cluster, duration=duration, faults=kinds, disk=disk, delay_ms=delay_ms,
                                      jitter_ms=jitter_ms, delay_dist=delay_dist, vote_crash=vote_crash,
                                      fault_interval=fault_interval, proposals=proposals, workload=workload)
    except ValueError as e:
        fail(str(e))


def replay_command(cfg: SimConfig, seed: int) -> str:
    """The shortest `raftzmq sim` command line that replays `seed` with `cfg`."""
    d, out = _DEFAULT, [f"raftzmq sim --seed {seed}"]
    flag = lambda cond, text: out.append(text) if cond else None  # noqa: E731
    flag(cfg.nodes != d.nodes, f"--nodes {cfg.nodes}")
    flag(cfg.duration != d.duration, f"--duration {cfg.duration:g}")
    flag(cfg.faults != d.faults, f"--faults {','.join(sorted(cfg.faults)) or 'none'}")
    flag(cfg.persist_mode != d.persist_mode, f"--persist {cfg.persist_mode}")
    flag(not cfg.prevote, "--no-prevote")
    flag(not cfg.check_quorum, "--no-check-quorum")
    flag(cfg.hints, "--hints on")
    lo, hi = cfg.election_timeout_ms
    flag(cfg.election_timeout_ms != d.election_timeout_ms, f"--election-timeout {lo}-{hi}")
    flag(cfg.heartbeat_ms != d.heartbeat_ms, f"--heartbeat {cfg.heartbeat_ms}")
    flag(cfg.disk != d.disk, f"--disk {cfg.disk}")
    flag(cfg.delay_ms != d.delay_ms, f"--delay-ms {cfg.delay_ms:g}")
    flag(cfg.jitter_ms != d.jitter_ms, f"--jitter-ms {cfg.jitter_ms:g}")
    flag(cfg.delay_dist != d.delay_dist, f"--delay-dist {cfg.delay_dist}")
    flag(cfg.vote_crash != d.vote_crash, f"--vote-crash {cfg.vote_crash:g}")
    flag(cfg.fault_interval != d.fault_interval, f"--fault-interval {cfg.fault_interval:g}")
    flag(cfg.core != d.core, f"--core {shlex.quote(cfg.core)}")
    flag(cfg.proposals != d.proposals, f"--proposals {cfg.proposals:g}")
    if cfg.workload is not None:
        out.append(_workload_flags(cfg.workload))
    return " ".join(out)


_WL_DEFAULT = WorkloadConfig()


def _workload_flags(w: WorkloadConfig) -> str:
    d, out = _WL_DEFAULT, ["--workload"]
    out += [f"--clients {w.clients}"] if w.clients != d.clients else []
    out += [f"--keys {w.keys}"] if w.keys != d.keys else []
    out += [f"--rate {w.rate:g}"] if w.rate != d.rate else []
    out += [f"--timeout {w.timeout:g}"] if w.timeout != d.timeout else []
    out += [f"--budget {w.budget_s:g}"] if w.budget_s != d.budget_s else []
    out += [f"--kv-mutant {w.mutant}"] if w.mutant else []
    return " ".join(out)


def _json_or_text(result: dict[str, Any], as_json: bool, text: Callable[[], str]) -> None:
    click.echo(json.dumps(result, indent=2) if as_json else text())


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{s_to_ms(x):.0f} ms"


def _violation_report(r: SimResult, log_dir: Path | None, replay: str) -> str:
    lines = [f"VIOLATION with seed {r.seed}:"]
    for v in r.violations:
        lines.append(f"  ({v.invariant}) {v.name}: {v.message}")
        lines.extend(f"      at {w}" for w in v.where)
    lines.append(f"the last {len(r.trace)} records up to the first violation:")
    lines.extend("  " + format_record(rec) for rec in r.trace)
    if log_dir is not None:
        lines.append(f"logs: {log_dir}  (raftzmq check {log_dir})")
    lines.append(f"replay: {replay}")
    return "\n".join(lines)


class _Totals:
    def __init__(self) -> None:
        self.seeds = self.bad = self.elections = self.leaders = self.faults = self.messages = 0
        self.terms = self.max_term = 0
        self.sim = self.leaderless = 0.0
        self.failovers: list[float] = []
        self.unresolved = 0
        self.replication: dict[str, int] = {}  # summed over seeds (with --proposals)
        self.workload: _WorkloadTotals | None = None  # with --workload

    def add(self, r: SimResult) -> None:
        self.seeds += 1
        self.bad += not r.ok
        self.elections += r.elections
        self.leaders += r.leaders
        self.terms += r.max_term
        self.max_term = max(self.max_term, r.max_term)
        self.faults += r.faults_injected
        self.messages += r.messages
        self.sim += r.sim_time
        self.leaderless += r.leaderless
        self.failovers.extend(r.failovers)
        self.unresolved += r.unresolved_failovers
        for k, v in r.replication.items():
            self.replication[k] = self.replication.get(k, 0) + v
        if r.workload is not None:
            if self.workload is None:
                self.workload = _WorkloadTotals()
            self.workload.add(r)

    def to_dict(self, wall: float) -> dict[str, Any]:
        f = self.failovers
        return {
            "seeds_run": self.seeds, "violations": self.bad, "simulated_s": round(self.sim, 3),
            "wall_s": round(wall, 3), "sim_per_wall": round(self.sim / wall, 1) if wall > 0 else None,
            "elections": self.elections, "leaders_elected": self.leaders, "terms": self.terms,
            "max_term": self.max_term,
            "elections_per_s": round(self.elections / self.sim, 4) if self.sim else 0.0,
            "leaderless_fraction": round(self.leaderless / self.sim, 4) if self.sim else 0.0,
            "failovers": len(f), "failover_median_s": _round(quantile(f, 0.5) if f else None),
            "failover_p99_s": _round(quantile(f, 0.99) if f else None),
            "unresolved_failovers": self.unresolved, "faults_injected": self.faults, "messages": self.messages,
            **({"replication": dict(self.replication)} if self.replication else {}),
            **({"workload": self.workload.to_dict(self.sim)} if self.workload is not None else {}),
        }

    def render(self, wall: float) -> str:
        d = self.to_dict(wall)
        return (f"seeds run: {d['seeds_run']}, violations: {d['violations']}\n"
                f"elections: {d['elections']} ({d['elections_per_s']:.2f}/simulated s), "
                f"leaders elected: {d['leaders_elected']}, terms: {d['terms']} (max {d['max_term']}), "
                f"faults injected: {d['faults_injected']}\n"
                f"time without a leader: {100 * d['leaderless_fraction']:.1f}%\n"
                f"failover (leader lost -> new leader): n={d['failovers']} median {_ms(d['failover_median_s'])}, "
                f"p99 {_ms(d['failover_p99_s'])}, unresolved at end {d['unresolved_failovers']}\n"
                + (self._render_replication() if self.replication else "")
                + (self.workload.render(self.sim) if self.workload is not None else "")
                + f"wall time: {wall:.2f} s for {d['simulated_s']:g} simulated s "
                f"({d['sim_per_wall'] or 0:.0f}x real time)\n")

    def _render_replication(self) -> str:
        r = self.replication
        proposed = (f"{r.get('proposed', 0)} commands proposed, {r.get('accepted', 0)} accepted by a leader "
                    f"({r.get('refused', 0)} refusals retried), ") if r.get("proposed") else ""
        return (f"replication: {proposed}{r.get('max_commit', 0)} entries committed "
                f"(sum of each seed's highest commit index), {r.get('tails_cut', 0)} torn tails cut, "
                f"{r.get('lost_entries', 0)} unsynced entries lost at crashes\n")


class _WorkloadTotals:
    """`sim --workload` over the seeds: operations by outcome, verdicts by seed, virtual latency of ok operations
    (0.1 ms buckets), the first seed that is not linearizable (or unknown)."""

    _BUCKET_NS = 100_000

    def __init__(self) -> None:
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0, "open": 0}
        self.verdicts = {"linearizable": 0, "not linearizable": 0, "unknown": 0}
        self.latency: Counter[int] = Counter()
        self.first_bad: int | None = None
        self.check_s = 0.0

    def add(self, r: SimResult) -> None:
        w = r.workload
        assert w is not None
        for k in self.counts:
            self.counts[k] += w["counts"][k]
        self.verdicts[w["verdict"]] += 1
        if w["verdict"] != "linearizable" and self.first_bad is None:
            self.first_bad = r.seed
        self.latency.update(ns // self._BUCKET_NS for ns in w["latency_ns"])
        self.check_s += (w["check"] or {}).get("seconds", 0.0)

    def _quantile_ms(self, q: float) -> float | None:
        total = sum(self.latency.values())
        if not total:
            return None
        rank, seen = max(1, math.ceil(q * total)), 0  # nearest rank, as evidence/stats.quantile
        for bucket in sorted(self.latency):
            seen += self.latency[bucket]
            if seen >= rank:
                return bucket * self._BUCKET_NS / 1e6
        return None  # (unreachable)

    def to_dict(self, sim_s: float) -> dict[str, Any]:
        return {"counts": dict(self.counts), "seeds": dict(self.verdicts),
                "ok_per_simulated_s": round(self.counts["ok"] / sim_s, 2) if sim_s else 0.0,
                "latency_ms": {"p50": self._quantile_ms(0.5), "p99": self._quantile_ms(0.99),
                               "max": self._quantile_ms(1.0)},
                "first_failing_seed": self.first_bad, "check_s": round(self.check_s, 3)}

    def render(self, sim_s: float) -> str:
        d = self.to_dict(sim_s)
        c, v, lat = d["counts"], d["seeds"], d["latency_ms"]
        ms = lambda x: "-" if x is None else f"{x:.1f}"  # noqa: E731
        return (f"workload: {c['invoke']} operations: {c['ok']} ok, {c['fail']} fail, {c['info']} info, "
                f"{c['open']} never completed; {d['ok_per_simulated_s']:.1f} ok ops per simulated s, latency "
                f"(virtual) ms p50 {ms(lat['p50'])} p99 {ms(lat['p99'])} max {ms(lat['max'])}\n"
                f"histories: {v['linearizable']} linearizable, {v['not linearizable']} not linearizable, "
                f"{v['unknown']} unknown (checked in {d['check_s']:.1f} s)\n")


_EXAMPLES = """
\b
Examples:
  raftzmq sim                                     # 100 seeds, 5 nodes, all faults, safe settings
  raftzmq sim --nodes 5 --seeds 10000             # a long hunt
  raftzmq sim --nodes 5 --seeds 10000 --jobs 2 --hints on   # crashes close connections: disconnect hints
  raftzmq sim --nodes 3 --persist term-only --faults crash,delay --vote-crash 0.5 --seeds 200
                                                  # finds two leaders in one term, prints the seed
  raftzmq sim --seed 17 --log-dir logs/s17 && raftzmq check logs/s17
  raftzmq sim --disk unsafe-no-fsync --faults crash --seeds 50   # lost writes -> double votes
  raftzmq sim --nodes 5 --seeds 10000 --jobs 2 --proposals 20   # replication: 20 commands/s, every fault
  raftzmq sim --proposals 50 --disk unsafe-no-fsync --faults crash --seeds 100   # a committed entry vanishes
  raftzmq sim --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum
  raftzmq sim --disk async --proposals 20 --seeds 200   # writes complete while nodes go on: early sends, crashes
  raftzmq sim --disk async --core raftzmq.lab.conform.mutants:CountsOwnVoteEarly --nodes 3 --duration 10 --proposals 20
                                                  # counts its vote before it is durable: caught (seed 15)
  raftzmq sim --seeds 1000000 --scheduler tcp://10.0.0.5:8786   # a hunt on a Dask cluster (docs/multi-host.md)
  raftzmq sim --workload --seeds 200 --jobs 2     # KV clients: a history per seed, checked for linearizability
  raftzmq sim --workload --clients 16 --keys 4 --rate 0 --nodes 3 --seeds 50   # closed loop, 16 clients
  raftzmq sim --workload --seed 3 --log-dir logs/kv3 && raftzmq check --history logs/kv3/history.jsonl
  raftzmq sim --workload --kv-mutant stale-reads --nodes 3 --seeds 20   # reads from local state: caught
"""


def _options(fn):
    opts = [
        cluster_options,
        click.option("--duration", type=click.FloatRange(min=0.001), default=_DEFAULT.duration, show_default=True,
                     help="Simulated seconds per seed."),
        click.option("--faults", default="all", show_default=True,
                     help=f"all, none, or a comma list of: {','.join(F.FAULT_KINDS)}."),
        click.option("--disk", type=click.Choice(DISK_MODES), default="safe", show_default=True,
                     help="unsafe-no-fsync: persists reach the disk only at a later writeback. async: a write "
                          "completes ~10 ms later while the node goes on (for a core with persisted); what "
                          "depends on it waits, a crash before it loses it."),
        click.option("--delay-ms", type=float, default=_DEFAULT.delay_ms, show_default=True,
                     help="Mean one-way network delay."),
        click.option("--jitter-ms", type=float, default=_DEFAULT.jitter_ms, show_default=True,
                     help="Half-width (uniform) or std deviation (exponential)."),
        click.option("--delay-dist", type=click.Choice(F.DELAY_DISTS), default="uniform", show_default=True),
        click.option("--vote-crash", type=click.FloatRange(0, 1), default=_DEFAULT.vote_crash, show_default=True,
                     help="With crash faults: chance that a node crashes right after granting a vote."),
        click.option("--fault-interval", type=click.FloatRange(min=0.001), default=_DEFAULT.fault_interval,
                     show_default=True, help="Mean simulated seconds between injected faults."),
        click.option("--proposals", type=click.FloatRange(0, 100_000), default=_DEFAULT.proposals,
                     show_default=True, metavar="RATE",
                     help="Client commands per simulated second (Poisson) to whoever the simulator believes "
                          "leads; refused ones are retried. 0: election only (no log records)."),
        click.option("--workload", is_flag=True,
                     help="KV clients (as `raftzmq workload`) against the simulated nodes' KV services: a "
                          "history.jsonl per seed in virtual time, checked for linearizability; a seed that is "
                          "not linearizable (or unknown) fails."),
        click.option("--clients", type=click.IntRange(1, MAX_CLIENTS), default=None,
                     help=f"With --workload: client processes [default: {_WL_DEFAULT.clients}]."),
        click.option("--keys", type=click.IntRange(1, 10_000), default=None,
                     help=f"With --workload: keys [default: {_WL_DEFAULT.keys}]."),
        click.option("--rate", type=click.FloatRange(0, 100_000), default=None,
                     help=f"With --workload: operations per simulated second, all clients together (open loop); "
                          f"0: closed loop, each client's next as soon as its last completes "
                          f"[default: {_WL_DEFAULT.rate:g}]."),
        click.option("--timeout", type=click.FloatRange(min=0.001, min_open=False), default=None,
                     help=f"With --workload: an operation's deadline in simulated s; past it the outcome is "
                          f"indefinite (info) [default: {_WL_DEFAULT.timeout:g}]."),
        click.option("--budget", type=click.FloatRange(min=0.001), default=None,
                     help=f"With --workload: the checker's time budget per seed in s; exhausted: unknown, a "
                          f"failing seed [default: {_WL_DEFAULT.budget_s:g}]."),
        click.option("--kv-mutant", type=click.Choice(sorted(KV_MUTANTS)), default=None,
                     help="With --workload: a broken KV node, to see the checker reject its histories "
                          "(stale-reads: every node answers gets from its own store at once)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _config_from(kw: dict[str, Any]) -> SimConfig:
    workload = _workload_from(kw)
    cluster = resolve_cluster(kw)  # the live cluster's switches and rules (start, chaos, bench: the same)
    keys = ("duration", "faults", "disk", "delay_ms", "jitter_ms", "delay_dist", "vote_crash", "fault_interval",
            "proposals")
    return build_config(cluster, workload=workload, **{k: kw.pop(k) for k in keys})


_WL_OPTIONS = {"clients": "clients", "keys": "keys", "rate": "rate", "timeout": "timeout", "budget": "budget_s",
               "kv_mutant": "mutant"}


def _workload_from(kw: dict[str, Any]) -> WorkloadConfig | None:
    """--workload and its options -> WorkloadConfig (None without --workload); an option of the workload given
    without it is a usage error."""
    on = kw.pop("workload")
    given = {field: v for opt, field in _WL_OPTIONS.items() if (v := kw.pop(opt)) is not None}
    if not on:
        if given:
            flag = next(o for o, f in _WL_OPTIONS.items() if f in given)
            fail(f"--{flag.replace('_', '-')} is an option of --workload (add --workload)")
        return None
    try:
        return WorkloadConfig(**given)
    except ValueError as exc:
        fail(str(exc))


@click.command("sim", epilog=_EXAMPLES)
@_options
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Number of seeds to run [default: 100].")
@click.option("--seed", type=int, default=None, help="Run (replay) exactly this seed.")
@click.option("--first-seed", type=int, default=0, show_default=True)
@click.option("--log-dir", type=click.Path(file_okay=False), default=None,
              help="Write the run's logs here (one seed, or the failing one). Default for a failure: logs/sim-<seed>/.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help=f"Worker processes for a seed range (this machine: {default_jobs()} cores). Results are identical.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the seeds as tasks on this Dask scheduler's workers (pip install -e '.[dask]'). "
                   "Results, progress and the first failing seed are the same as a local run.")
def sim(**kw: Any) -> None:
    """Run N election cores in one process on a virtual clock, with seeded faults, checking safety as it goes.

    Stops at the first seed that breaks an invariant: prints the seed, the invariant, the records that led to
    it, writes that seed's logs, and exits 1. Exit 0: no violation. A range shows its progress with an ETA on
    stderr; Ctrl-C prints the summary of the seeds that finished and exits 130.
    """
    seeds, seed, first, log_dir, as_json = kw.pop("seeds"), kw.pop("seed"), kw.pop("first_seed"), kw.pop("log_dir"), kw.pop("as_json")
    jobs, scheduler = kw.pop("jobs"), kw.pop("scheduler")
    cfg = _config_from(kw)
    if seed is not None and seeds is not None:
        raise click.UsageError("give --seed S (one run) or --seeds N (a range), not both")
    if log_dir is not None:
        _make_log_dir(Path(log_dir))  # before the run: a long hunt must not end in "cannot write"
    chosen = [seed] if seed is not None else range(first, first + (seeds or 100))
    single = seed is not None or len(chosen) == 1
    fast = replace(cfg, record_logs=single and log_dir is not None)
    start = time.perf_counter()
    totals, failing, r, interrupted = _run(fast, chosen, jobs, progress=not single, scheduler=scheduler)
    wall = time.perf_counter() - start
    if interrupted:
        _report_interrupted(totals, len(chosen), wall, as_json)

    if failing is not None and not failing.files:
        failing = run_seed(replace(cfg, record_logs=True), failing.seed)  # deterministic: same run, with logs
    report_of = failing
    if log_dir is not None and single and report_of is None:
        report_of = r
    written = _keep_logs(report_of, log_dir) if report_of is not None else None

    summary = totals.to_dict(wall)
    if as_json:
        click.echo(json.dumps(_json_result(cfg, summary, written, r if single else None, failing), indent=2))
    else:
        if failing is not None:
            click.echo(_failure_report(failing, written, replay_command(cfg, failing.seed)))
        elif written is not None:
            click.echo(f"logs: {written}  (raftzmq check {written})")
            if r is not None and r.workload is not None:
                click.echo(f"history: {written / 'history.jsonl'}: {r.workload['verdict'].upper()}  "
                           f"(raftzmq check --history {written / 'history.jsonl'})")
        click.echo(totals.render(wall), nl=False)
    sys.exit(1 if failing is not None else 0)


def _json_result(cfg: SimConfig, summary: dict[str, Any], written: Path | None, single_run: SimResult | None,
                 failing: SimResult | None) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": failing is None, "config": cfg.to_dict(), "summary": summary,
                           "log_dir": str(written) if written else None}
    if single_run is not None:
        out["run"] = single_run.summary()
    if failing is not None:
        out["failing_seed"] = failing.seed
        out["violations"] = [v.to_dict() for v in failing.violations]
        out["trace"] = failing.trace
        out["replay"] = replay_command(cfg, failing.seed)
        if failing.workload is not None:
            out["workload"] = {k: v for k, v in failing.workload.items() if k not in ("history", "latency_ns")}
    return out


def _failure_report(r: SimResult, log_dir: Path | None, replay: str) -> str:
    """A safety violation (the records that led to it), a history that is not linearizable (the checker's
    window), or both; then the logs and the replay line."""
    parts = []
    if r.violations:
        parts.append(_violation_report(r, log_dir, replay).rsplit("\nreplay: ", 1)[0])
    w = r.workload
    if w is not None and w["verdict"] != "linearizable":
        lines = [f"{w['verdict'].upper()} history with seed {r.seed}:"]
        lines += ["  " + line for line in w["report"].splitlines()]
        if log_dir is not None:
            h = log_dir / "history.jsonl"
            lines.append(f"history: {h}  (raftzmq check --history {h} --html lin.html)")
            if not r.violations:
                lines.append(f"logs: {log_dir}  (raftzmq check {log_dir})")
        parts.append("\n".join(lines))
    parts.append(f"replay: {replay}")
    return "\n".join(parts)


_PROGRESS_EVERY_S = 2.0
EXIT_INTERRUPTED = 130  # the shell's convention for "ended by SIGINT"


def _run(cfg: SimConfig, chosen: Any, jobs: int, progress: bool,
         scheduler: str | None = None) -> tuple[_Totals, SimResult | None, Any, bool]:
    """Run the seeds until the first violation or a Ctrl-C: (totals, failing result, last result, interrupted).
    With `progress`, a line on stderr every few seconds: seeds done, violations, elapsed time and an ETA."""
    totals, failing, r = _Totals(), None, None
    start = last_progress = time.perf_counter()
    try:
        for i, r in enumerate(run_seeds(cfg, chosen, jobs, scheduler=scheduler), 1):
            totals.add(r)
            if not r.ok:
                return totals, r, r, False
            now = time.perf_counter()
            if progress and now - last_progress >= _PROGRESS_EVERY_S:
                last_progress = now
                eta = (now - start) / i * (len(chosen) - i)
                click.echo(f"[sim] {i}/{len(chosen)} seeds, 0 violations, {now - start:.0f} s, "
                           f"ETA {_duration(eta)}", err=True)
    except KeyboardInterrupt:
        return totals, failing, r, True
    except CoreContractError as exc:  # a plug-in core that breaks the contract mid-run: which rule, no traceback
        fail(str(exc))
    except DaskUnavailable as exc:
        fail(str(exc))
    return totals, failing, r, False


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _report_interrupted(totals: _Totals, planned: int, wall: float, as_json: bool) -> None:
    """Ctrl-C: what ran so far, then exit 130. No violation was found in the seeds that finished."""
    if as_json:
        click.echo(json.dumps({"ok": None, "interrupted": True, "seeds_planned": planned,
                               "summary": totals.to_dict(wall)}, indent=2))
    else:
        click.echo(f"interrupted after {totals.seeds} of {planned} seeds; partial summary:")
        click.echo(totals.render(wall), nl=False)
    sys.exit(EXIT_INTERRUPTED)


def _make_log_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create --log-dir {path}: {exc.strerror or exc}")


def _keep_logs(result: SimResult, log_dir: str | None) -> Path | None:
    """Write the seed's logs (to --log-dir, else logs/sim-<seed>/); a failure to write is a warning, since the
    verdict stands without the files and the replay command reproduces them."""
    target = Path(log_dir) if log_dir is not None else Path("logs") / f"sim-{result.seed}"
    try:
        written = write_logs(result, target)
        history = result.workload.get("history") if result.workload is not None else None
        if history is not None:
            (written / "history.jsonl").write_text(history, encoding="utf-8")
        return written
    except OSError as exc:
        click.echo(f"raftzmq: warning: cannot write the logs to {target}: {exc.strerror or exc} "
                   "(choose a writable --log-dir to keep them)", err=True)
        return None


@click.command("sim", epilog="""
\b
Examples:
  raftzmq bench sim                      # 5 nodes, all faults, 20 seeds x 5 runs
  raftzmq bench sim --runs 9 --profile   # and where the time goes
  raftzmq bench sim --seeds 400 --jobs 2 --scheduler tcp://127.0.0.1:8786   # Dask against --jobs 2
""")
@_options
@click.option("--seeds", type=click.IntRange(min=1), default=20, show_default=True, help="Seeds per run.")
@click.option("--runs", type=click.IntRange(min=1), default=5, show_default=True, help="Median over this many.")
@click.option("--profile", is_flag=True, help="Also print a cProfile of one pass, by own time.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the seeds on this Dask scheduler's workers, and the same seeds with --jobs locally, "
                   "and report both rates and their ratio.")
@click.option("--json", "as_json", is_flag=True)
def bench_sim(**kw: Any) -> None:
    """Simulator speed: simulated seconds per wall second (median of several runs; checker on, no log files)."""
    seeds, runs, profile, as_json = kw.pop("seeds"), kw.pop("runs"), kw.pop("profile"), kw.pop("as_json")
    jobs, scheduler = kw.pop("jobs"), kw.pop("scheduler")
    cfg = _config_from(kw)
    if scheduler is not None:
        try:
            res = _bench(cfg, seeds=seeds, runs=runs, jobs=jobs, scheduler=scheduler)
        except DaskUnavailable as exc:
            fail(str(exc))
        local, remote = res["local"], res["dask"]
        _json_or_text(res, as_json, lambda: (
            f"{cfg.nodes} nodes, {seeds} seeds x {cfg.duration:g} simulated s, {runs} runs each, interleaved\n"
            f"local --jobs {jobs}: median {local['seeds_per_s_median']:.1f} seeds/s\n"
            f"dask {scheduler} ({res['dask_workers']} workers): median {remote['seeds_per_s_median']:.1f} seeds/s\n"
            f"dask / local: {res['ratio_median']:.2f} (median of per-pair ratios)"))
        return
    res = _bench(cfg, seeds=seeds, runs=runs, jobs=jobs)
    _json_or_text(res, as_json, lambda: (
        f"{cfg.nodes} nodes, faults {','.join(sorted(cfg.faults)) or 'none'}, {seeds} seeds x "
        f"{cfg.duration:g} simulated s, {runs} runs, {jobs} process(es)\n"
        f"simulated/wall: median {res['ratio_median']:.0f}x (min {res['ratio_min']:.0f}x, "
        f"max {res['ratio_max']:.0f}x); {res['messages_per_s_median']:.0f} messages/s; "
        f"violations {res['violations']}"))
    if profile:
        click.echo(profile_sim(cfg, seeds=min(seeds, 10)), err=as_json)
