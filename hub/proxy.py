"""`/user/<name>/...` forwarded to that user's Jupyter server: HTTP and websockets.

The hub authenticates the caller (a bearer or `token` Authorization header, or
the web page's session cookie) and lets through only the owner and admins; it
then adds the server's own Jupyter token, so users never need it. Bodies stream
both ways unbuffered and undecoded (Content-Encoding passes through); websocket
frames (text and binary) are relayed as they come and a close on either side
closes the other with its code. Every request and frame counts as activity for
idle culling.

A session cookie works for every method here (Jupyter needs POST from the
browser), so unsafe methods and websockets with a cookie must come from the
hub's own origin: the cookie is SameSite=Strict and the Origin is checked too.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from typing import AsyncIterator

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from hub.auth import Principal
from hub.errors import BadGateway, Forbidden, HubError, NotFound, Unauthorized
from hub.http_support import PRINCIPAL_KEY, SESSION_COOKIE, error_response
from hub.server_api import may_use_server
from hub.spawners import ServerInfo
from hub.state import DATABASE, NOTEBOOKS, PROXY_SESSION, TOKENS

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "trailers", "transfer-encoding", "upgrade", "host", "authorization"}
# The hub checked the origin itself; Jupyter would compare it with its own loopback
# Host and refuse the browser's requests as cross-origin.
NOT_FORWARDED = HOP_BY_HOP | {"origin"}
WEBSOCKET_HEADERS = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
                     "sec-websocket-protocol", "origin", "content-length"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def proxy_caller(request: web.Request) -> Principal:
    """The caller, by Authorization header (Bearer or token) or same-origin session cookie."""
    db, tokens = request.app[DATABASE], request.app[TOKENS]
    header = request.headers.get("Authorization", "")
    principal = None
    if header:
        kind, _, secret = header.partition(" ")
        try:
            if kind.lower() not in ("bearer", "token") or not secret.strip():
                raise Unauthorized("use Authorization: Bearer TOKEN", code="invalid_token")
            principal = tokens.authenticate(db, secret.strip())
        except Unauthorized:
            # JupyterLab in the browser sends its own server's token (from the page) beside
            # the hub's session cookie: the cookie decides then. Without one, refuse.
            if SESSION_COOKIE not in request.cookies:
                raise
    if principal is None and SESSION_COOKIE in request.cookies:
        principal = tokens.authenticate(db, request.cookies[SESSION_COOKIE], kind="session")
        unsafe = request.method not in SAFE_METHODS or _is_websocket(request)
        if unsafe and not _same_origin(request):
            raise Forbidden("a cross-site request cannot use the hub's session",
                            code="cross_site_request")
    elif principal is None:
        raise Unauthorized("log in to the hub, or send Authorization: Bearer TOKEN",
                           code="missing_token")
    request[PRINCIPAL_KEY] = principal
    return principal


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:  # browsers send Origin on cross-site unsafe requests and websockets
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")
    return origin == f"{request.scheme}://{request.host}"


def _is_websocket(request: web.Request) -> bool:
    return (request.method == "GET"
            and request.headers.get("Upgrade", "").lower() == "websocket")


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "")


def _not_running_page(name: str, starting: bool) -> web.Response:
    who = html.escape(name)
    text = (f"{who}'s server is starting; this page works once it is ready." if starting else
            f"{who}'s server is not running. Start it from a script or the API: "
            f"<code>POST /api/v1/users/{who}/server</code> with your token, "
            "then reload this page.")
    return web.Response(status=503, content_type="text/html", headers={"Retry-After": "2"},
                        text=f"<!doctype html><html><head><meta charset='utf-8'><title>"
                             f"kozo: server not running</title></head><body><p>{text}</p>"
                             "</body></html>")


def _server_for(request: web.Request, name: str) -> ServerInfo | web.Response:
    """The running server, or the answer saying it is not running."""
    notebooks = request.app[NOTEBOOKS]
    info = notebooks.spawner.server(name)
    if info is not None:
        return info
    rows = list(request.app[DATABASE].query("SELECT 1 FROM users WHERE name = ?", [name]))
    if not rows:
        raise NotFound(f"no user named {name[:64]!r}", code="unknown_user")
    starting = notebooks.pending(name) == "spawn"
    if _wants_html(request):
        return _not_running_page(name, starting)
    if starting:
        response = error_response(503, "server_starting", f"{name}'s server is starting; "
                                  f"follow /api/v1/users/{name}/server/progress")
    else:
        response = error_response(503, "server_not_running", f"{name}'s server is not "
                                  f"running; start it with POST /api/v1/users/{name}/server")
    response.headers["Retry-After"] = "2"
    return response


def _forwarded_headers(request: web.Request, info: ServerInfo) -> CIMultiDict[str]:
    headers: CIMultiDict[str] = CIMultiDict()
    for key, value in request.headers.items():
        lowered = key.lower()
        if lowered in NOT_FORWARDED:
            continue
        if lowered == "cookie":  # the hub's session stays with the hub
            kept = "; ".join(part for part in value.split(";")
                             if part.strip().partition("=")[0] != SESSION_COOKIE)
            if kept.strip():
                headers.add(key, kept)
            continue
        headers.add(key, value)
    headers["Authorization"] = f"token {info.token}"
    headers["X-Forwarded-Proto"] = request.scheme
    headers["X-Forwarded-Host"] = request.host
    if request.remote:
        headers["X-Forwarded-For"] = request.remote
    return headers


async def user_redirect(request: web.Request) -> web.Response:
    """`/user/<name>` → `/user/<name>/`."""
    raise web.HTTPFound(request.rel_url.with_path(request.path + "/"))


async def proxy(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    try:
        principal = proxy_caller(request)
    except Unauthorized:
        if _wants_html(request) and request.method == "GET":
            return web.Response(status=401, content_type="text/html",
                                text="<!doctype html><p>Log in to the hub first: "
                                     "<a href='/login'>log in</a>.</p>")
        raise
    if not may_use_server(principal, name):
        raise Forbidden(f"only {name[:64]} or an admin may use {name[:64]}'s server",
                        code="not_your_server")
    found = _server_for(request, name)
    if isinstance(found, web.Response):
        return found
    request.app[NOTEBOOKS].touch(name)
    # the server's base_url is the same /user/<name>/, so the path passes as it came
    target = URL(str(URL(found.url).origin()) + request.raw_path, encoded=True)
    headers = _forwarded_headers(request, found)
    if _is_websocket(request):
        return await _relay_websocket(request, name, target, headers)
    return await _relay_http(request, target, headers)


async def _relay_http(request: web.Request, target: URL,
                      headers: CIMultiDict[str]) -> web.StreamResponse:
    session = request.app[PROXY_SESSION]
    body = request.content if request.body_exists else None
    try:
        upstream_cm = session.request(request.method, target, headers=headers, data=body,
                                      allow_redirects=False)
        async with upstream_cm as upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            async for piece in upstream.content.iter_any():
                await response.write(piece)
            await response.write_eof()
            return response
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:
        raise _unreachable(error) from None


def _unreachable(error: BaseException) -> HubError:
    return BadGateway(f"the notebook server did not answer ({type(error).__name__}); "
                      "it may be restarting", code="server_unreachable")


async def _relay_websocket(request: web.Request, name: str, target: URL,
                           headers: CIMultiDict[str]) -> web.StreamResponse:
    session = request.app[PROXY_SESSION]
    notebooks = request.app[NOTEBOOKS]
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                 if p.strip()]
    for key in list(headers):
        if key.lower() in WEBSOCKET_HEADERS:
            del headers[key]
    try:
        upstream = await session.ws_connect(target, headers=headers, protocols=protocols,
                                            max_msg_size=0, autoclose=False)
    except aiohttp.WSServerHandshakeError as refused:
        return error_response(refused.status if refused.status >= 400 else 502,
                              "websocket_refused", f"the notebook server refused the "
                              f"websocket ({refused.status} {refused.message})")
    except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:
        raise _unreachable(error) from None
    downstream = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else (),
                                       max_msg_size=0, autoclose=False)
    try:
        await downstream.prepare(request)

        async def relay(source: AsyncIterator[aiohttp.WSMessage],
                        sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> int:
            """Copy frames until `source` closes; returns its close code."""
            async for message in source:
                notebooks.touch(name)
                if message.type is WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type is WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type is WSMsgType.CLOSE:
                    return int(message.data or 1000)
                else:  # CLOSING, CLOSED, ERROR
                    break
            return 1000

        to_server = asyncio.create_task(relay(_frames(downstream), upstream))
        to_user = asyncio.create_task(relay(_frames(upstream), downstream))
        done, pending = await asyncio.wait({to_server, to_user},
                                           return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        finished = done.pop()
        code = finished.result() if not finished.exception() else 1011
        closer = upstream if finished is to_server else downstream
        with contextlib.suppress(Exception):
            await closer.close(code=code)
    finally:
        with contextlib.suppress(Exception):
            await upstream.close()
        with contextlib.suppress(Exception):
            await downstream.close()
    return downstream


async def _frames(socket: web.WebSocketResponse | aiohttp.ClientWebSocketResponse
                  ) -> AsyncIterator[aiohttp.WSMessage]:
    """Every message, CLOSE included (aiohttp's own iteration hides the close)."""
    while True:
        message = await socket.receive()
        yield message
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
            return


async def proxy_session(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: one connection pool to the notebook servers (keep-alive cuts latency)."""
    session = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
    app[PROXY_SESSION] = session
    yield
    await session.close()


def add_proxy_routes(app: web.Application) -> None:
    app.router.add_route("*", "/user/{name}", user_redirect)
    app.router.add_route("*", "/user/{name}/{path:.*}", proxy)
