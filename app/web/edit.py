"""The console's edit view: routes that read and edit the show file (operate role).

`EditRoutes(show_file, guard)` adds `GET /api/edit` (the file as the page edits it: poems,
cues, the media it can add, the file's digest) and `POST /api/edit` (one edit, or `undo`) to
the console server; the page is `static/edit.html` (static files carry no data). Every edit
names the digest the page read: an edit against a file changed on disk since is refused
(409) and the page reloads. Edits are written by app.show.edit, keeping comments, anchors
and order; the running `play` reloads the file as it reloads any save (app.rehearse.reload).
Bodies are parsed by app.web.safe_json, edits share the client's rate bucket, and the view
role can neither read nor edit through these routes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from app.show.edit import Edit, EditError, Stale, apply_edit, describe, digest, read_text
from app.web.auth import Guard
from app.web.safe_json import JsonError, loads

MAX_BODY = 16 * 1024  # bytes of one edit
UNDO_DEPTH = 50


@dataclass(frozen=True)
class _Done:
    before: str  # the file's text before the edit
    after: str  # the digest of what the edit wrote


class EditRoutes:
    """The routes of the module docstring for one show file."""

    def __init__(self, show_file: Path, guard: Guard) -> None:
        self.path = Path(show_file)
        self.guard = guard
        self._undo: deque[_Done] = deque(maxlen=UNDO_DEPTH)
        self._lock = asyncio.Lock()

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/edit", self.get)
        router.add_post("/api/edit", self.post)

    @staticmethod
    def _operate(request: web.Request) -> web.Response | None:
        if request.get("role") != "operate":
            return web.json_response(
                {"ok": False, "error": "the edit view needs the operate token"}, status=403
            )
        return None

    async def get(self, request: web.Request) -> web.Response:
        refused = self._operate(request)
        if refused is not None:
            return refused
        try:
            shown = await asyncio.get_running_loop().run_in_executor(None, describe, self.path)
        except EditError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=500)
        return web.json_response({"ok": True, "undo": len(self._undo), **shown})

    async def post(self, request: web.Request) -> web.Response:
        refused = self._operate(request)
        if refused is not None:
            return refused
        if not self.guard.bucket(request.remote or "?").take():
            return web.json_response(
                {"ok": False, "error": "too many edits: slow down"}, status=429
            )
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.json_response({"ok": False, "error": "edit too large"}, status=413)
        try:
            obj = loads(body)
            seen = obj.get("digest") if isinstance(obj, dict) else None
            if not isinstance(seen, str) or len(seen) != 64:
                raise EditError("digest: expected the digest the page read")
            undo = obj.get("op") == "undo"
            edit = None if undo else Edit.parse(obj)
        except (JsonError, EditError) as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        loop = asyncio.get_running_loop()
        async with self._lock:
            try:
                if edit is None:
                    await loop.run_in_executor(None, self._undo_last, seen)
                else:
                    before, after = await loop.run_in_executor(
                        None, apply_edit, self.path, edit, seen
                    )
                    self._undo.append(_Done(before, digest(after)))
                shown = await loop.run_in_executor(None, describe, self.path)
            except Stale as exc:
                return web.json_response(
                    {"ok": False, "error": str(exc), "stale": True}, status=409
                )
            except EditError as exc:
                return web.json_response({"ok": False, "error": str(exc)}, status=400)
        return web.json_response({"ok": True, "undo": len(self._undo), **shown})

    def _undo_last(self, seen: str) -> None:
        from app.show.edit import write_atomic

        now = digest(read_text(self.path))
        if now != seen:
            raise Stale("the show file changed on disk since the page read it")
        if not self._undo:
            raise EditError("nothing to undo")
        if self._undo[-1].after != now:
            self._undo.clear()
            raise EditError("nothing to undo: the file was changed since the last edit")
        write_atomic(self.path, self._undo.pop().before)
