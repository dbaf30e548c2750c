"""Every fault is drawn and labelled in both pictures (issue 21, item 4): skew (a band with its factor on the
lane), an armed failpoint and a disk fault get marks, labels and legend entries in the static timeline and the
HTML report; a node that died at its failpoint or on its disk fault is labelled with why; isolate, cut, ring and
bridge marks are labelled; and no label silently vanishes in a crowded stretch: the static timeline keeps them all
(stacked rows, then numbered notes), the HTML report stacks, abbreviates, or gathers them into "+N" with a
tooltip listing each."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from fault_runs import every_fault_run
from raftzmq.commands.cluster import _state_word
from raftzmq.evidence.html import read_report_data, write_html_report
from raftzmq.evidence.logfile import read_run
from raftzmq.evidence.runview import MARK_STYLE, SKEW_STYLE, build_view
from raftzmq.evidence.status import RoleTracker
from raftzmq.evidence.timeline import render_svg

SVG = "{http://www.w3.org/2000/svg}"


def _svg(run):
    records = [loc.record for loc in read_run(run)]
    return ET.fromstring(render_svg(records, title="t")), records


def _classes(e):
    return (e.get("class") or "").split()


def _texts(root, cls):
    """The text of each <text> of that class, without its note numbers (<tspan class="note-ref">)."""
    return [e.text or "" for e in root.iter(f"{SVG}text") if cls in _classes(e)]


def _refs(root):
    return [e.text for e in root.iter(f"{SVG}tspan") if "note-ref" in _classes(e)]


def _mark_lines(root, kind):
    return [e for e in root.iter(f"{SVG}line") if _classes(e) == ["fault", kind]]


def _legend(root):
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}g") if "legend" in _classes(e)]


FAULTS = {  # kind -> (node, label the mark carries)
    "skew": (2, "skew 2 ×4"),
    "failpoint": (3, "failpoint 3 before_rename"),
    "disk": (4, "disk 4 fsync:EIO"),
}


@pytest.fixture
def run(tmp_path):
    every_fault_run(tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_each_node_fault_is_marked_labelled_and_in_the_legend_of_both_pictures(run, tmp_path, kind):
    node, label = FAULTS[kind]
    root, _ = _svg(run)
    assert [e for e in _mark_lines(root, kind) if f"node={node}" in "".join(e.itertext())]
    assert label in _texts(root, "fault-label")
    assert MARK_STYLE[kind][1] in _legend(root)

    data = read_report_data(write_html_report(run, tmp_path / "r.html").read_text())
    marks = [m for m in data["marks"] if m["kind"] == kind and m["node"] == node]
    assert [m["label"] for m in marks][:1] == [label]
    assert data["style"]["marks"][kind] == list(MARK_STYLE[kind])


def test_skew_is_a_band_with_its_factor_on_the_lane_in_both_pictures(run, tmp_path):
    root, _ = _svg(run)
    bands = [e for e in root.iter(f"{SVG}rect") if "skew-band" in _classes(e)]
    assert len(bands) == 1 and "node 2: timers skewed ×4" in "".join(bands[0].itertext())
    assert "×4" in _texts(root, "skew-label")
    assert SKEW_STYLE[1] in _legend(root)
    data = read_report_data(write_html_report(run, tmp_path / "r.html").read_text())
    (band,) = data["skews"]
    assert (band["node"], band["factor"], band["label"]) == (2, 4.0, "×4")
    assert band["t1"] > band["t0"] and data["style"]["skew"] == list(SKEW_STYLE)


def test_a_heal_or_a_factor_of_one_ends_the_skew_band(run):
    view = build_view([loc.record for loc in read_run(run)])
    heal = next(r["mono_ns"] for r in view.records if r["event"] == "heal")
    assert [(s.node, s.end_ns) for s in view.skews] == [(2, heal)]  # the ×1 at the end opens no band


def test_a_node_that_died_at_its_failpoint_or_disk_fault_is_labelled_with_why(run):
    root, _ = _svg(run)
    labels = _texts(root, "fault-label")
    assert "3 failed: failpoint before_rename" in labels
    assert any(t.startswith("4 failed: disk fault fsync:EIO: fsync temp file failed") for t in labels)
    view = build_view([loc.record for loc in read_run(run)])
    assert view.lanes[3][-1].state == "down" and view.lanes[4][-1].state == "down"
    # one mark for the failpoint death, though node and supervisor both recorded it
    assert len([m for m in view.marks if m.kind == "failed" and m.node == 3]) == 1


def test_isolate_cut_ring_and_bridge_marks_are_labelled(run):
    root, _ = _svg(run)
    labels = _texts(root, "fault-label")
    assert "4 | 1,2,3,5" in labels  # isolate 4
    assert "cut 1→2, 2→1" in labels
    assert any(t.startswith("cut 1→3, 3→1, 1→4, 4→1, 2→4") for t in labels)  # the ring
    assert "cut 1→3, 3→1, 1→4, 4→1" in labels  # the bridge's cuts
    assert labels.count("heal") == 3


def _all_labels_kept(root, view) -> list[str]:
    """Every mark's label, found at its mark or as a numbered note; returns those missing."""
    at_marks = _texts(root, "fault-label")
    notes = [re.sub(r"^\[\d+\] [\d.]+s ", "", t) for t in _texts(root, "note")]
    pool = at_marks + notes
    missing = []
    for m in view.marks:
        if m.label in pool:
            pool.remove(m.label)
        else:
            missing.append(m.label)
    return missing


@pytest.mark.parametrize("crowded", [0, 12, 60])
def test_the_static_timeline_keeps_every_label(tmp_path, crowded):
    every_fault_run(tmp_path / "run", crowded=crowded)
    root, records = _svg(tmp_path / "run")
    view = build_view(records)
    assert len(view.marks) >= 12 + 2 * crowded
    assert _all_labels_kept(root, view) == []
    if crowded >= 60:  # too many for the rows above the lanes: the rest are notes, numbered at their marks
        notes = _texts(root, "note")
        assert notes and _refs(root)
        numbers = []
        for ref in _refs(root):
            for part in ref.strip(" []").split(","):
                a, _, b = part.partition("–")
                numbers += range(int(a), int(b or a) + 1)
        assert sorted(numbers) == list(range(1, len(notes) + 1))  # each note's number stands near its mark


def test_the_status_word_of_a_failed_node_says_why():
    assert _state_word({"failed": "failpoint before_rename", "paused": False, "alive": False,
                        "incarnation": 1}) == "failed: failpoint before_rename"
    long = _state_word({"failed": "disk fault fsync:EIO: fsync temp file failed: [Errno 5] Input/output error",
                        "paused": False, "alive": False, "incarnation": 1})
    assert long.startswith("failed: disk fault fsync:EIO") and long.endswith("…") and len(long) == 40
    tracker = RoleTracker()
    tracker.feed({"by": "node", "node": 3, "incarnation": 1, "term": 1, "mono_ns": 1, "event": "failpoint_hit",
                  "name": "before_rename"})
    assert tracker.nodes[3].failed == "failpoint before_rename"


def test_the_readme_timeline_has_every_mark_labelled_and_in_the_legend():
    from pathlib import Path
    root = ET.parse(Path(__file__).resolve().parent.parent / "docs" / "timeline-example.svg").getroot()
    lines = [e for e in root.iter(f"{SVG}line") if _classes(e)[:1] == ["fault"]]
    labelled = _texts(root, "fault-label") + _texts(root, "note")
    assert lines and len(labelled) >= len(lines)
    legend = _legend(root)
    assert all(MARK_STYLE[_classes(e)[1]][1] in legend for e in lines)
