"""A free TCP port on loopback, for the servers kozo starts (notebooks, the demo's hub, tests)."""

from __future__ import annotations

import socket


def free_loopback_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
