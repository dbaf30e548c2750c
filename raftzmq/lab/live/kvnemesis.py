"""The nemesis of `raftzmq workload --nemesis KINDS`: lab/live/nemesis.py's seeded schedule, executed by the chaos
executor (lab/live/chaos.py) against the running cluster's supervisor while the clients work, and the windows of
time each fault was in force, for the availability per window.

The nemesis runs in its own thread on the workload's clock (the Recorder's: ns since the workload's start, the
`time` of history.jsonl), so a window and the operations invoked in it are on one axis; `t0_mono_ns` (the clock's
origin in `time.monotonic_ns()`, which the node and supervisor logs write as `mono_ns`) puts both on the logs'
axis too. What it did goes into the run directory as `workload.json` (the plan, each executed step, the windows).

Windows (`fault_windows`, pure, so tests give it hand-made steps):
- a node fault (kill, pause, crash, disk) lasts from its step until the step that undoes it (restart/resume) has
  been answered, or until the final heal;
- a network fault lasts until a `heal`, or until a later step replaces it: a partition or isolate-leader replaces
  the partition in force; a shape (ring, bridge, simplex-leader) replaces every partition and cut; net replaces net;
  a skew replaces the skew of the same node (heal clears skews too);
- restart and transfer are instants: their window is the INSTANT_S after them (the re-election they cause);
- a step that was skipped or refused opens no window;
- the time no window covers is `calm` (workload.calm_windows).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from raftzmq.lab.live.chaos import Executor, agreed_leader
from raftzmq.lab.live.nemesis import Action
from raftzmq.lab.live.workload import Window
from raftzmq.runtime.cluster.control import ControlClient, ControlError
from raftzmq.runtime.cluster.waiting import wait_until

__all__ = ["INSTANT_S", "NOT_DONE", "NemesisRun", "describe", "fault_windows"]

INSTANT_S = 2.0
NOT_DONE = ("skipped", "refused", "error")  # how a step that changed nothing starts its `did`
_GROUPS = ("partition", "isolate-leader")
_SHAPES = ("ring", "bridge", "simplex-leader")
_LINKS = ("cut", "one-way")
_CLEARED_BY_HEAL = (*_GROUPS, *_SHAPES, *_LINKS, "net", "skew")


def _replaced(kind: str) -> tuple[str, ...]:
    """The open windows a new step of `kind` ends (it overwrites that part of the network state)."""
    if kind in _GROUPS:
        return _GROUPS
    if kind in _SHAPES:
        return (*_GROUPS, *_SHAPES, *_LINKS)
    if kind == "net":
        return ("net",)
    return ()


def describe(step: dict[str, Any]) -> str:
    """A short name of an executed step: `kill n2`, `partition 1,2|3`, `net loss 20% delay 10±5 ms`."""
    kind, node, p = step["kind"], step.get("node"), step.get("params") or {}
    on = f" n{node}" if node is not None else ""
    if kind == "partition" and p.get("groups"):
        return "partition " + "|".join(",".join(map(str, g)) for g in p["groups"])
    if kind == "net":
        return f"net loss {100 * p.get('loss', 0):.0f}% delay {p.get('delay_ms', 0)}±{p.get('jitter_ms', 0)} ms"
    if kind in _LINKS and "src" in p:
        return f"{kind} {p['src']}{'->' if kind == 'one-way' else '-'}{p['dst']}"
    if kind == "bridge" and "bridge" in p:
        return f"bridge n{p['bridge']}"
    extra = {"crash": p.get("failpoint"), "disk": p.get("fault"),
             "skew": f"x{p['factor']:g}" if "factor" in p else None}.get(kind)
    return f"{kind}{on}" + (f" {extra}" if extra else "")


def fault_windows(executed: Sequence[dict[str, Any]], end_s: float, instant_s: float = INSTANT_S) -> list[Window]:
    """The windows of the executed steps (dicts with index, kind, at and done (s), did, node, params, undoes),
    in start order; whatever is still open ends at `end_s` (the final heal)."""
    out: list[Window] = []
    open_: dict[int, tuple[str, float, str, int | None]] = {}  # index -> (kind, start, label, node)

    def close(index: int, at: float) -> None:
        kind, start, label, _ = open_.pop(index)
        out.append(Window(start, max(start, min(at, end_s)), label, kind))

    for step in sorted(executed, key=lambda s: s["at"]):
        did = str(step.get("did", ""))
        if did.startswith(NOT_DONE):
            continue
        kind, at = step["kind"], float(step["at"])
        done = float(step.get("done", at))
        if at >= end_s:
            continue
        if kind == "undo":
            if step.get("undoes") in open_:
                close(step["undoes"], done)
            continue
        if kind == "heal":
            for index in [i for i, o in open_.items() if o[0] in _CLEARED_BY_HEAL]:
                close(index, done)
            continue
        ends = _replaced(kind)
        for index in [i for i, o in open_.items() if o[0] in ends
                      or (kind == "skew" and o[0] == "skew" and o[3] == step.get("node"))]:
            close(index, at)
        label = f"#{step['index']} {describe(step)}"
        if kind in ("restart", "transfer"):
            out.append(Window(at, min(at + instant_s, end_s), label, kind))
        else:
            open_[step["index"]] = (kind, at, label, step.get("node"))
    for index in list(open_):
        close(index, end_s)
    return sorted(out, key=lambda w: (w.start, w.end))


class NemesisRun:
    """Executes `actions` against the supervisor from a thread, on `clock` (ns since the workload's start),
    each at its planned time plus `offset_s`."""

    def __init__(self, client: ControlClient, nodes: int, actions: list[Action], clock: Callable[[], int],
                 log: Callable[[str], None] = lambda s: None, offset_s: float = 0.0) -> None:
        self.client, self.actions, self.clock, self.log = client, actions, clock, log
        self.offset_s = offset_s  # each action runs at its `at` + offset_s (a calm start to compare with)
        self.executor = Executor(client, nodes, actions)
        self.executed: list[dict[str, Any]] = []
        self.heal: dict[str, Any] = {}
        self.end_s: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="nemesis")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for action in self.actions:
            if self._stop.wait(max(0.0, action.at + self.offset_s - self.clock() / 1e9)):
                return
            at = self.clock()
            try:
                did = self.executor.run(action)
            except ControlError as exc:
                did = f"refused: {exc}"
            except Exception as exc:  # noqa: BLE001 - a broken step is recorded, the schedule goes on
                did = f"error: {type(exc).__name__}: {exc}"
            step = {"index": action.index, "kind": action.kind, "at": round(at / 1e9, 4),
                    "done": round(self.clock() / 1e9, 4), "did": did,
                    "node": self.executor.node_of.get(action.index), "params": action.params,
                    "undoes": action.undoes}
            self.executed.append(step)
            self.log(f"nemesis #{action.index} at {at / 1e9:.1f} s: {did}")

    def open_now(self) -> list[str]:
        """What is in force at this moment (for the progress line)."""
        now = self.clock() / 1e9
        return [w.label.split(" ", 1)[1] for w in fault_windows(list(self.executed), now + 1e-9)
                if w.end > now and w.kind not in ("restart", "transfer")]

    def stop_and_heal(self, converge_s: float = 15.0) -> bool:
        """No more steps; heal everything (network, node faults, nodes down) and wait (bounded) for one leader
        every node agrees on. True when it came."""
        self._stop.set()
        self._thread.join(timeout=30.0)
        self.end_s = self.clock() / 1e9
        started = time.monotonic()
        try:
            self.executor.heal_all()
            healed = "healed"
        except ControlError as exc:
            healed = f"heal refused: {exc}"
        converged = bool(wait_until(lambda: _agreed(self.client), converge_s, interval=0.05))
        self.heal = {"at": round(self.end_s, 4), "did": healed, "converged": converged,
                     "converge_s": round(time.monotonic() - started, 3)}
        self.log(f"nemesis: {healed}; one agreed leader {'after' if converged else 'NOT within'} "
                 f"{self.heal['converge_s']:.1f} s")
        return converged

    def windows(self) -> list[Window]:
        end = self.end_s if self.end_s is not None else self.clock() / 1e9
        return fault_windows(self.executed, end)

    def to_dict(self) -> dict[str, Any]:
        return {"offset_s": self.offset_s, "schedule": [a.to_dict() for a in self.actions],
                "executed": self.executed, "heal": self.heal,
                "windows": [{"start": round(w.start, 4), "end": round(w.end, 4), "label": w.label, "kind": w.kind}
                            for w in self.windows()]}


def _agreed(client: ControlClient) -> bool:
    try:
        return agreed_leader(client)
    except ControlError:
        return False

