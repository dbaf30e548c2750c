"""The chained digest of a log prefix (docs/log-schema.md, PLAN.md): two nodes whose digests through index i are
equal hold the same entries 1..i (up to blake2b collisions), so Log Matching is checked without logging payloads.

    d_0 = 16 hex zeros
    d_i = blake2b(bytes.fromhex(d_{i-1}) + term_i.to_bytes(8, 'big') + blake2b(data_i, digest_size=8).digest(),
                  digest_size=8).hexdigest()
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .messages import Entry

__all__ = ["GENESIS", "chain", "chain_raw", "chain_all"]

GENESIS = "0" * 16


def chain(prev: str, term: int, data: bytes) -> str:
    """The digest through an entry of `term` and `data`, given the digest through the entry before it."""
    return chain_raw(bytes.fromhex(prev), term, data).hex()


def chain_raw(prev: bytes, term: int, data: bytes) -> bytes:
    """`chain` on the 8 raw bytes of the digests (for a log that keeps the chain of every entry in memory)."""
    inner = hashlib.blake2b(data, digest_size=8).digest()
    return hashlib.blake2b(prev + term.to_bytes(8, "big") + inner, digest_size=8).digest()


def chain_all(entries: Iterable[Entry], prev: str = GENESIS) -> list[str]:
    """The digest through each of `entries` (consecutive, following the entry whose digest is `prev`)."""
    out = []
    for entry in entries:
        prev = chain(prev, entry.term, entry.data)
        out.append(prev)
    return out
