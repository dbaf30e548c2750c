"""JSON-lines evidence logs: the writer every process uses, the reader the checker uses, a tail for `logs -f`.

The schema is docs/log-schema.md. The log is the oracle, so the writer's one promise matters most: each record
reaches the file in a single `write()` on an O_APPEND fd, before the action it describes is visible outside the
process. A SIGKILL can then only tear the very last line, and the reader tolerates exactly that.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time as _time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, TypeGuard

from .logdigest import is_digest

__all__ = [
    "NODE_EVENT_FIELDS",
    "SUPERVISOR_EVENT_FIELDS",
    "PERSIST_MODES",
    "EVENT_NAMES",
    "REPLICATION_EVENTS",
    "Clock",
    "LogWriter",
    "LogFormatError",
    "TornLineWarning",
    "Located",
    "validate_record",
    "iter_records",
    "read_run",
    "run_files",
    "find_runs",
    "NotARunError",
    "LogTail",
]

PERSIST_MODES = ("term+vote", "term-only")

# Field kinds for validation. Only presence and type are checked, never values (except persist_mode, which the
# checker branches on, and the shape of the replication records: digests, term runs and index ranges that must
# agree with each other), so writers can add reasons and fields without touching this module.
_INT, _INT_OR_NULL, _STR, _NUM, _LIST, _DICT, _MODE, _INT_OR_STR, _DIGEST, _RUNS = (
    "int", "int|null", "str", "number", "list", "object", "persist_mode", "int|str", "digest", "term runs")

# THE schema table: every event any raftzmq process writes, and the extra fields it must carry (term, incarnation
# and seq are common to all node records). docs/log-schema.md documents exactly these events
# (tests/test_schema.py keeps the doc, this table and the writers in the package in step). Writers refuse events
# missing here; readers accept them (forward compatibility: a newer writer may add events).
NODE_EVENT_FIELDS: dict[str, dict[str, str]] = {
    "node_started": {"voted_for": _INT_OR_NULL, "persist_mode": _MODE},
    "state_persisted": {"voted_for": _INT_OR_NULL},
    "log_appended": {"first": _INT, "last": _INT, "terms": _LIST, "prev_digest": _STR, "digest": _STR},
    "entries_applied": {"first": _INT, "last": _INT, "digest": _STR},
    "became_follower": {"leader": _INT_OR_NULL},
    "became_precandidate": {},
    "became_candidate": {},
    "became_leader": {},
    "vote_granted": {"candidate": _INT},
    "vote_denied": {"candidate": _INT, "reason": _STR},
    "prevote_granted": {"candidate": _INT},
    "prevote_denied": {"candidate": _INT},
    "election_timeout": {},
    "hint": {"peer": _INT, "closed": _STR},
    "stepped_down": {"reason": _STR},
    "transfer_started": {"target": _INT},
    "transfer_aborted": {"target": _INT},
    "net_applied": {"version": _INT},
    "netctl_rejected": {"reason": _STR},
    "message_dropped": {"peer": _INT_OR_NULL, "kind": _STR, "reason": _STR},
    "message_rejected": {"reason": _STR, "size": _INT},
    "frames_throttled": {"frames": _INT, "bytes": _INT, "connections": _INT, "window_ms": _INT},
    "auth_rejected": {"reason": _STR, "address": _STR, "public_key": _STR},
    "node_stopping": {"reason": _STR},
    "loop_stats": {"wakes": _INT, "ticks": _INT},
    "log_cap_reached": {"cap": _INT},
    "timer_released": {"reason": _STR, "held_ms": _INT},
    "node_failed": {"reason": _STR},
    "failpoint_hit": {"name": _STR},
    "faults_applied": {"skew": _NUM, "failpoints": _LIST},
    "log_repaired": {"bytes": _INT},
    "log_reopened": {"reason": _STR, "records_before": _INT},
    # replication (issue 18): what the node's log holds, as index ranges, term runs and chained digests
    "log_appended": {"first": _INT, "last": _INT, "terms": _RUNS, "prev_digest": _DIGEST, "digest": _DIGEST},
    "commit_advanced": {"commit": _INT, "digest": _DIGEST},
    "entries_applied": {"first": _INT, "last": _INT, "digest": _DIGEST},
    "log_loaded": {"last": _INT, "digest": _DIGEST, "commit": _INT, "terms": _RUNS},
    "log_tail_cut": {"file": _STR, "offset": _INT, "bytes": _INT},
}
REPLICATION_EVENTS = frozenset({"log_appended", "commit_advanced", "entries_applied", "log_loaded", "log_tail_cut"})
SUPERVISOR_EVENT_FIELDS: dict[str, dict[str, str]] = {
    "cluster_started": {"nodes": _INT, "config": _DICT},
    "node_spawned": {"pid": _INT, "incarnation": _INT},
    "timers_connecting": {"nodes": _INT, "first": _INT_OR_NULL},
    "timers_released": {"nodes": _INT, "first": _INT_OR_NULL},
    "node_killed": {"pid": _INT, "signal": _INT_OR_STR},
    "node_exited": {"pid": _INT, "code": _INT_OR_NULL},
    "node_failed": {"reason": _STR},
    "node_paused": {},
    "node_resumed": {},
    "partition": {"groups": _LIST},
    "link_cut": {"cuts": _LIST},
    "net_changed": {"loss": _NUM, "delay_ms": _NUM, "jitter_ms": _NUM},
    "heal": {},
    "transfer_requested": {"leader": _INT},
    "cluster_stopping": {},
    "cluster_stopped": {},
    "fault_injected": {"kind": _STR, "incarnation": _INT},
    "log_reopened": {"reason": _STR, "records_before": _INT},
}
_FIELDS_BY = {"node": NODE_EVENT_FIELDS, "supervisor": SUPERVISOR_EVENT_FIELDS}
EVENT_NAMES = frozenset(NODE_EVENT_FIELDS) | frozenset(SUPERVISOR_EVENT_FIELDS)  # every documented event


def _is_int(v: Any) -> TypeGuard[int]:
    return type(v) is int  # bool is an int subclass; JSON true must not pass as a node id


def _kind_ok(v: Any, kind: str) -> bool:
    if kind == _INT:
        return _is_int(v)
    if kind == _INT_OR_NULL:
        return v is None or _is_int(v)
    if kind == _STR:
        return isinstance(v, str)
    if kind == _NUM:
        return (_is_int(v) or type(v) is float) and math.isfinite(v)
    if kind == _LIST:
        return isinstance(v, list)
    if kind == _DICT:
        return isinstance(v, dict)
    if kind == _MODE:
        return v in PERSIST_MODES
    if kind == _INT_OR_STR:
        return _is_int(v) or isinstance(v, str)
    if kind == _DIGEST:
        return is_digest(v)
    if kind == _RUNS:  # [[term >= 1, count >= 1], ...] (tuples too, as writers may pass them before JSON)
        return isinstance(v, (list, tuple)) and all(
            isinstance(r, (list, tuple)) and len(r) == 2 and _is_int(r[0]) and _is_int(r[1]) and r[0] >= 1
            and r[1] >= 1 for r in v)
    raise AssertionError(kind)


def _replication_shape(event: str, rec: dict[str, Any]) -> str | None:
    """What contradicts itself in a replication record (its fields have their types already)."""
    if event == "log_appended":
        first, last = rec["first"], rec["last"]
        if not 1 <= first <= last:
            return f"log_appended needs 1 <= first <= last, got first {first}, last {last}"
        if sum(r[1] for r in rec["terms"]) != last - first + 1:
            return f"log_appended.terms must cover first..last ({last - first + 1} entries), got {rec['terms']}"
    elif event == "log_loaded":
        if rec["last"] < 0 or not 0 <= rec["commit"]:
            return f"log_loaded needs last >= 0 and commit >= 0, got last {rec['last']}, commit {rec['commit']}"
        if sum(r[1] for r in rec["terms"]) != rec["last"]:
            return f"log_loaded.terms must cover 1..last ({rec['last']} entries), got {rec['terms']}"
    elif event == "entries_applied":
        if not 1 <= rec["first"] <= rec["last"]:
            return f"entries_applied needs 1 <= first <= last, got first {rec['first']}, last {rec['last']}"
    elif event == "commit_advanced":
        if rec["commit"] < 1:
            return f"commit_advanced.commit must be >= 1, got {rec['commit']}"
    return None


def validate_record(rec: Any, *, known_event: bool = False) -> str | None:
    """Return what is wrong with `rec` per docs/log-schema.md, or None if it is valid. Unknown events pass
    unless `known_event` (what writers ask for: every event they write must be in the table)."""
    if not isinstance(rec, dict):
        return "record is not a JSON object"
    ts = rec.get("ts")
    if not ((_is_int(ts) or type(ts) is float) and math.isfinite(ts)):
        return f"ts must be a number, got {ts!r}"
    if not _is_int(rec.get("mono_ns")):
        return f"mono_ns must be an int, got {rec.get('mono_ns')!r}"
    event = rec.get("event")
    if not isinstance(event, str) or not event:
        return f"event must be a non-empty string, got {event!r}"
    by = rec.get("by")
    if by not in _FIELDS_BY:
        return f"by must be 'node' or 'supervisor', got {by!r}"
    node = rec.get("node")
    if not _is_int(node) or node < 0:
        return f"node must be an int >= 0, got {node!r}"
    if by == "node":
        if node < 1:
            return f"node records need node >= 1, got {node}"
        for key, low in (("term", 0), ("incarnation", 1), ("seq", 1)):
            v = rec.get(key)
            if not _is_int(v) or v < low:
                return f"{key} must be an int >= {low}, got {v!r}"
    elif "term" in rec and not (_is_int(rec["term"]) and rec["term"] >= 0):
        return f"term must be an int >= 0, got {rec['term']!r}"
    spec = _FIELDS_BY[by].get(event)
    if spec is None and known_event:
        return f"{by} event {event!r} is not in the schema table (evidence/logfile.py, docs/log-schema.md)"
    if spec:
        for key, kind in spec.items():
            if key not in rec:
                return f"{by} event {event} needs field {key!r}"
            if not _kind_ok(rec[key], kind):
                return f"{event}.{key} must be {kind}, got {rec[key]!r}"
        if by == "node" and event in REPLICATION_EVENTS:
            return _replication_shape(event, rec)
    return None


class Clock(Protocol):
    def time(self) -> float: ...
    def monotonic_ns(self) -> int: ...


class _SystemClock:
    time = staticmethod(_time.time)
    monotonic_ns = staticmethod(_time.monotonic_ns)


_SYSTEM_CLOCK = _SystemClock()
_COMMON = frozenset({"ts", "mono_ns", "event", "by", "node", "term", "seq"})
_RESERVED = {"node": _COMMON | {"incarnation"}, "supervisor": _COMMON}
_FILE_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


class LogWriter:
    """Builds records and appends them, one `os.write` each, to a file and/or hands them to `sink`.

    `LogWriter(path, by="node", node=3, incarnation=2)` for a node process; `by="supervisor", node=0` for the
    supervisor (pass `node=` per write for records about one node). `sink` (a callable taking the record dict)
    lets the simulator collect records in memory; `LogWriter.to_list(...)` is the common case. `validate=False`
    skips schema validation on hot paths (the simulator); it is on by default so bad writers fail in their tests.
    Opening an existing file whose last line was torn by a kill truncates that fragment (see `repaired_bytes`):
    the torn record's action never happened, because the write precedes the action, and leaving it would put a
    broken line in the middle of the file once this incarnation appends.
    If the file disappears while open (deleted, or replaced by another file), the next write opens a new file at
    the path and first writes `log_reopened {reason, records_before}`: records must not go on into an unlinked
    inode that no reader will ever see, and the new file must say that what came before it is gone.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        by: str,
        node: int,
        incarnation: int | None = None,
        clock: Clock | None = None,
        sink: Callable[[dict[str, Any]], Any] | None = None,
        validate: bool = True,
    ) -> None:
        if by not in _FIELDS_BY:
            raise ValueError(f"by must be 'node' or 'supervisor', got {by!r}")
        if by == "node" and not (_is_int(incarnation) and incarnation >= 1):
            raise ValueError(f"node writers need incarnation >= 1, got {incarnation!r}")
        if path is None and sink is None:
            raise ValueError("LogWriter needs a path, a sink, or both")
        self.path = None if path is None else Path(path)
        self.by, self.node, self.incarnation = by, node, incarnation
        self.clock: Clock = clock or _SYSTEM_CLOCK
        self.sink, self.validate = sink, validate
        self.seq = 0
        self.last_term: int | None = None  # the term of the last record written (node writers)
        self.repaired_bytes = 0
        self.reopened = 0  # how many times the file disappeared and was opened again
        self._written = 0  # records written into the currently open file
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the open file
        self._lock = threading.Lock()  # seq order must equal file order even if threads share a writer
        self._fd: int | None = None
        if self.path is not None:
            self.repaired_bytes = _cut_torn_tail(self.path)
            self._open()

    def _open(self) -> None:
        assert self.path is not None  # only writers with a file open one
        self._fd = os.open(self.path, _FILE_FLAGS, 0o644)
        st = os.fstat(self._fd)
        self._identity = (st.st_dev, st.st_ino)

    def _vanished(self) -> str | None:
        """Why the open file is no longer the one at `path` ("missing" or "replaced"), or None if it still is."""
        assert self.path is not None  # asked only while a file is open
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return "missing"
        return None if (st.st_dev, st.st_ino) == self._identity else "replaced"

    def _reopen_if_vanished(self, term: int | None) -> None:
        reason = self._vanished()
        if reason is None or self._fd is None:
            return
        os.close(self._fd)
        self._open()
        self.reopened += 1
        before, self._written = self._written, 0
        self._emit(self._build("log_reopened", term, None, {"reason": reason, "records_before": before}))

    @classmethod
    def to_list(
        cls,
        records: list[dict[str, Any]] | None = None,
        *,
        by: str,
        node: int,
        incarnation: int | None = None,
        clock: Clock | None = None,
        validate: bool = True,
    ) -> "LogWriter":
        """An in-memory writer; the records land in `writer.records` (or the list you pass)."""
        out: list[dict[str, Any]] = [] if records is None else records
        w = cls(None, by=by, node=node, incarnation=incarnation, clock=clock, sink=out.append, validate=validate)
        w.records = out
        return w

    records: list[dict[str, Any]]

    def write(self, event: str, *, term: int | None = None, node: int | None = None, **fields: Any) -> dict[str, Any]:
        """Build, (validate,) write and return one record. Node records require `term`."""
        reserved = _RESERVED[self.by]
        if fields and not reserved.isdisjoint(fields):
            raise ValueError(f"fields {sorted(reserved.intersection(fields))} are set by the writer")
        if self.by == "node" and term is None:
            raise ValueError(f"node record {event!r} needs term=")
        with self._lock:
            if self._fd is not None:
                self._reopen_if_vanished(term)
            rec = self._build(event, term, node, fields)
            self._emit(rec)
        return rec

    def _build(self, event: str, term: int | None, node: int | None, fields: dict[str, Any]) -> dict[str, Any]:
        clock = self.clock
        rec: dict[str, Any] = {
            "ts": clock.time(),
            "mono_ns": clock.monotonic_ns(),
            "event": event,
            "by": self.by,
            "node": self.node if node is None else node,
        }
        if term is not None:
            rec["term"] = term
        if self.by == "node":
            rec["incarnation"] = self.incarnation
            rec["seq"] = self.seq + 1  # committed only once the record is out: no gaps from refused records
        rec.update(fields)
        if self.validate:
            problem = validate_record(rec, known_event=True)
            if problem is not None:
                raise ValueError(f"invalid log record: {problem}: {rec!r}")
        return rec

    def _emit(self, rec: dict[str, Any]) -> None:
        if self._fd is not None:
            data = (json.dumps(rec, separators=(",", ":"), allow_nan=False) + "\n").encode()
            _write_all(self._fd, data)
            self._written += 1
        if self.by == "node":
            self.seq += 1
            self.last_term = rec["term"]
        if self.sink is not None:
            self.sink(rec)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "LogWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_all(fd: int, data: bytes) -> None:
    # One write() on an O_APPEND fd appends the whole record atomically with respect to other appenders.
    # A short write only happens on a full disk or a fatal signal mid-copy; finishing it with a second write is
    # the best we can do then (it may interleave, and the reader will report that line as malformed).
    n = os.write(fd, data)
    while n < len(data):
        data = data[n:]
        n = os.write(fd, data)


