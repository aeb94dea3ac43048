"""The ``bmsync`` command: admin chores against AWS, plus the local harness's commands when installed.

The product owns the command and its ``admin`` commands. The harness (``bmsync_sandbox``: ``up``,
``sandbox``, ``simulate``) contributes its commands through one mechanism: when the package is
importable, ``bmsync_sandbox.cli.register(commands)`` adds them to the same sub-parsers. Every command
sets ``run`` (``set_defaults``), the function that carries it out, so dispatch knows no command name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bmsync.cli import admin, probe


def _register_harness(commands: argparse._SubParsersAction) -> None:
    try:
        from bmsync_sandbox import cli as harness_cli
    except ModuleNotFoundError as missing:
        if missing.name != "bmsync_sandbox":
            raise  # the harness is there but broken: say so rather than hide its commands
        return
    harness_cli.register(commands)


DESCRIPTION = "bmsync: admin chores against AWS; with the harness installed, the local system and simulator"


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(prog="bmsync", description=DESCRIPTION)
    commands = command.add_subparsers(dest="command", required=True)
    _register_harness(commands)
    admin.register(commands)
    probe.register(commands)
    return command


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
