"""Real node processes (`python -m raftzmq.runtime.node`) talking over real sockets, without the supervisor:
the test process plays the supervisor (it writes cluster.json, is the nodes' parent, publishes netctl)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest
import zmq

from proc_helpers import Procs, free_tcp_ports, pid_exists, repo_env, wait_until
from raftzmq.evidence.logfile import iter_records
from raftzmq.protocol import HardState
from raftzmq.runtime.config import ClusterConfig
from raftzmq.runtime.node.storage import StateFile

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="node processes need Linux")

START_TIMEOUT = 10.0  # generous: a loaded CI machine; the normal case is well under a second
ELECTION_TIMEOUT = 10.0


class Cluster:
    """A run directory with cluster.json for n nodes, and helpers to spawn nodes and read their logs."""

    def __init__(self, run_dir: Path, procs: Procs, n: int = 3, **config) -> None:
        self.dir, self.procs, self.n = run_dir, procs, n
        run_dir.mkdir(mode=0o700, exist_ok=True)
        cfg = ClusterConfig(nodes=n, **{"election_timeout_ms": (100, 200), "heartbeat_ms": 20, **config})
        self.endpoints = {i: f"tcp://127.0.0.1:{p}" for i, p in zip(range(1, n + 1), free_tcp_ports(n))}
        self.netctl = f"ipc://{run_dir}/net.sock"
        doc = {"run_id": run_dir.name, "nodes": n, "config": cfg.to_dict(),
               "endpoints": {str(i): ep for i, ep in self.endpoints.items()},
               "control": f"ipc://{run_dir}/control.sock", "netctl": self.netctl, "supervisor_pid": os.getpid()}
        (run_dir / "cluster.json").write_text(json.dumps(doc))
        self.nodes: dict[int, object] = {}
        self.incarnation: dict[int, int] = {}

    def spawn(self, i: int, env_extra: dict[str, str] | None = None, wait: bool = True):
        self.incarnation[i] = self.incarnation.get(i, 0) + 1
        argv = [sys.executable, "-m", "raftzmq.runtime.node", "--run-dir", str(self.dir), "--id", str(i),
                "--incarnation", str(self.incarnation[i]), "--supervisor-pid", str(os.getpid())]
        p = self.procs.spawn(argv, name=f"node{i}", env=repo_env(env_extra, drop=["RAFTZMQ_FAILPOINTS"]))
        self.nodes[i] = p
        if wait:
            self.wait_event(i, "node_started", incarnation=self.incarnation[i], timeout=START_TIMEOUT)
        return p

    def start_all(self):
        for i in range(1, self.n + 1):
            self.spawn(i, wait=False)
        for i in range(1, self.n + 1):
            self.wait_event(i, "node_started", timeout=START_TIMEOUT)

    def log_path(self, i: int) -> Path:
        return self.dir / f"node-{i}.jsonl"

    def records(self, i: int) -> list[dict]:
        """Node i's records, validated against the log schema (a torn last line after SIGKILL is skipped)."""
        if not self.log_path(i).exists():
            return []
        return [rec for rec, _ in iter_records(self.log_path(i), on_warning=lambda m: None)]

    def events(self, i: int, name: str, **match) -> list[dict]:
        return [r for r in self.records(i) if r["event"] == name and all(r.get(k) == v for k, v in match.items())]

    def wait_event(self, i: int, name: str, timeout: float = ELECTION_TIMEOUT, **match) -> dict:
        return wait_until(lambda: (self.events(i, name, **match) or [None])[-1], timeout,
                          f"{name} {match} in node-{i}.jsonl", diagnostics=lambda: self.diagnostics(i))

    def leaders(self, nodes=None, min_term: int = 0) -> list[tuple[int, int]]:
        """(term, node) for every became_leader with term > min_term."""
        out = []
        for i in nodes or range(1, self.n + 1):
            out += [(r["term"], i) for r in self.events(i, "became_leader") if r["term"] > min_term]
        return sorted(out)

    def wait_leader(self, nodes=None, min_term: int = 0) -> tuple[int, int]:
        found = wait_until(lambda: self.leaders(nodes, min_term), ELECTION_TIMEOUT,
                           f"a leader with term > {min_term} among {nodes or 'all'}",
                           diagnostics=lambda: "\n".join(self.diagnostics(i) for i in range(1, self.n + 1)))
        return found[0]

    def diagnostics(self, i: int) -> str:
        p = self.nodes.get(i)
        tail = self.log_path(i).read_text()[-1500:] if self.log_path(i).exists() else "(no log)"
        err = p.stderr_text()[-1500:] if p is not None else ""
        return f"--- node {i} {p!r}\nlog tail:\n{tail}\nstderr:\n{err}"


