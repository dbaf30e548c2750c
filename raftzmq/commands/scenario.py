"""`raftzmq scenario ...`: scripted fault sequences on real processes that end in a checked verdict."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from ..evidence.checker import render_summary
from ..lab.live.scenario import ScenarioError, double_vote
from ..runtime.cluster.control import ControlError
from ..runtime.cluster.rundir import new_run_dir
from .options import fail

__all__ = ["scenario"]

T = TypeVar("T")


def _live(run_dir: str | None, as_json: bool, script: Callable[[Path, Callable[[str], None]], T],
          errors: tuple[type[BaseException], ...]) -> tuple[Path, T]:
    """Run a live scenario script in `run_dir` (a new run directory by default), narrating unless --json; a step
    that did not happen (one of `errors`) is a one-line error, exit 2, naming where the logs are."""
    run = Path(run_dir) if run_dir else new_run_dir().path
    say: Callable[[str], None] = (lambda s: None) if as_json else click.echo
    try:
        return run, script(run, say)
    except errors as exc:
        click.echo(f"raftzmq: error: {exc} (logs: {run})", err=True)
        sys.exit(2)


@click.group()
def scenario() -> None:
    """Scripted fault sequences on a live cluster, checked from the logs.

    \b
    Examples:
      raftzmq scenario double-vote                       # clean: exit 0
      raftzmq scenario double-vote --persist term-only   # two leaders in one term: exit 1
      raftzmq scenario figure8 --live --core raftzmq.lab.conform.mutants:CommitsOldTerm   # Figure 8: exit 1
      raftzmq scenario lease-skew                        # a slow clock: a stale lease read, exit 1
      raftzmq scenario lease-skew --reads index          # the same with ReadIndex: exit 0
    """


@scenario.command(name="double-vote")
@click.option("--persist", type=click.Choice(["term+vote", "term-only"]), default="term+vote", show_default=True,
              help="What the nodes persist; term-only forgets the vote across a restart.")
@click.option("--run-dir", "run_dir", metavar="DIR", help="Run directory (default: a new logs/<run-id>/).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def double_vote_cmd(persist: str, run_dir: str | None, as_json: bool) -> None:
    """A voter grants its vote, is killed, restarts, and a second candidate asks it in the same term.

    Three nodes, PreVote off, scripted with kill, transfer, skew, partition and restart so that the
    interleaving is the same every time (see raftzmq/lab/live/scenario.py). With term-only persistence the
    voter forgets its vote and grants it again: two leaders in one term, and the checker says so (exit 1).
    With term+vote (the default) it refuses: clean (exit 0). Exit 2 if a step did not happen in time.

    \b
    Examples:
      raftzmq scenario double-vote
      raftzmq scenario double-vote --persist term-only --run-dir /tmp/dv
      raftzmq check /tmp/dv                              # the same verdict again, from the logs
    """
    run, result = _live(run_dir, as_json, lambda run, say: double_vote(run, persist=persist, log=say),
                        (ScenarioError, RuntimeError))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        assert result.check is not None  # double_vote always checks before it returns
        click.echo(f"\nraftzmq check {run}:")
        click.echo(render_summary(result.check), nl=False)
    sys.exit(0 if result.ok else 1)


@scenario.command(name="figure8")
@click.option("--core", "core", default="builtin", show_default=True, metavar="SPEC",
              help="The core every node runs (docs/core-contract.md), e.g. raftzmq.lab.conform.mutants:CommitsOldTerm.")
@click.option("--live", is_flag=True, help="On 5 real processes (a cluster per attempt) instead of the simulator.")
@click.option("--run-dir", "run_dir", metavar="DIR",
              help="With --live: the run directory (default: a new logs/<run-id>/); attempts go in attempt-K/.")
@click.option("--attempts", type=click.IntRange(1, 20), default=3, show_default=True,
              help="With --live: fresh clusters to try when an attempt is spoiled (a cut came too late).")
@click.option("--log-dir", "log_dir", metavar="DIR", help="Simulator: write the run's logs here (for check / report).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def figure8_cmd(core: str, live: bool, run_dir: str | None, attempts: int, log_dir: str | None,
                as_json: bool) -> None:
    """The Raft paper's Figure 8 as a scripted schedule, on the simulator or (--live) on real processes.

    An entry of an earlier term reaches a majority under a new leader, which commits index i and is cut off
    and killed before it tells anyone; a node holding a different entry at i, of a later term, restarts. A core
    that commits the old entry by counting replicas lets that node win and overwrite it: two nodes apply
    different entries at index i (state machine safety) and the checker says so, exit 1. The built-in core
    commits it only through an entry of its own term (its no-op), so the later node cannot win: clean, exit 0.
    Exit 2 for a core that cannot be loaded or a script that did not complete. See raftzmq/lab/live/figure8.py
    and (live: every step waits on the nodes' records, partitions and one-way cuts decide who hears whom)
    raftzmq/lab/live/figure8_live.py.

    \b
    Examples:
      raftzmq scenario figure8                                              # exit 0
      raftzmq scenario figure8 --core raftzmq.lab.conform.mutants:CommitsOldTerm --log-dir /tmp/f8   # exit 1
      raftzmq check /tmp/f8                                                 # the same verdict, from the logs
      raftzmq scenario figure8 --live --core raftzmq.lab.conform.mutants:CommitsOldTerm --run-dir /tmp/f8l
      raftzmq report --html /tmp/f8l/attempt-1                              # see it
    """
    from .conform import checked_spec

    spec = checked_spec(core)
    _require_replication(spec, core)
    say = (lambda s: None) if as_json else click.echo
    if live:
        if log_dir:
            fail("--log-dir is for the simulator; with --live the logs are in --run-dir")
        _figure8_live(spec, run_dir, attempts, as_json)
        return
    if run_dir:
        fail("--run-dir needs --live (the simulator writes its logs with --log-dir)")
    from ..lab.live.figure8 import figure8_sim
    from ..lab.sim.simtypes import write_logs

    result = figure8_sim(spec, log=say)
    if log_dir and result.result is not None:
        write_logs(result.result, log_dir)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for v in result.violations[:5]:
            click.echo(f"  ({v.invariant}) {v.name}: {v.message}")
        click.echo("verdict: " + ("clean" if result.ok else "violations") + (f"  (logs: {log_dir})" if log_dir else ""))
    if not result.completed:
        click.echo("raftzmq: error: the figure8 script did not reach its last step", err=True)
        sys.exit(2)
    sys.exit(0 if result.ok else 1)


def _require_replication(spec: str, given: str) -> None:
    """Figure 8 is about replication: an election-only core (contract v1) is a one-line error, not a traceback."""
    from ..lab.conform.scorecard import core_version
    from ..runtime.cores.coreload import load_core

    if core_version(load_core(spec)) < 2:
        fail(f"core {given} is election-only (contract v1: no propose); Figure 8 needs a replicating core "
             "(docs/core-contract.md, contract v2)")


def _figure8_live(spec: str, run_dir: str | None, attempts: int, as_json: bool) -> None:
    from ..lab.live.figure8_live import figure8_live

    _, result = _live(run_dir, as_json, lambda run, say: figure8_live(run, spec, log=say, attempts=attempts),
                      (ScenarioError, RuntimeError, TimeoutError, ControlError))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for attempt, check in result.checks:
            click.echo(f"\nraftzmq check {attempt}:")
            click.echo(render_summary(check), nl=False)
    if not result.completed:
        click.echo(f"raftzmq: error: all {result.attempts} attempts were spoiled: " + "; ".join(result.spoiled),
                   err=True)
        sys.exit(2)
    sys.exit(0 if result.ok else 1)


@scenario.command(name="lease-skew")
@click.option("--reads", type=click.Choice(["lease", "index"]), default="lease", show_default=True,
              help="How the nodes serve KV gets: lease (the leader's lease) or index (ReadIndex).")
@click.option("--run-dir", "run_dir", metavar="DIR", help="Run directory (default: a new logs/<run-id>/).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
def lease_skew_cmd(reads: str, run_dir: str | None, as_json: bool) -> None:
    """What lease reads risk: the leader's clock runs slow (raftzmq skew), it is cut off, a new leader takes a
    write, and the old leader still serves a read from its lease.

    Three nodes. put x=1; skew the leader 0.1x and partition it from the others; they elect a new leader and
    put x=2 (acknowledged); then get x at the old leader. With --reads lease (the default here) its lease holds
    by its own slow clock and it answers x=1: the client history (history.jsonl in the run directory) is not
    linearizable, exit 1. With --reads index it cannot get a quorum to answer its heartbeat round: the get
    times out (indefinite) and the history is linearizable, exit 0. Exit 2 if a step did not happen in time.
    See raftzmq/lab/live/leaseskew.py.

    \b
    Examples:
      raftzmq scenario lease-skew
      raftzmq scenario lease-skew --reads index --run-dir /tmp/ls
      raftzmq check --history /tmp/ls/history.jsonl      # the same verdict, from the history
    """
    from ..evidence.lincheck import render_text
    from ..lab.live.leaseskew import LeaseSkewError, lease_skew

    _, result = _live(run_dir, as_json, lambda run, say: lease_skew(run, reads=reads, log=say),
                      (LeaseSkewError, RuntimeError))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        assert result.lin is not None
        click.echo("")
        click.echo(render_text(result.lin), nl=False)
    sys.exit(0 if result.linearizable else 1)
