"""The Jepsen-style KV workload (issue 19): clients issue get/put/delete/cas/append on K keys at a target rate and
the outcomes are recorded as `history.jsonl` (docs/history-format.md), then checked by evidence/lincheck.py.

Three parts, so that the live cluster and the simulator share everything but the transport:
- `generate(...)` and `Recorder` (lab/kv/schedule.py, re-exported here): the seeded schedule of (time ns,
  process, Op) and the history writer, which `raftzmq sim --workload` (lab/sim/simkv.py) uses too.
- drivers: `run_live` (threads with raftzmq.client Clients) and `SimWorkload` (transport-free: the simulator
  gives it the time and a `submit` function and reports completions back; `raftzmq sim --workload` drives its
  own event-driven clients instead, lab/sim/simkv.py).

Why threads for the live workload: the clients spend their time blocked in ZeroMQ polls (the GIL is released), a
single process keeps one clock and one history file with no merging, and N is bounded (MAX_CLIENTS); the
cluster, not the client, is the bottleneck (a 2-core machine shared with the nodes). A process that cannot keep
up with its schedule issues its next operation as soon as the last completes (closed loop), never in a burst.

Nemesis hook: `run_live(..., on_tick=f)` calls f(elapsed s) about every `tick_s` from the driver's thread (the
nemesis executor of lab/live/nemesis.py fires its planned actions there) and `windows` - (start s, end s, label)
that the executor recorded, relative to the workload's start - give the availability (ok fraction of the
operations invoked in the window) per window in the summary. The live wiring waits for the node's client
endpoint (helper replnode).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from raftzmq.evidence import stats
from raftzmq.evidence.history import read_history
from raftzmq.evidence.lincheck import LinResult, check_history
from raftzmq.lab.kv.schedule import DEFAULT_MIX, MAX_CLIENTS, Op, Recorder, generate
from raftzmq.protocol.kvstore import Command

__all__ = ["MAX_CLIENTS", "DEFAULT_MIX", "Op", "generate", "quantile", "Recorder", "Summary", "Window",
           "SimWorkload", "run_live", "outcome_of", "summarize"]


@dataclass(frozen=True, slots=True)
class Window:
    start: float  # seconds after the workload's start
    end: float
    label: str


def quantile(values: Sequence[float], q: float) -> float | None:
    """evidence/stats.py's nearest-rank quantile; None when there are no values."""
    return stats.quantile(values, q) if values else None


def outcome_of(op: Op, call: Callable[[Command], Any]) -> tuple[str, Any]:
    """Run `op` through a raftzmq.client-like `execute` and name the outcome: (ok|fail|info, value read)."""
    from raftzmq.client import Failed, Indefinite  # the lab may use the client; imported late for the sim

    try:
        resp = call(op.command())
    except Indefinite:
        return "info", None
    except Failed:
        return "fail", None
    return "ok", (resp.value if op.f == "get" else None)


@dataclass(slots=True)
class Summary:
    counts: dict[str, int]
    duration_s: float
    throughput: float  # ok operations per second
    latency_ms: dict[str, float | None]  # p50, p99, max of ok operations
    availability: list[dict[str, Any]]  # per window: label, start, end, invoked, ok, fraction
    verdict: str | None = None
    check: dict[str, Any] | None = None
    history: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "duration_s": round(self.duration_s, 3),
                "throughput": round(self.throughput, 1), "latency_ms": self.latency_ms,
                "availability": self.availability, "verdict": self.verdict, "check": self.check,
                "history": self.history, **self.extra}

    def render(self) -> str:
        c = self.counts
        lat = self.latency_ms
        lines = [f"{self.history or 'history'}: {(self.verdict or 'unchecked').upper()}",
                 f"  {c['invoke']} operations: {c['ok']} ok, {c['fail']} fail, {c['info']} info, "
                 f"{c['invoke'] - c['ok'] - c['fail'] - c['info']} never completed",
                 f"  {self.throughput:.1f} ok ops/s over {self.duration_s:.1f} s; latency ms p50 {_ms(lat['p50'])} "
                 f"p99 {_ms(lat['p99'])} max {_ms(lat['max'])}"]
        for w in self.availability:
            frac = "-" if w["fraction"] is None else f"{100 * w['fraction']:.1f}%"
            lines.append(f"  availability {w['label']} [{w['start']:.1f}, {w['end']:.1f}) s: {frac} ok "
                         f"of {w['invoked']}")
        return "\n".join(lines)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def summarize(rec: Recorder, duration_s: float, windows: Iterable[Window] = ()) -> Summary:
    lat = [v / 1e6 for v in rec.latencies_ns]
    avail: list[dict[str, Any]] = []
    spans = [Window(0.0, duration_s, "all"), *windows]
    for w in spans:
        inside = [kind for (t, _, kind) in rec.ops if w.start * 1e9 <= t < w.end * 1e9]
        ok = sum(k == "ok" for k in inside)
        avail.append({"label": w.label, "start": w.start, "end": w.end, "invoked": len(inside), "ok": ok,
                      "fraction": ok / len(inside) if inside else None})
    return Summary(dict(rec.counts), duration_s, rec.counts["ok"] / duration_s if duration_s > 0 else 0.0,
                   {"p50": quantile(lat, 0.5), "p99": quantile(lat, 0.99), "max": max(lat) if lat else None},
                   avail)


