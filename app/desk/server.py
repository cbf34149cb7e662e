"""The desk's HTTP server: aiohttp on its own thread and event loop, serving the page, a
small JSON API, thumbnails and media, and a WebSocket that pushes what changed.

Blocking work (thumbnails, listing a folder of thousands of files, copying a pick) runs in
the loop's thread pool; the job worker thread reports through `publish`, which hops onto
the loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from app.desk.auth import Access
from app.desk.jobs import JobQueue
from app.desk.store import DeskStore, PickResult, UndoResult
from app.generate.errors import GenerateError
from app.web import safe_json

STATIC = Path(__file__).resolve().parent / "static"


def _error(exc: GenerateError, status: int = 409) -> web.Response:
    return web.json_response({"error": str(exc)}, status=status)


class DeskServer:
    """Serves one show's desk on (host, port); `start()` returns once it listens."""

    def __init__(
        self,
        store: DeskStore,
        access: Access,
        *,
        make_backend: Callable[[], Any],
        make_executor: Callable[[Any], Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.store = store
        self.access = access
        self.host, self.port = host, port
        self.jobs = JobQueue(store, make_backend, self.publish, make_executor=make_executor)
        self._sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="desk-http", daemon=True)

    # --- life ---------------------------------------------------------------------------

    def start(self) -> DeskServer:
        """Start the server thread; raises if it could not listen."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def url(self, *, view: bool = False) -> str:
        """The address to open, with the operate (or view) token."""
        tokens = self.access.tokens
        return f"http://{self.host}:{self.port}/?token={tokens.view if view else tokens.operate}"

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port)
            loop.run_until_complete(site.start())
            server = site._server  # the bound socket: port 0 means "any free port"
            if server is not None and server.sockets:  # type: ignore[union-attr]
                self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def stop(self) -> None:
        """Stop serving and the job worker."""
        self.jobs.close()
        self.store.close()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # --- pushes -------------------------------------------------------------------------

    def publish(self, message: dict[str, Any]) -> None:
        """Send a message to every open page (any thread)."""
        if self._loop is None:
            return
        text = json.dumps(message, default=str)
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._broadcast(text)))

    def _picked(
        self, cue: str, variation: str | None, result: PickResult | UndoResult, **more: Any
    ) -> web.Response:
        """Tell every page, and the caller, the cue's pick now (after a pick or an undo)."""
        message = {
            "type": "picked",
            "cue": cue,
            "id": variation,
            **more,
            "media": str(result.media),
            "picks_file": str(result.picks_file),
        }
        self.publish(message)
        return web.json_response(message)

    async def _broadcast(self, text: str) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                try:
                    await ws.send_str(text)
                except (ConnectionError, RuntimeError):
                    pass

    # --- routes -------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application with its routes and the access rules."""
        app = web.Application(middlewares=[self.access.middleware], client_max_size=64 * 1024)
        r = app.router
        r.add_get("/", self.page)
        r.add_static("/static/", STATIC, append_version=True)
        r.add_get("/api/cues", self.cues)
        r.add_get("/api/cues/{cue}/variations", self.variations)
        r.add_post("/api/cues/{cue}/mark", self.mark)
        r.add_post("/api/cues/{cue}/pick", self.pick)
        r.add_post("/api/cues/{cue}/more", self.more)
        r.add_post("/api/undo", self.undo)
        r.add_get("/thumb/{cue}/{name}", self.thumb)
        r.add_get("/orbit/{cue}/{name}", self.orbit)
        r.add_get("/media/{cue}/{name}", self.media)
        r.add_get("/sheet/{cue}/{name}", self.sheet)
        r.add_get("/ws", self.socket)
        return app

    async def _blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, partial(fn, *args, **kwargs))

    async def page(self, request: web.Request) -> web.StreamResponse:
        """The desk page."""
        return web.FileResponse(STATIC / "desk.html", headers={"Cache-Control": "no-store"})

    async def cues(self, request: web.Request) -> web.Response:
        """The show's cues with their variation counts and picks."""
        cues = await self._blocking(self.store.cues)
        return web.json_response({"title": self.store.show.title, "cues": cues})

    async def variations(self, request: web.Request) -> web.Response:
        """Every variation of a cue with its marks."""
        try:
            data = await self._blocking(self.store.listing, request.match_info["cue"])
        except GenerateError as exc:
            return _error(exc, 404)
        return web.json_response(data, dumps=partial(json.dumps, default=str))

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = safe_json.loads(await request.read())
        except safe_json.JsonError as exc:  # deep, out-of-range numbers, not JSON: one line
            raise web.HTTPBadRequest(text=f"expected a JSON body: {exc}") from None
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise web.HTTPBadRequest(text='expected {"id": "<variation file name>", ...}')
        return body

    async def mark(self, request: web.Request) -> web.Response:
        """Rate and/or reject a variation."""
        body = await self._body(request)
        cue = request.match_info["cue"]
        rating = body.get("rating")
        rejected = body.get("rejected")
        if rating is not None and (not isinstance(rating, int) or isinstance(rating, bool)):
            return web.json_response({"error": "rating must be an integer 0..5"}, status=400)
        try:
            mark = await self._blocking(
                self.store.mark, cue, body["id"], rating=rating, rejected=rejected
            )
        except GenerateError as exc:
            return _error(exc)
        message = {"type": "mark", "cue": cue, "id": body["id"]}
        message.update(rating=mark.rating, rejected=mark.rejected)
        self.publish(message)
        return web.json_response(message)

    async def pick(self, request: web.Request) -> web.Response:
        """Make a variation the cue's media."""
        body = await self._body(request)
        cue = request.match_info["cue"]
        try:
            result = await self._blocking(self.store.pick, cue, body["id"])
        except GenerateError as exc:
            return _error(exc)
        return self._picked(cue, result.variation, result, seed=result.seed)

    async def undo(self, request: web.Request) -> web.Response:
        """Take back the last pick made in this desk (picks file, media file, manifest)."""
        try:
            result = await self._blocking(self.store.undo_pick)
        except GenerateError as exc:
            return _error(exc)
        return self._picked(result.cue, result.picked, result, undone=result.undone)

    async def more(self, request: web.Request) -> web.Response:
        """Queue "more like this" around a variation."""
        body = await self._body(request)
        count = body.get("count", 8)
        if not isinstance(count, int) or isinstance(count, bool):
            return web.json_response({"error": "count must be an integer"}, status=400)
        try:
            req = await self._blocking(
                self.jobs.submit,
                request.match_info["cue"],
                body["id"],
                str(body.get("mode", "seeds")),
                count,
            )
        except GenerateError as exc:
            return _error(exc)
        return web.json_response(req.to_json())

    async def thumb(self, request: web.Request) -> web.StreamResponse:
        """A variation's thumbnail (cached by the browser: the URL carries the file stamp)."""
        return await self._variation_file(
            request, self.store.thumbnail, {"Cache-Control": "private, max-age=86400"}
        )

    async def orbit(self, request: web.Request) -> web.StreamResponse:
        """A splat variation's orbit preview (an animated WebP, rendered once)."""
        return await self._variation_file(
            request,
            lambda cue, name: self.store.orbit(cue, name)[0],
            {"Cache-Control": "private, max-age=86400", "Content-Type": "image/webp"},
        )

    async def media(self, request: web.Request) -> web.StreamResponse:
        """A variation's file itself (large view, video on hover)."""
        return await self._variation_file(
            request,
            lambda cue, name: self.store.variation(cue, name).path,
            {"Cache-Control": "private, max-age=3600"},
        )

    async def _variation_file(
        self,
        request: web.Request,
        find: Callable[[str, str], Path],
        headers: dict[str, str],
    ) -> web.StreamResponse:
        """The file `find(cue, name)` gives (run on a worker thread); 404 when it has none."""
        try:
            path = await self._blocking(find, request.match_info["cue"], request.match_info["name"])
        except GenerateError as exc:
            return _error(exc, 404)
        return web.FileResponse(path, headers=headers)

    async def sheet(self, request: web.Request) -> web.StreamResponse:
        """A grid sheet of a cue."""
        try:
            path = self.store.sheet(request.match_info["cue"], request.match_info["name"])
        except GenerateError as exc:
            return _error(exc, 404)
        return web.FileResponse(path)

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        """Pushes: marks, picks, job progress, variations added."""
        ws = web.WebSocketResponse(heartbeat=5)
        await ws.prepare(request)
        self._sockets.add(ws)
        await ws.send_str(json.dumps({"type": "hello"}))
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
        return ws
