"""Durable Raft hard state (current term, vote and commit index) in one small file.

File format (version 2, what ``save`` writes): a single JSON object followed by exactly one newline::

    {"commit":K,"crc32":C,"format":"raftzmq-hardstate","term":T,"version":2,"voted_for":V}\\n

``C`` is ``zlib.crc32`` of the canonical serialisation of the other five fields
(``json.dumps(fields, sort_keys=True, separators=(",", ":"))`` encoded as UTF-8).
Version 1 files (written before the commit index was stored: no ``commit`` field, the checksum over the other
four fields) still load, with commit 0; each version must have exactly its own fields.
The trailing newline is mandatory so that no strict prefix of a valid file is
itself valid: a torn or truncated file is always refused, never read as term 0.

``load`` returns None only when the file does not exist (a node that never
started); every other defect raises :class:`CorruptStateError`.

``save`` is a durable replace: write ``.<name>.tmp-<pid>`` in the same directory,
fsync it, ``os.replace`` it over the target, fsync the directory. The file
operations go through a port (:class:`FileOps`; the real ``os`` calls by
default) so that runtime/node/diskfaults.py can make them fail as a failing disk does. A crash before
the rename leaves the old file intact; the stale temp file is ignored (and
best-effort removed) by ``load``.

What to persist (e.g. ``voted_for=None`` in term-only mode) is the core's
decision; this module stores exactly what it is given.
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any

from raftzmq.protocol.core import HardState

__all__ = [
    "FORMAT",
    "VERSION",
    "StorageError",
    "CorruptStateError",
    "StorageFatalError",
    "StateFile",
    "FileOps",
    "encode_state",
    "decode_state",
]

FORMAT = "raftzmq-hardstate"
VERSION = 2
# version -> the exact field set of a file of that version (1: before the commit index was stored)
_FIELDS = {1: frozenset({"format", "version", "term", "voted_for", "crc32"}),
           2: frozenset({"format", "version", "term", "voted_for", "commit", "crc32"})}




class FileOps:
    """The file operations a durable replace needs: the real ``os`` calls. A port, so that a fault injector
    (runtime/node/diskfaults.py) can stand in for the disk without StateFile knowing."""

    def open(self, path: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        return os.open(path, flags, mode)

    def write(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def replace(self, src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        os.replace(src, dst)

    def close(self, fd: int) -> None:
        os.close(fd)

    # The write-ahead log's operations (runtime/node/wal.py). `append` is a write to the end of the log (its own
    # method so that a fault can hit the log's appends and not the state file's writes, or the other way round).

    def append(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def ftruncate(self, fd: int, length: int) -> None:
        os.ftruncate(fd, length)

    def read(self, fd: int, size: int) -> bytes:
        return os.read(fd, size)


_REAL_OPS = FileOps()

class StorageError(Exception):
    """Base class for storage errors; carries the file path and a reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CorruptStateError(StorageError):
    """The state file exists but cannot be trusted. Never treat it as empty. `offset`: the byte offset in the
    file where the defect is (0 when it concerns the whole document, e.g. a checksum mismatch)."""

    def __init__(self, path: str | os.PathLike[str], reason: str, offset: int = 0) -> None:
        self.offset = offset
        super().__init__(path, f"at byte offset {offset}: {reason}")
        self.reason = reason


class StorageFatalError(StorageError):
    """An I/O error while reading or persisting state; the node must stop."""


def _check_values(term: object, voted_for: object, commit: object = 0) -> str | None:
    """Return a reason string if (term, voted_for, commit) is not a valid hard state."""
    if type(commit) is not int:
        return f"commit must be an integer, got {type(commit).__name__}"
    if commit < 0:
        return f"commit must be >= 0, got {commit}"
    if type(term) is not int:
        return f"term must be an integer, got {type(term).__name__}"
    if term < 0:
        return f"term must be >= 0, got {term}"
    if voted_for is not None:
        if type(voted_for) is not int:
            return f"voted_for must be an integer or null, got {type(voted_for).__name__}"
        if voted_for < 1:
            return f"voted_for must be a node id >= 1 or null, got {voted_for}"
    return None


def _body(version: int, term: int, voted_for: int | None, commit: int) -> dict[str, Any]:
    body: dict[str, Any] = {"format": FORMAT, "version": version, "term": term, "voted_for": voted_for}
    if version >= 2:
        body["commit"] = commit
    return body


def _canonical(version: int, term: int, voted_for: int | None, commit: int) -> bytes:
    body = _body(version, term, voted_for, commit)
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encode_state(term: int, voted_for: int | None, commit: int = 0) -> bytes:
    """Serialise a hard state to the exact bytes written to disk (always the current VERSION)."""
    reason = _check_values(term, voted_for, commit)
    if reason is not None:
        raise ValueError(reason)
    doc = _body(VERSION, term, voted_for, commit)
    doc["crc32"] = zlib.crc32(_canonical(VERSION, term, voted_for, commit))
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8") + b"\n"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def decode_state(data: bytes, path: str | os.PathLike[str] = "<bytes>") -> HardState:
    """Parse and verify file bytes (version 1 or 2); return the HardState or raise CorruptStateError."""
    try:
        return _verify(_parse(data))
    except _Bad as exc:
        raise CorruptStateError(path, str(exc), exc.offset) from None


