"""Argument patterns every part's commands share, so that they read alike."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_command(commands: argparse._SubParsersAction, name: str, help: str,
                description: str) -> argparse.ArgumentParser:
    """A subcommand whose description (with its examples) keeps its line breaks."""
    return commands.add_parser(name, help=help, description=description,
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def add_structure_files(parser: argparse.ArgumentParser) -> None:
    """One or more structure files and a --json switch for one object per file."""
    parser.add_argument("structures", type=Path, nargs="+", metavar="STRUCTURE",
                        help="CIF, POSCAR/CONTCAR or (extended) XYZ file")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per file instead of the summary")


def add_command_group(commands: argparse._SubParsersAction, name: str, help: str,
                      description: str) -> argparse._SubParsersAction:
    """A command that only holds subcommands (`kozo hub admin user ...`); run alone, it
    prints its own help and exits 2. Returns the group's subcommands to add to."""
    group = add_command(commands, name, help=help, description=description)
    group.set_defaults(run=lambda args: group.print_help() or 2)
    return group.add_subparsers(title=f"{name} commands", metavar="COMMAND")
