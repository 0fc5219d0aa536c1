"""The `kozo` command: assembles the subcommands each part of the system owns."""

__version__ = "0.1.0"
