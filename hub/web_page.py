"""A small server-rendered page: log in with a password, list one's files, download them.

The login sets an HttpOnly, SameSite=Strict session cookie holding a session
token (stored hashed like every token). The cookie authenticates only GET and
HEAD (see hub.http_support.caller), so the page can list and download but nothing a
cookie carries can change data. Every value shown is HTML-escaped. Failed logins
are counted per address and per name (hub.login_throttle) to slow password guessing.
"""

from __future__ import annotations

import asyncio
import html
import math
from urllib.parse import quote

from aiohttp import web

from hub import catalog
from hub.accounts import NAME_PATTERN
from hub.auth import authenticate, hash_password, issue_token, revoke_token, verify_password
from hub.errors import BadRequest, HubError, UnsupportedMediaType
from hub.http_support import SESSION_COOKIE, caller
from hub.state import CONFIG, DATABASE, LOGIN_THROTTLE

HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                      "form-action 'self'; frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
STYLE = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}"
         "table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:left}")
UNUSABLE_HASH = hash_password("no user has this password")  # equal work for unknown names


def page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=f"<!doctype html><html><head><meta charset='utf-8'><title>"
                             f"{html.escape(title)}</title><style>{STYLE}</style></head>"
                             f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
                        content_type="text/html", status=status, headers=HEADERS)


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, **HEADERS})


LOGIN_FORM = ("<form method='post' action='/login'><p><label>Name <input name='name' "
              "autocomplete='username'></label></p><p><label>Password <input type='password' "
              "name='password' autocomplete='current-password'></label></p>"
              "<p><button>Log in</button></p></form>")


async def login_form(request: web.Request) -> web.Response:
    return page("kozo: log in", LOGIN_FORM)


async def login(request: web.Request) -> web.Response:
    if request.content_type != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("send the login form as application/x-www-form-urlencoded")
    try:
        form = await request.post()
    except ValueError as error:
        raise BadRequest(f"not a readable form ({error})", code="malformed_form") from None
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    throttle, address = request.app[LOGIN_THROTTLE], request.remote or ""
    wait = math.ceil(throttle.wait_seconds(name, address))
    if wait > 0:
        response = page("kozo: log in", f"<p>Too many failed logins. Try again in {wait} s.</p>",
                        status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    db = request.app[DATABASE]
    rows = list(db.query("SELECT id, is_admin, password_hash FROM users WHERE name = ?",
                         [name])) if NAME_PATTERN.fullmatch(name) else []
    stored = rows[0]["password_hash"] if rows and rows[0]["password_hash"] else UNUSABLE_HASH
    # scrypt takes tens of milliseconds; in a thread (it releases the GIL), not the loop
    if not await asyncio.to_thread(verify_password, password, stored) or not rows:
        throttle.failed(name, address)
        return page("kozo: log in", "<p>Wrong name or password.</p>" + LOGIN_FORM, status=401)
    hours = request.app[CONFIG].session_hours
    _, session = issue_token(db, "admin" if rows[0]["is_admin"] else "user",
                             user_id=rows[0]["id"], days=hours / 24, kind="session")
    response = see_other("/")
    response.set_cookie(SESSION_COOKIE, session, max_age=int(hours * 3600), httponly=True,
                        samesite="Strict", secure=request.secure, path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        try:
            authenticate(request.app[DATABASE], session, kind="session")
            revoke_token(request.app[DATABASE], session)
        except HubError:
            pass  # an unknown or expired session is logged out already
    response = see_other("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def quick_check_text(file: dict) -> str:
    """The edge's predictions for a file as short escaped text ('' when it sent none)."""
    if file.get("check_error"):
        return html.escape(f"not checked: {file['check_error']}"[:120])
    values = (file.get("predictions") or {}).get("values") or {}
    return html.escape(", ".join(f"{name} {entry.get('value', float('nan')):.3g} "
                                 f"{entry.get('unit', '')}".rstrip()
                                 for name, entry in values.items()
                                 if isinstance(entry, dict)
                                 and isinstance(entry.get("value"), (int, float))))


async def file_list(request: web.Request) -> web.Response:
    try:
        principal = caller(request)
    except HubError:
        return see_other("/login")
    name = request.query.get("name", "")
    files = catalog.search_files(request.app[DATABASE], principal,
                                 catalog.FileQuery(name=name or None, limit=500))
    rows = "".join(
        f"<tr><td><a href='/api/v1/files/{quote(f['id'])}/content'>{html.escape(f['name'])}</a>"
        f"</td><td>{html.escape(f['instrument'])}</td><td>{html.escape(f['path'])}</td>"
        f"<td>{f['size']}</td><td class='check'>{quick_check_text(f)}</td></tr>" for f in files)
    body = (f"<p>Logged in as {html.escape(principal.name)}. "
            f"Your notebook server, once started: <a href='/user/{quote(principal.name)}/lab'>"
            f"/user/{html.escape(principal.name)}/lab</a>. "
            "<form method='post' action='/logout' style='display:inline'>"
            "<button>Log out</button></form></p>"
            f"<form method='get' action='/'><input name='name' value='{html.escape(name)}' "
            "placeholder='part of a file name'> <button>Search</button></form>"
            "<table><tr><th>file</th><th>instrument</th><th>path</th><th>bytes</th>"
            "<th>quick check</th></tr>"
            f"{rows}</table>")
    return page("kozo: your files", body)


def add_page_routes(app: web.Application) -> None:
    app.router.add_get("/", file_list)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
