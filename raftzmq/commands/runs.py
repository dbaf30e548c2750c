"""Run management: `ps` (which clusters are running, and where their run directories are) and `clean` (delete
old runs under the logs root)."""
from __future__ import annotations

import json
import time
from typing import Any

import click

from ..runtime.cluster.control import ControlClient, ControlError
from ..runtime.cluster.rundir import RunDir, RunDirError, default_logs_root, running_clusters
from ..runtime.cluster.runs import list_runs, parse_age, remove_run, select_for_removal
from .node import clean_namespaces
from .cluster import fail

__all__ = ["ps", "clean"]


def _describe(run: RunDir, pid: int) -> dict[str, Any]:
    row: dict[str, Any] = {"run_dir": str(run.path), "supervisor_pid": pid, "nodes": None, "leader": None,
                           "term": None, "latest": False}
    latest = default_logs_root() / "latest"
    row["latest"] = latest.is_symlink() and latest.resolve() == run.path.resolve()
    try:
        st = ControlClient(run, timeout_ms=500).request("status")
    except (ControlError, RunDirError):
        return row  # busy or stopping: list it anyway, without the live figures
    row.update(nodes=len(st["nodes"]), leader=st["leader"], term=st["term"])
    return row


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per cluster.")
def ps(as_json: bool) -> None:
    """List the running clusters: supervisor pid, size, leader, term and run directory.

    Finds clusters wherever their run directory is (each supervisor registers itself), plus any under the logs
    directory. `(latest)` marks the one logs/latest points to.

    \b
    Examples:
      raftzmq ps
      raftzmq ps --json | jq -r .run_dir
    """
    rows = [_describe(run, pid) for run, pid in running_clusters()]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    if not rows:
        click.echo("no cluster is running")
        return
    dash = lambda v: "-" if v is None else str(v)  # noqa: E731 - a one-line formatter
    table = [("PID", "NODES", "LEADER", "TERM", "RUN DIR")]
    table += [(str(r["supervisor_pid"]), dash(r["nodes"]), dash(r["leader"]), dash(r["term"]),
               r["run_dir"] + ("  (latest)" if r["latest"] else "")) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[4])


def _age(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_age(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None


@click.command()
@click.option("--keep", type=click.IntRange(min=0), default=None, metavar="N",
              help="Keep the N most recently written runs (default 10 when --older-than is not given).")
@click.option("--older-than", "older_than", metavar="AGE", help="Only runs last written more than AGE ago: 30m, "
                                                                 "12h, 7d, 2w.")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--net", is_flag=True, help="Instead: remove the network namespaces (links, rules) that netns runs "
                                          "whose supervisor was killed left behind (root).")
def clean(keep: int | None, older_than: str | None, dry_run: bool, net: bool) -> None:
    """Delete old run directories under the logs directory ($RAFTZMQ_LOGS, else logs/).

    Never deletes a running cluster's directory or the one logs/latest points to, and only touches
    directories that hold raftzmq runs (cluster.json or *.jsonl logs).

    \b
    Examples:
      raftzmq clean                        # keep the 10 newest runs
      raftzmq clean --keep 3
      raftzmq clean --older-than 7d --dry-run
      sudo raftzmq clean --net             # namespaces of dead `start --net netns` runs
    """
    if net:
        clean_namespaces(dry_run)
        return
    age = _age(older_than)
    if keep is None and age is None:
        keep = 10
    root = default_logs_root()
    doomed = select_for_removal(list_runs(root), keep=keep, older_than_s=age, now=time.time())
    freed = 0
    for run in doomed:
        if not dry_run:
            try:
                remove_run(run)
            except OSError as exc:
                fail(f"cannot delete {run.path}: {exc.strerror or exc}")
        freed += run.size
        click.echo(f"{'would delete' if dry_run else 'deleted'} {run.path} ({run.size / 1e6:.1f} MB)")
    verb = "would free" if dry_run else "freed"
    click.echo(f"{len(doomed)} run(s), {verb} {freed / 1e6:.1f} MB in {root}")
