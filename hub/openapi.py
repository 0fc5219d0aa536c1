"""The OpenAPI 3.0 description of the hub's HTTP API, served at /api/v1/openapi.json.

Written by hand next to docs/ingest-protocol.md; a test checks it against the
app's routes, so an undocumented route or a documented ghost fails the build.
"""

from __future__ import annotations

from typing import Any

HASH = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
CHUNK_LIST = {"type": "array", "items": {"type": "object", "required": ["sha256", "size"],
              "properties": {"sha256": HASH, "size": {"type": "integer", "minimum": 1}}}}
OFFER = {"type": "object", "required": ["sha256", "size", "chunks"],
         "properties": {"sha256": HASH, "size": {"type": "integer", "minimum": 0},
                        "chunks": CHUNK_LIST}}
PREDICTIONS = {"type": "object", "nullable": True, "required": ["model", "version", "values"],
               "properties": {"model": {"type": "string"}, "version": {"type": "string"},
                              "values": {"type": "object", "additionalProperties": {
                                  "type": "object", "required": ["value"], "properties": {
                                      "value": {"type": "number"},
                                      "unit": {"type": "string", "nullable": True}}}}}}
COMMIT = {"type": "object", "required": ["upload_id", "sha256", "size", "chunks", "path"],
          "properties": {**OFFER["properties"], "upload_id": {"type": "string"},
                         "path": {"type": "string"},
                         "modified": {"type": "number", "nullable": True},
                         "metadata": {"type": "object", "nullable": True},
                         "predictions": PREDICTIONS,
                         "check_error": {"type": "string", "nullable": True}}}
FILE = {"type": "object", "properties": {
    "id": {"type": "string"}, "instrument": {"type": "string"}, "path": {"type": "string"},
    "name": {"type": "string"}, "size": {"type": "integer"}, "sha256": HASH,
    "modified": {"type": "number", "nullable": True}, "committed": {"type": "number"},
    "predictions": PREDICTIONS, "check_error": {"type": "string", "nullable": True}}}
MODEL = {"type": "object", "properties": {
    "name": {"type": "string"}, "version": {"type": "string"}, "sha256": HASH,
    "size": {"type": "integer"}}}
CURRENT = {"type": "object", "required": ["name", "version"],
           "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                          "sha256": HASH}}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _operation(summary: str, responses: dict[int, tuple[str, dict | None]], *,
               body: dict | None = None, body_type: str = "application/json",
               parameters: list | None = None, secure: bool = True,
               body_required: bool = True) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {}}
    for status, (description, schema) in responses.items():
        answer: dict[str, Any] = {"description": description}
        if schema is not None:
            answer.update(_json(schema))
        operation["responses"][str(status)] = answer
    if secure:
        operation["security"] = [{"bearer": []}]
        operation["responses"].setdefault("401", {"description": "no or bad token",
                                                  **_json(ERROR)})
        operation["responses"].setdefault("403", {"description": "token lacks the scope",
                                                  **_json(ERROR)})
    operation["responses"].setdefault("400", {"description": "malformed", **_json(ERROR)})
    if body is not None:
        operation["responses"].setdefault("413", {"description": "too large", **_json(ERROR)})
        operation["responses"].setdefault("415", {"description": "wrong content type",
                                                  **_json(ERROR)})
    if any(p["in"] == "path" for p in parameters or []):
        operation["responses"].setdefault("404", {"description": "unknown", **_json(ERROR)})
    if body is not None:
        operation["requestBody"] = {"required": body_required,
                                    "content": {body_type: {"schema": body}}}
    if parameters:
        operation["parameters"] = parameters
    return operation


def _path(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def _query(name: str, kind: str, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind},
            "description": description}


LOGIN = {"type": "object", "required": ["name", "password"],
         "properties": {"name": {"type": "string"}, "password": {"type": "string"}}}
FILE_ID = [_path("file_id")]
USER_NAME = [_path("name")]
SERVER = {"type": "object", "required": ["name", "state", "ready", "pending"], "properties": {
    "name": {"type": "string"},
    "state": {"type": "string", "enum": ["stopped", "starting", "running", "stopping", "failed"]},
    "message": {"type": "string"}, "ready": {"type": "boolean"},
    "pending": {"type": "string", "enum": ["spawn", "stop"], "nullable": True},
    "url": {"type": "string", "nullable": True}, "profile": {"type": "string", "nullable": True},
    "progress_url": {"type": "string"},
    "last_activity": {"type": "number", "nullable": True}}}
