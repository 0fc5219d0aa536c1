"""The local spawner's record of running servers (pid, port, token per user), in one JSON file.

It lets a restarted hub find the servers it started. Guarantee: the file is
replaced atomically (write, fsync, rename), so a crash leaves the old or the
new record, never half of one; it is readable by its owner only, since it
holds the servers' tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kozo.durable import write_json_atomically


class StateFile:
    """A JSON object of user name -> server record, read and rewritten whole."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, dict[str, Any]]:
        """All records; an absent file is an empty record."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path} must hold a JSON object of user -> server; "
                             f"got {type(data).__name__}")
        return data

    def save(self, records: dict[str, dict[str, Any]]) -> None:
        """Replace all records at once."""
        write_json_atomically(self.path, records, indent=1)  # mode 0600: it holds tokens

    def put(self, user: str, record: dict[str, Any]) -> None:
        """Add or replace one user's record."""
        records = self.load()
        records[user] = record
        self.save(records)

    def remove(self, user: str) -> None:
        """Forget one user's record (absent is fine)."""
        records = self.load()
        if records.pop(user, None) is not None:
            self.save(records)
