"""The Jepsen-style KV workload (issue 19): clients issue get/put/delete/cas/append on K keys at a target rate and
the outcomes are recorded as `history.jsonl` (docs/history-format.md), then checked by evidence/lincheck.py.

Three parts, so that the live cluster and the simulator share everything but the transport:
- `generate(...)`: the schedule, a seeded list of (time ns, process, Op): Poisson arrivals at `rate`, each given
  to a process round-robin, keys uniform over K. Values are unique (`[n]` lists, so put, cas and append mix:
  append of a list extends it), which keeps the checker's search narrow.
- `Recorder`: writes the events (invoke before sending; ok/fail/info after) with their time, under one lock, so
  line order is time order; and the counts and latencies for the summary.
- drivers: `run_live` (threads with raftzmq.client Clients) and `SimWorkload` (transport-free: the simulator
  gives it the time and a `submit` function and reports completions back; `sim --workload` can use it).

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

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from raftzmq.evidence import stats
from raftzmq.evidence.history import read_history
from raftzmq.evidence.lincheck import LinResult, check_history
from raftzmq.protocol.kvstore import Command

__all__ = ["MAX_CLIENTS", "DEFAULT_MIX", "Op", "generate", "quantile", "Recorder", "Summary", "Window",
           "SimWorkload", "run_live", "outcome_of", "summarize"]

MAX_CLIENTS = 256
DEFAULT_MIX = {"get": 0.4, "put": 0.25, "cas": 0.15, "append": 0.15, "delete": 0.05}


@dataclass(frozen=True, slots=True)
class Op:
    f: str  # get, put, delete, cas, append
    key: str
    value: Any = None  # put/append: the value; cas: [from, to]; get/delete: None

    def command(self) -> Command:
        if self.f == "cas":
            return Command("cas", self.key, self.value[0], self.value[1])
        return Command(self.f, self.key, self.value)


@dataclass(frozen=True, slots=True)
class Window:
    start: float  # seconds after the workload's start
    end: float
    label: str


def generate(seed: int, processes: int, keys: int, rate: float, duration: float,
             mix: dict[str, float] | None = None) -> list[tuple[int, int, Op]]:
    """The schedule: (time ns from the start, process, op), in time order."""
    if not 1 <= processes <= MAX_CLIENTS:
        raise ValueError(f"processes must be 1..{MAX_CLIENTS}, got {processes}")
    if keys < 1 or rate <= 0 or duration <= 0:
        raise ValueError("keys >= 1, rate > 0 and duration > 0")
    mix = mix or DEFAULT_MIX
    unknown = set(mix) - set(DEFAULT_MIX)
    if unknown or not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
        raise ValueError(f"a mix gives non-negative weights to {', '.join(DEFAULT_MIX)}")
    rng = random.Random(seed)
    names, weights = list(mix), list(mix.values())
    out: list[tuple[int, int, Op]] = []
    t, n = 0.0, 0
    last: dict[str, Any] = {}  # the last value the schedule wrote per key: cas usually expects it
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            return out
        key = f"k{rng.randrange(keys)}"
        f = rng.choices(names, weights)[0]
        n += 1
        if f in ("put", "append"):
            value: Any = [n]
            last[key] = value if f == "put" else None
        elif f == "cas":
            value = [last.get(key), [n]]
            last[key] = [n]
        else:
            value = None
            if f == "delete":
                last[key] = None
        out.append((int(t * 1e9), n % processes, Op(f, key, value)))


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


class Recorder:
    """Writes a history as it happens (thread-safe) and keeps what the summary needs."""

    def __init__(self, out: TextIO | None = None, clock: Callable[[], int] | None = None) -> None:
        self.out = out
        self.lines: list[dict[str, Any]] = []  # kept when there is no file
        self.keep = out is None
        self.closed = False  # after close(), late completions are not written (the operation stays open)
        self._clock = clock or time.monotonic_ns
        self._t0 = self._clock()
        self._lock = threading.Lock()
        self._open: dict[int, tuple[Op, int]] = {}
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.latencies_ns: list[int] = []  # of ok operations
        self.ops: list[tuple[int, int | None, str]] = []  # (invoke ns, completion ns or None, type) per operation
        self._op_index: dict[int, int] = {}

    def now(self) -> int:
        return self._clock() - self._t0

    def _emit(self, rec: dict[str, Any]) -> None:
        if self.keep:
            self.lines.append(rec)
        if self.out is not None:
            self.out.write(json.dumps(rec, separators=(", ", ": ")) + "\n")

    def invoke(self, process: int, op: Op, at: int | None = None) -> int:
        with self._lock:
            if self.closed:
                raise ValueError("the recorder is closed")
            if process in self._open:
                raise ValueError(f"process {process} invokes while its operation is open")
            t = self.now() if at is None else at
            self._open[process] = (op, t)
            self._op_index[process] = len(self.ops)
            self.ops.append((t, None, "open"))
            self.counts["invoke"] += 1
            self._emit({"process": process, "type": "invoke", "f": op.f, "key": op.key,
                        "value": op.value, "time": t})
            return t

    def complete(self, process: int, kind: str, value: Any = None, at: int | None = None) -> int:
        if kind not in ("ok", "fail", "info"):
            raise ValueError(f"a completion is ok, fail or info, got {kind!r}")
        with self._lock:
            if self.closed:
                return -1
            op, t_call = self._open.pop(process)
            t = max(self.now() if at is None else at, t_call)
            self.counts[kind] += 1
            if kind == "ok":
                self.latencies_ns.append(t - t_call)
            self.ops[self._op_index.pop(process)] = (t_call, t, kind)
            self._emit({"process": process, "type": kind, "f": op.f, "key": op.key,
                        "value": value if op.f == "get" and kind == "ok" else op.value, "time": t})
            return t

    def flush(self) -> None:
        if self.out is not None:
            with self._lock:
                if not self.closed:
                    self.out.flush()

    def close(self) -> None:
        """No more events: what is open stays open (indefinite). The caller closes the file."""
        with self._lock:
            if self.out is not None and not self.closed:
                self.out.flush()
            self.closed = True


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
