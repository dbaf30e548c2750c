"""What a leader knows about each follower's log, and what it may commit (Raft §5.3, §5.4.2). Sans-IO.

Per follower (`Progress`, after etcd-io/raft's tracker; ideas only):
- `match`: the highest index known to be replicated there; `next`: the next index to send (match < next).
- state PROBE: the leader does not know where the follower's log ends. It sends one AppendEntries and then waits
  (`paused`) until an answer: a rejection moves `next` back by the fast-backup hint and allows the next probe at
  once; a heartbeat response allows one more probe (so a follower that never answers the probe costs at most
  one message per heartbeat interval); a success moves to REPLICATE.
- state REPLICATE: the leader streams optimistically, advancing `next` as it sends, within an in-flight window
  bounded by message count AND by bytes (`Inflights`). Successes free the window up to the acknowledged index; a
  rejection goes back to PROBE with the hint. A heartbeat response while the window is full and the follower is
  behind frees the window: the in-flight messages were probably lost, and the next send (from `next`) either
  is accepted or is rejected with a hint that rewinds `next`.

The call sequence a leader follows per follower:
    if pr.can_send(): ents = log.entries_from(pr.next, ...); send AppendEntries(prev_index=pr.next - 1, ...);
                      pr.sent(pr.next - 1 + len(ents), log.size(pr.next, pr.next - 1 + len(ents)))
    on a success response:   pr.on_success(resp.index)
    on a rejection:          pr.on_reject(resp.index, log.backup_next(resp.conflict_index, resp.conflict_term))
    on a heartbeat response: pr.on_heartbeat_response(log.last_index)

`Tracker` holds one Progress per peer and answers the two quorum questions: the commit index the leader may take
(the largest index on a majority, self included, whose entry is of the leader's current term: entries of earlier
terms are never committed by counting replicas, only through a later entry of the current term, as the paper's
Figure 8 shows), and the commit index a heartbeat may carry to one follower (never beyond what it holds).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from .quorum import majority
from .raftlog import RaftLog

__all__ = ["PROBE", "REPLICATE", "Inflights", "Progress", "Tracker"]

PROBE, REPLICATE = "probe", "replicate"


class Inflights:
    """The AppendEntries sent to one follower and not yet acknowledged, each as (last index it carried, bytes).
    Full when it holds `max_count` messages or at least `max_bytes` bytes (a soft byte bound: one message may
    take it from below max_bytes to above, so a single entry larger than the budget can still go)."""

    __slots__ = ("max_count", "max_bytes", "_last", "_size", "_bytes")

    def __init__(self, max_count: int, max_bytes: int) -> None:
        if type(max_count) is not int or max_count < 1 or type(max_bytes) is not int or max_bytes < 1:
            raise ValueError(f"max_count and max_bytes must be integers >= 1, got {max_count!r}, {max_bytes!r}")
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._last: deque[int] = deque()
        self._size: deque[int] = deque()
        self._bytes = 0

    @property
    def count(self) -> int:
        return len(self._last)

    @property
    def bytes(self) -> int:
        return self._bytes

    def full(self) -> bool:
        return len(self._last) >= self.max_count or self._bytes >= self.max_bytes

    def add(self, last_index: int, nbytes: int) -> None:
        """Record a message whose entries end at `last_index`. Refused when full, or out of order."""
        if self.full():
            raise RuntimeError("cannot add to a full in-flight window")
        if self._last and last_index <= self._last[-1]:
            raise ValueError(f"in-flight messages must have increasing last indexes: {last_index} after "
                             f"{self._last[-1]}")
        self._last.append(last_index)
        self._size.append(nbytes)
        self._bytes += nbytes

    def free_le(self, index: int) -> None:
        """Forget the messages whose last index is <= `index` (they were acknowledged). O(messages freed)."""
        last, size = self._last, self._size
        while last and last[0] <= index:
            last.popleft()
            self._bytes -= size.popleft()

    def reset(self) -> None:
        self._last.clear()
        self._size.clear()
        self._bytes = 0


class Progress:
    """A leader's view of one follower. Mutate only through the methods; read the attributes freely."""

    __slots__ = ("match", "next", "state", "paused", "inflights")

    def __init__(self, next_index: int, max_inflight: int, max_inflight_bytes: int, match: int = 0) -> None:
        if not 0 <= match < next_index:
            raise ValueError(f"need 0 <= match < next, got match={match}, next={next_index}")
        self.match = match
        self.next = next_index
        self.state = PROBE
        self.paused = False  # PROBE only: a probe is out, wait for an answer or a heartbeat response
        self.inflights = Inflights(max_inflight, max_inflight_bytes)

    def __repr__(self) -> str:
        return (f"Progress({self.state} match={self.match} next={self.next}"
                f"{' paused' if self.paused else ''} inflight={self.inflights.count}/{self.inflights.bytes}B)")

    def become_probe(self) -> None:
        self.state = PROBE
        self.paused = False
        self.inflights.reset()
        self.next = self.match + 1

    def become_replicate(self) -> None:
        self.state = REPLICATE
        self.paused = False
        self.inflights.reset()
        self.next = self.match + 1

    def can_send(self) -> bool:
        """May the leader send this follower an AppendEntries with entries now?"""
        if self.state == PROBE:
            return not self.paused
        return not self.inflights.full()

    def sent(self, last_index: int, nbytes: int) -> None:
        """The leader sent an AppendEntries with prev_index = next - 1 whose entries end at `last_index`
        (next - 1 when it carried none) and weigh `nbytes`. PROBE: pause until an answer. REPLICATE: advance
        next past the entries and count the message in the window (an empty message is not counted)."""
        if last_index < self.next - 1:
            raise ValueError(f"sent entries ending at {last_index}, before prev_index {self.next - 1}")
        if self.state == PROBE:
            self.paused = True
        elif last_index >= self.next:
            self.next = last_index + 1
            self.inflights.add(last_index, nbytes)

    def on_success(self, index: int) -> bool:
        """The follower's log matches through `index`. True when `match` rose. A success that answers the
        probe (index >= next - 1) moves PROBE to REPLICATE; in REPLICATE it frees the window up to index."""
        advanced = index > self.match
        if advanced:
            self.match = index
            if self.next <= index:
                self.next = index + 1
        if self.state == PROBE:
            if index >= self.next - 1:  # answers the probe (a stale or heartbeat success changes nothing more)
                self.become_replicate()
        else:
            self.inflights.free_le(index)
        return advanced

    def on_reject(self, rejected: int, hint_next: int) -> bool:
        """The follower rejected an AppendEntries whose prev_index was `rejected`; `hint_next` is the leader's
        choice from the hint (RaftLog.backup_next). Clamped to [match + 1, rejected]. Goes to PROBE and allows
        the next probe at once. False (nothing changed) when the rejection is stale: in REPLICATE, one at or
        below match; in PROBE, one that does not answer the probe at next - 1."""
        if self.state == REPLICATE:
            if rejected <= self.match:
                return False
            self.state = PROBE
            self.inflights.reset()
        elif rejected != self.next - 1:
            return False
        nxt = hint_next if hint_next < rejected else rejected
        self.next = nxt if nxt > self.match else self.match + 1
        self.paused = False
        return True

    def on_heartbeat_response(self, leader_last: int) -> None:
        """The follower answered a heartbeat. PROBE: allow one more probe. REPLICATE: if the window is full and
        the follower is behind (match < leader_last), free the window (its messages were probably lost)."""
        if self.state == PROBE:
            self.paused = False
        elif self.match < leader_last and self.inflights.full():
            self.inflights.reset()

    def heartbeat_commit(self, leader_commit: int) -> int:
        """The commit index a heartbeat to this follower may carry: never beyond what it is known to hold."""
        return leader_commit if leader_commit < self.match else self.match