def check(path: str | os.PathLike[str], summary: Summary, budget_s: float = 60.0) -> LinResult:
    """The verdict of the recorded history (lincheck's API on the file as written), stored in the summary."""
    result = check_history(read_history(path), budget_s=budget_s)
    summary.verdict, summary.check, summary.history = result.verdict, result.to_dict(), os.fspath(path)
    return result


# ------------------------------------------------------------------------------------------ the simulated driver

class Submit(Protocol):
    def __call__(self, process: int, op: Op, now_ns: int) -> None: ...


class SimWorkload:
    """The workload without a transport. The simulator calls `step(now)` whenever its time advances (and at
    `next_time()`), which invokes every scheduled operation that is due on a free process (a busy process's
    operations wait: one open operation per process) through `submit(process, op, now)`; it reports each
    outcome back with `done(process, kind, value, now)`. `finish()` leaves what is still open as never completed
    (indefinite). `recorder.lines` is the history."""

    def __init__(self, schedule: Iterable[tuple[int, int, Op]], submit: Submit,
                 recorder: Recorder | None = None) -> None:
        self.queue: dict[int, list[tuple[int, Op]]] = {}
        for t, p, op in sorted(schedule, key=lambda x: x[0]):
            self.queue.setdefault(p, []).append((t, op))
        for q in self.queue.values():
            q.reverse()  # pop() from the end = earliest first
        self.submit = submit
        self.recorder = recorder or Recorder(None, clock=lambda: 0)
        self.busy: set[int] = set()

    def next_time(self) -> int | None:
        due = [q[-1][0] for p, q in self.queue.items() if q and p not in self.busy]
        return min(due) if due else None

    def step(self, now_ns: int) -> None:
        for p in sorted(self.queue):
            q = self.queue[p]
            if q and p not in self.busy and q[-1][0] <= now_ns:
                _, op = q.pop()
                self.busy.add(p)
                self.recorder.invoke(p, op, at=now_ns)
                self.submit(p, op, now_ns)

    def done(self, process: int, kind: str, value: Any, now_ns: int) -> None:
        self.busy.discard(process)
        self.recorder.complete(process, kind, value, at=now_ns)

    @property
    def finished(self) -> bool:
        return not self.busy and not any(self.queue.values())


# ------------------------------------------------------------------------------------------------ the live driver

def run_live(clients: Sequence[Any], schedule: Sequence[tuple[int, int, Op]], out: TextIO, duration: float, *,
             drain_s: float = 10.0, progress: Callable[[str], None] | None = None,
             on_tick: Callable[[float], None] | None = None, tick_s: float = 1.0,
             windows: Callable[[], Iterable[Window]] | None = None) -> tuple[Recorder, Summary]:
    """Run `schedule` with one thread per client (clients[p] serves process p: a raftzmq.client.Client or
    anything with `execute(Command)`), writing the history to `out`. Stops issuing at `duration`; waits at most
    `drain_s` for operations in flight (those left stay open: indefinite)."""
    if not 1 <= len(clients) <= MAX_CLIENTS:
        raise ValueError(f"1..{MAX_CLIENTS} clients, got {len(clients)}")
    rec = Recorder(out)
    per: dict[int, list[tuple[int, Op]]] = {p: [] for p in range(len(clients))}
    for t, p, op in schedule:
        per[p % len(clients)].append((t, op))
    stop = threading.Event()

    def worker(p: int) -> None:
        for t, op in per[p]:
            if stop.is_set():
                return
            wait = t / 1e9 - rec.now() / 1e9
            if wait > 0 and stop.wait(wait):  # pacing to the schedule; a late process goes at once
                return
            try:
                rec.invoke(p, op)
            except ValueError:  # closed: the drain is over
                return
            kind, value = outcome_of(op, clients[p].execute)
            rec.complete(p, kind, value)

    threads = [threading.Thread(target=worker, args=(p,), daemon=True, name=f"workload-{p}") for p in per]
    for th in threads:
        th.start()
    end = time.monotonic() + duration
    last = time.monotonic()
    while time.monotonic() < end and any(th.is_alive() for th in threads):
        stop.wait(min(tick_s, max(0.0, end - time.monotonic())))
        elapsed = rec.now() / 1e9
        if on_tick is not None:
            on_tick(elapsed)
        rec.flush()
        if progress is not None and time.monotonic() - last >= tick_s * 0.99:
            last = time.monotonic()
            c = rec.counts
            progress(f"{elapsed:6.1f} s  {c['invoke']} ops  {c['ok']} ok  {c['fail']} fail  {c['info']} info  "
                     f"{c['ok'] / max(elapsed, 1e-9):.0f} ok/s")
    stop.set()
    drain_end = time.monotonic() + drain_s
    for th in threads:
        th.join(max(0.0, drain_end - time.monotonic()))
    rec.close()
    summary = summarize(rec, duration, windows() if windows else ())
    return rec, summary
