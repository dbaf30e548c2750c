"""Loading plug-in cores: every way a spec or a core can be wrong is a one-line error (exit 2 on the command
line, CoreContractError naming the rule at run time), never a traceback."""
from __future__ import annotations

import json
import re
import sys
import textwrap

import pytest
from click.testing import CliRunner

from cluster_harness import REPO
from raftzmq.cli import main
from raftzmq.lab.sim.simulator import SimConfig, Simulator
from raftzmq.protocol import ElectionCore
from raftzmq.runtime.cores.coreload import CoreContractError, CoreLoadError, load_core, resolve_spec

DIED = "closed its stdout|its stdin is closed"  # which end the adapter notices first is a race
BROKEN = textwrap.dedent('''
    from raftzmq.protocol import ElectionCore, Event, HardState, Output, RequestVote

    class NotACore:
        pass

    class Raises(ElectionCore):
        def __init__(self, *a):
            raise RuntimeError("boom")

    class ReturnsNone(ElectionCore):
        def tick(self, now):
            return None

    class FakesDurability(ElectionCore):
        def tick(self, now):
            out = super().tick(now)
            out.events.append(Event("state_persisted", self.term, {"voted_for": 2}))
            return out

    class SendsToItself(ElectionCore):
        def tick(self, now):
            out = super().tick(now)
            out.messages.append(RequestVote(self.term, self.id, 2 if self.id != 2 else 3))
            out.messages.append(RequestVote(self.term, 9 if self.id != 9 else 8, self.id))
            return out

    class TermGoesBack(ElectionCore):
        def tick(self, now):
            out = super().tick(now)
            out.persist = HardState(0, None) if self.term > 0 else out.persist
            return out

    class EventWithoutField(ElectionCore):
        def tick(self, now):
            out = super().tick(now)
            for ev in out.events:
                ev.fields.pop("candidate", None)
            return out
''')


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text(BROKEN)
    return path


def _load_error(spec: str) -> str:
    with pytest.raises(CoreLoadError) as exc:
        resolve_spec(spec)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_bad_specs_are_one_line_load_errors(tmp_path, broken):
    assert "cannot import no_such_module" in _load_error("no_such_module:Core")
    assert "expected module:Class" in _load_error("just-a-name")
    assert "does not exist" in _load_error(f"{tmp_path}/missing.py:Core")
    assert "has no class Nope" in _load_error(f"{broken}:Nope")
    assert "lacks method(s) step, tick, transfer_leadership" in _load_error(f"{broken}:NotACore")
    assert "constructor failed: RuntimeError: boom" in _load_error(f"{broken}:Raises")
    assert "must return raftzmq.protocol.Output, got NoneType" in _load_error(f"{broken}:ReturnsNone")
    syntax = tmp_path / "syntax.py"
    syntax.write_text(BROKEN + "syntax error here\n")
    assert "SyntaxError" in _load_error(f"{syntax}:Raises")
    assert re.search(DIED, _load_error("exec:false"))
    assert "cannot start" in _load_error("exec:/no/such/program")


@pytest.mark.parametrize("cls, rule", [
    ("FakesDurability", "event 'state_persisted' is written by the embedding"),
    ("SendsToItself", "is not a message from node"),
    ("TermGoesBack", "persisted term went back"),
    ("EventWithoutField", "needs field 'candidate'"),
])
def test_contract_violations_at_run_time_name_the_rule(broken, cls, rule):
    factory = load_core(f"{broken}:{cls}")
    sim = Simulator(SimConfig(nodes=3, duration=5.0, prevote=False, check_quorum=False, core=f"{broken}:{cls}"),
                    0, make_core=factory)
    with pytest.raises(CoreContractError, match=rule) as exc:
        sim.run()
    assert "docs/core-contract.md" in str(exc.value)


def test_builtin_spec_is_the_builtin_core_unwrapped():
    assert load_core(None) is ElectionCore and load_core("builtin") is ElectionCore


@pytest.mark.parametrize("command", [["sim", "--seeds", "1"], ["conform"], ["chaos", "--duration", "1"]])
def test_commands_refuse_a_bad_core_with_exit_2(tmp_path, broken, command):
    spec = f"{broken}:ReturnsNone"
    args = [*command, spec] if command == ["conform"] else [*command, "--core", spec]
    if command[0] == "chaos":
        args += ["--run-dir", str(tmp_path / "run")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "must return raftzmq.protocol.Output" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "cluster.json").exists()


def test_start_refuses_a_bad_core_before_anything_starts(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["start", "--run-dir", str(run), "--core", "no_such_module:Core"])
    assert result.exit_code == 2 and "cannot import no_such_module" in result.output
    assert not (run / "cluster.json").exists()
    result = CliRunner().invoke(main, ["start", "--run-dir", str(run), "--core", "raftzmq.lab.conform.mutants:TermOnly",
                                       "--persist", "term-only"])
    assert result.exit_code == 2 and "built-in core only" in result.output


def test_a_plugin_core_runs_in_the_simulator_and_its_replay_names_it():
    from raftzmq.commands.sim import replay_command

    cfg = SimConfig(nodes=3, duration=5.0, core="raftzmq.lab.conform.mutants:TermOnly")
    result = Simulator(cfg, 0).run()
    assert not result.ok and {v.invariant for v in result.violations} == {"e"}
    assert "--core raftzmq.lab.conform.mutants:TermOnly" in replay_command(cfg, 0)


