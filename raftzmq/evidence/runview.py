"""What a picture of a run shows, computed once from its merged records: lanes of roles per node, terms and their
leaders, the supervisor's faults as marks, network states as spans, votes as arrows, and the checker's
violations placed on the records that broke an invariant.

Both pictures (the static SVG in timeline.py and the interactive HTML in html.py) draw from this one model, so
they cannot disagree about what happened. The style table below is the single source of their colours and legend.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .checker import CheckResult

__all__ = ["ROLE_STYLE", "MARK_STYLE", "SKEW_STYLE", "Segment", "Mark", "NetSpan", "Arrow", "TermSpan",
           "ViolationMark", "SkewSpan", "RunView", "build_view", "role_segments", "mark_of", "net_label",
           "short_label"]

# state -> (colour, legend text). "down" is a gap (killed or crashed); "stopped" a planned stop.
ROLE_STYLE: dict[str, tuple[str, str]] = {
    "follower": ("#cfd8dc", "follower"),
    "precandidate": ("#ffe082", "pre-candidate (PreVote)"),
    "candidate": ("#ffb74d", "candidate"),
    "leader": ("#43a047", "leader (label: term)"),
    "paused": ("#7e57c2", "paused (SIGSTOP), hatched"),
    "down": ("#ffffff", "down: killed or crashed (gap)"),
    "stopped": ("#eeeeee", "stopped as planned (SIGTERM)"),
}
# mark kind -> (colour, legend text)
MARK_STYLE: dict[str, tuple[str, str]] = {
    "kill": ("#e53935", "kill (SIGKILL)"),
    "stop": ("#616161", "planned stop of a node (SIGTERM)"),
    "cluster_stop": ("#212121", "planned end of the run"),
    "restart": ("#1e88e5", "restart (new incarnation)"),
    "pause": ("#7e57c2", "pause (SIGSTOP)"),
    "resume": ("#b39ddb", "resume (SIGCONT)"),
    "partition": ("#d81b60", "partition / cut links (groups)"),
    "heal": ("#00897b", "heal (network restored)"),
    "net": ("#6d4c41", "net: loss / delay changed"),
    "transfer": ("#fb8c00", "leadership transfer requested"),
    "failed": ("#b71c1c", "node failed (refused / storage fatal / its failpoint fired)"),
    "skew": ("#0097a7", "skew: the node's timers run ×factor (band on its lane)"),
    "failpoint": ("#ff6f00", "failpoint armed (the node SIGKILLs itself there)"),
    "disk": ("#5d4037", "disk fault armed (its next state write fails)"),
    "hint": ("#00c853", "hint pre-vote (the leader's connection closed)"),
    "violation": ("#ff1744", "safety violation (checker)"),
}
# the band a skewed node's lane carries while its timers run fast or slow: (colour, legend text)
SKEW_STYLE = ("#0097a7", "skew band: the node's timers run ×factor (label: the factor)")
_SHORT_LABEL = 18  # characters: a longer label is abbreviated where space is short (the full one in its tooltip)
_ROLE_OF = {"node_started": "follower", "became_follower": "follower", "became_precandidate": "precandidate",
            "became_candidate": "candidate", "became_leader": "leader"}
_KILL_SIGNALS = ("SIGKILL", 9)
_NET_EVENTS = ("partition", "net_changed", "heal")


@dataclass(frozen=True, slots=True)
class Segment:
    start_ns: int
    end_ns: int
    state: str  # a key of ROLE_STYLE
    term: int | None
    index: int = -1  # the record that began it


@dataclass(frozen=True, slots=True)
class Mark:
    at_ns: int
    kind: str  # a key of MARK_STYLE
    node: int  # 0: the whole cluster
    label: str  # short, drawn next to the mark
    detail: str  # everything the record says
    index: int


def short_label(label: str, limit: int = _SHORT_LABEL) -> str:
    """The label cut to `limit` characters with an ellipsis (its full text goes into the tooltip)."""
    return label if len(label) <= limit else label[:limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class SkewSpan:
    node: int
    start_ns: int
    end_ns: int
    factor: float
    index: int  # the fault_injected record

    @property
    def label(self) -> str:
        return f"×{self.factor:g}"


@dataclass(frozen=True, slots=True)
class NetSpan:
    start_ns: int
    end_ns: int
    groups: list[list[int]] | None  # disjoint groups, or per-node views when `views`
    views: bool
    cuts: list[list[int]]  # directed links [from, to] that drop messages
    loss: float
    delay_ms: float
    jitter_ms: float
    index: int

    @property
    def partitioned(self) -> bool:
        return bool(self.groups) or bool(self.cuts)

    @property
    def label(self) -> str:
        fields: dict[str, Any] = {"groups": self.groups, "views": self.views, "cuts": self.cuts}
        if self.loss or self.delay_ms or self.jitter_ms:
            fields.update(loss=self.loss, delay_ms=self.delay_ms, jitter_ms=self.jitter_ms)
        return net_label(fields)

    def group_of(self, node: int) -> int | None:
        """Index of the node's group in a disjoint partition (None for views, cuts only, or no partition)."""
        if self.views or not self.groups:
            return None
        return next((i for i, g in enumerate(self.groups) if node in g), None)


