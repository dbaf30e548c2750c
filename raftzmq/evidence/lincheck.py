"""Linearizability of a client history (history.py) against a register model, split by key.

Method (docs/history-format.md, "How it is checked"):
- P-compositionality (Herlihy & Wing): a history of independent keys is linearizable iff each key's is, so each
  key is searched alone, smallest first.
- Per key, the Wing–Gong–Lowe search as Lowe ("Testing for linearizability", 2017) and Porcupine do it: the
  invokes and returns in real-time order on a doubly linked list; the search walks it, linearizes an invoked
  operation whose model step is legal (lifting its invoke and return out of the list), and backtracks when it
  meets the return of an operation it has not linearized. A set of (linearized operations as a bitset, model
  state) pairs already explored prunes repeated work.
- `fail` operations did not happen and are dropped; `info` and never-completed operations may or may not have
  happened: they have no return, so they can be linearized any time after their invoke, or never. Success is
  every `ok` operation linearized.
- Sound pruning before the search: an indefinite read changes nothing (dropped); on a key without appends, an
  indefinite write, cas or delete whose resulting value no read returns and no cas expects is dropped too (in
  any linearization that takes it, the next operation must overwrite its value, so leaving it out changes
  nothing). On a key with appends the same holds for an indefinite string append never observed, and for an
  indefinite write or cas of an unobserved scalar (`_prune_with_appends` says why). This
  is what keeps timed-out writes of unique values from multiplying the search.
- A budget (seconds, and explored states per key) whose exhaustion is "unknown", never "linearizable".
- On a violation: the operation that cannot be placed is the failing search's furthest frontier (no
  configuration got past its return; one got to it, so everything before that return is linearizable, and
  one order of it is found again for the report); then the fewest operations of that prefix that still
  cannot be linearized together with it (the latest 8, 16, 32... operations and the writes they read, then
  ddmin, then an exhaustive pass when ten or fewer remain).
"""
from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .history import History, HistoryError, Operation

__all__ = ["MODELS", "LINEARIZABLE", "NOT_LINEARIZABLE", "UNKNOWN", "EXIT_CODES", "DEFAULT_BUDGET_S",
           "DEFAULT_MAX_STATES", "KeyResult", "Window", "LinResult", "infer_model", "check_history", "render_text"]

LINEARIZABLE, NOT_LINEARIZABLE, UNKNOWN = "linearizable", "not linearizable", "unknown"
EXIT_CODES = {LINEARIZABLE: 0, NOT_LINEARIZABLE: 1, UNKNOWN: 3}
DEFAULT_BUDGET_S = 60.0
DEFAULT_MAX_STATES = 2_000_000

_READ, _WRITE, _CAS, _DELETE, _APPEND = range(5)
# model -> f -> operation kind. The kv model also takes read/write (Maelstrom's lin-kv names).
MODELS: dict[str, dict[str, int]] = {
    "cas-register": {"read": _READ, "write": _WRITE, "cas": _CAS},
    "kv": {"get": _READ, "put": _WRITE, "delete": _DELETE, "cas": _CAS, "append": _APPEND,
           "read": _READ, "write": _WRITE},
}
_NO = object()  # an illegal step
_DONE: list[int] = []  # absorb(): every completed operation is linearized
_OUT: list[int] = []  # absorb(): the state budget ran out


def _canon(value: Any) -> Any:
    """A hashable value with JSON's equality: true is not 1, lists compare by content."""
    if value is None or isinstance(value, str) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, list):
        return ("l", tuple(_canon(v) for v in value))
    return ("d", json.dumps(value, sort_keys=True, separators=(",", ":")))


def _uncanon(value: Any) -> Any:
    if isinstance(value, tuple):
        tag, inner = value
        if tag == "l":
            return [_uncanon(v) for v in inner]
        return inner if tag == "b" else json.loads(inner)
    return value


def _append(state: Any, value: Any) -> Any:
    if state is None:
        return value
    if isinstance(state, str) and isinstance(value, str):
        return state + value
    if isinstance(state, tuple) and state[0] == "l":
        return ("l", state[1] + value[1]) if isinstance(value, tuple) and value[0] == "l" else ("l", state[1] + (value,))
    return _NO


