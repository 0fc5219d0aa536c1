"""Child processes of the demo (hub, edge daemon) and the small HTTP calls the demo makes.

The demo drives kozo through its public surface only: the `kozo` commands and
the hub's HTTP API, as an administrator would. Each child's stderr goes to a
log file in the demo folder, so the terminal stays readable.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from kozo.errors import KozoError


class DemoError(KozoError):
    """A step of the demo failed; the message says which and where its log is."""


def kozo_command(*arguments: str, input_text: str | None = None) -> str:
    """Run `kozo ...` to completion; its stdout, or DemoError with its stderr."""
    done = subprocess.run([sys.executable, "-m", "kozo", *arguments], input=input_text,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise DemoError(f"'kozo {' '.join(arguments[:3])} ...' failed: "
                        f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Service:
    """A long-running `kozo ...` child with its stderr in a log file; stopped with SIGTERM."""

    def __init__(self, name: str, arguments: list[str], log: Path) -> None:
        self.name, self.log = name, log
        self._log_handle = log.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "kozo", *arguments],
                                        stdout=self._log_handle, stderr=subprocess.STDOUT,
                                        start_new_session=True)  # Ctrl-C reaches us, not it

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise DemoError(f"the {self.name} stopped (exit {self.process.returncode}); "
                            f"see {self.log}")

    def stop(self, grace: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_handle.close()


class HubCalls:
    """JSON calls to the hub with one bearer token (stdlib only, like a script would)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url, self.token = url.rstrip("/"), token

    def call(self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
             content_type: str = "application/json", timeout: float = 30.0) -> Any:
        if body is not None:
            data = json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise DemoError(f"{method} {path}: HTTP {error.code} "
                            f"{error.read().decode(errors='replace')[:300]}") from None
        except (urllib.error.URLError, OSError) as error:
            raise DemoError(f"{method} {path}: the hub did not answer ({error})") from None
        return json.loads(payload) if payload else None

    def wait_until_healthy(self, service: Service, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            service.check_alive()
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise DemoError(f"the hub did not become healthy within {timeout:.0f} s; "
                        f"see {service.log}")
