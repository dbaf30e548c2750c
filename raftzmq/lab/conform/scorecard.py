"""`raftzmq conform`: judge a core — the paper's claims as transcripts, seeded simulator runs with every fault
under the checker, and liveness — and print a scorecard with a replayable counterexample.

Which contract the core implements decides what is judged (`claims.contract_version`): a v2 core (with `propose`)
gets the election and the replication claims, and its seeds run with client proposals (`PROPOSALS` per simulated
second, as `raftzmq sim --proposals`), so the checker's replication invariants (f)-(k) judge them too; a v1 core
(election only) gets the election claims and election-only seeds, and the scorecard says the replication claims
were skipped.

Besides the checker's invariants, read from the records, the seeded runs watch the cores' own state: a core whose
`role` is leader in a term it never won (no `became_leader` in that term) is reported as `leader-in-unwon-term` —
the trace of a node that did not step down on a higher term; a leader whose commit index reaches an entry of an
earlier term than its own (§5.4.2: only entries of the current term are committed by counting replicas) is
reported as `old-term-commit` — the Figure 8 bug, seen where it happens, before (or without) the run going on to
lose the entry. Liveness: fault-free runs from a cold start must elect a leader (`no-leader` otherwise); runs
under faults give the figures.
"""
from __future__ import annotations

import math
import random
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from raftzmq.evidence.stats import median
from raftzmq.evidence.checker import INVARIANTS
from raftzmq.protocol.core import LEADER
from raftzmq.runtime.cores.coreload import CoreContractError, load_core

from raftzmq.lab.conform.claims import REPLICATION_CLAIMS, ClaimResult, contract_version, run_claims
from raftzmq.protocol.core import CoreConfig, HardState
from raftzmq.evidence.recordline import format_record
from raftzmq.lab.sim.simtypes import SimConfig, SimResult
from raftzmq.lab.sim.dask_seeds import map_seeds_on_dask
from raftzmq.lab.sim.simulator import Simulator

__all__ = ["Finding", "Failure", "Scorecard", "conform", "replay_seed", "FINDINGS", "LIVENESS_SEEDS", "PROPOSALS",
           "core_version", "base_config", "CONFORM_DISKS"]

CONFORM_DISKS = ("safe", "async")  # the seeds' simulated disk (lab/sim/asyncdisk.py)

# Conform's own findings, next to the checker's invariant letters.
FINDINGS = {
    **INVARIANTS,
    "leader-in-unwon-term": "a core is leader in a term it did not win",
    "no-leader": "a fault-free cluster elected no leader",
    "old-term-commit": "a leader committed an entry of an earlier term by counting replicas (§5.4.2)",
    "contract": "the core broke docs/core-contract.md",
}
LIVENESS_SEEDS = 3
LIVENESS_TIMEOUTS = 20  # a fault-free cold start must elect within this many maximum election timeouts
PROPOSALS = 20.0  # client commands per simulated second in the seeds of a contract v2 core


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # a key of FINDINGS
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"finding": self.kind, "name": FINDINGS[self.kind], "message": self.message}


@dataclass
class Failure:
    seed: int
    nodes: int
    findings: list[Finding]
    trace: list[str]
    replay: str
    fault_free: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "nodes": self.nodes, "fault_free": self.fault_free,
                "findings": [f.to_dict() for f in self.findings], "trace": self.trace, "replay": self.replay}