@pytest.fixture
def procs(tmp_path):
    group = Procs(tmp_path / "proc-out")
    yield group
    problems = group.kill_all()
    assert not problems, f"processes that would not die: {problems}"


@pytest.fixture
def cluster(tmp_path, procs):
    return Cluster(tmp_path / "run", procs)


def test_three_nodes_elect_one_leader_and_reelect_after_kill9(cluster):
    cluster.start_all()
    term, leader = cluster.wait_leader()
    started = cluster.events(leader, "node_started")[0]
    assert started["term"] == 0 and started["voted_for"] is None and started["persist_mode"] == "term+vote"
    assert isinstance(started["rng_seed"], int)
    # The others follow it, and nobody else won that term.
    for i in set(range(1, 4)) - {leader}:
        cluster.wait_event(i, "became_follower", leader=leader)
    assert [lt for lt in cluster.leaders() if lt[0] == term] == [(term, leader)]

    cluster.nodes[leader].kill()
    assert cluster.nodes[leader].wait(5) == -signal.SIGKILL
    others = sorted(set(range(1, 4)) - {leader})
    new_term, new_leader = cluster.wait_leader(others, min_term=term)
    assert new_term > term and new_leader in others
    # Election safety across the whole run: at most one leader per term.
    terms = [t for t, _ in cluster.leaders()]
    assert len(terms) == len(set(terms))
    # Every vote this run gave was durable before it was logged.
    for i in range(1, 4):
        persisted = set()
        for r in cluster.records(i):
            if r["event"] == "state_persisted":
                persisted.add((r["term"], r["voted_for"]))
            elif r["event"] == "vote_granted":
                assert (r["term"], r["candidate"]) in persisted, f"node {i}: vote logged before it was durable"


def test_sigterm_stops_cleanly_with_exit_0(cluster):
    p = cluster.spawn(1)
    p.signal(signal.SIGTERM)
    assert p.wait(5) == 0
    stop = cluster.events(1, "node_stopping")
    assert [r["reason"] for r in stop] == ["sigterm"] and cluster.records(1)[-1]["event"] == "node_stopping"


def test_corrupt_state_file_refuses_to_start_and_keeps_the_file(cluster):
    state = cluster.dir / "node-2.state"
    StateFile(state).save(HardState(7, 3))
    data = bytearray(state.read_bytes())
    data[data.index(b'"term":7') + 7] = ord("8")  # flip the term: the checksum no longer matches
    state.write_bytes(bytes(data))
    before = state.read_bytes()
    p = cluster.spawn(2, wait=False)
    assert p.wait(10) == 3
    assert str(state) in p.stderr_text()
    failed = cluster.events(2, "node_failed")
    assert len(failed) == 1 and str(state) in failed[0]["reason"] and "checksum" in failed[0]["reason"]
    assert not cluster.events(2, "node_started")
    assert state.read_bytes() == before, "a refused start never rewrites (or resets) the state file"


def test_address_in_use_refuses_with_endpoint(cluster):
    ctx = zmq.Context()
    try:
        squatter = ctx.socket(zmq.ROUTER)
        squatter.setsockopt(zmq.LINGER, 0)
        squatter.bind(cluster.endpoints[1])
        p = cluster.spawn(1, wait=False)
        assert p.wait(10) == 3
        assert cluster.endpoints[1] in p.stderr_text()
        assert "in use" in cluster.events(1, "node_failed")[0]["reason"]
    finally:
        ctx.destroy(linger=0)


def test_wrong_supervisor_pid_and_bad_failpoint_spec_refuse(cluster, procs):
    argv = [sys.executable, "-m", "raftzmq.runtime.node", "--run-dir", str(cluster.dir), "--id", "1",
            "--incarnation", "1", "--supervisor-pid", "1"]
    p = procs.spawn(argv, env=repo_env())
    assert p.wait(10) == 3 and "supervisor pid 1" in p.stderr_text()
    p = cluster.spawn(2, env_extra={"RAFTZMQ_FAILPOINTS": "2:after_sned"}, wait=False)
    assert p.wait(10) == 3 and "after_sned" in p.stderr_text()


