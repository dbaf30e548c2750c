"""Nodes beyond one supervisor: `node` (one node on its own host, from a cluster file), `init-cluster` (write a
cluster file and one keypair per member), and `clean --net` (namespaces left by a killed supervisor; the
`clean` command itself lives in runs.py)."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..runtime.config import ConfigError, default_config, load_config
from ..runtime.node.curve import AUTH_MODES
from ..runtime.cluster.netns import NetnsError, list_namespaces, require_root, stale_namespaces, sweep_stale
from ..runtime.cluster.standalone import StandaloneError, init_cluster as write_cluster, prepare_node, run_standalone
from .cluster import fail

__all__ = ["node", "init_cluster", "clean_namespaces"]


@click.command()
@click.option("--cluster", "cluster_path", required=True, metavar="FILE",
              help="Cluster file: every member's endpoint (and public key); see `raftzmq init-cluster`.")
@click.option("--id", "node_id", required=True, type=int, help="Which member this process is.")
@click.option("--data-dir", metavar="DIR", help="State file, log and cluster.json (default ./raftzmq-node-ID).")
@click.option("--key", "key_file", metavar="FILE",
              help="This node's key file (auth curve; default DATA_DIR/node-ID.key, mode 0600).")
def node(cluster_path: str, node_id: int, data_dir: str | None, key_file: str | None) -> None:
    """Run one node in the foreground, e.g. on its own machine under systemd (docs/multi-host.md).

    Stops cleanly on SIGTERM/SIGINT (exit 0); exit 3 if it refuses to start (corrupt state, address in use),
    4 on a fatal storage error, 2 for a bad cluster file, id or key.

    \b
    Examples:
      raftzmq node --cluster /etc/raftzmq/cluster.toml --id 3 --data-dir /var/lib/raftzmq
      raftzmq node --cluster cluster.toml --id 1 --key keys/node-1.key
    """
    try:
        data, incarnation = prepare_node(cluster_path, node_id, data_dir or f"raftzmq-node-{node_id}", key_file)
    except (StandaloneError, OSError) as exc:
        fail(str(exc))
    click.echo(f"raftzmq: node {node_id} (incarnation {incarnation}) in {data}", err=True)
    sys.exit(run_standalone(data, node_id, incarnation))


@click.command(name="init-cluster")
@click.argument("endpoints", nargs=-1, required=True)
@click.option("--out", "out", default="cluster.toml", show_default=True, metavar="FILE", help="Cluster file to write.")
@click.option("--keys", "keys_dir", default="keys", show_default=True, metavar="DIR",
              help="Where node-N.key files go (auth curve); copy node-N.key to member N only.")
@click.option("--auth", type=click.Choice(AUTH_MODES), default="curve", show_default=True,
              help="none only works with loopback endpoints.")
@click.option("--config", "config_path", metavar="FILE", help="Timing and features from a config file.")
def init_cluster(endpoints: tuple[str, ...], out: str, keys_dir: str, auth: str, config_path: str | None) -> None:
    """Write a cluster file for the given HOST:PORT endpoints (member N = the Nth) and a keypair per member.

    \b
    Examples:
      raftzmq init-cluster 10.0.0.11:7000 10.0.0.12:7000 10.0.0.13:7000 10.0.0.14:7000 10.0.0.15:7000
      raftzmq init-cluster 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003 --auth none --out local.toml
    """
    try:
        config = load_config(config_path) if config_path else default_config()
        parsed = write_cluster(list(endpoints), Path(out), Path(keys_dir), auth, config)
    except (ConfigError, StandaloneError, OSError) as exc:
        fail(str(exc))
    click.echo(f"wrote {out} ({len(parsed.members)} members, auth {auth})")
    if auth == "curve":
        click.echo(f"wrote {keys_dir}/node-1.key .. node-{len(parsed.members)}.key (mode 0600): copy node-N.key "
                   "to member N only")


def clean_namespaces(dry_run: bool) -> None:
    """`raftzmq clean --net`: remove what `--net netns` runs whose supervisor is gone left; live runs untouched."""
    try:
        require_root()
    except NetnsError as exc:
        fail(str(exc))
    if dry_run:
        names = stale_namespaces()
        click.echo(f"would remove {len(names)} namespace(s){': ' + ', '.join(names) if names else ''}")
        return
    removed = sweep_stale()
    click.echo(f"removed {len(removed)} namespace(s){': ' + ', '.join(removed) if removed else ''}; "
               f"{len(list_namespaces())} of live runs left")
