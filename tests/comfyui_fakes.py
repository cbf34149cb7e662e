"""Test helper: fake ComfyUI servers (aiohttp on 127.0.0.1, in a thread of the test) that
answer like ComfyUI, or as a hostile server would.

`FakeComfy(mode=...)` starts at once on a free port (`.url`) and stops on `close()`; what it
served is counted in `.views`, `.prompts`. The modes:
- `ok`: a small /object_info, the job completes, one 8x8 PNG per listed output;
- `huge_object_info`: /object_info streams 800 MB (chunked, never held in memory here);
- `slowloris`: /object_info and /system_stats send one byte every 20 s;
- `never_done`: the WebSocket never reports the job's end;
- `many_outputs`: /history lists 2,000 outputs of nodes not in the graph besides the real one;
- `giant_image`: the output is a PNG whose header says 13000x13000 (its data is cut short);
- `cut_body`: /view declares 100,000 bytes, sends 100 and closes the connection.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
import threading
import zlib
from typing import Any

import numpy as np
from aiohttp import web
from PIL import Image

MB = 1 << 20

OBJECT_INFO = {
    "EmptyImage": {
        "input": {
            "required": {
                "width": ["INT", {}],
                "height": ["INT", {}],
                "batch_size": ["INT", {}],
                "color": ["INT", {}],
            }
        },
        "output_node": False,
    },
    "SaveImage": {
        "input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {}]}},
        "output_node": True,
    },
}

# EmptyImage saved: the smallest workflow a cue can name.
WORKFLOW = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0},
    },
    "4": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
}


def small_png(value: int = 200) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def giant_png_header(width: int = 13000, height: int = 13000) -> bytes:
    """A PNG signature, IHDR of `width` x `height` and a little IDAT: a decoder would
    allocate the whole image; the header alone says how big it is."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)


class FakeComfy:
    """One fake server in a thread of its own (its own event loop)."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.views = 0
        self.prompts: list[str] = []
        self.bytes_sent = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True, name="fake comfyui")
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the fake ComfyUI server did not start")
        self.url = f"http://127.0.0.1:{self.port}"

    # --- serving ------------------------------------------------------------------------

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/system_stats", self._system_stats)
        app.router.add_get("/object_info", self._object_info)
        app.router.add_post("/prompt", self._prompt)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/history/{pid}", self._history)
        app.router.add_get("/view", self._view)
        app.router.add_post("/upload/image", self._upload)
        app.router.add_post("/queue", self._ok)
        app.router.add_post("/interrupt", self._ok)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    async def _slow(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        while True:  # a byte every 20 s, for ever (until the client gives up)
            await resp.write(b" ")
            self.bytes_sent += 1
            await asyncio.sleep(20)

    async def _system_stats(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "slowloris":
            return await self._slow(request)
        return web.json_response({"system": {}, "devices": []})

    async def _object_info(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "slowloris":
            return await self._slow(request)
        if self.mode != "huge_object_info":
            return web.json_response(OBJECT_INFO)
        resp = web.StreamResponse()  # chunked: no Content-Length to refuse it by
        await resp.prepare(request)
        filler = b"x" * MB
        await resp.write(b'{"filler": "')
        for _ in range(800):
            await resp.write(filler)
            self.bytes_sent += MB
        await resp.write(b'"}')
        return resp

    async def _prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.prompts.append(body["prompt_id"])
        return web.json_response({"prompt_id": body["prompt_id"], "number": 1})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        seen = len(self.prompts)
        while len(self.prompts) == seen:  # the client connects first, then submits
            await asyncio.sleep(0.01)
        pid = self.prompts[-1]
        await ws.send_str(json.dumps({"type": "execution_start", "data": {"prompt_id": pid}}))
        if self.mode == "never_done":
            await ws.send_str(
                json.dumps({"type": "executing", "data": {"node": "1", "prompt_id": pid}})
            )
            async for _ in ws:  # never a word more, until the client leaves
                pass
            return ws
        await ws.send_str(json.dumps({"type": "execution_success", "data": {"prompt_id": pid}}))
        async for _ in ws:
            pass
        return ws

    async def _history(self, request: web.Request) -> web.Response:
        pid = request.match_info["pid"]
        own = {"images": [{"filename": "out_00001_.png", "subfolder": "", "type": "output"}]}
        outputs: dict[str, Any] = {"4": own}
        if self.mode == "many_outputs":
            for n in range(2000):
                outputs[str(1000 + n)] = {
                    "images": [{"filename": f"other_{n}.png", "subfolder": "", "type": "output"}]
                }
        return web.json_response({pid: {"outputs": outputs, "status": {"completed": True}}})

    async def _view(self, request: web.Request) -> web.StreamResponse:
        self.views += 1
        if self.mode == "giant_image":
            return web.Response(body=giant_png_header(), content_type="image/png")
        if self.mode == "cut_body":
            resp = web.StreamResponse(headers={"Content-Length": "100000"})
            await resp.prepare(request)
            await resp.write(b"\x89PNG" + b"\0" * 96)
            assert request.transport is not None
            request.transport.close()  # mid-body
            return resp
        return web.Response(body=small_png(), content_type="image/png")

    async def _upload(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"name": "up.png", "subfolder": "", "type": "input"})

    async def _ok(self, request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({})

    # --- stopping -----------------------------------------------------------------------

    def close(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
