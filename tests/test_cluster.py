"""Real clusters: one OS process per node over ZeroMQ, driven through the CLI (issue: live cluster, "Must show").

Every test leaves a run directory that `raftzmq check` must find clean, and no process behind.
Timings are read from the logs' mono_ns (one host clock), not from the test's own wall clock.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from cluster_harness import Cluster, wait_for

pytestmark = pytest.mark.cluster

NS = 1_000_000_000


def _first(records, **match):
    return next(r for r in records if all(r.get(k) == v for k, v in match.items()))


def test_five_nodes_elect_exactly_one_leader_within_two_seconds(cluster):
    cluster.start("--nodes", "5")
    st = cluster.wait_leader()
    assert [n["role"] for n in st["nodes"]].count("leader") == 1
    assert all(n["leader"] == st["leader"] for n in st["nodes"]), st
    started = _first(cluster.records("cluster_started"))
    elected = cluster.records("became_leader")[0]
    assert (elected["mono_ns"] - started["mono_ns"]) / NS < 2.0


def test_killed_leader_is_replaced_within_a_second_and_rejoins_as_follower(cluster):
    cluster.start("--nodes", "5")
    old = cluster.wait_leader()
    old_leader, old_term = old["leader"], old["term"]
    cluster.cli("kill", str(old_leader))
    gone = cluster.status()["nodes"][old_leader - 1]  # the very next status shows it, not its stale role
    assert (gone["alive"], gone["role"], gone["pid"]) == (False, None, None)
    new = cluster.wait_leader(other_than=old_leader, min_term=old_term + 1)
    killed = _first(cluster.records("node_killed"), node=old_leader)
    elected = next(r for r in cluster.records("became_leader") if r["term"] > old_term)
    assert (elected["mono_ns"] - killed["mono_ns"]) / NS < 1.0

    cluster.cli("restart", str(old_leader))
    def rejoined():
        node = cluster.status()["nodes"][old_leader - 1]
        return node["role"] == "follower" and node["leader"] is not None and node
    node = wait_for(rejoined, 5, "the restarted node to follow a leader")
    restarted = [r for r in cluster.records("node_started", node=old_leader) if r["incarnation"] == 2]
    assert restarted and restarted[0]["term"] >= old_term
    assert node["term"] >= new["term"]


@pytest.mark.parametrize("check_quorum", [True, False], ids=["check-quorum", "no-check-quorum"])
def test_paused_leader_is_replaced_and_steps_down_on_resume(cluster, check_quorum):
    cluster.start("--nodes", "5", *([] if check_quorum else ["--no-check-quorum"]))
    old = cluster.wait_leader()
    cluster.cli("pause", str(old["leader"]))
    paused_at = time.monotonic()
    frozen = cluster.status()["nodes"][old["leader"] - 1]
    assert (frozen["paused"], frozen["role"]) == (True, None)
    new = cluster.wait_leader(other_than=old["leader"], min_term=old["term"] + 1)
    time.sleep(max(0.0, 2.0 - (time.monotonic() - paused_at)))  # the scenario: a 2 s pause, not a sync
    cluster.cli("resume", str(old["leader"]))
    resumed = _first(cluster.records("node_resumed"))
    down = wait_for(lambda: [r for r in cluster.records("stepped_down", node=old["leader"])
                             if r["mono_ns"] > resumed["mono_ns"]], 5, "the old leader to step down")
    # With CheckQuorum the resumed leader may notice its silent followers before it reads their higher term;
    # without it, only the higher term can depose it.
    assert down[0]["reason"] in (("higher_term", "check_quorum") if check_quorum else ("higher_term",))
    def follows_new_term():
        node = cluster.status()["nodes"][old["leader"] - 1]
        return node["role"] == "follower" and node["term"] >= new["term"] and node["leader"] is not None
    wait_for(follows_new_term, 5, "the old leader to follow at the new term")
    st = cluster.wait_leader()
    assert [n["role"] for n in st["nodes"]].count("leader") == 1


def test_leader_in_minority_partition_steps_down_by_check_quorum(cluster):
    cluster.start("--nodes", "5")
    old = cluster.wait_leader()
    leader = old["leader"]
    buddy = 1 if leader != 1 else 2
    majority = [n for n in range(1, 6) if n not in (leader, buddy)]
    cluster.cli("partition", f"{leader},{buddy}", ",".join(map(str, majority)))
    wait_for(lambda: any(r["term"] > old["term"] for r in cluster.records("became_leader") if r["node"] in majority),
             5, "the majority to elect a new leader")
    down = wait_for(lambda: [r for r in cluster.records("stepped_down", node=leader)
                             if r["reason"] == "check_quorum"], 5, "CheckQuorum to depose the old leader")
    parted = _first(cluster.records("partition"))
    # within an election timeout (max 300 ms) plus one heartbeat of detection granularity and scheduling slack
    assert (down[0]["mono_ns"] - parted["mono_ns"]) / NS < 0.300 + 0.050 + 0.250
    cluster.cli("heal")
    def one_leader_agreed():
        st = cluster.status()
        roles = [n["role"] for n in st["nodes"]]
        return roles.count("leader") == 1 and all(n["leader"] == st["leader"] for n in st["nodes"])
    wait_for(one_leader_agreed, 5, "one leader that every node follows after heal")


@pytest.mark.parametrize("prevote", [True, False], ids=["prevote", "no-prevote"])
def test_isolated_follower_disrupts_only_without_prevote(cluster, prevote):
    cluster.start("--nodes", "5", *([] if prevote else ["--no-prevote"]))
    old = cluster.wait_leader()
    follower = 1 if old["leader"] != 1 else 2
    cluster.cli("isolate", str(follower))
    isolated = time.monotonic()
    if not prevote:  # without PreVote the isolated node keeps raising its term
        wait_for(lambda: cluster.status()["nodes"][follower - 1]["term"] > old["term"] + 1, 5,
                 "the isolated follower's term to rise")
    time.sleep(max(0.0, 2.0 - (time.monotonic() - isolated)))  # the scenario: ~7 election timeouts cut off
    cluster.cli("heal")
    if prevote:
        def back():
            node = cluster.status()["nodes"][follower - 1]
            return node["leader"] == old["leader"] and node
        wait_for(back, 5, "the isolated follower to follow the leader again")
        st = cluster.status()
        assert (st["leader"], st["term"]) == (old["leader"], old["term"])
        assert not [r for r in cluster.records("became_candidate")
                    if r["mono_ns"] > _first(cluster.records("partition"))["mono_ns"]]
    else:
        st = cluster.wait_leader(min_term=old["term"] + 1)
        assert st["term"] > old["term"]


def test_check_quorum_lease_keeps_the_leader_against_vote_requests_of_a_higher_term(cluster):
    """PreVote off, CheckQuorum on: cut the leader -> F link one way. F hears no heartbeat, so it campaigns again
    and again at ever higher terms; its RequestVotes reach everyone, who ignore them inside the lease (etcd-io/raft's
    inLease), so the leader stays. On heal, F's reply to a heartbeat carries its higher term and deposes the leader
    (as in etcd: the one disruption only PreVote prevents)."""
    from raftzmq.runtime.cluster.control import ControlClient
    from raftzmq.runtime.cluster.rundir import RunDir

    cluster.start("--nodes", "3", "--no-prevote")
    old = cluster.wait_leader()
    leader, term = old["leader"], old["term"]
    follower = 1 if leader != 1 else 2
    other = ({1, 2, 3} - {leader, follower}).pop()
    ControlClient(RunDir(cluster.run_dir)).request("cut", src=leader, dst=follower, one_way=True)
    wait_for(lambda: (cluster.status()["nodes"][follower - 1]["term"] or 0) >= term + 3, 5,
             "the cut-off follower to campaign at higher terms")
    st = cluster.status()
    assert (st["leader"], [n["term"] for n in st["nodes"] if n["id"] != follower]) == (leader, [term, term])
    cut = _first(cluster.records("link_cut"))
    assert cut["cuts"] == [[leader, follower]]
    assert not [r for r in cluster.records("stepped_down", node=leader) if r["mono_ns"] > cut["mono_ns"]]
    ignored = {r["node"] for r in cluster.records("vote_denied") if r["candidate"] == follower
               and r["reason"] == "leader_alive"}
    assert ignored == {leader, other}
    cluster.cli("heal")
    down = wait_for(lambda: [r for r in cluster.records("stepped_down", node=leader)
                             if r["mono_ns"] > cut["mono_ns"]], 5, "the heartbeat reply to depose the leader")
    assert down[0]["reason"] == "higher_term"
    cluster.wait_leader(min_term=term + 3)


def test_whole_cluster_restart_continues_terms_from_disk(cluster):
    cluster.start("--nodes", "3")
    cluster.wait_leader()
    cluster.cli("kill", str(cluster.leader()))  # force at least one more election so terms are > 1
    before = cluster.wait_leader(min_term=2)
    cluster.cli("stop")
    assert not cluster.live_pids()
    last = {n: max(r["term"] for r in cluster.records("state_persisted", node=n)) for n in (1, 2, 3)}
    cluster.cli("start", "--detach", "--resume")
    after = cluster.wait_leader(min_term=before["term"] + 1)
    for n in (1, 2, 3):
        started = [r for r in cluster.records("node_started", node=n)]
        assert started[-1]["term"] >= last[n], (n, started[-1], last[n])
    assert after["term"] > max(last.values()) - 1


def test_bad_requests_fail_clearly_and_change_nothing(cluster):
    cluster.start("--nodes", "3")
    before = cluster.wait_leader()
    for args, needle in [(("kill", "9"), "unknown node id 9"), (("kill", "1", "1"), "given twice"),
                         (("partition", "1,2", "2,3"), "in two groups"), (("partition", "1", "2"), "in no group"),
                         (("transfer", str(before["leader"])), "already the leader")]:
        proc = cluster.cli(*args, check=False)
        assert proc.returncode == 2 and needle in proc.stderr, (args, proc.stderr)
    again = cluster.cli("start", "--detach", "--run-dir", str(cluster.run_dir), check=False)
    assert again.returncode == 2 and "already running" in again.stderr
    st = cluster.status()
    assert all(n["alive"] for n in st["nodes"]) and st["term"] == before["term"]


def test_no_cluster_running_is_a_clear_error(tmp_path):
    c = Cluster(tmp_path / "nothing")
    proc = c.cli("status", check=False)
    assert proc.returncode == 2 and "no run directory" in proc.stderr


@pytest.mark.parametrize("spawn", ["zygote", "forkserver", "exec"])
def test_sigkill_of_supervisor_leaves_no_node_behind(cluster, spawn):
    cluster.start("--nodes", "3", "--spawn", spawn)
    cluster.wait_leader()
    nodes = {n["pid"] for n in cluster.status()["nodes"]}
    sup = int((cluster.run_dir / "supervisor.pid").read_text())
    os.kill(sup, signal.SIGKILL)
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and b"raftzmq" in open(f"/proc/{p}/cmdline", "rb").read()
                             for p in nodes), 5, "every node to exit after its supervisor died")


def test_ctrl_c_of_foreground_start_stops_every_process(tmp_path):
    c = Cluster(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-m", "raftzmq", "start", "--nodes", "3", "--run-dir", str(c.run_dir)],
                            env=c.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    c.extra_pids.append(proc.pid)
    try:
        wait_for(lambda: (c.run_dir / "cluster.json").exists() and c.records("became_leader"), 10, "a leader")
        nodes = c.live_pids() - {proc.pid}
        assert len(nodes) == 3
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
        assert not c.live_pids()
        assert c.records("cluster_stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
        c.cleanup()


def test_corrupt_state_file_makes_that_node_refuse_and_status_says_why(cluster):
    cluster.start("--nodes", "3")
    cluster.wait_leader()
    cluster.cli("stop")
    state = cluster.run_dir / "node-2.state"
    state.write_bytes(state.read_bytes()[:-7])  # a torn write, as a disk might leave it
    damaged = state.read_bytes()
    proc = cluster.cli("start", "--detach", "--resume")
    assert "node 2 refused to start" in proc.stderr and str(state) in proc.stderr
    st = cluster.wait_leader()
    node2 = st["nodes"][1]
    assert not node2["alive"] and str(state) in node2["failed"] and node2["role"] is None
    assert state.read_bytes() == damaged, "a refusing node must not touch its state file"
    spawned = [r for r in cluster.records("node_spawned") if r["node"] == 2]
    assert len(spawned) == 2, "the supervisor must not restart a refusing node by itself"
    assert any(str(state) in r["reason"] for r in cluster.records("node_failed", node=2))


def test_port_in_use_is_a_clear_error(tmp_path):
    import socket

    def free(port):
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False

    def hold_port_with_free_neighbours(tries=50):
        # Other processes on a busy machine take ephemeral ports too: try a few until both neighbours are free.
        for _ in range(tries):
            held = socket.socket()
            held.bind(("127.0.0.1", 0))
            held.listen()
            port = held.getsockname()[1]
            if free(port - 1) and free(port + 1):
                return held, port
            held.close()
        pytest.fail(f"no ephemeral port with free neighbours in {tries} tries; the scenario needs one")

    c = Cluster(tmp_path / "run")
    held, port = hold_port_with_free_neighbours()
    with held:
        proc = c.cli("start", "--detach", "--run-dir", str(c.run_dir), "--nodes", "3",
                     "--base-port", str(port - 1), check=False)
    try:
        assert proc.returncode == 2 and f"port {port} (node 2)" in proc.stderr, proc.stderr
    finally:
        c.cleanup()
    assert not c.live_pids()


def test_two_clusters_side_by_side_over_ipc_and_tcp(tmp_path):
    a, b = Cluster(tmp_path / "a"), Cluster(tmp_path / "b")
    try:
        a.start("--nodes", "3", "--transport", "ipc")
        b.start("--nodes", "3")
        assert a.wait_leader()["nodes"][0]["endpoint"].startswith("ipc://")
        before = b.wait_leader()
        assert before["nodes"][0]["endpoint"].startswith("tcp://127.0.0.1:")
        a.cli("kill", str(a.leader()))
        a.wait_leader(min_term=2)
        after = b.status()  # cluster b never noticed cluster a's failover
        assert (after["leader"], after["term"]) == (before["leader"], before["term"])
    finally:
        a.cleanup()
        b.cleanup()
    for c in (a, b):
        assert not c.live_pids()
        assert c.cli("check", str(c.run_dir), check=False).returncode == 0


def _killed_follower(cluster):
    """Start 3 nodes, kill a follower; (leader, the killed node, its state file)."""
    cluster.start("--nodes", "3")
    leader = cluster.wait_leader()["leader"]
    victim = 1 if leader != 1 else 2
    cluster.cli("kill", str(victim))
    return leader, victim, cluster.run_dir / f"node-{victim}.state"


def test_restart_of_a_node_with_a_corrupt_state_file_says_why(cluster):
    leader, victim, state = _killed_follower(cluster)
    state.write_bytes(b"{ not a state file")
    proc = cluster.cli("restart", str(victim), check=False)
    assert proc.returncode == 2 and str(state) in proc.stderr, proc.stderr
    proc = cluster.cli("restart", str(leader), check=True)
    assert f"node {leader} is up as" in proc.stdout


def test_a_deleted_state_file_is_refused_not_reset_to_term_zero(cluster):
    _, victim, state = _killed_follower(cluster)
    state.unlink()
    proc = cluster.cli("restart", str(victim), check=False)
    assert proc.returncode == 2 and "is missing" in proc.stderr and str(state) in proc.stderr, proc.stderr
    assert not state.exists()


def test_twenty_five_nodes_at_default_timings_start_behind_the_barrier_and_elect_within_three_terms(cluster):
    """The start-up barrier (runtime/node/startup.py): no node campaigns before every node is up and the supervisor
    has released the timers; then one election settles it. Not a speed test: the wait is generous."""
    cluster.start("--nodes", "25", "--wait", "60")
    st = cluster.wait_leader(timeout=30)
    assert st["term"] <= 3, st
    connecting = _first(cluster.records("timers_connecting"))
    released = _first(cluster.records("timers_released"))
    started = cluster.records("node_started")
    assert len(started) == 25 and max(r["mono_ns"] for r in started) < connecting["mono_ns"] < released["mono_ns"]
    # Before the release only the node named at the connect step may campaign (once its connections are up).
    early = [r for r in cluster.records("election_timeout") if r["mono_ns"] < released["mono_ns"]]
    assert not [r for r in cluster.records("election_timeout") if r["mono_ns"] < connecting["mono_ns"]]
    assert {r["node"] for r in early} <= {connecting["first"]}, early
    assert {r["node"] for r in cluster.records("timer_released")} == set(range(1, 26))
