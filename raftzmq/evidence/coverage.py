"""What a run's records cannot show: lost records, lost incarnations, lost log files.

A verdict computed from part of the evidence is worse than none: a lost `vote_granted` turns a legitimate leader
into a "leader without a majority", and a lost second leader turns a violation into "OK". So the checker asks
this module whether the evidence is complete, and reports "incomplete evidence" instead of a verdict when not.

Evidence is incomplete when:
  - an incarnation's records do not run seq 1, 2, 3, ... (its head was lost, or records in the middle);
  - a writer logged `log_reopened` (its file disappeared; what was in it is gone);
  - the supervisor spawned an incarnation that left no record, and did not report it refusing to start
    (exit 3/4, when it may not have opened its log) or being killed before its first record (while the file
    still holds earlier incarnations) — unless it is still running and simply has not logged yet;
  - a node's records skip an incarnation, with no supervisor record to explain it;
  - a live run (it has cluster.json) has no supervisor.jsonl, so nobody can tell which incarnations ran.
Per-record cost is one comparison; the bookkeeping happens on the rare records (spawns, exits, reopens).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Gap", "Coverage", "REFUSED_EXIT_CODES"]

# A node logs node_started well within a second of its spawn; a live node silent for longer has lost its records.
_FIRST_RECORD_WITHIN_NS = 5_000_000_000
REFUSED_EXIT_CODES = (3, 4)  # docs/CONTRACTS.md: refused to start, storage fatal (possibly before the log opened)


@dataclass(frozen=True, slots=True)
class Gap:
    """One thing the evidence is missing. `kind`: seq_gap | log_reopened | missing_incarnation | missing_file |
    missing_supervisor_log | missing_member (a member named by cluster.json, cluster_started or --nodes wrote no
    record: e.g. one host's folder of a multi-host cluster was not gathered)."""

    kind: str
    node: int | None
    message: str
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "node": self.node, "message": self.message, "where": self.where}


class Coverage:
    """Fed by the checker: `seq_mismatch` when a record's seq is not the next one, `incarnation` when a node's
    records start an incarnation, `supervisor` for every supervisor record, `reopened` for `log_reopened`."""

    def __init__(self) -> None:
        self.gaps: list[Gap] = []
        self._seen: dict[int, set[int]] = {}  # node -> incarnations with records
        self._spawned: dict[tuple[int, int], str] = {}  # (node, incarnation) -> where
        self._pid_of: dict[tuple[int, int], int | None] = {}
        self._exit: dict[tuple[int, int | None], int | None] = {}  # (node, pid) -> exit code (None: by a signal)
        self._spawn_ns: dict[tuple[int, int], int] = {}
        self._stopped = False  # cluster_stopped: every node has exited
        self._last_ns = 0  # the newest mono_ns of any record, given to finish()

    def spawned(self) -> list[tuple[int, int]]:
        """(node, incarnation) of every spawn the supervisor logged."""
        return sorted(self._spawned)

    def incarnation(self, node: int, inc: int) -> None:
        self._seen.setdefault(node, set()).add(inc)

    def seq_mismatch(self, node: int, inc: int, seq: int, previous: int, where: str) -> None:
        if previous == 0:
            message = f"node {node} incarnation {inc}: its records start at seq {seq}; seq 1..{seq - 1} are lost"
        elif seq > previous:
            message = f"node {node} incarnation {inc}: seq {previous + 1}..{seq - 1} are lost (seq {seq} " \
                      f"follows {previous})"
        else:
            message = f"node {node} incarnation {inc}: seq {seq} follows {previous} (records out of order)"
        self.gaps.append(Gap("seq_gap", node, message, where))

    def reopened(self, rec: dict[str, Any], where: str) -> None:
        who = f"node {rec['node']} incarnation {rec['incarnation']}" if rec["by"] == "node" else "the supervisor"
        self.gaps.append(Gap("log_reopened", rec["node"] if rec["by"] == "node" else None,
                             f"{who} found its log file {rec.get('reason')} and opened a new one: what was "
                             f"written before (at least {rec.get('records_before')} records) is lost", where))

    def supervisor(self, rec: dict[str, Any], where: str) -> None:
        event, node = rec["event"], rec["node"]
        if event == "node_spawned" and type(rec.get("incarnation")) is int:
            self._spawned[(node, rec["incarnation"])] = where
            self._pid_of[(node, rec["incarnation"])] = rec.get("pid")
            self._spawn_ns[(node, rec["incarnation"])] = rec["mono_ns"]
        elif event == "cluster_stopped":
            self._stopped = True
        elif event == "node_exited":
            self._exit[(node, rec.get("pid"))] = rec.get("code")
        elif event == "log_reopened":
            self.reopened(rec, where)

    def finish(self, *, expect_supervisor_log: bool, supervisor_records: int, last_ns: int) -> list[Gap]:
        """The gaps found; `last_ns` is the newest mono_ns of any record (how long a spawned node has had to log)."""
        self._last_ns = last_ns
        if expect_supervisor_log and supervisor_records == 0:
            self.gaps.append(Gap("missing_supervisor_log", None, "supervisor.jsonl is missing or empty: nothing "
                                 "says which node incarnations ran, so lost node records cannot be detected"))
        for (node, inc), where in sorted(self._spawned.items()):
            if inc not in self._seen.get(node, ()):
                self._silent_spawn(node, inc, where)
        for node, incs in sorted(self._seen.items()):
            for inc in range(1, max(incs, default=1)):
                if inc not in incs and (node, inc) not in self._spawned:
                    self.gaps.append(Gap("missing_incarnation", node, f"node {node}: no records of incarnation "
                                         f"{inc}, though incarnation {max(incs)} ran"))
        return self.gaps

    def _silent_spawn(self, node: int, inc: int, where: str) -> None:
        key = (node, self._pid_of.get((node, inc)))
        code: int | str | None = self._exit.get(key, "running")
        if code in REFUSED_EXIT_CODES:
            return  # refused to start, perhaps before it could open its log; the supervisor logged why
        seen = self._seen.get(node, ())
        if type(code) is int and code < 0 and any(i < inc for i in seen):
            # Killed by a signal before its first record. Its file still holds earlier incarnations, so it was
            # never deleted: had this incarnation written anything, it would be there.
            return
        later = any(i > inc for i in seen)
        recent = self._last_ns - self._spawn_ns[(node, inc)] < _FIRST_RECORD_WITHIN_NS
        if code == "running" and not self._stopped and not later and recent:
            return  # spawned just now and not logging yet (a live run): it cannot have voted without a record
        if node not in self._seen:
            self.gaps.append(Gap("missing_file", node, f"node {node}: no records at all (node-{node}.jsonl is "
                                 f"missing or empty), though the supervisor spawned it", where))
            self._seen[node] = set()  # one message per node is enough
        elif self._seen[node]:
            self.gaps.append(Gap("missing_incarnation", node, f"node {node}: incarnation {inc} was spawned but "
                                 "left no record", where))
