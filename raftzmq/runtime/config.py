"""Cluster configuration: TOML file -> ClusterConfig, overridden by CLI flags.

TOML layout (every key optional; missing keys take the built-in defaults, which
equal configs/default.toml)::

    name = "default"                  # optional label, copied into cluster.json
    nodes = 5                         # 1..MAX_NODES
    [timing]
    election_timeout_ms = [150, 300]  # [min, max], 0 < min < max <= MAX_TIMEOUT_MS
    heartbeat_ms = 50                 # heartbeat_ms * 2 <= min
    [features]
    prevote = true
    check_quorum = true
    persist = "term+vote"             # or "term-only" (deliberately unsafe)
    hints = false                     # disconnect hints: a crashed leader is replaced in milliseconds
    reads = "index"                   # KV gets: "index" (ReadIndex), "log" (an entry each), "lease" (clock-dependent)
    core = "builtin"                  # or module:Class, file.py:Class, exec:COMMAND (docs/core-contract.md)
    [network]
    transport = "tcp"                 # or "ipc"
    host = "127.0.0.1"                # loopback only: 127.0.0.1, localhost, ::1
    base_port = 0                     # 0 = free ports at start, else base_port..base_port+N-1
    reconnect_ms = 50                 # optional; default min(100, min_timeout // 3)

Every ClusterConfig is validated on construction, so a value that exists is a
valid one. Errors are ConfigError("<source>: key '<key>': <reason>").
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from raftzmq.protocol.core import PERSIST_MODES, CoreConfig
from raftzmq.protocol.units import ms_to_s

__all__ = [
    "ClusterConfig",
    "ConfigError",
    "DEFAULT_CONFIG_PATH",
    "HINT_WINDOW_LATENCIES",
    "LOOPBACK_ONE_WAY_MS",
    "CONFIG_DIR",
    "LOOPBACK_HOSTS",
    "MAX_NODES",
    "MAX_TIMEOUT_MS",
    "PERSIST_MODES",
    "READ_MODES",
    "TRANSPORTS",
    "config_from_toml",
    "default_config",
    "load_config",
    "parse_timeout_range",
    "with_overrides",
]

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
DEFAULT_CONFIG_PATH = CONFIG_DIR / "default.toml"

# One process per node: beyond a few hundred a single machine only measures its scheduler.
MAX_NODES = 256
# Guards against seconds-vs-milliseconds typos; no experiment here needs a minute.
MAX_TIMEOUT_MS = 60_000
TRANSPORTS = ("tcp", "ipc")
# How the KV service serves a get (docs/kv.md "Reads"): "index" (ReadIndex, thesis §6.4: linearizable, no entry),
# "log" (through the log, one entry per read), "lease" (the leader's CheckQuorum lease, thesis §6.4.1: no message
# per read, but only as safe as the clocks: `raftzmq scenario lease-skew` shows a skewed clock break it).
# "stale" is deliberately unsafe (the stale-read mutant store): every node answers gets from its own store.
READ_MODES = ("index", "log", "lease", "stale")
# Nodes accept unauthenticated messages: nothing may listen beyond loopback.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# Disconnect hints: a hinted follower waits a random delay within this many one-way latencies before its
# pre-vote, so that followers who all saw the same close rarely campaign together.
HINT_WINDOW_LATENCIES = 4
# One-way latency between two nodes on loopback including both event loops' wake-ups on a busy 2-core
# machine (idle it is ~0.1 ms; docs/benchmarks.md).
LOOPBACK_ONE_WAY_MS = 0.5

# TOML table for each field; None = top level.
_TOML_TABLE: dict[str, str | None] = {
    "name": None,
    "nodes": None,
    "election_timeout_ms": "timing",
    "heartbeat_ms": "timing",
    "prevote": "features",
    "check_quorum": "features",
    "persist": "features",
    "hints": "features",
    "reads": "features",
    "core": "features",
    "transport": "network",
    "host": "network",
    "base_port": "network",
    "reconnect_ms": "network",
}
_TABLES = ("timing", "features", "network")


class ConfigError(ValueError):
    """An invalid configuration; the message names the source and the key."""

    def __init__(self, source: str | os.PathLike[str], key: str | None, reason: str) -> None:
        self.source = os.fspath(source)
        self.key = key
        self.reason = reason
        where = f"{self.source}: key '{key}'" if key else self.source
        super().__init__(f"{where}: {reason}")


def _is_int(value: object) -> bool:
    return type(value) is int  # bool is an int subclass; refuse it


def _type_name(value: object) -> str:
    return {bool: "boolean", str: "string", int: "integer", float: "float"}.get(
        type(value), type(value).__name__
    )


def _want_int(key: str, value: object) -> int:
    if not _is_int(value):
        raise ConfigError("ClusterConfig", key, f"expected an integer, got {_type_name(value)} {value!r}")
    return value  # type: ignore[return-value]


def _want_bool(key: str, value: object) -> bool:
    if type(value) is not bool:
        raise ConfigError("ClusterConfig", key, f"expected true or false, got {_type_name(value)} {value!r}")
    return value


def _want_choice(key: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ConfigError("ClusterConfig", key, f"must be one of {options}, got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    nodes: int = 5
    election_timeout_ms: tuple[int, int] = (150, 300)
    heartbeat_ms: int = 50
    prevote: bool = True
    check_quorum: bool = True
    persist: str = PERSIST_MODES[0]
    hints: bool = False
    reads: str = "index"  # how the KV service serves gets (READ_MODES; the core's read_mode for "lease")
    transport: str = "tcp"
    host: str = "127.0.0.1"
    base_port: int = 0
    reconnect_ms: int | None = None  # None: derived, see effective_reconnect_ms
    name: str | None = None
    core: str = "builtin"  # which election core the nodes run; loaded by runtime/cores/coreload.py

    def __post_init__(self) -> None:
        nodes = _want_int("nodes", self.nodes)
        if not 1 <= nodes <= MAX_NODES:
            raise ConfigError("ClusterConfig", "nodes", f"must be between 1 and {MAX_NODES}, got {nodes}")
        self._check_timing()
        self._check_switches()
        self._check_network(nodes)
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise ConfigError("ClusterConfig", "name", f"expected a non-empty string, got {self.name!r}")

    def _check_timing(self) -> None:
        """Election timeout range and heartbeat, normalised to a (min, max) tuple of ints."""
        rng = self.election_timeout_ms
        if not isinstance(rng, (list, tuple)) or len(rng) != 2:
            raise ConfigError(
                "ClusterConfig", "election_timeout_ms", f"expected [min, max] in milliseconds, got {rng!r}"
            )
        lo, hi = (_want_int("election_timeout_ms", v) for v in rng)
        if lo <= 0:
            raise ConfigError("ClusterConfig", "election_timeout_ms", f"min must be > 0, got {lo}")
        if lo >= hi:
            # Randomisation over an empty range makes split votes repeat forever.
            raise ConfigError("ClusterConfig", "election_timeout_ms", f"min {lo} must be < max {hi}")
        if hi > MAX_TIMEOUT_MS:
            raise ConfigError(
                "ClusterConfig", "election_timeout_ms", f"max {hi} exceeds {MAX_TIMEOUT_MS} ms (seconds given?)"
            )
        object.__setattr__(self, "election_timeout_ms", (lo, hi))

        hb = _want_int("heartbeat_ms", self.heartbeat_ms)
        if hb <= 0:
            raise ConfigError("ClusterConfig", "heartbeat_ms", f"must be > 0, got {hb}")
        if hb * 2 > lo:
            raise ConfigError(
                "ClusterConfig",
                "heartbeat_ms",
                f"{hb} ms is too close to the minimum election timeout {lo} ms: need heartbeat_ms * 2 <= {lo}, "
                "otherwise one delayed or lost heartbeat makes followers start elections against a healthy leader",
            )

    def _check_switches(self) -> None:
        _want_bool("prevote", self.prevote)
        _want_bool("check_quorum", self.check_quorum)
        _want_bool("hints", self.hints)
        _want_choice("persist", self.persist, PERSIST_MODES)
        _want_choice("reads", self.reads, READ_MODES)
        if self.reads == "lease" and (not self.check_quorum or self.hints):
            raise ConfigError("ClusterConfig", "reads", "lease reads need check_quorum on and hints off (a leader "
                              "serves from its lease only because followers ignore votes while it holds)")
        if not isinstance(self.core, str) or not self.core.strip():
            raise ConfigError("ClusterConfig", "core", f"expected a core spec string, got {self.core!r}")
        if self.core != "builtin" and self.persist != "term+vote":
            raise ConfigError("ClusterConfig", "persist", "term-only switches the built-in core only; a plug-in "
                              "core decides what it persists, and the checker holds it to term+vote")

    def _check_network(self, nodes: int) -> None:
        """Transport, a loopback host, ports for every node, the reconnect interval."""
        _want_choice("transport", self.transport, TRANSPORTS)
        if not isinstance(self.host, str) or self.host not in LOOPBACK_HOSTS:
            raise ConfigError(
                "ClusterConfig",
                "host",
                f"{self.host!r} is not a loopback address; allowed: {', '.join(LOOPBACK_HOSTS)} "
                "(nodes are unauthenticated and must not listen beyond this machine)",
            )

        port = _want_int("base_port", self.base_port)
        if port != 0:
            if not 1024 <= port <= 65535:
                raise ConfigError(
                    "ClusterConfig", "base_port", f"must be 0 (pick free ports) or 1024..65535, got {port}"
                )
            if self.transport == "ipc":
                raise ConfigError("ClusterConfig", "base_port", f"{port} is for transport tcp; with ipc the nodes "
                                  "listen on sockets in the run directory and take no port (leave it 0)")
            if port + nodes - 1 > 65535:
                raise ConfigError(
                    "ClusterConfig",
                    "base_port",
                    f"ports {port}..{port + nodes - 1} for {nodes} nodes go beyond 65535",
                )
        if self.reconnect_ms is not None:
            rc = _want_int("reconnect_ms", self.reconnect_ms)
            if not 1 <= rc <= MAX_TIMEOUT_MS:
                raise ConfigError("ClusterConfig", "reconnect_ms", f"must be 1..{MAX_TIMEOUT_MS}, got {rc}")

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(range(1, self.nodes + 1))

    @property
    def effective_reconnect_ms(self) -> int:
        """ZMQ RECONNECT_IVL: explicit value, else small against the election timeout
        so a restarted peer is reachable well before anyone times out."""
        if self.reconnect_ms is not None:
            return self.reconnect_ms
        return max(1, min(100, self.election_timeout_ms[0] // 3))

    def core_config(self, node_id: int, one_way_ms: float = LOOPBACK_ONE_WAY_MS) -> CoreConfig:
        """What the election core of `node_id` runs with: the one place where milliseconds become seconds.
        `one_way_ms`: the network's one-way latency, which sizes the hint window (the simulator passes its own)."""
        lo, hi = self.election_timeout_ms
        return CoreConfig(node_id, self.members, ms_to_s(lo), ms_to_s(hi), ms_to_s(self.heartbeat_ms), self.prevote,
                          self.check_quorum, self.persist, self.hints,
                          ms_to_s(min(HINT_WINDOW_LATENCIES * one_way_ms, lo / 2)),
                          read_mode="lease" if self.reads == "lease" else "index")

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready dict (for cluster.json); from_dict(to_dict()) == self."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["election_timeout_ms"] = list(self.election_timeout_ms)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "cluster config") -> ClusterConfig:
        """Inverse of to_dict; validates and refuses unknown keys. Missing keys take defaults."""
        if not isinstance(data, Mapping):
            raise ConfigError(source, None, f"expected an object, got {type(data).__name__}")
        for key in data:
            if key not in _TOML_TABLE:
                raise ConfigError(source, key, "unknown key" + _suggest(key, list(_TOML_TABLE)))
        return _build(source, dict(data), dotted=False)