@dataclass
class Scorecard:
    spec: str
    claims: list[ClaimResult]
    seeds_run: int = 0
    sizes: tuple[int, ...] = ()
    failure: Failure | None = None
    liveness: dict[str, Any] = field(default_factory=dict)
    contract: int = 1  # the contract version judged: 1 election only, 2 election and replication
    proposals: float = 0.0  # client commands per simulated second in the seeds

    @property
    def ok(self) -> bool:
        return self.failure is None and all(c.ok for c in self.claims)

    @property
    def skipped(self) -> list[str]:
        """Claims not run: the replication claims, for a v1 core."""
        return [] if self.contract >= 2 else list(REPLICATION_CLAIMS)

    def to_dict(self) -> dict[str, Any]:
        return {"core": self.spec, "ok": self.ok, "contract": self.contract, "proposals": self.proposals,
                "claims_skipped": self.skipped, "claims_passed": sum(c.ok for c in self.claims),
                "claims": [c.to_dict() for c in self.claims], "seeds_run": self.seeds_run, "sizes": list(self.sizes),
                "failure": self.failure.to_dict() if self.failure else None, "liveness": self.liveness}


class _Violation(Exception):
    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


class _Observer:
    """Wraps every core the simulator builds; after each call checks that a leader leads only a term it won and
    commits by counting only entries of its own term, and notes when the first leader appeared."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory
        self.first_leader_at: float | None = None

    def __call__(self, config: Any, state: Any, now: float, rng: Any, log: Any = ()) -> "_Watched":
        inner = self.factory(config, state, now, rng, log=log) if log else self.factory(config, state, now, rng)
        return _Watched(self, inner, config.node_id, state, log)

    def close(self) -> None:
        getattr(self.factory, "close", lambda: None)()


class _Watched:
    def __init__(self, obs: _Observer, inner: Any, node: int, state: Any, log: Any) -> None:
        self.obs, self.inner, self.node = obs, inner, node
        self.won: int | None = None
        self.terms = [e.term for e in log]  # the term of each entry of the node's log, as its Readys wrote it
        self.commit = state.commit

    role = property(lambda self: self.inner.role)
    term = property(lambda self: self.inner.term)
    deadline = property(lambda self: self.inner.deadline)
    peers = property(lambda self: self.inner.peers)

    def __getattr__(self, name: str) -> Any:
        if name == "propose" and callable(getattr(self.inner, "propose", None)):
            return self._propose  # only for a contract v2 core: the simulator asks getattr(core, "propose", None)
        if name == "persisted" and callable(getattr(self.inner, "persisted", None)):
            return self._persisted  # only for a core that takes durability acknowledgements
        raise AttributeError(name)

    def _persisted(self, state: Any, last_index: int, now: float) -> Any:
        return self._seen(self.inner.persisted(state, last_index, now), now)

    def _propose(self, data: bytes, now: float) -> Any:
        proposal, out = self.inner.propose(data, now)
        return proposal, self._seen(out, now)

    def step(self, msg: Any, now: float) -> Any:
        return self._seen(self.inner.step(msg, now), now)

    def tick(self, now: float) -> Any:
        return self._seen(self.inner.tick(now), now)

    def transfer_leadership(self, target: int, now: float) -> Any:
        return self._seen(self.inner.transfer_leadership(target, now), now)

    def hint(self, peer: int, now: float, closed: str = "connection") -> Any:
        return self._seen(self.inner.hint(peer, now, closed), now)

    def _seen(self, out: Any, now: float) -> Any:
        for ev in out.events:
            if ev.name == "became_leader":
                self.won = ev.term
                if self.obs.first_leader_at is None:
                    self.obs.first_leader_at = now
        inner = self.inner
        if inner.role == LEADER and inner.term != self.won:
            raise _Violation(Finding("leader-in-unwon-term", f"at {now:.6f}s node {self.node} is leader in term "
                                     f"{inner.term}, but the last term it won is {self.won}"))
        if out.entries:
            first = out.entries[0].index
            del self.terms[first - 1:]
            self.terms.extend(e.term for e in out.entries)
        if out.committed:
            c = out.committed[-1].index
            if c > self.commit:
                if inner.role == LEADER and c <= len(self.terms) and self.terms[c - 1] < inner.term:
                    raise _Violation(Finding("old-term-commit", f"at {now:.6f}s node {self.node}, leader of term "
                                             f"{inner.term}, committed through index {c}, an entry of term "
                                             f"{self.terms[c - 1]}, by counting replicas (Figure 8)"))
                self.commit = c
        return out


def core_version(factory: Any) -> int:
    """The contract version of the cores `factory` builds (one probe core of a 3-node cluster)."""
    core = factory(CoreConfig(1, (1, 2, 3), prevote=False, check_quorum=False), HardState(), 0.0,
                   random.Random(0))
    return contract_version(core)


# ---------------------------------------------------------------------------------------------- one seed


def _run(cfg: SimConfig, seed: int, factory: Any) -> tuple[Simulator, SimResult | None, list[Finding], _Observer]:
    obs = _Observer(factory)
    sim = Simulator(cfg, seed, make_core=obs)
    try:
        result = sim.run()
    except _Violation as v:
        return sim, None, [v.finding], obs
    except CoreContractError as exc:  # what the checker had found by then, then the broken rule
        found = [Finding(v.invariant, v.message) for v in sim.checker.violations]
        return sim, None, found + [Finding("contract", str(exc))], obs
    findings = [Finding(v.invariant, v.message) for v in result.violations]
    if not cfg.faults and obs.first_leader_at is None:
        findings.append(Finding("no-leader", f"no leader in {cfg.duration:g} simulated s without faults"))
    return sim, result, findings, obs


def replay_command(spec: str, cfg: SimConfig, seed: int) -> str:
    """The shell line that replays `seed`: the spec is shell-quoted, so an `exec:` spec with spaces pastes."""
    parts = [f"raftzmq conform {shlex.quote(spec)} --seed {seed} --nodes {cfg.nodes} --duration {cfg.duration:g}"]
    if not cfg.faults:
        parts.append("--faults none")
    elif cfg.faults != SimConfig().faults:
        parts.append("--faults " + ",".join(sorted(cfg.faults)))
    parts += ["--prevote"] if cfg.prevote else []
    parts += ["--check-quorum"] if cfg.check_quorum else []
    parts += [f"--proposals {cfg.proposals:g}"] if cfg.proposals else []
    parts += [f"--disk {cfg.disk}"] if cfg.disk != "safe" else []
    return " ".join(parts)


def replay_seed(spec: str, cfg: SimConfig, seed: int, factory: Any) -> tuple[Failure | None, dict[str, list]]:
    """Run one seed with every record kept: a Failure (with the trace up to the first finding) if it fails, and
    the records by file name (for `write_records`)."""
    sim, result, findings, _ = _run(replace(cfg, record_logs=True), seed, factory)
    if not findings:
        return None, sim.files
    trace = result.trace if result is not None and result.trace else list(sim.trace)
    return Failure(seed, cfg.nodes, findings, [format_record(r) for r in trace], replay_command(spec, cfg, seed),
                   fault_free=not cfg.faults), sim.files


def _shortest(spec: str, cfg: SimConfig, seed: int, factory: Any) -> Failure:
    """The failing run cut just after its first finding: same seed, shorter duration (a faster replay)."""
    failure, _ = replay_seed(spec, cfg, seed, factory)
    assert failure is not None, "a failing seed replays identically"
    last = failure.trace[-1] if failure.trace else ""
    try:
        at = float(last.split("s", 1)[0])
    except ValueError:
        return failure
    short = replace(cfg, duration=max(0.5, math.ceil(at * 10 + 1) / 10))
    if short.duration < cfg.duration:
        again, _ = replay_seed(spec, short, seed, factory)
        if again is not None and again.findings[0].kind == failure.findings[0].kind:
            return again
    return failure


# ---------------------------------------------------------------------------------------------- the whole run


def base_config(spec: str, version: int, *, duration: float = 20.0, prevote: bool = False,
                check_quorum: bool = False, proposals: float | None = None, disk: str = "safe") -> SimConfig:
    """The seeds' simulator settings for a core of contract `version` (proposals None: PROPOSALS for v2, none
    for v1; a v1 core takes no proposals)."""
    rate = (PROPOSALS if version >= 2 else 0.0) if proposals is None else (proposals if version >= 2 else 0.0)
    return SimConfig(duration=duration, prevote=prevote, check_quorum=check_quorum, core=spec, record_logs=False,
                     proposals=rate, disk=disk)


def conform(spec: str, *, seeds: int = 100, sizes: tuple[int, ...] = (3, 5), duration: float = 20.0,
            faults: frozenset[str] | None = None, prevote: bool = False, check_quorum: bool = False,
            first_seed: int = 0, progress: Any = None, scheduler: str | None = None,
            proposals: float | None = None, disk: str = "safe") -> Scorecard:
    """Claims, then `seeds` seeds per cluster size with faults (stop at the first failing seed: the smallest
    size, then the smallest seed), then fault-free liveness runs. Raises CoreLoadError for a spec that cannot load.
    A v2 core's seeds run with `proposals` client commands per simulated second (None: PROPOSALS)."""
    factory = load_core(spec, probe=True)
    try:
        version = core_version(factory)
        card = Scorecard(spec, run_claims(factory, version), sizes=sizes, contract=version)
        base = base_config(spec, version, duration=duration, prevote=prevote, check_quorum=check_quorum,
                           proposals=proposals, disk=disk)
        card.proposals = base.proposals
        _seeds(card, replace(base, faults=faults) if faults is not None else base, factory, seeds, first_seed,
               progress, scheduler)
        _liveness(card, base, factory)
    finally:
        getattr(factory, "close", lambda: None)()  # the child processes of an exec: core, whatever happened
    return card


