"""The replicated log a core holds in memory (Raft §5.3–5.4): sans-IO, no snapshots yet (the whole log is here).

What it knows:
- the entries 1..last_index (a list of the wire's `Entry` objects, never copied per entry on the hot path);
- where each term's run of entries starts (terms never decrease along a log, so a sorted list of run starts
  answers "first index of the term at i" and "last index of term t" by bisection, without scanning the log);
- the cumulative payload size (so that a byte budget for an AppendEntries is one bisection);
- `commit` (never goes back) and `applied` (what was handed to the state machine).

Follower side: `follower_append` is the AppendEntries receiver of the paper's Figure 2. It either rejects with the
fast-backup hint (the term at prev_index, or 0 when the log is shorter, and the first index of that term here, or
last_index + 1 when shorter; as MIT 6.5840 and the paper's §5.3 note) or accepts: entries already present with
the same term are skipped, so a duplicated, reordered or stale AppendEntries never truncates anything; the first
conflicting entry and everything after it is replaced; the commit index rises to min(leader_commit, index of the
last entry the message carried). Replacing an entry at or below the commit index would lose a committed entry:
`LogSafetyError`, never done.

Leader side: `leader_append` adds entries of the leader's term; `entries_from` slices what one AppendEntries
carries (bounded by count and bytes, always at least one entry when any is left); `backup_next` turns a rejection
hint into the next index to try (if this log has entries of conflict_term: its last index of that term + 1, else
conflict_index). Deciding what may be committed is the tracker's job (progress.py, §5.4.2); `commit_to` applies it.

Sizes: an entry weighs len(data) + `entry_overhead` bytes (the overhead, fixed per log, lets the embedding account
for its framing so a byte budget bounds real messages).
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .messages import Entry

__all__ = ["LogSafetyError", "Accepted", "Rejected", "RaftLog"]

_NO_ENTRIES: tuple[Entry, ...] = ()


class LogSafetyError(RuntimeError):
    """An operation that would break a Raft safety property (lose a committed entry, commit past the log)."""


class Accepted(NamedTuple):
    """The follower's log now matches the leader's through `match` (= prev_index + number of entries sent).

    entries:      the entries that were new to this log, in order: make them durable (the Ready's `entries`);
                  the log is replaced from entries[0].index on. Empty when the message brought nothing new.
    replace_from: entries[0].index, or 0 when nothing is new.
    truncated:    True when a conflicting suffix was cut (replace_from <= the old last index).
    commit:       this log's commit index after the message (it never goes back).
    """

    entries: tuple[Entry, ...]
    replace_from: int
    truncated: bool
    match: int
    commit: int

    @property
    def success(self) -> bool:
        return True


class Rejected(NamedTuple):
    """The consistency check failed at the message's `prev_index` (the rejection's AppendResponse.index).
    The fast-backup hint:
    conflict_term: the term of this log's entry at prev_index, 0 when the log is shorter than prev_index;
    conflict_index: the first index of conflict_term in this log, or last_index + 1 when shorter."""

    prev_index: int
    conflict_index: int
    conflict_term: int

    @property
    def success(self) -> bool:
        return False


def _bad(msg: str) -> ValueError:
    return ValueError(msg)


class RaftLog:
    """An in-memory Raft log. Build it from what a node recovered (`entries` 1..n in order, and the commit index
    it had persisted); then mutate it only through the methods below."""

    __slots__ = ("_ents", "_cum", "_run_first", "_run_term", "_commit", "_applied", "_overhead")

    def __init__(self, entries: Iterable[Entry] = (), commit: int = 0, *, applied: int = 0,
                 entry_overhead: int = 0) -> None:
        if type(entry_overhead) is not int or entry_overhead < 0:
            raise _bad(f"entry_overhead must be an integer >= 0, got {entry_overhead!r}")
        self._ents: list[Entry] = []
        self._cum: list[int] = [0]  # _cum[i] = total size of entries 1..i
        self._run_first: list[int] = []  # first index of each run of equal terms (strictly increasing)
        self._run_term: list[int] = []  # the term of that run (strictly increasing)
        self._overhead = entry_overhead
        self._extend(list(entries), 0)
        last = len(self._ents)
        if type(commit) is not int or not 0 <= commit <= last:
            raise _bad(f"commit must be an integer in [0, {last}] (the recovered last index), got {commit!r}")
        if type(applied) is not int or not 0 <= applied <= commit:
            raise _bad(f"applied must be an integer in [0, {commit}] (the commit index), got {applied!r}")
        self._commit = commit
        self._applied = applied

    # ----------------------------------------------------------------- reading
    @property
    def last_index(self) -> int:
        return len(self._ents)

    @property
    def last_term(self) -> int:
        return self._run_term[-1] if self._run_term else 0

    @property
    def commit(self) -> int:
        return self._commit

    @property
    def applied(self) -> int:
        return self._applied

    @property
    def entry_overhead(self) -> int:
        return self._overhead

    def __len__(self) -> int:
        return len(self._ents)

    def term_at(self, index: int) -> int:
        """The term of the entry at `index`; 0 for index 0. IndexError outside [0, last_index]."""
        if index == 0:
            return 0
        if not 0 < index <= len(self._ents):
            raise IndexError(f"no entry at index {index} (last index {len(self._ents)})")
        return self._ents[index - 1].term

    def entry(self, index: int) -> Entry:
        if not 0 < index <= len(self._ents):
            raise IndexError(f"no entry at index {index} (last index {len(self._ents)})")
        return self._ents[index - 1]

    def entries(self, first: int = 1, last: int | None = None) -> tuple[Entry, ...]:
        """Entries first..last (inclusive; last defaults to last_index), as one slice."""
        n = len(self._ents)
        if last is None:
            last = n
        if not (1 <= first and last <= n and first <= last + 1):
            raise IndexError(f"range {first}..{last} is not within 1..{n}")
        return tuple(self._ents[first - 1:last])

    def size(self, first: int, last: int) -> int:
        """Total size (payload + overhead) of entries first..last inclusive; 0 for an empty range."""
        if last < first:
            return 0
        if not (1 <= first and last <= len(self._ents)):
            raise IndexError(f"range {first}..{last} is not within 1..{len(self._ents)}")
        return self._cum[last] - self._cum[first - 1]

    def first_index_of_term_at(self, index: int) -> int:
        """The first index of the run of entries that holds `index` (all of one term). O(log runs)."""
        if not 0 < index <= len(self._ents):
            raise IndexError(f"no entry at index {index} (last index {len(self._ents)})")
        return self._run_first[bisect_right(self._run_first, index) - 1]

    def last_index_of_term(self, term: int) -> int:
        """The last index holding an entry of `term`, or 0 when this log has none. O(log runs)."""
        k = bisect_left(self._run_term, term)
        if k == len(self._run_term) or self._run_term[k] != term:
            return 0
        return self._run_first[k + 1] - 1 if k + 1 < len(self._run_first) else len(self._ents)

    def term_runs(self, first: int = 1, last: int | None = None) -> list[tuple[int, int]]:
        """[(term, count), ...] covering first..last, as the log records `log_appended` and `log_loaded` carry
        them. O(log runs + runs in the range)."""
        n = len(self._ents)
        if last is None:
            last = n
        if last < first:
            return []
        if not (1 <= first and last <= n):
            raise IndexError(f"range {first}..{last} is not within 1..{n}")
        rf, rt = self._run_first, self._run_term
        k = bisect_right(rf, first) - 1
        out: list[tuple[int, int]] = []
        start = first
        while start <= last:
            end = min(last, rf[k + 1] - 1 if k + 1 < len(rf) else n)
            out.append((rt[k], end - start + 1))
            start = end + 1
            k += 1
        return out

    def is_up_to_date(self, last_log_index: int, last_log_term: int) -> bool:
        """§5.4.1: is a candidate whose log ends at (last_log_index, last_log_term) at least as up-to-date as
        this log? Later last term wins; with equal last terms, the longer log wins; equal logs are up-to-date."""
        my_term = self._run_term[-1] if self._run_term else 0
        if last_log_term != my_term:
            return last_log_term > my_term
        return last_log_index >= len(self._ents)

    def matches(self, index: int, term: int) -> bool:
        """True when this log holds an entry of `term` at `index` (index 0 matches term 0 only)."""
        if index == 0:
            return term == 0
        return 0 < index <= len(self._ents) and self._ents[index - 1].term == term

    # ----------------------------------------------------------------- follower
    def follower_append(self, prev_index: int, prev_term: int, entries: Sequence[Entry],
                        leader_commit: int) -> Accepted | Rejected:
        """The AppendEntries receiver (Figure 2, §5.3). Mutates this log (and its commit index) when accepted.

        `entries` must be consecutive from prev_index + 1 with non-decreasing terms >= prev_term (ValueError
        otherwise, nothing changed). Raises LogSafetyError, nothing changed, if the message conflicts with an
        entry at or below the commit index."""
        ents = self._ents
        last = len(ents)
        if prev_index > last:
            return Rejected(prev_index, last + 1, 0)
        if prev_index < 0:
            raise _bad(f"prev_index must be >= 0, got {prev_index}")
        if prev_index and ents[prev_index - 1].term != prev_term:
            t = ents[prev_index - 1].term
            return Rejected(prev_index, self._run_first[bisect_right(self._run_first, prev_index) - 1], t)
        if prev_index == 0 and prev_term != 0:
            raise _bad(f"prev_term must be 0 when prev_index is 0, got {prev_term}")
        n = len(entries)
        if n and (entries[0].index != prev_index + 1 or entries[-1].index != prev_index + n):
            raise _bad(f"entries must be consecutive from {prev_index + 1}, got "
                       f"{entries[0].index}..{entries[-1].index} ({n} entries)")
        # Skip what this log already holds with the same term: the first conflict, if any, is where it is replaced.
        k = 0
        overlap = min(n, last - prev_index)
        while k < overlap and ents[prev_index + k].term == entries[k].term:
            k += 1
        match = prev_index + n
        if k == n:  # nothing new: a heartbeat, or a duplicated or stale message
            new: tuple[Entry, ...] = _NO_ENTRIES
            replace_from = 0
            truncated = False
        else:
            replace_from = prev_index + k + 1
            truncated = replace_from <= last
            if truncated and replace_from <= self._commit:
                raise LogSafetyError(
                    f"AppendEntries conflicts at index {replace_from} (term {ents[replace_from - 1].term} here, "
                    f"{entries[k].term} in the message) at or below the commit index {self._commit}: "
                    "replacing it would lose a committed entry")
            new = tuple(entries[k:])
            base_term = entries[k - 1].term if k else prev_term
            self._extend(new, base_term, replace_from - 1)
        if leader_commit > self._commit:
            c = leader_commit if leader_commit < match else match
            if c > self._commit:
                self._commit = c
        elif leader_commit < 0:
            raise _bad(f"leader_commit must be >= 0, got {leader_commit}")
        return Accepted(new, replace_from, truncated, match, self._commit)

    def heartbeat(self, prev_index: int, prev_term: int, leader_commit: int) -> int:
        """`follower_append` for an AppendEntries without entries, on the hot path: when this log holds
        (prev_index, prev_term), take the commit index (bounded by prev_index, never going back) and return
        prev_index; otherwise return -1 and change nothing (call follower_append for the rejection's hint).
        The arguments come from a validated message (non-negative; prev_term 0 iff prev_index 0)."""
        ents = self._ents
        if prev_index > len(ents) or (prev_index and ents[prev_index - 1].term != prev_term):
            return -1
        if leader_commit > self._commit:
            c = leader_commit if leader_commit < prev_index else prev_index
            if c > self._commit:
                self._commit = c
        return prev_index

    # ----------------------------------------------------------------- leader
    def leader_append(self, term: int, data: bytes = b"") -> Entry:
        """Append one entry of the leader's `term` (a client command, or b"" for the new leader's no-op)."""
        e = Entry(len(self._ents) + 1, term, data)
        self._extend((e,), self.last_term)
        return e

    def leader_append_batch(self, term: int, datas: Iterable[bytes]) -> tuple[Entry, ...]:
        """Append one entry of `term` per command, in order; returns them (the Ready's `entries`)."""
        first = len(self._ents) + 1
        new = tuple(Entry(first + i, term, d) for i, d in enumerate(datas))
        self._extend(new, self.last_term)
        return new

    def entries_from(self, next_index: int, max_count: int, max_bytes: int) -> tuple[Entry, ...]:
        """The entries one AppendEntries to a follower at `next_index` carries: from next_index on, at most
        max_count of them and at most max_bytes in total, but always at least one when next_index <= last_index
        (a single entry larger than max_bytes still goes, alone). Empty when next_index == last_index + 1.
        The message's prev_index is next_index - 1 and prev_term is term_at(next_index - 1)."""
        n = len(self._ents)
        if not 1 <= next_index <= n + 1:
            raise IndexError(f"next_index {next_index} is not within 1..{n + 1}")
        if max_count < 1 or max_bytes < 1:
            raise _bad(f"max_count and max_bytes must be >= 1, got {max_count}, {max_bytes}")
        if next_index > n:
            return _NO_ENTRIES
        end = next_index - 1 + max_count
        if end > n:
            end = n
        cum = self._cum
        budget = cum[next_index - 1] + max_bytes
        if cum[end] > budget:
            end = max(next_index, bisect_right(cum, budget, next_index, end + 1) - 1)
        return tuple(self._ents[next_index - 1:end])

    def backup_next(self, conflict_index: int, conflict_term: int) -> int:
        """The next index to try after a rejection carrying this hint (MIT 6.5840's fast backup): if this log has
        entries of conflict_term, the index after its last one; otherwise conflict_index. The caller clamps it to
        its progress (progress.Progress.on_reject does)."""
        if conflict_term:
            last_of_term = self.last_index_of_term(conflict_term)
            if last_of_term:
                return last_of_term + 1
        return conflict_index if conflict_index >= 1 else 1

    # ----------------------------------------------------------------- commit and apply
    def commit_to(self, index: int) -> bool:
        """Raise the commit index to `index`; True if it rose. A lower index is ignored (commit never goes back);
        an index beyond this log is a safety violation (LogSafetyError)."""
        if index <= self._commit:
            return False
        if index > len(self._ents):
            raise LogSafetyError(f"commit index {index} is beyond the last index {len(self._ents)}")
        self._commit = index
        return True

    def unapplied(self) -> tuple[Entry, ...]:
        """The committed entries not handed out yet, in log order; hands them out (applied := commit)."""
        a, c = self._applied, self._commit
        if a == c:
            return _NO_ENTRIES
        self._applied = c
        return tuple(self._ents[a:c])

    # ----------------------------------------------------------------- internals
    def _extend(self, new: Sequence[Entry], base_term: int, keep: int | None = None) -> None:
        """Validate `new` as the continuation of entries 1..keep (default: the whole log) whose last term is
        base_term, then cut the log to `keep` entries and append `new`. Nothing changes if validation fails."""
        if keep is None:
            keep = len(self._ents)
        overhead = self._overhead
        total = self._cum[keep]
        cum: list[int] = []
        run_first: list[int] = []
        run_term: list[int] = []
        expect = keep
        t = base_term
        for e in new:
            expect += 1
            if e.index != expect:
                raise _bad(f"entry index {e.index} where {expect} was expected: entries must be consecutive")
            et = e.term
            if et != t:
                if et < t:
                    raise _bad(f"entry {expect} has term {et} after term {t}: terms never decrease along a log")
                run_first.append(expect)
                run_term.append(et)
                t = et
            total += len(e.data) + overhead
            cum.append(total)
        if keep < len(self._ents):
            del self._ents[keep:]
            del self._cum[keep + 1:]
            k = bisect_right(self._run_first, keep)
            del self._run_first[k:]
            del self._run_term[k:]
        self._ents.extend(new)
        self._cum.extend(cum)
        self._run_first.extend(run_first)
        self._run_term.extend(run_term)
