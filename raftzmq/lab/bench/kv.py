"""`raftzmq bench kv`: closed-loop throughput and latency of the replicated service on live clusters, against
PySyncObj and against the floor of one fsync plus one loopback round trip, all in the same run (issue 19,
deliverable 5; docs/benchmarks.md).

Our side: a cluster of N node processes (`raftzmq start --detach`, fsync on: every group commit of the log is an
fsync), and C closed-loop clients spread over at most `procs` load processes (lab/bench/kvload.py), all starting
at one instant; the figures are about the commands that completed in a window of `duration` seconds after a
`warmup`. Per window:
  ops/s, latency p50/p99 (evidence/stats.quantile, nearest rank)
  fsyncs per op     the nodes' log fsync counters (the client endpoint's `stats`) at the window's start and end:
                    the leader's and the whole cluster's, and ops per leader fsync (group commit)
  entries per AppendEntries   entries the followers appended in the window (their log_appended records) over
                    the AppendEntries messages the leader sent in it (its `stats` counter; heartbeats included)
  load              the load average when the window began (the machine is shared)
A history is recorded (workload.Recorder) in one more window on the 3-node cluster (16 clients on 8 keys, the
workload's get/put/cas/append/delete mix) and checked with the lincheck API: its verdict and seconds.

PySyncObj (lab/bench/pysyncobj_peer.py) runs with the same client counts on 3 nodes in its default and its
nobatch configuration. Two differences stand beside every ratio: PySyncObj does not fsync, and its clients sit
inside its node processes while ours cross ZeroMQ from other processes.

The floor: the median of one 64-byte write + fsync in the directory that holds the nodes' logs, plus the median
ZeroMQ round trip between two processes over tcp://127.0.0.1 (also measured over ipc, which our clients use),
and the same with three writers fsyncing at once on files of their own ("busy": on this VM a lone fsync waits
several times longer than fsyncs that overlap others, and a cluster's nodes overlap);
samples taken before each cluster and at the end, pooled (the disk is shared with other work and bursty).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import zmq

from ...evidence.history import read_history
from ...evidence.lincheck import check_history
from ...evidence.logfile import read_run
from ...evidence.stats import median, quantile
from ...runtime.cluster.procstat import cpu_seconds
from ...runtime.cluster.propose import ask_all, node_info, read_client_endpoints
from ...runtime.cluster.waiting import wait_until
from ..live.cli_driver import run_cli
from .hotpath import load_average, stop_cluster
from .pysyncobj_peer import CONFIGS, LineProcess, available as pysyncobj_available, run_pysyncobj

__all__ = ["bench_kv", "measure_floor", "measure_cluster", "APIS", "MAX_PROCS"]

APIS = ("auto", "kv", "raw")
MAX_PROCS = 16
HISTORY_CLIENTS, HISTORY_KEYS = 16, 8


def _quantiles_ms(lat_us: list[int]) -> tuple[float | None, float | None]:
    if not lat_us:
        return None, None
    return round(quantile(lat_us, 0.5) / 1000, 3), round(quantile(lat_us, 0.99) / 1000, 3)


# ------------------------------------------------------------------------------------------------ the floor

_ECHO = """
import sys, zmq
ctx = zmq.Context(); s = ctx.socket(zmq.ROUTER); s.setsockopt(zmq.LINGER, 0)
s.bind(sys.argv[1]); print("ready", flush=True)
while True:
    parts = s.recv_multipart()
    if parts[-1] == b"stop":
        break
    s.send_multipart(parts)
