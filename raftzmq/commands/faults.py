"""Faults inside one running node: `skew` (its timers run fast or slow), `failpoint` (it SIGKILLs itself at an
exact moment of a persist/send), `disk` (its disk starts failing: state file and write-ahead log); the supervisor passes them to
the node over netctl (runtime/node/nodefaults.py). And faults of single links: `cut`, `uncut` (protocol/netmodel.py)."""
from __future__ import annotations

from collections.abc import Callable

import click

from ..runtime.node.diskfaults import DISK_FAULTS
from ..runtime.node.failpoints import NAMES as FAILPOINTS
from .cluster import _request, cuts_text, run_dir_option

__all__ = ["skew", "failpoint", "disk", "cut", "uncut"]


@click.command()
@click.argument("node", type=int)
@click.argument("factor", type=float)
@run_dir_option
def skew(node: int, factor: float, run_dir: str | None) -> None:
    """Make NODE's timers run FACTOR times as fast (FACTOR < 1: slow). 1 restores; `heal` restores all.

    The node hands its Raft core a clock that runs FACTOR times as fast: with FACTOR 3 its election timeouts
    fire three times as often (it campaigns early; PreVote keeps it from disrupting a healthy leader), with
    0.2 a leader's heartbeats come five times too rarely and its followers depose it. Survives restarts.
    Raft's safety never depends on clocks, but lease reads (`start --reads lease`) do: a slow leader clock
    keeps serving reads from a lease the followers have ended (`raftzmq scenario lease-skew` shows it).

    \b
    Examples:
      raftzmq skew 3 4        # node 3's clock runs 4x fast
      raftzmq skew 1 0.2      # the leader (say 1) runs slow: followers time out
      raftzmq skew 3 1        # back to normal
    """
    reply = _request(run_dir, "skew", id=node, factor=factor)
    click.echo(f"node {reply['node']}: timers run at {factor:g}x")


@click.command()
@click.argument("node", type=int)
@click.argument("name", type=click.Choice(FAILPOINTS))
@run_dir_option
def failpoint(node: int, name: str, run_dir: str | None) -> None:
    """Arm a failpoint in NODE's running process: it SIGKILLs itself the next time it passes NAME.

    \b
    NAME is one of:
      before_persist             a new term/vote exists only in memory
      before_rename              written to the temp file and synced, the state file not yet replaced
      after_persist_before_send  durable and logged, nothing sent
      after_send                 sent (given 200 ms to leave)

    The next incarnation (`raftzmq restart NODE`) runs without it.

    \b
    Examples:
      raftzmq failpoint 2 after_persist_before_send; raftzmq kill 1   # 2 dies in the election that follows
      raftzmq failpoint 3 before_rename
    """
    reply = _request(run_dir, "failpoint", id=node, name=name)
    click.echo(f"node {reply['node']} (incarnation {reply['incarnation']}): failpoint {name} armed")


@click.command()
@click.argument("node", type=int)
@click.argument("fault", type=click.Choice(list(DISK_FAULTS)))
@run_dir_option
def disk(node: int, fault: str, run_dir: str | None) -> None:
    """Make NODE's disk fail: its next file operation of that kind fails with FAULT, and the node exits (code 4)
    without answering what it could not make durable. `status` shows why; the others keep a leader.

    \b
    FAULT is the file operation that fails and its errno:
      write:ENOSPC write:EIO        writing the state file's temp file (term/vote/commit)
      fsync:ENOSPC fsync:EIO        any fsync (state file, directory, write-ahead log)
      rename:ENOSPC rename:EIO      replacing the state file
      readonly                      creating a file (EROFS)
      append:ENOSPC append:EIO      appending entries to the write-ahead log
      truncate:ENOSPC truncate:EIO  cutting the log back (a conflicting suffix, a torn tail at start)
      torn                          the next log append writes half its bytes, then the node is SIGKILLed;
                                    its next start cuts the torn record and logs log_tail_cut
    The first four fire at the next term/vote change (an election); the log ones once the node writes its
    log. The next incarnation (`raftzmq restart NODE`) has a working disk.

    \b
    Examples:
      raftzmq disk 2 fsync:EIO; raftzmq transfer 3   # the election makes 2 persist: it fails and exits
      raftzmq disk 4 readonly
      raftzmq disk 3 append:ENOSPC                  # fires once node 3 appends to its log
    """
    reply = _request(run_dir, "disk", id=node, fault=fault)
    click.echo(f"node {reply['node']} (incarnation {reply['incarnation']}): disk fault {fault} armed; "
               "it fails at the node's next persist")


def _link_command(one_way_help: str) -> Callable[[Callable[..., None]], click.Command]:
    """`cut` and `uncut`: SRC DST [--one-way] [--run-dir DIR]."""
    def make(fn: Callable[..., None]) -> click.Command:
        for decorate in (run_dir_option, click.option("--one-way", is_flag=True, help=one_way_help),
                         click.argument("dst", type=int), click.argument("src", type=int)):
            fn = decorate(fn)
        return click.command()(fn)
    return make


@_link_command("Cut only SRC -> DST (DST's messages still reach SRC).")
def cut(src: int, dst: int, one_way: bool, run_dir: str | None) -> None:
    """Cut the link between SRC and DST (both directions, or only SRC -> DST with --one-way).

    Cuts add up, to any shape: every link into the leader cut one-way is the "simplex leader" (it still
    sends heartbeats, hears no answer: CheckQuorum deposes it). `uncut` removes one, `heal` all.

    \b
    Examples:
      raftzmq cut 1 2                 # 1 and 2 no longer hear each other
      raftzmq cut 2 1 --one-way       # 2's messages to 1 are dropped; 1 -> 2 still works
      for n in 2 3 4 5; do raftzmq cut $n 1 --one-way; done   # a simplex leader 1
    """
    reply = _request(run_dir, "cut", src=src, dst=dst, one_way=one_way)
    click.echo("cut links: " + cuts_text(reply["net"]["cuts"]))


@_link_command("Restore only SRC -> DST.")
def uncut(src: int, dst: int, one_way: bool, run_dir: str | None) -> None:
    """Restore the link between SRC and DST (both directions, or only SRC -> DST with --one-way).

    \b
    Examples:
      raftzmq uncut 1 2
      raftzmq uncut 2 1 --one-way
    """
    reply = _request(run_dir, "uncut", src=src, dst=dst, one_way=one_way)
    click.echo("cut links: " + (cuts_text(reply["net"]["cuts"]) or "none"))
