"""Everything `bench failover` reports, recomputed from a run directory: trials.csv, the table beside the paper's
and the model's rows, summary.json and fig16.svg. The live run and `--from RUN_DIR` both call `analyze`;
`--from A --from B --out chart.svg` calls `compare`, which draws several runs (hints on and off, say) on one chart.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from raftzmq.evidence.stats import median, quantile
from raftzmq.lab.bench.failover import META, persist_for_models
from raftzmq.lab.bench.failover_trials import Trial, disruptions, trials_from_run, write_csv
from raftzmq.lab.bench.fig16 import STAT_FIELDS, Stats, model_trials, paper_cdf_points, paper_stats, range_label, summarize
from raftzmq.lab.bench.fig16_svg import compare_styles, render_cdf_svg
from raftzmq.lab.bench.machine_load import BUSY_LIMIT, STEAL_LIMIT, read_samples, summarize_load

__all__ = ["analyze", "compare", "run_name", "MODEL_TRIALS"]

MODEL_TRIALS = 10_000
_CURVE_POINTS = 200  # the model's curve is drawn through this many of its quantiles
_MIN_QUIET = 20  # show the unloaded real trials as their own row once there are this many


def _model(rng: tuple[int, int], meta: dict[str, Any]) -> tuple[list[float], list[int]]:
    costs = meta["costs"][range_label(rng)]
    return model_trials(rng, heartbeat_ms=meta["heartbeat_ms"][range_label(rng)], nodes=meta["nodes"],
                        trials=MODEL_TRIALS, one_way_ms=costs["one_way_ms"]["median"],
                        persist_ms=persist_for_models(costs), seed=meta["seed"])


def _source_trials(out: Path, rng: tuple[int, int], meta: dict[str, Any],
                   samples: list[dict[str, Any]]) -> dict[str, tuple[list[Trial], int]]:
    label, found = range_label(rng), {}
    for source, prefix, load in (("real", "real", samples), ("sim", "sim", None)):
        run_dir = out / f"{prefix}-{label}"
        if run_dir.is_dir():
            found[source] = trials_from_run(run_dir, source=source, label=label, samples=load, nodes=meta["nodes"])
    return found


def _fmt_row(name: str, st: Stats | None, extra: str = "") -> str:
    if st is None:
        return f"  {name:<8} {'-':>6}"
    cells = " ".join(f"{v:>7.1f}" for v in st.row())
    multi = "      -" if st.multi_term is None else f"{100 * st.multi_term:6.1f}%"
    return f"  {name:<8} {st.trials:>6} {cells} {multi}{extra}"


def _range_block(label: str, hb: int, costs: dict[str, Any], rows: dict[str, Stats | None], real: list[Trial],
                 unrecovered: int) -> list[str]:
    header = f"  {'source':<8} {'trials':>6} " + " ".join(f"{f:>7}" for f in STAT_FIELDS) + "  >1 term"
    ow, persist = costs["one_way_ms"], costs["persist_ms"]
    lines = [f"{label} ms, heartbeat {hb} ms; one-way loopback {ow['median']} ms (p90 {ow['p90']}); persist "
             f"{costs.get('persist_in_run_ms')} ms in the run, {persist['median']} ms (p90 {persist['p90']}) "
             "in a micro-benchmark", header]
    for name in ("real", "quiet", "sim", "model", "paper"):
        if name in rows:
            extra = ""
            if name == "real" and real:
                loaded = sum(1 for t in real if t.loaded)
                extra = f"  ({loaded}/{len(real)} under load" + (f", {unrecovered} never recovered)" if unrecovered
                                                                  else ")")
            lines.append(_fmt_row(name, rows[name], extra))
    return lines


def _disruption_line(out: Path, label: str, meta: dict[str, Any]) -> str:
    run_dir = out / f"real-{label}"
    d = disruptions(run_dir, meta["nodes"])
    others = ", ".join(f"{n} {cause}" for cause, n in sorted(d["other_leader_losses"].items())) or "none"
    wait = (meta.get("run_queue") or {}).get(label, {}).get("median_wait_per_run_ms")
    cpu = "" if wait is None else f"; a node's main thread waited {wait:.2f} ms (median node) for a CPU per wake-up"
    return (f"  {d['kills']} kills, {d['kills_missing_the_leader']} hit a node that was no longer the leader; "
            f"leader losses the benchmark did not cause: {others}{cpu}")


def _detect_check(real: list[Trial], model_detect_ms: float) -> str:
    detect = [t.detect_ms for t in real if t.detect_ms is not None]
    if not detect:
        return ""
    return (f"  phase check: first election_timeout {statistics.fmean(detect):.1f} ms after the kill on average; "
            f"uniform phase predicts {model_detect_ms:.1f} ms (E[min T] - hb/2)")


def _median(values: list[float | None]) -> str:
    present = [v for v in values if v is not None]
    return f"{median(present):.1f}" if present else "-"


def _breakdown(name: str, trials: list[Trial]) -> str:
    """Medians of where a failover's time goes, one-term trials only (their parts add up)."""
    one = [t for t in trials if t.terms == 1]
    if not one:
        return ""
    return (f"  {name} one-term trials ({len(one)}), medians: detect {_median([t.detect_ms for t in one])}, "
            f"pre-vote+persist {_median([t.prevote_ms for t in one])}, vote round "
            f"{_median([t.vote_ms for t in one])} ms")