def _seeds(card: Scorecard, base: SimConfig, factory: Any, seeds: int, first_seed: int, progress: Any,
           scheduler: str | None = None) -> None:
    totals: dict[str, Any] = {"failovers": [], "leaderless": 0.0, "sim": 0.0, "elections": 0, "unresolved": 0}
    for n in card.sizes:
        cfg = replace(base, nodes=n)
        for seed, result, findings in _judged(cfg, factory, range(first_seed, first_seed + seeds), scheduler):
            card.seeds_run += 1
            if findings:
                card.failure = _shortest(card.spec, cfg, seed, factory)
                break
            _add(totals, result)
            if progress is not None:
                progress(n, seed)
        if card.failure is not None:
            break
    card.liveness = _figures(totals)


_Judged = tuple[int, "SimResult | None", list[Finding]]


def _judged(cfg: SimConfig, factory: Any, seeds: range, scheduler: str | None) -> Iterator[_Judged]:
    """(seed, result, findings) in seed order, up to the first seed with findings: here, or on a Dask cluster
    (each worker loads the core from its spec, so a plug-in core must be importable or runnable there too)."""
    if scheduler is None:
        for seed in seeds:
            _, result, findings, _ = _run(cfg, seed, factory)
            yield seed, result, findings
            if findings:
                return
        return
    yield from map_seeds_on_dask(scheduler, _judge_batch, cfg, list(seeds), failed=lambda item: bool(item[2]))


