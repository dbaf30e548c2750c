"""Disconnect hints: the built-in core's collaborator for `hint(peer, now)` (CoreConfig.hints).

All hint state of a core lives here, and the core consults it at a few points only: when the embedding reports a
closed connection (`observe`), when its lease is asked about (`holds`), when a hint pre-vote arrives (`saw_prevote`,
`rival`, `defer`), when a heartbeat reaches a hint pre-candidate (`is_ghost`), when its hint timer fires
(`prevote_first`, `retry`) and when the core resets per-term state (`reset`). The protocol itself is described in
raftzmq/protocol/core.py's docstring.

This class is also a documented configuration hook: `ElectionCore(..., hints=MyHints())` runs the core with a
subclass that bends one rule (tests/test_core_hints.py builds its broken variants that way). Each method is a
decision or a state change of this object alone; the core does the acting (events, messages, role changes).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .messages import AppendEntries, RequestVote

if TYPE_CHECKING:
    from .core import ElectionCore

__all__ = ["Hints"]

_INF = float("inf")


class Hints:
    """One core's disconnect-hint state and rules."""

    __slots__ = ("leader", "at", "deadline", "round", "gap", "round_seen")

    def __init__(self) -> None:
        self.leader: int | None = None  # the leader whose connection this node saw close ...
        self.at = 0.0  # ... and when
        self.deadline = _INF  # when this node's own hint-driven pre-vote starts (or, as pre-candidate, asks again)
        self.round = False  # this node's current pre-vote was started by a hint
        self.gap = 0.0  # a hint pre-candidate asks again after this long (doubling)
        self.round_seen: tuple[int, float] | None = None  # (term, when) of the last hint pre-vote received

    # ------------------------------------------------------------------ state changes the core asks for

    def reset(self) -> None:
        """Forget the hint (the core reset its per-term state). `round_seen` expires by itself (term + 1)."""
        self.leader, self.deadline, self.round = None, _INF, False

    def begin_round(self, hint: bool) -> None:
        """A pre-vote round starts (hinted or not). The hinted leader stays known: see `is_ghost`."""
        self.deadline, self.round = _INF, hint

    def arm_retry(self, core: ElectionCore) -> None:
        """A hint pre-vote went out: ask again after one hint window if it has not won by then."""
        self.gap = core.config.hint_window
        self.deadline = core.now + self.gap

    # ------------------------------------------------------------------ decisions (the configuration hooks)

    def holds(self, core: ElectionCore) -> bool:
        """A hint this node saw speaks for the leader it was about, and only for as long as a lease lasts: a leader
        that is in fact alive (a false hint) gets its lease back from the next heartbeats once this has passed."""
        return (self.leader is not None and self.leader == core.leader
                and core.now - self.at < core.config.election_timeout_min)

    def round_running(self, core: ElectionCore) -> bool:
        """Someone else's hint pre-vote for term + 1 reached this node within the lease: it starts none itself."""
        seen = self.round_seen
        return (seen is not None and seen[0] == core.term + 1
                and core.now - seen[1] < core.config.election_timeout_min)

    def observe(self, core: ElectionCore, peer: int, now: float) -> bool:
        """The embedding saw the connection to `peer` close. Acted on (True) only with `config.hints`, by a
        follower, about its current leader, once per leader: the hint pre-vote starts after a random delay in
        [0, hint_window), unless another node's hint round runs already."""
        if core.config.hints and core.role == "follower" and peer == core.leader and not self.holds(core):
            self.leader, self.at = peer, now
            if not self.round_running(core):
                self.deadline = now + core.rng.uniform(0.0, core.config.hint_window)
            return True
        return False

    def saw_prevote(self, core: ElectionCore, msg: RequestVote) -> None:
        """A hint pre-vote arrived: someone runs a hint round for msg.term (see `round_running`)."""
        self.round_seen = (msg.term, core.now)

    def rival(self, core: ElectionCore, msg: RequestVote) -> str | None:
        """Two hinted followers run at once: if both won their pre-votes they would split the real vote, so the lower
        id runs on ("refuse": deny the other's pre-vote) and the higher yields ("yield": become follower; a
        pre-vote changed no term or vote, so there is nothing to undo). None: no rivalry."""
        if self.round and msg.term == core.term + 1:
            return "refuse" if msg.src > core.id else "yield"
        return None

    def defer(self, core: ElectionCore) -> None:
        """This node granted a hint pre-vote: the candidate saw the close too and runs already, defer to it."""
        self.deadline = _INF

    def is_ghost(self, core: ElectionCore, msg: AppendEntries) -> bool:
        """A heartbeat the dead leader sent just before its connection closed can arrive after the hint (another
        connection, another queue). Within the hint window it is taken for that; later, the leader lives."""
        return (self.round and msg.src == self.leader
                and core.now - self.at < core.config.hint_window)

    def prevote_first(self, core: ElectionCore) -> bool:
        """The hint timer fired on a follower: start a pre-vote (True) — never a real vote, whatever
        config.prevote says, so that a false hint cannot depose a live leader."""
        return True

    def retry(self, core: ElectionCore) -> list[int]:
        """A hint pre-candidate's timer fired: followers who denied its pre-vote because they had not seen the close
        yet (their lease held) see it a few milliseconds later and start no round of their own, so ask them again,
        after 1, 2, 4... hint windows. Returns the peers to ask."""
        self.gap *= 2
        self.deadline = core.now + self.gap
        return [peer for peer in core.peers if peer not in core.votes]
