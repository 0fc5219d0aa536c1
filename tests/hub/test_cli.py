"""`kozo hub ...` through the real console entry point, on real data folders."""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from hub.app import create_app
from hub.auth import verify_password
from hub.config import ConfigError, load_config
from hub.database import open_database
from kozo.cli import build_parser, main
from kozo.ports import free_loopback_port


def kozo(*words: str, data=None) -> int:
    return main([*words, *(["--data", str(data)] if data is not None else [])])


def subcommand_parsers(parser: argparse.ArgumentParser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from subcommand_parsers(child, (*path, name))


def test_every_hub_command_has_help_with_an_example():
    hub = dict(subcommand_parsers(build_parser()))[("hub",)]
    commands = dict(subcommand_parsers(hub))
    assert {("serve",), ("admin", "user", "add"), ("admin", "project", "add"),
            ("admin", "instrument", "add"), ("admin", "enroll-code"), ("admin", "token"),
            ("backup",), ("restore",)} <= set(commands)
    for words, parser in commands.items():
        assert "Example" in (parser.description or ""), words


def test_adding_a_user_twice_is_one_line_error_and_changes_nothing(tmp_path, capsys):
    assert kozo("hub", "admin", "user", "add", "alice", data=tmp_path) == 0
    capsys.readouterr()
    assert kozo("hub", "admin", "user", "add", "alice", "--admin", data=tmp_path) == 2
    error = capsys.readouterr().err
    assert error == "kozo: error: a user named 'alice' exists already\n"
    db = open_database(tmp_path / "hub.sqlite3")
    assert [(u["name"], u["is_admin"]) for u in db["users"].rows] == [("alice", 0)]


def test_a_password_from_stdin_is_stored_only_as_a_scrypt_hash(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("correct horse battery\n"))
    assert kozo("hub", "admin", "user", "add", "root", "--admin", "--password-stdin",
                data=tmp_path) == 0
    db = open_database(tmp_path / "hub.sqlite3")
    stored = db["users"].get(next(iter(db["users"].rows))["id"])["password_hash"]
    assert stored.startswith("scrypt$")
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batter", stored)
    db.close()
    for path in tmp_path.iterdir():
        assert b"correct horse" not in path.read_bytes()


def test_a_project_with_an_unknown_member_is_refused_and_not_created(tmp_path, capsys):
    kozo("hub", "admin", "user", "add", "alice", data=tmp_path)
    assert kozo("hub", "admin", "project", "add", "alloys", "--member", "alice", "bob",
                data=tmp_path) == 2
    assert capsys.readouterr().err == "kozo: error: no user named 'bob'\n"
    assert open_database(tmp_path / "hub.sqlite3")["projects"].count == 0


@pytest.mark.parametrize("words, message", [
    (("admin", "enroll-code", "nope"), "no instrument named 'nope'"),
    (("admin", "token", "nobody"), "no user named 'nobody'"),
    (("admin", "token", "revoke"), "give one token to revoke"),
    (("admin", "token", "revoke", "tok_unknown"), "no such token"),
    (("admin", "user", "add", "../evil"), "user name must be"),
    (("admin", "enroll-code", "xrd-1", "--hours", "-1"), "--hours must be positive"),
])
def test_user_mistakes_are_one_line_and_exit_2(tmp_path, capsys, words, message):
    kozo("hub", "admin", "instrument", "add", "xrd-1", data=tmp_path)
    capsys.readouterr()
    assert kozo("hub", *words, data=tmp_path) == 2
    error = capsys.readouterr().err
    assert error.startswith("kozo: error: ") and message in error
    assert error.count("\n") == 1 and "Traceback" not in error


def test_a_bad_config_file_is_a_one_line_error(tmp_path, capsys):
    config = tmp_path / "hub.toml"
    config.write_text("port = 'eighty'\n")
    assert main(["hub", "admin", "user", "add", "alice", "--config", str(config)]) == 2
    assert capsys.readouterr().err == \
        f"kozo: error: {config}: port must be int; got 'eighty'\n"


def test_config_comes_from_toml_then_environment_then_command_line(tmp_path):
    config_file = tmp_path / "hub.toml"
    config_file.write_text(f"[hub]\nport = 9000\nhost = '0.0.0.0'\ndata_dir = '{tmp_path}/a'\n")
    config = load_config(config_file, {"KOZO_HUB_PORT": "9100"}, data_dir=tmp_path / "b")
    assert (config.host, config.port, config.data_dir) == ("0.0.0.0", 9100, tmp_path / "b")


def test_upload_slots_below_one_are_refused_with_the_setting_named(tmp_path, capsys):
    environment = {"KOZO_HUB_UPLOAD_SLOTS": "0"}
    with pytest.raises(ConfigError, match="environment: upload_slots must be at least 1"):
        load_config(None, environment, data_dir=tmp_path)


@pytest.mark.asyncio
async def test_a_printed_token_and_code_work_and_a_revoked_token_fails(tmp_path, capsys,
                                                                       aiohttp_client):
    assert kozo("hub", "admin", "user", "add", "alice", data=tmp_path) == 0
    assert kozo("hub", "admin", "project", "add", "alloys", "--member", "alice",
                data=tmp_path) == 0
    assert kozo("hub", "admin", "instrument", "add", "xrd-1", "--project", "alloys",
                data=tmp_path) == 0
    capsys.readouterr()
    assert kozo("hub", "admin", "token", "alice", "--days", "1", data=tmp_path) == 0
    token = capsys.readouterr().out.strip()
    assert kozo("hub", "admin", "enroll-code", "xrd-1", data=tmp_path) == 0
    code = capsys.readouterr().out.strip()

    client = await aiohttp_client(create_app(load_config(None, {}, data_dir=tmp_path)))
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert await me.json() == {"scope": "user", "name": "alice", "projects": ["alloys"]}
    enrolled = await client.post("/api/v1/devices/enroll", json={"code": code, "name": "pi"})
    assert (await enrolled.json())["instrument"] == "xrd-1"

    assert kozo("hub", "admin", "token", "revoke", token, data=tmp_path) == 0
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 401
    db = open_database(tmp_path / "hub.sqlite3")
    actions = [r["action"] for r in db.query("SELECT action FROM audit ORDER BY id")]
    assert actions == ["user.add", "project.add", "instrument.add", "token.issue",
                       "enrolment_code.add", "device.enroll", "token.revoke"]


def test_serve_answers_health_checks_on_the_given_port(tmp_path):
    port = free_loopback_port()
    server = subprocess.Popen([sys.executable, "-m", "kozo.cli", "hub", "serve", "--data",
                               str(tmp_path), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "KOZO_HUB_HOST": "127.0.0.1"})
    try:
        body = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b'{"status": "ok"}'
    finally:
        server.terminate()
        server.wait(timeout=10)
