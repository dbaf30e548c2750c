"""Every command the README and the docs it links show runs, at a tiny size, against a real cluster or run
folder; and every command and subcommand answers `--help` with an example of itself (issue 17, deliverable 6).

Each line of README.md's ```sh blocks that runs `raftzmq` (comments stripped, continuations joined) has one entry
in LINES, and so do those of docs/reliability.md and docs/multi-host.md (RELIABILITY, MULTI_HOST): the shell line
that runs it here (the line with tiny sizes: `--seeds 3`, `--duration 3`, `--trials 2`...), the exit code the
README promises and a pattern from the real output. A line without an entry, or an entry whose line left its
file, fails `test_every_readme_line_has_a_tiny_invocation`: a new command in the README cannot land without
running here.

The lines run through bash with a `raftzmq` on PATH (a shim for this checkout), in a scratch folder holding
`configs/` and `examples/`, so `logs/latest` and `logs/s17` are where the README says. The walkthrough's lines
share one cluster: `raftzmq start --nodes 5` in the foreground, as in "Terminal 1" (a module-scoped fixture
that stops it and SIGKILLs by pid whatever is left, even on failure); they run in the README's order, so the
session is the README's session, ending with `raftzmq stop` and the `check` of its run. The netns path of
docs/multi-host.md and the fuzz run of docs/reliability.md share a folder each too; every other start (chaos,
bench, scenario, the other `start` lines) gets a folder of its own. Lines that need root and network namespaces
skip, saying why, only when those are missing. Lines for other machines (ssh, scp, systemctl) do not run here.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from cluster_harness import REPO, Cluster
from proc_helpers import wait_until
from raftzmq.cli import main

pytestmark = [pytest.mark.cluster]

README = REPO / "README.md"
HAS_NETNS = os.geteuid() == 0 and bool(shutil.which("ip")) and bool(shutil.which("nft"))
NETNS_REASON = "network namespaces need root and the ip and nft tools (`apt-get install iproute2 nftables`)"


# `raftzmq` where a shell runs it: first on the line, after sudo, ;, &&, |, $( or a VAR=value prefix.
_RUNS_RAFTZMQ = re.compile(r"(^|[;&|(]\s*|\bsudo\s+|\b\w+=\S+\s+)raftzmq(?=\s|$|\))")


def readme_commands(text: str) -> list[str]:
    """The lines of the ```sh blocks that run `raftzmq`, continuation lines joined, trailing comments stripped, in
    order, without repeats."""
    found: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S):
        commands, pending = [], ""
        for line in block.splitlines():
            if line.lstrip().startswith("#") and not pending:
                continue
            part = re.sub(r"\s+#\s.*$", "", line).strip()
            if part.endswith("\\"):
                pending += part[:-1]
                continue
            commands.append(pending + part)
            pending = ""
        for command in commands:
            if _RUNS_RAFTZMQ.search(command) and command not in found:
                found.append(command)
    return found


class Session:
    """A scratch folder (cwd of every line) with a `raftzmq` on PATH; runs shell lines there."""

    def __init__(self, home: Path) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        for name in ("configs", "examples"):
            (home / name).symlink_to(REPO / name)
        bin_dir = home / ".bin"
        bin_dir.mkdir()
        shim = bin_dir / "raftzmq"
        # As pip's entry point does; the guard matters: the forkserver re-imports the main module.
        shim.write_text(f"#!{sys.executable}\nfrom raftzmq.cli import main\n\n"
                        "if __name__ == '__main__':\n    main(prog_name='raftzmq')\n")
        shim.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAFTZMQ_")}
        self.env = dict(env, PYTHONPATH=str(REPO), PATH=f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
                        RAFTZMQ_REGISTRY=str(home / ".registry"))
        self.foreground: subprocess.Popen[bytes] | None = None
        self.killed: int | None = None

    def sh(self, line: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-c", line], cwd=self.home, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, line: str, out: Path) -> subprocess.Popen[bytes]:
        with out.open("wb") as f:
            return subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=self.home, env=self.env, stdout=f,
                                    stderr=subprocess.STDOUT)

    def status(self) -> dict[str, Any]:
        proc = self.sh("raftzmq status --json", timeout=30)
        return json.loads(proc.stdout) if proc.returncode == 0 else {"leader": None, "nodes": []}

    def node(self, st: dict[str, Any], node_id: int) -> dict[str, Any]:
        return next(n for n in st["nodes"] if n["id"] == node_id)

    def wait_leader(self, timeout: float = 20, ok: Callable[[int], bool] = lambda n: True) -> int:
        def leader() -> int | None:
            found = self.status()["leader"]
            return found if found is not None and ok(found) else None
        return wait_until(leader, timeout, f"a leader in {self.home}", interval=0.1)

    def follower(self, avoid: tuple[int, ...] = ()) -> int:
        st = self.status()
        return next(n["id"] for n in st["nodes"]
                    if n["alive"] and not n["paused"] and n["id"] != st["leader"] and n["id"] not in avoid)

    def cleanup(self) -> None:
        """Stop every run under logs/ and SIGKILL by pid whatever any of them left; remove their namespaces."""
        if self.foreground is not None and self.foreground.poll() is None:
            self.foreground.send_signal(signal.SIGINT)
            try:
                self.foreground.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.foreground.kill()
                self.foreground.wait()
        runs = [p for pattern in ("logs/*", "*") for p in self.home.glob(pattern)
                if (p / "cluster.json").is_file() and not p.is_symlink()]
        for run in runs:
            cluster = Cluster(run)
            cluster.cleanup()
            tag = json.loads((run / "cluster.json").read_text()).get("netns_tag")
            if tag:
                from raftzmq.runtime.cluster import netns
                netns.delete_run(tag)
            assert not cluster.live_pids(), f"processes left behind by {run}"


@dataclass(frozen=True)
class Line:
    """How one README line runs here. `tiny` is the shell line (or makes it from the session: node ids the
    README only says by example, like "the leader (say it is 3)"); `expect` a regex of its output."""

    tiny: str | Callable[[Session], str]
    expect: str
    code: int = 0
    shared: str | None = None      # the name of a folder shared with other lines (else one of its own);
                                   # "walkthrough" has the README's Terminal 1 cluster running
    kind: str = "run"              # run | foreground (start, wait for a leader, Ctrl-C) | follow (-f, Ctrl-C)
                                   # | terminal1 (the shared cluster's own start) | stop (ends the shared one)
    before: tuple[str, ...] = ()   # shell lines run first (their output is not checked)
    settle: Callable[[Session], bool] | None = None   # then polled until true (bounded)
    netns: bool = False
    xfail: str | None = None       # the README is ahead of the code: why (strict, so it is noticed when it lands)
    dask: bool = False             # {scheduler}: conftest's dask_scheduler (a LocalCluster on loopback)


def _kill_leader(s: Session) -> str:
    s.killed = s.wait_leader()
    return f"raftzmq kill {s.killed}"


def _restart_killed(s: Session) -> str:
    return f"raftzmq restart {s.killed or 3}"


def _new_leader(s: Session) -> bool:
    return s.wait_leader(ok=lambda n: n != s.killed) is not None


def _deposed_minority(s: Session) -> bool:
    return s.wait_leader(ok=lambda n: n in (3, 4, 5)) is not None


def _fired(s: Session) -> bool:
    """Node 3's failpoint and node 4's disk fault both took effect (at the term change the transfer caused)."""
    def both() -> bool:
        st = s.status()
        return bool(st["nodes"]) and not s.node(st, 3)["alive"] and bool(s.node(st, 4)["failed"])
    return wait_until(both, 20, "node 3 to SIGKILL itself at its failpoint and node 4 to fail on fsync:EIO")


WALK = "walkthrough"
KV = "kv"  # the KV walk: its own 3-node cluster, started --detach by its first line


def _kill_during_workload(s: Session) -> str:
    """A workload in the background; once it has recorded 40 events, kill the leader; its summary then."""
    s.killed = s.wait_leader()
    return ("rm -f logs/latest/history.jsonl; (raftzmq workload --clients 8 --duration 4 --rate 100 > wl.out 2>&1; "
            "echo exit=$? >> wl.out) & timeout 30 bash -c 'until [ -s logs/latest/history.jsonl ] && "
            "[ $(wc -l < logs/latest/history.jsonl) -gt 40 ]; do sleep 0.05; done'; "
            f"raftzmq kill {s.killed}; wait; cat wl.out")

# README line -> how it runs here. Sizes are tiny; everything else is the README's line.
LINES: dict[str, Line] = {
    # ---- Quick start and the walkthrough: one 5-node cluster, Terminal 1 in the foreground
    "pip install -e . && raftzmq start --nodes 5":  # the install is this test's environment; the start is shared
        Line("raftzmq start --nodes 5", r"leader=\d+ term=\d+", shared=WALK, kind="terminal1"),
    "raftzmq start --nodes 5": Line("raftzmq start --nodes 5", r"leader=\d+ term=\d+", shared=WALK, kind="terminal1"),
    "raftzmq status": Line("raftzmq status", r"leader: \d+ +term: \d+[\s\S]*\n5 +\d+ +running", shared=WALK),
    "raftzmq logs -f": Line("raftzmq logs -f", r"became_leader", shared=WALK, kind="follow"),
    "raftzmq kill 3": Line(_kill_leader, r"node \d killed \(pid \d+\)", shared=WALK, settle=_new_leader),
    "raftzmq restart 3": Line(_restart_killed, r"node \d is up as follower in term \d+", shared=WALK),
    "raftzmq pause 2; raftzmq resume 2":
        Line("raftzmq pause 2; raftzmq resume 2", r"node 2 paused[\s\S]*node 2 resumed", shared=WALK),
    "raftzmq partition 1,2 3,4,5":
        Line("raftzmq partition 1,2 3,4,5", r"partitioned: 1,2 \| 3,4,5", shared=WALK, settle=_deposed_minority),
    "raftzmq heal": Line("raftzmq heal", r"network healed", shared=WALK),
    "raftzmq isolate 4": Line("raftzmq isolate 4", r"partitioned: 4 \| 1,2,3,5", shared=WALK),
    "raftzmq net --loss 0.2 --delay 30±20":
        Line("raftzmq net --loss 0.2 --delay 30±20", r"net: loss 20%, delay 30±20 ms", shared=WALK),
    "raftzmq transfer 5":  # to a follower (5 may lead already); on a healed network, so the transfer is prompt
        Line(lambda s: f"raftzmq transfer {s.follower()}", r"node \d is leader in term \d+ \(was node \d",
             shared=WALK, before=("raftzmq heal",)),
    "raftzmq cut 1 2 [--one-way]":
        Line("raftzmq cut 1 2 --one-way && raftzmq status && raftzmq uncut 1 2 --one-way", r"cut links: 1->2\n",
             shared=WALK),
    "raftzmq partition --ring": Line("raftzmq partition --ring", r"cut links: (\d->\d ){9}\d->\d", shared=WALK),
    "raftzmq partition --bridge 3": Line("raftzmq partition --bridge 3", r"cut links: 1->4 1->5", shared=WALK),
    "raftzmq skew 2 4": Line("raftzmq skew 2 4 && raftzmq status", r"node 2: timers at 4x", shared=WALK,
                             before=("raftzmq heal",)),
    "raftzmq failpoint 3 before_rename":
        Line("raftzmq failpoint 3 before_rename", r"node 3 \(incarnation \d+\): failpoint before_rename armed",
             shared=WALK),
    "raftzmq disk 4 fsync:EIO":  # then a transfer changes the term: node 3 kills itself, node 4 fails, 1,2,5 go on
        Line(lambda s: f"raftzmq disk 4 fsync:EIO && raftzmq transfer {s.follower(avoid=(3, 4))}",
             r"disk fault fsync:EIO armed[\s\S]*is leader in term", shared=WALK, settle=_fired),
    "raftzmq propose 'x=1'":  # nodes 1, 2 and 5 are up (3 and 4 went down above): a majority commits
        Line("raftzmq propose 'x=1'", r"committed at index \d+ in term \d+", shared=WALK),
    "raftzmq inspect 2":
        Line("raftzmq inspect 2",
             r"node 2: \S+node-2.wal \(\d+ entries, \d+ bytes\)[\s\S]*last \d+, digest [0-9a-f]{16}",
             shared=WALK),
    "raftzmq kv put x 1": Line("raftzmq kv put x 1", r"(?m)^ok$", shared=WALK),
    "raftzmq kv get x": Line("raftzmq kv get x", r"(?m)^1$", shared=WALK),
    "raftzmq workload --duration 10":  # a majority is up: the history must be linearizable
        Line("raftzmq workload --duration 2 --clients 2 --keys 2 --rate 40", r"LINEARIZABLE", shared=WALK),
    "raftzmq check --history logs/latest/history.jsonl --html lin.html":
        Line("raftzmq check --history logs/latest/history.jsonl --html lin.html",
             r"LINEARIZABLE \(model kv[\s\S]*wrote lin.html", shared=WALK),
    # ---- The KV service, step by step: its own cluster
    "raftzmq start --nodes 3 --detach":
        Line("raftzmq start --nodes 3 --detach", r"3 nodes running in .*leader \d+", shared=KV),
    "raftzmq kv put greeting hello": Line("raftzmq kv put greeting hello", r"(?m)^ok$", shared=KV),
    "raftzmq kv get greeting --json": Line("raftzmq kv get greeting --json", r'"value": "hello"', shared=KV),
    "raftzmq workload --clients 8 --duration 30":
        Line("raftzmq workload --clients 8 --duration 2 --rate 100",
             r"LINEARIZABLE[\s\S]*availability all[\s\S]*acknowledged writes lost: 0", shared=KV),
    "raftzmq kill 1":  # while a workload runs: it goes on with the new leader, linearizable, nothing lost
        Line(_kill_during_workload, r"node \d killed[\s\S]*LINEARIZABLE[\s\S]*acknowledged writes lost: 0 [\s\S]*"
             r"exit=0", shared=KV, settle=_new_leader),
    "raftzmq restart 1": Line(_restart_killed, r"node \d is up as follower in term \d+", shared=KV),
    "raftzmq check --history logs/latest/history.jsonl":
        Line("raftzmq check --history logs/latest/history.jsonl", r"LINEARIZABLE \(model kv", shared=KV),
    "raftzmq workload --duration 60 --nemesis kill,partition,restart":  # seed 52: kill, undo, restart, partition
        Line("raftzmq workload --duration 6 --nemesis kill,partition,restart --nemesis-interval 1.5 --seed 52 "
             "--timeout 2", r"LINEARIZABLE[\s\S]*availability kill[\s\S]*availability restart[\s\S]*"
             r"availability partition[\s\S]*availability calm[\s\S]*acknowledged writes lost: 0", shared=KV),
    "raftzmq report --html -o kv.html":
        Line("raftzmq report --html -o kv.html && grep -c \"<section id='history'\" kv.html",
             r"wrote kv.html\n1\n", shared=KV),
    "raftzmq fuzz":  # both nodes back first, so that every node can account for its frames
        Line("raftzmq fuzz --frames 500", r"OK: every node up, term and leader unchanged", shared=WALK,
             before=("raftzmq heal && raftzmq restart 3 && raftzmq restart 4",)),
    "raftzmq start --auth curve": Line("raftzmq start --auth curve --nodes 3", r"stopped; logs in", kind="foreground"),
    "sudo raftzmq start --net netns":
        Line("raftzmq start --net netns --nodes 3", r"stopped; logs in", kind="foreground", netns=True),
    "raftzmq stop": Line("raftzmq stop", r"cluster in \S+ stopped", shared=WALK, kind="stop"),
    "raftzmq check": Line("raftzmq check", r"OK: no safety violations[\s\S]*incarnations per node: .*\d:[2-9]",
                          shared=WALK),
    "raftzmq report": Line("raftzmq report", r"failovers \(leader lost[\s\S]*node_killed", shared=WALK),
    "raftzmq report --html": Line("raftzmq report --html && grep -c run-data logs/latest/report.html",
                                  r"wrote \S+/report.html\n[1-9]", shared=WALK),
    "raftzmq timeline": Line("raftzmq timeline && head -c 200 logs/latest/timeline.svg", r"timeline.svg\n[\s\S]*<svg",
                             shared=WALK),
    "raftzmq ps": Line("raftzmq ps", r"no cluster is running", shared=WALK),
    "raftzmq clean --keep 5": Line("raftzmq clean --keep 5", r"\d+ run\(s\), freed [\d.]+ MB in logs", shared=WALK),
    'eval "$(_RAFTZMQ_COMPLETE=bash_source raftzmq)"':
        Line('eval "$(_RAFTZMQ_COMPLETE=bash_source raftzmq)" && complete -p raftzmq', r"_raftzmq_completion"),
    # ---- Simulator, chaos and benchmarks
    "raftzmq sim --nodes 5 --seeds 10000 --jobs 2":
        Line("raftzmq sim --nodes 5 --seeds 3 --jobs 2", r"seeds run: 3, violations: 0"),
    "raftzmq sim --seed 17 --log-dir logs/s17":
        Line("raftzmq sim --seed 17 --log-dir logs/s17 && ls logs/s17", r"node-1.jsonl"),
    "raftzmq check logs/s17": Line("raftzmq check logs/s17", r"OK: no safety violations",
                                   before=("raftzmq sim --seed 17 --log-dir logs/s17",)),
    "raftzmq chaos --duration 30": Line("raftzmq chaos --duration 3 --nodes 3", r"check: clean"),
    "raftzmq scenario double-vote --persist term-only":
        Line("raftzmq scenario double-vote --persist term-only", r"two leaders|leaders per term: [\s\S]*/", code=1),
    "raftzmq scenario figure8 --core raftzmq.lab.conform.mutants:CommitsOldTerm":
        Line("raftzmq scenario figure8 --core raftzmq.lab.conform.mutants:CommitsOldTerm",
             r"\(h\) state-machine-safety", code=1),
    "raftzmq scenario figure8 --live --core raftzmq.lab.conform.mutants:CommitsOldTerm":
        Line("raftzmq scenario figure8 --live --core raftzmq.lab.conform.mutants:CommitsOldTerm",
             r"5\. node \d leads term \d+ \(incarnation 2\)[\s\S]*\(h\) state-machine-safety", code=1),
    "raftzmq bench cluster":
        Line("raftzmq bench cluster --nodes 3 --runs 1 --idle 1", r"cold start median \(s\): [\d.]+"),
    "raftzmq bench hotpath":
        Line("raftzmq bench hotpath --runs 1 --seconds 1", r"5 nodes: \{'median': \{[^}]*'follower_ratio'"),
    "raftzmq bench scale":
        Line("raftzmq bench scale --sizes 3 --hold 1 --runs 1",
             r"command→leader s.*\n3 nodes +[\d.]+ +[\d.]+ +[\d.]+ +\d+ +\d+ +[\d.]+ .*\n3 nodes: .*elections_in_hold \d+"),
    "raftzmq bench codec":
        Line("raftzmq bench codec --runs 1 --entries 2 --entry-bytes 16", r"\| packed \| [\d.]+ \(\d+\) \|"),
    "raftzmq bench failover --sim --trials 200":
        Line("raftzmq bench failover --sim --trials 2 --timeouts 150-300 --nodes 3", r"files: \S+/trials.csv"),
    # ---- Test your own election
    "raftzmq conform examples/minimal_core.py:MinimalCore":
        Line("raftzmq conform examples/minimal_core.py:MinimalCore --seeds 2 --duration 5", r"verdict: PASS"),
    "raftzmq sim --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum --seeds 1000":
        Line("raftzmq sim --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum --seeds 3",
             r"seeds run: 3, violations: 0"),
    "raftzmq start --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum":
        Line("raftzmq start --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum --nodes 3",
             r"stopped; logs in", kind="foreground"),
    "raftzmq chaos --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum --duration 30":
        Line("raftzmq chaos --core examples/minimal_core.py:MinimalCore --no-prevote --no-check-quorum --duration 3 "
             "--nodes 3", r"check: clean"),
    "raftzmq conform raftzmq.lab.conform.mutants:TermOnly":
        Line("raftzmq conform raftzmq.lab.conform.mutants:TermOnly --seeds 2 --nodes 3 --duration 5",
             r"\(e\)[\s\S]*seed 0[\s\S]*verdict: FAIL", code=1),
    "raftzmq conform raftzmq.lab.conform.mutants:NoStepDown":
        Line("raftzmq conform raftzmq.lab.conform.mutants:NoStepDown --seeds 2 --nodes 3 --duration 5",
             r"leader-in-unwon-term[\s\S]*verdict: FAIL", code=1),
    "raftzmq conform raftzmq.lab.conform.mutants:FixedTimeouts":
        Line("raftzmq conform raftzmq.lab.conform.mutants:FixedTimeouts --seeds 2 --nodes 3 --duration 5",
             r"no-leader[\s\S]*verdict: FAIL", code=1),
    # ---- Configuration
    "raftzmq start --config configs/paper.toml --nodes 7 --election-timeout 300-600 --heartbeat 60":
        Line("raftzmq start --config configs/paper.toml --nodes 3 --election-timeout 300-600 --heartbeat 60",
             r"stopped; logs in", kind="foreground"),
    "raftzmq start --no-prevote --no-check-quorum --transport ipc":
        Line("raftzmq start --no-prevote --no-check-quorum --transport ipc --nodes 3",
             r"stopped; logs in", kind="foreground"),
}


# The docs the README links that show commands: docs/reliability.md's long runs, docs/multi-host.md's one-machine
# path (--net netns) and log collection. Lines for other machines (ssh, systemctl) do not run `raftzmq` here.
NETNS_SESSION, FUZZ = "netns-session", "fuzz-session"
RELIABILITY: dict[str, Line] = {
    "raftzmq chaos --duration 2100 --seed 20261130 --run-dir /tmp/chaos-long1":
        Line("raftzmq chaos --duration 3 --seed 20261130 --nodes 3 --run-dir chaos-long1",
             r"seed 20261130[\s\S]*check: clean"),
    "raftzmq chaos --duration 2400 --seed 20261201 --run-dir /tmp/chaos-long2":
        Line("raftzmq chaos --duration 3 --seed 20261201 --nodes 3 --run-dir chaos-long2",
             r"seed 20261201[\s\S]*check: clean"),
    "raftzmq start --detach --run-dir /tmp/fz100k3 --nodes 5 --election-timeout 1000-2000 --heartbeat 100":
        Line("raftzmq start --detach --run-dir fz100k3 --nodes 3 --election-timeout 1000-2000 --heartbeat 100",
             r"3 nodes running in \S+fz100k3 .*leader \d+ in term \d+", shared=FUZZ),
    "raftzmq fuzz --run-dir /tmp/fz100k3 --frames 100000 --seed 100":
        Line("raftzmq fuzz --run-dir fz100k3 --frames 500 --seed 100", r"seed 100: 500 frames[\s\S]*OK: every node",
             shared=FUZZ, before=("test -d fz100k3 || raftzmq start --detach --run-dir fz100k3 --nodes 3",)),
}
_COLLECTED = ("test -d collected || raftzmq sim --seed 3 --nodes 5 --log-dir collected",)
MULTI_HOST: dict[str, Line] = {
    "raftzmq init-cluster 10.0.0.11:7000 10.0.0.12:7000 10.0.0.13:7000 10.0.0.14:7000 10.0.0.15:7000 "
    "--out cluster.toml --keys keys":
        Line("raftzmq init-cluster 10.0.0.11:7000 10.0.0.12:7000 10.0.0.13:7000 10.0.0.14:7000 10.0.0.15:7000 "
             "--out cluster.toml --keys keys && stat -c %a keys/node-5.key && grep -c 10.0.0.15:7000 cluster.toml",
             r"\n600\n[1-9]"),
    "raftzmq check collected": Line("raftzmq check collected", r"OK: no safety violations", before=_COLLECTED),
    "raftzmq report collected": Line("raftzmq report collected", r"leaders:\n +[\d.]+s +term", before=_COLLECTED),
    "raftzmq logs --run-dir collected | less -R":
        Line("raftzmq logs --run-dir collected | less -R", r"node 1 +t\d+ +\w+", before=_COLLECTED),
    "sudo raftzmq start --net netns --auth curve --detach":
        Line("raftzmq start --net netns --auth curve --detach --nodes 5", r"5 nodes running in .*leader \d+",
             shared=NETNS_SESSION, netns=True),
    "sudo raftzmq status": Line("raftzmq status", r"packet-level faults: partition[\s\S]*tcp://10\.77\.0\.5:7000",
                                shared=NETNS_SESSION, netns=True),
    "sudo raftzmq partition 1,2 3,4,5": Line("raftzmq partition 1,2 3,4,5", r"partitioned: 1,2 \| 3,4,5",
                                             shared=NETNS_SESSION, netns=True),
    "sudo raftzmq heal": Line("raftzmq heal", r"network healed", shared=NETNS_SESSION, netns=True),
    "sudo raftzmq stop":  # and none of the run's namespaces is left (other runs' may exist meanwhile)
        Line("""tag=$(python3 -c 'import json; print(json.load(open("logs/latest/cluster.json"))["netns_tag"])')
             raftzmq stop && echo "left: $(ip netns list | grep -c "^rzq$tag-")" """,
             r"cluster in \S+ stopped\nleft: 0\n", shared=NETNS_SESSION, netns=True),
    "sudo raftzmq clean --net": Line("raftzmq clean --net", r"removed \d+ namespace\(s\); \d+ of live runs left",
                                     shared=NETNS_SESSION, netns=True),
}
MULTI_HOST |= {
    "raftzmq sim --nodes 5 --seeds 1000000 --scheduler tcp://10.0.0.5:8786":
        Line("raftzmq sim --nodes 5 --seeds 4 --scheduler {scheduler}", r"seeds run: 4, violations: 0", dask=True),
    "raftzmq bench sim --seeds 400 --jobs 2 --scheduler tcp://10.0.0.5:8786":
        Line("raftzmq bench sim --seeds 4 --jobs 2 --runs 1 --scheduler {scheduler}",
             r"dask tcp://127\.0\.0\.1:\d+ \(2 workers\): median[\s\S]*dask / local: [\d.]+", dask=True),
}
SOURCES: dict[str, dict[str, Line]] = {"README.md": LINES, "docs/reliability.md": RELIABILITY,
                                       "docs/multi-host.md": MULTI_HOST}
ALL_LINES = [(source, line) for source, table in SOURCES.items() for line in table]


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_readme_line_has_a_tiny_invocation(source: str) -> None:
    shown = readme_commands((REPO / source).read_text())
    assert len(shown) >= 4, f"{source}: its ```sh blocks were not found"
    table = SOURCES[source]
    missing = [line for line in shown if line not in table]
    stale = [line for line in table if line not in shown]
    assert not missing, f"{source}: lines with no entry in its table (add how to run each at a tiny size): {missing}"
    assert not stale, f"{source}: table entries whose line is no longer there: {stale}"


