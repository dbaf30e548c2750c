"""The public, typed surface of a core: what the embeddings (node, simulator, harnesses), `conform` and plug-ins
may rely on, as `typing.Protocol`s, and `CoreWrapper`, the base for building a core by composition.

A core is anything with the attributes and methods of `Core` (docs/core-contract.md); `hint` is optional
(`HintedCore`). The built-in `ElectionCore` is one; so are the examples, the `exec:` adapter and the mutants of
raftzmq/lab/conform/mutants.py, which are built from this surface alone: by wrapping a core and editing its inputs and
outputs (`CoreWrapper`), or through the built-in core's documented configuration hooks (`ElectionRules`, `Hints`),
never by overriding its private methods.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from .messages import Message
from .ready import Event, HardState, Output

__all__ = ["Rng", "Core", "HintedCore", "DurableCore", "acknowledges", "CoreFactory", "CoreWrapper", "merge_outputs", "ROLES"]

ROLES = ("follower", "precandidate", "candidate", "leader")


class Rng(Protocol):
    """Where a core draws every random choice from (the embedding's seeded generator)."""

    def uniform(self, a: float, b: float) -> float: ...


@runtime_checkable
class Core(Protocol):
    """What a core is. Constructed by a `CoreFactory`; three inputs, each returning an Output (a Ready); three
    attributes the embedding reads after each call."""

    @property
    def role(self) -> str: ...  # one of ROLES

    @property
    def term(self) -> int: ...  # never decreases

    @property
    def deadline(self) -> float: ...  # call tick() at or after this time

    def step(self, msg: Message, now: float) -> Output: ...

    def tick(self, now: float) -> Output: ...

    def transfer_leadership(self, target: int, now: float) -> Output: ...


@runtime_checkable
class HintedCore(Core, Protocol):
    """A core that takes disconnect hints (`--hints on`); a core without `hint` simply never gets them."""

    def hint(self, peer: int, now: float, closed: str = "connection") -> Output: ...


@runtime_checkable
class DurableCore(Core, Protocol):
    """A core that takes durability acknowledgements (optional): `persisted(state, last_index, now)` says the hard
    state `state` and the log up to `last_index` are durable. Such a core counts its own vote, and as leader its
    own log, only from them, so its embedding may give it inputs while a write is still under way (the
    simulator's `--disk async`) and its leader may send new entries before writing them (`Output.early`). A core
    without it (contract v1/v2 plug-ins, the `exec:` adapter) counts them at its next input: an embedding then
    carries out a Ready completely before the next input (docs/core-contract.md, "Durability
    acknowledgements")."""

    def persisted(self, state: HardState, last_index: int, now: float) -> Output: ...


def acknowledges(core: object) -> bool:
    """Whether `core` takes durability acknowledgements (has a callable `persisted`)."""
    return callable(getattr(core, "persisted", None))


class CoreFactory(Protocol):
    """`Core(config, state, now, rng)`: a class or any callable with that signature."""

    def __call__(self, config: Any, state: HardState, now: float, rng: Any) -> Core: ...


def merge_outputs(outs: Sequence[Output]) -> Output:
    """One Output standing for several consecutive ones of the same core (applied in order, the same effects):
    the last hard state asked for, every message, event, entry and committed entry in order, the last deadline."""
    persist = None
    messages: list[Message] = []
    events: list[Event] = []
    entries: list[Any] = []
    committed: list[Any] = []
    early: list[Message] = []
    reads: list[Any] = []
    for out in outs:
        reads += out.reads
        early += out.early  # (an earlier Output's early messages cannot depend on a later one's persist)
        if out.persist is not None:
            persist = out.persist
        messages += out.messages
        events += out.events
        if out.entries:  # (entries of a later Output replace the log from their first index: keep them all)
            entries += out.entries
        committed += out.committed
    return Output(persist, messages, events, outs[-1].deadline, entries, committed, early, reads)


class CoreWrapper:
    """A core built by composition: it holds an inner core and forwards every input to it, passing each input
    through `edit_input` and each Output through `edit_output` (both identity here; subclasses change one).
    Reading any other attribute reads the inner core's (e.g. `votes`, `voted_for`), so a wrapped built-in core
    still looks like one to tests and tools."""

    def __init__(self, inner: Core) -> None:
        self.inner = inner

    # the Core protocol
    @property
    def role(self) -> str:
        return self.inner.role

    @property
    def term(self) -> int:
        return self.inner.term

    @property
    def deadline(self) -> float:
        return self.inner.deadline

    def step(self, msg: Message, now: float) -> Output:
        edited = self.edit_input(msg, now)
        if edited is None:
            return Output(None, [], [], self.inner.deadline)
        return self.call("step", self.inner.step, edited, now)

    def tick(self, now: float) -> Output:
        return self.call("tick", self.inner.tick, now)

    def transfer_leadership(self, target: int, now: float) -> Output:
        return self.call("transfer_leadership", self.inner.transfer_leadership, target, now)

    def hint(self, peer: int, now: float, closed: str = "connection") -> Output:
        """Hints are optional: an inner core without `hint` ignores them (an empty Output, its timer unchanged)."""
        if not isinstance(self.inner, HintedCore):
            return Output(None, [], [], self.inner.deadline)
        return self.call("hint", self.inner.hint, peer, now, closed)

    @property
    def propose(self) -> Callable[[bytes, float], tuple[Any, Output]]:
        """A client command (contract v2): `wrapper.propose(data, now)` goes through `call("propose", ...)` and
        `edit_output` like every input; the inner core's Proposal comes back unchanged. Over an election-only
        (v1) inner core there is none: the attribute is missing (`getattr(core, "propose", None)` is None)."""
        inner_propose = getattr(self.inner, "propose", None)
        if inner_propose is None:
            raise AttributeError("propose")

        def propose(data: bytes, now: float) -> tuple[Any, Output]:
            proposals: list[Any] = []

            def run(data: bytes, now: float) -> Output:
                proposal, out = inner_propose(data, now)
                proposals.append(proposal)
                return out  # type: ignore[no-any-return]

            out = self.call("propose", run, data, now)
            return proposals[0], out

        return propose

    @property
    def persisted(self) -> Callable[[HardState, int, float], Output]:
        """A durability acknowledgement (optional, `DurableCore`): `wrapper.persisted(state, last_index, now)`
        goes through `call("persisted", ...)` and `edit_output` like every input. Over an inner core without it
        the attribute is missing (`acknowledges(wrapper)` is False), so the wrapper keeps the inner core's
        behaviour."""
        inner_persisted = getattr(self.inner, "persisted", None)
        if not callable(inner_persisted):
            raise AttributeError("persisted")

        def persisted(state: HardState, last_index: int, now: float) -> Output:
            return self.call("persisted", inner_persisted, state, last_index, now)

        return persisted

    # the hooks
    def call(self, what: str, fn: Callable[..., Output], *args: Any) -> Output:
        """Every input of the inner core goes through here (`what` names it: step, tick, transfer_leadership,
        hint, propose, persisted); the default passes the answer through `edit_output`."""
        return self.edit_output(fn(*args))

    def edit_input(self, msg: Message, now: float) -> Message | None:
        """The message the inner core gets instead of `msg` (None: it gets nothing, the Output is empty)."""
        return msg

    def edit_output(self, out: Output) -> Output:
        """What the embedding gets instead of the inner core's `out`."""
        return out

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this wrapper does not have: read through to the inner core.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