def _expected_detect(rng: tuple[int, int], hb: int, survivors: int) -> float:
    return rng[0] + (rng[1] - rng[0]) / (survivors + 1) - hb / 2


def _one_range(out: Path, rng: tuple[int, int], meta: dict[str, Any], samples: list[dict[str, Any]]):
    label, hb = range_label(rng), meta["heartbeat_ms"][range_label(rng)]
    found = _source_trials(out, rng, meta, samples)
    model_d, model_t = _model(rng, meta)
    rows = {src: summarize([t.downtime_ms for t in ts], [t.terms for t in ts]) for src, (ts, _) in found.items()}
    rows |= {"model": summarize(model_d, model_t), "paper": paper_stats(rng)}
    real, unrecovered = found.get("real", ([], 0))
    quiet = [t for t in real if t.loaded is False]
    if len(quiet) >= _MIN_QUIET:  # the real trials taken while the machine was not loaded, on their own
        rows["quiet"] = summarize([t.downtime_ms for t in quiet], [t.terms for t in quiet])
    lines = _range_block(label, hb, meta["costs"][label], rows, real, unrecovered)
    if meta.get("hints"):
        lines.insert(1, "  hints on: a follower pre-votes when its leader's connection closes; the model knows only "
                        "timeouts")
    lines.append(_detect_check(real, _expected_detect(rng, hb, meta["nodes"] - 1)))
    if (out / f"real-{label}").is_dir():
        lines.append(_disruption_line(out, label, meta))
    lines += [_breakdown(src, ts) for src, (ts, _) in found.items()]
    curve = [quantile(model_d, (k + 0.5) / _CURVE_POINTS) for k in range(_CURVE_POINTS)]
    series = {"model": curve} | {src: [t.downtime_ms for t in ts] for src, (ts, _) in found.items()}
    trials = [t for ts, _ in found.values() for t in ts]
    summary: dict[str, Any] = {name: (st.to_dict() if st else None) for name, st in rows.items()}
    summary |= {"heartbeat_ms": hb, "costs": meta["costs"][label], "unrecovered": unrecovered,
                "loaded": sum(1 for t in real if t.loaded)}
    return [line for line in lines if line], (label, series, paper_cdf_points(rng)), trials, summary


def analyze(out: Path) -> dict[str, Any]:
    """Recompute and write trials.csv, table.txt, summary.json and fig16.svg from `out`; return the summary."""
    return _analyze(out)[0]


