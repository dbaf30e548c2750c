"""Issue 18 deliver 7: `raftzmq timeline` and `report --html` draw commits and each node's log growth from the
replication records (log_loaded / log_appended / commit_advanced), checked against a hand-made log: a commit mark
at the right x and height for every commit_advanced, per node a growth line that ends at its last index (and a
commit line at its commit index), a mark where a conflicting suffix was replaced, the same model in the HTML data,
and nothing of it in an election-only run."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.evidence.html import report_data
from raftzmq.evidence.logfile import Located
from raftzmq.evidence.checker import check_located
from raftzmq.evidence.logview import build_log_view
from raftzmq.evidence.timeline import render_svg

S = 1_000_000_000
SVG = "{http://www.w3.org/2000/svg}"
WIDTH, LEFT, RIGHT = 1200, 70, 20  # timeline.py's default width and margins
Z = "0" * 16


def rec(t, event, node, term=1, **fields):
    return {"ts": t, "mono_ns": int(t * S), "event": event, "by": "node", "node": node, "term": term, "incarnation": 1,
            **fields}


def appended(t, node, first, last, term=1):
    return rec(t, "log_appended", node, term, first=first, last=last, terms=[[term, last - first + 1]],
               prev_digest=Z, digest=Z)


def commit(t, node, index):
    return rec(t, "commit_advanced", node, commit=index, digest=Z)


HAND_MADE = [
    *[rec(0.0, "node_started", n, term=0) for n in (1, 2, 3)],
    *[rec(0.0, "log_loaded", n, term=0, last=0, commit=0, terms=[], digest=Z) for n in (1, 2, 3)],
    rec(1.0, "became_leader", 1),
    appended(1.0, 1, 1, 2), appended(1.2, 2, 1, 2), appended(1.3, 3, 1, 1),
    commit(1.5, 1, 2), commit(2.0, 2, 2), commit(2.1, 3, 1),
    appended(3.0, 1, 3, 5), appended(3.5, 3, 2, 4),
    commit(4.0, 1, 5),
    appended(5.0, 2, 2, 3, term=2),  # node 2 replaces its entry 2 (first 2 <= its last index 2)
    commit(6.0, 3, 4),
]
_seq: dict[int, int] = {}
for _r in HAND_MADE:
    _r["seq"] = _seq[_r["node"]] = _seq.get(_r["node"], 0) + 1
LAST = {1: 5, 2: 3, 3: 4}
COMMIT = {1: 5, 2: 2, 3: 4}


def x_of(t: float) -> float:
    span = HAND_MADE[-1]["mono_ns"] - HAND_MADE[0]["mono_ns"]
    return LEFT + (t * S - HAND_MADE[0]["mono_ns"]) * (WIDTH - LEFT - RIGHT) / span


def classed(root, tag, cls):
    return [e for e in root.iter(f"{SVG}{tag}") if cls in (e.get("class") or "").split()]


def points(d: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", d)]


def lane_scale(root, node: int):
    lane = next(e for e in classed(root, "rect", "log-lane") if e.get("data-node") == str(node))
    y0, top, high = float(lane.get("data-y0")), float(lane.get("data-ytop")), int(lane.get("data-max"))
    return lambda index: y0 + (top - y0) * index / high


def test_the_model_follows_the_records():
    logs = build_log_view(HAND_MADE)
    assert logs.max_index == 5
    assert {n: logs.last(n) for n in (1, 2, 3)} == LAST and {n: logs.commit(n) for n in (1, 2, 3)} == COMMIT
    assert [(m.node, m.commit) for m in logs.commits] == [(1, 2), (2, 2), (3, 1), (1, 5), (3, 4)]
    assert [(r.node, r.first, r.old_last) for r in logs.replaced] == [(2, 2, 2)]
    assert [s.value for s in logs.growth[1]] == [0, 2, 5]


def test_svg_has_a_commit_mark_at_the_right_place_for_each_commit_advanced():
    root = ET.fromstring(render_svg(HAND_MADE, title="hand-made"))
    marks = classed(root, "g", "commit-mark")
    wanted = sorted((r["node"], r["commit"], r["mono_ns"] / S) for r in HAND_MADE if r["event"] == "commit_advanced")
    assert len(marks) == len(wanted)
    for mark, (node, index, t) in zip(marks, wanted):
        assert (int(mark.get("data-node")), int(mark.get("data-commit"))) == (node, index)
        dot = mark.find(f"{SVG}circle")
        assert abs(float(dot.get("cx")) - x_of(t)) < 0.11, (node, index)
        assert abs(float(dot.get("cy")) - lane_scale(root, node)(index)) < 0.11  # at the commit index's height


def test_svg_growth_line_per_node_ends_at_its_last_index_and_commit_line_at_its_commit():
    root = ET.fromstring(render_svg(HAND_MADE, title="hand-made"))
    growth = {int(p.get("data-node")): points(p.get("d")) for p in classed(root, "path", "log-growth")}
    commits = {int(p.get("data-node")): points(p.get("d")) for p in classed(root, "path", "commit-line")}
    assert sorted(growth) == sorted(commits) == [1, 2, 3]
    for node in (1, 2, 3):
        y = lane_scale(root, node)
        assert abs(growth[node][-1][1] - y(LAST[node])) < 0.11 and abs(growth[node][-1][0] - x_of(6.0)) < 0.11
        assert abs(commits[node][-1][1] - y(COMMIT[node])) < 0.11
    # the line rises where the node appended: node 1 reaches index 2 at 1.0 s and 5 at 3.0 s
    y1, rises = lane_scale(root, 1), [(round(a, 1), round(b, 1)) for a, b in growth[1]]
    assert (round(x_of(1.0), 1), round(y1(2), 1)) in rises and (round(x_of(3.0), 1), round(y1(5), 1)) in rises
    finals = {e.get("data-node"): e.text for e in classed(root, "text", "log-final")}
    assert finals == {"1": "last 5 · commit 5", "2": "last 3 · commit 2", "3": "last 4 · commit 4"}


def test_svg_marks_the_replaced_suffix_and_explains_the_lanes_in_its_legend():
    text = render_svg(HAND_MADE, title="hand-made")
    root = ET.fromstring(text)
    replaced = classed(root, "g", "log-replaced")
    assert [(e.get("data-node"), e.get("data-first")) for e in replaced] == [("2", "2")]
    assert abs(float(replaced[0].get("data-x")) - x_of(5.0)) < 0.11
    legend = " ".join(e.text or "" for e in root.iter(f"{SVG}text"))
    assert "log lane: the node's last index" in legend and "commit_advanced (dot)" in legend
    assert "conflicting suffix replaced" in legend


def test_an_election_only_run_draws_no_log_lanes():
    records = [rec(0.0, "node_started", 1, term=0), rec(1.0, "became_leader", 1), rec(2.0, "became_follower", 1,
                                                                                          leader=None)]
    root = ET.fromstring(render_svg(records, title="elections"))
    assert not classed(root, "rect", "log-lane") and not classed(root, "path", "log-growth")
    assert "log lane" not in render_svg(records, title="elections")


def test_a_long_run_stays_a_line_and_still_ends_at_the_last_index():
    many = [rec(0.0, "node_started", 1, term=0), rec(0.0, "log_loaded", 1, term=0, last=0, commit=0, terms=[],
                                                      digest=Z)]
    many += [appended(1 + k * 0.001, 1, k + 1, k + 1) for k in range(20_000)]  # 20,000 appends over 20 s
    root = ET.fromstring(render_svg(many, title="long"))
    line = points(classed(root, "path", "log-growth")[0].get("d"))
    assert len(line) < 3 * WIDTH  # at most a few points per pixel
    assert abs(line[-1][1] - lane_scale(root, 1)(20_000)) < 0.11


def test_html_data_carries_the_same_log_lanes(tmp_path):
    located = [Located(r, str(tmp_path / f"node-{r['node']}.jsonl"), i + 1) for i, r in enumerate(HAND_MADE)]
    check = check_located(tmp_path, located)
    data = report_data(located, check, title="hand-made")
    logs = data["logs"]
    assert logs["max_index"] == 5
    assert {n: steps[-1][1] for n, steps in logs["growth"].items()} == {str(k): v for k, v in LAST.items()}
    assert {n: steps[-1][1] for n, steps in logs["commit_line"].items()} == {str(k): v for k, v in COMMIT.items()}
    got = [(c[1], c[2], c[0]) for c in logs["commits"]]
    assert got == [(r["node"], r["commit"], (r["mono_ns"] - HAND_MADE[0]["mono_ns"]) / 1e6) for r in HAND_MADE
                   if r["event"] == "commit_advanced"]
    assert all(data["records"][c[3]][3]["event"] == "commit_advanced" for c in logs["commits"])
    assert [r[1:4] for r in logs["replaced"]] == [[2, 2, 2]]
    election_only = [Located(r, "n.jsonl", 1) for r in HAND_MADE[:3]]
    assert report_data(election_only, check_located(tmp_path, election_only), title="e")["logs"] is None


def test_timeline_command_draws_log_lanes_for_a_replicated_sim_run(tmp_path):
    run = tmp_path / "s"
    runner = CliRunner()
    assert runner.invoke(main, ["sim", "--seed", "3", "--nodes", "3", "--duration", "5", "--proposals", "5",
                                "--log-dir", str(run)]).exit_code == 0
    out = runner.invoke(main, ["timeline", str(run), "-o", str(tmp_path / "t.svg")])
    assert out.exit_code == 0, out.output
    root = ET.fromstring((tmp_path / "t.svg").read_text())
    assert len(classed(root, "path", "log-growth")) == 3 and classed(root, "g", "commit-mark")