class Tracker:
    """The leader's progress for every other member, and the quorum questions. `peers` excludes the leader."""

    __slots__ = ("self_id", "progress", "_quorum")

    def __init__(self, self_id: int, peers: Iterable[int], next_index: int, *, max_inflight: int,
                 max_inflight_bytes: int) -> None:
        ids = sorted(set(peers))
        if self_id in ids:
            raise ValueError(f"peers must not include the leader itself ({self_id})")
        self.self_id = self_id
        self.progress: dict[int, Progress] = {
            p: Progress(next_index, max_inflight, max_inflight_bytes) for p in ids}
        self._quorum = majority(len(ids) + 1)

    def __getitem__(self, peer: int) -> Progress:
        return self.progress[peer]

    def __iter__(self) -> Iterator[int]:
        return iter(self.progress)

    def __len__(self) -> int:
        return len(self.progress)

    def quorum_match(self, self_match: int) -> int:
        """The largest index replicated on a majority, counting the leader as holding `self_match`."""
        matches = [pr.match for pr in self.progress.values()]
        matches.append(self_match)
        matches.sort(reverse=True)
        return matches[self._quorum - 1]

    def committable(self, log: RaftLog, term: int, self_match: int | None = None) -> int:
        """The commit index the leader of `term` may take now (§5.4.2): the largest index replicated on a
        majority (the leader counting as holding `self_match`, by default its whole log; pass its durable last
        index if it counts only what it has synced) if that entry is of `term`, else the current commit.
        Never lower than log.commit. Entries of earlier terms commit only through a later entry of `term`."""
        own = log.last_index if self_match is None else self_match
        idx = self.quorum_match(own)
        if idx > log.commit and log.term_at(idx) == term:
            return idx
        return log.commit

    def heartbeat_commit(self, peer: int, leader_commit: int) -> int:
        """min(leader_commit, that follower's match)."""
        return self.progress[peer].heartbeat_commit(leader_commit)
