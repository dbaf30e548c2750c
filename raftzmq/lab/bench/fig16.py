"""Figure 16 of the Raft paper (Ongaro & Ousterhout, USENIX ATC 2014, §9.3): the paper's numbers, the analytic
model of a failover, and the statistics every source (paper, model, simulator, real processes) is reduced to.

The model, per trial: the leader dies at phase φ ~ U[0, heartbeat) of its heartbeat interval; each of the s
survivors times out at T_i ~ U[m, M] (plus up to `late_ms` of timer lateness) after the last heartbeat it heard.
The first one wins after a pre-vote round and a vote round: four one-way latencies and two persists (its own
self-vote, then a voter's). It can be split: a survivor that times out before the first candidate's RequestVote
reaches it pre-votes too, and becomes a candidate if quorum - 1 others are still at the old term (a survivor that
is already a candidate denies); voters grant the first RequestVote they see, so the first candidate wins unless
more than s + 1 - quorum survivors became candidates. After a split each survivor's timer restarts when it
became a candidate (after its persist) or granted a vote, and the next term repeats the draw from there.
downtime = the winning term's first timeout + the two rounds - φ.
"""
from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from typing import Any

from raftzmq.evidence.stats import quantile
from raftzmq.protocol.quorum import majority

__all__ = ["PAPER", "PAPER_RANGES", "Stats", "summarize", "model_trials", "parse_ranges", "range_label",
           "paper_cdf_points"]

# (min, max election timeout in ms) -> the paper's (min, p50, p90, p99, max, mean) in ms, read from the paper's
# and the thesis' plots; 1000 trials each (issue 7).
PAPER: dict[tuple[int, int], tuple[float, ...]] = {
    (12, 24): (15, 30, 52, 87, 152, 35),
    (25, 50): (24, 43, 73, 118, 276, 48),
    (50, 100): (37, 67, 96, 168, 253, 71),
    (100, 200): (66, 120, 165, 273, 335, 125),
    (150, 300): (93, 171, 244, 405, 603, 181),
    (150, 200): (87, 146, 193, 345, 512, 156),
    (150, 175): (84, 141, 291, 463, 610, 164),
    (150, 155): (85, 287, 606, 1224, 2143, 345),
    (150, 151): (86, 1198, 3132, 5981, 8231, 1536),
}
PAPER_RANGES = tuple(PAPER)
STAT_FIELDS = ("min", "p50", "p90", "p99", "max", "mean")
_MAX_TERMS = 1000  # a model trial gives up (and reports this many terms) rather than loop forever


def range_label(rng: tuple[int, int]) -> str:
    return f"{rng[0]}-{rng[1]}"


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """"12-24,150-300" -> [(12, 24), (150, 300)]; "all" -> the paper's nine. ValueError names the bad item."""
    if text.strip() == "all":
        return list(PAPER_RANGES)
    out = []
    for item in text.split(","):
        lo, sep, hi = item.strip().partition("-")
        if not (sep and lo.isdigit() and hi.isdigit() and 0 < int(lo) < int(hi)):
            raise ValueError(f"bad timeout range {item.strip()!r}: expected MIN-MAX in ms with 0 < MIN < MAX, "
                             "e.g. 150-300")
        out.append((int(lo), int(hi)))
    if len(set(out)) != len(out):
        raise ValueError("a timeout range is given twice")
    return out


@dataclass(frozen=True, slots=True)
class Stats:
    trials: int
    min: float
    p50: float
    p90: float
    p99: float
    max: float
    mean: float
    multi_term: float | None  # share of trials that needed more than one term (None: unknown, the paper)

    def row(self) -> tuple[float, ...]:
        return tuple(getattr(self, f) for f in STAT_FIELDS)

    def to_dict(self) -> dict[str, Any]:
        return {"trials": self.trials, **{f: round(getattr(self, f), 3) for f in STAT_FIELDS},
                "multi_term": None if self.multi_term is None else round(self.multi_term, 4)}


