"""The `raftzmq` command: assembles the command families from raftzmq/commands/."""
from __future__ import annotations

import click

from . import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="raftzmq")
def main() -> None:
    """Watch and break Raft leader election on real processes.

    \b
    Examples:
      raftzmq start --nodes 5            # a live cluster, one process per node
      raftzmq kill 3                     # from another terminal
      raftzmq logs -f                    # merged, coloured, following
      raftzmq check                      # prove no term had two leaders
      raftzmq sim --nodes 5 --seeds 1000 # the same core in a seeded simulator
    """


def _register() -> None:
    from .commands import registered

    for command in registered():
        main.add_command(command)


_register()
