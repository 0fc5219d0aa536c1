"""User names made safe for Kubernetes object names, label values and URL paths.

A slug is a DNS-1123 label that also starts with a letter (so it is a valid
Service name, DNS-1035): lowercase letters, digits and '-', at most
MAX_SLUG_LENGTH characters. A name that already is one is kept as it is, so
objects are easy to find by eye; any other name gets a sanitised stem plus a
hash of the original after a double dash, which kept names never contain, so
two different names never share a slug ("Alice" and "alice" differ).
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

# Object names are "kozo-nb-<slug>" and "kozo-home-<slug>"; a Service name is at most 63 chars.
MAX_SLUG_LENGTH = 48
_SAFE = re.compile(r"^[a-z]([a-z0-9-]*[a-z0-9])?$")


def is_safe_slug(name: str) -> bool:
    """True if `name` can be used unchanged as a DNS-1035 label of MAX_SLUG_LENGTH or less."""
    return len(name) <= MAX_SLUG_LENGTH and "--" not in name and bool(_SAFE.match(name))


def user_slug(name: str) -> str:
    """A DNS-1035 label for user `name`, unique per name and stable across hub restarts."""
    if not name:
        raise ValueError("user name must not be empty")
    if is_safe_slug(name):
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    stem = stem.lstrip("0123456789-")[: MAX_SLUG_LENGTH - len(digest) - 2].rstrip("-")
    return f"{stem or 'u'}--{digest}"


def user_base_url(user: str) -> str:
    """The path prefix the hub proxies for `user`: `/user/<name>/`, the name percent-encoded."""
    return f"/user/{quote(user, safe='')}/"
