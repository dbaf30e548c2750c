"""One node on its own host, from a cluster file (`raftzmq node --cluster FILE --id N`), and the generation of
a cluster file with one keypair per member (`raftzmq init-cluster`).

A standalone node runs from a data directory laid out like a run directory (docs/CONTRACTS.md): the command
writes `cluster.json` there from the cluster file (no supervisor, no netctl), and the node keeps its state file
and its JSON-lines log beside it, so `raftzmq check` works on a directory of collected logs.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from raftzmq.evidence.logfile import LogFormatError, iter_records
from raftzmq.runtime.cluster.clusterfile import ClusterFile, ClusterFileError, Member, load, render
from raftzmq.runtime.config import ClusterConfig
from raftzmq.runtime.node.curve import CurveError, generate_keypair, key_path, load_keypair, write_keypair
from raftzmq.runtime.node.process import Node
from raftzmq.runtime.cluster.rundir import RunDir

__all__ = ["StandaloneError", "prepare_node", "run_standalone", "init_cluster"]


class StandaloneError(Exception):
    """Why a standalone node cannot start (bad cluster file, unknown id, key problems); one line."""


def _next_incarnation(data: Path, node_id: int) -> int:
    log = data / f"node-{node_id}.jsonl"
    if not log.exists():
        return 1
    try:
        seen = [rec.get("incarnation", 0) for rec, _ in iter_records(log, on_warning=lambda m: None)]
    except (LogFormatError, OSError) as exc:
        raise StandaloneError(f"cannot read {log}: {exc}") from None
    return max(seen, default=0) + 1


def prepare_node(cluster_path: str, node_id: int, data_dir: str, key_file: str | None) -> tuple[Path, int]:
    """Validate everything a node needs, write its cluster.json; returns (data dir, incarnation)."""
    try:
        cf = load(cluster_path)
    except ClusterFileError as exc:
        raise StandaloneError(str(exc)) from None
    if node_id not in cf.members:
        raise StandaloneError(f"node id {node_id} is not in {cluster_path} (members 1..{len(cf.members)})")
    data = Path(data_dir).absolute()
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Path(key_file).absolute() if key_file else key_path(data, node_id)
    if cf.auth == "curve":
        _check_key(cf, node_id, key)
    incarnation = _next_incarnation(data, node_id)
    doc = cf.node_cluster_json(run_id=data.name, key_file=str(key) if cf.auth == "curve" else None)
    RunDir(data).write_json_atomic(data / "cluster.json", doc)
    return data, incarnation


def _check_key(cf: ClusterFile, node_id: int, key: Path) -> None:
    try:
        keypair = load_keypair(key)
    except CurveError as exc:
        raise StandaloneError(f"{exc} (give --key FILE, or put node-{node_id}.key in the data directory)") \
            from None
    if keypair.public.decode() != cf.members[node_id].public_key:
        raise StandaloneError(f"{key} is not node {node_id}'s key: its public key differs from the one in "
                              f"{cf.source}")


def run_standalone(data: Path, node_id: int, incarnation: int) -> int:
    """Run the node in this process until SIGTERM/SIGINT; its exit code (docs/CONTRACTS.md)."""
    return Node(data, node_id, incarnation, supervisor_pid=None).run()


def init_cluster(endpoints: list[str], out: Path, keys_dir: Path, auth: str, config: ClusterConfig) -> ClusterFile:
    """Write a cluster file for `endpoints` (member i = endpoints[i-1]) and, with curve, one key file per member
    in `keys_dir`. Validates before writing anything; refuses to overwrite. Returns the file as parsed back."""
    if out.exists():
        raise StandaloneError(f"{out} exists; refusing to overwrite it")
    keypairs = {n: generate_keypair() for n in range(1, len(endpoints) + 1)} if auth == "curve" else {}
    members = {n: Member(n, ep if ep.startswith("tcp://") else f"tcp://{ep}",
                         keypairs[n].public.decode() if keypairs else None) for n, ep in enumerate(endpoints, 1)}
    text = render(dataclasses.replace(config, nodes=len(members)), auth, members)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    try:
        parsed = load(tmp)
    except ClusterFileError as exc:
        tmp.unlink(missing_ok=True)
        raise StandaloneError(str(exc).replace(str(tmp), str(out))) from None
    if keypairs:
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            for n, keypair in keypairs.items():
                write_keypair(key_path(keys_dir, n), keypair)
        except CurveError as exc:
            tmp.unlink(missing_ok=True)
            raise StandaloneError(str(exc)) from None
    os.replace(tmp, out)
    return parsed