def _cut_torn_tail(path: Path) -> int:
    """If the file does not end in a newline, truncate after its last newline; return bytes removed."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return 0
    try:
        return _cut_fd(fd)
    finally:
        os.close(fd)


def _cut_fd(fd: int) -> int:
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end, chunk = size, 1 << 16
    while end > 0:
        start = max(0, end - chunk)
        nl = os.pread(fd, end - start, start).rfind(b"\n")
        if nl >= 0:
            keep = start + nl + 1
            break
        end = start
    else:
        keep = 0
    os.ftruncate(fd, keep)
    return size - keep


# ---------------------------------------------------------------------------------------------------- reading


class LogFormatError(ValueError):
    """A malformed record; `where` is "file:line"."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


class TornLineWarning(UserWarning):
    """A torn final line (killed mid-write) was skipped."""


@dataclass(frozen=True, slots=True)
class Located:
    """A record plus where it came from. The location is never serialised into the record itself."""

    record: dict[str, Any]
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _parse_line(raw: bytes, where: str) -> dict[str, Any]:
    try:
        rec: dict[str, Any] = json.loads(raw, parse_constant=_reject_constant)  # a dict once validated below
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise LogFormatError(where, f"not valid JSON ({e})") from None
    problem = validate_record(rec)
    if problem is not None:
        raise LogFormatError(where, problem)
    return rec


