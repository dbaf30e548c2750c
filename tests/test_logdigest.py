"""The chained digest (evidence/logdigest.py): the formula of docs/log-schema.md, and the incremental chain the
embedding uses to write log_appended / log_loaded."""
from hashlib import blake2b

import pytest

from raftzmq.evidence.logdigest import GENESIS, ZERO, DigestChain, chain, chain_all, chain_raw, is_digest, term_runs
from raftzmq.protocol.messages import Entry


def by_the_doc(prev: str, term: int, data: bytes) -> str:
    return blake2b(bytes.fromhex(prev) + term.to_bytes(8, "big") + blake2b(data, digest_size=8).digest(),
                   digest_size=8).hexdigest()


def digest_of(pairs, prev=GENESIS):
    out = chain_all([Entry(i + 1, t, d) for i, (t, d) in enumerate(pairs)], prev)
    return out[-1] if out else prev


def test_chain_is_the_documented_formula():
    assert ZERO == GENESIS == "0" * 16
    d1 = chain(ZERO, 1, b"x")
    assert d1 == by_the_doc(ZERO, 1, b"x") and is_digest(d1)
    assert chain(d1, 2, b"") == by_the_doc(d1, 2, b"")
    assert chain_raw(bytes.fromhex(d1), 2, b"").hex() == chain(d1, 2, b"")
    assert chain_all([Entry(1, 1, b"x"), Entry(2, 2, b"")]) == [d1, chain(d1, 2, b"")]
    assert chain_all([], d1) == []


def test_any_earlier_difference_shows_in_every_later_digest():
    base = [(1, b"a"), (1, b"b"), (2, b"c"), (2, b"d")]
    changed_data = [(1, b"a"), (1, b"B"), (2, b"c"), (2, b"d")]
    changed_term = [(1, b"a"), (2, b"b"), (2, b"c"), (2, b"d")]
    for other in (changed_data, changed_term):
        assert digest_of(base[:1]) == digest_of(other[:1])
        for n in (2, 3, 4):
            assert digest_of(base[:n]) != digest_of(other[:n])


def test_the_chain_object_refuses_terms_below_one():
    with pytest.raises(ValueError):
        DigestChain().append(0, b"")
    with pytest.raises(ValueError):
        DigestChain().append(True, b"")  # a bool is not a term


def test_is_digest():
    assert is_digest("0123456789abcdef")
    assert not is_digest("0123456789ABCDEF") and not is_digest("0" * 15) and not is_digest(0)


def test_term_runs():
    assert term_runs([]) == []
    assert term_runs([1, 1, 2, 3, 3, 3]) == [[1, 2], [2, 1], [3, 3]]


def test_chain_append_truncate_and_lookups():
    c = DigestChain()
    assert c.last == 0 and c.digest(0) == ZERO and c.term(0) == 0
    ds = [c.append(t, bytes([i])) for i, t in enumerate([1, 1, 2])]
    assert c.last == 3 and [c.digest(i) for i in (1, 2, 3)] == ds
    assert ds[2] == digest_of([(1, b"\x00"), (1, b"\x01"), (2, b"\x02")])
    assert [c.term(i) for i in (1, 2, 3)] == [1, 1, 2] and c.term_runs() == [[1, 2], [2, 1]]
    c.truncate(1)
    assert c.last == 1 and c.digest(1) == ds[0]
    with pytest.raises(IndexError):
        c.digest(2)
    assert c.append(3, b"z") == chain(ds[0], 3, b"z")
    c.truncate(5)  # not longer: nothing happens
    assert c.last == 2


def test_replace_from_gives_the_log_appended_fields():
    c = DigestChain()
    f = c.replace_from([Entry(1, 1, b"a"), Entry(2, 1, b"b")])
    assert f == {"first": 1, "last": 2, "terms": [[1, 2]], "prev_digest": ZERO,
                 "digest": digest_of([(1, b"a"), (1, b"b")])}
    d1 = c.digest(1)
    f = c.replace_from([Entry(2, 2, b"c"), Entry(3, 2, b"d")])  # replaces index 2 on
    assert f == {"first": 2, "last": 3, "terms": [[2, 2]], "prev_digest": d1,
                 "digest": digest_of([(1, b"a"), (2, b"c"), (2, b"d")])}
    assert c.replace_from([]) is None
    with pytest.raises(ValueError, match="hole"):
        c.replace_from([Entry(5, 2)])
    with pytest.raises(ValueError, match="expected"):
        c.replace_from([Entry(4, 2), Entry(6, 2)])
    assert c.loaded_fields(commit=2) == {"last": c.last, "digest": c.digest(c.last), "commit": 2,
                                         "terms": c.term_runs()}
    assert DigestChain().loaded_fields(0) == {"last": 0, "digest": ZERO, "commit": 0, "terms": []}


def test_chain_of_many_entries_matches_the_one_step_function():
    c = DigestChain()
    d = ZERO
    for i in range(1, 2001):
        d = chain(d, 1 + i // 500, str(i).encode())
        assert c.append(1 + i // 500, str(i).encode()) == d
    assert c.digest(2000) == d and len(c.term_runs()) == 5