@dataclass(frozen=True, slots=True)
class Arrow:
    at_ns: int
    kind: str  # "vote" | "prevote"
    voter: int
    candidate: int
    term: int
    granted: bool
    index: int


@dataclass(frozen=True, slots=True)
class TermSpan:
    term: int
    start_ns: int
    end_ns: int
    leaders: tuple[int, ...]  # more than one is a violation of (a)


@dataclass(frozen=True, slots=True)
class ViolationMark:
    invariant: str
    name: str
    message: str
    where: tuple[str, ...]
    indexes: tuple[int, ...]  # index of each record named by `where`, -1 if it is not in this view
    at_ns: int | None
    node: int | None


@dataclass(slots=True)
class RunView:
    records: Sequence[dict[str, Any]]
    first_ns: int
    last_ns: int
    nodes: list[int]
    lanes: dict[int, list[Segment]]
    terms: list[TermSpan]
    marks: list[Mark]
    net: list[NetSpan]
    arrows: list[Arrow]
    violations: list[ViolationMark] = field(default_factory=list)
    skews: list[SkewSpan] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------- lanes


class _Lanes:
    """Per node, the state it is in since when; closed states become Segments."""

    def __init__(self) -> None:
        self.current: dict[int, tuple[int, str, int | None, int]] = {}  # node -> (since, state, term, index)
        self.resume_to: dict[int, tuple[str, int | None]] = {}
        self.out: dict[int, list[Segment]] = {}

    def state(self, node: int) -> str | None:
        return self.current[node][1] if node in self.current else None

    def term(self, node: int) -> int | None:
        return self.current[node][2] if node in self.current else None

    def switch(self, node: int, at: int, state: str, term: int | None, index: int) -> None:
        if node in self.current:
            since, old, old_term, old_index = self.current[node]
            if (old, old_term) == (state, term):
                return
            if at > since:
                self.out.setdefault(node, []).append(Segment(since, at, old, old_term, old_index))
        self.current[node] = (at, state, term, index)

    def close(self, last: int) -> dict[int, list[Segment]]:
        for node, (since, state, term, index) in self.current.items():
            if last > since:
                self.out.setdefault(node, []).append(Segment(since, last, state, term, index))
        return self.out


def _lane_node_record(lanes: _Lanes, rec: dict[str, Any], i: int, stopping: bool) -> None:
    event, node = rec["event"], rec["node"]
    if event in _ROLE_OF:
        if lanes.state(node) == "paused":  # a paused node cannot act; resume restores what it logged last
            lanes.resume_to[node] = (_ROLE_OF[event], rec["term"])
        else:
            lanes.switch(node, rec["mono_ns"], _ROLE_OF[event], rec["term"], i)
    elif event == "node_stopping":
        lanes.switch(node, rec["mono_ns"], "stopped", rec["term"], i)
    elif event in ("node_failed", "failpoint_hit"):
        lanes.switch(node, rec["mono_ns"], "stopped" if stopping else "down", rec["term"], i)