def test_failpoint_after_persist_before_send_leaves_a_durable_vote_that_never_left(cluster):
    # Node 3 dies at its first persist, which records a vote (for itself as candidate, or for a peer). Node 2
    # stays down until then: with only 1 and 3 up no leader can exist without 3's vote, so 3's first persist is
    # a vote however the two race (with all three up, 1 and 2 could elect a leader whose heartbeat is 3's first
    # persist, with no vote in it).
    cluster.spawn(3, env_extra={"RAFTZMQ_FAILPOINTS": "3@1:after_persist_before_send"}, wait=False)
    cluster.spawn(1, wait=False)
    p3 = cluster.nodes[3]
    assert p3.wait(ELECTION_TIMEOUT) == -signal.SIGKILL, cluster.diagnostics(3)
    cluster.spawn(2, wait=False)
    recs = cluster.records(3)
    hit, last = recs[-1], recs[-2]  # the node says where it died, right after the persist
    assert (hit["event"], hit["name"], hit["term"]) == ("failpoint_hit", "after_persist_before_send", last["term"])
    assert last["event"] == "state_persisted" and last["voted_for"] is not None, recs
    # The events of that Output (e.g. vote_granted) were never logged and its messages never sent...
    assert not [r for r in recs if r["event"] == "vote_granted" and r["term"] == last["term"]]
    # ...but the vote is on disk, and the next incarnation (failpoint armed for @1 only) starts from it.
    st = StateFile(cluster.dir / "node-3.state").load()
    assert (st.term, st.voted_for) == (last["term"], last["voted_for"])
    cluster.spawn(3, env_extra={"RAFTZMQ_FAILPOINTS": "3@1:after_persist_before_send"})
    started = cluster.events(3, "node_started", incarnation=2)[0]
    assert (started["term"], started["voted_for"]) == (last["term"], last["voted_for"])
    cluster.wait_leader()


def test_node_dies_with_its_parent(cluster, procs):
    # An intermediate parent spawns the node with its own pid as --supervisor-pid, prints the node's pid, waits.
    script = textwrap.dedent(f"""
        import os, subprocess, sys, time
        p = subprocess.Popen([sys.executable, "-m", "raftzmq.runtime.node", "--run-dir", {str(cluster.dir)!r},
                              "--id", "1", "--incarnation", "1", "--supervisor-pid", str(os.getpid())])
        print(p.pid, flush=True)
        p.wait()
    """)
    parent = procs.spawn([sys.executable, "-c", script], name="parent", env=repo_env())
    node_pid = int(wait_until(lambda: parent.stdout_text().strip(), START_TIMEOUT, "the node's pid"))
    procs.adopt(node_pid)
    cluster.wait_event(1, "node_started", timeout=START_TIMEOUT)
    parent.kill()
    assert parent.wait(5) == -signal.SIGKILL
    wait_until(lambda: not pid_exists(node_pid), 2.0, f"node pid {node_pid} to die after its parent")


def test_garbage_flood_is_logged_rate_limited_and_node_keeps_working(cluster):
    cluster.start_all()
    term, leader = cluster.wait_leader()
    victim = next(i for i in range(1, 4) if i != leader)
    ctx = zmq.Context()
    n = 3000
    try:
        h = ctx.socket(zmq.DEALER)
        h.setsockopt(zmq.LINGER, 1000)
        h.connect(cluster.endpoints[victim])
        for k in range(n):
            h.send(b"\x00garbage %d" % k)
        h.close()
    finally:
        ctx.term()  # waits (bounded by LINGER) until the flood has been handed to the victim

    def counted():
        return sum(r.get("count", 1) for r in cluster.events(victim, "message_rejected"))

    wait_until(lambda: counted() >= n, 5, f"{n} rejections accounted for in node-{victim}.jsonl",
               diagnostics=lambda: f"counted {counted()}")
    rejected = cluster.events(victim, "message_rejected")
    assert counted() == n
    assert len(rejected) <= 20, f"{len(rejected)} records for one flood: not rate-limited"
    assert {r["reason"] for r in rejected} == {"bad_version"} and all(r["size"] > 0 for r in rejected)
    # Still working: the flooded node takes part in the next election after the leader dies.
    cluster.nodes[leader].kill()
    others = sorted(set(range(1, 4)) - {leader})
    cluster.wait_leader(others, min_term=term)
    assert cluster.nodes[victim].alive


