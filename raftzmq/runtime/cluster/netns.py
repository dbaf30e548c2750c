"""`--net netns`: every node in its own network namespace, real TCP between them, faults as packet-drop rules.

Layout of one run (tag = 6 random hex digits, so concurrent runs never share a name):
- namespace `rzq<tag>-hub` holds a bridge `br0`; namespace `rzq<tag>-<n>` holds node n's `eth0` (one end of a
  veth pair whose other end is a port of the bridge) with address 10.77.<n // 256>.<n % 256>/16, and `lo`.
  The bridge lives in a namespace of its own, so the root namespace has no interface and no route into the
  range: nothing outside the run's namespaces can reach (or is reachable from) a node.
- every node listens on <its address>:7000; the endpoints come from a cluster file the supervisor writes into
  the run directory (cluster.toml) and loads back with the multi-host parser (runtime/cluster/clusterfile.py).
- a node enters its namespace itself (setns) before it creates its zmq context.

Faults: partitions, cuts (one-way too) and loss become nftables rules in the input path of the receiving node's
namespace (table `inet raftzmq`): a packet from a node it may not hear from is dropped on arrival, so TCP sees
what a cable pulled out looks like (no FIN, retransmits with back-off, a connection that resumes after heal);
loss drops that fraction of the packets arriving at every node (`numgen random`), which TCP turns into
retransmits and latency, not lost messages. The kernel here has no tc netem, so delay stays application-level
(the nodes' own netem).

Clean-up: `destroy()` on stop deletes every namespace of the run (the veth pairs and rules go with them). A run
registers itself in /run/raftzmq-netns/<tag>.json with its supervisor's pid and start time; a run whose
supervisor is gone (SIGKILL) is swept by the next netns start or by `raftzmq clean --net`.
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from raftzmq.protocol.netmodel import HEALED, NetModel
from raftzmq.runtime.cluster.clusterfile import ClusterFileError, Member, load, render
from raftzmq.runtime.config import ClusterConfig
from raftzmq.runtime.cluster.errors import SupervisorError
from raftzmq.runtime.cluster.procstat import start_time
from raftzmq.runtime.cluster.rundir import RunDir, pid_alive

__all__ = ["NET_MODES", "NetnsError", "NetnsNetwork", "PORT", "node_address", "enter_netns", "require_root",
           "check_config",
           "sweep_stale", "stale_namespaces", "list_namespaces", "delete_run", "rules_for"]

NET_MODES = ("host", "netns")
PORT = 7000
PREFIX = "rzq"
REGISTRY = Path("/run/raftzmq-netns")
_NAME = re.compile(rf"^{PREFIX}([0-9a-f]{{6}})-(hub|\d+)$")
_CLONE_NEWNET = 0x40000000
_CMD_TIMEOUT_S = 20


class NetnsError(SupervisorError):
    """Network namespaces cannot be set up (not root, a tool missing, a command failed)."""


def node_address(node: int) -> str:
    return f"10.77.{node // 256}.{node % 256}"


def require_root() -> None:
    if os.geteuid() != 0:
        raise NetnsError("--net netns needs root (it creates network namespaces, veth pairs and nftables "
                         "rules); run it as root, or leave out --net for loopback TCP")
    missing = [tool for tool in ("ip", "nft") if shutil.which(tool) is None]
    if missing:
        raise NetnsError(f"--net netns needs {' and '.join(missing)} (apt-get install iproute2 nftables)")


def check_config(config: ClusterConfig) -> None:
    """Settings that have no meaning here are refused rather than silently ignored."""
    if config.transport != "tcp" or config.base_port:
        raise NetnsError(f"--net netns gives every node its own address and port {PORT} over TCP; leave out "
                         "--transport ipc and --base-port")


def _run(argv: list[str], stdin: str | None = None) -> None:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=_CMD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{' '.join(argv)}: {exc}") from None
    if proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()[:300]}")


def _ip_batch(commands: list[str], netns: str | None = None) -> None:
    _run(["ip", *(["-n", netns] if netns else []), "-batch", "-"], "\n".join(commands) + "\n")


def list_namespaces() -> list[str]:
    try:
        return sorted(p.name for p in Path("/run/netns").iterdir() if _NAME.match(p.name))
    except OSError:
        return []


def enter_netns(name: str) -> None:
    """Move this (single-threaded) process into network namespace `name`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            raise NetnsError(f"setns({name}): {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------- rules


def rules_for(node: int, allows: Callable[[int, int], bool], loss: float, members: Iterable[int]) -> str:
    """The nft script that replaces node `node`'s table: drop arriving packets from peers that `allows(src,
    node)` forbids, and `loss` of all arriving packets. Atomic: nft applies the whole script or nothing.

    Only the receiving end drops, as a network in between would: a packet dropped in the sender's own output
    path is a local error to its TCP, which then retries every 0.5 s without backing off, while a packet lost
    on the way leaves the sender waiting for an acknowledgement with exponential back-off (measured:
    docs/benchmarks.md)."""
    blocked = [m for m in members if m != node and not allows(m, node)]
    rules = _drop("saddr", blocked)
    if loss > 0:
        rules += f" numgen random mod 10000 < {round(loss * 10000)} drop;"
    return ("table inet raftzmq {}\ndelete table inet raftzmq\n"
            "table inet raftzmq {\n"
            f"  chain input {{ type filter hook input priority 0; policy accept; {rules} }}\n"
            "}\n")


def _drop(field: str, nodes: list[int]) -> str:
    return f"ip {field} {{ {', '.join(node_address(m) for m in nodes)} }} drop;" if nodes else ""


# ---------------------------------------------------------------------------------------------- a run


class NetnsNetwork:
    """The namespaces, bridge, addresses and rules of one supervised run."""

    def __init__(self, tag: str, run: RunDir, members: tuple[int, ...]) -> None:
        self.tag, self.run, self.members = tag, run, members
        self.packet_level: list[str] = ["partition", "isolate", "cut", "loss"]
        self._applied: dict[int, str] = {}
        self.cluster_file = run.path / "cluster.toml"  # written by create(): each node's address in its namespace

    @property
    def hub(self) -> str:
        return f"{PREFIX}{self.tag}-hub"

    def namespace(self, node: int) -> str:
        return f"{PREFIX}{self.tag}-{node}"

    @classmethod
    def create(cls, run: RunDir, config: ClusterConfig, public_keys: Mapping[str, str] | None) -> NetnsNetwork:
        require_root()
        sweep_stale()
        self = cls(secrets.token_hex(3), run, config.members)
        _register(self.tag, run)
        try:
            self._write_cluster_file(config, public_keys)
            self._build()
            self.apply(HEALED.to_doc())
        except BaseException:
            self.destroy()
            raise
        return self

    def _write_cluster_file(self, config: ClusterConfig, public_keys: Mapping[str, str] | None) -> None:
        members = {n: Member(n, f"tcp://{node_address(n)}:{PORT}", (public_keys or {}).get(str(n)))
                   for n in self.members}
        self.cluster_file.write_text(render(config, "curve" if public_keys else "none", members))

    def _build(self) -> None:
        _ip_batch([f"netns add {self.hub}", *(f"netns add {self.namespace(n)}" for n in self.members)])
        hub = ["link add br0 type bridge", "link set br0 up"]
        for n in self.members:
            hub += [f"link add n{n} type veth peer name eth0 netns {self.namespace(n)}",
                    f"link set n{n} master br0", f"link set n{n} up"]
        _ip_batch(hub, self.hub)
        for n in self.members:
            _ip_batch([f"addr add {node_address(n)}/16 dev eth0", "link set eth0 up", "link set lo up"],
                      self.namespace(n))

    def cluster_fields(self) -> dict[str, Any]:
        """cluster.json fields: endpoints (from the cluster file, through the multi-host parser) and names."""
        try:
            endpoints = load(self.cluster_file, private_network=True).endpoints()
        except ClusterFileError as exc:
            raise NetnsError(str(exc)) from None
        return {"endpoints": endpoints, "cluster_file": str(self.cluster_file),
                "netns": {str(n): self.namespace(n) for n in self.members}, "netns_tag": self.tag}

    def apply(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Make partitions, cuts and loss packet rules; return what the nodes still apply themselves (delay)."""
        model = NetModel.from_doc(msg)
        for n in self.members:
            script = rules_for(n, model.allows, model.loss, self.members)
            if self._applied.get(n) != script:
                _run(["ip", "netns", "exec", self.namespace(n), "nft", "-f", "-"], script)
                self._applied[n] = script
        return {**msg, "groups": None, "cuts": [], "loss": 0.0}

    def destroy(self) -> None:
        delete_run(self.tag)


def _register(tag: str, run: RunDir) -> None:
    REGISTRY.mkdir(mode=0o700, parents=True, exist_ok=True)
    doc = {"pid": os.getpid(), "start": start_time(os.getpid()), "run_dir": str(run.path)}
    (REGISTRY / f"{tag}.json").write_text(json.dumps(doc) + "\n")


def _owner_alive(tag: str) -> bool:
    try:
        doc = json.loads((REGISTRY / f"{tag}.json").read_text())
        pid = int(doc["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return pid_alive(pid) and start_time(pid) == doc.get("start")


def delete_run(tag: str) -> list[str]:
    """Delete every namespace of run `tag` (with its veths and rules) and its registry entry."""
    names = [n for n in list_namespaces() if _NAME.match(n).group(1) == tag]  # type: ignore[union-attr]
    for name in names:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=_CMD_TIMEOUT_S)
    try:
        (REGISTRY / f"{tag}.json").unlink()
    except FileNotFoundError:
        pass
    return names


def _stale_tags() -> list[str]:
    tags = {_NAME.match(n).group(1) for n in list_namespaces()}  # type: ignore[union-attr]
    try:
        tags |= {p.stem for p in REGISTRY.glob("*.json")}
    except OSError:
        pass
    return sorted(t for t in tags if not _owner_alive(t))


def stale_namespaces() -> list[str]:
    """Namespaces of runs whose supervisor is gone."""
    stale = set(_stale_tags())
    return [n for n in list_namespaces() if _NAME.match(n).group(1) in stale]  # type: ignore[union-attr]


def sweep_stale() -> list[str]:
    """Remove the namespaces of runs whose supervisor is gone; returns the names removed."""
    removed: list[str] = []
    for tag in _stale_tags():
        removed += delete_run(tag)
    return removed
