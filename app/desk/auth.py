"""Who may use the desk: the web console's rules (app.web.server), checked on the server.

- The client's address must be on the allow-list (`app.control.access.AccessControl`,
  `local` by default), as for OSC and the console.
- The page and its static files carry no data: anyone on the allow-list gets them.
- Every API call, thumbnail, media file and the WebSocket carry a token (`?token=` or
  `Authorization: Bearer`): the console's `Tokens`, an `operate` token (rate, reject,
  pick, queue jobs) and a `view` token (look only).
- A browser's `Origin` must be the desk's own for anything that changes something (POST,
  the WebSocket), so another page open in the same browser cannot drive it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from app.control.access import AccessControl
from app.web.server import Role, Tokens

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS = ("/", "/favicon.ico")


class Access:
    """The tokens and the allow-list of one desk session."""

    def __init__(self, tokens: Tokens | None = None, allow: Iterable[str] | None = None) -> None:
        self.tokens = tokens or Tokens()
        self.control = AccessControl(allow)

    def role(self, request: web.Request) -> Role | None:
        """The role the request's token gives, or None."""
        token = request.query.get("token")
        header = request.headers.get("Authorization", "")
        if token is None and header.startswith("Bearer "):
            token = header[7:].strip()
        return self.tokens.role(token)

    @staticmethod
    def same_origin(request: web.Request) -> bool:
        """A browser's Origin must be the desk itself; clients without one (curl) pass."""
        origin = request.headers.get("Origin")
        return origin is None or origin in (f"http://{request.host}", f"https://{request.host}")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse what these rules forbid, with a plain reason."""
        if not self.control.allowed(request.remote or ""):
            raise web.HTTPForbidden(text="address not on the allow-list")
        if request.path in OPEN_PATHS or request.path.startswith("/static/"):
            return await handler(request)
        changes = request.method not in ("GET", "HEAD") or request.path == "/ws"
        if changes and not self.same_origin(request):
            raise web.HTTPForbidden(text="cross-origin request refused")
        role = self.role(request)
        if role is None:
            raise web.HTTPUnauthorized(
                text="this desk needs its token: open the address `python -m app desk` printed"
            )
        if request.method not in ("GET", "HEAD") and role != "operate":
            raise web.HTTPForbidden(text="a view token can look but not rate, reject or pick")
        return await handler(request)
