"""Safety checker: reads evidence logs and reports broken election-safety invariants.

Invariants (letters are stable; docs/log-schema.md explains them):
  (a) one-leader-per-term     two distinct nodes `became_leader` (or are followed as leader) in one term
  (b) one-vote-per-term       a node grants two distinct candidates in one term (across restarts, self-vote included)
  (c) durable-term            terms go backwards within an incarnation, or a restart loads less than was durable
  (d) leader-has-majority     a `became_leader` (or a node followed as leader: `became_follower` leader=N) without
                              `vote_granted` for it from a strict majority, same term
  (e) vote-durable-first      a `vote_granted` not covered by durable state (term, voted_for) of that incarnation
  (f)-(k)                     replication (log matching, leader completeness, state machine safety, leader
                              append-only, commit monotonic, committed never lost): evidence/replication_checks.py

`Checker` is incremental: feed each file's records in file order (files may be interleaved arbitrarily), then
`finish()`. Per-record work is O(1) with dict/set state, so the simulator can feed it records in memory.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, TextIO

from .coverage import Coverage, Gap
from .logfile import Located, LogFormatError, iter_records, run_files
from .replication_checks import REPLICATION_INVARIANTS, WATCHED_EVENTS, ReplicationChecks

__all__ = [
    "INVARIANTS",
    "Violation",
    "CheckResult",
    "Checker",
    "EXIT_INCOMPLETE",
    "check_run",
    "check_located",
    "render_summary",
    "run_check",
    "exit_code",
]

INVARIANTS = {
    "a": "one-leader-per-term",
    "b": "one-vote-per-term",
    "c": "durable-term",
    "d": "leader-has-majority",
    "e": "vote-durable-first",
    **REPLICATION_INVARIANTS,
}
TERM_AND_VOTE = "term+vote"
EXIT_INCOMPLETE = 3  # `raftzmq check`: records are missing, so there is no verdict (README, "Exit codes")


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str  # letter, key of INVARIANTS
    message: str
    where: tuple[str, ...]  # "file:line" of the offending records, most relevant first

    @property
    def name(self) -> str:
        return INVARIANTS[self.invariant]

    def to_dict(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "name": self.name, "message": self.message, "where": list(self.where)}


@dataclass(slots=True)
class CheckResult:
    violations: list[Violation]
    stats: dict[str, Any]
    cluster_size: int | None
    cluster_size_source: str  # "cluster_started" | "cluster.json" | "parameter" | "inferred" | "unknown"
    warnings: list[str] = field(default_factory=list)
    suppressed: int = 0  # violations beyond max_violations, counted but not kept
    incomplete: list[Gap] = field(default_factory=list)  # what the records cannot show (coverage.py)
    # Violations seen in incomplete records are withheld, never reported: a lost vote_granted makes a legitimate
    # leader look like one without a majority. Only their number is shown; the simulator, whose in-memory evidence
    # is complete by construction, still reads them (a gap there is a bug of its own, not a reason for silence).
    withheld: int = 0
    withheld_violations: list[Violation] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.incomplete

    @property
    def ok(self) -> bool:
        return not self.violations and not self.incomplete

    @property
    def verdict(self) -> str:
        """"incomplete" (no verdict: records are missing), "violation" or "ok"."""
        return "incomplete" if self.incomplete else "violation" if self.violations else "ok"

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "ok": self.ok,
            "verdict": self.verdict,
            "incomplete": [g.to_dict() for g in self.incomplete],
            "violations": [v.to_dict() for v in self.violations],
            "suppressed_violations": self.suppressed,
            "cluster_size": self.cluster_size,
            "cluster_size_source": self.cluster_size_source,
            "stats": self.stats,
            "warnings": self.warnings,
        }
        if self.incomplete:  # only incomplete evidence withholds anything; complete runs keep their exact output
            doc["withheld_violations"] = self.withheld
        return doc

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)


class _Node:
    """Per node id: the current incarnation's view plus what was durable across incarnations."""

    __slots__ = ("inc", "seq", "last_term", "mode", "covered", "durable", "max_inc")

    def __init__(self) -> None:
        self.inc = 0
        self.max_inc = 0
        self.seq = 0
        self.last_term = (-1, "")  # (term, where) of the last record of this incarnation
        self.mode = TERM_AND_VOTE  # strict until node_started says otherwise
        self.covered: set[tuple[int, int]] = set()  # durable (term, voted_for) pairs seen in this incarnation
        self.durable: tuple[int, int | None, str] | None = None  # (term, voted_for, where), all incarnations


