"""`raftzmq bench ...`: measurements recorded in docs/benchmarks.md (not timed tests)."""
from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

import click

from ..lab.bench import cluster as bench_cluster, codec as bench_codec, hotpath as bench_hotpath
from ..lab.bench import net as bench_net, scale as bench_scale
from ..lab.bench.failover import META, heartbeat_for, run_failover
from ..lab.bench.failover_report import analyze, compare
from ..lab.bench.fig16 import parse_ranges
from ..runtime.cluster.control import ControlError
from ..runtime.cores.coreload import CoreLoadError, resolve_spec
from ..runtime.node.curve import AUTH_MODES
from ..runtime.cluster.netns import NET_MODES
from ..runtime.cluster.spawn import SPAWN_METHODS
from ..lab.bench import flood as bench_flood
from ..lab.bench.wal import bench_wal
from ..lab.bench.replication import bench_replication
from ..lab.bench import lincheck as bench_lincheck
from ..lab.bench import kv as bench_kv
from .options import cluster_options, fail, resolve_cluster, start_args
from .sim import bench_sim

__all__ = ["bench"]


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def _emit(result: dict, as_json: bool) -> None:
    result = {"machine": _machine(), **result}
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            if key != "samples":
                click.echo(f"{key:>28}: {value}")


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _measure(fn, **kwargs):
    try:
        return fn(progress=_progress, **kwargs)
    except RuntimeError as exc:
        click.echo(f"raftzmq: error: {exc}", err=True)
        sys.exit(2)


@click.group()
def bench() -> None:
    """Benchmarks of the simulator and of live clusters (see docs/benchmarks.md).

    \b
    Examples:
      raftzmq bench cluster                 # cold start, idle CPU, RSS for 5 nodes
      raftzmq bench large --hold 60         # 101 nodes: start-up and a stable minute
      raftzmq bench spawn                   # fork+exec vs forkserver for 101 processes
      raftzmq bench hotpath                 # CPU per heartbeat against a bare pyzmq floor
      raftzmq bench scale                   # 5, 25, 51, 101 nodes: start-up, elections, CPU, RSS, logs
      raftzmq bench sim --runs 9            # simulated seconds per wall second
      raftzmq bench failover --sim          # the Raft paper's Figure 16 on real processes
      raftzmq bench net --auth curve        # idle CPU and failover with CURVE
      raftzmq bench codec                   # wire encodings: heartbeat and 100 x 1 KB entries
      raftzmq bench wal                     # append+fsync of the write-ahead log against os.write+os.fsync
      raftzmq bench flood                   # hostile frames: CPU per rejected frame, elections caused
      raftzmq bench lincheck                # the linearizability checker on 10,000 operations
      raftzmq bench replication             # commit latency vs fsync + round trip, catch-up, message budgets
      raftzmq bench kv                      # closed-loop KV throughput vs PySyncObj and the fsync floor
    """


bench.add_command(bench_sim)


def _cluster_args(flags: dict[str, Any], nodes: int | None = None) -> tuple[int, list[str]]:
    """Resolve the cluster switches as `start` does (same refusals, exit 2): (nodes, flags for `start`)."""
    if flags["nodes"] is None and nodes is not None:
        flags["nodes"] = nodes
    config_path = flags["config_path"]
    config = resolve_cluster(flags)
    return config.nodes, start_args(config, config_path)


@bench.command()
@cluster_options
@click.option("--runs", type=int, default=5, show_default=True, help="Cold starts to take the median of.")
@click.option("--spawn", type=click.Choice(SPAWN_METHODS), default="zygote", show_default=True,
              help="How the cluster starts its nodes.")
