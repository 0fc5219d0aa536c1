"""`kozo hub ...`: the hub's commands (serve, admin, backup)."""

from __future__ import annotations

import argparse


def add_hub_commands(commands: argparse._SubParsersAction) -> None:
    """Register `kozo hub` and its subcommands."""
    hub = commands.add_parser("hub", help="run and administer the hub",
                              description="Run and administer the kozo hub.")
    hub.add_subparsers(title="hub commands", metavar="COMMAND")
