"""The chained log digest: the one implementation (the embedding writes it, the checker compares it).

    d_0 = 16 hex zeros
    d_i = blake2b(bytes.fromhex(d_{i-1}) + term_i.to_bytes(8, "big") + blake2b(data_i, digest_size=8).digest(),
                  digest_size=8).hexdigest()

d_i stands for the whole prefix 1..i (terms and payloads), so two logs that report one digest at an index hold the
same entries up to it, and any difference at an earlier index shows in every later digest. Records carry digests
instead of payloads (docs/log-schema.md, "Replication records"), which keeps logging proportional to batches.

`chain` is one link (`chain_raw` on raw bytes, for logs that keep every digest), `chain_all` a run of them.
The write-ahead log (runtime/node/wal.py) and the embedding use this module; the checker compares what they
wrote. `DigestChain` keeps the digest and term of every index of one log (8 bytes + one int each in
two arrays, so a million entries cost ~16 MB), appends in O(1) per entry, truncates in O(1) amortised, and builds
the fields of `log_appended` / `log_loaded` records for the embedding.
"""
from __future__ import annotations

from array import array
from hashlib import blake2b
from typing import Any, Iterable, Protocol

__all__ = ["GENESIS", "ZERO", "DIGEST_LEN", "chain", "chain_raw", "chain_all", "term_runs", "is_digest", "EntryLike",
           "DigestChain"]

DIGEST_LEN = 16  # hex characters (8 bytes)
GENESIS = ZERO = "0" * DIGEST_LEN  # d_0
_ZERO_BYTES = bytes(8)
_HEX = frozenset("0123456789abcdef")


class EntryLike(Protocol):
    """What the chain needs of an entry (protocol.messages.Entry has it; evidence imports nothing from protocol)."""

    @property
    def index(self) -> int: ...

    @property
    def term(self) -> int: ...

    @property
    def data(self) -> bytes: ...


def chain_raw(prev: bytes, term: int, data: bytes) -> bytes:
    """`chain` on the 8 raw bytes of the digests (no checks: the hot path of a log that keeps every digest)."""
    return blake2b(prev + term.to_bytes(8, "big") + blake2b(data, digest_size=8).digest(), digest_size=8).digest()


def chain(prev: str, term: int, data: bytes) -> str:
    """d_i (hex) from d_{i-1} (hex), the entry's term and its payload."""
    return chain_raw(bytes.fromhex(prev), term, data).hex()


def chain_all(entries: Iterable[EntryLike], prev: str = GENESIS) -> list[str]:
    """The digest through each of `entries` (consecutive, following the entry whose digest is `prev`)."""
    d = bytes.fromhex(prev)
    out = []
    for e in entries:
        d = chain_raw(d, e.term, e.data)
        out.append(d.hex())
    return out


def is_digest(v: Any) -> bool:
    """16 lowercase hex digits, as every record writes them."""
    return isinstance(v, str) and len(v) == DIGEST_LEN and _HEX.issuperset(v)


def term_runs(terms: Iterable[int]) -> list[list[int]]:
    """[[term, count], ...] of consecutive equal terms: the `terms` field of log_appended / log_loaded."""
    runs: list[list[int]] = []
    for t in terms:
        if runs and runs[-1][0] == t:
            runs[-1][1] += 1
        else:
            runs.append([t, 1])
    return runs


class DigestChain:
    """The digests of one log, index 1..last. `append(term, data)`, `truncate(last)`, `digest(i)`, `term(i)`;
    `replace_from(entries)` carries out a Ready's entries (replace the log from entries[0].index on) and returns
    the fields of its `log_appended` record."""

    __slots__ = ("_digests", "_terms")

    def __init__(self) -> None:
        self._digests = bytearray()  # 8 bytes per index, index i at [8(i-1), 8i)
        self._terms = array("q")

    @property
    def last(self) -> int:
        return len(self._terms)

    def digest(self, index: int) -> str:
        """d_index (ZERO for 0). IndexError beyond the log."""
        if index == 0:
            return ZERO
        if not 1 <= index <= self.last:
            raise IndexError(f"index {index} is outside the log 1..{self.last}")
        return self._digests[8 * (index - 1): 8 * index].hex()

    def term(self, index: int) -> int:
        """The term of entry `index` (0 for index 0). IndexError beyond the log."""
        if index == 0:
            return 0
        if not 1 <= index <= self.last:
            raise IndexError(f"index {index} is outside the log 1..{self.last}")
        return self._terms[index - 1]

    def append(self, term: int, data: bytes) -> str:
        """Append entry last+1; return its digest."""
        if type(term) is not int or term < 1:
            raise ValueError(f"term must be an int >= 1, got {term!r}")
        n = self.last
        prev = bytes(self._digests[8 * (n - 1): 8 * n]) if n else _ZERO_BYTES
        d = chain_raw(prev, term, data)
        self._digests += d
        self._terms.append(term)
        return d.hex()

    def truncate(self, last: int) -> None:
        """Keep entries 1..last (no-op if the log is not longer)."""
        if last < 0:
            raise ValueError(f"last must be >= 0, got {last}")
        if last < self.last:
            del self._digests[8 * last:]
            del self._terms[last:]

    def term_runs(self, first: int = 1, last: int | None = None) -> list[list[int]]:
        """[[term, count], ...] covering first..last (default: to the end)."""
        end = self.last if last is None else last
        return term_runs(self._terms[first - 1: end])

    def replace_from(self, entries: Iterable[EntryLike]) -> dict[str, Any] | None:
        """Replace the log from the first entry's index on with `entries` (indexes consecutive) and return the
        `log_appended` fields {first, last, terms, prev_digest, digest}; None for no entries."""
        it = iter(entries)
        head = next(it, None)
        if head is None:
            return None
        first = head.index
        if not 1 <= first <= self.last + 1:
            raise ValueError(f"entries start at {first}, but the log ends at {self.last} (a hole)")
        self.truncate(first - 1)
        prev = self.digest(first - 1)
        expect = first
        for e in (head, *it):
            if e.index != expect:
                raise ValueError(f"entry index {e.index} where {expect} was expected")
            self.append(e.term, e.data)
            expect += 1
        return {"first": first, "last": self.last, "terms": self.term_runs(first), "prev_digest": prev,
                "digest": self.digest(self.last)}

    def loaded_fields(self, commit: int) -> dict[str, Any]:
        """The `log_loaded` fields {last, digest, commit, terms} for this log as recovered from disk."""
        return {"last": self.last, "digest": self.digest(self.last), "commit": commit, "terms": self.term_runs()}