@click.option("--idle", "idle_s", type=float, default=10.0, show_default=True, help="Idle window in seconds.")
@click.option("--json", "as_json", is_flag=True)
def cluster(runs: int, spawn: str, idle_s: float, as_json: bool, **flags: Any) -> None:
    """Cold start to first leader (interpreter start included), idle CPU of leader and followers, RSS.

    Takes the cluster switches of `raftzmq start` (same rules, same refusals).

    \b
    Examples:
      raftzmq bench cluster --runs 7 --idle 20
      raftzmq bench cluster --nodes 7 --heartbeat 100 --election-timeout 300-600
    """
    nodes, args = _cluster_args(flags)
    extra = ["--spawn", spawn, *args]
    result = {"cold_start": _measure(bench_cluster.cold_start, nodes=nodes, runs=runs, extra=extra),
              "idle": _measure(bench_cluster.idle_usage, nodes=nodes, seconds=idle_s, extra=extra)}
    if as_json:
        _emit(result, True)
        return
    cold, idle = result["cold_start"], result["idle"]
    _emit({"nodes": nodes,
           "cold start median (s)": f"{cold['median_s']:.3f}",
           "cold start samples (s)": ", ".join(f"{s:.3f}" for s in cold["samples_s"]),
           "leader CPU (% core)": idle["leader_cpu_pct"],
           "follower CPU median (% core)": idle["follower_cpu_pct_median"],
           "follower CPU max (% core)": idle["follower_cpu_pct_max"],
           "supervisor CPU (% core)": idle["supervisor_cpu_pct"],
           "RSS median / max (MB)": f"{idle['rss_mb_median']} / {idle['rss_mb_max']}",
           "leader stable in window": idle["stable"]}, False)


@bench.command()
@cluster_options
@click.option("--hold", type=float, default=60.0, show_default=True, help="Seconds to watch for new terms.")
@click.option("--spawn", type=click.Choice(SPAWN_METHODS), default="zygote", show_default=True,
              help="How the cluster starts its nodes.")
@click.option("--json", "as_json", is_flag=True)
def large(hold: float, spawn: str, as_json: bool, **flags: Any) -> None:
    """Many nodes (101 unless --nodes or --config say otherwise): time until all are up with a leader, then a
    window with no new term. Takes the cluster switches of `raftzmq start`.

    \b
    Examples:
      raftzmq bench large --nodes 101 --hold 60
      raftzmq bench large --config configs/large.toml
    """
    nodes, args = _cluster_args(flags, nodes=None if flags["config_path"] else 101)
    extra = ["--spawn", spawn, *args]
    _emit(_measure(bench_cluster.large_cluster, nodes=nodes, hold=hold, extra=extra), as_json)