def test_readme_extraction_strips_comments_and_keeps_only_raftzmq_lines():
    text = ("```sh\nraftzmq kill 3   # the leader\n  # raftzmq not-me\njq . x.jsonl\nsudo raftzmq a; raftzmq b\n"
            "ssh h 'sudo useradd --system raftzmq'\nsystemctl start raftzmq@3\nraftzmq long \\\n"
            "    --flag   # c\n```\nraftzmq outside-a-block\n```sh\nraftzmq kill 3\nX=1 raftzmq e\n```\n")
    assert readme_commands(text) == ["raftzmq kill 3", "sudo raftzmq a; raftzmq b", "raftzmq long --flag",
                                     "X=1 raftzmq e"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Session]]:
    """Folders shared by several lines, made on first use, cleaned up after the module. In "walkthrough",
    Terminal 1 runs: `raftzmq start --nodes 5` in the foreground."""
    made: dict[str, Session] = {}

    def get(name: str) -> Session:
        if name not in made:
            s = made[name] = Session(tmp_path_factory.mktemp(name) / "home")
            if name == WALK:
                s.foreground = s.popen("raftzmq start --nodes 5", s.home / "terminal1.out")
                s.wait_leader(timeout=30)
        return made[name]
    try:
        yield get
    finally:
        problems = []
        for s in made.values():
            try:
                s.cleanup()
            except AssertionError as exc:
                problems.append(str(exc))
        assert not problems, problems


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Session]:
    s = Session(tmp_path / "home")
    try:
        yield s
    finally:
        s.cleanup()


