"""The timeline picture is computed from the logs: segments per node, and a well-formed SVG showing them."""
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from logs_fixtures import clean_run
from raftzmq.cli import main
from raftzmq.evidence.logfile import read_run
from raftzmq.evidence.timeline import role_segments, render_svg

S = 1_000_000_000


def rec(t, event, node, by="node", term=0, **fields):
    r = {"ts": t, "mono_ns": int(t * S), "event": event, "by": by, "node": node, **fields}
    if by == "node":
        r["term"] = term
    return r


def test_segments_follow_roles_pauses_and_kills():
    records = [
        rec(0.0, "node_started", 1), rec(0.0, "node_started", 2),
        rec(1.0, "became_candidate", 1, term=1), rec(1.1, "became_leader", 1, term=1),
        rec(2.0, "node_paused", 1, by="supervisor"), rec(3.0, "node_resumed", 1, by="supervisor"),
        rec(3.5, "node_killed", 1, by="supervisor", signal="SIGKILL"),
        rec(4.0, "became_follower", 2, term=1, leader=None),
    ]
    lanes, first, last = role_segments(records)
    assert (first, last) == (0, 4 * S)
    assert [(s.state, s.start_ns / S, s.end_ns / S) for s in lanes[1]] == [
        ("follower", 0.0, 1.0), ("candidate", 1.0, 1.1), ("leader", 1.1, 2.0), ("paused", 2.0, 3.0),
        ("leader", 3.0, 3.5), ("down", 3.5, 4.0)]
    assert [s.state for s in lanes[2]] == ["follower"]  # same state twice is one segment


def test_svg_is_well_formed_and_draws_every_leader_and_fault(tmp_path):
    run = clean_run(tmp_path / "run")
    run.close()
    records = [loc.record for loc in read_run(run.dir)]
    root = ET.fromstring(render_svg(records, title="test"))
    rects = [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "leader"]
    leaders = [r for r in records if r["event"] == "became_leader"]
    assert len(rects) == len(leaders) > 0
    faults = [e for e in root.iter("{http://www.w3.org/2000/svg}line") if e.get("class") == "fault"]
    assert len(faults) == sum(r["event"] == "node_killed" for r in records) > 0


def test_timeline_command_writes_the_file(tmp_path):
    clean_run(tmp_path / "run").close()
    out = tmp_path / "t.svg"
    result = CliRunner().invoke(main, ["timeline", str(tmp_path / "run"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<svg")
