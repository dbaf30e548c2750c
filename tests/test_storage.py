import json
import os
import stat
import zlib
from types import SimpleNamespace

import pytest

from raftzmq.protocol.core import HardState
from raftzmq.runtime.node.storage import (
    CorruptStateError,
    StateFile,
    StorageFatalError,
    decode_state,
    encode_state,
)


def hs(term, voted_for):
    return HardState(term=term, voted_for=voted_for)


@pytest.fixture
def sf(tmp_path):
    return StateFile(tmp_path / "state.json")


def write_raw(sf, data):
    sf.path.write_bytes(data)


def assert_corrupt(sf, *fragments):
    with pytest.raises(CorruptStateError) as info:
        sf.load()
    msg = str(info.value)
    assert str(sf.path) in msg
    for fragment in fragments:
        assert fragment in msg, msg
    return info.value


def test_missing_file_is_none(sf):
    assert sf.load() is None


@pytest.mark.parametrize("term,voted_for", [(0, None), (1, 3), (7, None), (2**40, 256)])
def test_round_trip(sf, term, voted_for):
    sf.save(hs(term, voted_for))
    got = sf.load()
    assert (got.term, got.voted_for) == (term, voted_for)


def test_survives_new_instance_and_overwrite(tmp_path):
    path = tmp_path / "state.json"
    StateFile(path).save(hs(3, 2))
    StateFile(path).save(hs(4, None))
    got = StateFile(path).load()
    assert (got.term, got.voted_for) == (4, None)
    # No temp files left behind by a successful save.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_file_format_is_documented_shape(sf):
    sf.save(HardState(5, 2, commit=17))
    raw = sf.path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    doc = json.loads(raw)
    assert set(doc) == {"format", "version", "term", "voted_for", "commit", "crc32"}
    assert doc["format"] == "raftzmq-hardstate" and doc["version"] == 2 and doc["commit"] == 17
    body = {k: doc[k] for k in ("format", "version", "term", "voted_for", "commit")}
    canon = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert doc["crc32"] == zlib.crc32(canon)


@pytest.mark.parametrize("commit", [0, 1, 2**40])
def test_commit_round_trips(sf, commit):
    sf.save(HardState(3, 1, commit=commit))
    assert sf.load() == HardState(3, 1, commit=commit)


def test_old_version_1_files_still_load_with_commit_zero(sf):
    # The exact bytes the version-1 writer produced (before the commit index was stored).
    old = b'{"crc32":%d,"format":"raftzmq-hardstate","term":7,"version":1,"voted_for":3}\n' % zlib.crc32(
        b'{"format":"raftzmq-hardstate","term":7,"version":1,"voted_for":3}')
    write_raw(sf, old)
    assert sf.load() == HardState(7, 3, commit=0)
    sf.save(sf.load())  # the next save upgrades it to version 2
    assert json.loads(sf.path.read_bytes())["version"] == 2 and sf.load() == HardState(7, 3, 0)


def test_a_version_1_file_with_a_commit_field_is_refused(sf):
    write_raw(sf, _doc(commit=4))
    assert_corrupt(sf, "unexpected field(s): commit")


def test_a_version_2_file_without_commit_is_refused(sf):
    write_raw(sf, _doc(version=2))
    assert_corrupt(sf, "missing field(s): commit")


def test_a_flipped_commit_is_a_checksum_mismatch(sf):
    sf.save(HardState(4, 1, commit=12))
    write_raw(sf, sf.path.read_bytes().replace(b'"commit":12', b'"commit":19'))
    assert_corrupt(sf, "checksum mismatch")


@pytest.mark.parametrize("data,offset", [
    (b'{"term": }\n', 9),                 # where the JSON parser stopped
    (b'{"a":1}\n{}\n', 8),               # the first byte after the document
    (b'{"a":1}', 7),                      # the end: the newline is missing
])
def test_a_corrupt_file_is_refused_with_its_byte_offset(sf, data, offset):
    write_raw(sf, data)
    err = assert_corrupt(sf, f"at byte offset {offset}:")
    assert err.offset == offset


def test_garbage_bytes(sf):
    write_raw(sf, b"\x00\xff\x13garbage\n")
    assert_corrupt(sf)


def test_empty_file(sf):
    write_raw(sf, b"")
    assert_corrupt(sf, "empty")


def test_flipped_digit_is_checksum_mismatch(sf):
    sf.save(hs(41, 2))
    raw = sf.path.read_bytes()
    assert b'"term":41' in raw
    write_raw(sf, raw.replace(b'"term":41', b'"term":11'))
    assert_corrupt(sf, "checksum mismatch")


def test_every_prefix_is_refused(sf):
    sf.save(hs(12, 3))
    raw = sf.path.read_bytes()
    for n in range(len(raw)):
        write_raw(sf, raw[:n])
        assert_corrupt(sf)
    write_raw(sf, raw)
    assert sf.load().term == 12


def test_every_prefix_of_term_zero_is_refused():
    raw = encode_state(0, None)
    for n in range(len(raw)):
        with pytest.raises(CorruptStateError):
            decode_state(raw[:n], "p")


def test_every_single_byte_corruption_is_refused():
    raw = encode_state(9, 4, 6)
    for i in range(len(raw)):
        for repl in (b"0", b"9", b"x", b" "):
            if raw[i : i + 1] == repl:
                continue
            bad = raw[:i] + repl + raw[i + 1 :]
            try:
                got = decode_state(bad, "p")
            except CorruptStateError:
                continue
            # A change that survives verification must be semantically identical
            # (e.g. whitespace inside the JSON); it must never alter the state.
            assert got == HardState(9, 4, 6), bad


