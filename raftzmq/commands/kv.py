"""`raftzmq kv get|put|delete|cas|append` and `raftzmq workload`: clients of the replicated KV service
(raftzmq/client.py, wire protocol/kvwire.py). They find the cluster's client endpoints in the run directory's
cluster.json (`client_endpoints`) or take them from --endpoint."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ..client import NO_ENDPOINT_MESSAGE, BadRequest, Client, Failed, Indefinite, NoClientEndpoint, client_endpoints
from ..evidence.history import HistoryError
from ..lab.live.workload import MAX_CLIENTS, generate, run_live
from ..lab.live import workload as workload_mod
from ..runtime.cluster.rundir import RunDirError, resolve_run_dir
from .options import fail

__all__ = ["kv", "workload"]

F = TypeVar("F", bound=Callable[..., Any])
EXIT_INDEFINITE = 3


def _endpoint_options(fn: F) -> F:
    fn = click.option("--run-dir", default=None, help="Run directory (default: $RAFTZMQ_RUN_DIR, else logs/latest).")(fn)
    fn = click.option("--endpoint", "endpoints", multiple=True, metavar="URL",
                      help="A node's client endpoint (repeatable), instead of the run directory's.")(fn)
    fn = click.option("--timeout", type=float, default=5.0, show_default=True,
                      help="Deadline of one operation in seconds; past it the outcome is indefinite.")(fn)
    return fn


def _targets(run_dir: str | None, endpoints: tuple[str, ...], as_json: bool = False) -> dict[int, str]:
    if endpoints:
        return {n: e for n, e in enumerate(endpoints, 1)}
    try:
        return client_endpoints(resolve_run_dir(run_dir).path)
    except NoClientEndpoint:
        fail(NO_ENDPOINT_MESSAGE, as_json=as_json)
    except RunDirError as exc:
        fail(f"{NO_ENDPOINT_MESSAGE} ({exc})", as_json=as_json)


def _value(text: str) -> Any:
    """A VALUE argument: JSON when it parses as JSON (1, [1,2], "s", null), else the text as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _run(op: str, key: str, args: list[Any], run_dir: str | None, endpoints: tuple[str, ...], timeout: float,
         as_json: bool) -> None:
    targets = _targets(run_dir, endpoints, as_json)
    out: dict[str, Any] = {"op": op, "key": key}
    try:
        with Client(targets, timeout=timeout) as kv:
            if op == "get":
                out["value"] = kv.get(key)
            elif op == "cas":
                out["swapped"] = kv.cas(key, args[0], args[1])
            else:
                getattr(kv, op)(key, *args)
            out["leader"] = kv.leader
    except BadRequest as exc:
        fail(f"bad request: {exc}", as_json=as_json)
    except Failed as exc:
        out.update(ok=False, outcome="fail", error=str(exc), current=exc.current)
        click.echo(json.dumps(out) if as_json else f"fail: {exc} (the value is {json.dumps(exc.current)})")
        sys.exit(1)
    except Indefinite as exc:
        out.update(ok=False, outcome="indefinite", error=str(exc))
        click.echo(json.dumps(out) if as_json else f"indefinite: {exc} (it may or may not have happened)",
                   err=not as_json)
        sys.exit(EXIT_INDEFINITE)
    swapped = out.get("swapped", True)
    out.update(ok=bool(swapped), outcome="ok" if swapped else "fail")
    if as_json:
        click.echo(json.dumps(out))
    elif op == "get":
        click.echo(json.dumps(out["value"]))
    elif op == "cas":
        click.echo("swapped" if swapped else "not swapped: the value was not the expected one")
    else:
        click.echo("ok")
    if not swapped:
        sys.exit(1)


_json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")


@click.group()
def kv() -> None:
    """Read and write the replicated key-value store (a client of the running cluster).

    Values are JSON when they parse as JSON (1, "s", [1,2], {"a":1}, null), else plain strings. Exit codes:
    0 ok, 1 a definite failure (cas found another value, append to a number), 2 bad request or no cluster,
    3 indefinite (the deadline passed: it may or may not have happened).

    \b
    Examples:
      raftzmq kv put x 1
      raftzmq kv get x --json
      raftzmq kv cas x 1 2
      raftzmq kv append log '["a"]'
      raftzmq kv delete x
    """


