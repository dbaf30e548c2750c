"""The one copy of each shared helper: waiting on a condition with a deadline, reading /proc/<pid>/stat, and a
record as a line of text (issue 17, item 5)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

from raftzmq.evidence.recordline import format_record
from raftzmq.runtime.cluster import procstat
from raftzmq.runtime.cluster.rundir import pid_alive
from raftzmq.runtime.cluster.waiting import wait_until


def test_wait_until_returns_the_first_truthy_value_and_none_at_the_deadline():
    calls = []
    assert wait_until(lambda: calls.append(1) or (len(calls) >= 3 and "yes"), 5, interval=0.001) == "yes"
    assert len(calls) == 3
    t0 = time.monotonic()
    seen = []
    assert wait_until(lambda: seen.append(time.monotonic()) or 0, 0.1, interval=0.03) is None
    took = time.monotonic() - t0
    assert 0.1 <= took < 1.0, took  # bounded, and it waited the whole timeout
    assert seen[-1] - t0 >= 0.1 - 1e-3  # one last look at the deadline, never a sleep past it
    once = []
    assert wait_until(lambda: once.append(1), 0, interval=1) is None and once == [1]  # at least one call


def test_procstat_reads_this_process_and_a_zombie_and_a_gone_pid():
    fields = procstat.stat_fields(os.getpid())
    assert fields is not None and fields[0] in "RS"
    with open(f"/proc/{os.getpid()}/stat") as f:
        assert procstat.start_time(os.getpid()) == int(f.read().rsplit(")", 1)[1].split()[19])
    assert procstat.cpu_seconds(os.getpid()) > 0
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    assert wait_until(lambda: procstat.state(child.pid) == "Z", 10, interval=0.005)  # exited, not yet reaped
    assert not pid_alive(child.pid)  # a zombie is not alive
    child.wait()
    assert procstat.state(child.pid) is None and procstat.start_time(child.pid) is None
    try:
        procstat.cpu_seconds(child.pid)
    except ProcessLookupError:
        pass
    else:
        raise AssertionError("cpu_seconds of a gone pid must raise")


def test_a_comm_with_spaces_and_parentheses_does_not_shift_the_fields(tmp_path):
    exe = tmp_path / "a b) (c"
    exe.symlink_to(sys.executable)
    child = subprocess.Popen([str(exe), "-c", "import time; time.sleep(30)"])
    try:
        assert wait_until(lambda: procstat.state(child.pid) in ("S", "R"), 10)
        assert procstat.start_time(child.pid) is not None and procstat.start_time(child.pid) > 0
    finally:
        child.kill()
        child.wait()


def test_format_record_both_layouts():
    rec = {"ts": 0.5, "mono_ns": 258_134_000, "event": "became_candidate", "by": "node", "node": 3, "term": 1,
           "seq": 4, "incarnation": 1, "reason": "timeout"}
    assert format_record(rec) == '  0.258134s node 3#1       became_candidate t1 reason="timeout"'
    sup = {"ts": 0.0, "mono_ns": 0, "event": "node_spawned", "by": "supervisor", "node": 2, "seq": 1, "pid": 7}
    assert format_record(sup) == "  0.000000s supervisor->2  node_spawned pid=7"
    line = format_record(rec, wall_clock=True)
    assert line.endswith(' node 3     t1    became_candidate     reason="timeout"') and line[2] == ":"
    assert "sup→2" in format_record(sup, wall_clock=True)
    painted = format_record(rec, wall_clock=True, paint=lambda col, text, r: f"<{col}:{text.strip()}>")
    assert "<who:node 3>" in painted and "<event:became_candidate>" in painted
