"""`raftzmq scenario lease-skew`: what lease reads (`--reads lease`) risk when a clock misbehaves, on real processes.

A lease read trusts time: the leader serves a get from its own store while its CheckQuorum lease holds (the last
heartbeat round a quorum answered, plus the minimum election timeout less a clock-drift bound), because the
followers ignore candidates for that long. The followers measure it on their clocks, the leader on its own; a
leader whose clock runs slow (`raftzmq skew`) believes in a lease the followers ended long ago. The script
(3 nodes, election timeout 1000-2000 ms, heartbeat 100 ms, so its lease is 0.9 s of the leader's time):

  1. put x = 1 through the leader L (acknowledged)
  2. skew L 0.1 (its clock runs ten times slow: its lease now lasts up to 9 s of real time) and partition
     {L} | {the others}; the client endpoints stay reachable (a partition between the nodes only)
  3. the others elect a new leader (after their own election timeouts, in real time)
  4. put x = 2 through the new leader (acknowledged)
  5. get x at L
With `--reads lease`, L is still inside its lease by its clock and answers x = 1, a value overwritten by an
acknowledged write before the get began: the history (history.jsonl in the run directory) is not linearizable
and `raftzmq check --history` says so (exit 1). With `--reads index` (the default) L sends a heartbeat round
for the read that no quorum answers: the get times out (an indefinite outcome) and the history is linearizable
(exit 0). The Raft logs are clean either way: the log is never wrong, only the read.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftzmq.evidence.history import read_history
from raftzmq.evidence.lincheck import NOT_LINEARIZABLE, LinResult, check_history
from raftzmq.lab.live.cli_driver import detached_cluster
from raftzmq.lab.live.workload import Op, Recorder, outcome_of
from raftzmq.runtime.cluster.waiting import wait_until

__all__ = ["LEASE_SKEW", "TIMING", "LeaseSkewResult", "lease_skew"]

LEASE_SKEW = 0.1  # the leader's clock factor (raftzmq skew's minimum)
TIMING = ("--election-timeout", "1000-2000", "--heartbeat", "100")
STEP_TIMEOUT_S = 15.0
READ_TIMEOUT_S = 2.0  # the get at the old leader: well inside its skewed lease, long past a ReadIndex round


class LeaseSkewError(RuntimeError):
    """A step did not happen in time (a loaded machine); the message says which."""


@dataclass
class LeaseSkewResult:
    run_dir: str
    reads: str
    steps: list[str] = field(default_factory=list)
    read: Any = None  # what the get at the old leader returned: ("ok", value) or ("info", None)
    lin: LinResult | None = None

    @property
    def linearizable(self) -> bool:
        return self.lin is not None and self.lin.verdict != NOT_LINEARIZABLE

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "reads": self.reads, "steps": self.steps, "read_at_old_leader": self.read,
                "history": str(Path(self.run_dir) / "history.jsonl"),
                "linearizability": self.lin.to_dict() if self.lin else None}


def _wait(what: str, predicate: Callable[[], Any], timeout: float = STEP_TIMEOUT_S) -> Any:
    value = wait_until(predicate, timeout)
    if not value:
        raise LeaseSkewError(f"timed out after {timeout:g} s waiting for {what}")
    return value


def lease_skew(run_dir: Path, *, reads: str = "lease", log: Callable[[str], None] = lambda s: None) -> LeaseSkewResult:
    """Run the script in a new 3-node cluster in `run_dir` with `reads` ("lease" or "index"), stop it, and
    check the client history it recorded."""
    from raftzmq.client import Client  # the lab uses the public client

    result = LeaseSkewResult(str(run_dir), reads)

    def say(text: str) -> None:
        result.steps.append(text)
        log(text)

    history = run_dir / "history.jsonl"
    with detached_cluster(run_dir, "--nodes", "3", "--reads", reads, *TIMING) as control:
        status = lambda: control.request("status")  # noqa: E731
        st = _wait("a leader", lambda: (lambda s: s if s.get("leader") else None)(status()))
        old, term = st["leader"], st["term"]
        doc = json.loads((run_dir / "cluster.json").read_text())
        eps = {int(k): v for k, v in doc["client_endpoints"].items()}
        others = {n: e for n, e in eps.items() if n != old}
        say(f"node {old} leads term {term} (reads: {reads})")
        with history.open("w") as out, Client(eps, timeout=10.0) as writer, \
                Client(others, timeout=10.0) as new_writer, \
                Client(eps[old], timeout=READ_TIMEOUT_S, attempt_timeout=0.5) as reader:
            rec = Recorder(out)

            def run(process: int, op: Op, client: Any) -> tuple[str, Any]:
                rec.invoke(process, op)
                kind, value = outcome_of(op, client.execute)
                rec.complete(process, kind, value)
                rec.flush()
                return kind, value

            if run(0, Op("put", "x", 1), writer)[0] != "ok":
                raise LeaseSkewError("the first put was not acknowledged")
            say("1. put x = 1: acknowledged")
            control.request("skew", id=old, factor=LEASE_SKEW)
            control.request("partition", groups=[[old], sorted(others)])
            say(f"2. skewed node {old}'s clock to {LEASE_SKEW:g}x and partitioned {{{old}}} | "
                f"{{{', '.join(map(str, sorted(others)))}}}")

            def new_leader() -> Any:
                s = status()
                return next((n for n in s["nodes"] if n["id"] != old and n["role"] == "leader"
                             and (n["term"] or 0) > term), None)

            node = _wait("the others to elect a new leader", new_leader)
            say(f"3. node {node['id']} leads term {node['term']}; node {old} still believes it leads term {term}")
            if run(1, Op("put", "x", 2), new_writer)[0] != "ok":
                raise LeaseSkewError("the put through the new leader was not acknowledged")
            say("4. put x = 2 through the new leader: acknowledged")
            result.read = list(run(2, Op("get", "x"), reader))
            kind, value = result.read
            say(f"5. get x at node {old}: " + (f"{value!r}" if kind == "ok" else "no answer (indefinite)"))
            rec.close()
        control.request("heal")
        control.request("skew", id=old, factor=1.0)
    result.lin = check_history(read_history(history))
    say(f"history {history}: {result.lin.verdict}")
    return result
