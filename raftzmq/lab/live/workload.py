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

Nemesis: `raftzmq workload --nemesis KINDS` runs lab/live/kvnemesis.py's thread beside the clients, on the
Recorder's clock, and gives its `Window`s (start s, end s, label, kind) to `summarize_ops`: the availability (ok
fraction, and the answered fraction: ok or a definite fail, of the operations invoked in it) for the whole run,
per fault kind, for the calm time between faults, and per window. `run_live(..., on_tick=f)` still calls f(elapsed
s) about every `tick_s` from the driver's thread, for tests and simple nemeses.

After the run: `final_reads` reads every key (processes after the clients', into the same history, so the checker
judges them) and `lost_writes` compares each final value with the acknowledged writes directly.
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
from raftzmq.evidence.history import History, read_history
from raftzmq.evidence.lincheck import LinResult, check_history
from raftzmq.protocol.kvstore import Command

__all__ = ["MAX_CLIENTS", "DEFAULT_MIX", "MAX_WINDOW_LINES", "Op", "generate", "quantile", "Recorder", "Summary",
           "Window", "SimWorkload", "run_live", "outcome_of", "summarize", "summarize_ops", "history_spans",
           "calm_windows", "availability", "final_reads", "lost_writes"]

MAX_CLIENTS = 256
DEFAULT_MIX = {"get": 0.4, "put": 0.25, "cas": 0.15, "append": 0.15, "delete": 0.05}
MAX_WINDOW_LINES = 12  # the text summary lists single windows up to this many (JSON: all of them)
Span = tuple[int, int | None, str]  # an operation: (invoke ns, completion ns or None, ok|fail|info|open)


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
    kind: str = ""  # a nemesis kind, or "calm"; "" for a window that is only itself (no per-kind row)


def generate(seed: int, processes: int, keys: int, rate: float, duration: float,
             mix: dict[str, float] | None = None, prefix: str = "") -> list[tuple[int, int, Op]]:
    """The schedule: (time ns from the start, process, op), in time order, on keys `prefix`k0 ... The live
    workload gives each run a fresh prefix: its history starts every key absent and its values are [1], [2], ...,
    so a second run on the same cluster must not meet the first one's keys."""
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
        key = f"{prefix}k{rng.randrange(keys)}"
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

    @property
    def t0_ns(self) -> int:
        """The clock's reading at time 0 of the history (time.monotonic_ns(): the logs' mono_ns)."""
        return self._t0

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
        rows = [w for w in self.availability if w.get("scope", "window") != "window"]
        single = [w for w in self.availability if w.get("scope", "window") == "window"]
        if single:
            lines.append("  availability (of the operations invoked in it: ok, and answered = ok or a definite fail):")
        for w in rows + single[:MAX_WINDOW_LINES]:
            frac = "-" if w["fraction"] is None else f"{100 * w['fraction']:.1f}%"
            answered = "" if w.get("answered") is None else f", {100 * w['answered']:.1f}% answered"
            where = (f"{w['windows']} window{'s' if w['windows'] != 1 else ''}, {w['seconds']:.1f} s"
                     if w.get("scope") == "kind" else f"[{w['start']:.1f}, {w['end']:.1f}) s")
            lines.append(f"  availability {w['label']} {where}: {frac} ok{answered} of {w['invoked']}")
        if len(single) > MAX_WINDOW_LINES:
            lines.append(f"  ... {len(single) - MAX_WINDOW_LINES} more windows (all of them in --json and "
                         f"workload.json)")
        return "\n".join(lines)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def calm_windows(windows: Iterable[Window], end_s: float) -> list[Window]:
    """The stretches of [0, end_s) that no window covers, as windows of kind "calm"."""
    out: list[Window] = []
    at = 0.0
    for w in sorted(windows, key=lambda w: w.start):
        if w.start > at:
            out.append(Window(at, min(w.start, end_s), "calm", "calm"))
        at = max(at, w.end)
    if at < end_s:
        out.append(Window(at, end_s, "calm", "calm"))
    return [w for w in out if w.end - w.start > 1e-3]


def _row(label: str, scope: str, kind: str, spans: Sequence[Span], parts: Sequence[Window]) -> dict[str, Any]:
    """Availability of the operations invoked inside any of `parts` (half-open [start, end))."""
    bounds = sorted((w.start * 1e9, w.end * 1e9) for w in parts)
    kinds = [k for (t, _, k) in spans if any(lo <= t < hi for lo, hi in bounds)]
    ok, fail = kinds.count("ok"), kinds.count("fail")
    row: dict[str, Any] = {"label": label, "scope": scope, "kind": kind,
                           "start": min((w.start for w in parts), default=0.0),
                           "end": max((w.end for w in parts), default=0.0),
                           "invoked": len(kinds), "ok": ok, "fail": fail, "indefinite": len(kinds) - ok - fail,
                           "fraction": ok / len(kinds) if kinds else None,
                           "answered": (ok + fail) / len(kinds) if kinds else None}
    if scope == "kind":
        row.update(windows=len(parts), seconds=round(sum(w.end - w.start for w in parts), 3))
    return row


