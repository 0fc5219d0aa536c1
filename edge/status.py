"""What the daemon is doing, for people: a JSON object and a local HTTP endpoint.

`GET http://127.0.0.1:PORT/status` answers the same object `kozo edge status`
prints. It binds to loopback only and changes nothing.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from aiohttp import web


def format_status(status: dict[str, Any]) -> str:
    """The status object as a few lines for a terminal."""
    states = status["states"]
    pending = states["pending"]["files"] + states["in_flight"]["files"]
    pending_bytes = states["pending"]["bytes"] + states["in_flight"]["bytes"]
    last = status.get("last_sync") or status.get("last_acknowledged_at")
    lines = [
        f"daemon:        {'running' if status.get('running') else 'not running'}",
        f"pending:       {pending} file(s), {pending_bytes} bytes "
        f"({status['used_bytes']} of {status['cap_bytes']} spool bytes used)",
        f"acknowledged:  {states['acknowledged']['files']} file(s)",
        f"last sync:     {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(last)) if last else 'never'}",
    ]
    if status.get("spool_full"):
        lines.append(f"SPOOL FULL:    {status['spool_full']}")
    for state in ("rejected", "corrupt"):
        if states[state]["files"]:
            lines.append(f"{state}:{' ' * (14 - len(state))}{states[state]['files']} file(s)")
    errors = status.get("recent_errors", []) + status.get("entry_errors", [])
    if errors:
        lines.append("recent errors:")
        lines += [f"  {e.get('path', '') + ': ' if e.get('path') else ''}{e['error']}"
                  for e in errors[-10:]]
    return "\n".join(lines)


def status_app(collect: Callable[[], Any]) -> web.Application:
    """`collect` is an async callable returning the status object."""
    async def status(request: web.Request) -> web.Response:
        return web.json_response(await collect())

    app = web.Application()
    app.router.add_get("/status", status)
    return app
