"""`raftzmq kv get|put|delete|cas|append` and `raftzmq workload`: clients of the replicated KV service
(raftzmq/client.py, wire protocol/kvwire.py). They find the cluster's client endpoints in the run directory's
cluster.json (`client_endpoints`) or take them from --endpoint."""
from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from ..client import NO_ENDPOINT_MESSAGE, BadRequest, Client, Failed, Indefinite, NoClientEndpoint, client_endpoints
from ..evidence.history import HistoryError
from ..evidence.history import read_history
from ..lab.live.nemesis import WORKLOAD_KINDS, parse_kinds, plan
from ..lab.live.workload import MAX_CLIENTS, Recorder, generate, run_live
from ..lab.live import workload as workload_mod
from ..runtime.cluster.control import ControlClient, ControlError
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
@click.option("--seed", type=int, default=1, show_default=True,
              help="Seed of the operations and of the nemesis's schedule.")
@click.option("--nemesis", default=None, metavar="KINDS",
              help=f"Faults during the run, comma-separated, or all: {', '.join(WORKLOAD_KINDS)} "
                   f"(as in `raftzmq chaos`; restart = SIGKILL and start again at once). Needs the cluster's "
                   f"run directory (its supervisor injects them).")
@click.option("--nemesis-interval", type=click.FloatRange(min=0.05), default=3.0, show_default=True,
              metavar="S", help="Mean seconds between nemesis steps (uniform in [S/2, 3S/2]); about half undo one.")
@click.option("--final-reads/--no-final-reads", default=True, show_default=True,
              help="After the run (and the heal): read every key into the history and compare with the "
                   "acknowledged writes.")
@click.option("--history", "history_path", default=None, metavar="FILE",
              help="Where to write the history (default: <run dir>/history.jsonl, or ./history.jsonl); "
                   "workload.json goes beside it.")
@click.option("--budget", type=float, default=60.0, show_default=True, help="Checker time budget (s).")
@click.option("--key-prefix", default=None, metavar="TEXT",
              help="Keys are TEXTk0, TEXTk1, ... (default: a fresh tag per run, e.g. w3f0a., so that a run never "
                   "meets the values an earlier run left: each history starts every key absent).")
