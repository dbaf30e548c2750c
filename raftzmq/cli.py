"""The `raftzmq` command: assembles the command families from raftzmq/commands/."""
from __future__ import annotations

from typing import Any

import click

from . import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (or help lists it): the start of a cluster does
    not wait for the simulator, the benches and the HTML report to import."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from .commands import command_table

        return sorted({*self.commands, *command_table()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        from .commands import load_command

        command = load_command(cmd_name)
        if command is not None:
            self.commands[cmd_name] = command
        return command

    def all_commands(self) -> dict[str, Any]:
        """Every command, loaded (for tests and `help`-style listings)."""
        return {name: self.get_command(click.Context(self), name) for name in self.list_commands(click.Context(self))}


@click.group(context_settings=CONTEXT, cls=_LazyGroup)
@click.version_option(__version__, prog_name="raftzmq")
def main() -> None:
    """Watch and break Raft on real processes: leader election, log replication and a replicated KV store.

    \b
    Examples:
      raftzmq start --nodes 5            # a live cluster, one process per node
      raftzmq kill 3                     # from another terminal
      raftzmq logs -f                    # merged, coloured, following
      raftzmq propose hello              # replicate a command; prints its index and term once committed
      raftzmq kv put x 1                 # the KV service; `raftzmq workload` records a checkable history
      raftzmq check                      # prove the run safe: elections, logs, commits
      raftzmq check --history h.jsonl    # is this client history linearizable?
      raftzmq sim --nodes 5 --seeds 1000 # the same core in a seeded simulator
      raftzmq conform my_core.py:MyCore  # judge your own Raft core (docs/core-contract.md)
    """


@main.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show the help of raftzmq or of one command (same as --help).

    \b
    Examples:
      raftzmq help
      raftzmq help start
      raftzmq help bench sim
    """
    group: click.Command = main
    sub_ctx = ctx.parent
    assert sub_ctx is not None  # `help` always runs under the `raftzmq` group
    for name in command:
        sub = group.get_command(sub_ctx, name) if isinstance(group, click.Group) else None
        if sub is None:
            raise click.UsageError(f"no such command {' '.join(command)!r}; `raftzmq help` lists them")
        sub_ctx = click.Context(sub, info_name=name, parent=sub_ctx)
        group = sub
    click.echo(sub_ctx.get_help())