def test_netctl_partition_and_leadership_transfer(cluster):
    cluster.start_all()
    term, leader = cluster.wait_leader()
    ctx = zmq.Context()
    try:
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.bind(cluster.netctl)
        others = sorted(set(range(1, 4)) - {leader})

        # Leadership transfer to a chosen follower (published until the target wins; nodes dedupe by id).
        target = others[0]
        transfer = json.dumps({"type": "transfer", "id": 1, "target": target}).encode()
        wait_until(lambda: pub.send(transfer) or cluster.leaders([target], min_term=term), ELECTION_TIMEOUT,
                   f"node {target} to take over by transfer")
        assert len(cluster.events(leader, "transfer_started", target=target)) == 1
        term, leader = cluster.wait_leader([target], min_term=term)

        # Isolate the leader: the other two elect a new one; the old one steps down (CheckQuorum).
        others = sorted(set(range(1, 4)) - {leader})
        net = {"type": "net", "version": 1, "groups": [[leader], others], "loss": 0.0, "delay_ms": 0,
               "jitter_ms": 0}
        (cluster.dir / "net.json").write_text(json.dumps(net))

        def published_and(pred):
            pub.send(json.dumps(net).encode())  # republished, as the supervisor does
            return pred()

        wait_until(lambda: published_and(lambda: cluster.leaders(others, min_term=term)), ELECTION_TIMEOUT,
                   "a new leader on the majority side")
        cluster.wait_event(leader, "stepped_down", reason="check_quorum")
        for i in range(1, 4):
            applied = cluster.events(i, "net_applied")
            assert [r["version"] for r in applied] == [1], "applied once per version despite republishing"
        drops = cluster.events(leader, "message_dropped", reason="partition")
        assert drops and len(drops) <= 20, "partition drops are logged, rate-limited"

        # A late joiner reads net.json at start: a restarted node 'leader' comes back still partitioned.
        cluster.nodes[leader].signal(signal.SIGTERM)
        assert cluster.nodes[leader].wait(5) == 0
        cluster.spawn(leader)
        applied = cluster.wait_event(leader, "net_applied", incarnation=2)  # written after node_started
        assert applied["groups"] == [[leader], others]

        # A frame nested past the parser's recursion limit, and a transfer whose id is a nested list, are rejected
        # and logged (rate-limited: one record a second); no node stops over them.
        bad = {"JSON nested too deeply": b"[" * 20_000 + b"]" * 20_000,
               "transfer: id [[1]] is not an int": json.dumps({"type": "transfer", "id": [[1]], "target": 1}).encode()}
        for reason, frame in bad.items():
            wait_until(lambda: pub.send(frame) or all(cluster.events(i, "netctl_rejected", reason=reason)
                                                      for i in range(1, 4)), ELECTION_TIMEOUT, f"'{reason}' logged")
        assert all(cluster.nodes[i].alive for i in range(1, 4))
    finally:
        ctx.destroy(linger=0)


def test_storage_fatal_error_exits_4(cluster):
    p1 = cluster.spawn(1)  # alone, node 1 only pre-votes (never wins one), so it persists nothing after start
    blocker = cluster.dir / "node-1.state"
    blocker.unlink()  # the term-0 file its first start wrote
    blocker.mkdir()
    (blocker / "x").write_text("a directory where the state file should go: os.replace fails")
    cluster.spawn(2, wait=False)  # any election now needs node 1's durable vote
    assert p1.wait(ELECTION_TIMEOUT) == 4, cluster.diagnostics(1)
    failed = cluster.events(1, "node_failed")
    assert len(failed) == 1 and "storage fatal" in failed[0]["reason"] and str(blocker) in failed[0]["reason"]
    assert str(blocker) in p1.stderr_text()
    assert not cluster.events(1, "state_persisted"), "nothing is logged as persisted when the save failed"


# ------------------------------------------------------------------ the start-up barrier (runtime/node/startup.py)

def _hold_all(cluster, bound_ms: int) -> None:
    doc = json.loads((cluster.dir / "cluster.json").read_text())
    doc["startup_hold"] = {"bound_ms": bound_ms, "incarnations": {str(i): 1 for i in range(1, cluster.n + 1)}}
    (cluster.dir / "cluster.json").write_text(json.dumps(doc))


def test_a_node_whose_release_never_comes_starts_its_timer_after_the_bound(cluster):
    _hold_all(cluster, bound_ms=800)  # nobody publishes a release in this test
    cluster.start_all()
    term, _ = cluster.wait_leader()
    by_bound = []
    for i in range(1, cluster.n + 1):
        recs = cluster.records(i)
        started = next(r for r in recs if r["event"] == "node_started")
        released = next(r for r in recs if r["event"] == "timer_released")
        # Each node waits out the bound, unless a leader that did (a node started earlier, on a loaded machine)
        # reaches it first: then it follows that leader, which also ends the hold.
        assert released["reason"] in ("bound", "leader"), released
        if released["reason"] == "bound":
            by_bound.append(i)
            assert released["held_ms"] >= 800
            assert (released["mono_ns"] - started["mono_ns"]) / 1e9 >= 0.79
        # the hold held: no election began before the release
        assert not [r for r in recs if r["event"] == "election_timeout" and r["mono_ns"] < released["mono_ns"]]
    assert by_bound, "without a release, some node must have started its timer at the bound"
    assert term >= 1