@dataclass(frozen=True, slots=True)
class _Prep:
    """An operation as the search sees it: kind, arguments (canonical), and when it was invoked and returned."""

    op: Operation
    code: int
    a: Any  # read: value returned; write/append: value; cas: from
    b: Any  # cas: to
    call: int
    ret: int | None  # None: indefinite


def infer_model(history: History) -> str:
    """cas-register if every f is read/write/cas, else kv if every f is a kv operation; HistoryError otherwise."""
    fs = {op.f for op in history.operations}
    for name in ("cas-register", "kv"):
        if fs <= set(MODELS[name]):
            return name
    kv_only = fs & {"get", "put", "delete", "append"}
    for op in history.operations:
        if op.f not in MODELS["kv"]:
            hint = "kv (get, put, delete, cas, append)" if kv_only else "cas-register (read, write, cas)"
            raise HistoryError(history.name, op.line, f"unknown f {op.f!r}: no model has it (kv: get, put, "
                                                      f"delete, cas, append, read, write; cas-register: read, "
                                                      f"write, cas); the other lines look like {hint}")
    raise AssertionError("unreachable")


def _prepare(history: History, model: str) -> tuple[dict[str, list[_Prep]], int]:
    """Per key (its JSON text) the operations to search; and how many `fail` operations were dropped."""
    kinds = MODELS[model]
    out: dict[str, list[_Prep]] = {}
    failed = 0
    for key, ops in history.by_key().items():
        preps = out.setdefault(key, [])
        for op in ops:
            code = kinds.get(op.f)
            if code is None:
                raise HistoryError(history.name, op.line, f"f {op.f!r} is not an operation of the {model} model "
                                                          f"({', '.join(kinds)})")
            a: Any = None
            b: Any = None
            if code == _CAS:
                if not (isinstance(op.value, list) and len(op.value) == 2):
                    raise HistoryError(history.name, op.line, f"a cas value is [from, to], got "
                                                              f"{json.dumps(op.value)}")
                a, b = _canon(op.value[0]), _canon(op.value[1])
            elif code == _APPEND:
                if not isinstance(op.value, (str, list)):
                    raise HistoryError(history.name, op.line, f"an append value is a string or a list, got "
                                                              f"{json.dumps(op.value)}")
                a = _canon(op.value)
            elif code == _WRITE:
                a = _canon(op.value)
            elif code == _READ:
                a = _canon(op.output)
            if op.status == "fail":
                failed += 1
                continue
            preps.append(_Prep(op, code, a, b, op.call, op.ret if op.definite else None))
    return {k: v for k, v in out.items() if v}, failed


def _is_list(value: Any) -> bool:
    return isinstance(value, tuple) and value[0] == "l"


def _seen(piece: Any, observed: Sequence[Any]) -> bool:
    """Whether `piece` shows in a value some completed read returned or some cas expected: the value itself, an
    element of a list, or a substring of a string (what an append of it leaves in every later state)."""
    for o in observed:
        if o == piece or (_is_list(o) and piece in o[1]) or (isinstance(o, str) and isinstance(piece, str)
                                                              and piece in o):
            return True
    return False


def _prune_with_appends(ops: Sequence[_Prep]) -> list[_Prep]:
    """On a key with appends, dropping an indefinite operation is sound only when taking it can matter to no
    completed operation (then "it never happened", always allowed for it, changes nothing):
    - a read: it changes nothing;
    - a string append that no read returns and no cas expects as a substring: if it happened, every state after
      it holds that string until an overwrite, so nothing observed a state after it; and the state was then a
      string, on which only string appends are legal, which are legal without it too;
    - a write or cas of a scalar (not a list, a string or null) no read returns and no cas expects: no append is
      legal on a scalar, so in a linearization that takes it the next operation overwrites it.
    List appends, deletes, and writes of lists, strings or null are kept: leaving one out can change the type
    of the state and so make a later append illegal (null + [2] then "a" then [0, 1] is legal; "a" then [0, 1]
    is not: tests/test_lincheck.py has it)."""
    observed = [p.a for p in ops if (p.code == _READ and p.ret is not None) or p.code == _CAS]
    keep = []
    for p in ops:
        if p.ret is None:
            if p.code == _READ:
                continue
            if p.code == _APPEND:
                if isinstance(p.a, str) and p.a and not _seen(p.a, observed):
                    continue
            elif p.code in (_WRITE, _CAS):
                result = p.a if p.code == _WRITE else p.b
                if result is not None and not isinstance(result, str) and not _is_list(result) \
                        and not _seen(result, observed):
                    continue
        keep.append(p)
    return keep


