"""Child processes of the demo (hub, edge daemon), started and stopped from outside.

The demo drives kozo through its public surface only: the `kozo` commands and
the hub's API through `hub.client`, as an administrator would. Each child's stderr goes to a
log file in the demo folder, so the terminal stays readable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from kozo.errors import KozoError


class DemoError(KozoError):
    """A step of the demo failed; the message says which and where its log is."""


def kozo_command(*arguments: str, input_text: str | None = None) -> str:
    """Run `kozo ...` to completion; its stdout, or DemoError with its stderr."""
    done = subprocess.run([sys.executable, "-m", "kozo", *arguments], input=input_text,
                          capture_output=True, text=True)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode
        raise DemoError(f"'kozo {' '.join(arguments[:3])} ...' failed: {reason}")
    return done.stdout


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


def wait_until_healthy(hub_url: str, service: Service, timeout: float = 60.0) -> None:
    """Until the hub answers /healthz (no token needed); DemoError if it stops or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        service.check_alive()
        try:
            with urllib.request.urlopen(hub_url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise DemoError(f"the hub did not become healthy within {timeout:.0f} s; see {service.log}")