class Checker:
    """Feed records with `feed(record, where)`; call `finish()` once for the CheckResult.

    `cluster_size` is used for (d) unless a `cluster_started` record says otherwise; `size_source` names where
    it came from. With neither, the size is inferred as the number of nodes that wrote records (and said so).
    """

    def __init__(self, cluster_size: int | None = None, *, size_source: str = "parameter",
                 max_violations: int = 1000) -> None:
        self.cluster_size, self.size_source = cluster_size, size_source
        self.max_violations = max_violations
        self.violations: list[Violation] = []
        self.suppressed = 0
        self.warnings: list[str] = []
        self.records = 0
        self.supervisor_records = 0
        self.events: dict[str, int] = {}
        self._nodes: dict[int, _Node] = {}
        self._terms: set[int] = set()
        self._leaders: dict[int, dict[int, str]] = {}  # term -> leader node -> where
        # (term, leader) -> where: a node logged became_follower with that leader (it heard from it as leader)
        self._followed: dict[tuple[int, int], str] = {}
        self._votes: dict[tuple[int, int], tuple[int, str]] = {}  # (voter, term) -> first (candidate, where)
        self._voters: dict[tuple[int, int], dict[int, str]] = {}  # (term, candidate) -> voter -> where
        self._started_size: tuple[int, str] | None = None
        self._finished = False
        self.coverage = Coverage()
        self.last_ns = 0
        self.expect_supervisor_log = False  # check_run sets it for live runs (they have a cluster.json)
        # The members whose records the evidence must hold, and who says so ("cluster.json", "--nodes"): a member
        # without a single record is missing evidence (a multi-host set with one folder not collected).
        self.expected_members: tuple[set[int], str] | None = None
        self._replication = ReplicationChecks(self._violate, self.warnings.append)

    # ---------------------------------------------------------------------------------------------- feeding

    def _violate(self, inv: str, message: str, *where: str) -> None:
        if len(self.violations) >= self.max_violations:
            self.suppressed += 1
        else:
            self.violations.append(Violation(inv, message, tuple(w for w in where if w)))

    def feed(self, rec: dict[str, Any], where: str | None = None) -> None:
        """One record. `where` is "file:line"; in-memory callers may omit it (a node/incarnation/seq label is used)."""
        self.records += 1
        if rec["mono_ns"] > self.last_ns:
            self.last_ns = rec["mono_ns"]
        event = rec["event"]
        self.events[event] = self.events.get(event, 0) + 1
        if rec["by"] != "node":
            self._feed_supervisor(rec, where)
            return
        node, term, inc = rec["node"], rec["term"], rec["incarnation"]
        if where is None:
            where = f"node {node} inc {inc} seq {rec['seq']}"
        st = self._nodes.get(node)
        if st is None:
            st = self._nodes[node] = _Node()
        if inc != st.inc:
            self._enter_incarnation(node, inc, st, where)
        self._follow_seq(rec, st, where)
        self._terms.add(term)
        self._term_never_goes_back(node, inc, term, st, where)
        self._judge(rec, st, where)
        if event in WATCHED_EVENTS:
            self._replication.feed(rec, where)

    def _feed_supervisor(self, rec: dict[str, Any], where: str | None) -> None:
        self.supervisor_records += 1
        self.coverage.supervisor(rec, where or "supervisor")
        if rec["event"] != "cluster_started":
            return
        n = rec.get("nodes")
        size = len(n) if isinstance(n, list) else n
        if type(size) is not int:
            self.warnings.append(f"{where}: cluster_started without a cluster size")
            return
        if self._started_size is not None and self._started_size[0] != size:
            self.warnings.append(f"{where}: cluster_started says {size} nodes, earlier {self._started_size[0]}")
        self._started_size = (size, where or "supervisor")

    def _enter_incarnation(self, node: int, inc: int, st: _Node, where: str) -> None:
        if inc < st.inc:
            self._violate("c", f"node {node}: incarnation went back from {st.inc} to {inc} "
                               f"(two processes with one node id?)", where)
        st.inc, st.seq, st.mode = inc, 0, TERM_AND_VOTE
        st.last_term = (-1, "")
        st.covered = set()
        st.max_inc = max(st.max_inc, inc)
        self.coverage.incarnation(node, inc)

    def _follow_seq(self, rec: dict[str, Any], st: _Node, where: str) -> None:
        if rec["event"] == "log_reopened":
            self.coverage.reopened(rec, where)  # says itself what is lost before it; no seq gap on top
        elif rec["seq"] != st.seq + 1:
            self.coverage.seq_mismatch(rec["node"], rec["incarnation"], rec["seq"], st.seq, where)
        st.seq = rec["seq"]

    def _term_never_goes_back(self, node: int, inc: int, term: int, st: _Node, where: str) -> None:
        # (c) within an incarnation, with no exception: every record carries the node's term after its event,
        # and the embedding logs state_persisted where the core entered the persisted term (docs/log-schema.md).
        last_term, last_where = st.last_term
        if term < last_term:
            self._violate("c", f"node {node} incarnation {inc}: term went back from {last_term} to {term}",
                          where, last_where)
        else:
            st.last_term = (term, where)

    def _judge(self, rec: dict[str, Any], st: _Node, where: str) -> None:
        """The events the invariants are about: votes, durable state, leaders, restarts."""
        event, node, term = rec["event"], rec["node"], rec["term"]
        if event == "vote_granted":
            self._vote(node, term, rec["candidate"], st, where)
        elif event == "state_persisted":
            self._durable(st, term, rec.get("voted_for"), where)
        elif event == "became_leader":
            leaders = self._leaders.setdefault(term, {})
            if node not in leaders:
                for other, other_where in leaders.items():
                    self._violate("a", f"term {term}: nodes {other} and {node} both became leader",
                                  where, other_where)
                leaders[node] = where
        elif event == "became_follower":
            leader = rec.get("leader")
            if type(leader) is int and leader != node:
                self._followed.setdefault((term, leader), where)
        elif event == "node_started":
            self._started(node, term, rec.get("voted_for"), rec.get("persist_mode", TERM_AND_VOTE), st, where)

    def _durable(self, st: _Node, term: int, voted_for: int | None, where: str) -> None:
        if voted_for is not None:
            st.covered.add((term, voted_for))
        d = st.durable
        # Keep the strongest known durable state: higher term, or at one term a vote over no vote.
        if d is None or term > d[0] or (term == d[0] and voted_for is not None):
            st.durable = (term, voted_for, where)

    def _started(self, node: int, term: int, voted_for: int | None, mode: str, st: _Node, where: str) -> None:
        st.mode = mode
        d = st.durable
        if d is not None:
            d_term, d_vote, d_where = d
            if term < d_term:
                self._violate("c", f"node {node} incarnation {st.inc} started at term {term}, "
                                   f"but term {d_term} was durable", where, d_where)
            # Loaded vote None (or another) where a vote was durable: the double-vote door. The opposite (durable
            # None, loaded X) is fine: the persist of X finished but the kill came before its log record.
            elif (term == d_term and mode == TERM_AND_VOTE and d_vote is not None and voted_for != d_vote):
                self._violate("c", f"node {node} incarnation {st.inc} started at term {term} with voted_for "
                                   f"{voted_for}, but voted_for {d_vote} was durable", where, d_where)
        self._durable(st, term, voted_for, where)  # what was loaded is durable too

    def _vote(self, node: int, term: int, cand: int, st: _Node, where: str) -> None:
        first = self._votes.get((node, term))
        if first is None:
            self._votes[(node, term)] = (cand, where)
        elif first[0] != cand:
            self._violate("b", f"node {node} granted its term-{term} vote to {first[0]} and then to {cand}",
                          where, first[1])
        self._voters.setdefault((term, cand), {}).setdefault(node, where)
        if st.mode == TERM_AND_VOTE and (term, cand) not in st.covered:
            self._violate("e", f"node {node} incarnation {st.inc} granted term-{term} vote to {cand} before "
                               f"state (term {term}, voted_for {cand}) was durable", where)

    # ---------------------------------------------------------------------------------------------- result

    def finish(self) -> CheckResult:
        """Run the cross-file check (d) and return the result. Call once."""
        if self._finished:
            raise RuntimeError("Checker.finish() called twice")
        self._finished = True
        if self._started_size is not None:
            size, source = self._started_size[0], "cluster_started"
        elif self.cluster_size is not None:
            size, source = self.cluster_size, self.size_source
        elif self._nodes:
            size, source = len(self._nodes), "inferred"
            self.warnings.append(f"cluster size unknown; inferred {size} from the nodes that wrote records")
        else:
            size, source = None, "unknown"

        if size is not None:
            for term in sorted(self._leaders):
                for leader, where in self._leaders[term].items():
                    voters = self._voters.get((term, leader), {})
                    if 2 * len(voters) <= size:
                        self._violate("d", f"node {leader} became leader of term {term} with votes from "
                                           f"{sorted(voters) or 'nobody'}: {len(voters)} of {size} is no majority",
                                      where, *voters.values())
            # A leader is also known from those that followed it (only a leader of T sends AppendEntries or
            # TimeoutNow in T): its own became_leader may be lost with a crash, its acting as leader is not.
            for (term, leader), where in sorted(self._followed.items()):
                known = self._leaders.get(term, {})
                if leader in known:
                    continue
                for other, other_where in known.items():
                    self._violate("a", f"term {term}: node {other} became leader and node {leader} acted as "
                                       f"leader too (followed as leader)", where, other_where)
                voters = self._voters.get((term, leader), {})
                if voters and 2 * len(voters) <= size:  # (no vote at all: an election the records do not show)
                    self._violate("d", f"node {leader} acted as leader of term {term} (followed as leader, no "
                                       f"became_leader record) with votes from {sorted(voters) or 'nobody'}: "
                                       f"{len(voters)} of {size} is no majority", where, *voters.values())

        replication_gaps = self._replication.finish()
        leaders = {str(t): sorted(ns) for t, ns in sorted(self._leaders.items())}
        stats = {
            "records": self.records,
            "supervisor_records": self.supervisor_records,
            "nodes": sorted(self._nodes),
            "incarnations": {str(n): s.max_inc for n, s in sorted(self._nodes.items())},
            "terms_seen": len(self._terms),
            "max_term": max(self._terms, default=None),
            "elections": self.events.get("became_candidate", 0),
            "leaders_elected": self.events.get("became_leader", 0),
            "terms_with_leader": len(self._leaders),
            "leaders_per_term": leaders,
            "events": dict(sorted(self.events.items())),
        }
        if self._replication.active:  # election-only runs keep exactly their output
            stats["replication"] = self._replication.stats()
        self.violations.sort(key=lambda v: v.invariant)
        gaps = self.coverage.finish(expect_supervisor_log=self.expect_supervisor_log,
                                    supervisor_records=self.supervisor_records, last_ns=self.last_ns)
        gaps = gaps + replication_gaps
        gaps += self._missing_members(size, gaps)
        if gaps:  # no verdict from part of the evidence: what was seen is counted, not reported
            withheld = len(self.violations) + self.suppressed
            return CheckResult([], stats, size, source, self.warnings, 0, gaps, withheld, self.violations)
        return CheckResult(self.violations, stats, size, source, self.warnings, self.suppressed, gaps)

    def _missing_members(self, size: int | None, gaps: list[Gap]) -> list[Gap]:
        """Members expected (cluster.json, cluster_started, --nodes) that wrote no record. Only without a
        supervisor's spawns: where it logged them, it is the authority on which processes ran (one it never
        spawned cannot have voted), and the coverage judges those it did (a silent spawn is a gap there)."""
        if self.coverage.spawned():
            return []
        if self.expected_members is not None:
            members, source = self.expected_members
        elif self._started_size is not None:
            members, source = set(range(1, self._started_size[0] + 1)), "cluster_started"
        else:
            return []
        told = {g.node for g in gaps}
        missing = sorted(m for m in members if m not in self._nodes and m not in told)
        if not missing:
            return []
        have = sorted(self._nodes)
        return [Gap("missing_member", m, f"node {m}: no records, though {source} names it a member (records here "
                    f"are of node{'s' if len(have) != 1 else ''} {', '.join(map(str, have)) or 'none'}); "
                    f"gather node-{m}.jsonl from its host", None) for m in missing]


