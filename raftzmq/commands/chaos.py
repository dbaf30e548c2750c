"""`raftzmq chaos`: a seeded nemesis against a live cluster, then the safety check."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..evidence.checker import EXIT_INCOMPLETE
from ..lab.live.chaos import NEMESES, ChaosResult, run_chaos
from ..runtime.cluster.rundir import new_run_dir
from .options import cluster_options, resolve_cluster, start_args

__all__ = ["chaos"]


def _reporters(as_json: bool, verbose: bool) -> tuple[Callable[[str], None], Callable[[str], None]]:
    """(log, progress): each fault line with -v; a progress line rewritten in place on a terminal, else one
    line every 5 s."""
    if as_json:
        return (lambda s: None), (lambda s: None)
    tty = sys.stderr.isatty()
    last = [0.0]

    def progress(line: str) -> None:
        if tty:
            click.echo("\r\x1b[K" + line, err=True, nl=False)
        elif time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            click.echo(line, err=True)

    def log(line: str) -> None:
        if verbose or line.startswith("nemesis: heal"):
            click.echo(("\r\x1b[K" if tty else "") + line, err=True)

    return log, progress


@click.command()
@cluster_options
@click.option("--duration", type=click.FloatRange(0.5, 3600), default=20.0, show_default=True,
              help="Seconds of faults before healing.")
@click.option("--seed", type=int, help="Seed of the fault schedule (printed; default random).")
@click.option("--faults", default=",".join(NEMESES), show_default=True,
              help=f"Comma list from: {', '.join(NEMESES)}.")
@click.option("--run-dir", "run_dir", metavar="DIR", help="Run directory (default: a new logs/<run-id>/).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--verbose", "-v", is_flag=True, help="Print every fault as it is applied.")
def chaos(duration: float, seed: int | None, faults: str, run_dir: str | None, as_json: bool, verbose: bool,
          **flags: Any) -> None:
    """Start a cluster, inject random faults, heal, wait for one agreed leader, stop, check the logs.

    Faults: kill, pause, crash (a failpoint: before_persist, before_rename, after_persist_before_send,
    after_send), disk (ENOSPC/EIO on write, fsync, rename; read-only), partition, isolate-leader, cut,
    one-way, ring (majorities-ring), bridge, simplex-leader (every link into the leader cut), net (loss,
    delay), transfer, skew. The whole schedule comes from the seed (chaos.json records it and what
    each step resolved to). A live progress line shows the fault count, leader, term and nodes up.

    Takes the cluster switches of `raftzmq start` (same rules, same refusals). Exit 0 when the cluster converged
    and the check is clean, 3 when the logs are incomplete (no verdict, see `raftzmq check`), 1 otherwise. The run
    directory is not made logs/latest; the last lines name it.

    \b
    Examples:
      raftzmq chaos --duration 30
      raftzmq chaos --seed 42 --faults kill,partition --nodes 7
      raftzmq chaos --seed 7 --faults crash,disk,skew -v
      raftzmq chaos --no-prevote --no-check-quorum --duration 60
      raftzmq chaos --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum
    """
    kinds = tuple(k.strip() for k in faults.split(",") if k.strip())
    bad = [k for k in kinds if k not in NEMESES]
    if bad or not kinds:
        raise click.BadParameter(f"unknown fault(s) {', '.join(bad) or '(none)'}; choose from {', '.join(NEMESES)}",
                                 param_hint="--faults")
    config_path = flags["config_path"]
    config = resolve_cluster(flags)
    run = Path(run_dir) if run_dir else new_run_dir().path
    click.echo(f"raftzmq chaos: run {run}", err=True)
    say, progress = _reporters(as_json, verbose)
    try:
        result = run_chaos(run, nodes=config.nodes, duration=duration, seed=seed, kinds=kinds,
                           extra=start_args(config, config_path), log=say, progress=progress)
    except RuntimeError as exc:
        click.echo(f"raftzmq: error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(result)
    sys.exit(EXIT_INCOMPLETE if result.check_verdict == "incomplete" else 0 if result.ok else 1)


def _print_result(result: ChaosResult) -> None:
    click.echo(f"seed {result.seed}; faults: " + ", ".join(f"{k}×{v}" for k, v in sorted(result.faults.items())))
    click.echo(f"converged to one agreed leader after healing: {'yes' if result.converged else 'NO'}")
    click.echo("recovery: " + ", ".join(f"{k}={v}" for k, v in result.recovery.items()))
    click.echo(f"longest time without a leader while a majority was up and connected: "
               f"{result.recovery['longest_leaderless_with_majority_s']} s")
    click.echo("check: " + {"ok": "clean", "violation": "VIOLATIONS",
                            "incomplete": "INCOMPLETE EVIDENCE (no verdict)"}[result.check_verdict])
    for line in result.incomplete + result.violations:
        click.echo(f"  {line}")
    click.echo(f"logs: {result.run_dir}  (replay the schedule with --seed {result.seed})")
