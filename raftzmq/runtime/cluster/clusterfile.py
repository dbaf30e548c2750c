"""The cluster file: every member, where it listens and (with CURVE) its public key.

One format for nodes on many hosts (`raftzmq node --cluster FILE --id N`, docs/multi-host.md) and for the netns
mode, whose supervisor writes one for its run and loads it back through the same parser, so CI exercises the
multi-host path. TOML::

    auth = "curve"                         # or "none": then every endpoint must be loopback
    [timing]                               # optional, as in a config file (configs/default.toml):
    election_timeout_ms = [150, 300]       #   [timing], [features], and [network] reconnect_ms
    heartbeat_ms = 50
    [[members]]                            # ids 1..N, each once
    id = 1
    endpoint = "tcp://10.0.0.1:7000"
    public_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"   # with auth = "curve"

Errors are ClusterFileError("<file>: <what>"), one line each.
"""
from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from typing import Any

from raftzmq.runtime.config import ClusterConfig, ConfigError, config_from_toml
from raftzmq.runtime.node.curve import AUTH_MODES, CurveError, check_public_key
from raftzmq.runtime.node.transport import TransportError, check_endpoint

__all__ = ["ClusterFileError", "Member", "ClusterFile", "load", "parse", "render"]

_TOP_KEYS = ("name", "auth", "timing", "features", "network", "members")
_MEMBER_KEYS = {"id", "endpoint", "public_key"}


