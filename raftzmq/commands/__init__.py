"""Click commands, one module per family; raftzmq/cli.py assembles them. Each module stays thin: parse, call
into lab/runtime/evidence, print, choose the exit code (0 ok, 1 a check failed, 2 usage or state error)."""
from __future__ import annotations

import importlib

import click

# module name -> names of the click commands it defines
_FAMILIES = {
    "cluster": ["start", "status", "kill", "restart", "stop", "pause", "resume", "partition", "isolate", "heal",
                "net", "transfer"],
    "evidence": ["logs", "check", "report", "timeline"],
    "sim": ["sim"],
    "bench": ["bench"],
    "chaos": ["chaos"],
    "conform": ["conform"],
    "faults": ["skew", "failpoint", "disk", "cut", "uncut"],
    "scenario": ["scenario"],
    "fuzz": ["fuzz"],
    "runs": ["ps", "clean"],
    "node": ["node", "init_cluster"],
    "inspect": ["inspect"],
    "propose": ["propose"],
    "kv": ["kv", "workload"],
}


# A command's name on the command line where it differs from its attribute
_CLI_NAMES = {"init_cluster": "init-cluster"}


def command_table() -> dict[str, tuple[str, str]]:
    """Command name -> (module, attribute), known without importing any command module: `raftzmq start` loads
    only the cluster family (a user waits for every import before the first node starts, docs/benchmarks.md)."""
    return {_CLI_NAMES.get(name, name): (module, name) for module, names in _FAMILIES.items() for name in names}


def load_command(name: str) -> click.Command | None:
    entry = command_table().get(name)
    if entry is None:
        return None
    command: click.Command = getattr(importlib.import_module(f"{__name__}.{entry[0]}"), entry[1])
    return command


def registered() -> list[click.Command]:
    """Every command, imported (tests check the table against what the modules define)."""
    out: list[click.Command] = []
    for module, names in _FAMILIES.items():
        mod = importlib.import_module(f"{__name__}.{module}")
        out.extend(getattr(mod, name) for name in names)
    return out