def _cluster_json(run_dir: Path) -> tuple[int, bool] | None:
    """(cluster size, supervised) from cluster.json, or None without one. Standalone nodes (`raftzmq node`,
    "spawn": "standalone") have no supervisor, so no supervisor log is expected of them."""
    p = run_dir / "cluster.json"
    if not p.is_file():
        return None
    try:
        doc = json.loads(p.read_text())
        n = doc.get("nodes")
    except (ValueError, AttributeError) as e:
        raise LogFormatError(str(p), f"cannot read cluster size ({e})") from None
    size = len(n) if isinstance(n, list) else n
    if type(size) is not int or size < 1:
        raise LogFormatError(str(p), f"'nodes' must be a positive int, got {n!r}")
    return size, doc.get("spawn") != "standalone"


def _checker_for(run_dir: Path, cluster_size: int | None) -> Checker:
    from_json = _cluster_json(run_dir)
    if from_json is None:
        checker = Checker(cluster_size, size_source="parameter")
        if cluster_size is not None:
            checker.expected_members = (set(range(1, cluster_size + 1)), "--nodes")
        return checker
    checker = Checker(from_json[0], size_source="cluster.json")
    if cluster_size is not None and cluster_size != from_json[0]:
        checker.warnings.append(f"{run_dir / 'cluster.json'} says {from_json[0]} nodes; it wins over the "
                                f"{cluster_size} asked for")
    checker.expect_supervisor_log = from_json[1]  # supervised: only the supervisor says which incarnations ran
    checker.expected_members = (set(range(1, from_json[0] + 1)), "cluster.json")
    return checker


