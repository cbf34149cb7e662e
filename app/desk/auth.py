"""Who may use the desk: checked on the server, for every request.

The seam the web console's access rules plug into (issue 12): a client must come from an
allowed network (loopback by default), carry the session's token (opened once as
`/?token=...`, then kept in an HttpOnly cookie, or sent as `Authorization: Bearer ...`),
and a request that changes something (POST, the WebSocket) from a browser must come from
the desk's own origin, so that another page open in the same browser cannot drive it.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

COOKIE = "desk_token"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> list[Network]:
    """`--allow` values (addresses or networks) -> networks; ValueError names a bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(
                f"--allow {value}: expected an address or network (10.0.0.0/24)"
            ) from None
    return out


class Access:
    """The token and the allow-list of one desk session."""

    def __init__(self, token: str | None = None, allow: Sequence[Network] = ()) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.allow = list(allow) or [
            ipaddress.ip_network("127.0.0.0/8"),
            ipaddress.ip_network("::1/128"),
        ]

    def allowed_peer(self, request: web.Request) -> bool:
        """True when the client's address is in an allowed network."""
        peer = request.remote or ""
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in net for net in self.allow)

    def token_ok(self, given: str | None) -> bool:
        """Constant-time comparison with the session token."""
        return bool(given) and hmac.compare_digest(str(given), self.token)

    def given_token(self, request: web.Request) -> str | None:
        """The token a request carries (cookie, bearer header or `?token=`)."""
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[7:].strip()
        return request.cookies.get(COOKIE) or request.query.get("token")

    def same_origin(self, request: web.Request) -> bool:
        """A browser's Origin must be the desk itself; clients without one (curl) pass."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        return origin in (f"http://{request.host}", f"https://{request.host}")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse what these rules forbid, with a plain reason."""
        if not self.allowed_peer(request):
            raise web.HTTPForbidden(text=f"the desk does not serve {request.remote}")
        if not self.token_ok(self.given_token(request)):
            raise web.HTTPUnauthorized(
                text="this desk needs its token: open the address `python -m app desk` printed"
            )
        changes = request.method not in ("GET", "HEAD") or request.path == "/ws"
        if changes and not self.same_origin(request):
            raise web.HTTPForbidden(text="cross-origin request refused")
        response = await handler(request)
        if request.query.get("token") and request.method == "GET":
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
        return response