def availability(spans: Sequence[Span], duration_s: float, windows: Iterable[Window] = ()) -> list[dict[str, Any]]:
    """Rows: the whole run ("all"); per nemesis kind (every window of it together) and "calm" (the time no window
    covers), when the windows have kinds; then each window. An operation counts where it was invoked."""
    spans = sorted(spans)
    faults = [w for w in windows if w.kind != "calm"]
    rows = [_row("all", "run", "", spans, [Window(0.0, duration_s, "all")])]
    kinds = list(dict.fromkeys(w.kind for w in faults if w.kind))
    if kinds:
        for kind in kinds:
            rows.append(_row(kind, "kind", kind, spans, [w for w in faults if w.kind == kind]))
        rows.append(_row("calm", "kind", "calm", spans, calm_windows(faults, duration_s)))
    rows.extend(_row(w.label, "window", w.kind, spans, [w]) for w in faults)
    return rows


def summarize_ops(spans: Sequence[Span], duration_s: float, windows: Iterable[Window] = ()) -> Summary:
    """The summary of operations given as spans (the recorder's, or a history's through history_spans)."""
    counts = {"invoke": len(spans), "ok": 0, "fail": 0, "info": 0}
    lat: list[float] = []
    for t, done, kind in spans:
        if kind in counts:
            counts[kind] += 1
        if kind == "ok" and done is not None:
            lat.append((done - t) / 1e6)
    return Summary(counts, duration_s, counts["ok"] / duration_s if duration_s > 0 else 0.0,
                   {"p50": quantile(lat, 0.5), "p99": quantile(lat, 0.99), "max": max(lat) if lat else None},
                   availability(spans, duration_s, windows))


def summarize(rec: Recorder, duration_s: float, windows: Iterable[Window] = ()) -> Summary:
    return summarize_ops(rec.ops, duration_s, windows)


def history_spans(history: History, processes: Iterable[int | str] | None = None) -> list[Span]:
    """A timed history's operations as spans, only those of `processes` when given (the workload's clients,
    not its final reads). An info's completion time is kept (the client gave up then)."""
    if not history.timed:
        raise ValueError(f"{history.name}: availability needs times (the history has none)")
    keep = None if processes is None else set(processes)
    out: list[Span] = []
    for op in history.operations:
        if keep is None or op.process in keep:
            assert op.call_time is not None
            out.append((op.call_time, op.ret_time, op.status))
    return out


def check(path: str | os.PathLike[str], summary: Summary, budget_s: float = 60.0,
          history: History | None = None) -> LinResult:
    """The verdict of the recorded history (lincheck's API on the file as written, or on `history` already read
    from it), stored in the summary."""
    result = check_history(history if history is not None else read_history(path), budget_s=budget_s)
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
             windows: Callable[[], Iterable[Window]] | None = None, recorder: Recorder | None = None,
             keep_open: bool = False, status: Callable[[], str] | None = None) -> tuple[Recorder, Summary]:
    """Run `schedule` with one thread per client (clients[p] serves process p: a raftzmq.client.Client or
    anything with `execute(Command)`), writing the history to `out` (or through `recorder`, whose clock the
    schedule then runs on). Stops issuing at `duration`; waits at most `drain_s` for operations in flight (those
    left stay open: indefinite). `keep_open`: the recorder is not closed (final reads follow); `status` adds to
    the progress line (what the nemesis has in force)."""
    if not 1 <= len(clients) <= MAX_CLIENTS:
        raise ValueError(f"1..{MAX_CLIENTS} clients, got {len(clients)}")
    rec = recorder if recorder is not None else Recorder(out)
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
            extra = status() if status is not None else ""
            progress(f"{elapsed:6.1f} s  {c['invoke']} ops  {c['ok']} ok  {c['fail']} fail  {c['info']} info  "
                     f"{c['ok'] / max(elapsed, 1e-9):.0f} ok/s" + (f"  | {extra}" if extra else ""))
    stop.set()
    drain_end = time.monotonic() + drain_s
    for th in threads:
        th.join(max(0.0, drain_end - time.monotonic()))
    if not keep_open:
        rec.close()
    summary = summarize(rec, duration, windows() if windows else ())
    return rec, summary


# ----------------------------------------------------------------------------------- after the run: nothing lost