def _judge_batch(cfg: SimConfig, seeds: list[int]) -> list[_Judged]:
    # On a Dask worker: the same _run as a local conform, with the core loaded from cfg.core there.
    factory = load_core(cfg.core, probe=False)
    out: list[_Judged] = []
    try:
        for seed in seeds:
            _, result, findings, _ = _run(cfg, seed, factory)
            out.append((seed, result, findings))
            if findings:
                break
    finally:
        getattr(factory, "close", lambda: None)()
    return out


def _add(totals: dict[str, Any], r: SimResult | None) -> None:
    if r is None:
        return
    totals["failovers"].extend(r.failovers)
    totals["leaderless"] += r.leaderless
    totals["sim"] += r.sim_time
    totals["elections"] += r.elections
    totals["unresolved"] += r.unresolved_failovers


def _figures(t: dict[str, Any]) -> dict[str, Any]:
    f = sorted(t["failovers"])
    return {
        "simulated_s": round(t["sim"], 3),
        "leaderless_fraction": round(t["leaderless"] / t["sim"], 4) if t["sim"] else None,
        "elections_per_s": round(t["elections"] / t["sim"], 3) if t["sim"] else None,
        "failovers": len(f),
        "failover_median_s": round(median(f), 4) if f else None,
        "failover_p99_s": round(f[min(len(f) - 1, math.ceil(0.99 * len(f)) - 1)], 4) if f else None,
        "unresolved_failovers": t["unresolved"],
    }