def _output(s: Session, out: Path) -> str:
    return out.read_text(errors="replace") if out.exists() else ""


@pytest.mark.parametrize("source, shown", ALL_LINES, ids=[f"{src}: {line}" for src, line in ALL_LINES])
def test_readme_line(source: str, shown: str, request: pytest.FixtureRequest) -> None:
    spec = SOURCES[source][shown]
    if spec.netns and not HAS_NETNS:
        pytest.skip(NETNS_REASON)
    if spec.xfail:
        request.applymarker(pytest.mark.xfail(reason=spec.xfail, strict=True))
    s: Session = request.getfixturevalue("shared")(spec.shared) if spec.shared else request.getfixturevalue("own")
    for line in spec.before:
        s.sh(line)
    tiny = spec.tiny(s) if callable(spec.tiny) else spec.tiny
    if spec.dask:
        tiny = tiny.format(scheduler=request.getfixturevalue("dask_scheduler"))
    if spec.kind == "terminal1":
        out = s.home / "terminal1.out"
        wait_until(lambda: re.search(spec.expect, _output(s, out)), 20, "the status line of Terminal 1",
                   diagnostics=lambda: _output(s, out))
        return
    if spec.kind in ("foreground", "follow"):
        out = s.home / f"{spec.kind}.out"
        proc = s.popen(tiny, out)
        try:
            if spec.kind == "foreground":
                s.wait_leader(timeout=30)
            else:
                wait_until(lambda: re.search(spec.expect, _output(s, out)), 20, f"{spec.expect!r} from {tiny}")
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = _output(s, out)
        assert code == (0 if spec.kind == "foreground" else spec.code) or (spec.kind == "follow" and code == 130), \
            f"{tiny}: exit {code}\n{text}"
        assert re.search(spec.expect, text), f"{tiny}: no {spec.expect!r} in\n{text}"
        return
    proc = s.sh(tiny)
    text = proc.stdout + proc.stderr
    assert proc.returncode == spec.code, f"{tiny}: exit {proc.returncode}, the README promises {spec.code}\n{text}"
    assert re.search(spec.expect, text), f"{tiny}: no {spec.expect!r} in\n{text}"
    if spec.settle is not None:
        assert spec.settle(s)
    if spec.kind == "stop":  # Terminal 1's `raftzmq start` ends cleanly: exit 0
        assert s.foreground is not None
        assert s.foreground.wait(timeout=30) == 0, _output(s, s.home / "terminal1.out")
        assert "raftzmq: stopped; logs in" in _output(s, s.home / "terminal1.out")


def _commands(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(cmd, click.Group):  # through the group's API: `raftzmq` loads its commands lazily
        ctx = click.Context(cmd)
        for name in sorted(cmd.list_commands(ctx)):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, name
            yield from _commands(sub, (*path, name))


ALL_COMMANDS = list(_commands(main))


def test_the_command_tree_is_walked():
    assert len(ALL_COMMANDS) > 30 and ("bench", "scale") in ALL_COMMANDS and ("start",) in ALL_COMMANDS


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda p: " ".join(p) or "raftzmq")
def test_help_of_every_command_exits_0_and_shows_an_example_of_itself(path: tuple[str, ...]) -> None:
    res = CliRunner().invoke(main, [*path, "--help"], prog_name="raftzmq")
    assert res.exit_code == 0, res.output
    assert "Example" in res.output, res.output
    example = " ".join(("raftzmq", *path))
    assert any(re.match(rf"\s+(sudo )?{re.escape(example)}(\s|$)", line) for line in res.output.splitlines()), \
        f"`{example} --help` shows no example of `{example}`:\n{res.output}"
