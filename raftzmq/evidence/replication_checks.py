"""Replication invariants (Raft §5.3-5.4), checked from the replication records of live and simulated runs alike.

The records (docs/log-schema.md, "Replication records") never carry payloads: `log_appended` gives an index range,
its term runs and the chained digest (evidence/logdigest.py) before and after it; `commit_advanced`,
`entries_applied` and `log_loaded` give a digest at one index. From them this module rebuilds, per node, the terms
of every index of its log (as runs: O(1) per batch) and judges:

  (f) log-matching          an (index, term) pair has one digest across all nodes and all times; a term's entries
                            start at one index after one previous term in every log (so equal (index, term) means
                            equal terms before it, even where no two records give a digest at one index); terms
                            never go down within a log; digest 0 is 16 zeros; no holes
  (g) leader-completeness   a leader of term U holds, when it becomes leader, every entry committed in a term < U
                            (commit_advanced / log_loaded of any node), with the same terms
  (h) state-machine-safety  no two nodes commit or apply different entries at one index (terms per committed index,
                            digests of commit_advanced / entries_applied per index); a node applies only committed
                            entries of its own log, each once, in order
  (i) leader-append-only    while a node leads term T, each log_appended starts at its previous last + 1 and holds
                            only entries of term T
  (j) commit-monotonic      within an incarnation the commit index never goes back (nor below what it loaded), and
                            never passes the node's last index
  (k) committed-never-lost  a node never drops an entry it knew committed (a replacement at or below its commit
                            index, or a restart that loads less); and no node drops an entry committed in a term at
                            or below the term it was in before the drop (see "Losses" in docs/log-schema.md)

Per record the work is O(1) plus O(log n) lookups and O(runs) for term runs; digests go into one dict keyed by
(index, term). The cross-node parts of (g) and (k) run in `finish()`.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .coverage import Gap
from .logdigest import ZERO

__all__ = ["REPLICATION_INVARIANTS", "WATCHED_EVENTS", "RunLog", "ReplicationChecks"]

REPLICATION_INVARIANTS = {
    "f": "log-matching",
    "g": "leader-completeness",
    "h": "state-machine-safety",
    "i": "leader-append-only",
    "j": "commit-monotonic",
    "k": "committed-never-lost",
}
_REPLICATION = frozenset({"log_appended", "commit_advanced", "entries_applied", "log_loaded", "log_tail_cut"})
# What makes a run "replicated" (stats, the log_loaded rule); a lone log_tail_cut (recovery) does not.
_ACTIVATING = _REPLICATION - {"log_tail_cut"}
_NOT_LEADING = frozenset({"became_follower", "stepped_down", "became_candidate", "became_precandidate"})
# Records whose meaning depends on the node's log (its up-to-date check, its entries): in a run with replication
# records, an incarnation that writes one of them before its log_loaded leaves the checker guessing its log.
_NEEDS_LOG = frozenset({"log_appended", "commit_advanced", "entries_applied", "became_leader", "vote_granted",
                        "prevote_granted"})
WATCHED_EVENTS = _REPLICATION | _NOT_LEADING | _NEEDS_LOG | {"node_started"}

Violate = Callable[..., None]  # (letter, message, *where)


class RunLog:
    """The terms of a log 1..last as runs (start index, term); term 0 stands for "not known to the checker"."""

    __slots__ = ("starts", "terms", "last")

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.terms: list[int] = []
        self.last = 0

    @classmethod
    def from_runs(cls, runs: list[list[int]], first: int = 1) -> RunLog:
        log = cls()
        log.last = first - 1
        for term, count in runs:
            log.push(term, count)
        return log

    def copy(self) -> RunLog:
        log = RunLog()
        log.starts, log.terms, log.last = self.starts[:], self.terms[:], self.last
        return log

    def term_at(self, i: int) -> int | None:
        """The term at index i, 0 if unknown, None outside 1..last."""
        if not 1 <= i <= self.last:
            return None
        return self.terms[bisect_right(self.starts, i) - 1]

    def push(self, term: int, count: int) -> None:
        if self.terms and self.terms[-1] == term:
            self.last += count
            return
        self.starts.append(self.last + 1)
        self.terms.append(term)
        self.last += count

    def truncate(self, keep: int) -> None:
        """Keep indexes 1..keep."""
        if keep >= self.last:
            return
        k = bisect_right(self.starts, keep)
        del self.starts[k:], self.terms[k:]
        self.last = keep

    def runs(self, a: int, b: int) -> Iterator[tuple[int, int, int]]:
        """(start, end, term) of the runs over a..b, clipped to it and to the log."""
        b = min(b, self.last)
        if a > b:
            return
        k = max(bisect_right(self.starts, a) - 1, 0)
        n = len(self.starts)
        while k < n and self.starts[k] <= b:
            end = self.starts[k + 1] - 1 if k + 1 < n else self.last
            yield max(a, self.starts[k]), min(b, end), self.terms[k]
            k += 1


def first_difference(x: RunLog, y: RunLog, a: int, b: int) -> int | None:
    """The first index in a..b (within both logs) where both know the term and the terms differ."""
    for s, e, t in x.runs(a, min(b, y.last)):
        if not t:
            continue
        for s2, _e2, t2 in y.runs(s, e):
            if t2 and t2 != t:
                return s2
    return None


def _lost_from(old: RunLog, new: RunLog, a: int) -> int | None:
    """The first index >= a that `old` holds and `new` does not (a different term, or beyond new's end)."""
    p = first_difference(old, new, a, old.last)
    if p is not None:
        return p
    return new.last + 1 if new.last < old.last else None


@dataclass(slots=True)
class _Loss:
    node: int
    index: int
    term: int
    floor: int  # the node's term before the drop was at least this (the term of its last append before it)
    where: str
    known: bool  # already reported: the node itself knew the entry committed


class _RNode:
    __slots__ = ("inc", "log", "has_model", "commit", "claimed", "known_commit", "known_where", "applied",
                 "leading", "floor", "awaiting", "started", "tail_cuts", "commit_where")

    def __init__(self) -> None:
        self.inc = 0
        self.log = RunLog()
        self.has_model = False  # some record has told what this node's log holds
        self.commit = 0  # this incarnation's commit index
        self.commit_where = ""
        self.claimed = 0  # this incarnation's commit index as compared with the other nodes' (h)
        self.known_commit = 0  # the highest commit index the node ever logged (any incarnation)
        self.known_where = ""
        self.applied = 0  # this incarnation's last applied index (0: none yet)
        self.leading: int | None = None  # the term it leads, while it does
        self.floor = 0  # term of its last log_appended / log_loaded record
        self.awaiting = False  # started, log_loaded not seen yet
        self.started = False
        self.tail_cuts: list[str] = []


class ReplicationChecks:
    """Fed by the Checker with every node record whose event is in WATCHED_EVENTS (file order per node);
    `finish()` runs the cross-node checks and returns the evidence gaps."""

    def __init__(self, violate: Violate, warn: Callable[[str], None]) -> None:
        self._violate, self._warn = violate, warn
        self.active = False  # a replication record was seen: this run replicates
        self.records = 0
        self._nodes: dict[int, _RNode] = {}
        self._digests: dict[tuple[int, int], tuple[str, str]] = {}  # (index, term) -> (digest, where)  (f)
        self._anchors: dict[int, tuple[int, int, str]] = {}  # term -> (first index, previous term, where)  (f)
        self._committed = RunLog()  # terms of the committed prefix, from every node's claims  (h)
        self._committed_where: list[str] = []  # per run of _committed: the record that first claimed it
        self._committed_digests: dict[int, tuple[str, str]] = {}  # index -> (digest, where)  (h)
        self._claims: list[tuple[int, int, str]] = []  # (term the commit was known in, commit index, where)
        self._leaders: list[tuple[int, int, RunLog, str]] = []  # (term, node, log when it became leader, where)
        self._losses: list[_Loss] = []
        self._missing_load: list[tuple[int, int, str]] = []  # (node, incarnation, where)
        self._handlers: dict[str, Callable[[_RNode, dict[str, Any], str], None]] = {
            "log_appended": self._appended, "commit_advanced": self._commit, "entries_applied": self._applied,
            "log_loaded": self._loaded, "log_tail_cut": self._tail_cut, "became_leader": self._leader,
            "node_started": self._started,
        }

    # ---------------------------------------------------------------------------------------------- feeding

    def feed(self, rec: dict[str, Any], where: str) -> None:
        node, inc, event = rec["node"], rec["incarnation"], rec["event"]
        ns = self._nodes.get(node)
        if ns is None:
            ns = self._nodes[node] = _RNode()
        if inc != ns.inc:
            ns.inc, ns.commit, ns.claimed, ns.applied, ns.leading = inc, 0, 0, 0, None
            ns.awaiting, ns.started, ns.tail_cuts = True, False, []
        if event in _REPLICATION:
            self.active = self.active or event in _ACTIVATING
            self.records += 1
        if ns.awaiting and event in _NEEDS_LOG:
            ns.awaiting = False  # go on with the log as the last incarnation left it: a guess, hence a gap
            if ns.started:
                self._missing_load.append((node, inc, where))
        if event in _NOT_LEADING:
            ns.leading = None
            return
        handler = self._handlers.get(event)
        if handler is not None:
            handler(ns, rec, where)

    def _started(self, ns: _RNode, rec: dict[str, Any], where: str) -> None:
        ns.started = True

    def _tail_cut(self, ns: _RNode, rec: dict[str, Any], where: str) -> None:
        ns.tail_cuts.append(where)

    def _leader(self, ns: _RNode, rec: dict[str, Any], where: str) -> None:
        ns.leading = rec["term"]
        if ns.has_model:
            self._leaders.append((rec["term"], rec["node"], ns.log.copy(), where))

    # (f) ------------------------------------------------------------------------------------------------

    def _digest_at(self, ns: _RNode, node: int, i: int, digest: str, where: str) -> None:
        if i == 0:
            if digest != ZERO:
                self._violate("f", f"node {node}: digest {digest} at index 0, where the chain starts at {ZERO}",
                              where)
            return
        term = ns.log.term_at(i)
        if not term:
            return
        seen = self._digests.get((i, term))
        if seen is None:
            self._digests[(i, term)] = (digest, where)
        elif seen[0] != digest:
            self._violate("f", f"node {node}: entry {i} of term {term} has digest {digest}, elsewhere {seen[0]}: "
                               f"two logs hold different entries up to one (index, term)", where, seen[1])

    def _extend(self, ns: _RNode, node: int, runs: list[list[int]], where: str) -> None:
        """Append term runs to the node's log, checking terms never go down and each term's anchor."""
        log = ns.log
        prev = log.term_at(log.last) or 0
        for term, count in runs:
            if prev and term < prev:
                self._violate("f", f"node {node}: entry {log.last + 1} has term {term} after an entry of term "
                                   f"{prev}: terms go down in its log", where)
            if term != prev:
                self._anchor(node, term, log.last + 1, prev, where)
            log.push(term, count)
            prev = term

    def _anchor(self, node: int, term: int, start: int, prev: int, where: str) -> None:
        if not prev and start > 1:
            return  # the term before it is not known to the checker
        seen = self._anchors.get(term)
        if seen is None:
            self._anchors[term] = (start, prev, where)
        elif seen[:2] != (start, prev):
            self._violate("f", f"node {node}: term {term} starts at index {start} after term {prev}; elsewhere it "
                               f"starts at {seen[0]} after term {seen[1]}: the logs disagree before an entry of "
                               f"term {term}", where, seen[2])

    # log_appended ----------------------------------------------------------------------------------------

    def _appended(self, ns: _RNode, rec: dict[str, Any], where: str) -> None:
        node, term, first, last, runs = rec["node"], rec["term"], rec["first"], rec["last"], rec["terms"]
        log = ns.log
        old_last = log.last
        if ns.leading is not None and ns.leading != term:
            ns.leading = None
        if ns.leading is not None:  # (i)
            if first != old_last + 1:
                what = "replaced its entries from" if first <= old_last else "left a hole before"
                self._violate("i", f"node {node}, leader of term {term}, {what} index {first}: it appended "
                                   f"{first}..{last} to a log ending at {old_last}", where)
            others = sorted({t for t, _ in runs if t != term})
            if others:
                self._violate("i", f"node {node}, leader of term {term}, appended entries of term(s) {others}",
                              where)
        if first > old_last + 1:
            if ns.has_model:
                self._violate("f", f"node {node}: appended {first}..{last} to a log ending at {old_last}: a hole",
                              where)
            log.push(0, first - 1 - old_last)
        elif first <= old_last:
            new = RunLog.from_runs(runs, first)
            lost = _lost_from(log, new, first)
            if lost is not None:
                self._lose(ns, node, lost, log.term_at(lost) or 0, ns.floor, where,
                           f"replaced entries {lost}..{old_last}")
            log.truncate(first - 1)
        ns.has_model = True
        self._extend(ns, node, runs, where)
        self._digest_at(ns, node, first - 1, rec["prev_digest"], where)
        self._digest_at(ns, node, last, rec["digest"], where)
        ns.floor = max(ns.floor, term)

    def _lose(self, ns: _RNode, node: int, index: int, term: int, floor: int, where: str, what: str) -> None:
        known = index <= ns.known_commit
        if known:
            self._violate("k", f"node {node} {what}, though it knew entries up to {ns.known_commit} committed",
                          where, ns.known_where)
        if term:
            self._losses.append(_Loss(node, index, term, floor, where, known))

    # commit_advanced / entries_applied / log_loaded -----------------------------------------------------

    def _commit(self, ns: _RNode, rec: dict[str, Any], where: str) -> None:
        node, c = rec["node"], rec["commit"]
        if c < ns.commit:
            self._violate("j", f"node {node} incarnation {ns.inc}: commit index went back from {ns.commit} to {c}",
                          where, ns.commit_where)
        elif ns.has_model and c > ns.log.last:
            self._violate("j", f"node {node}: commit index {c} beyond its last index {ns.log.last}", where)
        else:
            self._digest_at(ns, node, c, rec["digest"], where)
            self._committed_digest(node, c, rec["digest"], where)
            self._claim(ns, node, rec["term"], c, where)
        if c > ns.commit:
            ns.commit, ns.commit_where = c, where
        self._know(ns, c, where)

    def _know(self, ns: _RNode, c: int, where: str) -> None:
        if c > ns.known_commit:
            ns.known_commit, ns.known_where = c, where

    def _claim(self, ns: _RNode, node: int, term: int, c: int, where: str) -> None:
        """Node says 1..c are committed (known in `term`): its terms there must be the committed ones (h)."""
        if ns.has_model and c > ns.claimed:
            g = self._committed
            p = first_difference(ns.log, g, ns.claimed + 1, c)
            if p is not None:
                k = bisect_right(g.starts, p) - 1
                self._violate("h", f"node {node} committed entry {p} of term {ns.log.term_at(p)}, but entry {p} of "
                                   f"term {g.term_at(p)} was committed elsewhere", where, self._committed_where[k])
            for s, e, t in ns.log.runs(g.last + 1, c):
                before = len(g.starts)
                g.push(t, e - s + 1)
                if len(g.starts) > before:
                    self._committed_where.append(where)
            ns.claimed = c
        if c:
            self._claims.append((term, c, where))

    def _committed_digest(self, node: int, i: int, digest: str, where: str) -> None:
        seen = self._committed_digests.get(i)
        if seen is None:
            self._committed_digests[i] = (digest, where)
        elif seen[0] != digest:
            self._violate("h", f"node {node}: committed entries up to {i} have digest {digest}, elsewhere "
                               f"{seen[0]}: two nodes commit or apply different entries at or below index {i}",
                          where, seen[1])

    def _applied(self, ns: _RNode, rec: dict[str, Any], where: str) -> None:
        node, first, last = rec["node"], rec["first"], rec["last"]
        if ns.applied and first != ns.applied + 1:
            self._violate("h", f"node {node} applied {first}..{last} after applying up to {ns.applied}: entries "
                               f"applied twice or skipped", where)
        if last > ns.commit:
            self._violate("h", f"node {node} applied {first}..{last} beyond its commit index {ns.commit}", where)
        elif ns.has_model and last > ns.log.last:
            self._violate("h", f"node {node} applied {first}..{last} beyond its last index {ns.log.last}", where)
        else:
            self._digest_at(ns, node, last, rec["digest"], where)
            self._committed_digest(node, last, rec["digest"], where)
        ns.applied = max(ns.applied, last)

    def _loaded(self, ns: _RNode, rec: dict[str, Any], where: str) -> None:
        node, last, commit, term = rec["node"], rec["last"], rec["commit"], rec["term"]
        ns.awaiting = False
        new = RunLog.from_runs(rec["terms"])
        if ns.has_model:
            old = ns.log
            lost = _lost_from(old, new, 1)
            if lost is not None:
                cut = f" (log_tail_cut at {', '.join(ns.tail_cuts)})" if ns.tail_cuts else ""
                what = (f"restarted (incarnation {ns.inc}) without entries {lost}..{old.last} that it had logged "
                        f"as durably appended{cut}")
                if lost > ns.known_commit:
                    self._warn(f"{where}: node {node} {what}; it did not know them committed (a replacement in "
                               f"flight at the crash, or a lost write)")
                self._lose(ns, node, lost, old.term_at(lost) or 0, ns.floor, where, what)
        ns.log, ns.has_model = RunLog(), True
        self._extend(ns, node, rec["terms"], where)
        self._digest_at(ns, node, last, rec["digest"], where)
        if commit > last:
            self._violate("j", f"node {node} loaded commit index {commit} beyond its last index {last}", where)
        else:
            if commit == last:
                self._committed_digest(node, commit, rec["digest"], where)
            self._claim(ns, node, term, commit, where)
        ns.commit, ns.commit_where = commit, where
        self._know(ns, commit, where)
        ns.floor = max(ns.floor, term)

    # ---------------------------------------------------------------------------------------------- finish

    def _committed_by_term(self) -> tuple[list[int], list[tuple[int, str]]]:
        """Terms sorted, and per term the highest commit index known in that term or an earlier one."""
        terms: list[int] = []
        best: list[tuple[int, str]] = []
        top = (0, "")
        for term, c, where in sorted(self._claims, key=lambda x: (x[0], x[1])):
            if c > top[0]:
                top = (c, where)
            if terms and terms[-1] == term:
                best[-1] = top
            else:
                terms.append(term)
                best.append(top)
        return terms, best

    def finish(self) -> list[Gap]:
        terms, best = self._committed_by_term()

        def committed_through(term: int) -> tuple[int, str]:
            k = bisect_right(terms, term) - 1
            return best[k] if k >= 0 else (0, "")

        g = self._committed
        for term, node, log, where in self._leaders:  # (g)
            c, c_where = committed_through(term - 1)
            if not c:
                continue
            if log.last < c:
                self._violate("g", f"node {node} became leader of term {term} with a log ending at {log.last}, "
                                   f"but entries up to {c} were committed in an earlier term", where, c_where)
                continue
            p = first_difference(log, g, 1, c)
            if p is not None:
                self._violate("g", f"node {node} became leader of term {term} holding entry {p} of term "
                                   f"{log.term_at(p)}, but entry {p} of term {g.term_at(p)} was committed in an "
                                   f"earlier term", where, c_where)
        for loss in self._losses:  # (k), across nodes
            if loss.known:
                continue
            c, c_where = committed_through(loss.floor)
            if c >= loss.index and g.term_at(loss.index) == loss.term:
                self._violate("k", f"node {loss.node} lost entry {loss.index} of term {loss.term}, committed in "
                                   f"term {loss.floor} or earlier (no leader of its term or later can replace it)",
                              loss.where, c_where)
        if not self.active:
            return []
        return [Gap("missing_log_loaded", node, f"node {node} incarnation {inc}: no log_loaded before its first "
                    f"record that depends on its log, so what its log held is unknown", where)
                for node, inc, where in self._missing_load]

    def stats(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "max_commit": self._committed.last,
            "last_index": {str(n): s.log.last for n, s in sorted(self._nodes.items()) if s.has_model},
            "commit_index": {str(n): s.commit for n, s in sorted(self._nodes.items()) if s.has_model},
        }