def _doc(**changes):
    term, voted_for = changes.pop("term", 3), changes.pop("voted_for", 1)
    doc = {"format": "raftzmq-hardstate", "version": 1, "term": term, "voted_for": voted_for}
    body = {k: doc[k] for k in ("format", "version", "term", "voted_for")}
    doc["crc32"] = zlib.crc32(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
    doc.update(changes)
    return (json.dumps(doc) + "\n").encode()


@pytest.mark.parametrize(
    "data,fragment",
    [
        (_doc(version=3), "unsupported version 3"),
        (_doc(version="1"), "version"),
        (_doc(format="something-else"), "format"),
        (_doc(term=-1), "term must be >= 0"),
        (_doc(term=True), "term must be an integer"),
        (_doc(term=3.0), "term must be an integer"),
        (_doc(voted_for="2"), "voted_for"),
        (_doc(voted_for=0), "voted_for"),
        (_doc(extra=1), "unexpected field"),
        (_doc(crc32="123"), "crc32"),
        (b'{"format":"raftzmq-hardstate","version":1,"term":3,"voted_for":null}\n', "missing field"),
        (b"[1, 2]\n", "JSON object"),
        (b'{"term": NaN}\n', "invalid JSON"),
        (_doc() + b"{}\n", "trailing data"),
        (_doc()[:-1], "trailing newline"),
    ],
)
def test_bad_documents(sf, data, fragment):
    write_raw(sf, data)
    assert_corrupt(sf, fragment)


def test_duplicate_keys_refused(sf):
    write_raw(sf, _doc()[:-2] + b', "term": 99}\n')
    assert_corrupt(sf, "duplicate")


def test_valid_hand_written_document_loads(sf):
    write_raw(sf, _doc(term=6, voted_for=None))
    got = sf.load()
    assert (got.term, got.voted_for) == (6, None)


def test_crash_before_rename_leaves_old_state(sf, monkeypatch):
    sf.save(hs(5, 1))

    real_replace = os.replace

    def crash(*args, **kwargs):
        raise SystemExit("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    # Simulate the process dying mid-save: temp file written, no rename.
    with pytest.raises(SystemExit):
        sf.save(hs(6, 2))
    monkeypatch.setattr(os, "replace", real_replace)
    temps = [p for p in sf.path.parent.iterdir() if p.name.startswith(".state.json.tmp-")]
    assert temps, "the simulated crash should have left a temp file behind"

    # Another process (different pid) starts up and loads.
    monkeypatch.setattr(os, "getpid", lambda: 999_999)
    got = sf.load()
    assert (got.term, got.voted_for) == (5, 1)
    assert not [p for p in sf.path.parent.iterdir() if p.name.startswith(".state.json.tmp-")]


def test_garbage_temp_file_is_ignored(sf):
    sf.save(hs(2, 2))
    (sf.path.parent / ".state.json.tmp-12345").write_bytes(b"\x00half-written")
    got = sf.load()
    assert (got.term, got.voted_for) == (2, 2)


def test_fsync_failure_is_fatal(sf, monkeypatch):
    sf.save(hs(1, 1))

    def failing_fsync(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StorageFatalError) as info:
        sf.save(hs(2, 1))
    assert str(sf.path) in str(info.value) and "fsync" in str(info.value)
    monkeypatch.undo()
    # The failed save did not touch the old state and cleaned up its temp file.
    assert sf.load().term == 1
    assert sorted(p.name for p in sf.path.parent.iterdir()) == ["state.json"]


def test_directory_fsync_failure_is_fatal(sf, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd):
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(StorageFatalError, match="fsync directory"):
        sf.save(hs(2, 1))


def test_replace_failure_is_fatal(sf, monkeypatch):
    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(StorageFatalError, match="replace"):
        sf.save(hs(2, 1))


def test_write_failure_is_fatal(sf, monkeypatch):
    def failing_write(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", failing_write)
    with pytest.raises(StorageFatalError, match="write"):
        sf.save(hs(2, 1))


def test_unreadable_directory_path_is_fatal(tmp_path):
    (tmp_path / "state.json").mkdir()
    with pytest.raises(StorageFatalError):
        StateFile(tmp_path / "state.json").load()


def test_file_then_directory_fsynced_after_replace(sf, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        events.append(("fsync", "dir" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(src), os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    sf.save(hs(3, 2))

    kinds = [e[0] if e[0] == "replace" else e[1] for e in events]
    assert kinds == ["file", "replace", "dir"]
    assert events[1][2] == os.fspath(sf.path)
    assert os.path.dirname(events[1][1]) == os.fspath(sf.path.parent)
    assert events[2][2] == os.stat(sf.path.parent).st_ino
    assert events[0][2] == os.stat(sf.path).st_ino  # the synced temp is what got renamed


@pytest.mark.parametrize("term,voted_for,commit", [(-1, None, 0), (1, 0, 0), ("1", None, 0), (True, None, 0),
                                                   (1, None, -1), (1, None, True), (1, None, 1.0)])
def test_save_rejects_invalid_state(sf, term, voted_for, commit):
    # HardState validates itself; storage must not trust a duck-typed stand-in either.
    with pytest.raises(ValueError):
        sf.save(SimpleNamespace(term=term, voted_for=voted_for, commit=commit))
    assert not sf.path.exists()


@pytest.mark.parametrize("commit", [-1, True, 1.5, "2"])
def test_hard_state_refuses_a_bad_commit_index(commit):
    with pytest.raises(ValueError, match="commit"):
        HardState(1, None, commit)