SERVER_OPTIONS = {"type": "object", "properties": {"profile": {"type": "string"}}}
MODEL_ID = [_path("name"), _path("version")]
NOT_FOUND = (404, ("unknown", ERROR))
FILE_QUERY = [
    _query("instrument", "string", "instrument name"),
    _query("project", "string", "project name"),
    _query("since", "number", "modified at or after (seconds since the epoch)"),
    _query("until", "number", "modified before (seconds since the epoch)"),
    _query("name", "string", "part of the file name, any case"),
    _query("property", "string", "a predicted property, e.g. heat_all"),
    _query("min", "number", "the property's lowest value (with property)"),
    _query("max", "number", "the property's highest value (with property)"),
    _query("limit", "integer", "at most this many files (1-1000, default 100)"),
    _query("offset", "integer", "skip this many files"),
]


def openapi_spec() -> dict[str, Any]:
    paths = {
        "/healthz": {"get": _operation("liveness", {200: ("ok", {"type": "object"})},
                                       secure=False)},
        "/metrics": {"get": _operation("Prometheus metrics (text)", {200: ("metrics", None)},
                                       secure=False)},
        "/api/v1/openapi.json": {"get": _operation("this description",
                                                   {200: ("OpenAPI 3", {"type": "object"})},
                                                   secure=False)},
        "/api/v1/devices/enroll": {"post": _operation(
            "enrol a device with a one-time code",
            {201: ("enrolled", {"type": "object"}), 403: ("code invalid, used or expired", ERROR)},
            body={"type": "object", "required": ["code", "name"], "properties": {
                "code": {"type": "string"}, "name": {"type": "string"}}}, secure=False)},
        "/api/v1/ingest/offer": {"post": _operation(
            "which chunks of a file the hub lacks",
            {200: ("missing chunks", {"type": "object"}), 413: ("too many chunks", ERROR)},
            body=OFFER)},
        "/api/v1/ingest/chunks/{sha256}": {"put": _operation(
            "store one zstd-compressed chunk",
            {200: ("already held", {"type": "object"}), 201: ("stored", {"type": "object"}),
             413: ("too large", ERROR), 415: ("not application/zstd", ERROR),
             422: ("hash mismatch", ERROR), 507: ("storage full", ERROR)},
            body={"type": "string", "format": "binary"}, body_type="application/zstd",
            parameters=[_path("sha256", HASH)])},
        "/api/v1/ingest/commit": {"post": _operation(
            "commit a file whose chunks are stored",
            {200: ("committed before", {"type": "object"}), 201: ("committed", {"type": "object"}),
             409: ("missing chunks or upload_id reused", ERROR), 422: ("hash mismatch", ERROR)},
            body=COMMIT)},
        "/api/v1/ingest/commits": {"post": _operation(
            "commit several files whose chunks are stored; one result per file, in order",
            {200: ("a result per commit: status, and file or error", {
                "type": "object", "properties": {"results": {"type": "array", "items": {
                    "type": "object"}}}}),
             400: ("a malformed commit (named)", ERROR), 413: ("too many files", ERROR)},
            body={"type": "object", "required": ["commits"], "properties": {
                "commits": {"type": "array", "minItems": 1, "items": COMMIT}}})},
        "/api/v1/me": {"get": _operation("the caller's scope and projects",
                                         {200: ("caller", {"type": "object"})})},
        "/api/v1/files": {"get": _operation(
            "list and search the caller's files",
            {200: ("files", {"type": "object", "properties": {
                "files": {"type": "array", "items": FILE}}})}, parameters=FILE_QUERY)},
        "/api/v1/files/{file_id}": {
            "get": _operation("a file's metadata", {200: ("file", FILE), 404: NOT_FOUND[1]},
                              parameters=FILE_ID),
            "delete": _operation("delete a file (admin; audited)",
                                 {200: ("deleted", {"type": "object"}), 404: NOT_FOUND[1]},
                                 parameters=FILE_ID)},
        "/api/v1/files/{file_id}/content": {"get": _operation(
            "the file's original bytes; Range supported",
            {200: ("whole file", None), 206: ("a byte range", None), 404: NOT_FOUND[1],
             416: ("range not satisfiable", ERROR)},
            parameters=FILE_ID + [{"name": "Range", "in": "header", "required": False,
                                   "schema": {"type": "string"}}])},
        "/api/v1/files/{file_id}/predictions": {"get": _operation(
            "a file's predicted properties", {200: ("predictions", {"type": "object"}),
                                              404: NOT_FOUND[1]}, parameters=FILE_ID)},
        "/api/v1/models": {
            "get": _operation("registered models", {200: ("models", {"type": "object"})}),
            "post": _operation("upload an artifact zip (admin)",
                               {200: ("held already", MODEL), 201: ("stored", MODEL),
                                409: ("version exists with other content", ERROR),
                                413: ("too large", ERROR), 415: ("not a zip", ERROR)},
                               body={"type": "string", "format": "binary"},
                               body_type="application/zip")},
        "/api/v1/models/current": {
            "get": _operation("the model edges should use",
                              {200: ("current", CURRENT), 404: ("no current model", ERROR)}),
            "put": _operation("choose the current model (admin)",
                              {200: ("current", CURRENT), 404: NOT_FOUND[1]}, body=CURRENT)},
        "/api/v1/models/{name}/{version}": {"get": _operation(
            "one model's description", {200: ("model", MODEL), 404: NOT_FOUND[1]},
            parameters=MODEL_ID)},
        "/api/v1/models/{name}/{version}/archive": {"get": _operation(
            "the artifact as a zip (model.json, model.onnx)",
            {200: ("zip", None), 404: NOT_FOUND[1]}, parameters=MODEL_ID)},
        "/api/v1/models/{name}/{version}/predict": {"post": _operation(
            "predict properties of one structure file (CIF, XYZ, POSCAR)",
            {200: ("predictions", {"type": "object"}), 404: NOT_FOUND[1],
             422: ("not a structure the model can judge", ERROR)},
            body={"type": "string", "format": "binary"}, body_type="application/octet-stream",
            parameters=MODEL_ID + [{"name": "filename", "in": "query", "required": True,
                                    "schema": {"type": "string"}}])},
        "/api/v1/users/{name}/server": {
            "post": _operation(
                "start the user's notebook server (the user or an admin)",
                {201: ("ready", SERVER), 202: ("starting: follow progress_url", SERVER),
                 404: ("no such user", ERROR), 409: ("a start or stop is under way", ERROR),
                 502: ("the server could not start", ERROR),
                 504: ("the server did not answer in time", ERROR)},
                body=SERVER_OPTIONS, body_required=False, parameters=USER_NAME),
            "get": _operation("the user's notebook server", {200: ("server", SERVER)},
                              parameters=USER_NAME),
            "delete": _operation("stop the user's notebook server",
                                 {204: ("stopped", None), 202: ("stopping", SERVER)},
                                 parameters=USER_NAME)},
        "/api/v1/users/{name}/server/progress": {"get": _operation(
            "the start's progress as server-sent events (data: JSON), ending with a final one",
            {200: ("text/event-stream", None)}, parameters=USER_NAME)},
        "/": {"get": _operation("the web page: one's files (session cookie)",
                                {200: ("HTML page", None), 303: ("to the login form", None)},
                                parameters=[_query("name", "string", "part of a file name")],
                                secure=False)},
        "/login": {
            "get": _operation("the login form", {200: ("HTML form", None)}, secure=False),
            "post": _operation("log in; sets the session cookie",
                               {303: ("logged in", None), 401: ("wrong name or password", None),
                                429: ("too many failed logins; see Retry-After", None)},
                               body=LOGIN, body_type="application/x-www-form-urlencoded",
                               secure=False)},
        "/logout": {"post": _operation("log out; ends the session",
                                       {303: ("to the login form", None)}, secure=False)},
    }
    return {"openapi": "3.0.3",
            "info": {"title": "kozo hub", "version": "1",
                     "description": "See docs/ingest-protocol.md for the edge's contract."},
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "paths": paths}
