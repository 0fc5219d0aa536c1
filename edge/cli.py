"""`kozo edge ...`: the edge daemon's commands (run, enroll, status, fsck)."""

from __future__ import annotations

import argparse


def add_edge_commands(commands: argparse._SubParsersAction) -> None:
    """Register `kozo edge` and its subcommands."""
    edge = commands.add_parser("edge", help="run the instrument-side daemon",
                               description="Watch an instrument's folders and sync to the hub.")
    edge.add_subparsers(title="edge commands", metavar="COMMAND")
