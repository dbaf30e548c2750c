"""Client histories (docs/history-format.md): one JSON object per line, in Jepsen's convention.

    {"process": 0, "type": "invoke", "f": "write", "key": "x", "value": 3, "time": 1200}
    {"process": 0, "type": "ok",     "f": "write", "key": "x", "value": 3, "time": 5400}

`type` is invoke, ok (it happened), fail (it certainly did not happen) or info (it may or may not have happened).
An operation is an invoke and the next completion of the same process; an invoke with no completion is
indefinite like an info. With `time` (integer ns, on every line or on none) events are ordered by time, an
invoke before a completion of the same instant (so they overlap); without it, line order is real-time order.

The reader is strict: the first malformed line is a HistoryError naming the file and the line.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["TYPES", "HistoryError", "Operation", "History", "key_text", "parse_history", "read_history"]

TYPES = ("invoke", "ok", "fail", "info")
_FIELDS = {"process", "type", "f", "key", "value", "time"}
MAX_LINE = 1 << 20  # a longer line is not a client operation


class HistoryError(ValueError):
    """A history that cannot be read: `name:line: message` (line 0: the file as a whole)."""

    def __init__(self, name: str, line: int, message: str) -> None:
        self.name, self.line, self.message = name, line, message
        super().__init__(f"{name}:{line}: {message}" if line else f"{name}: {message}")


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation: its invoke and its completion (if any) merged.

    `value` is the invoke's argument (written value, [from, to] of a cas, appended value; None for a read);
    `output` the value an ok read returned. `call`/`ret` are ranks in the real-time order of all events
    (`ret` None: indefinite, or no completion at all). `status`: ok, fail, info or open (no completion line at all).
    """

    index: int  # 0-based, in the order of the invokes in the file
    process: int | str
    f: str
    key: Any
    value: Any
    output: Any
    status: str
    call: int
    ret: int | None
    done: int | None  # rank of the completion line of any type (an info's too)
    line: int
    ret_line: int | None
    call_time: int | None
    ret_time: int | None

    @property
    def definite(self) -> bool:
        """It certainly happened (ok): it must be linearized before it returned."""
        return self.status == "ok"

    @property
    def indefinite(self) -> bool:
        """It may or may not have happened (info, or no completion): open until the end of the history."""
        return self.status in ("info", "open")

    def describe(self) -> str:
        """`p3 write x=5 ok`, `p1 read x→5 ok`, `p2 cas x 1→2 info`: the operation in the history's words."""
        key = "" if self.key is None else _short(self.key)
        if self.f in _READS:
            what = f"{key}→{_short(self.output)}" if self.status == "ok" else key
            return f"p{self.process} {self.f}{' ' if key else ''}{what} {self.status}"
        elif self.f == "cas" and isinstance(self.value, list) and len(self.value) == 2:
            what = f"{key} {_short(self.value[0])}→{_short(self.value[1])}".lstrip()
        elif self.value is None and "value" not in self.f:
            what = key
        else:
            what = f"{key}={_short(self.value)}" if key else _short(self.value)
        return f"p{self.process} {self.f} {what} {self.status}".replace("  ", " ")

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "process": self.process, "f": self.f, "key": self.key, "value": self.value,
                "output": self.output, "status": self.status, "line": self.line, "ret_line": self.ret_line,
                "call_time": self.call_time, "ret_time": self.ret_time, "text": self.describe()}


_READS = ("read", "get")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) and value and value.isprintable() and " " not in value \
        and not value.lstrip("-").replace(".", "", 1).isdigit() and value not in ("null", "true", "false") \
        else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text if len(text) <= 24 else text[:21] + "..."


@dataclass(frozen=True, slots=True)
class History:
    name: str
    operations: tuple[Operation, ...]
    timed: bool  # the lines carry `time`
    events: int  # number of lines with an event
    end: int  # one past the last event rank

    def by_key(self) -> dict[str, list[Operation]]:
        """Operations per key, keyed by the key's JSON text (so 1 and "1" are different keys)."""
        out: dict[str, list[Operation]] = {}
        for op in self.operations:
            out.setdefault(key_text(op.key), []).append(op)
        return out