def _lane_supervisor_record(lanes: _Lanes, rec: dict[str, Any], i: int, stopping: bool) -> None:
    event, node, at = rec["event"], rec["node"], rec["mono_ns"]
    term = lanes.term(node)
    if event == "node_killed":
        killed = rec.get("signal") in _KILL_SIGNALS and not stopping
        lanes.resume_to.pop(node, None)
        lanes.switch(node, at, "down" if killed else "stopped", term, i)
    elif event == "node_exited" and lanes.state(node) not in ("down", "stopped", None):
        lanes.resume_to.pop(node, None)
        lanes.switch(node, at, "stopped" if stopping else "down", term, i)
    elif event == "node_paused" and node in lanes.current:
        lanes.resume_to[node] = lanes.current[node][1:3]
        lanes.switch(node, at, "paused", term, i)
    elif event == "node_resumed" and node in lanes.resume_to:
        lanes.switch(node, at, *lanes.resume_to.pop(node), i)


def role_segments(records: Sequence[dict[str, Any]]) -> tuple[dict[int, list[Segment]], int, int]:
    """Per node, the time it spent in each state; records merged by mono_ns. Also (first_ns, last_ns).

    A SIGKILL, a crash or an unexpected exit is a gap ("down"); a SIGTERM, `node_stopping`, and everything after
    `cluster_stopping` is a planned stop ("stopped"). A paused node keeps its role underneath the pause.
    """
    lanes = _Lanes()
    stopping = False
    for i, rec in enumerate(records):
        if rec["event"] == "cluster_stopping":
            stopping = True
        if rec["by"] == "node":
            _lane_node_record(lanes, rec, i, stopping)
        elif rec["node"]:
            _lane_supervisor_record(lanes, rec, i, stopping)
    if not records:
        return {}, 0, 0
    first, last = records[0]["mono_ns"], records[-1]["mono_ns"]
    return lanes.close(last), first, last


# ---------------------------------------------------------------------------------------------- marks


def _groups_text(groups: list[Any]) -> str:
    return " | ".join(",".join(map(str, g)) if isinstance(g, list) else str(g) for g in groups)


_LONG_CUTS = 12  # more cut links than this are said by what stays open (a scripted shape), when that is shorter


def _cuts_text(cuts: list[Any]) -> str:
    pairs = [(c[0], c[1]) for c in cuts if isinstance(c, list) and len(c) == 2]
    if len(cuts) > _LONG_CUTS and len(pairs) == len(cuts):
        nodes = sorted({n for p in pairs for n in p}, key=str)
        cut = set(pairs)
        open_ = [(a, b) for a in nodes for b in nodes if a != b and (a, b) not in cut]
        if len(open_) < len(cut):  # "all but" the open links, among the nodes the cuts name (said, not assumed)
            kept = ", ".join(f"{a}→{b}" for a, b in open_) if open_ else "none"
            return f"every link among nodes {','.join(map(str, nodes))} except {kept}"
    return ", ".join(f"{c[0]}→{c[1]}" if isinstance(c, list) and len(c) == 2 else str(c) for c in cuts)


def net_label(rec: dict[str, Any]) -> str:
    """A network record in a few words: groups, cut links, or loss and delay."""
    parts = []
    if rec.get("groups"):
        groups = rec["groups"]
        parts.append("views " + "; ".join(f"{i + 1}:{','.join(map(str, g))}" for i, g in enumerate(groups))
                     if rec.get("views") else _groups_text(groups))
    if rec.get("cuts"):
        parts.append("cut " + _cuts_text(rec["cuts"]))
    if "loss" in rec:
        delay, jitter = round(float(rec.get("delay_ms", 0)), 1), round(float(rec.get("jitter_ms", 0)), 1)
        parts.append(f"loss {float(rec['loss']):.0%} delay {delay:g}±{jitter:g} ms")
    return "; ".join(parts)


def _detail(rec: dict[str, Any]) -> str:
    skip = {"ts", "mono_ns", "by"}
    return " ".join(f"{k}={v}" for k, v in rec.items() if k not in skip)


