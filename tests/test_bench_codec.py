"""`raftzmq bench codec` (docs/benchmarks.md, "Wire encoding"): it runs, every candidate decodes to the message it
encoded, and the report has the two workloads and the heartbeat ratios."""
import json

from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.lab.bench import codec as bench_codec


def test_every_candidate_round_trips_both_workloads():
    for msg in (bench_codec.heartbeat(), bench_codec.batch(3, 16)):
        for name, make in bench_codec._candidates().items():
            made = make(msg)
            if made is None:
                assert msg.entries and name.startswith(("json-v3", "packed cached"))
                continue
            fn, size = made
            back = fn()
            assert size > 0
            if name.startswith("json-v3"):  # the old wire has no log fields: only the header survives
                assert (back.term, back.src, back.dst) == (msg.term, msg.src, msg.dst)
            else:
                assert back == msg, name


def test_bench_codec_command_reports_both_workloads_and_the_ratios():
    res = CliRunner().invoke(main, ["bench", "codec", "--runs", "1", "--entries", "2", "--entry-bytes", "8",
                                    "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc["results"]) == {"heartbeat", "2 x 8 B"}
    assert set(doc["results"]["heartbeat"]) == set(bench_codec.CANDIDATES)
    assert set(doc["results"]["2 x 8 B"]) == {"packed", "packed+frame", "json"}
    assert doc["heartbeat packed / json-v3"] > 0 and doc["heartbeat packed cached / json-v3 cached"] > 0
    text = CliRunner().invoke(main, ["bench", "codec", "--runs", "1", "--entries", "1"]).output
    assert "| packed |" in text and "heartbeat packed / json-v3:" in text


def test_bench_codec_refuses_bad_sizes():
    res = CliRunner().invoke(main, ["bench", "codec", "--entries", "0"])
    assert res.exit_code == 2