def _liveness(card: Scorecard, base: SimConfig, factory: Any) -> None:
    """Cold starts without faults: the time to the first leader, per size; a run without one fails."""
    firsts: list[float] = []
    duration = LIVENESS_TIMEOUTS * base.core_config(1).election_timeout_max
    for n in card.sizes:
        cfg = replace(base, nodes=n, faults=frozenset(), duration=duration)
        for seed in range(LIVENESS_SEEDS):
            _, _, findings, obs = _run(cfg, seed, factory)
            if findings:
                if card.failure is None:
                    card.failure = replay_seed(card.spec, cfg, seed, factory)[0]
                continue
            if obs.first_leader_at is not None:
                firsts.append(obs.first_leader_at)
    card.liveness["cold_start_runs"] = LIVENESS_SEEDS * len(card.sizes)
    card.liveness["first_leader_median_s"] = round(median(firsts), 4) if firsts else None
    card.liveness["first_leader_max_s"] = round(max(firsts), 4) if firsts else None


def render(card: Scorecard) -> str:
    lines = [f"core {card.spec}"]
    if card.contract >= 2:
        lines.append("contract v2 (election and replication): election and replication claims; seeds with "
                     f"{card.proposals:g} client proposals per simulated second")
    else:
        lines.append(f"contract v1 (election only): election claims; {len(card.skipped)} replication claims "
                     "skipped; election-only seeds")
    lines.append(f"claims: {sum(c.ok for c in card.claims)}/{len(card.claims)} passed")
    for c in card.claims:
        lines.append(f"  {'ok  ' if c.ok else 'FAIL'} {c.name} ({c.section}): {c.text}")
        if not c.ok:
            lines.append(f"       expected: {c.expected}")
            lines.extend(f"       | {t}" for t in c.transcript)
    lines.append(f"seeds: {card.seeds_run} run with faults on clusters of {'/'.join(map(str, card.sizes))} nodes")
    if card.failure is None:
        lines.append("violations: none")
    else:
        f = card.failure
        where = "fault-free cold start" if f.fault_free else "with faults"
        lines.append(f"violations: first failing seed {f.seed} ({f.nodes} nodes, {where}):")
        lines.extend(f"  ({x.kind}) {FINDINGS[x.kind]}: {x.message}" for x in f.findings[:5])
        lines.append(f"  the last {len(f.trace)} records:")
        lines.extend(f"    {t}" for t in f.trace)
        lines.append(f"  replay: {f.replay}")
    lv = card.liveness
    first = "no leader in any cold start" if lv.get("first_leader_median_s") is None else \
        f"median {lv.get('first_leader_median_s')} s, max {lv.get('first_leader_max_s')} s"
    times = "" if not lv.get("failovers") else \
        f" (median {lv.get('failover_median_s')} s, p99 {lv.get('failover_p99_s')} s)"
    leaderless = "-" if lv.get("leaderless_fraction") is None else lv.get("leaderless_fraction")
    lines.append(f"liveness: first leader after a cold start {first} ({lv.get('cold_start_runs')} runs); "
                 f"under faults: {lv.get('failovers')} failovers{times}, leaderless {leaderless} of "
                 f"{lv.get('simulated_s')} simulated s, {lv.get('unresolved_failovers')} unresolved")
    lines.append("verdict: " + ("PASS" if card.ok else "FAIL"))
    return "\n".join(lines)
