"""Who may use the desk: the web console's rules, through the same middleware
(app.web.auth.Guard), before every route, static files included.

- The client's address must be on the allow-list (`app.control.access.AccessControl`,
  `local` by default), as for OSC and the console; the `Host` header must name this
  machine (DNS rebinding) and a browser's `Origin` must be the desk's own.
- The page and its static files carry no data: anyone passing those checks gets them.
- Every API call, thumbnail, media file and the WebSocket carry a token (`?token=` or
  `Authorization: Bearer`): the console's `Tokens`, an `operate` token (rate, reject,
  pick, queue jobs) and a `view` token (look only).
- Requests that change something draw on the client's token bucket (50 a second, burst 100).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from aiohttp import web

from app.web.auth import Guard, Handler, Rules
from app.web.server import Role, Tokens

# a view token only looks; every change draws on the client's bucket
DESK_RULES = Rules(
    view_may_post=False,
    limit_posts=True,
    no_token="this desk needs its token: open the address `python -m app desk` printed",
)


class Access:
    """The tokens and the allow-list of one desk session."""

    def __init__(
        self,
        tokens: Tokens | None = None,
        allow: Iterable[str] | None = None,
        *,
        names: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tokens = tokens or Tokens()
        self.guard = Guard(
            self.tokens,
            allow,
            names=names,  # the --host name, when it is one
            rules=DESK_RULES,
            clock=clock,
        )
        self.control = self.guard.control

    def role(self, request: web.Request) -> Role | None:
        """The role the request's token gives, or None."""
        return self.guard.role(request)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse what these rules forbid, with a plain reason (app.web.auth.Guard)."""
        return await self.guard.middleware(request, handler)
