"""The real hub for the edge's tests: `kozo hub serve` as a process on loopback.

One hub serves a test module. It is set up from the outside, as an administrator
would: `kozo hub admin` adds a project, a user who reads its files (`reader`) and an
admin (`root`); each test gets a fresh instrument of that project, an enrolment code
and a device enrolled by `kozo edge enroll`. What arrived is read back through the
hub's data API as `reader` (hub.client), never from the hub's folder. Other tests'
instruments in the same project are distractors: a test sees only its instrument.

The set-up commands run `kozo.cli.main` in this process (the same parser and code
as the console script, without a second of interpreter start-up per command);
test_operation runs `kozo edge enroll` as a process to check its exit code and output.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import signal
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path

from hub.client import Hub
from kozo.cli import main as kozo_main
from kozo.ports import free_loopback_port
from tests.edge.processes import ROOT, wait_until

PROJECT, READER, ADMIN = "edge-tests", "reader", "root"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def kozo(*arguments: str) -> str:
    """`kozo ARGUMENTS` through the CLI's own entry point; its stdout, or AssertionError."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = kozo_main(list(arguments))
    if code != 0:
        raise AssertionError(f"kozo {' '.join(arguments)} exited {code}: {err.getvalue()}")
    return out.getvalue()


class HubServer:
    """`python -m kozo hub serve --data DIR --port P`; killed and started again on the same
    data folder and port, as a crashed and restarted hub is."""

    def __init__(self, data: Path, log: Path) -> None:
        self.data = data
        self.log = log
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "HubServer":
        with open(self.log, "ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kozo", "hub", "serve", "--data", str(self.data),
                 "--port", str(self.port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
        wait_until(self._healthy, timeout=60, what=f"hub /healthz (log: {self.log})")
        return self

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the hub exited with {self.process.returncode}: "
                                 f"{self.log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the hub is down (a crash); its data folder stays for the next start."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def admin(self, *arguments: str) -> str:
        """`kozo hub admin ARGUMENTS --data DIR`; its stdout."""
        return kozo("hub", "admin", *arguments, "--data", str(self.data))


class Facility:
    """The module's hub with a project, its reader and an admin."""

    def __init__(self, folder: Path) -> None:
        self.hub = HubServer(folder / "data", folder / "hub.log")
        self.hub.admin("user", "add", READER)
        self.hub.admin("user", "add", ADMIN, "--admin")
        self.hub.admin("project", "add", PROJECT, "--member", READER)
        self.reader_token = self.hub.admin("token", READER).split()[0]
        self.admin = Hub(self.hub.url, self.hub.admin("token", ADMIN).split()[0])
        self._numbers = itertools.count(1)
        self.hub.start()

    def enrol(self, credential: Path, downloads: Path) -> "EnrolledInstrument":
        """A new instrument of the project and a device enrolled for it."""
        name = f"xrd-{next(self._numbers)}"
        self.hub.admin("instrument", "add", name, "--project", PROJECT)
        code = self.enrolment_code(name)
        kozo("edge", "enroll", "--hub", self.hub.url, "--code", code,
             "--credential", str(credential), "--name", f"pi-{name}")
        return EnrolledInstrument(name, credential,
                                  Hub(self.hub.url, self.reader_token, cache_dir=downloads))

    def enrolment_code(self, instrument: str) -> str:
        return self.hub.admin("enroll-code", instrument).split()[0]


class EnrolledInstrument:
    """An instrument at the hub with its enrolled device; what arrived, as `reader` sees it."""

    def __init__(self, name: str, credential: Path, reader: Hub) -> None:
        self.name = name
        self.credential = credential
        self.reader = reader

    @property
    def token(self) -> str:
        return json.loads(self.credential.read_text())["token"]

    def files(self) -> list[dict]:
        """The instrument's files as the data API lists them (path, sha256, predictions, …)."""
        return self.reader.files(instrument=self.name)

    def by_path(self) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for file in self.files():
            found.setdefault(file["path"], []).append(file)
        return found

    def arrived_exactly(self, expected: dict[str, bytes]) -> bool:
        """True when each expected (path, content) is at the hub once, and nothing else is."""
        arrived = Counter((f["path"], f["sha256"]) for f in self.files())
        return arrived == Counter({(path, sha256(data)): 1 for path, data in expected.items()})

    def content(self, file: dict) -> bytes:
        """The file's bytes, downloaded from the hub's data API."""
        return self.reader.read_bytes(file)