def mark_of(rec: dict[str, Any], i: int, stopping: bool) -> Mark | None:
    """The mark a supervisor record makes on the picture, or None (node_spawned of a first start, ...)."""
    event, node = rec["event"], rec["node"]
    kind, label = None, ""
    if event == "node_killed" and not stopping:
        kind = "kill" if rec.get("signal") in _KILL_SIGNALS else "stop"
        label = f"{kind} {node}"
    elif event == "cluster_stopping":
        kind, label = "cluster_stop", "stop all"
    elif event == "node_spawned" and rec.get("incarnation", 1) > 1:
        kind, label = "restart", f"restart {node}"
    elif event in ("node_paused", "node_resumed"):
        kind = "pause" if event == "node_paused" else "resume"
        label = f"{kind} {node}"
    elif event == "node_failed":
        if str(rec.get("reason", "")).startswith("failpoint "):
            return None  # the node's own failpoint_hit record is the mark
        kind, label = "failed", f"{node} failed: {rec.get('reason')}"
    elif event == "fault_injected" and rec.get("kind") in ("skew", "failpoint", "disk"):
        kind = str(rec["kind"])
        label = f"skew {node} ×{rec.get('value')}" if kind == "skew" else f"{kind} {node} {rec.get('value')}"
    elif event == "transfer_requested":
        kind, label = "transfer", f"transfer {rec.get('leader')}→{node}"
    elif event in _NET_EVENTS or "cuts" in rec:
        kind = "heal" if event == "heal" else "net" if event == "net_changed" else "partition"
        label = "heal" if event == "heal" else net_label(rec) or "no partition"
    if kind is None:
        return None
    return Mark(rec["mono_ns"], kind, node, label, _detail(rec), i)


def _marks(records: Sequence[dict[str, Any]]) -> list[Mark]:
    out, stopping = [], False
    for i, rec in enumerate(records):
        if rec["event"] == "became_precandidate" and rec.get("hint") is True:  # a campaign started by a hint
            out.append(Mark(rec["mono_ns"], "hint", rec["node"], f"hint {rec['node']}", _detail(rec), i))
        if rec["event"] == "failpoint_hit":  # the node is about to SIGKILL itself
            out.append(Mark(rec["mono_ns"], "failed", rec["node"],
                            f"{rec['node']} failed: failpoint {rec.get('name')}", _detail(rec), i))
        if rec["by"] != "supervisor":
            continue
        stopping = stopping or rec["event"] == "cluster_stopping"
        mark = mark_of(rec, i, stopping)
        if mark is not None:
            out.append(mark)
    return out


# ---------------------------------------------------------------------------------------------- network


_CLEAR: dict[str, Any] = {"groups": None, "views": False, "cuts": [], "loss": 0.0, "delay_ms": 0.0, "jitter_ms": 0.0}


def _next_net(state: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any] | None:
    event = rec["event"]
    if event == "heal":
        new = dict(_CLEAR)
    elif event == "partition":
        new = {**state, "groups": rec.get("groups") or None, "views": bool(rec.get("views"))}
    elif event == "net_changed":
        new = {**state, **{k: float(rec.get(k, 0.0)) for k in ("loss", "delay_ms", "jitter_ms")}}
    elif "cuts" in rec:
        new = dict(state)
        if "groups" in rec:  # link_cut says the groups in force with its cuts (null after `links`: none)
            new["groups"] = rec["groups"] or None
            new["views"] = bool(rec["groups"]) and state.get("views", False)
    else:
        return None
    if "cuts" in rec:
        new["cuts"] = [list(c) for c in rec["cuts"] or []]
    return new


def _net_spans(records: Sequence[dict[str, Any]], last: int) -> list[NetSpan]:
    """Intervals of one network state (partition groups, cut links, loss and delay), from supervisor records."""
    out: list[NetSpan] = []
    state, since, index = dict(_CLEAR), 0, -1
    for i, rec in enumerate(records):
        if rec["by"] != "supervisor":
            continue
        new = _next_net(state, rec)
        if new is None:
            continue
        if state != _CLEAR and rec["mono_ns"] > since:
            out.append(NetSpan(since, rec["mono_ns"], index=index, **state))
        state, since, index = new, rec["mono_ns"], i
    if state != _CLEAR and last > since:
        out.append(NetSpan(since, last, index=index, **state))
    return out


