"""The device credential: written once by `kozo edge enroll`, readable by its owner only.

Guarantee: the token file is created with mode 0600 before any byte of the
token is written, and replaces an older one atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edge.errors import CredentialError


def write_credential(path: Path, credential: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(credential, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def read_credential(path: Path) -> dict:
    """{"hub", "device", "instrument", "token"}."""
    try:
        credential = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CredentialError(f"{path}: no device credential; enrol first with "
                              "`kozo edge enroll --hub URL --code CODE`") from None
    except (OSError, ValueError) as error:
        raise CredentialError(f"{path}: unreadable device credential ({error})") from None
    if not isinstance(credential, dict) or not credential.get("token"):
        raise CredentialError(f"{path}: the credential holds no token; enrol again")
    return credential