def key_text(key: Any) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_history(lines: Iterable[str], name: str = "history.jsonl") -> History:
    """Parse the lines of a history; raise HistoryError at the first bad line."""
    # (line, process, type, f, key, has_key, value, has_value, time) per event line
    rows: list[tuple[int, int | str, str, str, Any, bool, Any, bool, int | None]] = []
    timed: bool | None = None
    for number, raw in enumerate(lines, 1):
        if len(raw) > MAX_LINE:
            raise HistoryError(name, number, f"line longer than {MAX_LINE} bytes")
        text = raw.strip()
        if not text:
            continue
        try:
            rec = json.loads(text)
        except ValueError as exc:
            raise HistoryError(name, number, f"not JSON ({exc.args[0].split(':')[0]})") from None
        if not isinstance(rec, dict):
            raise HistoryError(name, number, f"expected a JSON object, got {type(rec).__name__}")
        unknown = sorted(set(rec) - _FIELDS)
        if unknown:
            raise HistoryError(name, number, f"unknown field {unknown[0]!r} (fields: process, type, f, key, "
                                             f"value, time)")
        for needed in ("process", "type", "f"):
            if needed not in rec:
                raise HistoryError(name, number, f"missing {needed!r}")
        process, kind, f = rec["process"], rec["type"], rec["f"]
        if not (_is_int(process) or isinstance(process, str)):
            raise HistoryError(name, number, f"process must be an integer or a string, got {json.dumps(process)}")
        if kind not in TYPES:
            raise HistoryError(name, number, f"type must be one of {', '.join(TYPES)}, got {json.dumps(kind)}")
        if not isinstance(f, str) or not f:
            raise HistoryError(name, number, f"f must be a non-empty string, got {json.dumps(f)}")
        has_time = "time" in rec
        if timed is None:
            timed = has_time
        elif timed != has_time:
            raise HistoryError(name, number, "has a time but earlier lines do not" if has_time else
                               "has no time but earlier lines do (time goes on every line or on none)")
        t = rec.get("time")
        if has_time and not (isinstance(t, int) and not isinstance(t, bool) and t >= 0):
            raise HistoryError(name, number, f"time must be a non-negative integer (ns), got {json.dumps(t)}")
        rows.append((number, process, kind, f, rec.get("key"), "key" in rec, rec.get("value"), "value" in rec, t))
    if not rows:
        raise HistoryError(name, 0, "no events (an empty history)")
    return _pair(name, rows, bool(timed))


def _pair(name: str, rows: list[tuple[int, int | str, str, str, Any, bool, Any, bool, int | None]],
          timed: bool) -> History:
    open_: dict[int | str, int] = {}  # process -> index into `calls` of its open invoke
    calls: list[tuple[int, int | str, str, Any, Any, int | None, int]] = []  # line, process, f, key, value, time, row
    done: dict[int, tuple[str, int, Any, int | None, int]] = {}  # call index -> (type, line, value, time, row)
    for row, (line, process, kind, f, key, has_key, value, has_value, t) in enumerate(rows):
        if kind == "invoke":
            if process in open_:
                first = calls[open_[process]][0]
                raise HistoryError(name, line, f"process {json.dumps(process)} invokes again while its invoke "
                                               f"at line {first} is still open")
            open_[process] = len(calls)
            calls.append((line, process, f, key, value, t, row))
            continue
        if process not in open_:
            raise HistoryError(name, line, f"{kind} of process {json.dumps(process)} without an open invoke")
        c = open_.pop(process)
        c_line, _, c_f, c_key, _, c_time, _ = calls[c]
        if f != c_f:
            raise HistoryError(name, line, f"{kind} of {f!r} completes the invoke of {c_f!r} at line {c_line}")
        if has_key and key_text(key) != key_text(c_key):
            raise HistoryError(name, line, f"key {json.dumps(key)} differs from the invoke's "
                                           f"{json.dumps(c_key)} at line {c_line}")
        if t is not None and c_time is not None and t < c_time:
            raise HistoryError(name, line, f"completes at time {t}, before its invoke at line {c_line} "
                                           f"(time {c_time})")
        if kind == "ok" and f in _READS and not has_value:
            raise HistoryError(name, line, f"an ok {f} must carry the value read (null when absent)")
        done[c] = (kind, line, value, t, row)
    # Real-time order: by time (an invoke before a completion of the same instant), else by line.
    order: list[tuple[int, int, int]] = []  # (time or row, 0 invoke / 1 completion, row)
    for row, r in enumerate(rows):
        when = r[8] if timed else row
        assert when is not None
        order.append((when, 0 if r[2] == "invoke" else 1, row))
    order.sort()
    rank = {row: k for k, (_, _, row) in enumerate(order)}
    ops: list[Operation] = []
    for index, (line, process, f, key, value, t, row) in enumerate(calls):
        end = done.get(index)
        status = end[0] if end else "open"
        output = end[2] if end and status == "ok" and f in _READS else None
        ops.append(Operation(
            index=index, process=process, f=f, key=key, value=None if f in _READS else value, output=output,
            status=status, call=rank[row], ret=rank[end[4]] if end and status in ("ok", "fail") else None,
            done=rank[end[4]] if end else None,
            line=line, ret_line=end[1] if end else None, call_time=t, ret_time=end[3] if end else None))
    return History(name=name, operations=tuple(ops), timed=timed, events=len(rows), end=len(rows))


def read_history(path: str | os.PathLike[str], name: str | None = None) -> History:
    """Read a history file. OSError and UnicodeDecodeError become HistoryError (line 0)."""
    label = name if name is not None else os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_history(fh, label)
    except OSError as exc:
        raise HistoryError(label, 0, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise HistoryError(label, 0, "not UTF-8 text") from None