@_endpoint_options
@_json_option
def workload(clients: int, keys: int, rate: float, duration: float, seed: int, nemesis: str | None,
             nemesis_interval: float, final_reads: bool, history_path: str | None, budget: float,
             key_prefix: str | None, run_dir: str | None, endpoints: tuple[str, ...], timeout: float,
             as_json: bool) -> None:
    """Run a Jepsen-style workload against the cluster, record history.jsonl and check it for linearizability.

    With --nemesis, faults from the seeded schedule of `raftzmq chaos` hit the cluster while the clients work,
    after a calm first --nemesis-interval (at most a quarter of the run); at the end everything is healed and the
    command waits for one agreed leader. Then every key is read once
    more (the reads go into the history, and each final value is compared with the acknowledged writes).
    workload.json, beside the history, records the schedule, what each step did, the windows of time each fault
    was in force (on the history's clock; t0_mono_ns puts them on the logs' mono_ns axis) and the summary.

    Prints a progress line every second; at the end the verdict, counts, throughput, latency p50/p99/max and
    availability (ok fraction) for the run, per fault kind, for the calm time and per fault window.
    Exit 0 linearizable (and nothing acknowledged lost), 1 not linearizable, an acknowledged write lost or no
    leader after healing, 2 bad usage, 3 unknown.

    \b
    Examples:
      raftzmq workload --clients 16 --keys 8 --rate 500 --duration 30
      raftzmq workload --duration 60 --nemesis kill,partition,restart
      raftzmq workload --duration 600 --nemesis all --clients 16
      raftzmq check --history logs/latest/history.jsonl --html lin.html
    """
    try:
        kinds = parse_kinds(nemesis) if nemesis is not None else ()
    except ValueError as exc:
        fail(str(exc), as_json=as_json)
    if kinds and endpoints:
        fail("--nemesis needs the cluster's run directory (its supervisor injects the faults), not --endpoint",
             as_json=as_json)
    targets = _targets(run_dir, endpoints, as_json)
    control, nodes = None, 0
    if kinds:
        try:
            control = ControlClient(resolve_run_dir(run_dir))
            nodes = len(control.request("status")["nodes"])
        except (RunDirError, ControlError) as exc:
            fail(f"--nemesis: {exc}", as_json=as_json)
    if history_path is None:
        base = Path(".") if endpoints else resolve_run_dir(run_dir).path
        history_path = str(base / "history.jsonl")
    prefix = key_prefix if key_prefix is not None else f"w{secrets.token_hex(2)}."
    schedule = generate(seed, clients, keys, rate, duration, prefix=prefix)
    conns = [Client(targets, timeout=timeout, seed=seed * 1000 + p) for p in range(clients)]
    say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))
    readers = min(8, keys) if final_reads else 0
    from ..lab.live.kvnemesis import NOT_DONE, NemesisRun  # the chaos executor and the checker: only here

    nem: NemesisRun | None = None
    try:
        with open(history_path, "w", encoding="utf-8") as out:
            rec = Recorder(out)
            if control is not None:
                calm = min(nemesis_interval, duration / 4)  # a calm start first, to compare the faults with
                actions = plan(seed, nodes, duration - calm, kinds, (nemesis_interval / 2, nemesis_interval * 1.5))
                nem = NemesisRun(control, nodes, actions, rec.now, log=say, offset_s=calm)
                nem.start()
            status = None if nem is None else (lambda: "faults: " + (", ".join(nem.open_now()) or "none"))
            try:
                run_live(conns, schedule, out, duration, drain_s=timeout + 1.0, progress=say, recorder=rec,
                         keep_open=True, status=status)
            finally:
                if nem is not None:
                    nem.stop_and_heal(converge_s=max(20.0, 2 * timeout))
            if readers:
                workload_mod.final_reads(rec, lambda i: Client(targets, timeout=timeout, seed=seed * 1000 + clients + i),
                                         [f"{prefix}k{i}" for i in range(keys)], clients, readers=readers,
                                         deadline_s=max(30.0, 3 * timeout))
            rec.close()
    except OSError as exc:
        fail(f"cannot write {history_path}: {exc.strerror or exc}", as_json=as_json)
    finally:
        for c in conns:
            c.close()
    try:
        history = read_history(history_path)
        summary = workload_mod.summarize_ops(workload_mod.history_spans(history, range(clients)), duration,
                                             nem.windows() if nem is not None else ())
        result = workload_mod.check(history_path, summary, budget_s=budget, history=history)
    except HistoryError as exc:
        fail(str(exc), as_json=as_json)
    lost = workload_mod.lost_writes(history, range(clients), range(clients, clients + readers)) if readers else None
    summary.extra.update(history_path=os.fspath(history_path), t0_mono_ns=rec.t0_ns, seed=seed, key_prefix=prefix,
                         final=lost, nemesis=None if nem is None else {"kinds": list(kinds), **nem.to_dict()})
    doc = summary.to_dict()
    side = Path(history_path).with_name("workload.json")
    try:
        side.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {side}: {exc.strerror or exc}", as_json=as_json)
    converged = nem is None or bool(nem.heal.get("converged"))
    if as_json:
        click.echo(json.dumps(doc))
    else:
        click.echo(summary.render())
        if nem is not None:
            done = sum(not str(e["did"]).startswith(NOT_DONE) for e in nem.executed)
            click.echo(f"  nemesis {','.join(kinds)}: {done} of {len(nem.executed)} steps done "
                       f"({len(nem.actions)} planned, seed {seed}); then {nem.heal.get('did')}: one agreed leader "
                       + (f"after {nem.heal['converge_s']:.1f} s" if converged else "NOT reached"))
        if lost is not None:
            left = f", {lost['left_to_checker']} with string appends left to the checker" \
                if lost["left_to_checker"] else ""
            click.echo(f"  final reads: {lost['keys_read']} of {keys} keys; acknowledged writes lost: "
                       f"{len(lost['lost'])} ({lost['judged']} keys judged directly{left})")
            for row in lost["lost"][:10]:
                write = f": {row['write']} (line {row['line']})" if row["write"] else ""
                click.echo(f"    LOST key {json.dumps(row['key'])}: read {json.dumps(row['final'])} "
                           f"(line {row['read_line']}); {row['reason']}{write}")
        click.echo(f"  {side}")
    definite_failure = (lost is not None and bool(lost["lost"])) or not converged  # even if the check ran out
    sys.exit(1 if definite_failure else result.exit_code)
