"""`raftzmq inspect NODE`: a node's write-ahead log and hard state, read from its files (read-only)."""
from __future__ import annotations

import json
from typing import Any

import click

from ..runtime.cluster.rundir import RunDirError, resolve_run_dir
from ..runtime.node.storage import CorruptStateError, decode_state
from ..runtime.node.wal import CorruptLogError, describe_log
from .cluster import run_dir_option
from .options import fail

__all__ = ["inspect"]

_PREVIEW = 32


@click.command()
@click.argument("node", type=int)
@run_dir_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object (every entry, with its data).")
def inspect(node: int, run_dir: str | None, as_json: bool) -> None:
    """Print NODE's log from its files: index, term, size, chained digest and whether each entry is committed.

    Reads node-NODE.wal and node-NODE.state in the run directory and changes nothing (a torn tail is reported:
    the node cuts it at its next start). Works on a running or a stopped cluster; on a running node a record
    being written at that moment shows as a torn tail, and "committed" is what the state file says (a commit
    that needed no fsync may not be on disk yet). The digest through an index is
    the one `log_appended` and `commit_advanced` records carry (docs/log-schema.md): two nodes with the same
    digest at an index hold the same entries up to it.

    \b
    Examples:
      raftzmq inspect 1
      raftzmq inspect 3 --run-dir logs/20260101-120000-ab12
      raftzmq inspect 2 --json | jq '.entries[] | select(.committed) | .index'
    """
    try:
        run = resolve_run_dir(run_dir)
        nodes = run.read_cluster().get("nodes")
    except RunDirError as exc:
        fail(str(exc))
    if type(nodes) is not int or not 1 <= node <= nodes:
        fail(f"node {node} is not in this cluster (nodes 1..{nodes}; {run.path})")
    wal_path, state_path = run.wal_file(node), run.state_file(node)
    try:
        state = decode_state(state_path.read_bytes(), state_path) if state_path.exists() else None
    except (CorruptStateError, OSError) as exc:
        fail(f"corrupt state file: {exc}" if isinstance(exc, CorruptStateError) else f"{state_path}: {exc}")
    if not wal_path.exists():
        fail(f"no log for node {node}: {wal_path} does not exist")
    try:
        doc = describe_log(wal_path, state)
    except CorruptLogError as exc:
        fail(f"corrupt log: {exc}")
    except OSError as exc:
        fail(f"cannot read {wal_path}: {exc.strerror or exc}")
    doc = {"node": node, "state": str(state_path) if state is not None else None, **doc}
    if as_json:
        click.echo(json.dumps(doc))
        return
    _print(doc)


def _print(doc: dict[str, Any]) -> None:
    if doc["state"] is None:
        state = "no state file"
    else:
        vote = "nobody" if doc["voted_for"] is None else str(doc["voted_for"])
        state = f"term {doc['term']}, voted for {vote}, commit {doc['commit']}"
    click.echo(f"node {doc['node']}: {doc['wal']} ({doc['last']} entries, {doc['bytes']} bytes); {state}")
    rows = [("INDEX", "TERM", "SIZE", "DIGEST", "COMMITTED", "DATA")]
    for e in doc["entries"]:
        data = e["data"] if len(e["data"]) <= _PREVIEW else e["data"][:_PREVIEW] + "..."
        rows.append((str(e["index"]), str(e["term"]), str(e["size"]), e["digest"],
                     "yes" if e["committed"] else "no", json.dumps(data)))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        cells = [r[0].rjust(widths[0]), r[1].rjust(widths[1]), r[2].rjust(widths[2]), r[3].ljust(widths[3]),
                 r[4].ljust(widths[4]), r[5]]
        click.echo("  ".join(cells))
    committed = min(doc["commit"], doc["last"])
    click.echo(f"last {doc['last']}, digest {doc['digest']}; "
               + (f"committed 1..{committed}" if committed else "nothing committed"))
    if doc["commit"] > doc["last"]:
        click.echo(f"warning: the hard state says {doc['commit']} entries are committed but the log holds "
                   f"{doc['last']}: committed entries are lost (the node refuses to start)")
    tail = doc["torn_tail"]
    if tail is not None:
        click.echo(f"torn tail: {tail['bytes']} bytes at byte offset {tail['offset']} ({tail['reason']}); the "
                   "node cuts it at its next start")
