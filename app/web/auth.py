"""One access middleware for both browser servers: the web console (app.web.server) and the
desk (app.desk.server). It runs before every route, static files included, in this order:

1. the client's address must be on the allow-list (app.control.access; `local` by default);
2. the `Host` header must name this machine: an IP address (any: an address typed in the bar
   cannot be rebound), `localhost`, the machine's host name (with or without `.local`), or a
   name given in `names` (a venue DNS name). A page from another site that re-points its own
   name at this machine (DNS rebinding) sends that name as Host and is refused;
3. a browser's `Origin`, when sent, must be this server itself (`http(s)://` + Host);
4. except for the open paths (the page and its static files, which carry no data) a token
   (`?token=` or `Authorization: Bearer`) must give a role (`Tokens`: operate or view); it
   is left in `request["role"]` for the handlers. With `view_may_post=False` a view token
   may only look (GET, HEAD);
5. with `limit_posts`, requests that change something (anything but GET and HEAD) draw on the
   client's token bucket, the same bucket `bucket(remote)` gives the server's WebSocket and
   REST commands: one budget per client address, whatever the transport.

Every refusal is a JSON `{"ok": false, "error": reason}` with 403, 401 or 429, reported to
`refused(request, reason)` (the server's counter and rate-limited log).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from app.control.access import AccessControl

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS = ("/", "/favicon.ico")
OPEN_PREFIXES = ("/static/",)
RATE = 50.0  # requests that change something, a second per client (burst: twice that)
_MAX_BUCKETS = 1024


class Bucket:
    """Token bucket: `rate` a second, burst `2 * rate`."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.tokens = 2 * rate
        self.clock = clock
        self.last = clock()

    def take(self) -> bool:
        """Whether one more request may pass now (and count it)."""
        now = self.clock()
        self.tokens = min(2 * self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def host_name(header: str) -> str:
    """The name part of a Host header, lower case, without port, brackets or final dot."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    if h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def machine_names() -> set[str]:
    """The names this machine answers to without DNS: localhost and its host name."""
    names = {"localhost"}
    try:
        host = socket.gethostname().lower().rstrip(".")
    except OSError:
        host = ""
    if host:
        short = host.split(".")[0]
        names |= {host, short, f"{short}.local"}
    return names


@dataclass(frozen=True)
class Rules:
    """What one server lets through once a client passed the address, Host and Origin checks
    (steps 4 and 5 of the module docstring): the paths open without a token, whether a view
    token may post, whether posts draw on the client's bucket (`rate` a second), and the
    reason given to a request without a token."""

    open_paths: tuple[str, ...] = OPEN_PATHS
    open_prefixes: tuple[str, ...] = OPEN_PREFIXES
    view_may_post: bool = True
    limit_posts: bool = False
    rate: float = RATE
    no_token: str = "no token"


class Guard:
    """The middleware of the module docstring, for one server.

    `tokens` has `role(token) -> "operate" | "view" | None` (app.web.server.Tokens); `rules`
    are the server's own (the console's and the desk's differ).
    """

    def __init__(
        self,
        tokens: object,
        allow: Iterable[str] | None = None,
        *,
        names: Iterable[str] = (),
        rules: Rules = Rules(),
        clock: Callable[[], float] = time.monotonic,
        refused: Callable[[web.Request, str], None] | None = None,
    ) -> None:
        self.tokens = tokens
        self.control = AccessControl(allow, clock=clock)
        self.names = machine_names() | {host_name(n) for n in names}
        self.rules = rules
        self._clock = clock
        self._refused = refused
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def bucket(self, remote: str) -> Bucket:
        """The token bucket of one client address (shared by all its requests)."""
        b = self._buckets.get(remote)
        if b is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.popitem(last=False)
            b = self._buckets[remote] = Bucket(self.rules.rate, self._clock)
        else:
            self._buckets.move_to_end(remote)
        return b

    def host_ok(self, header: str | None) -> bool:
        """Whether a Host header names this machine (a missing one: not a browser, passes)."""
        if header is None:
            return True
        name = host_name(header)
        if name in self.names:
            return True
        try:
            ipaddress.ip_address(name.split("%", 1)[0])
        except ValueError:
            return False
        return True

    @staticmethod
    def origin_ok(request: web.Request) -> bool:
        """A browser's Origin must be this server; clients without one (curl) pass."""
        origin = request.headers.get("Origin")
        return origin is None or origin in (f"http://{request.host}", f"https://{request.host}")

    def role(self, request: web.Request) -> str | None:
        """The role the request's token gives, or None."""
        token = request.query.get("token")
        header = request.headers.get("Authorization", "")
        if token is None and header.startswith("Bearer "):
            token = header[7:].strip()
        return self.tokens.role(token)  # type: ignore[attr-defined]

    def _refuse(self, request: web.Request, reason: str, status: int) -> web.Response:
        if self._refused is not None:
            self._refused(request, reason)
        return web.json_response({"ok": False, "error": reason}, status=status)

    def check(self, request: web.Request) -> web.Response | None:
        """The refusal for a request, or None when it may go on (`request["role"]` set)."""
        if not self.control.allowed(request.remote or ""):
            return self._refuse(request, "address not on the allow-list", 403)
        if not self.host_ok(request.headers.get("Host")):
            return self._refuse(request, "unknown Host: open the address the server printed", 403)
        if not self.origin_ok(request):
            return self._refuse(request, "cross-origin request refused", 403)
        path = request.path
        if path in self.rules.open_paths or path.startswith(self.rules.open_prefixes):
            return None
        role = self.role(request)
        token = request.query.get("token") or request.headers.get("Authorization")
        if role is None:
            return self._refuse(request, "wrong token" if token else self.rules.no_token, 401)
        changes = request.method not in ("GET", "HEAD")
        if changes and role != "operate" and not self.rules.view_may_post:
            return self._refuse(request, "a view token can look but not change anything", 403)
        if changes and self.rules.limit_posts and not self.bucket(request.remote or "?").take():
            return self._refuse(request, "too many requests: slow down", 429)
        request["role"] = role
        return None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """aiohttp middleware: `check`, then the route."""
        refusal = self.check(request)
        if refusal is not None:
            return refusal
        return await handler(request)