def _skew_spans(records: Sequence[dict[str, Any]], last: int) -> list[SkewSpan]:
    """Per node, the intervals its timers ran skewed: from `fault_injected kind=skew` to the next skew of that
    node, a heal (which clears every node fault) or the end of the run. A factor of 1 is no band."""
    out: list[SkewSpan] = []
    open_: dict[int, tuple[int, float, int]] = {}  # node -> (since, factor, index)

    def close(node: int, at: int) -> None:
        since, factor, index = open_.pop(node)
        if at > since:
            out.append(SkewSpan(node, since, at, factor, index))

    for i, rec in enumerate(records):
        if rec["by"] != "supervisor":
            continue
        if rec["event"] == "heal":
            for node in list(open_):
                close(node, rec["mono_ns"])
        elif rec["event"] == "fault_injected" and rec.get("kind") == "skew":
            node = rec["node"]
            if node in open_:
                close(node, rec["mono_ns"])
            value = rec.get("value")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value != 1:
                open_[node] = (rec["mono_ns"], float(value), i)
    for node in list(open_):
        close(node, last)
    return sorted(out, key=lambda s: (s.start_ns, s.node))


# ---------------------------------------------------------------------------------------------- votes, terms


_VOTE_EVENTS = {"vote_granted": ("vote", True), "vote_denied": ("vote", False),
                "prevote_granted": ("prevote", True), "prevote_denied": ("prevote", False)}


def _arrows(records: Sequence[dict[str, Any]]) -> list[Arrow]:
    out = []
    for i, rec in enumerate(records):
        kind = _VOTE_EVENTS.get(rec["event"]) if rec["by"] == "node" else None
        if kind is not None and rec.get("candidate") != rec["node"]:  # a self-vote is no arrow
            out.append(Arrow(rec["mono_ns"], kind[0], rec["node"], rec["candidate"], rec["term"], kind[1], i))
    return out


def _terms(records: Sequence[dict[str, Any]], last: int) -> list[TermSpan]:
    """The cluster's term over time (the highest any node has reached) and who led each term."""
    starts: list[tuple[int, int]] = []  # (term, start_ns)
    leaders: dict[int, list[int]] = {}
    for rec in records:
        if rec["by"] != "node":
            continue
        term = rec["term"]
        if not starts or term > starts[-1][0]:
            starts.append((term, rec["mono_ns"]))
        if rec["event"] == "became_leader" and rec["node"] not in leaders.setdefault(term, []):
            leaders[term].append(rec["node"])
    ends = [s for _, s in starts[1:]] + [last]
    return [TermSpan(t, s, e, tuple(leaders.get(t, ()))) for (t, s), e in zip(starts, ends)]


def _violations(check: CheckResult | None, wheres: Sequence[str] | None,
                records: Sequence[dict[str, Any]]) -> list[ViolationMark]:
    if check is None:
        return []
    index_of = {w: i for i, w in enumerate(wheres or ())}
    out = []
    for v in check.violations:
        found = tuple(index_of.get(w, -1) for w in v.where)  # aligned with `where`; -1: not in this view
        first = next((records[i] for i in found if i >= 0), None)
        out.append(ViolationMark(v.invariant, v.name, v.message, v.where, found,
                                 first["mono_ns"] if first else None, first["node"] if first else None))
    return out


def build_view(records: Sequence[dict[str, Any]], *, wheres: Sequence[str] | None = None,
               check: CheckResult | None = None) -> RunView:
    """The model of a run's picture. `records` merged by (mono_ns, file, line) as read_run returns them;
    `wheres[i]` is record i's "file:line" (needed to place the checker's violations)."""
    lanes, first, last = role_segments(records)
    nodes = sorted(set(lanes) | {r["node"] for r in records if r["by"] == "node"})
    return RunView(records, first, last, nodes, lanes, _terms(records, last), _marks(records),
                   _net_spans(records, last), _arrows(records), _violations(check, wheres, records),
                   _skew_spans(records, last))