def final_reads(rec: Recorder, make_client: Callable[[int], Any], keys: Sequence[str], first_process: int, *,
                readers: int = 8, deadline_s: float = 30.0) -> dict[str, Any]:
    """Read every key once more, after the workload (and the nemesis's heal), into the same history: processes
    first_process, first_process + 1, ... (one per reader thread, each with its own client from make_client(i)).
    Stops issuing at `deadline_s`. Returns {key: value} of the reads that were ok (also in the history)."""
    got: dict[str, Any] = {}
    lock = threading.Lock()
    until = time.monotonic() + deadline_s
    shares = [list(keys[i::readers]) for i in range(min(readers, len(keys)))]

    def reader(i: int) -> None:
        client = make_client(i)
        try:
            for key in shares[i]:
                if time.monotonic() >= until:
                    return
                op = Op("get", key)
                try:
                    rec.invoke(first_process + i, op)
                except ValueError:
                    return
                kind, value = outcome_of(op, client.execute)
                rec.complete(first_process + i, kind, value)
                if kind == "ok":
                    with lock:
                        got[key] = value
        finally:
            client.close()

    threads = [threading.Thread(target=reader, args=(i,), daemon=True, name=f"final-read-{i}")
               for i in range(len(shares))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(0.0, until - time.monotonic()) + 1.0)
    return got


_WRITES = ("put", "cas", "delete", "append")


def _written(op: Any) -> Any:
    return None if op.f == "delete" else op.value[1] if op.f == "cas" else op.value


def lost_writes(history: History, processes: Iterable[int | str], readers: Iterable[int | str]) -> dict[str, Any]:
    """Is every acknowledged write still visible to the final reads (the ok gets of `readers`)? Judged per key
    from the history, without the checker; a write "before the read" is one answered before the read was invoked.
    - A key written by put/cas/delete: the value read must come from a write of `processes` (or be the initial
      absence) that no acknowledged write followed in real time (invoked after it had returned).
    - A key with list appends: each acknowledged append's elements must be in the value read, unless a put, cas
      or delete could have come after it (one not answered before the append was invoked); and an acknowledged
      put/cas after which no other put/cas/delete can have come must start the value read.
    Keys with other appends (strings) are left to the checker. `lost` lists the keys whose final value breaks the
    rule, with the write that should have shown (or overwritten it)."""
    keep, final_by = set(processes), set(readers)
    by_key: dict[str, list[Any]] = {}
    finals: dict[str, Any] = {}
    for op in history.operations:
        if op.process in keep and op.f in _WRITES and op.status != "fail":
            by_key.setdefault(json.dumps(op.key), []).append(op)
        elif op.process in final_by and op.f == "get" and op.status == "ok":
            finals[json.dumps(op.key)] = op
    lost: list[dict[str, Any]] = []
    judged, unjudged = 0, 0
    for key, read in sorted(finals.items()):
        ops = by_key.get(key, [])
        appends = [op for op in ops if op.f == "append"]
        if any(not isinstance(op.value, list) for op in appends):
            unjudged += 1
            continue
        judged += 1
        culprit = _lost_append(ops, appends, read) if appends else _lost_overwrite(ops, read)
        if culprit is None:
            continue
        reason = ("an acknowledged append is missing" if culprit.f == "append" else "no write wrote this value"
                  if culprit is read else "an acknowledged write came after the one read")
        lost.append({"key": read.key, "final": read.output, "read_line": read.line, "reason": reason,
                     "write": None if culprit is read else culprit.describe(),
                     "line": None if culprit is read else culprit.line})
    return {"keys_read": len(finals), "judged": judged, "left_to_checker": unjudged, "lost": lost}


def _lost_overwrite(ops: Sequence[Any], read: Any) -> Any:
    """The acknowledged write that should have overwritten the value read, or None if the read is explained."""
    value = read.output
    acked = [op for op in ops if op.status == "ok" and op.ret_time < read.call_time]
    sources = [op for op in ops if _written(op) == value]
    ends = [None if op.indefinite else op.ret_time for op in sources]  # None: may take effect at any time
    if value is None:
        ends.append(-1)  # the initial absence "returned" before anything
    overwriters = [next((op for op in acked if end is not None and op.call_time > end and _written(op) != value),
                        None) for end in ends]
    if all(o is not None for o in overwriters):  # also when nothing ever wrote this value: then None
        return next((o for o in overwriters if o is not None), read)
    return None


def _lost_append(ops: Sequence[Any], appends: Sequence[Any], read: Any) -> Any:
    """An acknowledged append missing from the value read with no overwrite that could have followed it; or an
    acknowledged put/cas that every other put/cas/delete preceded, whose value the read does not start with."""
    value = read.output
    elements = value if isinstance(value, list) else [] if value is None else [value]
    texts = {json.dumps(e) for e in elements}

    def could_follow(op: Any, first: Any) -> bool:  # op may be linearized after `first`
        return bool(op.indefinite or op.ret_time > first.call_time)

    before = [op for op in ops if op.status == "ok" and op.ret_time < read.call_time]
    for a in (op for op in before if op.f == "append"):
        if not all(json.dumps(e) in texts for e in a.value) and \
                not any(op.f != "append" and could_follow(op, a) for op in ops):
            return a
    for w in (op for op in before if op.f in ("put", "cas")):
        start = _written(w)
        if any(op is not w and op.f != "append" and could_follow(op, w) for op in ops):
            continue  # another overwrite may be the last one
        prefix = start if isinstance(start, list) else [start]
        if not isinstance(value, list) or json.dumps(value[:len(prefix)]) != json.dumps(prefix):
            return w
    return None