def _prune(ops: Sequence[_Prep]) -> list[_Prep]:
    """Drop indefinite operations that cannot change the verdict (see the module's docstring)."""
    if any(p.code == _APPEND for p in ops):
        return _prune_with_appends(ops)
    observed = {p.a for p in ops if (p.code == _READ and p.ret is not None) or p.code == _CAS}
    keep = []
    for p in ops:
        if p.ret is None:
            result = {_READ: _NO, _WRITE: p.a, _CAS: p.b, _DELETE: None}.get(p.code, _NO)
            if result is _NO or result not in observed:
                continue
        keep.append(p)
    return keep


class _Budget:
    def __init__(self, seconds: float, max_states: int) -> None:
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds
        self.max_states = max_states
        self.exhausted: str | None = None  # why the last search gave up

    def expired(self) -> bool:
        return time.monotonic() > self.deadline


def _deadlines(ops: Sequence[_Prep]) -> list[float]:
    """Per operation, the last event before which linearizing it can matter (definite: its return). For an
    indefinite write, cas or delete it is the last return of a completed operation that observes its resulting
    value (a read returning it, a cas expecting it): once all of those are linearized, taking it changes
    nothing, as in _prune. Unbounded with appends or when an indefinite cas observes the value."""
    inf = float("inf")
    if any(p.code == _APPEND for p in ops):
        return [inf if p.ret is None else float(p.ret) for p in ops]
    last: dict[Any, float] = {}
    for p in ops:
        if p.code == _READ or p.code == _CAS:
            if p.code == _READ and p.ret is None:
                continue
            seen = inf if p.ret is None else float(p.ret)
            last[p.a] = max(last.get(p.a, -1.0), seen)
    out = []
    for p in ops:
        if p.ret is not None:
            out.append(float(p.ret))
        else:
            result = {_WRITE: p.a, _CAS: p.b, _DELETE: None}.get(p.code, _NO)
            out.append(-1.0 if result is _NO else last.get(result, -1.0))
    return out


