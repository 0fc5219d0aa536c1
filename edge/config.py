"""edge.toml: the daemon's settings, read strictly so that a typo fails at start-up.

Example (every key is optional except watch.folders and hub.url/credential):

    [watch]
    folders = ["/srv/xrd"]        # folders the instrument PC writes into
    mode = "watch"                # "watch" (inotify + periodic scan) or "scan" (scan only)
    settle_seconds = 2.0          # a file is ready once unchanged this long after closing
    scan_interval_seconds = 300   # full scan period (catches overflow, downtime, USB gadget)
    include = ["*"]               # glob patterns on the path relative to its folder
    exclude = [".*", "*.tmp", "*~", "*.part"]

    [spool]
    directory = "/var/lib/kozo-edge/spool"
    cap_bytes = 8_000_000_000     # compressed bytes of unacknowledged files
    zstd_level = 3

    [hub]
    url = "https://hub.example.org"
    credential = "/var/lib/kozo-edge/credential.json"   # written by `kozo edge enroll`
    bandwidth_limit = 0           # bytes/s for chunk uploads; 0 = unlimited
    retry_max_seconds = 60        # ceiling of the exponential backoff
    concurrency = 8               # files uploaded at once

    [quick_check]
    model = "hub"                 # "hub", "off", a shipped name ("perovskite") or a path

    [status]
    port = 8787                   # local status endpoint on 127.0.0.1; 0 = off

    [metadata]                    # any JSON-able values, sent with every commit
    room = "B12"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.errors import ConfigError

DEFAULT_EXCLUDE = [".*", "*.tmp", "*~", "*.part", "*.swp"]
DEFAULT_CREDENTIAL = Path("/var/lib/kozo-edge/credential.json")

KNOWN_KEYS = {
    "watch": {"folders", "mode", "settle_seconds", "scan_interval_seconds", "include", "exclude"},
    "spool": {"directory", "cap_bytes", "zstd_level"},
    "hub": {"url", "credential", "bandwidth_limit", "retry_max_seconds", "concurrency"},
    "quick_check": {"model", "poll_seconds"},
    "status": {"port"},
    "metadata": None,  # free-form
}


@dataclass
class EdgeConfig:
    folders: list[Path]
    spool_directory: Path
    hub_url: str | None = None
    credential: Path = DEFAULT_CREDENTIAL
    mode: str = "watch"
    settle_seconds: float = 2.0
    scan_interval_seconds: float = 300.0
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    cap_bytes: int = 8_000_000_000
    zstd_level: int = 3
    bandwidth_limit: int = 0
    retry_max_seconds: float = 60.0
    concurrency: int = 8
    quick_check_model: str = "off"
    model_poll_seconds: float = 600.0
    status_port: int = 8787
    metadata: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None


def _get(section: dict, key: str, kind: type | tuple, where: str, default: Any) -> Any:
    if key not in section:
        return default
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: {key} must be {names}; got {value!r}")
    return value


def load_config(path: str | Path) -> EdgeConfig:
    """Read edge.toml; relative paths in it are taken from the file's own folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (see `kozo edge run --help`)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the config file ({error})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    return config_from_dict(raw, path)


def config_from_dict(raw: dict, path: Path) -> EdgeConfig:
    base = path.resolve().parent
    for name, value in raw.items():
        if name not in KNOWN_KEYS or not isinstance(value, dict):
            raise ConfigError(f"{path}: unknown section or key {name!r}; expected sections "
                              f"{', '.join(sorted(KNOWN_KEYS))}")
        known = KNOWN_KEYS[name]
        if known is not None and set(value) - known:
            unknown = ", ".join(sorted(set(value) - known))
            raise ConfigError(f"{path}: [{name}] has unknown keys {unknown}; "
                              f"expected {', '.join(sorted(known))}")
    watch, spool, hub = raw.get("watch", {}), raw.get("spool", {}), raw.get("hub", {})
    quick, status = raw.get("quick_check", {}), raw.get("status", {})
    folders = _get(watch, "folders", list, f"{path} [watch]", None)
    if not folders or not all(isinstance(f, str) for f in folders):
        raise ConfigError(f"{path}: [watch] folders must be a non-empty list of paths")
    mode = _get(watch, "mode", str, f"{path} [watch]", "watch")
    if mode not in ("watch", "scan"):
        raise ConfigError(f"{path}: [watch] mode must be 'watch' or 'scan'; got {mode!r}")
    if "directory" not in spool:
        raise ConfigError(f"{path}: [spool] directory is required")
    resolve = lambda p: (base / Path(p).expanduser()).resolve()  # noqa: E731
    config = EdgeConfig(
        folders=[resolve(f) for f in folders],
        spool_directory=resolve(_get(spool, "directory", str, f"{path} [spool]", "")),
        hub_url=_get(hub, "url", str, f"{path} [hub]", None),
        credential=resolve(_get(hub, "credential", str, f"{path} [hub]",
                                str(DEFAULT_CREDENTIAL))),
        mode=mode,
        settle_seconds=float(_get(watch, "settle_seconds", (int, float), f"{path} [watch]", 2.0)),
        scan_interval_seconds=float(_get(watch, "scan_interval_seconds", (int, float),
                                         f"{path} [watch]", 300.0)),
        include=_get(watch, "include", list, f"{path} [watch]", ["*"]),
        exclude=_get(watch, "exclude", list, f"{path} [watch]", list(DEFAULT_EXCLUDE)),
        cap_bytes=_get(spool, "cap_bytes", int, f"{path} [spool]", 8_000_000_000),
        zstd_level=_get(spool, "zstd_level", int, f"{path} [spool]", 3),
        bandwidth_limit=_get(hub, "bandwidth_limit", int, f"{path} [hub]", 0),
        retry_max_seconds=float(_get(hub, "retry_max_seconds", (int, float), f"{path} [hub]",
                                     60.0)),
        concurrency=_get(hub, "concurrency", int, f"{path} [hub]", 8),
        quick_check_model=_get(quick, "model", str, f"{path} [quick_check]", "off"),
        model_poll_seconds=float(_get(quick, "poll_seconds", (int, float),
                                      f"{path} [quick_check]", 600.0)),
        status_port=_get(status, "port", int, f"{path} [status]", 8787),
        metadata=raw.get("metadata", {}),
        source=path,
    )
    if config.settle_seconds < 0 or config.scan_interval_seconds <= 0:
        raise ConfigError(f"{path}: [watch] settle_seconds must be >= 0 and "
                          "scan_interval_seconds > 0 (seconds)")
    if config.cap_bytes <= 0:
        raise ConfigError(f"{path}: [spool] cap_bytes must be a positive number of bytes; "
                          f"got {config.cap_bytes}")
    if config.concurrency < 1:
        raise ConfigError(f"{path}: [hub] concurrency must be >= 1; got {config.concurrency}")
    return config
