"""The model registry over HTTP: upload, list, download, choose current, predict.

Prediction runs the torch-free ONNX engine (model.infer.engine) in a worker
thread; loaded models are kept per (name, version), which never change.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
from pathlib import Path

from aiohttp import web

from hub.errors import BadRequest, NotFound, Unprocessable, UnsupportedMediaType
from hub.http_support import caller
from hub.request_bodies import read_json_object, save_body
from hub.state import CONFIG, MODELS
from kozo.errors import KozoError

STRUCTURE_SUFFIXES = (".cif", ".xyz", ".extxyz", ".vasp", ".poscar")
PREDICTORS = web.AppKey("predictors", dict)


async def upload_model(request: web.Request) -> web.Response:
    principal = caller(request).require("admin")
    if request.content_type not in ("application/zip", "application/octet-stream"):
        raise UnsupportedMediaType(f"send the artifact as application/zip; got "
                                   f"{request.content_type!r}")
    config = request.app[CONFIG]
    upload = config.temp_dir / f"model-{secrets.token_hex(8)}.zip"
    try:
        await save_body(request, upload, config.max_model_bytes, "a model archive")
        registry = request.app[MODELS]
        staged = await asyncio.to_thread(registry.unpack_upload, upload, config.max_model_bytes)
        record, created = registry.add_staged(staged, uploaded_by=principal.actor)
    finally:
        upload.unlink(missing_ok=True)
    return web.json_response(record, status=201 if created else 200)


async def list_models(request: web.Request) -> web.Response:
    caller(request).require("user", "admin")
    registry = request.app[MODELS]
    return web.json_response({"models": registry.all(), "current": registry.current()})


async def model_details(request: web.Request) -> web.Response:
    caller(request).require("user", "admin")
    info = request.match_info
    return web.json_response(request.app[MODELS].record(info["name"], info["version"]))


async def current_model(request: web.Request) -> web.Response:
    caller(request)  # every scope: the edges ask this
    current = request.app[MODELS].current()
    if current is None:
        raise NotFound("no model is marked current", code="no_current_model")
    return web.json_response({k: current[k] for k in ("name", "version", "sha256")})


async def choose_current_model(request: web.Request) -> web.Response:
    principal = caller(request).require("admin")
    body = await read_json_object(request, request.app[CONFIG].max_json_bytes)
    name, version = body.get("name"), body.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        raise BadRequest('send {"name": "NAME", "version": "VERSION"}', code="malformed_request")
    record = request.app[MODELS].set_current(name, version, principal.actor)
    return web.json_response({k: record[k] for k in ("name", "version", "sha256")})


async def download_archive(request: web.Request) -> web.FileResponse:
    caller(request)  # every scope: the edges download the current model
    info = request.match_info
    path = request.app[MODELS].archive(info["name"], info["version"])
    return web.FileResponse(path, headers={"Content-Type": "application/zip"})


def structure_file_name(requested: str | None) -> str:
    """A safe local name that keeps what the reader needs: the format's suffix or name."""
    name = (requested or "").replace("\\", "/").rsplit("/", 1)[-1]
    lowered = name.lower()
    for suffix in STRUCTURE_SUFFIXES:
        if lowered.endswith(suffix):
            return f"structure{suffix}"
    if re.match(r"(poscar|contcar)", lowered):
        return "POSCAR"
    raise BadRequest(f"give ?filename= with a structure file suffix "
                     f"({', '.join(STRUCTURE_SUFFIXES)}) or POSCAR; got {name[:80]!r}",
                     code="unknown_structure_format")


def _predict(artifact: Path, cache: dict, key: tuple[str, str], structure_path: Path) -> dict:
    from model.infer.engine import Predictor
    from model.structure_files import read_structure

    if key not in cache:
        cache[key] = Predictor(artifact)
    predictor = cache[key]
    structure = read_structure(structure_path)
    values = predictor.predict([structure])[0]
    units = {t.name: t.unit for t in predictor.metadata.targets}
    return {"formula": structure.formula,
            "values": {name: {"value": value, "unit": units[name]}
                       for name, value in values.items()}}


async def predict(request: web.Request) -> web.Response:
    caller(request).require("user", "admin")
    info = request.match_info
    config, registry = request.app[CONFIG], request.app[MODELS]
    artifact = registry.artifact(info["name"], info["version"])
    shown_name = request.query.get("filename", "")
    local_name = structure_file_name(shown_name)
    folder = config.temp_dir / f"predict-{secrets.token_hex(8)}"
    folder.mkdir()
    try:
        await save_body(request, folder / local_name, config.max_structure_bytes,
                        "a structure file")
        try:
            result = await asyncio.to_thread(_predict, artifact, request.app[PREDICTORS],
                                             (info["name"], info["version"]),
                                             folder / local_name)
        except KozoError as error:
            message = str(error).replace(str(folder / local_name), shown_name[:80] or "structure")
            raise Unprocessable(message, code="cannot_predict") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return web.json_response({"model": info["name"], "version": info["version"], **result})