def _search(ops: Sequence[_Prep], budget: _Budget) -> tuple[str, list[int], int, int]:
    """(verdict, a linearization as indexes into ops when linearizable, states explored, furthest frontier).

    The furthest frontier is the operation whose return no configuration got past: when the verdict is
    "not linearizable", it is the operation that cannot be placed, and everything before its return can be
    linearized (some configuration got there).

    A configuration is (operations linearized, model state). Its frontier is the pending completed operation
    that returned first: every linearization goes on with an operation invoked before that return, so those
    are the candidates (indefinite ones only until their deadline). They are tried just in time (Lowe 2017):
    the frontier operation itself first, then the pending operations that produce the value it needs, then
    the other completed ones, then the indefinite ones. Every candidate is still tried once per
    configuration, and a configuration already explored is not explored again, so the order only changes how
    fast a linearization is found, not the verdict."""
    n = len(ops)
    remaining = sum(1 for p in ops if p.ret is not None)
    if remaining == 0:
        return LINEARIZABLE, [], 0, -1
    due = _deadlines(ops)
    codes = [p.code for p in ops]
    arg_a = [p.a for p in ops]
    arg_b = [p.b for p in ops]
    calls = [p.call for p in ops]
    definite = [p.ret is not None for p in ops]
    result = [arg_a[i] if codes[i] == _WRITE else arg_b[i] if codes[i] == _CAS else None if codes[i] == _DELETE
              else _NO for i in range(n)]
    # Two doubly linked lists over operation numbers (head/tail = n): by invoke (all pending operations) and
    # by return (pending completed ones). Linearizing unlinks, undoing relinks (in reverse order).
    head = n
    by_call = sorted(range(n), key=lambda i: (calls[i], i))
    cnext, cprev = [head] * (n + 1), [head] * (n + 1)
    chain = [head, *by_call, head]
    for a_, b_ in zip(chain, chain[1:]):
        cnext[a_], cprev[b_] = b_, a_
    by_ret = sorted((i for i in range(n) if definite[i]), key=lambda i: (ops[i].ret, i))
    rets = [p.ret if p.ret is not None else 0 for p in ops]
    rnext, rprev = [head] * (n + 1), [head] * (n + 1)
    chain = [head, *by_ret, head]
    for a_, b_ in zip(chain, chain[1:]):
        rnext[a_], rprev[b_] = b_, a_

    furthest = [-1, -1]  # (return rank, operation) of the furthest frontier seen

    def candidates() -> list[int]:
        f = rnext[head]
        rf = rets[f]
        if rf > furthest[0]:
            furthest[0], furthest[1] = rf, f
        code = codes[f]
        need = arg_a[f] if code == _READ or code == _CAS else _NO
        makers: list[int] = []
        others: list[int] = []
        loose_makers: list[int] = []
        loose: list[int] = []
        j = cnext[head]
        while j != head and calls[j] < rf:
            if j != f:
                if definite[j]:
                    (makers if need is not _NO and result[j] == need else others).append(j)
                elif due[j] >= rf:
                    (loose_makers if need is not _NO and result[j] == need else loose).append(j)
            j = cnext[j]
        return [f, *makers, *others, *loose_makers, *loose]

    max_states = budget.max_states
    deadline = budget.deadline
    monotonic = time.monotonic
    # explored configurations, compactly: linearization is roughly in invoke order, so the set is stored as
    # the length of its leading run (operations numbered by invoke) and the bits above it
    cache: set[tuple[int, int, Any]] = set()
    frames: list[tuple[list[int], int, int, Any]] = []  # (candidates, next one to try, op taken, state before)
    state: Any = None
    lin = 0
    def absorb() -> tuple[list[int], int]:
        """Linearize every pending read that is legal now, without a choice point: a read changes nothing, and
        whatever returned before it was invoked is linearized already, so taking it now loses no order."""
        nonlocal lin, remaining
        while True:
            cands = candidates()
            for r in cands:
                if codes[r] == _READ and definite[r] and arg_a[r] == state:
                    break
            else:
                return cands, 0
            nlin = lin | (1 << r)
            run = (~nlin & (nlin + 1)).bit_length() - 1
            seen = (run, nlin >> run, state)
            if seen in cache:
                return [], 0  # explored from here on already: nothing new
            cache.add(seen)
            if len(cache) > max_states:
                return _OUT, 0
            frames.append(([], 0, r, state))
            lin |= 1 << r
            cnext[cprev[r]] = cnext[r]
            cprev[cnext[r]] = cprev[r]
            rnext[rprev[r]] = rnext[r]
            rprev[rnext[r]] = rprev[r]
            remaining -= 1
            if not remaining:
                return _DONE, 0

    cands, at = absorb()
    steps = 0
    while True:
        steps += 1
        if not steps & 1023 and monotonic() > deadline:
            budget.exhausted = f"the time budget of {budget.seconds:g} s ran out"
            return UNKNOWN, [], len(cache), furthest[1]
        if cands is _DONE:
            return LINEARIZABLE, [fr[2] for fr in frames], len(cache), -1
        if cands is _OUT:
            budget.exhausted = f"the budget of {max_states} explored states ran out"
            return UNKNOWN, [], len(cache), furthest[1]
        if at < len(cands):
            i = cands[at]
            at += 1
            code = codes[i]
            if code == _READ:
                new = state if state == arg_a[i] else _NO
            elif code == _WRITE:
                new = arg_a[i]
            elif code == _CAS:
                new = arg_b[i] if state == arg_a[i] else _NO
            elif code == _DELETE:
                new = None
            else:
                new = _append(state, arg_a[i])
            if new is _NO:
                continue
            nlin = lin | (1 << i)
            run = (~nlin & (nlin + 1)).bit_length() - 1  # operations 0..run-1 (by invoke) are all linearized
            seen = (run, nlin >> run, new)
            if seen in cache:
                continue
            cache.add(seen)
            if len(cache) > max_states:
                budget.exhausted = f"the budget of {max_states} explored states ran out"
                return UNKNOWN, [], len(cache), furthest[1]
            frames.append((cands, at, i, state))
            state, lin = new, nlin
            cnext[cprev[i]] = cnext[i]
            cprev[cnext[i]] = cprev[i]
            if definite[i]:
                rnext[rprev[i]] = rnext[i]
                rprev[rnext[i]] = rprev[i]
                remaining -= 1
                if not remaining:
                    return LINEARIZABLE, [fr[2] for fr in frames], len(cache), -1
            cands, at = absorb()
            continue
        if not frames:
            return NOT_LINEARIZABLE, [], len(cache), furthest[1]
        cands, at, i, state = frames.pop()
        lin ^= 1 << i
        if definite[i]:
            rnext[rprev[i]] = i
            rprev[rnext[i]] = i
            remaining += 1
        cnext[cprev[i]] = i
        cprev[cnext[i]] = i


