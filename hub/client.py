"""The hub from a notebook or a script: `from hub.client import Hub; Hub().files()`.

Synchronous on purpose (a notebook cell expects plain calls) and built on
urllib.request alone, so it imports in any kernel without an event loop or extra
packages. Inside a notebook server started by the hub, KOZO_HUB_URL and
KOZO_HUB_TOKEN are set and `Hub()` needs no arguments.

Guarantee of the cache: a cached file is stored under its sha256 only after its
bytes hashed to that value, so a cached path always holds the file's exact bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Mapping

from kozo.errors import KozoError

FileRef = str | Mapping[str, Any]  # a file id, or a file as `files()` lists it
PIECE = 1024 * 1024
MAX_PAGE = 1000  # the hub's largest page of a listing
STRUCTURE_SUFFIXES = (".cif", ".xyz", ".extxyz", ".vasp", ".poscar")


class HubClientError(KozoError):
    """The hub refused a request; `status` and `code` are the hub's."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class HubUnreachable(HubClientError):
    """No answer from the hub (wrong URL, hub down, network)."""


class Unauthorized(HubClientError):
    """The token is missing, unknown, expired or revoked."""


class Forbidden(HubClientError):
    """The token may not do this."""


class NotFound(HubClientError):
    """No such file or model, or one of another project (the hub does not tell which)."""


_BY_STATUS = {401: Unauthorized, 403: Forbidden, 404: NotFound}


