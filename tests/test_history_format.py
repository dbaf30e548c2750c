"""The history format (docs/history-format.md): the strict reader and `raftzmq check --history`'s exit codes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from raftzmq.cli import main
from raftzmq.evidence.history import HistoryError, parse_history, read_history

W = '{"process": 0, "type": "invoke", "f": "write", "value": 1}'
WOK = '{"process": 0, "type": "ok", "f": "write", "value": 1}'


def _run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


def _write(tmp_path: Path, text: str, name: str = "history.jsonl") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


BAD = [
    # (lines, line number in the error, words of the message)
    ([W, "{not json"], 2, "not JSON"),
    ([W, "[1, 2]"], 2, "expected a JSON object"),
    (['{"type": "invoke", "f": "write"}'], 1, "missing 'process'"),
    (['{"process": 0, "f": "write"}'], 1, "missing 'type'"),
    (['{"process": 0, "type": "invoke"}'], 1, "missing 'f'"),
    (['{"process": 0.5, "type": "invoke", "f": "write"}'], 1, "process must be an integer or a string"),
    (['{"process": true, "type": "invoke", "f": "write"}'], 1, "process must be an integer or a string"),
    (['{"process": 0, "type": "start", "f": "write"}'], 1, "type must be one of invoke, ok, fail, info"),
    (['{"process": 0, "type": "invoke", "f": ""}'], 1, "f must be a non-empty string"),
    (['{"process": 0, "type": "invoke", "f": "write", "valeu": 1}'], 1, "unknown field 'valeu'"),
    ([W, WOK, WOK], 3, "ok of process 0 without an open invoke"),
    (['{"process": 3, "type": "ok", "f": "read", "value": 1}'], 1, "without an open invoke"),
    ([W, W], 2, "invokes again while its invoke at line 1 is still open"),
    ([W, '{"process": 0, "type": "ok", "f": "read", "value": 1}'], 2, "completes the invoke of 'write'"),
    (['{"process": 0, "type": "invoke", "f": "write", "key": "a", "value": 1}',
      '{"process": 0, "type": "ok", "f": "write", "key": "b", "value": 1}'], 2, "differs from the invoke's"),
    (['{"process": 0, "type": "invoke", "f": "read", "value": null}',
      '{"process": 0, "type": "ok", "f": "read"}'], 2, "must carry the value read"),
    ([W.replace("}", ', "time": 5}'), WOK], 2, "has no time but earlier lines do"),
    ([W, WOK.replace("}", ', "time": 5}')], 2, "has a time but earlier lines do not"),
    ([W.replace("}", ', "time": -1}')], 1, "time must be a non-negative integer"),
    ([W.replace("}", ', "time": "5"}')], 1, "time must be a non-negative integer"),
    ([W.replace("}", ', "time": 9}'), WOK.replace("}", ', "time": 5}')], 2, "before its invoke at line 1"),
]


@pytest.mark.parametrize("rows,line,words", BAD, ids=[b[2][:30] for b in BAD])
def test_malformed_lines_are_named_by_line(rows, line, words):
    with pytest.raises(HistoryError) as err:
        parse_history(rows, "h.jsonl")
    assert err.value.line == line and words in str(err.value)
    assert str(err.value).startswith(f"h.jsonl:{line}: ")


@pytest.mark.parametrize("rows,line,words", BAD[:6] + BAD[10:14], ids=[b[2][:30] for b in BAD[:6] + BAD[10:14]])
def test_cli_rejects_malformed_input_with_one_line_and_exit_2(tmp_path, rows, line, words):
    path = _write(tmp_path, "\n".join(rows) + "\n")
    code, out, err = _run("check", "--history", str(path))
    assert code == 2 and out == ""
    assert err.startswith(f"raftzmq: error: {path}:{line}: ") and words in err and err.count("\n") == 1


MODEL_ERRORS = [
    # model-level errors come with the invoke's line
    (["W", '{"process": 1, "type": "invoke", "f": "cas", "value": 3}'], [], 2, "a cas value is [from, to]"),
    ([W, WOK, '{"process": 1, "type": "invoke", "f": "frobnicate"}'], [], 3, "unknown f 'frobnicate'"),
    ([W, WOK, '{"process": 1, "type": "invoke", "f": "put", "key": "a", "value": 1}'],
     ["--model", "cas-register"], 3, "f 'put' is not an operation of the cas-register model"),
    (['{"process": 1, "type": "invoke", "f": "append", "key": "a", "value": 7}'], [], 1,
     "an append value is a string or a list"),
]


@pytest.mark.parametrize("rows,extra,line,words", MODEL_ERRORS, ids=[m[3][:30] for m in MODEL_ERRORS])
def test_cli_rejects_operations_the_model_cannot_take(tmp_path, rows, extra, line, words):
    rows = [W if r == "W" else r for r in rows]
    path = _write(tmp_path, "\n".join(rows) + "\n")
    code, out, err = _run("check", "--history", str(path), *extra)
    assert code == 2 and err.startswith(f"raftzmq: error: {path}:{line}: ") and words in err


def test_empty_missing_and_binary_files_exit_2(tmp_path):
    empty = _write(tmp_path, "\n\n")
    code, _, err = _run("check", "--history", str(empty))
    assert code == 2 and "no events" in err
    code, _, err = _run("check", "--history", str(tmp_path / "nope.jsonl"))
    assert code == 2 and err.startswith("raftzmq: error: ") and "cannot read" in err
    binary = tmp_path / "b.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = _run("check", "--history", str(binary))
    assert code == 2 and "not UTF-8" in err


def test_blank_lines_and_trailing_newline_are_fine(tmp_path):
    path = _write(tmp_path, f"\n{W}\n\n{WOK}\n\n")
    hist = read_history(path)
    assert [op.line for op in hist.operations] == [2] and hist.operations[0].ret_line == 4


def test_exit_codes_0_1_3_and_json(tmp_path):
    good = _write(tmp_path, f"{W}\n{WOK}\n" + '{"process": 1, "type": "invoke", "f": "read", "value": null}\n'
                  '{"process": 1, "type": "ok", "f": "read", "value": 1}\n', "good.jsonl")
    code, out, _ = _run("check", "--history", str(good))
    assert code == 0 and "LINEARIZABLE" in out
    bad = _write(tmp_path, f"{W}\n{WOK}\n" + '{"process": 1, "type": "invoke", "f": "read", "value": null}\n'
                 '{"process": 1, "type": "ok", "f": "read", "value": 2}\n', "bad.jsonl")
    code, out, _ = _run("check", "--history", str(bad), "--json")
    data = json.loads(out)
    assert code == 1 and data["verdict"] == "not linearizable" and data["exit"] == 1
    assert data["violation"]["cannot_place"]["ret_line"] == 4
    # unknown: a state budget too small to decide, never a pass
    code, out, _ = _run("check", "--history", str(good), "--max-states", "1")
    assert code == 3 and "UNKNOWN" in out and "--budget" in out


def test_cli_time_budget_unknown_exit_3(tmp_path):
    n = 18
    rows = [json.dumps({"process": p, "type": "invoke", "f": "write", "value": p}) for p in range(n)]
    rows += [json.dumps({"process": p, "type": "ok", "f": "write", "value": p}) for p in range(n)]
    rows += [json.dumps({"process": n, "type": "invoke", "f": "read", "value": None}),
             json.dumps({"process": n, "type": "ok", "f": "read", "value": n - 1}),
             json.dumps({"process": n, "type": "invoke", "f": "read", "value": None}),
             json.dumps({"process": n, "type": "ok", "f": "read", "value": 0})]
    path = _write(tmp_path, "\n".join(rows) + "\n")
    code, out, _ = _run("check", "--history", str(path), "--budget", "0.05", "--json")
    assert code == 3 and json.loads(out)["verdict"] == "unknown"
    assert "time budget of 0.05 s ran out" in json.loads(out)["reason"]


def test_history_switches_need_history_and_exclude_a_run_dir(tmp_path):
    code, _, err = _run("check", "--model", "kv", str(tmp_path))
    assert code == 2 and "--model is for --history FILE" in err
    path = _write(tmp_path, f"{W}\n{WOK}\n")
    code, _, err = _run("check", str(tmp_path), "--history", str(path))
    assert code == 2 and "not both" in err
    code, _, err = _run("check", "--history", str(path), "--budget", "0")
    assert code == 2


def test_html_is_written(tmp_path):
    path = _write(tmp_path, f"{W}\n{WOK}\n" + '{"process": 1, "type": "invoke", "f": "read", "value": null}\n'
                  '{"process": 1, "type": "ok", "f": "read", "value": 2}\n')
    out = tmp_path / "lin.html"
    code, stdout, err = _run("check", "--history", str(path), "--html", str(out))
    assert code == 1 and out.is_file() and f"wrote {out}" in stdout
    assert "cannot be placed" in out.read_text()
    code, _, err = _run("check", "--history", str(path), "--html", str(tmp_path))
    assert code == 2 and "cannot write" in err


def test_help_has_examples():
    code, out, _ = _run("check", "--help")
    assert code == 0 and "raftzmq check --history history.jsonl" in out and "--budget" in out
    code, out, _ = _run("bench", "lincheck", "--help")
    assert code == 0 and "Examples" in out and "raftzmq bench lincheck" in out


def test_bench_lincheck_runs_end_to_end():
    proc = subprocess.run([sys.executable, "-m", "raftzmq", "bench", "lincheck", "--ops", "600", "--clients", "6",
                           "--keys", "2", "--runs", "1", "--no-cli", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["verdict_linearizable_history"] == "linearizable"
    assert res["verdict_stale_read_history"] == "not linearizable"
    assert res["window_culprit_line"] == res["stale_read_line"] and res["check_median_s"] > 0


def _convert(tmp_path: Path, text: str, *flags: str) -> Path:
    src = _write(tmp_path, text, "in.edn")
    proc = subprocess.run([sys.executable, str(Path(__file__).parent.parent / "examples" / "jepsen_to_jsonl.py"),
                           *flags, str(src)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return _write(tmp_path, proc.stdout, "out.jsonl")


def test_converter_reads_jepsen_text_logs_and_edn(tmp_path):
    log = ("INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:ok\t:write\t3\n"
           "INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]\nINFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n"
           "INFO  jepsen.util - 2\t:invoke\t:read\tnil\nINFO  jepsen.util - 2\t:ok\t:read\t{}\n")
    assert _run("check", "--history", str(_convert(tmp_path, log.format(4))))[0] == 0
    assert _run("check", "--history", str(_convert(tmp_path, log.format(5))))[0] == 1
    # Porcupine-style kv EDN, where a key never written reads as ""
    edn = ('{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}\n'
           '{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}\n'
           '{:process 1, :type :invoke, :f :get, :key "1", :value nil}\n'
           '{:process 1, :type :ok, :f :get, :key "1", :value ""}\n'
           '{:process 1, :type :invoke, :f :get, :key "0", :value nil}\n'
           '{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}\n')
    assert _run("check", "--history", str(_convert(tmp_path, edn, "--missing", '""')))[0] == 0
    assert _run("check", "--history", str(_convert(tmp_path, edn)))[0] == 1  # "" is not absent
    # Maelstrom lin-kv / jepsen.independent: [key value] tuples, nemesis events skipped
    lin_kv = ('{:type :invoke, :f :write, :value [0 1], :process 0, :time 10}\n'
              '{:type :info, :f :start-partition, :value nil, :process :nemesis, :time 11}\n'
              '{:type :ok, :f :write, :value [0 1], :process 0, :time 20}\n'
              '{:type :invoke, :f :read, :value [1 nil], :process 1, :time 30}\n'
              '{:type :ok, :f :read, :value [1 1], :process 1, :time 40}\n')
    out = _convert(tmp_path, lin_kv, "--independent")
    assert json.loads(out.read_text().splitlines()[0])["key"] == 0
    code, text, _ = _run("check", "--history", str(out), "--model", "kv")
    assert code == 1 and "key 1" in text  # key 1 was never written