def _decide(ops: Sequence[_Prep], budget: _Budget) -> tuple[str, list[_Prep], int, _Prep | None]:
    """(verdict, a linearization, states explored, the operation that cannot be placed when not linearizable)."""
    pruned = sorted(_prune(ops), key=lambda p: p.call)
    verdict, order, states, stuck = _search(pruned, budget)
    return verdict, [pruned[i] for i in order], states, pruned[stuck] if stuck >= 0 else None


@dataclass(slots=True)
class KeyResult:
    key: Any
    operations: int  # searched (fail dropped)
    verdict: str
    states: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "operations": self.operations, "verdict": self.verdict, "states": self.states,
                "seconds": round(self.seconds, 4)}


@dataclass(slots=True)
class Window:
    """Where a key's history stops being linearizable."""

    key: Any
    culprit: Operation  # the operation that cannot be placed before its return
    operations: list[Operation]  # the smallest set found that cannot be linearized (culprit included), by invoke
    minimal: bool  # no single operation can be removed (and, when few, no smaller subset exists)
    prefix_end: int  # event rank of the culprit's return: the events before it can be linearized
    prefix_operations: list[Operation]  # the key's operations that returned before prefix_end (+ pending)
    linearization: list[Operation]  # one legal order of the longest linearizable prefix
    prefix_proven: bool  # every shorter prefix was shown linearizable (not just not shown otherwise)
    checks: int  # searches spent finding the window

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "cannot_place": self.culprit.to_dict(),
                "window": [op.to_dict() for op in self.operations], "minimal": self.minimal,
                "longest_linearizable_prefix": {
                    "end_event": self.prefix_end, "prefix_proven": self.prefix_proven,
                    "operations": [op.index for op in self.prefix_operations],
                    "linearization": [op.index for op in self.linearization]},
                "checks": self.checks}


@dataclass(slots=True)
class LinResult:
    name: str
    model: str
    verdict: str
    operations: int
    failed: int  # `fail` operations, dropped
    indefinite: int  # info or never completed
    keys: list[KeyResult]
    seconds: float
    budget_s: float
    max_states: int
    reason: str | None = None  # why "unknown"
    window: Window | None = None
    unchecked_keys: list[Any] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"history": self.name, "model": self.model, "verdict": self.verdict, "exit": self.exit_code,
                "operations": self.operations, "failed": self.failed, "indefinite": self.indefinite,
                "keys": [k.to_dict() for k in self.keys], "unchecked_keys": self.unchecked_keys,
                "reason": self.reason, "violation": self.window.to_dict() if self.window else None,
                "seconds": round(self.seconds, 4), "budget_s": self.budget_s, "max_states": self.max_states}


