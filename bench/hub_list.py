"""A listing's cost as the catalogue grows: the newest 50 files a user may see.

    .venv/bin/python -m bench.hub_list [--files 1000 10000 100000]

The hub's own query (hub.catalog.search_files) on a real SQLite database of N
files on 10 instruments, half of them booked to the user's project: once with
the files_by_time index the query walks newest first, then with that index
dropped, which is what SQLite did before it (read every visible file, sort).
Prints milliseconds per listing and the ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from hub import accounts, catalog
from hub.auth import authenticate, issue_token
from hub.database import open_database

REPEATS = 20


def filled_database(path: Path, files: int):
    """A hub database with `files` committed files and a user who sees half of them."""
    db = open_database(path)
    user = accounts.add_user(db, "reader")
    accounts.add_project(db, "project", ["reader"])
    instruments = [accounts.add_instrument(db, f"instrument-{n}", ["project"] if n < 5 else [])
                   for n in range(10)]
    with db.atomic():
        db["devices"].insert_all([{"id": f"dev-{n}", "name": f"pi-{n}",
                                   "instrument_id": instruments[n], "created": 0.0}
                                  for n in range(10)])
        rng = random.Random(0)
        db.conn.executemany(
            "INSERT INTO files (id, instrument_id, device_id, upload_id, sha256, size, path, "
            "name, modified, committed, metadata) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [(f"file_{i}", instruments[i % 10], f"dev-{i % 10}", f"u{i}", "0" * 64, 100,
              f"run/{i}.raw", f"{i}.raw", rng.uniform(1.6e9, 1.8e9), 1.8e9, "{}")
             for i in range(files)])
    principal = authenticate(db, issue_token(db, "user", user_id=user, days=1)[1])
    return db, principal


def milliseconds_per_listing(db, principal) -> float:
    start = time.perf_counter()
    for _ in range(REPEATS):
        catalog.search_files(db, principal, catalog.FileQuery(limit=50))
    return (time.perf_counter() - start) / REPEATS * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 10_000, 100_000])
    args = parser.parse_args()
    print(f"{'files':>8} {'indexed ms':>11} {'sorting ms':>11} {'ratio':>7}")
    with tempfile.TemporaryDirectory(prefix="kozo-hub-list-") as folder:
        for files in args.files:
            db, principal = filled_database(Path(folder) / f"hub-{files}.sqlite3", files)
            indexed = milliseconds_per_listing(db, principal)
            db.execute("DROP INDEX files_by_time")
            sorting = milliseconds_per_listing(db, principal)
            db.conn.close()
            print(f"{files:>8} {indexed:>11.2f} {sorting:>11.2f} {sorting / indexed:>6.0f}×")


if __name__ == "__main__":
    main()
