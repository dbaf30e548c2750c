"""`raftzmq scenario figure8 --live`: the paper's Figure 8 on real processes (5 nodes, one OS process each).

The simulator version (figure8.py) kills the new leader "the moment it commits"; between processes that would be
a race. Here every step waits for what the nodes' own records say, with a deadline, and one-way cuts decide who
hears whom, so the only timing the script relies on is one the cluster is configured with: a leader tells its
followers a new commit index only in its next heartbeat (core.py `_broadcast_heartbeat`), `HEARTBEAT_MS` after it
took office. The script cuts the new leader's outgoing links as soon as its followers' records show they answered
it, which takes milliseconds; the margin is the heartbeat interval. Whether the cut came in time is checked, not
assumed: if a follower learned the commit first, the attempt is spoiled, said so, and run again from scratch in a
new cluster (at most `attempts` times). Measured (session 3, load 4-13 on 2 cores): 22 runs (11 per core), none
spoiled, every one the expected verdict; the cut was in force at the leader 4-44 ms (median 11) after it took
office, against the 400 ms margin.

Names follow the paper: A ("S1") leads first, B ("S2") stores X with it, E ("S5") takes Y, C ("S3") gets X later.
  0. 5 nodes, PreVote and CheckQuorum off (as in the paper), W proposed and applied everywhere (index w).
  1. Cut {A, B} | {C, D, E}; X to A: A and B store X at i = w + 1 (term T), never committed (2 of 5).
  2. {C, D, E} elect a leader, E (term T' > T). E alone is cut off; Y to E: Y (term T') at i on E only. Kill E.
  3. A, B and C hear each other, D nobody. A or B ("L", its log ends at X) wins a term T'' > T' and sends X to
     C. Once C stored X (its log_appended) and the other of A/B answered L (its became_follower), L's outgoing
     links are cut: the acknowledgements still reach L, its heartbeats reach nobody. The mutant (no no-op,
     commits the highest index on a majority) now commits X at i and applies it; the built-in core appended a
     no-op of T'' and commits X through it. Either way L is killed once it applied i; B and C never learnt it.
  4. E restarts with Y; it hears B, C and D, and they hear only E (so only E can gather a majority). Against the
     mutant's logs (X of term T last) Y's term T' is newer: E wins, gets Z, replaces X with Y and commits: the
     others apply Y at i where L applied X. Against the built-in core's logs (the no-op of T'' last) E's log is
     older: B and C deny it `log_behind`; then the links heal and the cluster carries on.
Then the cluster stops and the checker reads its records: (h) state-machine-safety for the mutant (exit 1), clean
for the built-in core (exit 0).
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raftzmq.evidence.checker import CheckResult, check_run
from raftzmq.evidence.logfile import LogTail
from raftzmq.lab.live.cli_driver import detached_cluster
from raftzmq.runtime.cluster.control import ControlClient
from raftzmq.runtime.cluster.propose import ClientSockets, propose, read_client_endpoints
from raftzmq.runtime.cluster.rundir import RunDir
from raftzmq.runtime.cluster.waiting import wait_until

__all__ = ["LiveFigure8Result", "Spoiled", "figure8_live", "HEARTBEAT_MS", "ELECTION_MS", "ATTEMPTS"]

HEARTBEAT_MS = 400  # the margin for the one cut that races the cluster (see the docstring)
ELECTION_MS = "1200-2400"
ATTEMPTS = 3
STEP_TIMEOUT_S = 30.0  # every wait is bounded by this (several elections on a loaded machine)
POLL_S = 0.003


class Spoiled(RuntimeError):
    """This attempt cannot show what it should (a cut came too late); a fresh cluster may."""


@dataclass
class LiveFigure8Result:
    core: str
    run_dir: str
    steps: list[str] = field(default_factory=list)
    attempts: int = 0
    spoiled: list[str] = field(default_factory=list)  # why each spoiled attempt was given up
    completed: bool = False
    e_won: bool | None = None  # step 4: did the node with Y win
    checks: list[tuple[str, CheckResult]] = field(default_factory=list)  # (attempt dir, its verdict) each

    @property
    def check(self) -> CheckResult | None:
        """The verdict of the last attempt (the completed one, unless all were spoiled)."""
        return self.checks[-1][1] if self.checks else None

    @property
    def ok(self) -> bool:
        """Every attempt's records are clean (as `raftzmq check RUN_DIR` judges the attempts each)."""
        return bool(self.checks) and all(c.ok for _, c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {"core": self.core, "run_dir": self.run_dir, "live": True, "ok": self.ok, "completed": self.completed,
                "attempts": self.attempts, "spoiled": self.spoiled, "e_won": self.e_won, "steps": self.steps,
                "checks": {Path(d).name: c.to_dict() for d, c in self.checks},
                "violations": [v.to_dict() for _, c in self.checks for v in c.violations]}


class _Nodes:
    """What the records say of each node now: its log's terms, commit, applied, leadership, net version."""

    def __init__(self, run_dir: Path) -> None:
        self.tail = LogTail(run_dir)
        self.terms: dict[int, list[int]] = {}
        self.commit: dict[int, int] = {}
        self.applied: dict[int, int] = {}
        self.incarnation: dict[int, int] = {}
        self.leaders: list[tuple[int, int]] = []  # (node, term) of every became_leader
        self.follows: dict[int, tuple[int, int | None]] = {}  # node -> (term, leader) of its last became_follower
        self.net_version: dict[int, int] = {}
        self.denied: list[dict[str, Any]] = []
        self.term: dict[int, int] = {}

    def poll(self) -> None:
        for loc in self.tail.poll():
            self._feed(loc.record)

    def _feed(self, r: dict[str, Any]) -> None:
        if r.get("by") != "node":
            return
        n, ev = r["node"], r["event"]
        self.term[n] = max(self.term.get(n, 0), r.get("term") or 0)
        if ev == "node_started":
            self.incarnation[n] = r.get("incarnation", 1)
            self.applied[n] = 0
            self.follows.pop(n, None)
            self.terms.pop(n, None)  # known again from this incarnation's log_loaded
        elif ev == "log_loaded":
            self.terms[n] = [t for t, count in r["terms"] for _ in range(count)]
            self.commit[n] = r["commit"]
        elif ev == "log_appended":
            log = self.terms.setdefault(n, [])
            del log[r["first"] - 1:]
            log += [t for t, count in r["terms"] for _ in range(count)]
        elif ev == "commit_advanced":
            self.commit[n] = r["commit"]
        elif ev == "entries_applied":
            self.applied[n] = r["last"]
        elif ev == "became_leader":
            self.leaders.append((n, r["term"]))
        elif ev == "became_follower":
            self.follows[n] = (r["term"], r.get("leader"))
        elif ev == "net_applied":
            self.net_version[n] = r.get("version", 0)
        elif ev == "vote_denied":
            self.denied.append({**r, "incarnation_now": self.incarnation.get(n)})

    def term_at(self, n: int, index: int) -> int | None:
        log = self.terms.get(n, [])
        return log[index - 1] if 0 < index <= len(log) else None

    def last(self, n: int) -> int:
        return len(self.terms.get(n, []))

    def leader_after(self, among: Iterable[int], term: int) -> tuple[int, int] | None:
        found = [(t, n) for n, t in self.leaders if n in among and t > term]
        return (max(found)[1], max(found)[0]) if found else None


class _Attempt:
    def __init__(self, run_dir: Path, client: ControlClient, out: LiveFigure8Result,
                 say: Callable[[str], None]) -> None:
        self.run_dir, self.client, self.out, self.say_ = run_dir, client, out, say
        self.nodes = _Nodes(run_dir)
        self.endpoints = read_client_endpoints(RunDir(run_dir).read_cluster())
        self.ids = sorted(self.endpoints)
        self.down: set[int] = set()
        self._links = False  # explicit cuts are in force (set by `links`, cleared by `heal`)
        self.t0 = time.monotonic()

    def say(self, text: str) -> None:
        line = f"{time.monotonic() - self.t0:7.2f}s  {text}"
        self.out.steps.append(line)
        self.say_(line)

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float = STEP_TIMEOUT_S) -> Any:
        def probe() -> Any:
            self.nodes.poll()
            return predicate()
        value = wait_until(probe, timeout, interval=POLL_S)
        if not value:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        return value

    def hear(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Exactly these directed links carry messages (every other is cut); wait until every running node
        applied the new network state (net_applied), so nothing that follows runs under the old one. A state
        that is disjoint groups goes as a `partition` (its pictures show the groups), everything open as `heal`,
        any other as `links` (an explicit set of cut links)."""
        allowed = set(pairs)
        cuts = [[a, b] for a in self.ids for b in self.ids if a != b and (a, b) not in allowed]
        groups = _groups(self.ids, allowed)
        if not cuts:
            reply = self.client.request("heal")
            self._links = False
        elif groups is not None and not self._links:  # (a partition keeps earlier explicit cuts)
            reply = self.client.request("partition", groups=groups)
        else:
            reply = self.client.request("links", cuts=cuts)
            self._links = True
        version = reply["net"]["version"]
        up = [n for n in self.ids if n not in self.down]
        self.wait(f"nodes {up} to apply network version {version}",
                  lambda: all(self.nodes.net_version.get(n, -1) >= version for n in up))

    def propose_to(self, node: int, data: bytes) -> None:
        """Hand `data` to `node`'s client endpoint without waiting for a commit (it may never come)."""
        socks = ClientSockets(self.endpoints)
        try:
            socks.send(node, "propose", data)
            for _, resp in socks.recv(time.monotonic() + 0.2):
                if resp.status != "ok":  # an answer this soon is a refusal (an accepted one waits for its commit)
                    raise RuntimeError(f"node {node} refused the proposal: {resp.status} {resp.message}")
        finally:
            socks.close()

    def kill(self, node: int) -> None:
        self.client.request("kill", ids=[node])
        self.down.add(node)

    def restart(self, node: int) -> None:
        before = self.nodes.incarnation.get(node, 0)
        self.client.request("restart", ids=[node])
        self.down.discard(node)
        self.wait(f"node {node} to restart and load its log", lambda: self.nodes.incarnation.get(node, 0) > before
                  and node in self.nodes.terms)

    def run(self) -> bool:
        """The script; True when the node with Y won step 4."""
        nodes, ids = self.nodes, self.ids
        # 0. a first entry on every node
        res = propose(self.endpoints, b"W", 10.0)
        if not res.committed:
            raise TimeoutError(f"the first proposal was not committed: {res.reason}")
        w = res.index
        self.wait(f"every node to apply index {w}", lambda: all(nodes.applied.get(n, 0) >= w and nodes.last(n) == w
                                                                 for n in ids))
        a, t = res.node, res.term
        assert a is not None
        b = min(n for n in ids if n != a)
        rest = [n for n in ids if n not in (a, b)]
        i = w + 1
        self.say(f"0. node {a} leads term {t}; W is applied at index {w} on every node")
        # 1. X on A and B only
        self.hear(_within([a, b], rest))
        self.propose_to(a, b"X")
        self.wait(f"nodes {a} and {b} to store X at index {i}",
                  lambda: nodes.term_at(a, i) == t and nodes.term_at(b, i) == t)
        self.say(f"1. cut {{{a}, {b}}} | {rest}; S1 = node {a} takes X at index {i} (term {t}): only node {b} "
                 "stores it (2 of 5: not committed)")
        # 2. the majority side's leader takes Y alone, and is killed
        e, t2 = self.wait(f"one of {rest} to lead a term above {t}", lambda: nodes.leader_after(rest, t))
        c, d = [n for n in rest if n != e]
        self.hear(_within([a, b], [c, d]))
        self.propose_to(e, b"Y")
        self.wait(f"node {e} to store Y at index {i}", lambda: nodes.term_at(e, i) == t2)
        self.kill(e)
        self.say(f"2. S5 = node {e} leads term {t2} on the majority side; cut off alone, it takes Y at index {i} "
                 f"(term {t2}) and is killed: Y is on node {e} alone")
        # 3. A or B leads a later term and commits index i: nobody else may learn it
        self.hear(_within([a, b, c]))
        def answered() -> tuple[int, int] | None:
            """The latest leader among A and B, once C stored X from it and the other answered it (a leader that
            lost its term before that is simply replaced by the next one)."""
            latest = nodes.leader_after([a, b], t2)
            if latest is None or nodes.leader_after([a, b, c, d, e], latest[1]) is not None:
                return None
            lead, term = latest
            answer = nodes.follows.get(b if lead == a else a) == (term, lead)
            return latest if answer and nodes.term_at(c, i) == t and nodes.term.get(c) == term else None
        lead, t3 = self.wait(f"node {a} or {b} to lead a term above {t2}, node {c} to store X from it and the "
                             "other to answer it", answered)
        other = b if lead == a else a
        self.hear((x, lead) for x in (other, c))  # L's acknowledgements come in; nothing of L's goes out
        cut_at = time.monotonic()
        self.wait(f"node {lead} to apply index {i}", lambda: nodes.applied.get(lead, 0) >= i, timeout=10.0)
        self.kill(lead)
        nodes.poll()
        knew = [n for n in (other, c) if nodes.commit.get(n, 0) >= i]
        if knew:
            raise Spoiled(f"node(s) {knew} learnt commit {i} from node {lead} before its links were cut "
                          f"(the cut took longer than the {HEARTBEAT_MS} ms heartbeat)")
        self.say(f"3. node {lead} leads term {t3}; node {c} stores X from it; node {lead}'s outgoing links cut "
                 f"({(cut_at - self.t0):.2f}s); it commits index {i} (commit {nodes.commit.get(lead)}), applies it "
                 f"and is killed: nodes {other} and {c} never learnt the commit")
        # 4. E comes back with Y; B, C, D hear only E
        others = [other, c, d]
        self.hear([(e, x) for x in others] + [(x, e) for x in others])
        self.restart(e)
        inc = nodes.incarnation[e]
        self.say(f"4. S5 (node {e}) restarts with Y at index {i}; nodes {others} hear only node {e}")

        def outcome() -> str | None:
            if nodes.leader_after([e], t3):
                return "won"
            refused = {r["node"] for r in nodes.denied if r.get("candidate") == e and r.get("reason") == "log_behind"
                       and r["term"] > t3 and r["node"] in (other, c)}
            return "lost" if refused == {other, c} else None
        result = self.wait(f"node {e} to win, or nodes {other} and {c} to refuse it", outcome)
        if result == "won":
            _, t4 = nodes.leader_after([e], t3) or (e, 0)
            self.propose_to(e, b"Z")
            applied = self.wait(f"a node to apply index {i} from node {e}",
                                lambda: [n for n in others if nodes.applied.get(n, 0) >= i])
            self.say(f"5. node {e} leads term {t4} (incarnation {inc}), takes Z, and nodes {applied} apply "
                     f"index {i}: Y, where node {lead} applied X")
            return True
        self.say(f"5. S5 could not win: nodes {other} and {c} refused it (log_behind: their logs end in term "
                 f"{t3}); the links heal")
        self.hear((x, y) for x in ids for y in ids if x != y)
        res = propose(self.endpoints, b"Z", STEP_TIMEOUT_S)
        if not res.committed:
            raise TimeoutError(f"Z was not committed after the heal: {res.reason}")
        self.wait(f"the running nodes to apply index {res.index}",
                  lambda: all(nodes.applied.get(n, 0) >= res.index for n in ids if n not in self.down))
        self.say(f"6. node {res.node} leads term {res.term}; Z committed at index {res.index} and applied by "
                 "every running node")
        return False


def _groups(ids: list[int], allowed: set[tuple[int, int]]) -> list[list[int]] | None:
    """`allowed` as disjoint groups (every link within a group open both ways, none between), else None."""
    groups: list[list[int]] = []
    for n in ids:
        home = next((g for g in groups if (g[0], n) in allowed), None)
        if home is None:
            groups.append([n])
        else:
            home.append(n)
    same = {(a, b) for g in groups for a, b in itertools.permutations(g, 2)}
    return groups if same == allowed else None


def _within(*groups: list[int]) -> list[tuple[int, int]]:
    return [(x, y) for g in groups for x, y in itertools.permutations(g, 2)]


def figure8_live(run_dir: Path, core: str = "builtin", *, log: Callable[[str], None] = lambda s: None,
                 attempts: int = ATTEMPTS, extra: list[str] | None = None) -> LiveFigure8Result:
    """Run the script on 5 real processes in `run_dir/attempt-K` (K = 1.. until one is not spoiled, at most
    `attempts`), stop the cluster each time, and check `run_dir` (every attempt) from its records."""
    out = LiveFigure8Result(core, str(run_dir))
    run_dir.mkdir(parents=True, exist_ok=True)
    for k in range(1, attempts + 1):
        out.attempts = k
        attempt_dir = run_dir / f"attempt-{k}"
        log(f"attempt {k} in {attempt_dir}")
        with detached_cluster(attempt_dir, "--nodes", "5", "--no-prevote", "--no-check-quorum",
                              "--heartbeat", str(HEARTBEAT_MS), "--election-timeout", ELECTION_MS,
                              "--core", core, *(extra or [])) as client:
            script = _Attempt(attempt_dir, client, out, log)
            try:
                out.e_won = script.run()
                out.completed = True
            except Spoiled as exc:
                out.spoiled.append(str(exc))
                script.say(f"spoiled: {exc}")
        out.checks.append((str(attempt_dir), check_run(attempt_dir)))
        if out.completed:
            break
    return out
