"""Replication on real processes (issue 18, deliverable 7 and the Must show): commands proposed with `raftzmq
propose` are committed and read back from every node's write-ahead log (`raftzmq inspect`); a leader killed with
uncommitted entries loses them and rejoins; a minority partition cannot commit (`propose` exits 1, fate unknown);
after healing every node holds the same committed prefix, a follower that was down catches up, the partitioned old
leader's uncommitted suffix is replaced (6.5840's Rejoin and Backup), and `raftzmq check` exits 0 (the fixture).

Few clusters, bounded waits on conditions (the nodes' own answers over the client wire: `info`), no sleeps."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest

from cluster_harness import Cluster, cluster_session, wait_for
from raftzmq.protocol.clientwire import ClientResponse
from raftzmq.runtime.cluster.propose import ClientSockets, node_info, propose

pytestmark = pytest.mark.cluster

# Long enough that a leader cut off from its followers still leads when the test hands it a command (CheckQuorum
# deposes it after one election timeout), short enough for a fast failover.
TIMING = ("--election-timeout", "600-1200", "--heartbeat", "100")


def _endpoints(c: Cluster) -> dict[int, str]:
    doc = json.loads((c.run_dir / "cluster.json").read_text())
    return {int(k): v for k, v in doc["client_endpoints"].items()}


def _info(c: Cluster, nodes: list[int] | None = None) -> dict[int, ClientResponse]:
    eps = _endpoints(c)
    return node_info({n: eps[n] for n in (nodes or eps)}, timeout_s=1.0)


def _propose_cli(c: Cluster, text: str, *args: str) -> dict[str, Any]:
    proc = c.cli("propose", text, "--json", *args, check=False)
    doc = json.loads(proc.stdout)
    doc["exit"] = proc.returncode
    doc["stderr"] = proc.stderr
    return doc


def _committed(c: Cluster, text: str) -> tuple[int, int]:
    doc = _propose_cli(c, text, "--timeout", "10")
    assert doc["exit"] == 0 and doc["committed"], doc
    return doc["index"], doc["term"]


def _converged(c: Cluster, nodes: list[int], at_least: int) -> dict[int, ClientResponse] | None:
    """Every node in `nodes` answers with one last index == its commit index >= at_least."""
    got = _info(c, nodes)
    if sorted(got) != sorted(nodes):
        return None
    lasts = {r.index for r in got.values()} | {r.commit for r in got.values()}
    return got if len(lasts) == 1 and lasts.pop() >= at_least else None


def _logs(c: Cluster, nodes: list[int]) -> dict[int, dict[str, Any]]:
    return {n: json.loads(c.cli("inspect", str(n), "--json").stdout) for n in nodes}


def _same_committed_prefix(logs: dict[int, dict[str, Any]]) -> list[tuple[int, str]]:
    """The committed prefix every node holds (term, data), asserted equal across nodes."""
    commit = min(doc["commit"] for doc in logs.values())
    assert commit >= 1
    prefixes = {n: [(e["term"], e["data"]) for e in doc["entries"][:commit]] for n, doc in logs.items()}
    first = next(iter(prefixes.values()))
    assert all(p == first for p in prefixes.values()), prefixes
    digests = {doc["entries"][commit - 1]["digest"] for doc in logs.values()}
    assert len(digests) == 1, digests
    return first


def _appended_at(c: Cluster, node: int, minimum: int) -> bool:
    got = _info(c, [node])
    return node in got and got[node].index >= minimum


@pytest.fixture
def three(tmp_path):
    with cluster_session(tmp_path / "run") as c:
        c.start("--nodes", "3", *TIMING)
        yield c


@pytest.fixture
def five(tmp_path):
    with cluster_session(tmp_path / "run") as c:
        c.start("--nodes", "5", *TIMING)
        yield c


def test_three_nodes_commit_read_back_and_a_leader_killed_with_uncommitted_entries_loses_them(three):
    c = three
    i1, _ = _committed(c, "alpha")
    i2, _ = _committed(c, "beta")
    assert i2 == i1 + 1
    wait_for(lambda: _converged(c, [1, 2, 3], i2), 10, "every node to hold and commit both entries")
    # Many proposals in flight at once: each is answered once committed, none waits for an unrelated wake-up
    # (answers sent on the client socket may consume the edge that announced new requests).
    leader = c.status()["leader"]
    cs = ClientSockets({leader: _endpoints(c)[leader]})
    try:
        rids = {cs.send(leader, "propose", b"burst %d" % k) for k in range(300)}
        answers: dict[int, ClientResponse] = {}
        deadline = time.monotonic() + 30
        while len(answers) < 300 and time.monotonic() < deadline:
            answers.update((r.request_id, r) for _, r in cs.recv(deadline) if r.request_id in rids)
    finally:
        cs.close()
    assert len(answers) == 300 and {r.status for r in answers.values()} == {"ok"}
    assert sorted(r.index for r in answers.values()) == list(range(i2 + 1, i2 + 301))
    i2 += 300
    wait_for(lambda: _converged(c, [1, 2, 3], i2), 10, "every node to hold the burst")
    st = c.status()
    assert all(n["last"] == i2 and n["lag"] == 0 for n in st["nodes"]), st  # status reports the logs
    assert "LAST" in c.cli("status").stdout

    # The leader's messages stop reaching its followers: what it appends now cannot commit.
    old = st["leader"]
    others = [n for n in (1, 2, 3) if n != old]
    for f in others:
        c.cli("cut", str(old), str(f), "--one-way")
    lost = propose({old: _endpoints(c)[old]}, b"uncommitted", timeout_s=0.3)
    assert not lost.committed and lost.attempts >= 1
    wait_for(lambda: _appended_at(c, old, i2 + 1), 5, "the old leader to append the entry")
    assert [r for r in c.records("log_appended", old) if r["last"] > i2], "logged as durably appended"
    c.cli("kill", str(old))
    c.cli("heal")
    c.wait_leader(timeout=15, other_than=old)
    i3, _ = _committed(c, "gamma")  # the new leader's log: alpha, beta, ...; never "uncommitted"

    c.cli("restart", str(old))  # Rejoin: the old leader's uncommitted suffix is replaced
    wait_for(lambda: _converged(c, [1, 2, 3], i3), 15, "the old leader to catch up with the new log")
    c.cli("stop")
    prefix = _same_committed_prefix(_logs(c, [1, 2, 3]))
    data = [d for _, d in prefix]
    assert ["alpha", "beta"] + [f"burst {k}" for k in range(300)] + ["gamma"] == [d for d in data if d]  # (no-ops
    # carry no data)
    assert "uncommitted" not in data
    olds = _logs(c, [old])[old]
    assert "uncommitted" not in [e["data"] for e in olds["entries"]], "the suffix was replaced on disk"

    # A damaged record in the middle of a log (valid records after it) is not a torn tail: that node refuses to
    # start, naming the file and the offset; the other two go on.
    victim = next(n for n in (1, 2, 3) if n != old)
    second = olds["entries"][1]["offset"]
    wal = c.run_dir / f"node-{victim}.wal"
    data = bytearray(wal.read_bytes())
    data[second + 28] ^= 0xFF  # the first data byte of entry 2 ("beta"): its checksum no longer matches
    wal.write_bytes(bytes(data))
    c.start("--resume")
    failed = wait_for(lambda: c.status()["nodes"][victim - 1]["failed"], 15, "the damaged node to refuse")
    assert "corrupt write-ahead log" in failed and str(wal) in failed and f"byte offset {second}" in failed, failed
    assert c.status()["nodes"][victim - 1]["exit_code"] == 3
    c.wait_leader(timeout=15)


def test_five_nodes_a_follower_catches_up_a_minority_cannot_commit_and_the_old_leader_backs_up(five):
    c = five
    i1, _ = _committed(c, "one")
    st = c.status()
    leader = st["leader"]
    down = next(n for n in range(1, 6) if n != leader)
    c.cli("kill", str(down))
    last = i1
    for k in range(20):  # the follower that is down misses these
        r = propose(_endpoints(c), f"while-down-{k}".encode(), 5.0)
        assert r.committed and r.index == last + 1, r
        last = r.index
    alive = [n for n in range(1, 6) if n != down]
    wait_for(lambda: _converged(c, alive, last), 10, "the live nodes to commit everything")
    c.cli("restart", str(down))
    wait_for(lambda: _converged(c, list(range(1, 6)), last), 15, "the restarted follower to catch up")

    # A minority partition: the leader and one follower. The leader appends but cannot commit.
    st = c.wait_leader(timeout=10)
    leader = st["leader"]
    buddy = next(n for n in range(1, 6) if n != leader)
    majority = [n for n in range(1, 6) if n not in (leader, buddy)]
    c.cli("partition", f"{leader},{buddy}", ",".join(map(str, majority)))
    cs = ClientSockets({leader: _endpoints(c)[leader]})
    try:
        cs.send(leader, "propose", b"minority-1")  # appended by the minority leader, never committed
        wait_for(lambda: _appended_at(c, leader, last + 1), 5, "the minority leader to append")
    finally:
        cs.close()
    doc = _propose_cli(c, "minority-2", "--node", str(leader), "--timeout", "1")
    assert doc["exit"] == 1 and not doc["committed"] and doc["fate"] in ("unknown", "not committed"), doc

    new = wait_for(lambda: (lambda s: s if s["leader"] in majority else None)(c.status()), 15,
                   "a leader in the majority")["leader"]
    assert new != leader
    i_major, _ = _committed(c, "majority")
    assert i_major >= last + 1
    c.cli("heal")
    # Backup: the old leader (and its buddy) drop their uncommitted suffix and take the majority's log.
    wait_for(lambda: _converged(c, list(range(1, 6)), i_major), 15, "all five nodes to agree after healing")
    c.cli("stop")
    logs = _logs(c, list(range(1, 6)))
    prefix = [d for _, d in _same_committed_prefix(logs) if d]
    assert prefix[0] == "one" and prefix[-1] == "majority" and len(prefix) == 22
    for doc_ in logs.values():
        assert not [e for e in doc_["entries"] if e["data"].startswith("minority")], "replaced on every node"


def test_the_kv_wire_is_served_on_the_same_endpoint_and_its_store_survives_a_new_leader(tmp_path):
    """`raftzmq.client` (protocol/kvwire.py) against the nodes' client endpoints: writes through sessions, a cas,
    reads through the log; after the leader is killed the new leader's store (applied from its log) answers the
    same values, and a raw `propose` shares the log with the KV commands."""
    from raftzmq.client import Client

    with cluster_session(tmp_path / "run") as c:
        c.start("--nodes", "3")
        with Client(str(c.run_dir), timeout=10.0) as kv:
            kv.put("x", 1)
            kv.append("log", "a")
            assert kv.cas("x", 1, 2) and not kv.cas("x", 1, 3)
            assert kv.get("x") == 2
            _committed(c, "raw entry between kv commands")
            old = c.leader()
            c.cli("kill", str(old))
            c.wait_leader(timeout=10, other_than=old)
            kv.append("log", "b")
            assert (kv.get("x"), kv.get("log")) == (2, "ab")
            c.cli("restart", str(old))
            c.wait_leader(timeout=10)
            assert kv.get("log") == "ab"