"""


def _round_trips(endpoint: str, n: int) -> list[int]:
    """n sequential ZeroMQ request/answer round trips (ns) to an echo process bound at `endpoint`."""
    proc = subprocess.Popen([sys.executable, "-c", _ECHO, endpoint], stdout=subprocess.PIPE, text=True)
    ctx: zmq.Context[Any] = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the round-trip echo process did not start")
        sock.connect(endpoint)
        for _ in range(20):  # connect and warm up
            sock.send(b"w")
            if not sock.poll(5000):
                raise RuntimeError("the round-trip echo process does not answer")
            sock.recv()
        out = []
        for i in range(n):
            t = time.perf_counter_ns()
            sock.send(b"%d" % i)
            sock.recv()
            out.append(time.perf_counter_ns() - t)
        sock.send(b"stop")
        return out
    finally:
        sock.close(linger=0)
        ctx.term()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _fsyncs(directory: Path, n: int) -> list[int]:
    """n x (write 64 bytes at the end of a file + fsync), in ns: what one group commit of the log costs at least."""
    path = directory / "floor.fsync"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        out = []
        for _ in range(n):
            t = time.perf_counter_ns()
            os.write(fd, b"f" * 64)
            os.fsync(fd)
            out.append(time.perf_counter_ns() - t)
        return out
    finally:
        os.close(fd)
        path.unlink()


def _busy_fsyncs(directory: Path, n: int, writers: int = 3) -> list[int]:
    """The same fsyncs, `writers` threads at once on files of their own (as the nodes of a cluster fsync on one
    disk): on this VM's disk one lone fsync is far slower than fsyncs that overlap others."""
    import threading
    out: list[list[int]] = [[] for _ in range(writers)]
    sub = [directory / f"busy-{i}" for i in range(writers)]
    for d in sub:
        d.mkdir(exist_ok=True)
    threads = [threading.Thread(target=lambda i=i: out[i].extend(_fsyncs(sub[i], n))) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for d in sub:
        d.rmdir()
    return [v for part in out for v in part]


def measure_floor(directory: Path, samples: int = 500, rounds: int = 1) -> dict[str, Any]:
    """The floor of one replicated command: median fsync + median loopback round trip. `rounds` sets of samples
    are pooled (bench_kv takes one set before each cluster and one at the end: the disk is shared and bursty)."""
    fs: list[int] = []
    busy: list[int] = []
    tcp: list[int] = []
    ipc: list[int] = []
    loads = []
    for _ in range(rounds):
        loads.append(load_average())
        fs += _fsyncs(directory, max(1, samples // 2))
        busy += _busy_fsyncs(directory, max(1, samples // 2))
        tcp += _round_trips(f"tcp://127.0.0.1:{_free_port()}", samples)
        ipc += _round_trips(f"ipc://{directory}/floor.ipc", samples)
    return _floor_figures(fs, busy, tcp, ipc, loads)


def _floor_figures(fs: list[int], busy: list[int], tcp: list[int], ipc: list[int],
                   loads: list[str]) -> dict[str, Any]:
    f_us, t_us, i_us = median(fs) / 1000, median(tcp) / 1000, median(ipc) / 1000
    b_us = median(busy) / 1000
    return {"fsync_busy_p50_us": round(b_us, 1), "floor_busy_ms": round((b_us + t_us) / 1000, 3),
            "busy_fsyncs": len(busy), "fsync_p50_us": round(f_us, 1), "fsync_p10_us": round(quantile(fs, 0.1) / 1000, 1), "fsync_p99_us": round(quantile(fs, 0.99) / 1000, 1),
            "rtt_tcp_p50_us": round(t_us, 1), "rtt_ipc_p50_us": round(i_us, 1),
            "floor_ms": round((f_us + t_us) / 1000, 3), "fsyncs": len(fs), "round_trips": len(tcp),
            "load": " / ".join(loads), "samples": {"fsync_ns": fs, "busy_ns": busy, "tcp_ns": tcp, "ipc_ns": ipc}}


def _pool(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The floor over every set of samples of the run (taken before each cluster and at the end)."""
    out = _floor_figures([v for p in parts for v in p["samples"]["fsync_ns"]],
                         [v for p in parts for v in p["samples"]["busy_ns"]],
                         [v for p in parts for v in p["samples"]["tcp_ns"]],
                         [v for p in parts for v in p["samples"]["ipc_ns"]], [p["load"] for p in parts])
    out["sets"] = [{k: v for k, v in p.items() if k != "samples"} for p in parts]
    del out["samples"]
    return out


def _free_port() -> int:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------ our cluster

def _ask(endpoints: dict[int, str], op: str, timeout_s: float = 2.0) -> dict[int, Any]:
    return ask_all(endpoints, op, timeout_s)


def _counters(endpoints: dict[int, str]) -> dict[int, dict[str, Any]]:
    """Every node's counters (`stats` on the client endpoint): {node: {"sent": {kind: n}, "syncs": n, "last": i}}."""
    out = {}
    for node, resp in _ask(endpoints, "stats").items():
        try:
            doc = json.loads(resp.message) if resp.status == "ok" and resp.message else {}
        except ValueError:
            doc = {}
        doc["last"] = resp.index
        out[node] = doc
    return out


def _leader(endpoints: dict[int, str], timeout_s: float) -> int:
    """The node that says it leads in the highest term, once every node names that leader."""
    found: list[int] = []

    def agreed() -> bool:
        got = node_info(endpoints, timeout_s=1.0)
        claims = {n: r.term for n, r in got.items() if r.leader == n}
        if not claims or len(got) < len(endpoints):
            return False
        lead = max(claims, key=lambda n: claims[n])
        if all(r.leader == lead for r in got.values()):
            found[:] = [lead]
            return True
        return False
    if not wait_until(agreed, timeout_s, interval=0.1):
        raise RuntimeError(f"no leader that every node follows within {timeout_s:g} s")
    return found[0]


def _kv_served(endpoints: dict[int, str], leader: int) -> bool:
    """Whether the nodes serve the KV wire (a put through raftzmq.client answers within a few seconds)."""
    from raftzmq.client import Client, KVError
    try:
        with Client({leader: endpoints[leader], **endpoints}, timeout=3.0, attempt_timeout=1.0) as c:
            c.put("bench/probe", 1)
        return True
    except KVError:
        return False


def _spawn_load(spec: dict[str, Any], log: IO[str]) -> LineProcess:
    return LineProcess([sys.executable, "-m", "raftzmq.lab.bench.kvload", json.dumps(spec)], log, "load process")


def _node_pids(run: Path) -> dict[int, int]:
    st = json.loads(run_cli("status", "--json", "--run-dir", str(run)).stdout)
    return {int(n["id"]): int(n["pid"]) for n in st["nodes"] if n.get("pid")}


def _cpu(pids: dict[Any, int]) -> dict[Any, float]:
    return {k: cpu_seconds(p) for k, p in pids.items()}


def _window(endpoints: dict[int, str], leader: int, api: str, clients: int, procs: int, warmup: float,
            duration: float, log: IO[str], run: Path, record: Path | None = None, op: str = "put") -> dict[str, Any]:
    """One closed-loop window of `clients` clients over min(procs, clients) load processes."""
    nproc = max(1, min(procs, clients))
    shares = [clients // nproc + (1 if i < clients % nproc else 0) for i in range(nproc)]
    base_ns = time.monotonic_ns()
    loads: list[LineProcess] = []
    parts: list[Path] = []
    try:
        first = 0
        for i, k in enumerate(shares):
            spec: dict[str, Any] = {"api": api, "threads": k, "first": first, "endpoints": endpoints,
                                    "leader": leader, "op": op}
            if record is not None:
                part = record.with_name(f"{record.stem}.{i}.jsonl")
                parts.append(part)
                spec |= {"mix": True, "seed": 7, "total": clients, "keys": HISTORY_KEYS, "rate": 4000.0,
                         "span": warmup + duration + 5, "record": str(part), "base_ns": base_ns}
            loads.append(_spawn_load(spec, log))
            first += k
        ready_by = time.monotonic() + 60 + 2 * clients
        for p in loads:
            p.expect("ready", ready_by)
        pids: dict[Any, int] = {**_node_pids(run), **{f"load{i}": p.proc.pid for i, p in enumerate(loads)}}
        t0 = time.monotonic() + 0.3
        for p in loads:
            p.send({"go": t0, "warmup": warmup, "duration": duration})
        _sleep_until(t0 + warmup)
        load = load_average()
        cpu0 = _cpu(pids)
        c0 = _counters(endpoints)
        t_start = time.monotonic_ns()
        _sleep_until(t0 + warmup + duration)
        c1 = _counters(endpoints)
        t_end = time.monotonic_ns()
        cpu1 = _cpu(pids)
        results = [p.expect("result", time.monotonic() + 60)["result"] for p in loads]
    finally:
        for p in loads:
            p.stop()
    lat = [v for r in results for v in r["lat_us"]]
    ok = sum(r["ok"] for r in results)
    p50, p99 = _quantiles_ms(lat)
    out: dict[str, Any] = {"clients": clients, "procs": nproc, "op": op, "ops_per_s": round(ok / duration, 1), "ok": ok,
                           "fail": sum(r["fail"] for r in results), "info": sum(r["info"] for r in results),
                           "p50_ms": p50, "p99_ms": p99, "load": load}
    out |= _costs(c0, c1, leader, ok, run, t_start, t_end)
    out["fsyncs_per_s_leader"] = round(out["fsyncs_leader"] / duration, 1)  # the leader's group commits a second
    span = (t_end - t_start) / 1e9
    out["counters_span_s"] = round(span, 3)  # the counters' and CPU's window (the clients' is `duration`)
    pct = {k: 100 * (cpu1[k] - cpu0[k]) / span for k in cpu0}
    out["cpu_pct"] = {"leader": round(pct.get(leader, 0.0), 1),
                      "followers": [round(v, 1) for k, v in pct.items() if isinstance(k, int) and k != leader],
                      "load_procs": round(sum(v for k, v in pct.items() if isinstance(k, str)), 1)}
    if record is not None:
        out["history"] = str(_merge(parts, record))
    return out


def _costs(c0: dict[int, dict[str, Any]], c1: dict[int, dict[str, Any]], leader: int, ok: int, run: Path,
           t_start: int, t_end: int) -> dict[str, Any]:
    """fsyncs per op and entries per AppendEntries in the window (counters, and the followers' records)."""
    nodes = sorted(set(c0) & set(c1))
    appended: dict[int, int] = {n: 0 for n in nodes}
    records: dict[int, int] = {n: 0 for n in nodes}
    for loc in read_run(run):
        rec = loc.record
        if rec.get("event") == "log_appended" and t_start <= rec.get("mono_ns", -1) < t_end and rec.get("node") in records:
            records[rec["node"]] += 1
            appended[rec["node"]] += int(rec["last"]) - int(rec["first"]) + 1
    syncs = {n: int(c1[n].get("syncs", 0)) - int(c0[n].get("syncs", 0)) for n in nodes}
    have_syncs = all("syncs" in c1[n] for n in nodes)
    if not have_syncs:  # no counter: a log_appended record is written after each durable append
        syncs = dict(records)
    ae = 0
    if leader in c0 and leader in c1:
        ae = int(c1[leader].get("sent", {}).get("append_entries", 0)) - \
            int(c0[leader].get("sent", {}).get("append_entries", 0))
    follower_entries = sum(appended[n] for n in nodes if n != leader)
    lead_syncs = syncs.get(leader, 0)
    return {"fsyncs_leader": lead_syncs, "fsyncs_all": sum(syncs.values()),
            "fsyncs_per_op_leader": round(lead_syncs / ok, 4) if ok else None,
            "fsyncs_per_op_all": round(sum(syncs.values()) / ok, 4) if ok else None,
            "ops_per_fsync_leader": round(ok / lead_syncs, 2) if lead_syncs else None,
            "fsyncs_from": "counters" if have_syncs else "log_appended records",
            "log_appended_records": sum(records.values()),
            "append_entries_sent": ae, "follower_entries": follower_entries,
            "entries_per_append_entries": round(follower_entries / ae, 2) if ae else None,
            "leader_entries": (int(c1[leader]["last"]) - int(c0[leader]["last"])) if leader in nodes else None}


def _merge(parts: list[Path], out: Path) -> Path:
    """The load processes' histories merged in time order (their times share one origin)."""
    recs = []
    for p in parts:
        with p.open() as f:
            recs += [json.loads(line) for line in f if line.strip()]
        p.unlink()
    recs.sort(key=lambda r: (r["time"], 0 if r["type"] == "invoke" else 1))  # a tie: concurrent
    with out.open("w") as f:
        for r in recs:
            f.write(json.dumps(r, separators=(", ", ": ")) + "\n")
    return out


def _sleep_until(t: float) -> None:
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)  # the measurement window's edges (not synchronisation)


def measure_cluster(nodes: int, clients: list[int], *, api: str = "auto", duration_s: float = 5.0,
                    warmup_s: float = 1.0, procs: int = 4, workdir: Path, record: bool = False,
                    extra: list[str] | None = None, progress: Callable[[str], None] = lambda s: None,
                    log: IO[str], op: str = "put") -> dict[str, Any]:
    """One live cluster of `nodes`, a window per client count (and the recorded window when `record`)."""
    run = Path(tempfile.mkdtemp(prefix=f"run-{nodes}-", dir=workdir)) / "run"
    run_cli("start", "--detach", "--run-dir", str(run), "--nodes", str(nodes), "--wait", str(30 + nodes),
            *(extra or []), timeout=120 + nodes)
    try:
        endpoints = read_client_endpoints(json.loads((run / "cluster.json").read_text()))
        leader = _leader(endpoints, 30.0)
        used = api
        if api == "auto":
            used = "kv" if _kv_served(endpoints, leader) else "raw"
        elif api == "kv" and not _kv_served(endpoints, leader):
            raise RuntimeError("the nodes do not serve the KV wire (no answer to a put); try --api raw")
        windows = []
        for c in clients:
            leader = _leader(endpoints, 30.0)
            w = _window(endpoints, leader, used, c, procs, warmup_s, duration_s, log, run,
                        op=op if used == "kv" else "put")
            progress(f"raftzmq {nodes} nodes, {used} {w['op']}: {c} clients: {w['ops_per_s']} ops/s, p50 {w['p50_ms']} ms, "
                     f"{w['ops_per_fsync_leader']} ops per leader fsync (load {w['load']})")
            windows.append(w)
        history = None
        if record:
            if used == "kv":
                leader = _leader(endpoints, 30.0)
                history = _window(endpoints, leader, used, HISTORY_CLIENTS, procs, warmup_s, duration_s, log, run,
                                  record=workdir / "history.jsonl")
                progress(f"raftzmq {nodes} nodes: recorded a history of {history['ok']} ok operations")
            else:
                history = {"pending": "the nodes do not serve the KV wire yet: no history to record (raw proposals "
                                      "carry no key or value)"}
    finally:
        stop_cluster(run, nodes)
    return {"nodes": nodes, "api": used, "fsync": True, "windows": windows, "history": history}


# ------------------------------------------------------------------------------------------------ everything

def bench_kv(*, nodes: list[int], clients: list[int], duration_s: float = 5.0, warmup_s: float = 1.0,
             api: str = "auto", procs: int = 4, pysyncobj: bool = True, floor_samples: int = 500,
             extra: list[str] | None = None, progress: Callable[[str], None] = lambda s: None,
             op: str = "put") -> dict[str, Any]:
    """The whole comparison in one run (see the module docstring). `op` "get": the windows measure gets of
    the clients' keys instead of puts (how the nodes serve them: `extra` = ["--reads", MODE])."""
    if api not in APIS:
        raise ValueError(f"api is one of {', '.join(APIS)}")
    if not 1 <= procs <= MAX_PROCS:
        raise ValueError(f"1..{MAX_PROCS} load processes")
    with tempfile.TemporaryDirectory(prefix="raftzmq-bench-kv-") as tmp:
        work = Path(tmp)
        with (work / "bench.log").open("w") as log:
            recorded = 3 if 3 in nodes else nodes[0]  # the history is recorded on one cluster
            floors, ours = [], []
            for i, n in enumerate(nodes):
                progress("floor: fsync + loopback round trip")
                floors.append(measure_floor(work, floor_samples))
                ours.append(measure_cluster(n, clients, api=api, duration_s=duration_s, warmup_s=warmup_s,
                                            procs=procs, workdir=work, record=(i == nodes.index(recorded)),
                                            extra=extra, progress=progress, log=log, op=op))
            peer: dict[str, Any] = {"skipped": "PySyncObj is not installed (pip install 'raftzmq[bench]')"}
            if pysyncobj and pysyncobj_available():
                peer = {cfg: run_pysyncobj(clients, config=cfg, nodes=3, duration_s=duration_s,
                                           warmup_s=warmup_s, log=log, progress=progress) for cfg in CONFIGS}
            elif not pysyncobj:
                peer = {"skipped": "--no-pysyncobj"}
            progress("floor: fsync + loopback round trip")
            floors.append(measure_floor(work, floor_samples))
            floor = _pool(floors)
            checker = _check(ours)
    return {"duration_s": duration_s, "warmup_s": warmup_s, "floor": floor, "raftzmq": ours, "pysyncobj": peer,
            "checker": checker, "ratios": _ratios(ours, peer, floor), "targets": _targets(ours, peer, floor),
            "differences": ["PySyncObj does not fsync (its log is in memory); ours fsyncs every group commit",
                            "PySyncObj's clients sit inside its node processes; ours are separate processes "
                            "that cross ZeroMQ (ipc) to the leader"]}


def _check(ours: list[dict[str, Any]]) -> dict[str, Any]:
    """The checker's speed on the recorded history (lincheck's API on the file as written)."""
    for o in ours:
        h = o.get("history")
        if h and "history" in h:
            t = time.monotonic()
            result = check_history(read_history(h["history"]))
            seconds = time.monotonic() - t
            return {"history_operations": result.operations, "keys": len(result.keys), "verdict": result.verdict,
                    "seconds": round(seconds, 3), "checker_seconds": round(result.seconds, 3),
                    "clients": HISTORY_CLIENTS, "load": load_average()}
    return {"pending": "no history was recorded (the nodes do not serve the KV wire yet)"}


def _best(peer: dict[str, Any], clients: int) -> tuple[str, float] | None:
    best = None
    for cfg in CONFIGS:
        for r in peer.get(cfg, {}).get("runs", []) if isinstance(peer.get(cfg), dict) else []:
            if r["clients"] == clients and (best is None or r["ops_per_s"] > best[1]):
                best = (cfg, r["ops_per_s"])
    return best


def _ratios(ours: list[dict[str, Any]], peer: dict[str, Any], floor: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for o in ours:
        for w in o["windows"]:
            row: dict[str, Any] = {"nodes": o["nodes"], "clients": w["clients"], "ops_per_s": w["ops_per_s"]}
            for cfg in CONFIGS:
                runs = peer.get(cfg, {}).get("runs", []) if isinstance(peer.get(cfg), dict) else []
                match = [r for r in runs if r["clients"] == w["clients"]]
                if match and match[0]["ops_per_s"]:
                    row[f"vs_pysyncobj_{cfg}"] = round(w["ops_per_s"] / match[0]["ops_per_s"], 3)
            if w["p50_ms"] is not None and floor["floor_ms"]:
                row["p50_vs_floor"] = round(w["p50_ms"] / floor["floor_ms"], 2)
                row["p50_vs_busy_floor"] = round(w["p50_ms"] / floor["floor_busy_ms"], 2)
            out.append(row)
    return out


def _targets(ours: list[dict[str, Any]], peer: dict[str, Any], floor: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each met or missed with its number (None when the run did not measure it)."""
    three = next((o for o in ours if o["nodes"] == 3), None)
    win = {w["clients"]: w for w in three["windows"]} if three else {}
    out = []
    w64, best = win.get(64), _best(peer, 64)
    out.append({"target": "3 nodes, 64 clients, fsync on: >= PySyncObj's best closed-loop configuration",
                "ours": w64["ops_per_s"] if w64 else None, "pysyncobj": best[1] if best else None,
                "pysyncobj_config": best[0] if best else None,
                "met": (w64["ops_per_s"] >= best[1]) if (w64 and best) else None})
    w1 = win.get(1)
    out.append({"target": "1 client: p50 <= 1.5 x (fsync + round trip)", "ours_ms": w1["p50_ms"] if w1 else None,
                "limit_ms": round(1.5 * floor["floor_ms"], 3),
                "limit_busy_ms": round(1.5 * floor["floor_busy_ms"], 3),
                "met_vs_busy_floor": (w1["p50_ms"] <= 1.5 * floor["floor_busy_ms"])
                if (w1 and w1["p50_ms"] is not None) else None,
                "met": (w1["p50_ms"] <= 1.5 * floor["floor_ms"]) if (w1 and w1["p50_ms"] is not None) else None})
    out.append({"target": ">= 8 ops per fsync at 64 clients",
                "ours": w64["ops_per_fsync_leader"] if w64 else None,
                "met": (w64["ops_per_fsync_leader"] is not None and w64["ops_per_fsync_leader"] >= 8) if w64 else None})
    return out


def _f(v: Any, spec: str = "") -> str:
    return "-" if v is None else format(v, spec)


def _cpu_text(cpu: dict[str, Any] | None) -> str:
    if not cpu:
        return "-"
    fol = max(cpu["followers"]) if cpu["followers"] else 0.0
    return f"{cpu['leader']:.0f}/{fol:.0f}/{cpu['load_procs']:.0f}"


def _cpu_per_op(ops: float, *pcts: float | None) -> str:
    """CPU microseconds per completed op of the processes whose CPU % (of one core) are given."""
    total = sum(p for p in pcts if p is not None)
    return "-" if not ops or not total else f"{total * 1e4 / ops:.0f}"


def render(res: dict[str, Any]) -> str:
    """The text report of bench_kv's result (what docs/benchmarks.md quotes)."""
    fl = res["floor"]
    lines = [f"windows: {res['duration_s']:g} s after {res['warmup_s']:g} s of warm-up; latencies nearest rank",
             f"floor: fsync p50 {fl['fsync_p50_us']} us (p10 {fl.get('fsync_p10_us', '-')}, p99 {fl['fsync_p99_us']}) + ZeroMQ round trip tcp "
             f"{fl['rtt_tcp_p50_us']} us (ipc {fl['rtt_ipc_p50_us']}) = {fl['floor_ms']} ms   [load {fl['load']}]",
             f"       with 3 writers fsyncing at once (as a cluster's nodes do): fsync p50 {fl['fsync_busy_p50_us']} us, "
             f"floor {fl['floor_busy_ms']} ms",
             "", "raftzmq (fsync on)",
             f"{'nodes':>5} {'clients':>7} {'api':>4} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'fsync/op L':>10} "
             f"{'fsync/op all':>12} {'ops/fsync L':>11} {'ent/AE':>7} {'CPU% L/F/clients':>17} "
             f"{'CPU us/op L/all':>15}  load"]
    for o in res["raftzmq"]:
        for w in o["windows"]:
            c = w.get("cpu_pct") or {}
            per_op = (f"{_cpu_per_op(w['ops_per_s'], c.get('leader'))}/"
                      f"{_cpu_per_op(w['ops_per_s'], c.get('leader'), *c.get('followers', []), c.get('load_procs'))}")
            lines.append(f"{o['nodes']:>5} {w['clients']:>7} {o['api']:>4} {w['ops_per_s']:>9.1f} "
                         f"{_f(w['p50_ms']):>8} {_f(w['p99_ms']):>8} {_f(w['fsyncs_per_op_leader']):>10} "
                         f"{_f(w['fsyncs_per_op_all']):>12} {_f(w['ops_per_fsync_leader']):>11} "
                         f"{_f(w['entries_per_append_entries']):>7} {_cpu_text(w.get('cpu_pct')):>17} "
                         f"{per_op:>15}  {w['load']}")
    peer = res["pysyncobj"]
    lines += ["", "PySyncObj (3 nodes, no fsync, clients inside its node processes)"]
    if "skipped" in peer:
        lines.append(f"  skipped: {peer['skipped']}")
    else:
        lines.append(f"{'config':>8} {'clients':>7} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU% L/F':>9} "
                     f"{'CPU us/op L/all':>15}  load")
        for cfg in CONFIGS:
            for r in peer[cfg]["runs"]:
                c = r.get("cpu_pct") or {}
                others = c.get("others", [])
                cpu = "-" if c.get("leader") is None else f"{c['leader']:.0f}/{max(others, default=0):.0f}"
                per_op = (f"{_cpu_per_op(r['ops_per_s'], c.get('leader'))}/"
                          f"{_cpu_per_op(r['ops_per_s'], c.get('leader'), *others)}")
                lines.append(f"{cfg:>8} {r['clients']:>7} {r['ops_per_s']:>9.1f} {_f(r['p50_ms']):>8} "
                             f"{_f(r['p99_ms']):>8} {cpu:>9} {per_op:>15}  {r['load']}")
    lines += ["", "ratios (ours / PySyncObj's ops/s; our p50 / floor):"]
    for r in res["ratios"]:
        vs = ", ".join(f"{k[len('vs_pysyncobj_'):]} {v}" for k, v in r.items() if k.startswith("vs_pysyncobj_"))
        lines.append(f"  {r['nodes']} nodes {r['clients']:>3} clients: vs PySyncObj {vs or '-'}; p50/floor "
                     f"{_f(r.get('p50_vs_floor'))} (busy floor {_f(r.get('p50_vs_busy_floor'))})")
    lines += [f"  differences: {d}" for d in res["differences"]]
    ch = res["checker"]
    lines += ["", "checker: " + (ch["pending"] if "pending" in ch else
                                 f"{ch['history_operations']} operations, {ch['clients']} clients, {ch['keys']} keys: "
                                 f"{ch['verdict']} in {ch['seconds']} s   [load {ch['load']}]")]
    lines += ["", "targets:"]
    for t in res["targets"]:
        name = {True: "MET", False: "MISSED", None: "not measured"}
        verdict = name[t["met"]]
        nums = ", ".join(f"{k} {v}" for k, v in t.items() if k not in ("target", "met", "met_vs_busy_floor"))
        lines.append(f"  {verdict:<12} {t['target']} ({nums})")
        if "met_vs_busy_floor" in t:
            lines.append(f"  {name[t['met_vs_busy_floor']]:<12}   the same against the busy floor (fsyncs that "
                         f"overlap, as the nodes' do): limit {t['limit_busy_ms']} ms")
    return "\n".join(lines)
