"""`raftzmq fuzz`: hostile frames against the running cluster, then proof that nothing moved."""
from __future__ import annotations

import json
import sys

import click

from ..lab.live.fuzz import CATEGORIES, run_fuzz
from ..runtime.cluster.control import ControlError
from ..runtime.cluster.rundir import RunDirError, resolve_run_dir
from .cluster import fail, note_which, run_dir_option

__all__ = ["fuzz"]


@click.command()
@click.option("--frames", type=click.IntRange(1, 10_000_000), default=100_000, show_default=True,
              help="How many frames to send, spread over all nodes.")
@click.option("--seed", type=int, help="Seed of the frames (printed; default random).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result.")
@run_dir_option
def fuzz(frames: int, seed: int | None, as_json: bool, run_dir: str | None) -> None:
    """Send malformed frames to every node of the running cluster; check that nothing moved.

    \b
    Frames (wire version 4): random bytes, truncated frames, bad flag bits, numbers beyond range or
    inconsistent log positions, unknown ids, spoofed ids (claiming to be the receiver), malformed
    frames (other versions, unknown kinds, trailing bytes), bad entry lists (beyond the count or
    data limit, indexes not consecutive, terms decreasing or newer than the message, lengths that
    lie), oversize (rare: ~1 MiB each), many parts. Each is checked to be one the node's codec rejects (a well-formed frame claiming a member is accepted
    by design: no authentication, see README Limits).

    Exit 0 when every node stayed up (same pid), term and leader did not change, and each node's log
    accounts for every frame in a bounded number of message_rejected records; 1 otherwise.

    \b
    Examples:
      raftzmq start --detach && raftzmq fuzz
      raftzmq fuzz --frames 20000 --seed 7 --json
    """
    try:
        run = resolve_run_dir(run_dir)
        note_which(run_dir, run)
        result = run_fuzz(run.path, frames=frames, seed=seed,
                          progress=(lambda s: None) if as_json else (lambda s: click.echo(s, err=True)))
    except (RunDirError, ControlError, RuntimeError) as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        d = result.to_dict()
        click.echo(f"seed {result.seed}: {result.frames} frames in {d['seconds']} s ({d['frames_per_s']}/s)")
        click.echo("sent: " + ", ".join(f"{c} {result.sent[c]}" for c in CATEGORIES))
        for n, row in sorted(result.per_node.items()):
            click.echo(f"node {n}: {row['sent']} sent, {row['rejected']} rejected and counted in "
                       f"{row['records']} log records (+{row['log_bytes_added']} bytes)")
        b, a = result.before, result.after
        click.echo(f"leader {b['leader']} term {b['term']} before; leader {a['leader']} term {a['term']} after")
        click.echo("OK: every node up, term and leader unchanged, every frame accounted for" if result.ok else
                   "PROBLEMS:\n" + "\n".join(f"  {p}" for p in result.problems))
    sys.exit(0 if result.ok else 1)
