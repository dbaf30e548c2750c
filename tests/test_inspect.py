"""`raftzmq inspect NODE`: a node's log and hard state from its files, read-only; one-line errors, exit 2."""
from __future__ import annotations

import json
import zlib

import pytest
from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.protocol.core import HardState
from raftzmq.evidence.logdigest import chain_all
from raftzmq.protocol.messages import Entry
from raftzmq.runtime.node.storage import StateFile
from raftzmq.runtime.node.wal import FILE_HEADER, RECORD_OVERHEAD, WriteAheadLog, encode_record

ENTRIES = [Entry(1, 1), Entry(2, 1, b"set x 1"), Entry(3, 2, b"\xff\x00 binary"), Entry(4, 2, b"y" * 100)]


@pytest.fixture
def run(tmp_path):
    (tmp_path / "cluster.json").write_text(json.dumps({"nodes": 3}))
    log = WriteAheadLog.open(tmp_path / "node-2.wal")
    log.append(ENTRIES)
    log.sync()
    log.close()
    StateFile(tmp_path / "node-2.state").save(HardState(3, 1, commit=2))
    return tmp_path


def inspect(*args):
    return CliRunner().invoke(main, ["inspect", *map(str, args)])


def test_json_lists_every_entry_with_its_digest_and_commitment(run):
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    res = inspect(2, "--run-dir", run, "--json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert (doc["node"], doc["term"], doc["voted_for"], doc["commit"], doc["last"]) == (2, 3, 1, 2, 4)
    digests = chain_all(ENTRIES)
    assert [(e["index"], e["term"], e["size"], e["digest"], e["committed"]) for e in doc["entries"]] == [
        (1, 1, 0, digests[0], True), (2, 1, 7, digests[1], True), (3, 2, 9, digests[2], False),
        (4, 2, 100, digests[3], False)]
    assert doc["digest"] == digests[-1] and doc["torn_tail"] is None
    assert doc["entries"][1]["data"] == "set x 1" and doc["entries"][2]["data"] == "\\xff\x00 binary"
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # read-only


def test_text_shows_a_table_and_what_is_committed(run):
    res = inspect(2, "--run-dir", run)
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("node 2: ") and "4 entries" in lines[0] and "term 3, voted for 1, commit 2" in lines[0]
    assert lines[1].split() == ["INDEX", "TERM", "SIZE", "DIGEST", "COMMITTED", "DATA"]
    row3 = lines[4].split()
    assert row3[:5] == ["3", "2", "9", chain_all(ENTRIES)[2], "no"]
    assert lines[3].split()[4] == "yes" and '"set x 1"' in lines[3]
    assert lines[-1] == f"last 4, digest {chain_all(ENTRIES)[-1]}; committed 1..2"


def test_a_torn_tail_is_reported_and_left_in_place(run):
    wal = run / "node-2.wal"
    size = wal.stat().st_size
    with open(wal, "ab") as f:
        f.write(encode_record(Entry(5, 2, b"half"))[:9])
    res = inspect(2, "--run-dir", run)
    assert res.exit_code == 0 and f"torn tail: 9 bytes at byte offset {size}" in res.stdout
    assert wal.stat().st_size == size + 9


def test_an_old_state_file_and_no_state_file_both_work(run):
    # the bytes a version-1 writer made (no commit field)
    body = b'{"format":"raftzmq-hardstate","term":3,"version":1,"voted_for":1}'
    (run / "node-2.state").write_bytes(
        b'{"crc32":%d,"format":"raftzmq-hardstate","term":3,"version":1,"voted_for":1}\n' % zlib.crc32(body))
    doc = json.loads(inspect(2, "--run-dir", run, "--json").stdout)
    assert doc["commit"] == 0 and not any(e["committed"] for e in doc["entries"])
    (run / "node-2.state").unlink()
    res = inspect(2, "--run-dir", run)
    assert res.exit_code == 0 and "no state file" in res.stdout


@pytest.mark.parametrize("node,fragment", [(4, "node 4 is not in this cluster (nodes 1..3"),
                                           (0, "node 0 is not in this cluster"),
                                           (1, "no log for node 1: "), ])
def test_unknown_nodes_and_missing_logs_are_one_line_errors(run, node, fragment):
    res = inspect(node, "--run-dir", run)
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith("raftzmq: error: ") and fragment in res.stderr and res.stderr.count("\n") == 1


def test_a_corrupt_log_names_file_and_offset(run):
    wal = run / "node-2.wal"
    raw = bytearray(wal.read_bytes())
    where = len(FILE_HEADER) + RECORD_OVERHEAD  # record 2
    raw[where + RECORD_OVERHEAD] ^= 1  # a byte of entry 2's data
    wal.write_bytes(bytes(raw))
    res = inspect(2, "--run-dir", run)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"raftzmq: error: corrupt log: {wal}: at byte offset {where}: checksum mismatch")


def test_a_corrupt_state_file_names_file_and_offset(run):
    (run / "node-2.state").write_bytes(b'{"term": }\n')
    res = inspect(2, "--run-dir", run)
    assert res.exit_code == 2 and "corrupt state file" in res.stderr and "at byte offset 9" in res.stderr


def test_no_run_directory_is_an_error(tmp_path):
    res = inspect(1, "--run-dir", tmp_path / "nope")
    assert res.exit_code == 2 and res.stderr.startswith("raftzmq: error: no run directory")


def test_committed_entries_missing_are_flagged(run):
    StateFile(run / "node-2.state").save(HardState(3, 1, commit=6))
    res = inspect(2, "--run-dir", run)
    assert res.exit_code == 0 and "committed entries are lost" in res.stdout
