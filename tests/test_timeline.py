"""The static timeline picture is computed from the logs: segments per node, and a well-formed SVG that says
everything without hover: a legend entry for every mark it draws, labelled faults, round ticks, planned stops
apart from kills, short leader terms labelled, and the checker's violations marked."""
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from logs_fixtures import Run, clean_run
from raftzmq.cli import main
from raftzmq.evidence.checker import check_run
from raftzmq.evidence.logfile import read_run
from raftzmq.evidence.runview import MARK_STYLE, ROLE_STYLE
from raftzmq.evidence.timeline import nice_ticks, role_segments, render_svg

S = 1_000_000_000
SVG = "{http://www.w3.org/2000/svg}"


def rec(t, event, node, by="node", term=0, **fields):
    r = {"ts": t, "mono_ns": int(t * S), "event": event, "by": by, "node": node, **fields}
    if by == "node":
        r["term"] = term
    return r


def svg_of(records, **kw):
    return ET.fromstring(render_svg(records, title="test", **kw))


def texts(root, cls=None):
    return [e.text for e in root.iter(f"{SVG}text") if cls is None or cls in (e.get("class") or "").split()]


def lines(root, kind):
    return [e for e in root.iter(f"{SVG}line") if (e.get("class") or "").split() == ["fault", kind]]


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


STOPPED_RUN = [
    rec(0.0, "node_started", 1), rec(0.0, "node_started", 2), rec(0.0, "node_started", 3),
    rec(1.0, "became_leader", 1, term=1),
    rec(1.5, "node_killed", 3, by="supervisor", signal="SIGTERM"), rec(1.6, "node_stopping", 3, reason="sigterm"),
    rec(2.0, "cluster_stopping", 0, by="supervisor"),
    *[rec(2.1, "node_killed", n, by="supervisor", signal="SIGTERM") for n in (1, 2)],
    rec(2.3, "cluster_stopped", 0, by="supervisor"),
]


def test_planned_stops_are_not_kills():
    lanes, _, _ = role_segments(STOPPED_RUN)
    assert [s.state for s in lanes[3]][-1] == "stopped" and [s.state for s in lanes[1]][-1] == "stopped"
    assert "down" not in {s.state for lane in lanes.values() for s in lane}
    root = svg_of(STOPPED_RUN)
    assert lines(root, "kill") == []
    assert len(lines(root, "stop")) == 1 and len(lines(root, "cluster_stop")) == 1  # not one per node
    assert "stop 3" in texts(root, "fault-label") and "stop all" in texts(root, "fault-label")


def test_svg_is_well_formed_and_draws_every_leader_and_fault(tmp_path):
    run = clean_run(tmp_path / "run")
    records = [loc.record for loc in read_run(run.dir)]
    root = svg_of(records)
    rects = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "leader"]
    leaders = [r for r in records if r["event"] == "became_leader"]
    assert len(rects) == len(leaders) > 0
    assert len(lines(root, "kill")) == sum(r["event"] == "node_killed" for r in records) > 0
    assert len(lines(root, "restart")) == 1  # node 1's second incarnation
    assert "kill 1" in texts(root, "fault-label") and "restart 1" in texts(root, "fault-label")


def test_faults_are_labelled_with_their_details_and_have_a_legend():
    records = [rec(0.0, "node_started", n) for n in (1, 2, 3)] + [
        rec(1.0, "partition", 0, by="supervisor", groups=[[1], [2, 3]], version=1),
        rec(2.0, "net_changed", 0, by="supervisor", loss=0.2, delay_ms=30, jitter_ms=20, version=2),
        rec(3.0, "heal", 0, by="supervisor", version=3),
        rec(3.5, "partition", 0, by="supervisor", groups=[[1, 2, 3]], cuts=[[1, 2], [2, 1]], version=4),
        rec(4.0, "node_paused", 2, by="supervisor"), rec(5.0, "node_resumed", 2, by="supervisor"),
        rec(5.5, "transfer_requested", 3, by="supervisor", leader=1, term=1),
        rec(6.0, "node_killed", 1, by="supervisor", signal="SIGKILL")]
    root = svg_of(records)
    labels = texts(root, "fault-label")
    assert "1 | 2,3" in labels and "loss 20% delay 30±20 ms" in labels and "heal" in labels
    assert any("cut 1→2, 2→1" in label for label in labels)
    assert {"pause 2", "resume 2", "transfer 1→3", "kill 1"} <= set(labels)
    strips = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "group-strip"]
    assert len(strips) == 3 * 3  # each node's group in the three network states that have groups
    legend = " ".join(t for t in texts(root) if t)
    for _, text in [*ROLE_STYLE.values(), *MARK_STYLE.values()]:
        assert text in legend


def test_ticks_are_round():
    assert nice_ticks(18.74) == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert nice_ticks(6.25) == [0, 1, 2, 3, 4, 5, 6]
    assert nice_ticks(0.37)[:3] == [0, 0.05, 0.1]
    root = svg_of([rec(0.0, "node_started", 1), rec(18.74, "became_candidate", 1, term=1)])
    assert texts(root, "tick") == [f"{t}s" for t in range(0, 19, 2)]


def test_a_short_leader_term_is_labelled_above_its_lane():
    records = [rec(0.0, "node_started", 1), rec(0.0, "node_started", 2),
               rec(1.0, "became_leader", 1, term=7), rec(1.01, "became_follower", 1, term=8, leader=2),
               rec(1.02, "became_leader", 2, term=8), rec(60.0, "became_follower", 2, term=8, leader=2)]
    root = svg_of(records)
    assert texts(root, "short") == ["t7"] and "t8" in texts(root, "term-label")


def test_violations_are_marked(tmp_path):
    r = Run(tmp_path / "run", 3)
    for n in (1, 2, 3):
        r.start(n)
    r.elect(1, 1, voters=[2])
    r.campaign(3, 1, from_term=0)  # a second leader in term 1, without votes
    r.lead(3, 1)
    r.close()
    located = read_run(r.dir)
    check = check_run(r.dir)
    assert not check.ok
    root = svg_of([loc.record for loc in located], wheres=[loc.where for loc in located], check=check)
    marked = [g for g in root.iter(f"{SVG}g") if g.get("class") == "violation"]
    assert len(marked) == len(check.violations) > 0
    assert "one-leader-per-term" in " ".join(g.find(f"{SVG}title").text for g in marked)
    assert "VIOLATION" in texts(root)[0]


def test_timeline_command_writes_the_file(tmp_path):
    clean_run(tmp_path / "run")
    out = tmp_path / "t.svg"
    result = CliRunner().invoke(main, ["timeline", str(tmp_path / "run"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<svg")


def test_a_campaign_started_by_a_hint_is_marked_and_one_started_by_the_timer_is_not():
    records = [rec(0.0, "node_started", n) for n in (1, 2, 3)] + [
        rec(0.5, "became_leader", 1, term=1),
        rec(1.0, "node_killed", 1, by="supervisor", signal="SIGKILL"),
        rec(1.001, "hint", 2, term=1, peer=1, closed="tcp://127.0.0.1:5001"),
        rec(1.002, "became_precandidate", 2, term=1, hint=True),
        rec(1.003, "became_precandidate", 3, term=1)]
    root = svg_of(records)
    assert [e.get("class") for e in lines(root, "hint")] == ["fault hint"]
    assert "hint 2" in texts(root, "fault-label") and "hint 3" not in texts(root, "fault-label")
