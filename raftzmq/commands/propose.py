"""`raftzmq propose TEXT`: hand one command to the leader and print where it was committed."""
from __future__ import annotations

import json

import click

from ..protocol.messages import MAX_ENTRY_DATA_BYTES
from ..runtime.cluster.propose import propose as propose_to, read_client_endpoints
from ..runtime.cluster.rundir import RunDirError, resolve_run_dir
from .cluster import run_dir_option
from .options import fail

__all__ = ["propose"]


@click.command()
@click.argument("text")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.01), default=5.0, show_default=True,
              metavar="SECONDS", help="How long to wait for the commit.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: committed, index, term, node, fate.")
@click.option("--node", "only", type=int, metavar="N",
              help="Ask node N only, even if it does not lead (e.g. the leader of a minority partition).")
@run_dir_option
def propose(text: str, timeout_s: float, as_json: bool, only: int | None, run_dir: str | None) -> None:
    """Propose TEXT (UTF-8) to the cluster's leader; print its index and term once committed.

    Finds the leader through the nodes' client endpoints (following "not leader" redirects) and waits until
    the entry is committed. Exit 0: committed (index and term printed). Exit 1: not committed within
    --timeout; unless a node said the command was never appended (or was replaced), its fate is unknown: it
    may still be committed later, so do not assume it failed. Exit 2: no cluster, or TEXT too large.

    \b
    Examples:
      raftzmq propose 'x=1'
      raftzmq propose hello --timeout 2
      raftzmq propose 'set k v' --json | jq .index
      raftzmq propose hi && raftzmq inspect 1
      raftzmq propose y --node 2 --timeout 1   # exit 1 if node 2 leads a minority
    """
    data = text.encode("utf-8")
    if len(data) > MAX_ENTRY_DATA_BYTES:
        fail(f"TEXT is {len(data)} bytes; an entry holds at most {MAX_ENTRY_DATA_BYTES}")
    try:
        run = resolve_run_dir(run_dir)
        if run.live_supervisor() is None:
            fail(f"no cluster is running in {run.path}")
        endpoints = read_client_endpoints(run.read_cluster())
    except (RunDirError, ValueError) as exc:
        fail(str(exc))
    if only is not None:
        if only not in endpoints:
            fail(f"node {only} is not in this cluster (nodes {min(endpoints)}..{max(endpoints)})")
        endpoints = {only: endpoints[only]}
    result = propose_to(endpoints, data, timeout_s)
    if as_json:
        click.echo(json.dumps(result.to_doc()))
    elif result.committed:
        click.echo(f"committed at index {result.index} in term {result.term} "
                   f"(leader {result.node}, {result.elapsed_s * 1000:.1f} ms)")
    elif result.definite:
        click.echo(f"raftzmq: not committed within {timeout_s:g} s and never appended ({result.reason})", err=True)
    else:
        click.echo(f"raftzmq: not committed within {timeout_s:g} s; its fate is unknown: it may still be "
                   f"committed ({result.reason})", err=True)
    raise SystemExit(0 if result.committed else 1)