def default_cache_dir() -> Path:
    """KOZO_CACHE_DIR, else ~/.cache/kozo/files."""
    configured = os.environ.get("KOZO_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "kozo" / "files"


class Hub:
    """A user's view of the hub: their files, predictions and models."""

    def __init__(self, url: str | None = None, token: str | None = None, *,
                 cache_dir: str | Path | None = None, timeout: float = 60.0) -> None:
        """url, token: default to KOZO_HUB_URL and KOZO_HUB_TOKEN.
        cache_dir: where `path()` keeps downloaded files (default: default_cache_dir()).
        timeout: seconds to wait for the hub on each request.
        """
        url = url or os.environ.get("KOZO_HUB_URL")
        token = token or os.environ.get("KOZO_HUB_TOKEN")
        if not url:
            raise HubClientError("no hub URL: pass Hub(url=...) or set KOZO_HUB_URL")
        if not token:
            raise HubClientError("no token: pass Hub(token=...) or set KOZO_HUB_TOKEN "
                                 "(kozo hub admin token NAME prints one)")
        self.url = url.rstrip("/")
        self.token = token
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Hub({self.url!r})"  # never the token

    # ---- files -----------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """Who the token belongs to: scope, name, projects."""
        return self._json("GET", "/api/v1/me")

    def files(self, *, instrument: str | None = None, project: str | None = None,
              since: float | None = None, until: float | None = None, name: str | None = None,
              property: str | None = None, min: float | None = None, max: float | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
        """The files you may see, newest first, filtered like GET /api/v1/files.

        since/until: seconds since the epoch (file modification time); name: part of
        the file name, any case; property with min/max: a predicted value's range.
        limit: at most this many (default: all, fetched page by page).
        """
        filters = {"instrument": instrument, "project": project, "since": since,
                   "until": until, "name": name, "property": property, "min": min, "max": max}
        query = {k: v for k, v in filters.items() if v is not None}
        found: list[dict[str, Any]] = []
        offset = 0
        while limit is None or len(found) < limit:
            page = MAX_PAGE if limit is None else sorted((MAX_PAGE, limit - len(found)))[0]
            answer = self._json("GET", "/api/v1/files", {**query, "limit": page,
                                                         "offset": offset})
            found.extend(answer["files"])
            if answer.get("next_offset") is None:
                break
            offset = answer["next_offset"]
        return found

    search = files  # the same call, for those who think of it as a search

    def file(self, file: FileRef) -> dict[str, Any]:
        """Everything about one file: summary, metadata, projects."""
        return self._json("GET", f"/api/v1/files/{_quote(_file_id(file))}")

    def read_bytes(self, file: FileRef) -> bytes:
        """The file's original bytes (from the cache when it holds them)."""
        return self.path(file).read_bytes()

    def path(self, file: FileRef) -> Path:
        """A local copy of the file, downloaded once: CACHE/<sha256>/<name>."""
        summary = file if isinstance(file, Mapping) and "sha256" in file else self.file(file)
        sha256 = str(summary["sha256"])
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise HubClientError(f"the hub gave a malformed sha256 for {summary['id']!r}")
        target = self.cache_dir / sha256 / _safe_name(str(summary.get("name") or "file"))
        if target.is_file():
            return target
        cached = next((p for p in target.parent.glob("*") if p.is_file()), None) \
            if target.parent.is_dir() else None
        if cached is not None:  # the same bytes under another name: link, do not download
            shutil.copyfile(cached, target)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        self._download(str(summary["id"]), sha256, target)
        return target

    def _download(self, file_id: str, sha256: str, target: Path) -> None:
        digest = hashlib.sha256()
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out, \
                    self._open("GET", f"/api/v1/files/{_quote(file_id)}/content") as response:
                while piece := response.read(PIECE):
                    digest.update(piece)
                    out.write(piece)
            if digest.hexdigest() != sha256:
                raise HubClientError(f"the download of {file_id} did not hash to {sha256}; "
                                     "try again")
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)

    def structure(self, file: FileRef, *, reader: str = "auto") -> Any:
        """The file read as a crystal structure.

        reader: "pymatgen" (a pymatgen Structure), "kozo" (model.structure_files.Structure),
        or "auto": pymatgen when it is installed, else kozo's reader.
        """
        path = self.path(file)
        if reader not in ("auto", "pymatgen", "kozo"):
            raise ValueError(f"reader must be 'auto', 'pymatgen' or 'kozo'; got {reader!r}")
        if reader in ("auto", "pymatgen"):
            try:
                from pymatgen.core import Structure
            except ImportError:
                if reader == "pymatgen":
                    raise HubClientError("reader='pymatgen' needs pymatgen installed") from None
            else:
                return Structure.from_file(str(path))
        from model.structure_files import read_structure
        return read_structure(path)

    def delete(self, file: FileRef) -> dict[str, Any]:
        """Delete a file (admin tokens), with an audit record at the hub; returns the hub's
        answer, which counts the chunks no other file uses any more."""
        return self._json("DELETE", f"/api/v1/files/{_quote(_file_id(file))}")

    def predictions(self, file: FileRef) -> dict[str, Any] | None:
        """The quick-check predictions the edge sent with the file (None if it sent none)."""
        return self._json("GET", f"/api/v1/files/{_quote(_file_id(file))}/predictions"
                          )["predictions"]

    # ---- models ----------------------------------------------------------------------

    def models(self) -> dict[str, Any]:
        """Registered models and the current one."""
        return self._json("GET", "/api/v1/models")

    def quick_check(self, structure: FileRef | Path, *, model: str | None = None,
                    version: str | None = None) -> dict[str, Any]:
        """Predict a structure's properties with a registered model, on the hub.

        structure: a hub file (id or listing entry) or a local path (pathlib.Path).
        model, version: default to the model marked current.
        Returns {"model", "version", "formula", "values": {name: {"value", "unit"}}}.
        """
        if model is None or version is None:
            current = self._json("GET", "/api/v1/models/current")
            model, version = model or current["name"], version or current["version"]
        path = structure if isinstance(structure, Path) else self.path(structure)
        query = urllib.parse.urlencode({"filename": path.name})
        return self._json("POST", f"/api/v1/models/{_quote(model)}/{_quote(version)}/predict"
                                  f"?{query}", body=path.read_bytes())

    def publish_model(self, archive: bytes) -> dict[str, Any]:
        """Upload a model artifact (a zip of model.json and model.onnx); admin tokens only.
        Returns the registry's record of it (name, version, sha256)."""
        return self._json("POST", "/api/v1/models", body=archive,
                          content_type="application/zip")

    def set_current_model(self, name: str, version: str) -> dict[str, Any]:
        """Mark the version every edge following the hub should use; admin tokens only."""
        return self._json("PUT", "/api/v1/models/current",
                          body=json.dumps({"name": name, "version": version}).encode(),
                          content_type="application/json")

    # ---- notebook server -------------------------------------------------------------

    def start_server(self, user: str | None = None, *, profile: str | None = None
                     ) -> dict[str, Any]:
        """Start the user's notebook server (default: the token's own user); returns its
        state, "running" once ready, "starting" while pending (poll `server()`)."""
        body = json.dumps({"profile": profile} if profile else {}).encode()
        return self._json("POST", f"/api/v1/users/{_quote(user or self.me()['name'])}/server",
                          body=body, content_type="application/json")

    def server(self, user: str | None = None) -> dict[str, Any]:
        """The notebook server's state, message and URL."""
        return self._json("GET", f"/api/v1/users/{_quote(user or self.me()['name'])}/server")

    def stop_server(self, user: str | None = None) -> None:
        with self._open("DELETE", f"/api/v1/users/{_quote(user or self.me()['name'])}/server"):
            pass

    # ---- HTTP ------------------------------------------------------------------------

    def _json(self, method: str, path: str, query: Mapping[str, Any] | None = None, *,
              body: bytes | None = None, content_type: str = "application/octet-stream") -> Any:
        if query:
            path += "?" + urllib.parse.urlencode(query)
        with self._open(method, path, body, content_type) as response:
            return json.loads(response.read())

    def _open(self, method: str, path: str, body: bytes | None = None,
              content_type: str = "application/octet-stream") -> Any:
        request = urllib.request.Request(self.url + path, data=body, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json",
            **({"Content-Type": content_type} if body is not None else {})})
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            raise _refusal(error, method, path) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise HubUnreachable(f"cannot reach the hub at {self.url} ({reason})") from None


def _refusal(error: urllib.error.HTTPError, method: str, path: str) -> HubClientError:
    """The hub's JSON error as an exception carrying its message, status and code."""
    code, message = "", error.reason
    try:
        detail = json.loads(error.read())["error"]
        code, message = detail["code"], detail["message"]
    except (ValueError, KeyError, TypeError):
        pass
    finally:
        error.close()
    kind = _BY_STATUS.get(error.code, HubUnreachable if error.code in (502, 503, 504)
                          else HubClientError)
    shown = path.split("?", 1)[0]
    return kind(f"{method} {shown}: {message} ({error.code}{' ' + code if code else ''})",
                status=error.code, code=code)


def _file_id(file: FileRef) -> str:
    return str(file["id"]) if isinstance(file, Mapping) else str(file)


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _safe_name(name: str) -> str:
    """The file name without folders, so a cache entry never escapes its folder."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return name if name not in ("", ".", "..") else "file"
