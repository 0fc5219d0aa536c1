"""`kozo edge ...`: the edge daemon's commands (run, enroll, status, fsck)."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from pathlib import Path

from kozo.arguments import add_command, add_command_group

DEFAULT_CONFIG = Path("/etc/kozo/edge.toml")


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help=f"the daemon's TOML settings (default: {DEFAULT_CONFIG})")


def _log_to_stderr(verbose: bool = False) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")


def add_edge_commands(commands: argparse._SubParsersAction) -> None:
    """Register `kozo edge` and its subcommands."""
    sub = add_command_group(commands, "edge", help="run the instrument-side daemon",
                            description="Watch an instrument's folders and sync to the hub.")

    run = add_command(sub, "run", "watch folders, spool and sync files to the hub",
                      "Run the daemon in the foreground; logs go to stderr (journald).\n\n"
                      "Example:\n  kozo edge run --config /etc/kozo/edge.toml")
    _add_config(run)
    run.add_argument("--verbose", action="store_true", help="log every step (debug level)")
    run.set_defaults(run=run_daemon)

    enroll = add_command(sub, "enroll", "exchange a one-time code for a device credential",
                         "Ask the hub for this device's token; it is stored with mode 0600.\n\n"
                         "Example:\n  kozo edge enroll --hub https://hub.example.org "
                         "--code 7KQ2-XM4P --config /etc/kozo/edge.toml")
    enroll.add_argument("--hub", required=True, help="the hub's base URL")
    enroll.add_argument("--code", required=True, help="the one-time enrolment code")
    enroll.add_argument("--config", type=Path,
                        help="read the credential path ([hub] credential) from this file")
    enroll.add_argument("--credential", type=Path,
                        help="where to store the credential (overrides --config)")
    enroll.add_argument("--name", default=socket.gethostname(),
                        help="this device's name at the hub (default: the host name)")
    enroll.set_defaults(run=run_enroll)

    status = add_command(sub, "status", "pending files and bytes, last sync, recent errors",
                         "Ask the running daemon (its 127.0.0.1 endpoint), or read the spool "
                         "when it is not running.\n\nExample:\n"
                         "  kozo edge status --config /etc/kozo/edge.toml")
    _add_config(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(run=run_status)

    fsck = add_command(sub, "fsck", "check the spool and repair what can be repaired",
                       "Verify every spooled chunk against its hash, rebuild a damaged database,"
                       "\nre-read corrupt entries from their source files. Stop the daemon "
                       "first.\nExit code 1 when an entry could not be repaired (its source "
                       "is gone).\n\nExample:\n  kozo edge fsck --config /etc/kozo/edge.toml")
    _add_config(fsck)
    fsck.set_defaults(run=run_fsck)


def run_daemon(args: argparse.Namespace) -> int:
    import asyncio

    from edge.config import load_config
    from edge.daemon import EdgeDaemon

    config = load_config(args.config)
    _log_to_stderr(args.verbose)
    asyncio.run(EdgeDaemon(config).run())
    return 0


def run_enroll(args: argparse.Namespace) -> int:
    import asyncio

    import aiohttp

    from edge.config import DEFAULT_CREDENTIAL, load_config
    from edge.credential import write_credential
    from edge.errors import HubRejected
    from edge.hub_client import HubClient
    from kozo.errors import KozoError

    path = args.credential or (load_config(args.config).credential if args.config
                               else DEFAULT_CREDENTIAL)

    async def enroll() -> dict:
        async with aiohttp.ClientSession() as session:
            return await HubClient(session, args.hub, None).enroll(args.code, args.name)

    try:
        answer = asyncio.run(enroll())
    except HubRejected as error:
        raise KozoError(f"enrolment refused by {args.hub}: {error.code} "
                        f"({'the code was used already' if error.code == 'code_used' else error})"
                        ) from None
    except ValueError as error:  # an unusable URL
        raise KozoError(f"--hub {args.hub!r} is not a usable URL ({error})") from None
    write_credential(path, {"hub": args.hub, "device": answer["device"],
                            "instrument": answer["instrument"], "token": answer["token"]})
    print(f"enrolled as {answer['device']} for instrument {answer['instrument']}; "
          f"credential in {path}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    import urllib.request

    from edge.config import load_config
    from edge.spool import Spool
    from edge.status import format_status

    config = load_config(args.config)
    status = None
    if config.status_port:
        try:
            url = f"http://127.0.0.1:{config.status_port}/status"
            with urllib.request.urlopen(url, timeout=3) as response:
                status = json.load(response)
        except (OSError, ValueError):
            status = None
    if status is None:
        if not (config.spool_directory / "spool.db").exists():
            status = {"running": False, "states": {}, "used_bytes": 0,
                      "cap_bytes": config.cap_bytes}
            for state in ("pending", "in_flight", "acknowledged", "rejected", "corrupt"):
                status["states"][state] = {"files": 0, "bytes": 0, "stored_bytes": 0}
        else:
            spool = Spool(config.spool_directory, cap_bytes=config.cap_bytes)
            try:
                status = {**spool.status(), "running": False}
            finally:
                spool.close()
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


def run_fsck(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.daemon import quick_check_for
    from edge.fsck import fsck

    config = load_config(args.config)
    _log_to_stderr()
    check = quick_check_for(config) if config.quick_check_model not in ("hub",) else None
    report = fsck(config.spool_directory, check=check)
    for line in report.lines():
        print(line)
    return 1 if any("gone" in p for p in report.problems) else 0