def check_located(run_dir: str | os.PathLike[str], located: Iterable[Located], *, cluster_size: int | None = None,
                  warnings: Iterable[str] = ()) -> CheckResult:
    """check_run over records already read with read_run (so a caller that needs them too reads the run once);
    `warnings` are the reader's (torn last lines)."""
    checker = _checker_for(Path(run_dir), cluster_size)
    for loc in sorted(located, key=lambda loc: (loc.file, loc.line)):  # each file in its own order, as check_run
        checker.feed(loc.record, loc.where)
    result = checker.finish()
    result.warnings[:0] = list(warnings)
    return result


def check_run(run_dir: str | os.PathLike[str], *, cluster_size: int | None = None) -> CheckResult:
    """Check every *.jsonl of a run dir. Cluster size: cluster_started record, else cluster.json, else
    `cluster_size`, else inferred. Raises FileNotFoundError/NotADirectoryError, or LogFormatError (with
    file:line) for a malformed line or a run dir without logs. Torn last lines become result warnings."""
    d = Path(run_dir)
    files = run_files(d)
    if not files:
        raise LogFormatError(str(d), "no *.jsonl log files")
    checker = _checker_for(d, cluster_size)
    torn: list[str] = []
    for p in files:
        for rec, where in iter_records(p, on_warning=torn.append):
            checker.feed(rec, where)
    result = checker.finish()
    result.warnings[:0] = torn
    return result