def _suggest(key: str, candidates: list[str]) -> str:
    """' ; did you mean ...?' for an unknown key, or ''. Tries: same leaf in another
    table, then a close full match, then a close leaf match."""
    leaf = key.rsplit(".", 1)[-1]
    by_leaf = {c.rsplit(".", 1)[-1]: c for c in candidates}
    if leaf in by_leaf and by_leaf[leaf] != key:
        return f"; did you mean '{by_leaf[leaf]}'?"
    close = difflib.get_close_matches(key, candidates, n=1)
    if not close:
        close = [by_leaf[c] for c in difflib.get_close_matches(leaf, list(by_leaf), n=1)]
    return f"; did you mean '{close[0]}'?" if close else ""


def _dotted(field: str) -> str:
    table = _TOML_TABLE[field]
    return f"{table}.{field}" if table else field


def _build(source: str, values: dict[str, Any], dotted: bool) -> ClusterConfig:
    try:
        return ClusterConfig(**values)
    except ConfigError as exc:
        key = _dotted(exc.key) if dotted and exc.key in _TOML_TABLE else exc.key
        raise ConfigError(source, key, exc.reason) from None


def _flatten_toml(source: str, doc: dict[str, Any]) -> dict[str, Any]:
    valid = [_dotted(f) for f in _TOML_TABLE] + list(_TABLES)
    values: dict[str, Any] = {}
    for key, value in doc.items():
        if key in _TABLES:
            if not isinstance(value, dict):
                raise ConfigError(source, key, f"expected a table [{key}], got {_type_name(value)}")
            for sub, subvalue in value.items():
                dotted = f"{key}.{sub}"
                if _TOML_TABLE.get(sub) != key:
                    raise ConfigError(source, dotted, "unknown key" + _suggest(dotted, valid))
                values[sub] = subvalue
        elif _TOML_TABLE.get(key, "?") is None:
            values[key] = value
        else:
            raise ConfigError(source, key, "unknown key" + _suggest(key, valid))
    return values


