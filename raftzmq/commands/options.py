"""The cluster switches, defined once for every command that runs a cluster (start, chaos, bench, sim).

Each command takes the same flags with the same meaning, resolves them through the same function into a
ClusterConfig (runtime/config.py holds every rule), and refuses bad values with the same one-line message and
exit 2. Commands that start a cluster in a child process pass the flags on unchanged (`start_args`).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from ..protocol.core import PERSIST_MODES
from ..runtime.cores.coreload import CoreLoadError, ignores_prevote, resolve_spec
from ..runtime.config import READ_MODES, ClusterConfig, ConfigError, default_config, load_config, with_overrides

__all__ = ["cluster_options", "fail", "resolve_cluster", "start_args", "CLUSTER_KEYS"]

F = TypeVar("F", bound=Callable[..., Any])

# Flag parameters that cluster_options adds, in the order `start` documents them.
CLUSTER_KEYS = ("config_path", "nodes", "election_timeout", "heartbeat", "prevote", "check_quorum", "persist",
                "hints", "reads", "core")
ON_OFF = {"on": True, "off": False}


def fail(message: str, code: int = 2, as_json: bool = False) -> NoReturn:
    """Print one error line (stderr; with as_json a JSON object on stdout, for scripts) and exit."""
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message}))
    else:
        click.echo(f"raftzmq: error: {message}", err=True)
    sys.exit(code)


def cluster_options(fn: F) -> F:
    """--config, --nodes, --election-timeout, --heartbeat, --prevote/--no-prevote, --check-quorum/--no-check-quorum,
    --persist, --hints, --reads, --core. Unset flags keep the config file's value (default: configs/default.toml)."""
    opts = [
        click.option("--config", "config_path", metavar="FILE",
                     help="TOML cluster config (default: configs/default.toml)."),
        click.option("--nodes", "-n", type=int, help="Number of nodes (default 5, from the config)."),
        click.option("--election-timeout", metavar="MIN-MAX", help="Election timeout range in ms, e.g. 150-300."),
        click.option("--heartbeat", type=int, metavar="MS", help="Heartbeat interval in ms."),
        click.option("--prevote/--no-prevote", default=None, help="PreVote on or off (default: on, from the config)."),
        click.option("--check-quorum/--no-check-quorum", default=None,
                     help="CheckQuorum on or off (default: on, from the config)."),
        click.option("--persist", type=click.Choice(PERSIST_MODES),
                     help="What nodes persist; term-only is deliberately unsafe (watch `check` catch it)."),
        click.option("--hints", type=click.Choice(tuple(ON_OFF)),
                     help="Disconnect hints: a follower that sees its leader's connection close starts a pre-vote "
                          "at once instead of waiting out its timeout (default: off, from the config)."),
        click.option("--reads", type=click.Choice(READ_MODES),
                     help="How KV gets are served: index (ReadIndex, linearizable; the default), log (one entry "
                          "each), lease (the leader's lease: clock-dependent, see `raftzmq scenario lease-skew`) or stale "
                          "(deliberately unsafe: every node answers from its own store; watch `check` catch it)."),
        click.option("--core", metavar="SPEC", help="Election core: builtin, package.module:Class, "
                     "path/file.py:Class or exec:COMMAND (docs/core-contract.md; `raftzmq conform` judges one)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def resolve_cluster(kw: dict[str, Any], base: ClusterConfig | None = None, **more: Any) -> ClusterConfig:
    """Pop the cluster flags from a command's keyword arguments and apply them to the config file (or `base`);
    `more` are further overrides (start's --transport, --base-port). Exit 2 with the rule's message if invalid."""
    flags = {k: kw.pop(k) for k in CLUSTER_KEYS}
    try:
        config = load_config(flags["config_path"]) if flags["config_path"] else (base or default_config())
        config = with_overrides(config, nodes=flags["nodes"], election_timeout_ms=flags["election_timeout"],
                                heartbeat_ms=flags["heartbeat"], prevote=flags["prevote"],
                                check_quorum=flags["check_quorum"], persist=flags["persist"], core=flags["core"],
                                reads=flags["reads"],
                                hints=None if flags["hints"] is None else ON_OFF[flags["hints"]], **more)
        # The core is imported and probed now: a bad one is a one-line error before anything starts.
        config = with_overrides(config, core=resolve_spec(config.core))
        if config.prevote and ignores_prevote(config.core):
            click.echo(f"raftzmq: warning: core {config.core} does not do PreVote (with prevote on, its first "
                       "election timeout asked for real votes), so this cluster runs without it: a node back from "
                       "isolation can depose a healthy leader. Say so with --no-prevote.", err=True)
        return config
    except (ConfigError, CoreLoadError) as exc:
        fail(str(exc))


def start_args(config: ClusterConfig, config_path: str | None = None) -> list[str]:
    """`raftzmq start` flags (all but --nodes) that reproduce a resolved config, for commands that start a cluster
    in a child process: the file for what has no flag, then every value the flags set."""
    lo, hi = config.election_timeout_ms
    return [*(["--config", config_path] if config_path else []), "--election-timeout", f"{lo}-{hi}",
            "--heartbeat", str(config.heartbeat_ms), "--prevote" if config.prevote else "--no-prevote",
            "--check-quorum" if config.check_quorum else "--no-check-quorum", "--persist", config.persist,
            "--hints", "on" if config.hints else "off", "--reads", config.reads, "--core", config.core]
