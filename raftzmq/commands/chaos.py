"""`raftzmq chaos`: a seeded nemesis against a live cluster, then the safety check."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..evidence.checker import EXIT_INCOMPLETE
from ..lab.chaos import NEMESES, run_chaos
from ..runtime.rundir import new_run_dir
from .options import cluster_options, resolve_cluster, start_args

__all__ = ["chaos"]


@click.command()
@cluster_options
@click.option("--duration", type=click.FloatRange(0.5, 3600), default=20.0, show_default=True,
              help="Seconds of faults before healing.")
@click.option("--seed", type=int, help="Seed of the fault schedule (printed; default random).")
@click.option("--faults", default=",".join(NEMESES), show_default=True,
              help=f"Comma list from: {', '.join(NEMESES)}.")
@click.option("--run-dir", "run_dir", metavar="DIR", help="Run directory (default: a new logs/<run-id>/).")
@click.option("--json", "as_json", is_flag=True)
def chaos(duration: float, seed: int | None, faults: str, run_dir: str | None, as_json: bool, **flags: Any) -> None:
    """Start a cluster, inject random faults, heal, wait for one agreed leader, stop, check the logs.

    Takes the cluster switches of `raftzmq start` (same rules, same refusals). Exit 0 when the cluster converged
    and the check is clean, 3 when the logs are incomplete (no verdict, see `raftzmq check`), 1 otherwise. The run
    directory is not made logs/latest; the last lines name it.

    \b
    Examples:
      raftzmq chaos --duration 30
      raftzmq chaos --seed 42 --faults kill,partition --nodes 7
      raftzmq chaos --no-prevote --no-check-quorum --duration 60
    """
    kinds = tuple(k.strip() for k in faults.split(",") if k.strip())
    bad = [k for k in kinds if k not in NEMESES]
    if bad or not kinds:
        raise click.BadParameter(f"unknown fault(s) {', '.join(bad) or '(none)'}; choose from {', '.join(NEMESES)}",
                                 param_hint="--faults")
    config_path = flags["config_path"]
    config = resolve_cluster(flags)
    run = Path(run_dir) if run_dir else new_run_dir().path
    say = (lambda s: None) if as_json else (lambda s: click.echo(s, err=True))
    try:
        result = run_chaos(run, nodes=config.nodes, duration=duration, seed=seed, kinds=kinds,
                           extra=start_args(config, config_path), log=say)
    except RuntimeError as exc:
        click.echo(f"raftzmq: error: {exc}", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(f"seed {result.seed}; faults: " + ", ".join(f"{k}×{v}" for k, v in sorted(result.faults.items())))
        click.echo(f"converged to one agreed leader after healing: {'yes' if result.converged else 'NO'}")
        click.echo("recovery: " + ", ".join(f"{k}={v}" for k, v in result.recovery.items()))
        click.echo("check: " + {"ok": "clean", "violation": "VIOLATIONS",
                                "incomplete": "INCOMPLETE EVIDENCE (no verdict)"}[result.check_verdict])
        for line in result.incomplete + result.violations:
            click.echo(f"  {line}")
        click.echo(f"logs: {result.run_dir}  (replay the schedule with --seed {result.seed})")
    sys.exit(EXIT_INCOMPLETE if result.check_verdict == "incomplete" else 0 if result.ok else 1)