class ClusterFileError(Exception):
    """A cluster file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    endpoint: str
    public_key: str | None = None


@dataclass(frozen=True, slots=True)
class ClusterFile:
    config: ClusterConfig
    auth: str
    members: dict[int, Member]
    source: str = "cluster file"

    def endpoints(self) -> dict[int, str]:
        return {n: m.endpoint for n, m in self.members.items()}

    def public_keys(self) -> dict[str, str] | None:
        if self.auth != "curve":
            return None
        return {str(n): m.public_key for n, m in self.members.items() if m.public_key is not None}

    def node_cluster_json(self, run_id: str, key_file: str | None) -> dict[str, Any]:
        """The cluster.json a node started from this file runs from (docs/CONTRACTS.md): no supervisor, no
        netctl; its own key file named explicitly."""
        doc: dict[str, Any] = {"run_id": run_id, "nodes": self.config.nodes, "config": self.config.to_dict(),
                               "endpoints": {str(n): e for n, e in self.endpoints().items()}, "control": None,
                               "netctl": None, "supervisor_pid": None, "spawn": "standalone", "auth": self.auth,
                               "net": "host", "cluster_file": self.source}
        if self.auth == "curve":
            doc["public_keys"] = self.public_keys()
            doc["key_file"] = key_file
        return doc


def load(path: str | os.PathLike[str], *, private_network: bool = False) -> ClusterFile:
    """Read and validate a cluster file. `private_network`: the endpoints live in network namespaces of this
    run (netns mode), so non-loopback addresses are fine without authentication."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ClusterFileError(f"{source}: cluster file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClusterFileError(f"{source}: TOML syntax error: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClusterFileError(f"{source}: cannot read: {exc}") from None
    return parse(doc, source, private_network=private_network)


def parse(doc: dict[str, Any], source: str, *, private_network: bool = False) -> ClusterFile:
    unknown = sorted(set(doc) - set(_TOP_KEYS))
    if unknown:
        raise ClusterFileError(f"{source}: unknown key {unknown[0]!r}; allowed: {', '.join(_TOP_KEYS)}")
    auth = doc.get("auth", "none")
    if auth not in AUTH_MODES:
        raise ClusterFileError(f"{source}: auth must be one of {', '.join(AUTH_MODES)}, got {auth!r}")
    network = doc.get("network", {})
    if isinstance(network, dict) and set(network) - {"reconnect_ms"}:
        raise ClusterFileError(f"{source}: [network] takes only reconnect_ms here; each member's endpoint "
                               "says where it listens")
    members = _members(doc.get("members"), source, auth, private_network)
    tables: dict[str, Any] = {k: doc[k] for k in ("name", "timing", "features", "network") if k in doc}
    try:
        config = config_from_toml(source, {"nodes": len(members), **tables})
    except ConfigError as exc:
        raise ClusterFileError(str(exc)) from None
    return ClusterFile(config, auth, members, source)


def _members(raw: Any, source: str, auth: str, private_network: bool) -> dict[int, Member]:
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise ClusterFileError(f"{source}: needs [[members]] tables, one per node (id, endpoint, public_key)")
    members: dict[int, Member] = {}
    for index, m in enumerate(raw, 1):
        where = f"{source}: member #{index}"
        extra = sorted(set(m) - _MEMBER_KEYS)
        if extra:
            raise ClusterFileError(f"{where}: unknown key {extra[0]!r}")
        node = m.get("id")
        if type(node) is not int or node in members:
            raise ClusterFileError(f"{where}: id must be a unique integer, got {node!r}")
        members[node] = Member(node, _endpoint(m.get("endpoint"), where, auth, private_network),
                               _public_key(m.get("public_key"), where, auth))
    if sorted(members) != list(range(1, len(members) + 1)):
        raise ClusterFileError(f"{source}: member ids must be 1..{len(members)}, got {sorted(members)}")
    for what in ("endpoint", "public_key"):
        values = [getattr(m, what) for m in members.values() if getattr(m, what) is not None]
        if len(set(values)) != len(values):  # one key for two members would make them indistinguishable
            raise ClusterFileError(f"{source}: two members share {'an endpoint' if what == 'endpoint' else 'a key'}")
    return members


def _endpoint(value: Any, where: str, auth: str, private_network: bool) -> str:
    try:
        return check_endpoint(value, remote_ok=auth == "curve" or private_network)
    except TransportError:
        pass
    try:
        check_endpoint(value, remote_ok=True)
    except TransportError:
        raise ClusterFileError(f"{where}: endpoint must be tcp://HOST:PORT, got {value!r}") from None
    raise ClusterFileError(f"{where}: {value} is not a loopback address; nodes beyond this machine need "
                           "auth = \"curve\" (unauthenticated frames could come from anywhere)")


def _public_key(value: Any, where: str, auth: str) -> str | None:
    if auth != "curve":
        if value is not None:
            raise ClusterFileError(f"{where}: public_key given but auth is not \"curve\"")
        return None
    try:
        return check_public_key(value, where).decode()
    except CurveError as exc:
        raise ClusterFileError(str(exc)) from None


def render(config: ClusterConfig, auth: str, members: dict[int, Member]) -> str:
    """TOML text of a cluster file (parse(tomllib.loads(render(...))) gives the same members and settings)."""
    q = json.dumps  # TOML basic strings accept JSON's escapes for the characters we write
    lines = ["# raftzmq cluster file: every member, where it listens, its public key (docs/multi-host.md)",
             f"auth = {q(auth)}", "", "[timing]",
             f"election_timeout_ms = [{config.election_timeout_ms[0]}, {config.election_timeout_ms[1]}]",
             f"heartbeat_ms = {config.heartbeat_ms}", "", "[features]",
             f"prevote = {str(config.prevote).lower()}", f"check_quorum = {str(config.check_quorum).lower()}",
             f"persist = {q(config.persist)}"]
    if config.reconnect_ms is not None:
        lines += ["", "[network]", f"reconnect_ms = {config.reconnect_ms}"]
    for n in sorted(members):
        m = members[n]
        lines += ["", "[[members]]", f"id = {n}", f"endpoint = {q(m.endpoint)}"]
        if m.public_key is not None:
            lines.append(f"public_key = {q(m.public_key)}")
    return "\n".join(lines) + "\n"