def check_history(history: History, model: str | None = None, *, budget_s: float = DEFAULT_BUDGET_S,
                  max_states: int = DEFAULT_MAX_STATES, window: bool = True) -> LinResult:
    """Check a history. `budget_s` bounds the search, and again the shrinking of a violation's window;
    `max_states` bounds the states explored by one key's search. Raises HistoryError for unusable input
    (an f the model does not have, a cas value that is not [from, to])."""
    started = time.monotonic()
    model = model or infer_model(history)
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r} (models: {', '.join(MODELS)})")
    per_key, failed = _prepare(history, model)
    budget = _Budget(budget_s, max_states)
    keys: list[KeyResult] = []
    verdict, reason, found = LINEARIZABLE, None, None
    culprit: _Prep | None = None
    order = sorted(per_key, key=lambda k: len(per_key[k]))
    for n, key in enumerate(order):
        ops = per_key[key]
        t0 = time.monotonic()
        outcome, _, states, stuck = _decide(ops, budget)
        keys.append(KeyResult(ops[0].op.key, len(ops), outcome, states, time.monotonic() - t0))
        if outcome == NOT_LINEARIZABLE:
            verdict, found, culprit = NOT_LINEARIZABLE, key, stuck
            break
        if outcome == UNKNOWN:
            verdict = UNKNOWN
            reason = f"{budget.exhausted} on key {json.dumps(ops[0].op.key)}"
            if budget.expired():
                break
    unchecked = [per_key[k][0].op.key for k in order[len(keys):]]
    if verdict == UNKNOWN and unchecked:
        reason = f"{reason}; {len(unchecked)} key(s) not checked"
    result = LinResult(history.name, model, verdict, len(history.operations), failed,
                       sum(op.indefinite for op in history.operations), keys, 0.0, budget_s, max_states,
                       reason, None, unchecked)
    if found is not None and culprit is not None and window:
        result.window = _window(per_key[found], culprit, _Budget(budget_s, max_states))
    result.seconds = time.monotonic() - started
    return result


def _prefix(ops: Sequence[_Prep], cut: int) -> list[_Prep]:
    """The operations invoked before event `cut` (a return); those still pending at it become indefinite."""
    return [p if p.ret is None or p.ret <= cut else replace(p, ret=None) for p in ops if p.call < cut]


def _window(ops: list[_Prep], stuck: _Prep, budget: _Budget) -> Window:
    """The window of a key the search found not linearizable, `stuck` being its furthest frontier."""
    checks = 0

    def violates(candidate: Sequence[_Prep]) -> bool:
        nonlocal checks
        checks += 1
        return _decide(candidate, budget)[0] == NOT_LINEARIZABLE

    assert stuck.ret is not None
    cut = stuck.ret
    prefix = _prefix(ops, cut)
    culprit = next(p for p in prefix if p.ret == cut)
    # the events before the culprit's return can be linearized: one order of them, for the report
    checks += 1
    outcome, linearization, _, _ = _decide([replace(p, ret=None) if p is culprit else p for p in prefix], budget)
    proven = outcome == LINEARIZABLE
    rest = sorted((p for p in prefix if p is not culprit), key=lambda p: p.call)
    supported = _Support(prefix)

    def still(keep: list[_Prep]) -> bool:
        return supported.keeps([*keep, culprit]) and violates([*keep, culprit])

    size = 8  # a violation is usually local: the latest 8, 16, 32... operations (and the writes they read)
    while size < len(rest) and not budget.expired():
        candidate = supported.close(rest[-size:], rest)
        if len(candidate) >= len(rest):
            break
        if still(candidate):
            rest = candidate
            break
        size *= 2
    rest, minimal = _shrink(rest, still, budget)
    window = sorted([*rest, culprit], key=lambda p: p.call)
    before = [p.op for p in prefix if p is not culprit]
    return Window(culprit.op.key, culprit.op, [p.op for p in window], minimal, cut, before,
                  [p.op for p in linearization], proven, checks)