@contextlib.contextmanager
def _netctl_publisher(cluster):
    """A PUB bound where the supervisor's netctl socket would be, so a test can speak the start-up protocol."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    try:
        pub.bind(cluster.netctl)
        yield pub
    finally:
        pub.close(linger=0)
        ctx.term()


def test_the_release_starts_every_held_timer_at_once(cluster):
    _hold_all(cluster, bound_ms=60_000)  # far beyond the test: only the release can start the timers
    with _netctl_publisher(cluster) as pub:
        cluster.start_all()
        time.sleep(0.5)  # longer than an election timeout: a node that does not hold would campaign meanwhile
        assert all(not cluster.events(i, "election_timeout") for i in range(1, cluster.n + 1))
        # As the supervisor does: `connect` once all are up, republished; two reconnect intervals later (the
        # config's 100 ms here: a step of the protocol, not a wait for something to happen) `release`, naming 2.
        connect_until = time.monotonic() + 0.2
        while time.monotonic() < connect_until:
            pub.send(b'{"type": "connect"}')
            time.sleep(0.02)  # the republish period
        wait_until(lambda: pub.send(b'{"type": "release", "first": 2}') or all(
            cluster.events(i, "timer_released") for i in range(1, cluster.n + 1)), 10, "releases")
        assert cluster.wait_leader() == (1, 2), "the node the release names campaigns, alone, and wins term 1"
        assert [r["reason"] for r in cluster.events(2, "timer_released")] == ["first"]
        for i in (1, 3):  # the others held on until they heard the leader, and never campaigned
            assert [r["reason"] for r in cluster.events(i, "timer_released")] == ["leader"]
            assert not cluster.events(i, "election_timeout")


def test_the_node_named_at_the_connect_step_campaigns_once_connected_without_a_release(cluster):
    # The release never comes here: the named node needs only its connections (runtime/node/startup.py).
    _hold_all(cluster, bound_ms=60_000)
    with _netctl_publisher(cluster) as pub:
        cluster.start_all()
        time.sleep(0.5)  # longer than an election timeout: a node that does not hold would campaign meanwhile
        assert all(not cluster.events(i, "election_timeout") for i in range(1, cluster.n + 1))
        wait_until(lambda: pub.send(b'{"type": "connect", "first": 3}') or cluster.leaders(), 10, "a leader")
        assert cluster.wait_leader() == (1, 3), "the named node campaigns, alone, and wins term 1"
        first = cluster.events(3, "timer_released")
        assert [r["reason"] for r in first] == ["first"]
        assert first[0]["inbound"] == first[0]["outbound"] == 2, "every connection was up before it campaigned"
        assert len(cluster.events(3, "became_precandidate")) == 1, "one round: no request found a missing connection"
        for i in (1, 2):  # they hold until the leader's first heartbeat reaches them
            assert cluster.wait_event(i, "timer_released")["reason"] == "leader"
            assert not cluster.events(i, "election_timeout")
        # Until then 1 and 2 were connected only to 3; hearing the leader connected the rest of the mesh, so
        # without 3 they elect each other.
        cluster.nodes[3].kill()
        term, leader = cluster.wait_leader([1, 2], min_term=1)
        assert leader in (1, 2) and term >= 2


def test_the_named_node_campaigns_at_its_bound_when_a_peer_never_connects(cluster):
    # Node 1 of 3 never starts: node 2, named at the connect step, waits first_connect_bound_s for it, then
    # campaigns with the connections it has, and wins with node 3's vote.
    from raftzmq.runtime.node.startup import first_connect_bound_s

    _hold_all(cluster, bound_ms=60_000)
    with _netctl_publisher(cluster) as pub:
        for i in (2, 3):
            cluster.spawn(i, wait=False)
        for i in (2, 3):
            cluster.wait_event(i, "node_started", timeout=START_TIMEOUT)
        sent = time.monotonic()
        wait_until(lambda: pub.send(b'{"type": "connect", "first": 2}') or cluster.leaders([2, 3]), 10, "a leader")
        assert cluster.wait_leader([2, 3]) == (1, 2)
        released = cluster.events(2, "timer_released")
        assert [r["reason"] for r in released] == ["first"]
        assert released[0]["inbound"] == released[0]["outbound"] == 1
        assert time.monotonic() - sent >= first_connect_bound_s(3) - 0.05, "it waited for the missing peer"