def _torn(raw: bytes) -> bool:
    try:
        json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return True
    return False


def _default_warn(message: str) -> None:
    warnings.warn(message, TornLineWarning, stacklevel=3)


def iter_records(
    path: str | os.PathLike[str], *, on_warning: Callable[[str], Any] | None = None
) -> Iterator[tuple[dict[str, Any], str]]:
    """Yield `(record, "file:line")` for each line of one log file, validated.

    Raises LogFormatError naming file:line for a malformed line, except a torn final line (no trailing newline
    and not valid JSON), which is skipped and reported through `on_warning(message)` (default: a
    TornLineWarning via the warnings module; pass `list.append` to collect them).
    """
    name = str(path)
    warn = on_warning or _default_warn
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            where = f"{name}:{lineno}"
            if not raw.endswith(b"\n") and _torn(raw):
                warn(f"{where}: skipped torn last line ({len(raw)} bytes, no newline)")
                return
            yield _parse_line(raw, where), where


def _log_files(d: Path) -> list[Path]:
    """The schema's log files of a folder (node-<id>.jsonl, supervisor.jsonl), sorted by name."""
    return sorted(p for p in d.glob("*.jsonl") if p.is_file() and (
        p.name == "supervisor.jsonl" or (p.name.startswith("node-") and p.name[5:-6].isdigit())))


