"""The hub's settings: defaults, then one TOML file, then KOZO_HUB_* variables.

Later sources win, and the command line wins over all (`kozo hub serve --port`).
Every size is in bytes and every duration in the unit its name says.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from hub.errors import HubError

MiB = 1024 * 1024
ENV_PREFIX = "KOZO_HUB_"


class ConfigError(HubError):
    """A configuration file or variable that cannot be used."""


@dataclass
class HubConfig:
    data_dir: Path = field(default_factory=lambda: Path("hub-data"))
    host: str = "127.0.0.1"
    port: int = 8470
    max_chunk_bytes: int = 8 * MiB  # decompressed size of one chunk (protocol: 8 MiB)
    max_compressed_chunk_bytes: int = 9 * MiB  # a request body of one chunk PUT
    max_chunks_per_file: int = 16384  # 64 GiB at the default 4 MiB chunks
    max_files_per_commit: int = 256  # commits in one POST /api/v1/ingest/commits
    max_json_bytes: int = 4 * MiB  # offer and commit bodies
    max_metadata_bytes: int = 64 * 1024  # protocol: commit metadata at most 64 KiB
    max_model_bytes: int = 1024 * MiB  # a model archive upload
    max_structure_bytes: int = 16 * MiB  # a structure file sent for prediction
    min_free_bytes: int = 0  # refuse uploads (507) when the disk has less free
    upload_slots: int = 32  # chunk bodies taken in at once; the rest wait, so reads stay quick
    token_days: float = 90.0  # user and admin bearer tokens; 0 means no expiry
    device_token_days: float = 0.0  # device tokens; 0 means until revoked
    enrolment_code_hours: float = 24.0
    session_hours: float = 12.0  # the web page's login cookie
    login_failures: int = 10  # failed /login tries per address and per name in the window
    login_window_seconds: int = 900  # ... before /login answers 429 for a while
    log_level: str = "INFO"
    # Notebook servers (docs/hub.md, "Notebooks")
    spawner: str = "local"  # "local" (processes on this machine) or "kubernetes" (pods)
    hub_url: str = ""  # how users' servers reach the hub (KOZO_HUB_URL); "" = http://host:port
    notebook_dir: str = ""  # local spawner: users' working folders; "" = DATA/notebooks
    spawn_timeout_seconds: float = 60.0  # seconds a new server has to answer
    spawn_wait_seconds: float = 2.0  # seconds POST .../server waits before answering 202
    cull_idle_seconds: float = 3600.0  # stop servers with no proxied traffic this long; 0: never
    kubernetes_namespace: str = "kozo"
    kubernetes_image: str = "kozo-notebook:latest"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "hub.sqlite3"

    @property
    def chunk_dir(self) -> Path:
        return self.data_dir / "chunks"

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def temp_dir(self) -> Path:
        """Uploads land here first: on the data disk, so a rename into place is atomic."""
        return self.data_dir / "tmp"

    @property
    def notebook_root(self) -> Path:
        """The local spawner's folder of users' working directories."""
        return Path(self.notebook_dir).expanduser() if self.notebook_dir \
            else self.data_dir / "notebooks"

    @property
    def public_hub_url(self) -> str:
        """The hub's URL as users' servers see it, without a trailing slash."""
        if self.hub_url:
            return self.hub_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{host}:{self.port}"

    def with_values(self, values: Mapping[str, Any], source: str) -> "HubConfig":
        """A copy with `values` applied, each converted to the field's type."""
        known = {f.name: f for f in dataclasses.fields(self)}
        changes = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown setting {key!r}; "
                                  f"known: {', '.join(sorted(known))}")
            changes[key] = _convert(key, value, type(getattr(self, key)), source)
        for key in ("upload_slots", "login_failures", "login_window_seconds"):
            if changes.get(key, 1) < 1:
                raise ConfigError(f"{source}: {key} must be at least 1")
        return dataclasses.replace(self, **changes)


def _convert(key: str, value: Any, kind: type, source: str) -> Any:
    try:
        if kind is Path or issubclass(kind, Path):
            return Path(value).expanduser()
        if kind is int and not isinstance(value, bool):
            return int(value)
        if kind is float:
            return float(value)
        if kind is str:
            return str(value)
    except (TypeError, ValueError):
        pass
    raise ConfigError(f"{source}: {key} must be {kind.__name__}; got {value!r}")


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None,
                **overrides: Any) -> HubConfig:
    """Defaults ← TOML file ← KOZO_HUB_* variables ← non-None keyword overrides."""
    config = HubConfig()
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text())
        except OSError as error:
            raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not TOML ({error})") from None
        config = config.with_values(values.get("hub", values), str(path))
    environ = os.environ if environ is None else environ
    from_env = {name[len(ENV_PREFIX):].lower(): value for name, value in environ.items()
                if name.startswith(ENV_PREFIX)}
    config = config.with_values(from_env, "environment")
    return config.with_values({k: v for k, v in overrides.items() if v is not None},
                              "command line")