def load_config(path: str | os.PathLike[str]) -> ClusterConfig:
    """Read and validate a TOML cluster config."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(source, None, "config file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, None, f"TOML syntax error: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, None, f"not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise ConfigError(source, None, f"cannot read config file: {exc.strerror or exc}") from None
    return _build(source, _flatten_toml(source, doc), dotted=True)


def config_from_toml(source: str, doc: dict[str, Any]) -> ClusterConfig:
    """Validate an already parsed TOML document with the config file's layout (the cluster file reuses it)."""
    return _build(source, _flatten_toml(source, doc), dotted=True)


def default_config() -> ClusterConfig:
    """Built-in defaults, identical to configs/default.toml (no file needed)."""
    return ClusterConfig(name="default")


def parse_timeout_range(text: str, source: str = "command line") -> tuple[int, int]:
    """Parse the CLI form "150-300" into (150, 300)."""
    parts = text.strip().split("-") if isinstance(text, str) else []
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = int(parts[0]), int(parts[1])
    except ValueError:
        raise ConfigError(
            source, "election_timeout_ms", f"expected MIN-MAX in milliseconds like '150-300', got {text!r}"
        ) from None
    if lo <= 0 or lo >= hi:
        raise ConfigError(source, "election_timeout_ms", f"need 0 < min < max, got min {lo} and max {hi}")
    return lo, hi


def with_overrides(config: ClusterConfig, /, **overrides: Any) -> ClusterConfig:
    """Return config with the given fields replaced and re-validated.

    A value of None means "flag not given" and keeps the config's value (so
    reconnect_ms and name cannot be reset to None this way). election_timeout_ms
    may be a (min, max) pair or the CLI string "150-300".
    """
    source = "command-line override"
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in _TOML_TABLE:
            raise ConfigError(source, key, "unknown setting" + _suggest(key, list(_TOML_TABLE)))
        if value is None:
            continue
        if key == "election_timeout_ms" and isinstance(value, str):
            value = parse_timeout_range(value, source)
        changes[key] = value
    if not changes:
        return config
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    values.update(changes)
    return _build(source, values, dotted=False)
