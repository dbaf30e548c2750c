"""A log record as one line of text, for people: `raftzmq logs` (wall clock) and the traces that the simulator,
`sim` and `conform` print (seconds since the run's start, with the incarnation).

The two layouts share who wrote the record, its term and the fields beyond the common ones (docs/log-schema.md);
colour is the caller's (a `paint` function), so this module needs no terminal library.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

__all__ = ["format_record", "COMMON_FIELDS"]

# Fields every record has (or may have) that the line shows in its own columns, or not at all.
COMMON_FIELDS = frozenset({"ts", "mono_ns", "event", "by", "node", "term", "seq", "incarnation"})

Paint = Callable[[str, str, dict[str, Any]], str]  # (column "who" or "event", padded text, record) -> text


def _rest(rec: dict[str, Any]) -> str:
    return " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in rec.items() if k not in COMMON_FIELDS)


def format_record(rec: dict[str, Any], *, wall_clock: bool = False, paint: Paint | None = None) -> str:
    """One line: without `wall_clock`, `   0.258134s node 3#1        became_candidate t1 ...` (seconds of
    mono_ns; "supervisor->N" for what the supervisor did to node N); with it, `18:25:15.966 node 4     t4    event
    ...` as `raftzmq logs` prints (local time of ts, "sup→N"), its who and event columns passed through `paint`."""
    node, event = rec["node"], rec["event"]
    if not wall_clock:
        who = f"node {node}" if rec["by"] == "node" else "supervisor" + (f"->{node}" if node else "")
        inc = f"#{rec['incarnation']}" if "incarnation" in rec else ""
        term = f" t{rec['term']}" if "term" in rec else ""
        return f"{rec['mono_ns'] / 1e9:10.6f}s {who + inc:<14} {event}{term} {_rest(rec)}".rstrip()
    clock = time.strftime("%H:%M:%S", time.localtime(rec["ts"])) + f".{int(rec['ts'] % 1 * 1000):03d}"
    who = f"node {node}" if rec["by"] == "node" else ("supervisor" if node == 0 else f"sup→{node}")
    term = f"t{rec['term']}" if "term" in rec else ""
    who, event = who.ljust(10), event.ljust(20)
    if paint is not None:
        who, event = paint("who", who, rec), paint("event", event, rec)
    return f"{clock} {who} {term.ljust(5)} {event} {_rest(rec)}".rstrip()