@bench.command()
@click.option("--nodes", type=int, default=101, show_default=True)
@click.option("--runs", type=int, default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def spawn(nodes: int, runs: int, as_json: bool) -> None:
    """How fast N node processes can be started: fork+exec vs a preloaded forkserver.

    \b
    Examples:
      raftzmq bench spawn --nodes 101 --runs 5
    """
    _emit(_measure(bench_cluster.spawn_methods, nodes=nodes, runs=runs), as_json)


@bench.command()
@click.option("--runs", type=click.IntRange(1, 1000), default=7, show_default=True,
              help="Timed runs per encoding and message (medians are reported).")
@click.option("--entries", type=click.IntRange(1, 1024), default=100, show_default=True,
              help="Entries in the batch message.")
@click.option("--entry-bytes", type=click.IntRange(0, 64 << 10), default=1024, show_default=True,
              help="Data bytes per entry.")
@click.option("--json", "as_json", is_flag=True)
def codec(runs: int, entries: int, entry_bytes: int, as_json: bool) -> None:
    """Encode + decode cost of one message (microseconds, median of --runs) per wire encoding: the codec's
    packed frame, the same with the data in a second ZeroMQ frame, JSON with base64 entries, and the previous
    JSON wire (v3) for heartbeats. Pure CPU, no sockets; run it on a quiet machine.

    \b
    Examples:
      raftzmq bench codec                          # heartbeat and 100 x 1 KB, 7 runs
      raftzmq bench codec --runs 3 --entries 1000 --entry-bytes 64
    """
    res = _measure(bench_codec.measure, runs=runs, entries=entries, entry_bytes=entry_bytes)
    if as_json:
        _emit(res, True)
        return
    click.echo(f"machine: {_machine()}")
    click.echo(bench_codec.table(res))
    for key in ("heartbeat packed / json-v3", "heartbeat packed cached / json-v3 cached"):
        click.echo(f"{key}: {res[key]}")


@bench.command()
@cluster_options
@click.option("--sizes", default="5", show_default=True, metavar="N[,N...]",
              help="Cluster sizes to measure (the floor has min(N, 5) processes).")
@click.option("--runs", type=int, default=3, show_default=True, help="Windows per size (medians are reported).")
@click.option("--seconds", type=float, default=10.0, show_default=True, help="Length of each window.")
@click.option("--json", "as_json", is_flag=True)
def hotpath(sizes: str, runs: int, seconds: float, as_json: bool, **flags: Any) -> None:
    """CPU per heartbeat of a raftzmq follower and leader against the floor (a bare pyzmq cluster doing only
    the same traffic, in the same window), and how late the heartbeat timer fires (p50/p99).

    \b
    Examples:
      raftzmq bench hotpath                       # 5 nodes, 3 windows of 10 s
      raftzmq bench hotpath --sizes 5,101 --runs 3
    """
    config_path = flags["config_path"]  # resolve_cluster pops the cluster flags
    config = resolve_cluster(flags)
    res = _measure(bench_hotpath.hotpath, nodes=_sizes(sizes), runs=runs, seconds=seconds,
                   heartbeat_ms=config.heartbeat_ms, extra=start_args(config, config_path))
    _emit({"load average at start": bench_hotpath.load_average(), **res}, as_json)


@bench.command()
@cluster_options
@click.option("--sizes", default="5,25,51,101", show_default=True, metavar="N[,N...]", help="Cluster sizes.")
@click.option("--hold", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to watch each cluster after its leader is elected (0: start-up only).")
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True,
              help="Clusters per size, each in its own run directory (medians first).")
@click.option("--json", "as_json", is_flag=True)
def scale(sizes: str, hold: float, runs: int, as_json: bool, **flags: Any) -> None:
    """Per cluster size: the user-facing start (`raftzmq start --detach` run as a command, until it returns with
    a leader in `status`), the start-up profile from the logs (spawned, started, connecting, released, first
    candidate, first and stable leader), terms, elections and pre-votes until it, elections during a hold,
    cluster CPU, RSS per node, log bytes (start-up and per idle minute). The load average beside each run.

    Takes the cluster switches of `raftzmq start` (default timings unless told otherwise).

    \b
    Examples:
      raftzmq bench scale                          # 5, 25, 51 and 101 nodes, 3 runs, 60 s hold each
      raftzmq bench scale --sizes 5,51,101 --hold 0   # start-up only: medians of 3
      raftzmq bench scale --sizes 51,101 --hold 30 --runs 5
    """
    config_path = flags["config_path"]  # resolve_cluster pops the cluster flags
    config = resolve_cluster(flags)
    res = _measure(bench_scale.scale, sizes=_sizes(sizes), hold=hold, runs=runs,
                   extra=start_args(config, config_path))
    if as_json:
        _emit({"load average at start": bench_hotpath.load_average(), **res}, True)
    else:
        click.echo(_scale_table(res))


_SCALE_COLUMNS = (("command_s", "command→leader s"), ("first_leader_s", "first leader s"),
                  ("last_node_started_s", "last started s"), ("stable_term", "term"),
                  ("elections_until_stable", "elections"))


def _scale_table(res: dict[str, Any]) -> str:
    """One row per size: the user-facing figure first (the median, then every run's), the start-up milestones
    from the logs beside it, the load at the starts; whatever else was measured (a hold window) below."""
    rows = [["size", *(title for _, title in _SCALE_COLUMNS), "runs: command→leader s", "load"]]
    extra_lines = []
    for size, entry in res.items():
        samples = entry["samples"] if "samples" in entry else [entry]
        summary = entry.get("median", entry)
        row = [size]
        for key, _ in _SCALE_COLUMNS:
            value = summary.get(key)
            if key == "stable_term":  # a term is not a quantity: every run's, not a median
                value = ",".join(sorted({str(s[key]) for s in samples if s.get(key) is not None})) or None
            row.append("-" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value))
        row.append(" ".join(f"{s['command_s']:g}" if s.get("command_s") is not None else "failed" for s in samples))
        row.append(" ".join(sorted({str(s.get("load", "?")).split()[0] for s in samples})))
        rows.append(row)
        rest = {k: v for k, v in summary.items() if k not in dict(_SCALE_COLUMNS) and k not in ("load", "load_after")
                and not k.endswith("_s") and k not in ("runs", "load_1min_range", "nodes")}
        if rest:
            extra_lines.append(f"{size}: " + ", ".join(f"{k} {v}" for k, v in rest.items()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"machine: {_machine()}", f"load average now: {bench_hotpath.load_average()}"]
    lines += ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths)))
              for r in rows]
    return "\n".join(lines + extra_lines)