class _Bad(Exception):
    """Why the bytes are not a valid state file, and where (decode_state adds the path)."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason)
        self.offset = offset


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _parse(data: bytes) -> dict[str, Any]:
    """One line of strict JSON holding an object: no duplicate keys, no NaN/Infinity."""
    if not data:
        raise _Bad("empty file (truncated write?)")
    if not data.endswith(b"\n"):
        raise _Bad("truncated: missing trailing newline", len(data))
    if data.count(b"\n") != 1:
        raise _Bad("trailing data after the JSON document", data.index(b"\n") + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Bad(f"not UTF-8: {exc}", exc.start) from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise _Bad(f"invalid JSON: {exc}", len(text[:exc.pos].encode("utf-8"))) from None
    except ValueError as exc:  # a duplicate key or a NaN (our hooks)
        raise _Bad(f"invalid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _Bad(f"expected a JSON object, got {type(doc).__name__}")
    return doc


def _verify(doc: dict[str, Any]) -> HardState:
    """Exactly the fields of its version, our format, a version we read, valid values, a matching checksum."""
    version = doc.get("version")
    if type(version) is not int or version not in _FIELDS:
        if "version" not in doc:
            raise _Bad("missing field(s): version")
        raise _Bad(f"unsupported version {version!r} (this build reads versions "
                   f"{', '.join(map(str, sorted(_FIELDS)))})")
    fields = _FIELDS[version]
    missing = sorted(fields - doc.keys())
    extra = sorted(doc.keys() - fields)
    if missing:
        raise _Bad(f"missing field(s): {', '.join(missing)}")
    if extra:
        raise _Bad(f"unexpected field(s): {', '.join(extra)}")
    if doc["format"] != FORMAT:
        raise _Bad(f"format is {doc['format']!r}, expected {FORMAT!r}")
    term, voted_for, crc = doc["term"], doc["voted_for"], doc["crc32"]
    commit = doc.get("commit", 0)
    reason = _check_values(term, voted_for, commit)
    if reason is not None:
        raise _Bad(reason)
    if type(crc) is not int:
        raise _Bad(f"crc32 must be an integer, got {type(crc).__name__}")
    expected = zlib.crc32(_canonical(version, term, voted_for, commit))
    if crc != expected:
        raise _Bad(f"checksum mismatch: stored crc32 {crc}, computed {expected}")
    return HardState(term=term, voted_for=voted_for, commit=commit)


class StateFile:
    """One node's durable hard state at ``path``. (Failpoints around a save are the embedding's, not ours:
    runtime/node/embedding.py.)"""

    def __init__(self, path: str | os.PathLike[str], ops: FileOps | None = None) -> None:
        self.path = Path(path)
        self._ops = ops or _REAL_OPS  # the file operations (a fault injector may stand in for the disk)

    def __repr__(self) -> str:
        return f"StateFile({str(self.path)!r})"

    @property
    def _tmp_prefix(self) -> str:
        return f".{self.path.name}.tmp-"

    def _tmp_path(self) -> Path:
        return self.path.with_name(f"{self._tmp_prefix}{os.getpid()}")

    def load(self) -> HardState | None:
        """Return the stored HardState, or None if the file does not exist."""
        self._remove_stale_temps()
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageFatalError(self.path, f"cannot read state file: {exc}") from exc
        return decode_state(data, self.path)

    def save(self, state: HardState) -> None:
        """Durably replace the stored state with ``state``.

        Raises StorageFatalError on any I/O error. The caller must not retry:
        after a failed fsync the kernel may have dropped the dirty pages and
        cleared the error, so a second fsync can "succeed" without the data
        ever reaching the disk. The only safe reaction is to stop the node.
        """
        payload = encode_state(state.term, state.voted_for, getattr(state, "commit", 0))  # ValueError: caller bug
        tmp = self._tmp_path()
        ops = self._ops
        step = "open temp file"
        try:
            fd = ops.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                step = "write temp file"
                view = memoryview(payload)
                while view:
                    view = view[ops.write(fd, view):]
                step = "fsync temp file"
                ops.fsync(fd)
            finally:
                ops.close(fd)
            step = "replace state file"
            ops.replace(tmp, self.path)
            step = "open directory"
            dirfd = ops.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                # The rename is only durable once the directory entry is synced.
                step = "fsync directory"
                ops.fsync(dirfd)
            finally:
                ops.close(dirfd)
        except OSError as exc:
            try:
                tmp.unlink()
            except OSError:
                pass
            raise StorageFatalError(self.path, f"{step} failed: {exc}") from exc

    def _remove_stale_temps(self) -> None:
        # Temps left by a crash before rename never hold committed state; the
        # target file is untouched until os.replace, so dropping them is safe.
        own = self._tmp_path().name
        try:
            entries = list(self.path.parent.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(self._tmp_prefix) and entry.name != own:
                try:
                    entry.unlink()
                except OSError:
                    pass
