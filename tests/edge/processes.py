"""Real processes over loopback for the edge tests: the daemon and its edge.toml.

The hub is the real one (tests/edge/real_hub.py); bench/edge.py uses the same pieces.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = ""):
    """Poll until predicate() is truthy; its value, or AssertionError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s: {what or predicate}")
        time.sleep(interval)


class DaemonProcess:
    """`python -m kozo edge run --config ...` with its stderr kept in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> "DaemonProcess":
        with open(self.log, "ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kozo", "edge", "run", "--config", str(self.config)],
                cwd=ROOT, stderr=err, stdout=subprocess.DEVNULL)
        return self

    def kill9(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> int | None:
        if self.process is None:
            return None
        self.process.terminate()
        try:
            code = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def started(daemon: DaemonProcess) -> DaemonProcess:
    """The daemon once it says it is watching its folders."""
    wait_until(lambda: "watching" in daemon.log_text(), timeout=30, what="daemon start-up")
    return daemon


@contextmanager
def running_daemon(config: Path, log: Path) -> Iterator[DaemonProcess]:
    """The daemon, once watching, for the block; stopped when it ends, even on a failure,
    so that what follows the block sees the daemon's final state."""
    daemon = DaemonProcess(config, log).start()
    try:
        yield started(daemon)
    finally:
        daemon.stop()


def write_edge_config(directory: Path, *, folders: list[Path], hub_url: str,
                      settle_seconds: float = 0.2, scan_interval_seconds: float = 2.0,
                      mode: str = "watch", cap_bytes: int = 1_000_000_000,
                      retry_max_seconds: float = 1.0, quick_check_model: str = "off",
                      status_port: int = 0, concurrency: int = 4, extra: str = "",
                      credential: Path) -> Path:
    """An edge.toml naming `credential` (where `kozo edge enroll` wrote one)."""
    config = directory / "edge.toml"
    config.write_text(f"""
[watch]
folders = {json.dumps([str(f) for f in folders])}
mode = "{mode}"
settle_seconds = {settle_seconds}
scan_interval_seconds = {scan_interval_seconds}

[spool]
directory = {json.dumps(str(directory / "spool"))}
cap_bytes = {cap_bytes}

[hub]
url = "{hub_url}"
credential = {json.dumps(str(credential))}
retry_max_seconds = {retry_max_seconds}
concurrency = {concurrency}

[quick_check]
model = {json.dumps(quick_check_model)}

[status]
port = {status_port}
{extra}
""")
    return config