@bench.command(name="flood")
@cluster_options
@click.option("--frames", type=click.IntRange(min=1000), default=200_000, show_default=True,
              help="Hostile frames per run (raftzmq fuzz at full rate).")
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True, help="Runs (medians first).")
@click.option("--second/--no-second", default=True, show_default=True,
              help="Run a second 5-node cluster beside the target as load.")
@click.option("--json", "as_json", is_flag=True)
def flood_bench(frames: int, runs: int, second: bool, as_json: bool, **flags: Any) -> None:
    """A flood of hostile frames against a 5-node cluster: CPU per rejected frame, elections caused (target 0),
    leader and term held, frames dropped undecoded by the per-connection budgets; the load beside each run.

    \b
    Examples:
      raftzmq bench flood                          # 3 runs of 200,000 frames, a second cluster as load
      raftzmq bench flood --frames 50000 --runs 1 --no-second
    """
    config_path = flags["config_path"]  # resolve_cluster pops the cluster flags
    config = resolve_cluster(flags)
    res = _measure(bench_flood.flood, frames=frames, runs=runs, second=second,
                   extra=start_args(config, config_path))
    _emit({"load average at start": bench_hotpath.load_average(), **res}, as_json)


@bench.command(name="wal")
@click.option("--rounds", type=click.IntRange(min=1), default=200, show_default=True,
              help="Samples per batch size (medians are reported).")
@click.option("--size", type=click.IntRange(min=0), default=1024, show_default=True, help="Bytes per entry.")
@click.option("--dir", "directory", metavar="DIR", default=None,
              help="Where to write (a temporary directory inside it, removed after; default: the logs root). "
                   "Put it on the disk you want to measure.")
@click.option("--json", "as_json", is_flag=True)
def wal_bench(rounds: int, size: int, directory: str | None, as_json: bool) -> None:
    """Latency of WriteAheadLog append+sync (one fsync) for 1 entry and for a batch of 100, against the floor of
    a bare os.write + os.fsync of the same bytes, measured alternately in the same run (medians and p90, us).

    \b
    Examples:
      raftzmq bench wal                          # 200 rounds, 1 KB entries, under the logs root
      raftzmq bench wal --rounds 500 --dir /mnt/ssd --json
    """
    from ..runtime.cluster.rundir import default_logs_root

    res = bench_wal(Path(directory) if directory else default_logs_root(), rounds=rounds, size=size,
                    progress=_progress)
    _emit(res, as_json)


@bench.command(name="replication")
@click.option("--runs", type=click.IntRange(1, 50), default=3, show_default=True,
              help="Fresh clusters per measurement (medians are reported).")
@click.option("--proposals", type=click.IntRange(10, 100_000), default=200, show_default=True,
              help="Proposals timed per latency run (after 20 of warm-up).")
@click.option("--catchup", "catchup", type=click.IntRange(100, 1_000_000), default=10_000, show_default=True,
              help="Entries the restarted follower is behind.")
@click.option("--dir", "directory", metavar="DIR", default=None,
              help="Where the run directories go (removed after; default: the logs root).")
@click.option("--json", "as_json", is_flag=True)
def replication_bench(runs: int, proposals: int, catchup: int, directory: str | None, as_json: bool) -> None:
    """Replication on real processes: commit latency with one proposer on 5 nodes against the floor of one
    fsync plus one round trip measured in the same run; catch-up speed of a follower CATCHUP entries behind;
    messages sent to elect on 3 nodes and to commit 10 entries. Medians over RUNS fresh clusters, with the
    machine's load (see docs/benchmarks.md, "Replication").

    
    Examples:
      raftzmq bench replication                       # 3 runs
      raftzmq bench replication --runs 5 --json > replication.json
      raftzmq bench replication --runs 1 --proposals 50 --catchup 2000   # a quick look
    """
    from ..runtime.cluster.rundir import default_logs_root

    res = _measure(bench_replication, directory=Path(directory) if directory else default_logs_root(), runs=runs,
                   proposals=proposals, catchup=catchup)
    _emit(res, as_json)


def _sizes(text: str) -> list[int]:
    """--sizes of bench hotpath and bench scale: comma-separated cluster sizes."""
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        fail(f"--sizes: expected comma-separated integers, got {text!r}")