def summarize(downtimes_ms: list[float], terms: list[int] | None = None) -> Stats | None:
    if not downtimes_ms:
        return None
    ordered = sorted(downtimes_ms)
    multi = None if terms is None else sum(t > 1 for t in terms) / len(terms)
    return Stats(len(ordered), ordered[0], quantile(ordered, 0.5), quantile(ordered, 0.9),
                 quantile(ordered, 0.99), ordered[-1], statistics.fmean(ordered), multi)


def paper_stats(rng: tuple[int, int]) -> Stats | None:
    row = PAPER.get(rng)
    if row is None:
        return None
    low, p50, p90, p99, high, mean = row
    return Stats(1000, low, p50, p90, p99, high, mean, None)


def paper_cdf_points(rng: tuple[int, int]) -> list[tuple[float, float]]:
    """The paper's curve as far as its table tells it: (ms, cumulative share) at min, p50, p90, p99, max."""
    row = PAPER.get(rng)
    if row is None:
        return []
    return [(row[0], 0.0), (row[1], 0.5), (row[2], 0.9), (row[3], 0.99), (row[4], 1.0)]


def _candidates(fire: list[tuple[float, int]], quorum: int, ow: float, rv_arrives: float) -> dict[int, float]:
    """Who reaches term + 1 as a candidate, and when. A survivor that times out pre-votes; it gets a grant from
    every other survivor still at the old term (not yet a candidate itself, not yet asked by the first
    candidate's RequestVote) and needs quorum - 1 of them."""
    moved: dict[int, float] = {}
    for t, i in fire:
        asked = t + ow
        if asked >= rv_arrives:
            break  # it has granted the first candidate's RequestVote (and reset its timer) before timing out
        free = sum(1 for _, j in fire if j != i and not (j in moved and moved[j] <= asked))
        if free >= quorum - 1:
            moved[i] = t + 2 * ow
    return moved


def _model_trial(r: random.Random, lo: float, hi: float, hb: float, survivors: int, quorum: int,
                 ow: float, persist: float, late: float) -> tuple[float, int]:
    phase = r.uniform(0.0, hb)
    starts = [0.0] * survivors  # when each survivor's timer last restarted; 0 = the last heartbeat
    for terms in range(1, _MAX_TERMS + 1):
        fire = sorted((st + r.uniform(lo, hi) + r.uniform(0.0, late), i) for i, st in enumerate(starts))
        first = fire[0][0]
        rv_arrives = first + 3 * ow + persist  # pre-vote round, the candidate's persist, RequestVote in transit
        moved = _candidates(fire, quorum, ow, rv_arrives)
        # Voters grant the first RequestVote they see (the first candidate's): it wins with a quorum of those.
        if 1 + survivors - len(moved) >= quorum or terms == _MAX_TERMS:
            return first + 4 * ow + 2 * persist - phase, terms
        # A split: candidates restart their timers once their own persist is done, the others when they voted.
        starts = [moved[i] + persist if i in moved else rv_arrives + persist for i in range(survivors)]
    raise AssertionError("unreachable")


def model_trials(rng: tuple[int, int], *, heartbeat_ms: float, nodes: int = 5, trials: int = 10_000,
                 one_way_ms: float = 0.25, persist_ms: float = 0.5, late_ms: float = 1.0,
                 seed: int = 0) -> tuple[list[float], list[int]]:
    """Monte Carlo of the model above: (downtimes in ms, terms needed) for `trials` seeded trials.

    `late_ms`: a timer fires up to this much late (U[0, late_ms)); 1 ms is the whole-millisecond poll timeout of
    our nodes. Without any such spread, ranges narrower than the vote round (150-151) would split forever."""
    r = random.Random(f"fig16-model/{seed}/{rng[0]}-{rng[1]}/{heartbeat_ms}")
    out = [_model_trial(r, rng[0], rng[1], heartbeat_ms, nodes - 1, majority(nodes), one_way_ms, persist_ms,
                        late_ms) for _ in range(trials)]
    return [d for d, _ in out], [t for _, t in out]
