"""The device credential: written once by `kozo edge enroll`, readable by its owner only.

Guarantee: the token file is created with mode 0600 before any byte of the
token is written, and replaces an older one atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.errors import CredentialError
from kozo.durable import write_json_atomically


def write_credential(path: Path, credential: dict) -> None:
    write_json_atomically(path, credential)  # mode 0600: the token is a secret


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
