"""Structured logs: one JSON object per line, and one line per request.

A request's line names its route template (`/api/v1/files/{file_id}`), never its
query string, headers or body, so tokens, passwords and enrolment codes cannot
reach the log, whatever a client puts where.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Awaitable, Callable

from aiohttp import web

from hub.http_support import PRINCIPAL_KEY
from hub.state import METRICS

log = logging.getLogger("kozo.hub")
FIELDS = ("route", "method", "status", "seconds", "actor", "scope")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": round(record.created, 3), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: getattr(record, k) for k in FIELDS if hasattr(record, k)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, stream=None) -> None:
    """JSON lines on stderr (or `stream`) for the kozo.hub loggers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kozo")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


@web.middleware
async def request_log(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """Log and count every request by its route template (outside the error middleware)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        seconds = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "(no route)"
        principal = request.get(PRINCIPAL_KEY)
        metrics = request.app[METRICS]
        metrics.requests.labels(route, request.method, str(status)).inc()
        metrics.latency.labels(route).observe(seconds)
        log.info("request", extra={"route": route, "method": request.method, "status": status,
                                   "seconds": round(seconds, 4),
                                   "actor": principal.actor if principal else None,
                                   "scope": principal.scope if principal else None})