def run_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """The log files of a run dir, sorted by name: node-<id>.jsonl and supervisor.jsonl (docs/log-schema.md), so
    a run folder may hold other JSON-lines files (a benchmark's load.jsonl, a client history) beside them; a
    folder without either is read as its *.jsonl. FileNotFoundError/NotADirectoryError if it is missing."""
    d = Path(run_dir)
    if not d.is_dir():
        raise (NotADirectoryError if d.exists() else FileNotFoundError)(f"{d}: no such run directory")
    return _log_files(d) or sorted(p for p in d.glob("*.jsonl") if p.is_file())


class NotARunError(ValueError):
    """A folder that is neither a run nor holds runs; the message says what was expected and what is there."""


_RUN_SEARCH_DEPTH = 3  # a benchmark folder holds runs one level down (bench failover: real-<range>/, sim-<range>/)


def find_runs(path: str | os.PathLike[str]) -> list[Path]:
    """The runs `path` stands for: itself if it holds log files (node-<id>.jsonl, supervisor.jsonl); else the
    folders below it that do (a benchmark's or a campaign's output: every run it kept), sorted; else itself if it
    holds other *.jsonl files. Raises FileNotFoundError/NotADirectoryError, or NotARunError naming what a run
    folder holds and what this one has."""
    d = Path(path)
    if not d.is_dir():
        raise (NotADirectoryError if d.exists() else FileNotFoundError)(f"{d}: no such run directory")
    if _log_files(d):
        return [d]
    found: list[Path] = []
    for root, dirs, _files in os.walk(d):
        here = Path(root)
        depth = len(here.relative_to(d).parts)
        if depth and _log_files(here):
            found.append(here)
            dirs[:] = []  # a run's own subfolders are not runs of their own
        elif depth >= _RUN_SEARCH_DEPTH:
            dirs[:] = []
        else:
            dirs[:] = sorted(x for x in dirs if not (here / x).is_symlink())  # logs/latest is a link to a run
    if found:
        return sorted(found)
    if any(p.is_file() for p in d.glob("*.jsonl")):
        return [d]
    there = sorted(p.name for p in d.iterdir())
    listing = ", ".join(there[:8]) + (f", ... ({len(there)} entries)" if len(there) > 8 else "") or "nothing"
    raise NotARunError(f"{d}: not a run folder: expected node-<id>.jsonl and supervisor.jsonl logs (a live, "
                       f"chaos, scenario or simulator run), or folders holding them (a benchmark's output); "
                       f"it holds {listing}")


