"""Faults inside a node, without processes: the disk fault port under StateFile, a real read-only directory, the
skewed clock, and the supervisor<->node faults contract (runtime/node/nodefaults.py)."""
from __future__ import annotations

import errno
import os
import subprocess

import pytest

from raftzmq.protocol import HardState
from raftzmq.runtime.node.clock import SkewedClock, SkewError
from raftzmq.runtime.node.diskfaults import DISK_FAULTS, STATE_FAULTS, DiskFaultError, FaultyFileOps
from raftzmq.runtime.node.failpoints import Failpoints
from raftzmq.runtime.node.nodefaults import FaultReceiver, FaultsError, FaultTable, entry_for
from raftzmq.runtime.node.storage import StateFile, StorageFatalError

STEP_OF = {"write": "write temp file", "fsync": "fsync temp file", "rename": "replace state file",
           "create": "open temp file"}


# ---------------------------------------------------------------------------------------------- disk faults

@pytest.mark.parametrize("fault", STATE_FAULTS)
def test_each_disk_fault_fails_its_step_with_its_errno_and_keeps_the_old_state(tmp_path, fault):
    disk = FaultyFileOps()
    sf = StateFile(tmp_path / "node-1.state", ops=disk)
    sf.save(HardState(3, 2))  # unarmed: the real thing
    disk.arm(fault)
    with pytest.raises(StorageFatalError) as info:
        sf.save(HardState(4, 5))
    op, code = DISK_FAULTS[fault]
    assert isinstance(info.value.__cause__, OSError) and info.value.__cause__.errno == code
    assert STEP_OF[op] in info.value.reason and os.strerror(code) in info.value.reason
    assert StateFile(sf.path).load() == HardState(3, 2)  # what was durable stays, nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node-1.state"]  # no temp file left behind


def test_a_disarmed_port_is_the_real_disk_and_unknown_faults_are_refused(tmp_path):
    disk = FaultyFileOps()
    disk.arm("fsync:EIO")
    disk.arm(None)
    sf = StateFile(tmp_path / "s", ops=disk)
    sf.save(HardState(1, 1))
    assert sf.load() == HardState(1, 1)
    with pytest.raises(DiskFaultError, match="known: write:ENOSPC"):
        disk.arm("fsync:EBADF")


def _make_read_only(path):
    """A real read-only directory: chattr +i for root (who ignores modes), chmod 0500 otherwise."""
    if os.geteuid() != 0:
        path.chmod(0o500)
        return lambda: path.chmod(0o700)
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make a read-only directory here as root (chattr: {done.stderr.decode().strip()})")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_real_read_only_directory_fails_like_the_injected_one(tmp_path):
    state_dir = tmp_path / "ro"
    state_dir.mkdir()
    sf = StateFile(state_dir / "node-1.state")
    sf.save(HardState(2, 1))
    undo = _make_read_only(state_dir)
    try:
        with pytest.raises(StorageFatalError) as info:
            sf.save(HardState(3, 3))
    finally:
        undo()
    assert "open temp file failed" in info.value.reason
    assert info.value.__cause__.errno in (errno.EACCES, errno.EPERM, errno.EROFS)
    assert sf.load() == HardState(2, 1)


def test_before_rename_failpoint_leaves_the_old_state_file_in_place(tmp_path):
    killed = []

    def kill():
        killed.append(True)
        raise KeyboardInterrupt("simulated SIGKILL")

    fps = Failpoints([], 1, 1, kill=kill)
    fps.inject(["before_rename"])
    disk = FaultyFileOps()
    disk.before_rename = lambda: fps.hit("before_rename")  # as the node hangs it
    sf = StateFile(tmp_path / "node-1.state", ops=disk)
    with pytest.raises(KeyboardInterrupt):
        sf.save(HardState(5, 1))
    tmp = list(tmp_path.glob(".node-1.state.tmp-*"))
    assert killed and len(tmp) == 1 and b'"term":5' in tmp[0].read_bytes()  # written in full...
    assert sf.load() is None  # ...but the state file was never replaced (and load drops the stale temp)


# ---------------------------------------------------------------------------------------------- clock

