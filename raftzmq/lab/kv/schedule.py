"""Operations, their schedule and the history recorder of the KV workload (issue 19; docs/history-format.md).

- `Op`: one client operation (get/put/delete/cas/append on a key) and the store command it becomes.
- `OpMaker`: the next operation from a random stream: a key uniform over K, f from the mix, unique values (`[n]`
  lists, so put, cas and append mix: append of a list extends it, which keeps the checker's search narrow), a cas
  usually expecting the last value the maker wrote to its key.
- `generate(...)`: the open-loop schedule, a seeded list of (time ns, process, Op): Poisson arrivals at `rate`,
  each given to a process round-robin, the operations drawn by an OpMaker on the same stream.
- `Recorder`: writes the events (invoke before sending; ok/fail/info after) with their time, under one lock, so
  line order is time order; and the counts and latencies for the summary.
"""
from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from raftzmq.protocol.kvstore import Command

__all__ = ["MAX_CLIENTS", "DEFAULT_MIX", "Op", "OpMaker", "generate", "Recorder"]

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




class OpMaker:
    """Draws operations from `rng` (see the module docstring); `generate` and the simulator's closed loop use it."""

    def __init__(self, rng: random.Random, keys: int, mix: dict[str, float] | None = None, prefix: str = "") -> None:
        mix = mix or DEFAULT_MIX
        unknown = set(mix) - set(DEFAULT_MIX)
        if unknown or not mix or min(mix.values()) < 0 or sum(mix.values()) <= 0:
            raise ValueError(f"a mix gives non-negative weights to {', '.join(DEFAULT_MIX)}")
        if keys < 1:
            raise ValueError("keys >= 1")
        self.rng, self.keys, self.n, self.prefix = rng, keys, 0, prefix
        self.names, self.weights = list(mix), list(mix.values())
        self.last: dict[str, Any] = {}  # the last value written per key: cas usually expects it

    def next(self) -> Op:
        rng, last = self.rng, self.last
        key = f"{self.prefix}k{rng.randrange(self.keys)}"
        f = rng.choices(self.names, self.weights)[0]
        self.n += 1
        n = self.n
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
        return Op(f, key, value)


def generate(seed: int, processes: int, keys: int, rate: float, duration: float,
             mix: dict[str, float] | None = None, prefix: str = "") -> list[tuple[int, int, Op]]:
    """The schedule: (time ns from the start, process, op), in time order, on keys `prefix`k0 ... The live
    workload gives each run a fresh prefix: its history starts every key absent and its values are [1], [2], ...,
    so a second run on the same cluster must not meet the first one's keys."""
    if not 1 <= processes <= MAX_CLIENTS:
        raise ValueError(f"processes must be 1..{MAX_CLIENTS}, got {processes}")
    if keys < 1 or rate <= 0 or duration <= 0:
        raise ValueError("keys >= 1, rate > 0 and duration > 0")
    rng = random.Random(seed)
    maker = OpMaker(rng, keys, mix, prefix)
    out: list[tuple[int, int, Op]] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            return out
        op = maker.next()
        out.append((int(t * 1e9), maker.n % processes, op))


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