def read_run(
    run_dir: str | os.PathLike[str], *, on_warning: Callable[[str], Any] | None = None
) -> list[Located]:
    """Every record of every *.jsonl in `run_dir`, merged by (mono_ns, file, line).

    mono_ns comes from one host's monotonic clock (or the simulator's virtual clock), so it orders records across
    processes. An empty list if there are no log files.
    """
    out: list[Located] = []
    for p in run_files(run_dir):
        name = str(p)
        for lineno, (rec, _) in enumerate(iter_records(p, on_warning=on_warning), 1):
            out.append(Located(rec, name, lineno))
    out.sort(key=_merge_key)
    return out


def _merge_key(loc: Located) -> tuple[int, str, int]:
    return (loc.record["mono_ns"], loc.file, loc.line)


_HEAD_BYTES = 64  # a record's ts and mono_ns are in its first 64 bytes: they tell two files apart


class LogTail:
    """Incremental reader for `raftzmq logs -f`: each `poll()` returns the complete lines appended since the last
    poll, from every *.jsonl in `run_dir`, including files that appeared since (new nodes).

    It never sleeps (the caller polls) and never returns or keeps a partial line: it only advances past the last
    newline it has seen and rereads the rest next time. Records of one poll are merged by (mono_ns, file, line).
    With `from_start=False`, files existing at construction are read from their current end.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, from_start: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self._pos: dict[str, int] = {}
        self._line: dict[str, int] = {}
        # The first bytes of each file: a file deleted and written anew (a node reopening its log) is read from its
        # start. Not the inode number: a deleted file's inode is often reused at once for the new one.
        self._head: dict[str, bytes] = {}
        if not from_start and self.run_dir.is_dir():
            for p in run_files(self.run_dir):
                with open(p, "rb") as f:
                    data = f.read()
                self._head[str(p)] = data[:_HEAD_BYTES]
                end = data.rfind(b"\n") + 1
                self._pos[str(p)], self._line[str(p)] = end, data.count(b"\n", 0, end)

    def _same_file(self, name: str, f: Any) -> bool:
        head = self._head.get(name)
        return head is None or f.read(len(head)) == head

    def poll(self) -> list[Located]:
        if not self.run_dir.is_dir():
            return []  # the run may not have started yet
        out: list[Located] = []
        for p in run_files(self.run_dir):
            name = str(p)
            pos = self._pos.get(name, 0)
            try:
                with open(p, "rb") as f:
                    if os.fstat(f.fileno()).st_size < pos or not self._same_file(name, f):  # cut or written anew
                        pos, self._line[name] = 0, 0
                    f.seek(pos)
                    data = f.read()
            except FileNotFoundError:
                continue
            end = data.rfind(b"\n") + 1
            if end == 0:
                continue
            lineno = self._line.get(name, 0)
            for raw in data[: end - 1].split(b"\n"):  # not splitlines: it also splits on \r
                lineno += 1
                out.append(Located(_parse_line(raw, f"{name}:{lineno}"), name, lineno))
            self._pos[name], self._line[name] = pos + end, lineno
            if pos == 0:
                self._head[name] = data[:_HEAD_BYTES]
        out.sort(key=_merge_key)
        return out
