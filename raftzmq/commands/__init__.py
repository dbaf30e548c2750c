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
    "kv": ["kv", "workload"],
}


def registered() -> list[click.Command]:
    out: list[click.Command] = []
    for module, names in _FAMILIES.items():
        mod = importlib.import_module(f"{__name__}.{module}")
        out.extend(getattr(mod, name) for name in names)
    return out
