#!/usr/bin/env python3
"""Convert Jepsen-style histories to raftzmq's history.jsonl (docs/history-format.md), then check them with
`raftzmq check --history`.

Reads, one operation event per line, either
  - EDN maps:          {:process 0, :type :invoke, :f :write, :value 3}          (Jepsen, Knossos, Porcupine kv)
  - Jepsen text logs:  INFO  jepsen.util - 3	:invoke	:cas	[0 4]                 (Porcupine's test_data/jepsen)
Lines that are neither (log noise, :nemesis events) are skipped and counted on stderr.

  --independent    the value is a [key value] tuple (jepsen.independent, Maelstrom's lin-kv): split it
  --missing VALUE  a key never written reads as VALUE (Porcupine's kv data reads "" for a missing key): a
                   completed put of VALUE per key is written first, by process "init"

Examples:
  python3 examples/jepsen_to_jsonl.py etcd_000.log > etcd_000.jsonl
  python3 examples/jepsen_to_jsonl.py --missing '""' c01-ok.txt > c01-ok.jsonl
  python3 examples/jepsen_to_jsonl.py --independent history.edn > history.jsonl
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<open>[\[{(])|(?P<close>[\]})])|(?P<atom>[^\s,\[\]{}()"]+)|,)')
_TEXT_LOG = re.compile(r"^\S+\s+jepsen\.util\s+-\s+(\S+)\t(:\S+)\t(:\S+)\t(.*)$")


def _atom(text: str) -> Any:
    if text == "nil":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.startswith(":"):
        return text[1:]
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_edn(text: str) -> Any:
    """The EDN subset histories use: maps, vectors, lists, strings, keywords, numbers, nil, booleans."""
    stack: list[list[Any]] = [[]]
    kinds: list[str] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip():
                raise ValueError(f"cannot read EDN at {text[pos:pos + 20]!r}")
            break
        pos = m.end()
        if m.group("str") is not None:
            stack[-1].append(json.loads(m.group("str")))
        elif m.group("open"):
            stack.append([])
            kinds.append(m.group("open"))
        elif m.group("close"):
            items = stack.pop()
            kind = kinds.pop()
            stack[-1].append(dict(zip(items[::2], items[1::2])) if kind == "{" else items)
        elif m.group("atom"):
            stack[-1].append(_atom(m.group("atom")))
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError("not one EDN value")
    return stack[0][0]


def convert_line(line: str) -> dict[str, Any] | None:
    """One history event as a dict with process/type/f/value (and key, time when given), or None."""
    line = line.strip()
    m = _TEXT_LOG.match(line)
    if m:
        process, kind, f, value = m.groups()
        rec = {"process": _atom(process), "type": kind[1:], "f": f[1:], "value": parse_edn(value)}
    elif line.startswith("{"):
        raw = parse_edn(line)
        rec = {k: raw[k] for k in ("process", "type", "f", "key", "value", "time") if k in raw}
    else:
        return None
    if rec.get("type") not in ("invoke", "ok", "fail", "info") or rec.get("process") == "nemesis" \
            or not isinstance(rec.get("process"), (int, str)):
        return None  # a nemesis or other non-client event
    return rec  # (an info's value, e.g. :timed-out, is ignored by the checker)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("--independent", action="store_true", help="values are [key value] tuples")
    ap.add_argument("--missing", metavar="JSON", help="the value a key never written reads as")
    args = ap.parse_args(argv)
    out: list[dict[str, Any]] = []
    skipped = 0
    with open(args.input, encoding="utf-8") as fh:
        for line in fh:
            rec = convert_line(line)
            if rec is None:
                skipped += line.strip() != ""
                continue
            if args.independent and isinstance(rec.get("value"), list) and len(rec["value"]) == 2:
                rec["key"], rec["value"] = rec["value"]
            out.append(rec)
    if args.missing is not None:
        initial = json.loads(args.missing)
        keys = {json.dumps(r.get("key")): r.get("key") for r in out}
        timed = any("time" in r for r in out)
        setup = []
        for key in keys.values():
            for n, kind in enumerate(("invoke", "ok")):
                put = {"process": "init", "type": kind, "f": "put", "key": key, "value": initial}
                setup.append({**put, "time": n} if timed else put)
        out = setup + [{**r, "time": r["time"] + 2} if timed else r for r in out]
    for rec in out:
        sys.stdout.write(json.dumps(rec, separators=(",", ":")) + "\n")
    if skipped:
        print(f"skipped {skipped} lines that are not client operations", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
