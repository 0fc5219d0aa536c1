"""`kozo hub ...`: the hub's commands (serve, admin, backup, restore).

Every command finds the hub's data the same way: --config FILE (TOML), then
KOZO_HUB_* variables, then --data DIR. Mistakes raise HubError (a KozoError),
which `kozo` prints as one line with exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kozo.arguments import add_command, add_command_group
from hub.config import HubConfig, load_config
from hub.errors import BadRequest


def add_hub_commands(commands: argparse._SubParsersAction) -> None:
    """Register `kozo hub` and its subcommands."""
    hub_commands = add_command_group(
        commands, "hub", help="run and administer the hub",
        description="Run and administer the kozo hub.\n\nExamples:\n"
                    "  kozo hub serve --data /srv/kozo\n"
                    "  kozo hub admin user add alice --data /srv/kozo")
    _add_serve(hub_commands)
    _add_admin(hub_commands)
    _add_backup(hub_commands)


def _storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, metavar="HUB.TOML",
                        help="settings file (keys of HubConfig, optionally under [hub])")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="data folder: database, chunks, models (default: ./hub-data)")


def config_from(args: argparse.Namespace) -> HubConfig:
    return load_config(args.config, data_dir=args.data, host=getattr(args, "host", None),
                       port=getattr(args, "port", None), spawner=getattr(args, "spawner", None))


def _database(args: argparse.Namespace):
    from hub.database import open_database
    return open_database(config_from(args).database_path)


def _add_serve(hub_commands: argparse._SubParsersAction) -> None:
    serve = add_command(hub_commands, "serve", help="run the hub's HTTP server",
                        description="Serve the hub's API (ingest, data, models, notebook "
                                    "servers) over HTTP.\nLogs are JSON lines on stderr. "
                                    "Notebook servers left running at exit\nare adopted by "
                                    "the next start.\n\nExample:\n"
                                    "  kozo hub serve --config hub.toml --spawner local")
    _storage_options(serve)
    serve.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (default: 8470)")
    serve.add_argument("--spawner", choices=("local", "kubernetes"),
                       help="where users' notebook servers run (default: local processes)")
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from hub.app import create_app
    from hub.logs import configure_logging

    config = config_from(args)
    log_writer = configure_logging(config.log_level)
    try:
        web.run_app(create_app(config), host=config.host, port=config.port, access_log=None,
                    print=lambda message: print(message, file=sys.stderr))
    finally:
        log_writer.stop()
    return 0


def _add_admin(hub_commands: argparse._SubParsersAction) -> None:
    admin_commands = add_command_group(
        hub_commands, "admin", help="manage users, projects, instruments, tokens",
        description="Manage the hub's users, projects, instruments and tokens.\n\n"
                    "Example:\n  kozo hub admin user add alice --data /srv/kozo")

    user_commands = add_command_group(
        admin_commands, "user", help="manage users",
        description="Manage users.\n\nExample:\n  kozo hub admin user add alice")
    user_add = add_command(
        user_commands, "add", help="add a user (a member, or an admin)",
        description="Add a user. A password (for the web page) is read from stdin.\n\n"
                    "Examples:\n  kozo hub admin user add alice\n"
                    "  echo 'long secret' | kozo hub admin user add root --admin --password-stdin")
    user_add.add_argument("name", help="login name: letters, digits, . _ @ -")
    user_add.add_argument("--admin", action="store_true", help="may do everything")
    user_add.add_argument("--password-stdin", action="store_true",
                          help="read the password (at least 8 characters) from stdin's first line")
    _storage_options(user_add)
    user_add.set_defaults(run=run_user_add)

    project_commands = add_command_group(
        admin_commands, "project", help="manage projects",
        description="Manage projects (groups of users).\n\nExample:\n"
                    "  kozo hub admin project add alloys --member alice bob")
    project_add = add_command(
        project_commands, "add", help="add a project with its members",
        description="Add a project; its members see the files of its instruments.\n\n"
                    "Example:\n  kozo hub admin project add alloys --member alice bob")
    project_add.add_argument("name", help="project name")
    project_add.add_argument("--member", nargs="+", default=[], metavar="USER",
                             help="users in the project")
    _storage_options(project_add)
    project_add.set_defaults(run=run_project_add)

    instrument_commands = add_command_group(
        admin_commands, "instrument", help="manage instruments",
        description="Manage instruments.\n\nExample:\n"
                    "  kozo hub admin instrument add xrd-1 --project alloys")
    instrument_add = add_command(
        instrument_commands, "add", help="add an instrument and the projects that own its files",
        description="Add an instrument. Its files belong to the projects given here.\n\n"
                    "Example:\n  kozo hub admin instrument add xrd-1 --project alloys oxides "
                    "--facility diffraction")
    instrument_add.add_argument("name", help="instrument name")
    instrument_add.add_argument("--project", nargs="+", default=[], metavar="PROJECT",
                                help="projects that own the instrument's files")
    instrument_add.add_argument("--facility", help="facility the instrument is part of")
    _storage_options(instrument_add)
    instrument_add.set_defaults(run=run_instrument_add)

    code = add_command(admin_commands, "enroll-code",
                       help="print a one-time code that enrols one device",
                       description="Print a one-time enrolment code for a device of an "
                                   "instrument.\nThe code works once and expires.\n\nExample:\n"
                                   "  kozo hub admin enroll-code xrd-1 --hours 2")
    code.add_argument("instrument", help="the instrument the device sits beside")
    code.add_argument("--hours", type=float, help="hours until it expires (default: 24)")
    _storage_options(code)
    code.set_defaults(run=run_enroll_code)

    token = add_command(admin_commands, "token", help="print or revoke a bearer token",
                        description="`token USER` prints a new bearer token for USER (admin scope "
                                    "for an admin,\nuser scope otherwise); `token revoke TOKEN` "
                                    "revokes one, by its id (tok_…)\nor by the token itself.\n\n"
                                    "Examples:\n  kozo hub admin token alice --days 30\n"
                                    "  kozo hub admin token revoke tok_0123abcd")
    token.add_argument("words", nargs="+", metavar="USER | revoke TOKEN")
    token.add_argument("--days", type=float, help="days until it expires (default: 90; 0: never)")
    _storage_options(token)
    token.set_defaults(run=run_token)


def run_user_add(args: argparse.Namespace) -> int:
    from hub.accounts import add_user
    password = None
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    user = add_user(_database(args), args.name, admin=args.admin, password=password)
    print(f"added {'admin' if args.admin else 'user'} {args.name} ({user})")
    return 0


def run_project_add(args: argparse.Namespace) -> int:
    from hub.accounts import add_project
    project = add_project(_database(args), args.name, args.member)
    print(f"added project {args.name} ({project}) with {len(set(args.member))} members")
    return 0


def run_instrument_add(args: argparse.Namespace) -> int:
    from hub.accounts import add_instrument
    instrument = add_instrument(_database(args), args.name, args.project, args.facility)
    print(f"added instrument {args.name} ({instrument}); its files belong to "
          f"{', '.join(args.project) or 'no project yet'}")
    return 0


def run_enroll_code(args: argparse.Namespace) -> int:
    from hub.accounts import new_enrolment_code
    config = config_from(args)
    hours = config.enrolment_code_hours if args.hours is None else args.hours
    if hours <= 0:
        raise BadRequest(f"--hours must be positive; got {hours}")
    code, expires = new_enrolment_code(_database(args), args.instrument, hours)
    print(code)
    print(f"enrols one device of {args.instrument}; expires "
          f"{time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(expires))}", file=sys.stderr)
    return 0


def run_token(args: argparse.Namespace) -> int:
    from hub.accounts import user_id
    from hub.auth import issue_token, revoke_token
    from hub.database import record_audit
    db = _database(args)
    if args.words[0] == "revoke":
        if len(args.words) != 2:
            raise BadRequest("give one token to revoke: kozo hub admin token revoke TOKEN_OR_ID")
        revoked = revoke_token(db, args.words[1])
        record_audit(db, "cli", "token.revoke", revoked)
        print(f"revoked {revoked}")
        return 0
    if len(args.words) != 1:
        raise BadRequest(f"give one user name; got {' '.join(args.words)!r}")
    name = args.words[0]
    user = user_id(db, name)
    days = config_from(args).token_days if args.days is None else args.days
    if days < 0:
        raise BadRequest(f"--days must be 0 (never expires) or more; got {days}")
    is_admin = db["users"].get(user)["is_admin"]
    with db.atomic():
        token_id, secret = issue_token(db, "admin" if is_admin else "user", user_id=user,
                                       days=days)
        record_audit(db, "cli", "token.issue", token_id, user=name, days=days)
    print(secret)
    print(f"token {token_id} for {name} ({'admin' if is_admin else 'user'} scope), "
          f"{'never expires' if not days else f'expires in {days:g} days'}", file=sys.stderr)
    return 0


def _add_backup(hub_commands: argparse._SubParsersAction) -> None:
    backup = add_command(hub_commands, "backup", help="copy the hub's data, while it serves",
                         description="Back up the database (SQLite online backup), chunks and "
                                     "models\ninto a new folder. Safe while the hub serves.\n\n"
                                     "Example:\n  kozo hub backup /backups/kozo-2026-11-24 "
                                     "--data /srv/kozo")
    backup.add_argument("destination", type=Path, metavar="DEST", help="a new or empty folder")
    _storage_options(backup)
    backup.set_defaults(run=run_backup)

    restore = add_command(hub_commands, "restore", help="restore a backup into a new data folder",
                          description="Restore a backup made by `kozo hub backup` into a data "
                                      "folder\nthat holds no hub database yet.\n\nExample:\n"
                                      "  kozo hub restore /backups/kozo-2026-11-24 "
                                      "--data /srv/kozo-new")
    restore.add_argument("source", type=Path, metavar="SRC", help="the backup folder")
    _storage_options(restore)
    restore.set_defaults(run=run_restore)


def run_backup(args: argparse.Namespace) -> int:
    from hub.backup import back_up
    summary = back_up(config_from(args), args.destination)
    print(f"backed up {summary.files} files ({summary.chunks} chunks) and {summary.models} "
          f"models into {args.destination}")
    return 0


def run_restore(args: argparse.Namespace) -> int:
    from hub.backup import restore
    config = config_from(args)
    summary = restore(args.source, config)
    print(f"restored {summary.files} files ({summary.chunks} chunks) and {summary.models} "
          f"models into {config.data_dir}")
    return 0