def render_summary(result: CheckResult, *, max_violations: int = 50, max_terms: int = 10) -> str:
    """A human summary: verdict, violations with locations, then run statistics."""
    s = result.stats
    lines: list[str] = []
    n = len(result.violations) + result.suppressed
    if result.incomplete:
        lines.append(f"INCOMPLETE EVIDENCE: {len(result.incomplete)} gap(s) in the records; no verdict")
        for g in result.incomplete:
            lines.append(f"  {g.message}" + (f"\n      at {g.where}" if g.where else ""))
        if result.withheld:
            lines.append(f"{result.withheld} apparent violation(s) in the partial records are not reported: they "
                         "may be artefacts of what is missing; complete the records for a verdict")
    else:
        lines.append("OK: no safety violations" if result.ok else f"VIOLATIONS: {n}")
    for v in result.violations[:max_violations]:
        lines.append(f"  ({v.invariant}) {v.name}: {v.message}")
        for w in v.where:
            lines.append(f"      at {w}")
    if n > max_violations:
        lines.append(f"  ... {n - max_violations} more (use --json for all that were kept)")
    size_note = "" if result.cluster_size_source != "inferred" else " (inferred from node logs)"
    lines.append(f"cluster size: {result.cluster_size} from {result.cluster_size_source}{size_note}")
    lines.append(f"records: {s['records']} ({s['supervisor_records']} supervisor), nodes: {s['nodes']}")
    incs = ", ".join(f"{k}:{v}" for k, v in s["incarnations"].items())
    lines.append(f"incarnations per node: {incs or '-'}")
    lines.append(f"terms seen: {s['terms_seen']} (max {s['max_term']}), elections started: {s['elections']}, "
                 f"leaders elected: {s['leaders_elected']} in {s['terms_with_leader']} terms")
    per_term = list(s["leaders_per_term"].items())
    if per_term:
        shown = per_term[-max_terms:]
        more = f" (last {len(shown)} of {len(per_term)})" if len(per_term) > len(shown) else ""
        lines.append(f"leaders per term{more}: " + ", ".join(f"{t}:{'/'.join(map(str, ns))}" for t, ns in shown))
    rep = s.get("replication")
    if rep is not None:
        per_node = ", ".join(f"{n}:{rep['commit_index'][n]}/{last}" for n, last in rep["last_index"].items())
        lines.append(f"replication: {rep['records']} records, committed up to {rep['max_commit']}; "
                     f"commit/last index per node: {per_node or '-'}")
    for w in result.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines) + "\n"


def run_check(run_dir: str | os.PathLike[str], as_json: bool, out: TextIO, *,
              cluster_size: int | None = None) -> int:
    """`raftzmq check RUN_DIR [--json]` for one run: 0 clean, 1 violation(s), 2 unreadable input (message names
    path/line), 3 incomplete evidence (records are missing, so no verdict; the output says which)."""
    try:
        result = check_run(run_dir, cluster_size=cluster_size)
    except (LogFormatError, OSError) as e:
        msg = str(e)  # LogFormatError says "file:line: problem"; OSErrors from open name their path
        out.write(json.dumps({"ok": False, "error": msg}) + "\n" if as_json else f"raftzmq: error: {msg}\n")
        return 2
    out.write(result.to_json(indent=2) + "\n" if as_json else render_summary(result))
    return exit_code(result)


def exit_code(result: CheckResult) -> int:
    """0 ok, 1 violation, 3 incomplete (EXIT_INCOMPLETE)."""
    return {"ok": 0, "violation": 1, "incomplete": EXIT_INCOMPLETE}[result.verdict]