def run_name(out: Path) -> str:
    """How a run is named on a comparison chart: its settings that change the curves."""
    meta = json.loads((out / META).read_text())
    core = meta.get("core", "builtin")
    return f"hints {'on' if meta.get('hints') else 'off'}" + (f", core {core}" if core != "builtin" else "")


def compare(runs: list[Path], chart: Path) -> list[dict[str, Any]]:
    """Analyze each run (as --from does) and draw them on one chart: per range that every run has, the paper's
    curve, the first run's model, and each run's real and simulated curves. Returns the runs' summaries."""
    done = [_analyze(run) for run in runs]
    names = [run_name(run) for run in runs]
    if len(set(names)) < len(names):  # same settings twice: the directory tells them apart
        names = [f"{name} ({run.name})" for name, run in zip(names, runs)]
    panels = []
    for label, series, paper in done[0][1]:
        others = [{s: v for lab, ss, _ in d[1] if lab == label for s, v in ss.items()} for d in done]
        if not all(others):
            continue
        merged = {"model": series["model"]}
        for name, other in zip(names, others):
            merged |= {f"{src} {name}": other[src] for src in ("real", "sim") if src in other}
        panels.append((label, merged, paper))
    if not panels:
        raise ValueError("the runs have no timeout range in common")
    title = "Figure 16, runs compared: time without a leader after the leader is killed"
    chart.write_text(render_cdf_svg(panels, title, compare_styles(names)))
    return [d[0] for d in done]


def _analyze(out: Path) -> tuple[dict[str, Any], list[tuple[str, dict[str, list[float]], list[tuple[float, float]]]]]:
    meta = json.loads((out / META).read_text())
    samples = read_samples(out / "load.jsonl")
    # A run stopped early still reports the ranges it began (their costs are measured before the cluster starts).
    ranges = [tuple(r) for r in meta["ranges"] if range_label(tuple(r)) in meta["costs"]
              and (out / f"real-{range_label(tuple(r))}").is_dir()]
    load = summarize_load(samples)
    table = [_header(meta, load)]
    panels, trials, per_range = [], [], {}
    for rng in ranges:
        lines, panel, ts, summary = _one_range(out, rng, meta, samples)
        table += [""] + lines
        panels.append(panel)
        trials += ts
        per_range[range_label(rng)] = summary
    text = "\n".join(table) + "\n"
    write_csv(out / "trials.csv", trials)
    (out / "table.txt").write_text(text)
    title = f"Figure 16 on {meta['nodes']} real processes: time without a leader after the leader is killed"
    if meta.get("core", "builtin") != "builtin":
        title += f" (core {meta['core']})"
    (out / "fig16.svg").write_text(render_cdf_svg(panels, title))
    summary = {"run_dir": str(out), "core": meta.get("core", "builtin"), "hints": bool(meta.get("hints")),
               "load": load, "ranges": per_range, "table": text}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary, panels


def _header(meta: dict[str, Any], load: dict[str, Any]) -> str:
    machine = (f"load average {load['load1_mean']} (max {load['load1_max']}) on {load['cpus']} CPUs, "
               f"busy {100 * load['busy_mean']:.0f} %, steal {100 * load['steal_mean']:.1f} % "
               f"(max {100 * load['steal_max']:.1f} %)" if load.get("samples") else "no load samples")
    hints = "on" if meta.get("hints") else "off"
    return (f"{meta['nodes']} nodes, core {meta.get('core', 'builtin')}, hints {hints}; times in ms from the kill's "
            "mono_ns to the new leader's became_leader\n"
            f"machine while it ran: {machine}; a trial is 'under load' when the machine was >= "
            f"{BUSY_LIMIT:.0%} busy or >= {STEAL_LIMIT:.0%} stolen around its kill; sim and model use the "
            "median one-way latency measured before each range and the persist time the nodes paid in it")