def _child(tmp_path, body: str) -> str:
    script = tmp_path / "child.py"
    script.write_text("import sys, json\nfor line in sys.stdin:\n" + textwrap.indent(body, "    "))
    return f"exec:{sys.executable} {script}"


@pytest.mark.parametrize("body, rule", [
    ("print('hello', flush=True)\n", "not JSON"),
    ("print(json.dumps({'error': 'no thanks'}), flush=True)\n", "reported an error: no thanks"),
    ("print(json.dumps({'persist': None}), flush=True)\n", "malformed answer"),
    ("sys.exit(3)\n", DIED),
    ("print(json.dumps({'persist': None, 'events': [], 'deadline': 1.0, 'role': 'follower', 'term': 0, "
     "'messages': [{'kind': 'append_entries', 'term': 0, 'src': 1, 'dst': 7}]}), flush=True)\n", "not to a peer"),
    ("print(json.dumps({'persist': None, 'events': [], 'deadline': 1.0, 'role': 'follower', 'term': 0, "
     "'messages': [{'kind': 'append_entries', 'term': 0, 'src': 1, 'dst': 2, 'leader': 1}]}), flush=True)\n",
     "unknown field"),
    ("print(json.dumps({'persist': None, 'events': [], 'deadline': 1.0, 'role': 'follower', 'term': 0, "
     "'messages': [{'kind': 'vote_response', 'term': 0, 'src': 1, 'dst': 2, 'granted': 'yes'}]}), flush=True)\n",
     "granted must be a bool"),
])
def test_a_misbehaving_child_process_is_a_contract_error(tmp_path, body, rule):
    with pytest.raises(CoreLoadError, match=rule):
        resolve_spec(_child(tmp_path, body))


def test_child_messages_round_trip_and_missing_flags_take_defaults():
    from raftzmq.protocol import AppendEntries, AppendResponse, RequestVote, TimeoutNow, VoteResponse
    from raftzmq.runtime.cores.extcore import message_from_json, message_to_json

    from raftzmq.protocol import Entry

    for msg in (RequestVote(3, 1, 2, prevote=True), VoteResponse(3, 2, 1, granted=True, prevote=True),
                RequestVote(3, 1, 2, last_log_index=7, last_log_term=2),
                AppendEntries(3, 1, 2), AppendResponse(3, 2, 1, success=False), TimeoutNow(3, 1, 2),
                AppendEntries(3, 1, 2, prev_index=4, prev_term=1, commit=4,
                              entries=(Entry(5, 2, b"\x00\xffset x"), Entry(6, 3))),
                AppendResponse(3, 2, 1, success=False, index=4, conflict_index=2, conflict_term=1)):
        doc = message_to_json(msg)
        assert json.loads(json.dumps(doc)) == doc  # plain JSON
        assert message_from_json(doc) == msg
    assert message_to_json(AppendEntries(3, 1, 2, entries=(Entry(1, 2, b"hi"),)))["entries"] == \
        [{"index": 1, "term": 2, "data": "aGk="}]
    assert message_from_json({"kind": "append_response", "term": 1, "src": 2, "dst": 1}).success is True
    assert message_from_json({"kind": "request_vote", "term": 1, "src": 2, "dst": 1}).prevote is False
    assert message_from_json({"kind": "append_entries", "term": 1, "src": 2, "dst": 1}).entries == ()


@pytest.mark.parametrize("entries, rule", [
    ({"index": 1}, "must be a list"),
    ([{"index": 1, "term": 1, "data": "!!"}], "not base64"),
    ([{"index": 1, "term": 1, "data": 5}], "base64 string"),
    ([{"index": 1, "term": 1, "extra": 1}], "an object with"),
    ([{"index": 2, "term": 1}], "consecutive"),
    ([{"index": 1, "term": 9}], "above the message"),
])
def test_malformed_child_entries_are_refused(entries, rule):
    from raftzmq.runtime.cores.extcore import message_from_json

    with pytest.raises(ValueError, match=rule):
        message_from_json({"kind": "append_entries", "term": 1, "src": 2, "dst": 1, "entries": entries})


def test_a_core_without_hint_ignores_disconnect_hints():
    cfg = SimConfig(nodes=3, duration=10.0, prevote=False, check_quorum=False, hints=True,
                    core=f"{REPO}/examples/minimal_core.py:MinimalCore")
    result = Simulator(cfg, 0).run()
    assert result.ok and result.leaders >= 1


def test_a_checked_core_says_who_leads_so_clients_find_the_leader():
    """The client endpoint's `info` asks the core for `leader`; a plug-in core without that attribute was an
    unknown leader everywhere, so `raftzmq propose` never found one. Its own `leader` when it is a member, else
    itself while it leads, else None; never a value that is not a member."""
    from raftzmq.protocol import CoreConfig, HardState
    from raftzmq.runtime.cores.coreload import CheckedCore

    class Inner:
        role, term, deadline = "follower", 1, 1.0

    cfg = CoreConfig(node_id=1, members=(1, 2, 3))
    inner = Inner()
    core = CheckedCore(inner, cfg, 0.0, "test:Inner")
    assert core.leader is None
    inner.role = "leader"
    assert core.leader == 1
    inner.role, inner.leader = "follower", 3
    assert core.leader == 3
    inner.leader = 7  # not a member: not believed
    assert core.leader is None
    inner.leader = True  # not an id
    assert core.leader is None
    factory = load_core("raftzmq.lab.conform.mutants:CommitsOldTerm")
    mutant = factory(cfg, HardState(0, None), 0.0, None)
    assert mutant.leader is None  # (a wrapped replicating core: forwards its own)
