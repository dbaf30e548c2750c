"""Random replicated histories against the checker: a small model of Raft (elections with the up-to-date check,
stale leaders, partial replication with replacement, the current-term commit rule, restarts) writes the records
a correct cluster would, and the checker must accept every seed; the same model with one rule broken (no
up-to-date check, Figure 8's commit of an old-term entry by counting replicas, or a disk that loses acknowledged
writes at a crash) must be caught on some seed.
The histories are not vacuous: the test counts replacements, restarts, stale-leader appends and commits."""
import random

import pytest

from logs_fixtures import Run
from raftzmq.evidence.checker import check_run

N, MAJORITY = 5, 3


class Model:
    def __init__(self, run: Run, rng: random.Random, bug: str | None = None) -> None:
        self.r, self.rng, self.bug = run, rng, bug
        self.term = {n: 0 for n in range(1, N + 1)}
        self.vote: dict[int, tuple[int, int | None]] = {n: (0, None) for n in range(1, N + 1)}
        self.leading: dict[int, int] = {}  # node -> the term it leads (it may be stale)
        self.commit = {n: 0 for n in range(1, N + 1)}
        self.counts = {"replaced": 0, "restarts": 0, "stale_appends": 0, "commits": 0, "elections": 0}

    def log(self, n):
        return self.r.entries.get(n, [])

    def last(self, n):
        lg = self.log(n)
        return (lg[-1].term, len(lg)) if lg else (0, 0)

    def raise_term(self, n: int, term: int, leader: int | None) -> None:
        if self.term[n] < term:
            self.term[n] = term
            self.r.persist(n, term, None)
            self.vote[n] = (term, None)
            if self.leading.pop(n, None) is not None:
                self.r.rec(n, "stepped_down", term, reason="higher_term")
            self.r.follow(n, term, leader)

    def elect(self) -> None:
        c = self.rng.randint(1, N)
        term = max(self.term.values()) + 1
        voters = [v for v in range(1, N + 1) if v != c and (self.bug == "no-up-to-date" or self.last(c) >= self.last(v))]
        self.rng.shuffle(voters)
        voters = voters[:self.rng.randint(MAJORITY - 1, N - 1)]
        if len(voters) + 1 < MAJORITY:
            return
        self.r.campaign(c, term, from_term=self.term[c])
        self.leading.pop(c, None)
        self.term[c], self.vote[c] = term, (term, c)
        for v in voters:
            if self.leading.pop(v, None) is not None:
                self.r.persist(v, term, c)
                self.r.rec(v, "stepped_down", term, reason="higher_term")
                self.r.vote(v, term, c)
            else:
                self.r.grant(v, term, c)
            self.term[v], self.vote[v] = term, (term, c)
        self.r.lead(c, term)
        self.leading[c] = term
        self.r.append(c, term, [term])  # the no-op
        self.counts["elections"] += 1

    def replicate(self) -> None:
        if not self.leading:
            return
        lead = self.rng.choice(sorted(self.leading))
        t = self.leading[lead]
        if self.term[lead] != t:
            return
        if t < max(self.term.values()):
            self.counts["stale_appends"] += 1
        if self.rng.random() < 0.7:
            self.r.append(lead, t, [t] * self.rng.randint(1, 3))
        for f in self.rng.sample([n for n in range(1, N + 1) if n != lead], self.rng.randint(0, N - 1)):
            if self.term[f] > t:
                continue  # it refuses a stale leader
            self.raise_term(f, t, lead)
            before = list(self.log(f))
            lead_log = self.log(lead)
            # a message carries a prefix: sometimes not the newest entries (Figure 8 needs an old-term entry on a
            # majority without the leader's own)
            upto = len(lead_log) if self.rng.random() < 0.6 else self.rng.randint(0, len(lead_log))
            if upto < len(self.log(f)) and self.log(f)[:upto] == lead_log[:upto]:
                continue  # nothing new for it in that prefix (a follower never truncates matching entries)
            self.r.sync(f, lead, t, upto)
            if any(a != b for a, b in zip(before, self.log(f))) or len(self.log(f)) < len(before):
                self.counts["replaced"] += 1
            self.learn(f, lead, t)
        self.advance(lead, t)

    def held_by(self, lead: int, i: int) -> int:
        ref = self.log(lead)[:i]
        return sum(1 for n in range(1, N + 1) if self.log(n)[:i] == ref and (n == lead or self.term[n] == self.term[lead]))

    def advance(self, lead: int, t: int) -> None:
        lg = self.log(lead)
        for i in range(len(lg), self.commit[lead], -1):
            if (lg[i - 1].term == t or self.bug == "figure8") and self.held_by(lead, i) >= MAJORITY:
                self.r.commit(lead, t, i)
                self.commit[lead] = i
                self.counts["commits"] += 1
                self.apply(lead)
                return

    def learn(self, f: int, lead: int, t: int) -> None:
        c = min(self.commit[lead], len(self.log(f)))
        if c > self.commit[f] and self.log(f)[:c] == self.log(lead)[:c]:
            self.r.commit(f, t, c)
            self.commit[f] = c
            self.apply(f)

    def apply(self, n: int) -> None:
        if self.rng.random() < 0.5 and self.r.applied.get(n, 0) < self.commit[n]:
            self.r.apply(n, self.term[n], self.commit[n])

    def restart(self) -> None:
        n = self.rng.randint(1, N)
        self.r.kill(n)
        self.leading.pop(n, None)
        if self.bug == "lost-write" and self.log(n):  # it acknowledged entries its disk never kept
            self.r.lose_tail(n, self.rng.randint(0, len(self.log(n)) - 1))
        vt, v = self.vote[n]
        self.r.start(n, term=self.term[n], voted_for=v if vt == self.term[n] else None)
        self.commit[n] = self.r.commits[n]
        self.counts["restarts"] += 1

    def run(self, steps: int) -> None:
        for _ in range(steps):
            x = self.rng.random()
            if x < 0.15:
                self.elect()
            elif x < 0.22:
                self.restart()
            else:
                self.replicate()


def history(tmp_path, seed, bug=None, steps=120):
    r = Run(tmp_path / f"s{seed}", N, replication=True)
    for n in range(1, N + 1):
        r.start(n)
    m = Model(r, random.Random(seed), bug)
    m.run(steps)
    r.close()
    return check_run(r.dir), m.counts


def test_correct_random_histories_are_accepted(tmp_path):
    totals: dict[str, int] = {}
    for seed in range(40):
        res, counts = history(tmp_path, seed)
        assert res.ok, (seed, res.violations[:3], res.incomplete)
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + v
    # not vacuous: the histories replace suffixes, restart nodes, have stale leaders append, and commit
    assert all(totals[k] >= 20 for k in ("replaced", "restarts", "stale_appends", "commits", "elections")), totals


@pytest.mark.parametrize("bug, expected", [("no-up-to-date", {"g", "h", "k"}), ("figure8", {"g", "h", "k"}),
                                           ("lost-write", {"k"})])
def test_broken_rules_are_caught_on_some_seed(tmp_path, bug, expected):
    caught = set()
    for seed in range(100):  # figure8 is first caught on seed 70 (its pattern needs three terms to line up)
        res, _ = history(tmp_path, seed, bug)
        assert not res.incomplete
        caught |= {v.invariant for v in res.violations}
        if caught & expected:
            break
    assert caught & expected, caught
    assert caught <= {"f", "g", "h", "i", "j", "k"}, caught  # the election invariants are not what breaks