class FakeSource:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_skewed_clock_runs_factor_times_as_fast_and_never_jumps():
    src = FakeSource()
    clock = SkewedClock(src)
    src.t += 1.0
    assert clock.now() == pytest.approx(101.0)
    clock.set_factor(3.0)
    assert clock.now() == pytest.approx(101.0)  # continuous at the change
    src.t += 2.0
    assert clock.now() == pytest.approx(107.0)
    assert clock.real_seconds(0.3) == pytest.approx(0.1)  # a 300 ms core timeout takes 100 ms of real time
    clock.set_factor(0.5)
    src.t += 2.0
    assert clock.now() == pytest.approx(108.0)
    assert clock.real_seconds(1.0) == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [0, -1, 0.01, 100, float("nan"), float("inf"), "2", True])
def test_skew_factor_out_of_range_is_refused(bad):
    with pytest.raises(SkewError):
        SkewedClock(FakeSource()).set_factor(bad)


# ---------------------------------------------------------------------------------------------- contract

def test_fault_table_round_trip_and_arms_bound_to_one_incarnation():
    table = FaultTable()
    table.set_skew(2, 4)
    table.arm_disk(3, 2, "fsync:EIO")
    table.arm_failpoint(3, 2, "before_rename")
    doc = table.message()
    assert entry_for(doc, 2, 1)[1].skew == 4.0
    version, entry = entry_for(doc, 3, 2)
    assert version == doc["version"] and (entry.disk, entry.failpoints) == ("fsync:EIO", ["before_rename"])
    _, later = entry_for(doc, 3, 3)  # a restarted node 3 has a working disk and no failpoint
    assert (later.disk, later.failpoints) == (None, [])
    assert entry_for(doc, 1, 1)[1].empty
    table.drop_arms(3)
    assert "3" not in table.summary() and table.summary()["2"]["skew"] == 4.0
    table.clear()
    assert table.message()["nodes"] == {}


@pytest.mark.parametrize("call", [
    lambda t: t.set_skew(1, 0), lambda t: t.arm_disk(1, 1, "fsync:EBADF"), lambda t: t.arm_failpoint(1, 1, "x")])
def test_fault_table_refuses_bad_values_without_a_change(call):
    table = FaultTable()
    with pytest.raises(FaultsError):
        call(table)
    assert table.version == 0


@pytest.mark.parametrize("doc", [
    None, [], {"type": "net"}, {"type": "faults", "version": -1, "nodes": {}},
    {"type": "faults", "version": 1, "nodes": []}, {"type": "faults", "version": 1, "nodes": {"1": 5}},
    {"type": "faults", "version": 1, "nodes": {"1": {"skew": 1e9}}},
    {"type": "faults", "version": 1, "nodes": {"1": {"incarnation": 1, "disk": "floppy"}}},
    {"type": "faults", "version": 1, "nodes": {"1": {"incarnation": 1, "failpoints": "before_persist"}}},
])
def test_node_side_rejects_malformed_faults_messages(doc):
    with pytest.raises(FaultsError):
        entry_for(doc, 1, 1)


def test_receiver_applies_only_newer_versions_to_the_ports():
    src = FakeSource()
    clock, disk, fps = SkewedClock(src), FaultyFileOps(), Failpoints([], 1, 1, kill=lambda: None)
    rx = FaultReceiver(1, 1, clock, fps, disk)
    table = FaultTable()
    table.set_skew(1, 2.0)
    table.arm_disk(1, 1, "rename:ENOSPC")
    new = table.message()
    assert rx.apply(new) is not None
    assert (clock.factor, disk.armed) == (2.0, "rename:ENOSPC")
    table.clear()
    assert rx.apply({**table.message(), "version": 0}) is None  # older: ignored
    assert clock.factor == 2.0
    assert rx.apply(table.message()) is not None  # heal: back to normal
    assert (clock.factor, disk.armed, fps.armed) == (1.0, None, frozenset())


@pytest.mark.parametrize("fault", [f for f in DISK_FAULTS if f not in STATE_FAULTS])
def test_the_log_faults_travel_the_faults_contract_too(fault):
    table = FaultTable()
    table.arm_disk(3, 2, fault)
    version, entry = entry_for(table.message(), 3, 2)
    assert entry.disk == fault and version == table.version
    disk = FaultyFileOps()
    disk.arm(fault)  # a node accepts it; tests/test_wal.py shows what each does to the log
    assert disk.armed == fault


def test_state_faults_are_what_they_always_were_so_nemesis_plans_replay():
    # The nemesis draws disk faults from STATE_FAULTS by position: a seed's plan must not change.
    assert STATE_FAULTS == ("write:ENOSPC", "write:EIO", "fsync:ENOSPC", "fsync:EIO", "rename:ENOSPC",
                            "rename:EIO", "readonly")
