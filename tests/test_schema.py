"""The log schema has one source: the table in evidence/logfile.py. The doc documents exactly its events, and
every event written anywhere in the package is in it: found by reading the code (literal event names given to a
writer), by running the simulator (which writes unvalidated), and at run time by the writer itself, which
refuses an event missing from the table (so an event name computed at run time fails the test that writes it).
On the reading side, every event name a record is compared with is in the table too."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from raftzmq.evidence.logfile import EVENT_NAMES, NODE_EVENT_FIELDS, SUPERVISOR_EVENT_FIELDS, LogWriter
from raftzmq.lab.sim.simulator import SimConfig, run_seed

ROOT = Path(__file__).resolve().parent.parent
PKG, DOC = ROOT / "raftzmq", ROOT / "docs" / "log-schema.md"
TABLE = {"node": NODE_EVENT_FIELDS, "supervisor": SUPERVISOR_EVENT_FIELDS}

# Calls that write or emit an event, and which argument names it: LogWriter.write and the node's wrappers, the
# log limiter, the core's _emit/_emit_at, the embedding's log port.
_WRITERS = {"write": 0, "_write": 0, "emit": 0, "_emit": 0, "_emit_at": 1, "log": 0, "_log_event": 0}
_EVENT_NAME = re.compile(r"^[a-z]+(_[a-z]+)*$")


def _writer_of(path: Path, call: ast.Call) -> str:
    """Supervisor records come from the supervisor module and the simulator's `self.sup`; the rest are nodes'."""
    if path.name == "supervisor.py":
        return "supervisor"
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute) and f.value.attr == "sup":
        return "supervisor"
    return "node"


def _is_log_receiver(func: ast.expr) -> bool:
    """`log.write`, `self._log.write`, `node.log.write`, `self.sup.write`, `self.limiter.emit`."""
    if not isinstance(func, ast.Attribute):
        return False
    recv = func.value
    name = recv.attr if isinstance(recv, ast.Attribute) else getattr(recv, "id", "")
    return "log" in name or name in ("sup", "limiter")


def written_events(source: str, path: Path) -> set[tuple[str, str]]:
    """(writer, event) for every event name given literally to a writing call in `source`."""
    found = set()
    for call in ast.walk(ast.parse(source)):
        if not isinstance(call, ast.Call):
            continue
        name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)
        pos = _WRITERS.get(name)
        if name in ("write", "emit") and not _is_log_receiver(call.func):
            continue  # file.write, a stream's write: not a record
        if pos is None or len(call.args) <= pos:
            continue
        for event in _literal_names(call.args[pos]):
            found.add((_writer_of(path, call), event))
    return found


def _literal_names(arg: ast.expr) -> set[str]:
    """The event names an argument can take: a string literal, or either side of `"a" if x else "b"`."""
    if isinstance(arg, ast.IfExp):
        return _literal_names(arg.body) | _literal_names(arg.orelse)
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _EVENT_NAME.match(arg.value):
        return {arg.value}
    return set()


def package_events() -> set[tuple[str, str]]:
    return {e for p in sorted(PKG.rglob("*.py")) for e in written_events(p.read_text(), p.relative_to(PKG))}


def documented_events() -> dict[str, dict[str, str]]:
    """section ("node" / "supervisor") -> event -> its 'extra fields' cell, from the doc's two event tables."""
    out: dict[str, dict[str, str]] = {}
    section = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^## (Node|Supervisor) events", line)
        if heading:
            section = out.setdefault(heading.group(1).lower(), {})
        elif line.startswith("## "):
            section = None
        elif section is not None and line.startswith("| `"):
            first, fields = re.split(r"(?<!\\)\|", line)[1:3]  # `int\|null` is one cell
            for event in re.findall(r"`([a-z_]+)`", first):
                section[event] = fields
    return out


def test_the_doc_documents_exactly_the_table_with_its_required_fields():
    doc = documented_events()
    for by, table in TABLE.items():
        assert set(doc[by]) == set(table), f"{by} events: doc and evidence/logfile.py differ"
        for event, fields in table.items():
            for field in fields:
                assert f"`{field}`" in doc[by][event], f"{by} event {event}: field {field} not in the doc"