class _Support:
    """A window must keep the writes that explain the values it reads: removing the only write of a value that a
    remaining read returns would turn the story into "a read of a value never written", which is a different
    (and unhelpful) reason. Not applied on keys with appends, where values are built from several writes."""

    def __init__(self, ops: Sequence[_Prep]) -> None:
        self.off = any(p.code == _APPEND for p in ops)
        self.producible = self._produced(ops)

    @staticmethod
    def _produced(ops: Sequence[_Prep]) -> set[Any]:
        out: set[Any] = {None}
        for p in ops:
            if p.code == _WRITE:
                out.add(p.a)
            elif p.code == _CAS:
                out.add(p.b)
        return out

    def close(self, ops: Sequence[_Prep], pool: Sequence[_Prep]) -> list[_Prep]:
        """`ops` plus, from `pool`, the latest producer of every value they read that nothing in them writes."""
        if self.off:
            return list(ops)
        keep = list(ops)
        chosen = {id(p) for p in keep}
        makers: dict[Any, _Prep] = {}
        for p in pool:  # by invoke: the latest producer wins
            if p.code == _WRITE:
                makers[p.a] = p
            elif p.code == _CAS:
                makers[p.b] = p
        while True:
            have = self._produced(keep)
            extra = [makers[p.a] for p in keep if p.code in (_READ, _CAS) and p.a not in have and p.a in makers
                     and id(makers[p.a]) not in chosen]
            if not extra:
                return sorted(keep, key=lambda p: p.call)
            for p in extra:
                if id(p) not in chosen:
                    chosen.add(id(p))
                    keep.append(p)

    def keeps(self, ops: Sequence[_Prep]) -> bool:
        if self.off:
            return True
        have = self._produced(ops)
        return all(p.a in have or p.a not in self.producible for p in ops if p.code in (_READ, _CAS))


def _shrink(items: list[_Prep], violates: Callable[[list[_Prep]], bool],
            budget: _Budget) -> tuple[list[_Prep], bool]:
    """Fewest items that still violate: ddmin by complements, then every smaller subset if few remain.
    Returns (items, minimal); not minimal when the budget ran out first."""
    keep = list(items)
    chunks = 2
    while keep:
        if budget.expired():
            return keep, False
        size = -(-len(keep) // chunks)
        for start in range(0, len(keep), size):
            candidate = keep[:start] + keep[start + size:]
            if violates(candidate):
                keep = candidate
                chunks = max(chunks - 1, 2)
                break
        else:
            if size == 1:
                break
            chunks = min(len(keep), chunks * 2)
    if len(keep) <= 10:
        for smaller in range(len(keep)):
            for subset in itertools.combinations(keep, smaller):
                if budget.expired():
                    return keep, False
                if violates(list(subset)):
                    return list(subset), True
    return keep, not budget.expired()


def _where(op: Operation) -> str:
    return f"line {op.line}" + (f"-{op.ret_line}" if op.ret_line else "")


def render_text(result: LinResult) -> str:
    """The verdict for people: one headline, and for a violation the window and the prefix."""
    nkeys = len(result.keys) + len(result.unchecked_keys)
    head = (f"{result.name}: {result.verdict.upper()} (model {result.model}, {result.operations} operations on "
            f"{nkeys} key{'s' if nkeys != 1 else ''}, {result.failed} failed and ignored, {result.indefinite} "
            f"indefinite; {result.seconds:.2f} s)")
    lines = [head]
    if result.verdict == UNKNOWN:
        lines.append(f"  no verdict: {result.reason}; give a larger --budget or --max-states")
    w = result.window
    if w is not None:
        key = "" if w.key is None else f" of key {json.dumps(w.key)}"
        lines.append(f"  {w.culprit.describe()} ({_where(w.culprit)}) cannot be placed: no order of the "
                     f"operations{key} before its return is legal")
        lines.append(f"  {'smallest' if w.minimal else 'a small (not minimal: budget ran out)'} window that cannot "
                     f"be linearized, {len(w.operations)} operation{'s' if len(w.operations) != 1 else ''}:")
        for op in w.operations:
            mark = "   <- cannot be placed" if op is w.culprit else ""
            lines.append(f"    {_where(op):<14} {op.describe()}{mark}")
        done = [op for op in w.prefix_operations if op.definite and op.ret is not None and op.ret < w.prefix_end]
        shown = ", ".join(op.describe().rsplit(" ", 1)[0] for op in w.linearization[-6:])
        more = "..., " if len(w.linearization) > 6 else ""
        lines.append(f"  longest linearizable prefix{key}: the events before line {w.culprit.ret_line} "
                     f"({len(done)} completed operations)" + (f"; one order: {more}{shown}" if shown else ""))
        if not w.prefix_proven:
            lines.append("  (a shorter prefix ran out of budget: the prefix may be shorter)")
    return "\n".join(lines) + "\n"
