"""`kozo`: one console script, one subcommand per job.

Each part owns its commands (a function that adds them to the parser); this
module only assembles them and turns user errors into one line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from kozo import __version__
from kozo.demo.command import add_demo_command
from kozo.errors import KozoError
from edge.cli import add_edge_commands
from hub.cli import add_hub_commands
from kozo.neighbors_command import add_neighbors_command
from model.cli import add_model_commands, add_predict_command

USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kozo",
        description="kozo: instrument data and graph neural networks for a shared-use "
                    "materials facility.\n\nRun 'kozo COMMAND --help' for each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"kozo {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    add_neighbors_command(commands)
    add_predict_command(commands)
    add_model_commands(commands)
    add_hub_commands(commands)
    add_edge_commands(commands)
    add_demo_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return USER_ERROR
    try:
        return args.run(args)
    except KozoError as error:
        print(f"kozo: error: {error}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print("kozo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