def _heartbeat(value: str) -> str | int:
    if value == "half":
        return value
    if not value.isdigit() or int(value) < 1:
        fail(f"--heartbeat must be a positive number of ms or 'half', got {value!r}")
    return int(value)


def _report(summary: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"machine": _machine(), **summary}, indent=2))
        return
    click.echo(summary["table"], nl=False)
    run = summary["run_dir"]
    click.echo(f"\nfiles: {run}/trials.csv, {run}/fig16.svg, {run}/summary.json")


@bench.command()
@click.option("--timeouts", default="all", show_default=True, metavar="MIN-MAX,...",
              help="Election timeout ranges in ms, comma-separated; 'all' = the paper's nine.")
@click.option("--trials", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Leader kills per range.")
@click.option("--nodes", type=click.IntRange(3, 15), default=5, show_default=True)
@click.option("--heartbeat", "heartbeat", default="half", show_default=True, metavar="MS|half",
              help="Heartbeat interval; 'half' = half the minimum timeout (the paper's setting).")
@click.option("--seed", type=int, default=None, help="Seeds the kill phases, the simulator and the model.")
@click.option("--out", "out_dir", default=None, metavar="DIR",
              help="New directory for the run (default logs/failover-<time>); with several --from, the chart file.")
@click.option("--sim", is_flag=True, help="Also run the same trials on the simulator.")
@click.option("--hints", type=click.Choice(("on", "off")), default="off", show_default=True,
              help="Disconnect hints on the live nodes and in the simulator (see `raftzmq start --help`).")
@click.option("--core", default="builtin", show_default=True, metavar="SPEC",
              help="Election core on the live nodes and in the simulator: package.module:Class, path/file.py:Class "
                   "or exec:COMMAND (docs/core-contract.md).")
@click.option("--from", "from_dirs", multiple=True, metavar="RUN_DIR",
              help="Recompute the table, CSV and plot from an earlier run; runs nothing. Twice or more (with --out "
                   "FILE.svg): also one chart with every run's curves, e.g. hints on beside hints off.")
@click.option("--json", "as_json", is_flag=True)
def failover(timeouts: str, trials: int, nodes: int, heartbeat: str, seed: int | None, out_dir: str | None,
             sim: bool, hints: str, core: str, from_dirs: tuple[str, ...], as_json: bool) -> None:
    """Figure 16 of the Raft paper: time without a leader after the leader is SIGKILLed.

    Per range, a live cluster; before each trial one leader has held for 2x the max timeout; the leader is
    killed at a uniformly random point of its heartbeat interval and restarted once a new leader exists.
    Downtime runs from the kill's record to the new leader's became_leader. Prints per range the real,
    simulated (--sim), model and paper rows; writes trials.csv, fig16.svg, summary.json into the run dir.

    \b
    Examples:
      raftzmq bench failover --timeouts 150-300 --trials 50 --sim
      raftzmq bench failover --trials 200 --sim --out runs/fig16     # all nine ranges
      raftzmq bench failover --timeouts 12-24 --heartbeat 4
      raftzmq bench failover --timeouts 150-300 --hints on          # failover by disconnect hint
      raftzmq bench failover --timeouts 150-300 --core examples/minimal_core.py:MinimalCore
      raftzmq bench failover --from runs/fig16                       # the table and plot again
      raftzmq bench failover --from runs/on --from runs/off --out hints.svg   # both runs on one chart
    """
    if len(from_dirs) > 1:
        _compare([Path(d) for d in from_dirs], out_dir, as_json)
        return
    if from_dirs:
        _report(_analyze_existing(Path(from_dirs[0])), as_json)
        return
    try:
        ranges = parse_ranges(timeouts)
        hb = _heartbeat(heartbeat)
        for r in ranges:
            heartbeat_for(r, hb)
        core = resolve_spec(core)  # imported and probed now: a bad core is one line before anything starts
    except (ValueError, CoreLoadError) as exc:
        fail(str(exc))
    out = Path(out_dir) if out_dir else Path("logs") / time.strftime("failover-%Y%m%d-%H%M%S")
    if out.exists():
        fail(f"{out} already exists; choose a new --out directory (or report it with --from {out})")
    seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
    try:
        run_failover(out, ranges=ranges, trials=trials, nodes=nodes, heartbeat=hb, seed=seed, sim=sim,
                     hints=hints == "on", core=core, progress=_progress)
    except (RuntimeError, ControlError) as exc:
        fail(f"{exc} (partial results: raftzmq bench failover --from {out})")
    _report(analyze(out), as_json)


def _check_run_dir(run: Path) -> None:
    if not (run / META).is_file():
        fail(f"{run} is not a bench failover run directory (no {META})")


def _analyze_existing(run: Path) -> dict:
    _check_run_dir(run)
    try:
        return analyze(run)
    except (ValueError, KeyError, OSError) as exc:
        fail(f"cannot read {run}: {exc}")


def _compare(runs: list[Path], chart: str | None, as_json: bool) -> None:
    if chart is None or not chart.endswith(".svg"):
        fail("several --from runs are drawn on one chart: name it with --out FILE.svg")
    for run in runs:
        _check_run_dir(run)
    try:
        summaries = compare(runs, Path(chart))
    except (ValueError, KeyError, OSError) as exc:
        fail(f"cannot compare {', '.join(map(str, runs))}: {exc}")
    if as_json:
        click.echo(json.dumps({"machine": _machine(), "runs": summaries, "chart": chart}, indent=2))
        return
    for summary in summaries:
        click.echo(f"== {summary['run_dir']}")
        _report(summary, False)
        click.echo()
    click.echo(f"chart of all {len(runs)} runs: {chart}")

@bench.command(name="net")
@click.option("--nodes", type=int, default=5, show_default=True)
@click.option("--failovers", type=int, default=10, show_default=True, help="Leader kills to take the median of.")
@click.option("--idle", "idle_s", type=float, default=10.0, show_default=True, help="Idle window in seconds.")
@click.option("--partitions", type=int, default=0, show_default=True,
              help="Then cut the leader and one follower off this many times, timing their rejoin after heal.")
@click.option("--hold", "hold_s", type=float, default=5.0, show_default=True, help="Seconds each partition lasts.")
@click.option("--auth", type=click.Choice(AUTH_MODES), default="none", show_default=True)
@click.option("--net", "net_mode", type=click.Choice(NET_MODES), default="host", show_default=True)
@click.option("--hints", type=click.Choice(("on", "off")), default="off", show_default=True,
              help="Disconnect hints (see `raftzmq start --help`); counts the `hint` records after kills and "
                   "while partitioned.")
@click.option("--json", "as_json", is_flag=True)
def net_bench(nodes: int, failovers: int, idle_s: float, partitions: int, hold_s: float, auth: str, net_mode: str,
              hints: str, as_json: bool) -> None:
    """Idle CPU (schedstat) and failover after a leader kill, with or without CURVE and network namespaces.

    \b
    Examples:
      raftzmq bench net --failovers 10 --idle 20
      raftzmq bench net --auth curve
      sudo raftzmq bench net --net netns --auth curve
      sudo raftzmq bench net --net netns --failovers 0 --partitions 5 --hold 8
      sudo raftzmq bench net --net netns --hints on --partitions 3     # a kill hints, a packet-level cut does not
    """
    extra = ["--auth", auth, "--net", net_mode, "--hints", hints]
    _emit(_measure(bench_net.net_costs, nodes=nodes, failovers=failovers, idle_s=idle_s, partitions=partitions,
                   hold_s=hold_s, extra=extra), as_json)


@bench.command(name="lincheck")
@click.option("--ops", type=click.IntRange(100, 10_000_000), default=10_000, show_default=True,
              help="Operations in the generated history.")
@click.option("--clients", type=click.IntRange(1, 10_000), default=16, show_default=True)
@click.option("--keys", type=click.IntRange(1, 100_000), default=8, show_default=True)
@click.option("--runs", type=click.IntRange(1, 1000), default=5, show_default=True,
              help="Checks of the same history to take the median of.")
@click.option("--info-rate", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="Fraction of operations that time out (info); half of them took effect.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--cli/--no-cli", default=True, show_default=True,
              help="Also time `raftzmq check --history` as a command (interpreter start included).")
@click.option("--json", "as_json", is_flag=True)
def lincheck_bench(ops: int, clients: int, keys: int, runs: int, info_rate: float, seed: int, cli: bool,
                   as_json: bool) -> None:
    """Speed of `raftzmq check --history`: generate a history from a simulated linearizable register (random
    overlaps, some timed-out operations, unique values), read and check it RUNS times, and report the median
    in seconds; the same for a copy with one stale read planted (so the violation path, with its window, is
    timed too). The target (issue 19): 10,000 operations, 16 clients, 8 keys in at most 10 s.

    \b
    Examples:
      raftzmq bench lincheck                          # 10,000 ops, 16 clients, 8 keys, 5 runs
      raftzmq bench lincheck --ops 100000 --runs 3 --json
      raftzmq bench lincheck --keys 1 --info-rate 0.05  # every client on one register
    """
    res = _measure(bench_lincheck.bench_lincheck, ops=ops, clients=clients, keys=keys, runs=runs, seed=seed,
                   info_rate=info_rate, cli=cli)
    if res["verdict_linearizable_history"] != "linearizable" or res["verdict_stale_read_history"] != \
            "not linearizable":
        click.echo(f"raftzmq: error: wrong verdicts: {res['verdict_linearizable_history']} / "
                   f"{res['verdict_stale_read_history']}", err=True)
        sys.exit(1)
    _emit(res, as_json)


def _counts(text: str, what: str, low: int, high: int) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(not low <= v <= high for v in values):
        fail(f"{what} takes a comma-separated list of integers in {low}..{high}, got {text!r}")
    return values


@bench.command(name="kv")
@click.option("--nodes", "nodes_text", default="3,5", show_default=True, metavar="N[,N...]",
              help="Cluster sizes (fsync on).")
@click.option("--clients", "clients_text", default="1,16,64", show_default=True, metavar="C[,C...]",
              help="Closed-loop client counts (the same for PySyncObj).")
@click.option("--duration", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True,
              help="Seconds of each measured window.")
@click.option("--warmup", type=click.FloatRange(0, 600), default=1.0, show_default=True,
              help="Seconds of load before each window.")
@click.option("--procs", type=click.IntRange(1, bench_kv.MAX_PROCS), default=4, show_default=True,
              help="Load processes the clients are spread over (one Python process tops out at a few "
                   "thousand requests/s).")
@click.option("--api", type=click.Choice(bench_kv.APIS), default="auto", show_default=True,
              help="kv: raftzmq.client puts; raw: the node's raw propose; auto: kv when the nodes serve it.")
@click.option("--pysyncobj/--no-pysyncobj", default=True, show_default=True,
              help="Measure PySyncObj too (skipped, and said so, when it is not installed).")
@click.option("--floor-samples", type=click.IntRange(10, 100_000), default=500, show_default=True,
              help="Round trips per floor measurement (half as many fsyncs).")
@click.option("--json", "as_json", is_flag=True)
def kv(nodes_text: str, clients_text: str, duration: float, warmup: float, procs: int, api: str, pysyncobj: bool,
       floor_samples: int, as_json: bool) -> None:
    """Closed-loop throughput and latency of the replicated service (ops/s, p50/p99, fsyncs per op, entries per
    AppendEntries) on live clusters, in the same run as PySyncObj (3 nodes, its default and its nobatch
    configuration, same client counts) and the floor of one fsync plus one loopback round trip; a history is
    recorded on the 3-node cluster and checked (seconds). Every figure carries the load average.

    PySyncObj does not fsync, and its clients sit inside its node processes while ours cross ZeroMQ: both
    differences are printed beside the ratios. PySyncObj is the optional extra `pip install 'raftzmq[bench]'`.

    \b
    Examples:
      raftzmq bench kv                                  # 3 and 5 nodes x 1, 16, 64 clients, 5 s windows
      raftzmq bench kv --nodes 3 --clients 64 --duration 10 --json
      raftzmq bench kv --nodes 3 --clients 1,4 --duration 0.5 --warmup 0.2 --no-pysyncobj   # a smoke run
    """
    nodes = _counts(nodes_text, "--nodes", 1, 25)
    clients = _counts(clients_text, "--clients", 1, 512)
    res = _measure(bench_kv.bench_kv, nodes=nodes, clients=clients, duration_s=duration, warmup_s=warmup,
                   api=api, procs=procs, pysyncobj=pysyncobj, floor_samples=floor_samples)
    if as_json:
        _emit(res, True)
        return
    click.echo(f"machine: {_machine()}")
    click.echo(bench_kv.render(res))