def test_every_event_written_in_the_package_is_in_the_table_and_the_doc():
    written = package_events()
    doc = documented_events()
    missing = sorted((by, e) for by, e in written if e not in TABLE[by] or e not in doc[by])
    assert missing == []
    # the scan really sees the writers (the core's events, the embedding, the supervisor, the limiter)
    assert {("node", "election_timeout"), ("node", "stepped_down"), ("node", "state_persisted"),
            ("node", "message_dropped"), ("supervisor", "transfer_requested"), ("supervisor", "heal"),
            ("node", "transfer_aborted"), ("node", "net_applied"), ("node", "netctl_rejected"),
            ("supervisor", "cluster_stopping")} <= written


def test_the_scan_catches_an_undocumented_event():
    src = ('self._emit("warp_drive")\nself._emit_at(3, "became_leader")\nself.sup.write("node_paused")\n'
           'self.limiter.emit("x_y" if a else "y_z", key, 1)\n')
    assert written_events(src, Path("lab/sim/simulator.py")) == {
        ("node", "warp_drive"), ("node", "became_leader"), ("supervisor", "node_paused"), ("node", "x_y"),
        ("node", "y_z")}


def _is_event_of_a_record(e: ast.expr) -> bool:
    """`rec["event"]`, `rec.get("event")`, `loc.event` or a variable named `event`."""
    if isinstance(e, ast.Subscript):
        return isinstance(e.slice, ast.Constant) and e.slice.value == "event"
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "get":
        return bool(e.args) and isinstance(e.args[0], ast.Constant) and e.args[0].value == "event"
    return (isinstance(e, ast.Attribute) and e.attr == "event") or (isinstance(e, ast.Name) and e.id == "event")


def _strings(e: ast.expr) -> set[str]:
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return {e.value}
    if isinstance(e, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_strings(x) for x in e.elts))
    return set()


def read_events(source: str) -> set[str]:
    """Event names a reader compares a record's event with (`==`, `!=`, `in`, against literals)."""
    found: set[str] = set()
    for cmp in ast.walk(ast.parse(source)):
        if isinstance(cmp, ast.Compare) and any(_is_event_of_a_record(s) for s in (cmp.left, *cmp.comparators)):
            for side in (cmp.left, *cmp.comparators):
                found |= _strings(side)
    return found


def test_every_event_a_reader_looks_for_is_in_the_table():
    # A misspelt name on the reading side (checker, report, pictures, lab) would silently never match.
    read = {e for p in sorted(PKG.rglob("*.py")) for e in read_events(p.read_text())}
    assert {"became_leader", "vote_granted", "node_spawned", "link_cut"} <= read  # the scan sees the readers
    assert sorted(read - EVENT_NAMES) == []


def test_the_reader_scan_catches_a_misspelt_event():
    src = 'if rec["event"] == "became_leadr": pass\nx = [r for r in rs if r.get("event") in ("hint", "warp")]\n'
    assert read_events(src) - EVENT_NAMES == {"became_leadr", "warp"}


def test_writers_refuse_events_not_in_the_table():
    w = LogWriter.to_list(by="node", node=1, incarnation=1)
    with pytest.raises(ValueError, match="not in the schema table"):
        w.write("warp_drive", term=1)
    sup = LogWriter.to_list(by="supervisor", node=0)
    with pytest.raises(ValueError, match="not in the schema table"):
        sup.write("election_timeout")  # a node event is not a supervisor event


def test_the_simulator_writes_only_events_of_the_table():
    # The simulator writes unvalidated (speed); this checks what it wrote, events computed at run time included.
    r = run_seed(SimConfig(nodes=3, duration=10.0), 2)
    seen = {(rec["by"], rec["event"]) for records in r.files.values() for rec in records}
    assert seen and all(event in TABLE[by] for by, event in seen), sorted(seen)
