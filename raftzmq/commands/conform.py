"""`raftzmq conform SPEC`: judge an election core against the paper's claims, the seeded simulator with every
fault, the checker and liveness. Thin: parse, call raftzmq.lab.conform.scorecard, print, exit 0 (pass), 1 (fail), 2 (usage)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..lab.sim import faults as F
from ..lab.conform.scorecard import CONFORM_DISKS, base_config, conform as run_conform, core_version, render
from ..lab.conform.scorecard import replay_seed
from ..lab.sim.simtypes import write_records
from ..runtime.cores.coreload import CoreLoadError, load_core, resolve_spec
from ..lab.sim.dask_seeds import DaskUnavailable
from .options import fail

__all__ = ["conform"]


def checked_spec(spec: str | None) -> str:
    """The resolved spec, or a one-line error and exit 2 (import errors and contract violations alike)."""
    try:
        return resolve_spec(spec)
    except CoreLoadError as exc:
        fail(str(exc))


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        sizes = ()
    if not sizes or any(not 1 <= n <= 64 for n in sizes):
        raise click.BadParameter(f"expected a comma list of cluster sizes 1..64, got {text!r}", param_hint="--nodes")
    return sizes


@click.command("conform", epilog="""
\b
Examples:
  raftzmq conform builtin                                  # raftzmq's own core: PASS
  raftzmq conform examples/minimal_core.py:MinimalCore     # a core to copy
  raftzmq conform raftzmq.lab.conform.mutants:TermOnly             # a known bug: FAIL, seed and replay command
  raftzmq conform "exec:python3 examples/jsonl_core.py" --seeds 20   # a core in a child process
  raftzmq conform raftzmq.lab.conform.mutants:TermOnly --seed 0 --nodes 3 --log-dir logs/c0 && raftzmq check logs/c0
  raftzmq conform raftzmq.lab.conform.mutants:CountsOwnVoteEarly --disk async   # counts its vote before it is durable
""")
@click.argument("spec")
@click.option("--seeds", type=click.IntRange(min=1), default=100, show_default=True,
              help="Simulator seeds per cluster size, all faults.")
@click.option("--nodes", default="3,5", show_default=True, help="Cluster sizes (comma list).")
@click.option("--duration", type=click.FloatRange(min=0.5), default=20.0, show_default=True,
              help="Simulated seconds per seed.")
@click.option("--faults", default="all", show_default=True,
              help=f"all, none, or a comma list of: {','.join(F.FAULT_KINDS)}.")
@click.option("--prevote/--no-prevote", default=False, show_default=True,
              help="Tell the cores to use PreVote (for cores that implement it).")
@click.option("--check-quorum/--no-check-quorum", default=False, show_default=True,
              help="Tell the cores to use CheckQuorum (for cores that implement it).")
@click.option("--first-seed", type=int, default=0, show_default=True)
@click.option("--seed", type=int, default=None, help="Replay one seed (with --nodes N): trace and findings.")
@click.option("--log-dir", type=click.Path(file_okay=False), default=None,
              help="With --seed: write that run's logs here (for raftzmq check / report / timeline).")
@click.option("--proposals", type=click.FloatRange(0, 100_000), default=None, metavar="RATE",
              help="Client commands per simulated second in the seeds of a contract v2 core (default 20; a v1, "
                   "election-only core gets none).")
@click.option("--disk", type=click.Choice(CONFORM_DISKS), default="safe", show_default=True,
              help="The seeds' simulated disk: safe (each write completes before the node goes on) or async (a "
                   "write completes later while the node goes on, for a core with persisted; the only way to tell "
                   "a core that counts its own vote or log before it is durable).")
@click.option("--json", "as_json", is_flag=True, help="Print the scorecard as JSON.")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Run the seeds on this Dask scheduler's workers (pip install -e '.[dask]'); same scorecard. "
                   "The core's spec must load on the workers too.")
def conform(spec: str, seeds: int, nodes: str, duration: float, faults: str, prevote: bool, check_quorum: bool,
            first_seed: int, seed: int | None, log_dir: str | None, proposals: float | None, disk: str,
            as_json: bool, scheduler: str | None) -> None:
    """Judge an election core: the Raft paper's election claims as transcripts, seeded simulator runs with
    every fault checked record by record, and liveness; then a scorecard.

    Exit 0: every claim holds, no seed breaks an invariant, and fault-free clusters elect a leader.
    Exit 1: something failed (the scorecard names the first failing seed and a replay command).
    Exit 2: the core cannot be loaded or breaks the contract at once.
    """
    sizes = _sizes(nodes)
    try:
        kinds = F.parse_faults(faults)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--faults") from None
    spec = checked_spec(spec)
    if seed is not None:
        _replay(spec, seed, sizes, duration, kinds, prevote, check_quorum, log_dir, as_json, proposals, disk)
    progress = None if as_json else _progress(seeds * len(sizes))
    try:
        card = run_conform(spec, seeds=seeds, sizes=sizes, duration=duration, faults=kinds, prevote=prevote,
                           check_quorum=check_quorum, first_seed=first_seed, progress=progress, scheduler=scheduler,
                           proposals=proposals, disk=disk)
    except (CoreLoadError, DaskUnavailable) as exc:
        fail(str(exc))
    click.echo(json.dumps(card.to_dict(), indent=2) if as_json else render(card))
    sys.exit(0 if card.ok else 1)


def _progress(total: int) -> Any:
    done = [0]

    def tick(n: int, seed: int) -> None:
        done[0] += 1
        if done[0] % max(1, total // 10) == 0:
            click.echo(f"[conform] {done[0]}/{total} seeds clean", err=True)
    return tick


def _replay(spec: str, seed: int, sizes: tuple[int, ...], duration: float, kinds: frozenset[str], prevote: bool,
            check_quorum: bool, log_dir: str | None, as_json: bool, proposals: float | None = None,
            disk: str = "safe") -> None:
    if len(sizes) != 1:
        raise click.UsageError("--seed replays one run: give one cluster size with --nodes N")
    factory = load_core(spec)
    base = base_config(spec, core_version(factory), duration=duration, prevote=prevote, check_quorum=check_quorum,
                       proposals=proposals, disk=disk)
    from dataclasses import replace
    cfg = replace(base, nodes=sizes[0], faults=kinds, record_logs=True)
    try:
        failure, files = replay_seed(spec, cfg, seed, factory)
    finally:
        getattr(factory, "close", lambda: None)()
    written = write_records(files, Path(log_dir)) if log_dir else None
    if as_json:
        click.echo(json.dumps({"ok": failure is None, "failure": failure.to_dict() if failure else None,
                               "log_dir": str(written) if written else None}, indent=2))
    else:
        if failure is None:
            click.echo(f"seed {seed}: no finding")
        else:
            click.echo(f"seed {seed} ({cfg.nodes} nodes):")
            click.echo("\n".join(f"  ({x.kind}) {x.message}" for x in failure.findings))
            click.echo("\n".join(f"    {t}" for t in failure.trace))
        if written:
            click.echo(f"logs: {written}  (raftzmq check {written})")
    sys.exit(0 if failure is None else 1)
