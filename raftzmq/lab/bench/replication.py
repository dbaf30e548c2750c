"""`raftzmq bench replication`: commit latency, catch-up speed and message budgets of replication on real
processes (issue 18's targets; docs/benchmarks.md).

Per run, each on a fresh detached cluster in its own run directory:
  latency   5 nodes, one proposer: proposals one after another to the leader's client endpoint (ipc), each timed
            from send to its `ok` (committed). Interleaved with them, in the same run: the floor, one fsync (write
            + fsync of a 100-byte record on a file in the run directory, i.e. the nodes' disk) plus one round trip
            (a DEALER -> ROUTER -> DEALER echo of an AppendEntries-sized frame over tcp loopback to a bare pyzmq
            echo process, as between two nodes). Reported: p50/p90/p99 and p50 / floor.
  catch-up  3 nodes: a follower is killed, 10,000 entries are committed without it (pipelined proposals), it is
            restarted; from its own records (mono_ns): entries per second from its `log_loaded` (it is up) to the
            `log_appended` that reaches the leader's last index, and from its first `log_appended`.
  messages  3 nodes: the messages sent (every node's transport counter, per kind, over the client wire's
            `stats`) to elect - every vote message (pre-vote and vote requests and answers) plus the leader's first
            heartbeat round and its answers, 2 x (n - 1), which establish it - and to commit 10 entries proposed
            at once, counted from before the proposals until every node knows them committed (heartbeats in that
            window included, as 6.5840's TestCount3B counts).
Medians over the runs. The load of the machine (load averages, busy share of all CPUs) is recorded with them.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import zmq

from raftzmq.evidence.logfile import read_run
from raftzmq.lab.live.cli_driver import detached_cluster, run_cli
from raftzmq.protocol import AppendEntries, Codec
from raftzmq.runtime.cluster.propose import ClientSockets, node_info, read_client_endpoints
from raftzmq.runtime.cluster.resources import free_ports
from raftzmq.runtime.cluster.rundir import RunDir
from raftzmq.runtime.cluster.spawn import child_env

__all__ = ["bench_replication", "echo_main"]

Progress = Callable[[str], None]
_VOTE_KINDS = ("request_vote", "vote_response", "timeout_now")
_FRAME = Codec.encode(AppendEntries(1, 1, 2))


def _q(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def _cpu() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return sum(v), v[3] + v[4]  # total, idle + iowait


class _Load:
    def __enter__(self) -> _Load:
        self.start_avg, self.cpu0 = os.getloadavg(), _cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        total1, idle1 = _cpu()
        total0, idle0 = self.cpu0
        self.busy = 1 - (idle1 - idle0) / max(1, total1 - total0)
        self.end_avg = os.getloadavg()

    def doc(self) -> dict[str, Any]:
        return {"load average at start": " ".join(f"{x:.2f}" for x in self.start_avg),
                "load average at end": " ".join(f"{x:.2f}" for x in self.end_avg),
                "busy share of all CPUs": round(self.busy, 3), "cpus": os.cpu_count()}


def echo_main(endpoint: str) -> None:
    """The floor's echo process: a bare ROUTER that sends every frame back (python -c ... echo_main(EP))."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.bind(endpoint)
    while True:
        parts = sock.recv_multipart()
        if parts[1:] == [b"stop"]:
            break
        sock.send_multipart(parts)
    sock.close(linger=0)
    ctx.term()


def _leader(endpoints: Mapping[int, str]) -> int:
    for resp_node, resp in node_info(endpoints, 2.0).items():
        if resp.leader == resp_node:
            return resp_node
    raise RuntimeError("no node says it leads")


def _propose_one(cs: ClientSockets, node: int, data: bytes, timeout: float = 10.0) -> tuple[int, float]:
    began = time.perf_counter()
    rid = cs.send(node, "propose", data)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n, resp in cs.recv(deadline):
            if resp.request_id == rid:
                if resp.status != "ok":
                    raise RuntimeError(f"proposal answered {resp.status}: {resp.message}")
                return resp.index, time.perf_counter() - began
    raise RuntimeError("a proposal was not committed within 10 s")