@kv.command("get")
@click.argument("key")
@_endpoint_options
@_json_option
def kv_get(key: str, run_dir: str | None, endpoints: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Print KEY's value (null when absent); linearizable.

    \b
    Examples:
      raftzmq kv get x
      raftzmq kv get x --json --timeout 2
    """
    _run("get", key, [], run_dir, endpoints, timeout, as_json)


@kv.command("put")
@click.argument("key")
@click.argument("value")
@_endpoint_options
@_json_option
def kv_put(key: str, value: str, run_dir: str | None, endpoints: tuple[str, ...], timeout: float,
           as_json: bool) -> None:
    """Set KEY to VALUE.

    \b
    Examples:
      raftzmq kv put x 1
      raftzmq kv put name alice --json
    """
    _run("put", key, [_value(value)], run_dir, endpoints, timeout, as_json)


@kv.command("delete")
@click.argument("key")
@_endpoint_options
@_json_option
def kv_delete(key: str, run_dir: str | None, endpoints: tuple[str, ...], timeout: float, as_json: bool) -> None:
    """Make KEY absent.

    \b
    Examples:
      raftzmq kv delete x
    """
    _run("delete", key, [], run_dir, endpoints, timeout, as_json)


@kv.command("cas")
@click.argument("key")
@click.argument("expected")
@click.argument("new")
@_endpoint_options
@_json_option
def kv_cas(key: str, expected: str, new: str, run_dir: str | None, endpoints: tuple[str, ...], timeout: float,
           as_json: bool) -> None:
    """Set KEY to NEW if its value is EXPECTED (null: absent); exit 1 if it was not.

    \b
    Examples:
      raftzmq kv cas x 1 2
      raftzmq kv cas lock null mine
    """
    _run("cas", key, [_value(expected), _value(new)], run_dir, endpoints, timeout, as_json)


@kv.command("append")
@click.argument("key")
@click.argument("value")
@_endpoint_options
@_json_option
def kv_append(key: str, value: str, run_dir: str | None, endpoints: tuple[str, ...], timeout: float,
              as_json: bool) -> None:
    """Append VALUE to KEY: strings concatenate, a list extends a list (else is added as one element).

    \b
    Examples:
      raftzmq kv append log '["a"]'
      raftzmq kv append greeting ' world'
    """
    _run("append", key, [_value(value)], run_dir, endpoints, timeout, as_json)


@click.command()
@click.option("--clients", type=click.IntRange(1, MAX_CLIENTS), default=8, show_default=True,
              help="Client threads (one process each in the history).")
@click.option("--keys", type=click.IntRange(1, 10_000), default=8, show_default=True)
@click.option("--rate", type=click.FloatRange(min=0.1), default=200.0, show_default=True,
              help="Target operations per second, all clients together.")
@click.option("--duration", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Seconds.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--nemesis", default=None, metavar="KINDS",
              help="Faults during the run (chaos kinds, comma-separated, or all); needs a live cluster.")
@click.option("--history", "history_path", default=None, metavar="FILE",
              help="Where to write the history (default: <run dir>/history.jsonl, or ./history.jsonl).")
@click.option("--budget", type=float, default=60.0, show_default=True, help="Checker time budget (s).")
@_endpoint_options
@_json_option
def workload(clients: int, keys: int, rate: float, duration: float, seed: int, nemesis: str | None,
             history_path: str | None, budget: float, run_dir: str | None, endpoints: tuple[str, ...],
             timeout: float, as_json: bool) -> None:
    """Run a Jepsen-style workload against the cluster, record history.jsonl and check it for linearizability.

    Prints a progress line every second; at the end the verdict, counts, throughput, latency p50/p99/max and
    availability (ok fraction). Exit 0 linearizable, 1 not linearizable, 2 bad usage, 3 unknown.

    \b
    Examples:
      raftzmq workload --clients 16 --keys 8 --rate 500 --duration 30
      raftzmq workload --duration 600 --nemesis all
      raftzmq check --history logs/latest/history.jsonl --html lin.html
    """
    targets = _targets(run_dir, endpoints, as_json)
    if nemesis:
        fail("--nemesis against a live cluster is not wired yet (it needs the node side of the client endpoint)",
             as_json=as_json)
    if history_path is None:
        base = Path(".") if endpoints else resolve_run_dir(run_dir).path
        history_path = str(base / "history.jsonl")
    schedule = generate(seed, clients, keys, rate, duration)
    conns = [Client(targets, timeout=timeout, seed=seed * 1000 + p) for p in range(clients)]
    progress = None if as_json else (lambda line: click.echo(line, err=True))
    try:
        with open(history_path, "w", encoding="utf-8") as out:
            _, summary = run_live(conns, schedule, out, duration, drain_s=timeout + 1.0, progress=progress)
    except OSError as exc:
        fail(f"cannot write {history_path}: {exc.strerror or exc}", as_json=as_json)
    finally:
        for c in conns:
            c.close()
    try:
        result = workload_mod.check(history_path, summary, budget_s=budget)
    except HistoryError as exc:
        fail(str(exc), as_json=as_json)
    summary.extra["history_path"] = os.fspath(history_path)
    click.echo(json.dumps(summary.to_dict()) if as_json else summary.render())
    sys.exit(result.exit_code)
