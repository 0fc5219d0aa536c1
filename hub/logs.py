"""Structured logs: one JSON object per line, and one line per request.

A request's line names its route template (`/api/v1/files/{file_id}`), never its
query string, headers or body, so tokens, passwords and enrolment codes cannot
reach the log, whatever a client puts where. Lines are formatted and written by
a thread of their own (logging's QueueListener), so a slow terminal or pipe never
holds the event loop.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import time
from typing import Awaitable, Callable

from aiohttp import web
from logging.handlers import QueueHandler, QueueListener

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
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry)


class _HandOver(QueueHandler):
    """Queues the record itself for the writing thread: its fields stay fields, and only a
    traceback is turned into text here, while its frames are still alive."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        return record


def configure_logging(level: str, stream=None) -> QueueListener:
    """JSON lines on stderr (or `stream`) for the kozo.hub loggers, written by a thread of
    their own; stop the returned listener to write out what is queued."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    lines: queue.SimpleQueue = queue.SimpleQueue()
    listener = QueueListener(lines, handler)
    logger = logging.getLogger("kozo")
    logger.handlers[:] = [_HandOver(lines)]
    logger.setLevel(level.upper())
    logger.propagate = False
    listener.start()
    return listener


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