def _pipelined(cs: ClientSockets, node: int, count: int, window: int = 256, size: int = 100) -> int:
    """Propose `count` entries with up to `window` outstanding; the highest index committed."""
    payload = bytes(size)
    outstanding: set[int] = set()
    sent = done = top = 0
    deadline = time.monotonic() + 120
    while done < count:
        while sent < count and len(outstanding) < window:
            outstanding.add(cs.send(node, "propose", payload))
            sent += 1
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {count} proposals committed within 120 s")
        for _, resp in cs.recv(time.monotonic() + 1.0):
            if resp.request_id in outstanding:
                outstanding.discard(resp.request_id)
                if resp.status != "ok":
                    raise RuntimeError(f"proposal answered {resp.status}: {resp.message}")
                done += 1
                top = max(top, resp.index)
    return top


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.02)  # polling a live cluster, bounded
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def _latency(run_dir: Path, proposals: int, progress: Progress | None) -> dict[str, Any]:
    with detached_cluster(run_dir, "--nodes", "5"):
        eps = read_client_endpoints(RunDir(run_dir).read_cluster())
        leader = _leader(eps)
        port = free_ports("127.0.0.1", 1)[0]
        echo_ep = f"tcp://127.0.0.1:{port}"
        echo = subprocess.Popen([sys.executable, "-c", f"from raftzmq.lab.bench.replication import echo_main; "
                                 f"echo_main({echo_ep!r})"], env=child_env())
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(echo_ep)
        fd = os.open(run_dir / "floor.fsync", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        cs = ClientSockets({leader: eps[leader]})
        lat, fsyncs, rtts = [], [], []
        try:
            dealer.send(_FRAME)  # connected and warm
            if not dealer.poll(10_000):
                raise RuntimeError("the echo process did not answer")
            dealer.recv()
            for i in range(20):
                _propose_one(cs, leader, b"warm-up %d" % i)
            record = bytes(100)
            for i in range(proposals):
                lat.append(_propose_one(cs, leader, b"x" * 100)[1])
                t = time.perf_counter()
                os.write(fd, record)
                os.fsync(fd)
                fsyncs.append(time.perf_counter() - t)
                t = time.perf_counter()
                dealer.send(_FRAME)
                dealer.recv()
                rtts.append(time.perf_counter() - t)
        finally:
            cs.close()
            os.close(fd)
            dealer.send(b"stop")
            dealer.close()
            try:
                echo.wait(5)
            except subprocess.TimeoutExpired:
                echo.kill()
                echo.wait()
    f50, r50 = statistics.median(fsyncs), statistics.median(rtts)
    p50 = statistics.median(lat)
    return {"p50_ms": p50 * 1e3, "p90_ms": _q(lat, 0.9) * 1e3, "p99_ms": _q(lat, 0.99) * 1e3,
            "fsync_p50_ms": f50 * 1e3, "rtt_p50_ms": r50 * 1e3, "floor_ms": (f50 + r50) * 1e3,
            "ratio_p50_to_floor": p50 / (f50 + r50)}


def _catchup(run_dir: Path, entries: int, progress: Progress | None) -> dict[str, Any]:
    with detached_cluster(run_dir, "--nodes", "3"):
        eps = read_client_endpoints(RunDir(run_dir).read_cluster())
        leader = _leader(eps)
        follower = next(n for n in eps if n != leader)
        run_cli("kill", "--run-dir", str(run_dir), str(follower))
        cs = ClientSockets({leader: eps[leader]})
        try:
            fill_began = time.monotonic()
            top = _pipelined(cs, leader, entries)
            fill_s = time.monotonic() - fill_began
        finally:
            cs.close()
        if progress:
            progress(f"  {entries} entries committed without node {follower} in {fill_s:.1f} s; restarting it")
        run_cli("restart", "--run-dir", str(run_dir), str(follower))

        def caught_up() -> bool:
            got = node_info({follower: eps[follower]}, 1.0).get(follower)
            return got is not None and got.index >= top
        _wait(caught_up, 120, f"node {follower} to catch up")
    recs = [loc.record for loc in read_run(run_dir) if loc.record.get("node") == follower
            and loc.record.get("by") == "node"]
    inc = max(r["incarnation"] for r in recs)
    mine = [r for r in recs if r["incarnation"] == inc]
    loaded = next(r for r in mine if r["event"] == "log_loaded")
    appended = [r for r in mine if r["event"] == "log_appended"]
    first = appended[0]
    end = next(r for r in appended if r["last"] >= top)
    behind = top - loaded["last"]
    span = (end["mono_ns"] - loaded["mono_ns"]) / 1e9
    stream = (end["mono_ns"] - first["mono_ns"]) / 1e9
    return {"behind": behind, "from_start_s": span, "entries_per_s": behind / span,
            "streaming_s": stream, "entries_per_s_streaming": (behind - (first["last"] - loaded["last"])) / stream
            if stream > 0 else None, "batches": len([r for r in appended if r["last"] <= end["last"]]),
            "fill_entries_per_s": entries / fill_s}


def _sent(eps: Mapping[int, str]) -> dict[int, dict[str, int]]:
    import json
    cs = ClientSockets(eps)
    try:
        want = {cs.send(n, "stats"): n for n in eps}
        got: dict[int, dict[str, int]] = {}
        deadline = time.monotonic() + 3
        while want and time.monotonic() < deadline:
            for n, resp in cs.recv(deadline):
                if want.pop(resp.request_id, None) == n:
                    got[n] = json.loads(resp.message)["sent"]
        if want:
            raise RuntimeError(f"nodes {sorted(want.values())} did not answer stats")
        return got
    finally:
        cs.close()


def _messages(run_dir: Path, progress: Progress | None) -> dict[str, Any]:
    with detached_cluster(run_dir, "--nodes", "3"):
        eps = read_client_endpoints(RunDir(run_dir).read_cluster())
        n = len(eps)
        before = _sent(eps)
        votes = sum(c.get(k, 0) for c in before.values() for k in _VOTE_KINDS)
        leader = _leader(eps)
        cs = ClientSockets({leader: eps[leader]})
        try:
            began = time.monotonic()
            before = _sent(eps)
            rids = {cs.send(leader, "propose", b"entry %d" % i) for i in range(10)}
            top = 0
            while rids:
                for _, resp in cs.recv(time.monotonic() + 5):
                    if resp.request_id in rids:
                        rids.discard(resp.request_id)
                        top = max(top, resp.index)
                if time.monotonic() - began > 30:
                    raise RuntimeError("10 proposals not committed within 30 s")
        finally:
            cs.close()
        _wait(lambda: all(r.commit >= top for r in node_info(eps, 1.0).values()), 10, "every node to commit")
        window = time.monotonic() - began
        after = _sent(eps)
    total = sum(after[x].get(k, 0) - before[x].get(k, 0) for x in after for k in after[x])
    return {"elect_votes": votes, "elect": votes + 2 * (n - 1), "ten_entries": total, "ten_entries_window_s": window}


def bench_replication(directory: Path, runs: int = 3, proposals: int = 200, catchup: int = 10_000,
                      progress: Progress | None = None) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-replication-", dir=directory))
    results: dict[str, list[dict[str, Any]]] = {"latency": [], "catchup": [], "messages": []}
    try:
        with _Load() as load:
            for r in range(runs):
                if progress:
                    progress(f"run {r + 1}/{runs}: commit latency, 5 nodes, {proposals} proposals")
                results["latency"].append(_latency(work / f"latency-{r}", proposals, progress))
                if progress:
                    progress(f"run {r + 1}/{runs}: catch-up of {catchup} entries, 3 nodes")
                results["catchup"].append(_catchup(work / f"catchup-{r}", catchup, progress))
                if progress:
                    progress(f"run {r + 1}/{runs}: message counts, 3 nodes")
                results["messages"].append(_messages(work / f"messages-{r}", progress))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(kind: str, key: str) -> float | None:
        vals = [x[key] for x in results[kind] if x.get(key) is not None]
        return round(statistics.median(vals), 3) if vals else None
    return {
        "runs": runs, "proposals per latency run": proposals, "catch-up entries": catchup,
        **load.doc(),
        "commit latency p50 (ms)": med("latency", "p50_ms"),
        "commit latency p90 (ms)": med("latency", "p90_ms"),
        "commit latency p99 (ms)": med("latency", "p99_ms"),
        "floor: fsync p50 (ms)": med("latency", "fsync_p50_ms"),
        "floor: round trip p50 (ms)": med("latency", "rtt_p50_ms"),
        "floor (ms)": med("latency", "floor_ms"),
        "p50 / floor (target <= 1.5)": med("latency", "ratio_p50_to_floor"),
        "catch-up entries/s from restart (target >= 20000)": med("catchup", "entries_per_s"),
        "catch-up entries/s while streaming": med("catchup", "entries_per_s_streaming"),
        "catch-up batches (log_appended records)": med("catchup", "batches"),
        "fill: entries/s committed, pipelined": med("catchup", "fill_entries_per_s"),
        "messages to elect, 3 nodes (target <= 30)": med("messages", "elect"),
        "  of which vote messages": med("messages", "elect_votes"),
        "messages for 10 entries, 3 nodes (target <= 42)": med("messages", "ten_entries"),
        "  window of the 10 entries (s)": med("messages", "ten_entries_window_s"),
        "samples": results,
    }
