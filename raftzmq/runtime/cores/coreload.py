"""Plug-in election cores: load one from a spec, probe it, and hold it to docs/core-contract.md at run time.

A spec names a core class or a child process:
  builtin                         raftzmq's own ElectionCore (also: no spec at all)
  package.module:Class            imported from sys.path
  path/to/file.py:Class           imported from that file
  exec:COMMAND ARGS...            a child process speaking line-delimited JSON (raftzmq.runtime.cores.extcore)

Everything the embedding needs from a core is checked at the one boundary where a core's answer comes back
(`CheckedCore`), so a broken core is a clear `CoreContractError` naming the rule, never a traceback deep in the node
or the simulator. Loading and probing failures are `CoreLoadError` with a one-line reason.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from raftzmq.evidence.logfile import NODE_EVENT_FIELDS, REPLICATION_EVENTS, validate_record
from raftzmq.protocol.core import CANDIDATE, FOLLOWER, LEADER, PRECANDIDATE, CoreConfig, ElectionCore, Event
from raftzmq.protocol.core import HardState, Output
from raftzmq.protocol.surface import Core, CoreWrapper, HintedCore, acknowledges
from raftzmq.protocol.messages import AppendEntries, AppendResponse, Entry, RequestVote, TimeoutNow, VoteResponse

__all__ = ["BUILTIN", "CoreLoadError", "CoreContractError", "CheckedCore", "CoreFactory", "resolve_spec",
           "load_core", "ignores_prevote", "EMBEDDING_EVENTS", "ROLES"]

BUILTIN = "builtin"
ROLES = (FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER)
# Records only the embedding writes: a core that emitted them could fake durability for the checker.
EMBEDDING_EVENTS = frozenset({"node_started", "state_persisted", "node_stopping", "node_failed", "message_rejected",
                              *REPLICATION_EVENTS})
_MESSAGE_TYPES = (RequestVote, VoteResponse, AppendEntries, AppendResponse, TimeoutNow)
_METHODS = ("step", "tick", "transfer_leadership")

CoreFactory = Callable[[CoreConfig, HardState, float, Any], Core]  # protocol/surface.py: what a core is
# What load_core gives the embeddings: the built-in core, or a plug-in behind CheckedCore (which adds `hint`).
LoadedFactory = Callable[[CoreConfig, HardState, float, Any], HintedCore]


class CoreLoadError(Exception):
    """The spec cannot be turned into a working core; the message is one line for the user."""


class CoreContractError(Exception):
    """A core broke docs/core-contract.md at run time; the message names the core, the call and the rule."""


# ---------------------------------------------------------------------------------------------- loading


def resolve_spec(spec: str | None) -> str:
    """Normalise a user's spec for storing in a config (file paths made absolute); load and probe it once so
    that a bad spec fails here, before any process starts."""
    if spec is None or spec.strip() in ("", BUILTIN):
        return BUILTIN
    spec = spec.strip()
    if not spec.startswith("exec:"):
        module, _, cls = spec.rpartition(":")
        if module.endswith(".py"):
            spec = f"{Path(module).resolve()}:{cls}"
    load_core(spec, probe=True)
    return spec


def load_core(spec: str | None, *, probe: bool = False) -> LoadedFactory:
    """A factory `(config, state, now, rng) -> core` for `spec`. Plug-in cores come wrapped in CheckedCore."""
    if spec is None or spec == BUILTIN:
        return ElectionCore
    if spec.startswith("exec:"):
        from raftzmq.runtime.cores.extcore import ExternalCoreFactory

        factory: CoreFactory = ExternalCoreFactory(spec[len("exec:"):])
    else:
        factory = _import_class(spec)
    checked = _checked_factory(factory, spec)
    if probe:
        _probe(checked, spec)
    return checked


def _import_class(spec: str) -> type:
    module_name, sep, class_name = spec.rpartition(":")
    if not sep or not module_name or not class_name.isidentifier():
        raise CoreLoadError(f"core {spec!r}: expected module:Class, path/to/file.py:Class or exec:COMMAND")
    try:
        module = _import_file(module_name) if module_name.endswith(".py") else importlib.import_module(module_name)
    except CoreLoadError:
        raise
    except Exception as exc:  # the user's module may raise anything at import time
        raise CoreLoadError(f"core {spec!r}: cannot import {module_name}: {exc.__class__.__name__}: {exc}") from None
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise CoreLoadError(f"core {spec!r}: {module_name} has no class {class_name}")
    missing = [m for m in _METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise CoreLoadError(f"core {spec!r}: {class_name} lacks method(s) {', '.join(missing)} "
                            "(docs/core-contract.md)")
    return cls


def _import_file(path: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise CoreLoadError(f"core file {path} does not exist")
    # A stable name per file (str hashes are salted per process): the same module in every worker and node.
    name = "raftzmq_plugin_" + hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:16]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise CoreLoadError(f"core file {path} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _checked_factory(factory: CoreFactory, spec: str) -> LoadedFactory:
    def make(config: CoreConfig, state: HardState, now: float, rng: Any, log: Any = ()) -> CheckedCore:
        try:
            # contract v2: a recovered log is passed only when there is one (v1 cores never write entries)
            if log:
                inner = factory(config, state, now, rng, log=log)  # type: ignore[call-arg]
            else:
                inner = factory(config, state, now, rng)
        except CoreContractError:
            raise
        except Exception as exc:
            raise CoreContractError(f"core {spec}: constructor failed: {exc.__class__.__name__}: {exc}") from None
        return CheckedCore(inner, config, now, spec)
    make.spec = spec  # type: ignore[attr-defined]
    make.close = getattr(factory, "close", lambda: None)  # type: ignore[attr-defined]
    return make


def _probe(factory: CoreFactory, spec: str) -> None:
    """Build a core of a 3-node cluster and let it time out once: constructor, tick and Output shapes."""
    try:
        core = factory(CoreConfig(1, (1, 2, 3), prevote=False, check_quorum=False), HardState(), 0.0,
                       random.Random(0))
        core.tick(core.deadline)
    except CoreContractError as exc:
        raise CoreLoadError(str(exc)) from None
    finally:
        getattr(factory, "close", lambda: None)()


def ignores_prevote(spec: str) -> bool:
    """True if the core, configured with prevote on, answers its first election timeout with a real election
    (a RequestVote that is no pre-vote): the contract lets a core ignore the flag, and the user should know."""
    if spec == BUILTIN:
        return False
    factory = load_core(spec)
    try:
        core = factory(CoreConfig(1, (1, 2, 3), prevote=True, check_quorum=False), HardState(), 0.0,
                       random.Random(0))
        out = core.tick(core.deadline)
    except CoreContractError as exc:
        raise CoreLoadError(str(exc)) from None
    finally:
        getattr(factory, "close", lambda: None)()
    asks = [m for m in out.messages if isinstance(m, RequestVote)]
    return bool(asks) and not any(m.prevote for m in asks)


# ---------------------------------------------------------------------------------------------- run-time checks


class CheckedCore(CoreWrapper):
    """Forwards to a plug-in core and checks every answer against the contract (shapes, ids, terms, names).
    Safety itself (one vote per term, persist before vote...) is the checker's job, from the records."""

    def __init__(self, inner: Any, config: CoreConfig, now: float, spec: str) -> None:
        super().__init__(inner)
        self.spec = spec
        self.id = config.node_id
        self.peers = tuple(m for m in config.members if m != self.id)
        self._peer_set = frozenset(self.peers)
        self._durable_term = -1
        self._last_term = 0
        self._event_term = 0
        self._check_state("constructor")

    def __getattr__(self, name: str) -> Any:
        # Unlike a CoreWrapper, a checked core exposes the contract's surface only: every call goes through the
        # checks (e.g. the node's start-up barrier uses `campaign_now` only on the built-in core).
        raise AttributeError(name)

    @property
    def propose(self) -> Callable[[bytes, float], tuple[Any, Output]]:
        """Only for a contract v2 core (an exec: child that never said "contract": 2 is v1 even though its adapter
        has the method), so `getattr(core, "propose", None)` tells an election-only one."""
        if self.contract_version < 2:
            raise AttributeError("propose")
        return CoreWrapper.propose.fget(self)  # type: ignore[attr-defined,no-any-return]

    @property
    def contract_version(self) -> int:
        """2 when the plug-in replicates (has `propose`, or an exec: child said so), 1 when election-only."""
        version = getattr(self.inner, "contract_version", None)
        if version in (1, 2):
            return int(version)
        return 2 if callable(getattr(self.inner, "propose", None)) else 1

    @property
    def leader(self) -> int | None:
        """The leader this node knows, for the client endpoint's `info` and `not_leader` answers (without it
        `raftzmq propose` found no leader in a cluster of plug-in cores): the plug-in's own `leader` when it is a
        member's id, else this node while it leads, else None. Not part of the contract: never required."""
        known = getattr(self.inner, "leader", None)
        if type(known) is int and (known == self.id or known in self._peer_set):
            return known
        return self.id if getattr(self.inner, "role", None) == LEADER else None

    @property
    def last_index(self) -> int:
        return int(getattr(self.inner, "last_index", 0))

    @property
    def commit_index(self) -> int:
        return int(getattr(self.inner, "commit_index", 0))

    def call(self, what: str, fn: Callable[..., Any], *args: Any) -> Output:
        try:
            out = fn(*args)
        except CoreContractError:
            raise
        except Exception as exc:
            self._fail(what, f"raised {exc.__class__.__name__}: {exc}")
        self._check_output(what, out)
        self._check_state(what)
        return out  # type: ignore[no-any-return]

    def _fail(self, what: str, rule: str) -> Any:
        raise CoreContractError(f"core {self.spec}, node {self.id}, {what}: {rule} (docs/core-contract.md)")

    def _check_state(self, what: str) -> None:
        inner = self.inner
        role: Any = getattr(inner, "role", None)
        term: Any = getattr(inner, "term", None)
        deadline: Any = getattr(inner, "deadline", None)
        if role not in ROLES:
            self._fail(what, f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(term, int) or type(term) is bool or term < self._last_term:
            self._fail(what, f"term must be an int that never decreases, got {term!r} after {self._last_term}")
        self._last_term = term
        if not isinstance(deadline, (int, float)) or math.isnan(deadline):
            self._fail(what, f"deadline must be a number, got {deadline!r}")

    def _check_output(self, what: str, out: Any) -> None:
        if not isinstance(out, Output):
            self._fail(what, f"must return raftzmq.protocol.Output, got {type(out).__name__}")
        if out.persist is not None:
            if not isinstance(out.persist, HardState):
                self._fail(what, f"Output.persist must be HardState or None, got {out.persist!r}")
            if out.persist.term < self._durable_term:
                self._fail(what, f"persisted term went back from {self._durable_term} to {out.persist.term}")
            self._durable_term = out.persist.term
        for name in ("entries", "committed"):  # contract v2; a v1 core leaves both at their empty default
            seq = getattr(out, name)
            if not isinstance(seq, (list, tuple)) or not all(isinstance(e, Entry) for e in seq):
                self._fail(what, f"Output.{name} must be a list of raftzmq.protocol.Entry, got {seq!r}")
        if type(out.deadline) not in (int, float) or math.isnan(out.deadline):
            self._fail(what, f"Output.deadline must be a number, got {out.deadline!r}")
        if not isinstance(out.messages, list) or not isinstance(out.events, list):
            self._fail(what, "Output.messages and Output.events must be lists")
        for msg in out.messages:
            if not isinstance(msg, _MESSAGE_TYPES) or msg.src != self.id or msg.dst not in self._peer_set:
                self._fail(what, f"message {msg!r} is not a message from node {self.id} to a peer")
        early = out.early
        if not isinstance(early, (list, tuple)):
            self._fail(what, f"Output.early must be a list of messages, got {early!r}")
        # Leaves before the persist: only what promises nothing a crash could take back - a candidate's own
        # RequestVotes, and (for a core that counts itself only from `persisted`) a leader's AppendEntries with
        # entries (thesis §10.2.1).
        appends = acknowledges(self.inner) and getattr(self.inner, "role", None) == "leader"
        for msg in early:
            ok = (isinstance(msg, RequestVote) and not msg.prevote) or (
                appends and isinstance(msg, AppendEntries) and bool(msg.entries))
            if not ok or msg.src != self.id or msg.dst not in self._peer_set:
                self._fail(what, f"Output.early may hold only this candidate's RequestVotes (not pre-votes), or "
                                 f"a leader's AppendEntries with entries from a core with persisted, got {msg!r}")
        for ev in out.events:
            self._check_event(what, ev)

    def _check_event_term(self, what: str, ev: Event) -> None:
        # A node's records never go back in term (docs/log-schema.md), and none is ahead of the node's term.
        term = getattr(self.inner, "term", None)
        if type(ev.term) is not int or ev.term < self._event_term or (type(term) is int and ev.term > term):
            self._fail(what, f"event {ev.name} has term {ev.term!r}: events never go back in term (last "
                             f"{self._event_term}) and are never ahead of the core's term ({term!r})")
        self._event_term = ev.term

    def _check_event(self, what: str, ev: Any) -> None:
        if not isinstance(ev, Event) or not isinstance(ev.name, str) or not isinstance(ev.fields, dict):
            self._fail(what, f"events must be raftzmq.protocol.Event(name, term, fields), got {ev!r}")
        if ev.name in EMBEDDING_EVENTS:
            self._fail(what, f"event {ev.name!r} is written by the embedding, not by a core")
        self._check_event_term(what, ev)
        record = {"ts": 0.0, "mono_ns": 0, "event": ev.name, "by": "node", "node": self.id, "term": ev.term,
                  "incarnation": 1, "seq": 1, **ev.fields}
        problem = validate_record(record)
        if problem is not None or len(record) != 8 + len(ev.fields):
            self._fail(what, f"event {ev.name}: {problem or 'a field uses a reserved name'} "
                             f"(known events and their fields: docs/log-schema.md)")


def known_events() -> list[str]:
    """Event names with a documented meaning; a core may emit others (they are logged, not interpreted)."""
    return sorted(set(NODE_EVENT_FIELDS) - EMBEDDING_EVENTS)
