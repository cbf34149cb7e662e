"""The ComfyUI backend: recipes with `workflow:` rendered by ComfyUI servers (a farm).

For each job: the `from:`/`last_from:` images go up with `/upload/image`; the bound graph is
submitted to `/prompt` with our cache key as its `prompt_id`; progress comes from the
server's WebSocket; the outputs come back through `/history/<id>` and `/view`. The runner
writes them into our cache like any other backend's results.

One `ServerSlot` per server in the model registry joins the executor's pool (one job at a
time each). A server that drops mid-job (WebSocket closed, connection refused, health check
failing) makes the slot raise `WorkerLost`: the pool resubmits the job to another server, or
to the same one once it answers again (its queue and history are gone after a restart). On
Ctrl-C, our queued prompts are deleted on every server and our running one interrupted.

`RoutedBackend` is what the runner sees when a show has workflow recipes: it names the
backend of each job (`backend_for`), so that the cache key and manifest say `comfyui`.
HTTP goes through http.client (blocking, in the slot's thread), the WebSocket through aiohttp
(one event loop per job).

A server is someone else's machine, so everything it sends is bounded (`ComfyLimits`, set in
models.yaml per server): connect and read timeouts, a time limit per whole answer and per
job, a size limit on /object_info, /history and each download, images taken only from the
nodes of the graph we submitted (a still takes one), and a pixel cap read from the image's
header before it is decoded. Every failure names the server and the job. A server that
stops answering (refused, reset, silent past its read timeout, closed mid-answer) is a
`ServerDown`: the pool resubmits the job as before; a job past its time limit or an answer
over a limit fails that job (the server is up, but must not be trusted with it again).
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.generate.backends.base import Backend, Capabilities, Rendered, StepCallback
from app.generate.comfyui.limits import ComfyLimits
from app.generate.comfyui.workflow import (
    Workflow,
    WorkflowError,
    bind_graph,
    check_against,
    check_offline,
    load_workflow,
)
from app.generate.errors import JobError
from app.generate.executors import RenderTask, TaskOutcome, describe_failure, task_inputs
from app.generate.executors.pool import WorkerLost
from app.show.model import MediaKind

if TYPE_CHECKING:
    from app.generate.plan import Job

VERSION = 1  # part of the cache key: bump when this module changes what a job's bytes are
HISTORY_WAIT_S = 30.0  # /history can lag behind execution_success
CONTROL_TIMEOUT_S = 5.0  # interrupt and delete: best effort, never a long wait
REVIVE_WAIT_S = 180.0  # how long a slot waits for its dropped server to come back


class ServerDown(Exception):
    """The server did not answer (refused, reset, timed out) or answered garbage."""


def prompt_id(cache_key: str) -> str:
    """Our cache key (32 hex digits) as the UUID-shaped prompt id ComfyUI expects."""
    return str(uuid.UUID(cache_key[:32].ljust(32, "0")))


class ComfyClient:
    """The HTTP side of one ComfyUI server (blocking calls; http.client, no extra thread).

    Each request opens its own connection with the server's `ComfyLimits`: a connect
    timeout, a read timeout (the longest silence), a time limit for the whole answer and a
    size limit for its body (refused from Content-Length when it says so, else counted while
    read: the body is never larger in memory than its limit)."""

    def __init__(self, url: str, limits: ComfyLimits | None = None) -> None:
        self.url = url.rstrip("/")
        self.limits = limits or ComfyLimits()
        self.client_id = uuid.uuid4().hex
        self._object_info: dict[str, Any] | None = None

    def _request(
        self,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        cap: int = 1 << 20,
        cap_key: str = "",
        read_timeout: float | None = None,
    ) -> bytes:
        lim = self.limits
        parts = urllib.parse.urlsplit(self.url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = kind(parts.hostname or "127.0.0.1", parts.port, timeout=lim.connect_timeout)
        silence = lim.read_timeout if read_timeout is None else read_timeout
        phase = "connect"
        try:
            conn.connect()
            assert conn.sock is not None
            conn.sock.settimeout(silence)
            phase = "answer"
            conn.request("GET" if data is None else "POST", path, body=data, headers=headers or {})
            resp = conn.getresponse()
            if resp.status >= 400:
                body = _read_body(resp, 2000, time.monotonic() + silence, strict=False)
                text = body.decode("utf-8", "replace")
                raise JobError(f"ComfyUI {self.url}{path}: HTTP {resp.status}: {text}")
            limit = f"{cap_key} in models.yaml" if cap_key else "the client's limit"
            declared = resp.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > cap:
                raise JobError(
                    f"ComfyUI {self.url}{path}: the answer is {_mib(int(declared))}, over "
                    f"{_mib(cap)} ({limit})"
                )
            try:
                return _read_body(resp, cap, time.monotonic() + lim.request_timeout)
            except _TooLarge:
                raise JobError(
                    f"ComfyUI {self.url}{path}: the answer is over {_mib(cap)} ({limit})"
                ) from None
            except _TooSlow:
                raise ServerDown(
                    f"{self.url}{path}: the answer took over {lim.request_timeout:g} s "
                    "(request_timeout in models.yaml)"
                ) from None
        except TimeoutError:  # socket.timeout too
            wait = lim.connect_timeout if phase == "connect" else silence
            key = "connect_timeout" if phase == "connect" else "read_timeout"
            raise ServerDown(
                f"{self.url}{path}: no {phase} within {wait:g} s ({key} in models.yaml)"
            ) from None
        except _Incomplete as exc:
            raise ServerDown(f"{self.url}{path}: the server closed the connection {exc}") from None
        except http.client.IncompleteRead as exc:
            raise ServerDown(
                f"{self.url}{path}: the server closed the connection mid-answer "
                f"({len(exc.partial)} bytes read)"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise ServerDown(f"{self.url} does not answer ({type(exc).__name__}: {exc})") from None
        finally:
            conn.close()

    def get_json(self, path: str, cap: int = 1 << 20, cap_key: str = "") -> Any:
        """GET a JSON document of at most `cap` bytes."""
        raw = self._request(path, cap=cap, cap_key=cap_key)
        try:
            return json.loads(raw)
        except ValueError:
            raise ServerDown(f"{self.url}{path} answered something that is not JSON") from None

    def post_json(self, path: str, payload: Any) -> Any:
        """POST JSON, return the JSON answer (or None for an empty one)."""
        raw = self._request(
            path, json.dumps(payload).encode("utf-8"), {"Content-Type": "application/json"}
        )
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ServerDown(f"{self.url}{path} answered something that is not JSON") from None

    def healthy(self) -> bool:
        """True when the server answers /system_stats."""
        try:
            return isinstance(self.get_json("/system_stats"), dict)
        except (ServerDown, JobError):
            return False

    def object_info(self) -> dict[str, Any]:
        """Every node class the server has, with its inputs (cached per client)."""
        if self._object_info is None:
            key = "max_object_info_mb"
            info = self.get_json("/object_info", self.limits.bytes_of(key), key)
            if not isinstance(info, dict):
                raise ServerDown(f"{self.url}/object_info is not a mapping of node classes")
            self._object_info = info
        return self._object_info

    def upload_image(self, name: str, data: bytes) -> str:
        """Upload an input image; returns the name to bind (subfolder included)."""
        boundary = uuid.uuid4().hex
        body = io.BytesIO()
        for field, value in (("overwrite", "true"), ("type", "input")):
            body.write(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        body.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        )
        body.write(data + f"\r\n--{boundary}--\r\n".encode())
        raw = self._request(
            "/upload/image",
            body.getvalue(),
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        try:
            answer = json.loads(raw)
            return (
                f"{answer['subfolder']}/{answer['name']}"
                if answer.get("subfolder")
                else answer["name"]
            )
        except (ValueError, KeyError, TypeError):
            raise ServerDown(f"{self.url}/upload/image answered {raw[:200]!r}") from None

    def view(self, item: dict[str, Any]) -> bytes:
        """The bytes of one output file listed in /history."""
        from urllib.parse import urlencode

        query = urlencode(
            {
                "filename": item.get("filename", ""),
                "subfolder": item.get("subfolder", ""),
                "type": item.get("type", "output"),
            }
        )
        key = "max_download_mb"
        return self._request(f"/view?{query}", cap=self.limits.bytes_of(key), cap_key=key)

    def history(self, pid: str) -> Any:
        """/history/<pid> (bounded by max_history_mb)."""
        key = "max_history_mb"
        return self.get_json(f"/history/{pid}", self.limits.bytes_of(key), key)

    def delete_queued(self, ids: list[str]) -> None:
        """Remove our prompts from the server's queue."""
        self._control("/queue", {"delete": ids})

    def interrupt(self) -> None:
        """Stop the prompt running now."""
        self._control("/interrupt", {})

    def _control(self, path: str, payload: Any) -> None:
        self._request(
            path,
            json.dumps(payload).encode("utf-8"),
            {"Content-Type": "application/json"},
            read_timeout=min(self.limits.read_timeout, CONTROL_TIMEOUT_S),
        )


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class _Incomplete(Exception):
    pass


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _read_body(
    resp: http.client.HTTPResponse, cap: int, deadline: float, *, strict: bool = True
) -> bytes:
    """The body, read as it comes (never more than `cap` bytes held), before `deadline`.

    `strict`: more than `cap` bytes raises _TooLarge (else the body is cut at `cap`), and a
    body shorter than its Content-Length raises _Incomplete."""
    chunks: list[bytes] = []
    got = 0
    while True:
        if time.monotonic() > deadline:
            raise _TooSlow
        block = resp.read1(min(1 << 16, cap + 1 - got))
        if not block:
            break
        got += len(block)
        if got > cap:
            if strict:
                raise _TooLarge
            chunks.append(block[: cap - got + len(block)])
            break
        chunks.append(block)
    if strict and resp.length:
        raise _Incomplete(f"mid-answer ({got} of {got + resp.length} bytes read)")
    return b"".join(chunks)


async def _run_prompt(
    client: ComfyClient, graph: dict[str, Any], pid: str, on_step: StepCallback
) -> None:
    """Submit `graph` as `pid` and follow it on the WebSocket until it ends."""
    import aiohttp

    total = max(len(graph), 1)
    done_nodes: set[str] = set()
    lim = client.limits
    # the WebSocket may stay silent while a long node runs: the job's time limit bounds it
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=lim.connect_timeout)
    post_timeout = aiohttp.ClientTimeout(
        total=lim.request_timeout, sock_connect=lim.connect_timeout, sock_read=lim.read_timeout
    )
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.ws_connect(
                f"{client.url}/ws?clientId={client.client_id}", heartbeat=10.0
            ) as ws:
                payload = {"prompt": graph, "client_id": client.client_id, "prompt_id": pid}
                async with session.post(
                    f"{client.url}/prompt", json=payload, timeout=post_timeout
                ) as resp:
                    text = (await resp.content.read(1 << 16)).decode("utf-8", "replace")
                    if resp.status != 200:
                        raise JobError(f"ComfyUI {client.url} refused the workflow: {text[:2000]}")
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.TEXT:
                        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                        continue  # binary frames are previews
                    try:
                        event = json.loads(msg.data)
                        kind, data = event.get("type"), event.get("data") or {}
                        data.get("prompt_id")
                    except (ValueError, AttributeError):
                        continue  # not a ComfyUI event: ignored
                    if data.get("prompt_id") not in (None, pid):
                        continue
                    if kind in ("executing", "executed") and data.get("node"):
                        done_nodes.add(str(data["node"]))
                        on_step(min(len(done_nodes) / total, 0.99))
                    elif kind == "execution_cached":
                        done_nodes.update(str(n) for n in data.get("nodes", []))
                    elif kind == "progress" and data.get("max"):
                        part = float(data.get("value", 0)) / float(data["max"])
                        on_step(min((len(done_nodes) + part) / total, 0.99))
                    elif kind == "execution_success":
                        return
                    elif kind == "execution_error":
                        raise JobError(
                            f"ComfyUI {client.url}: node {data.get('node_id')} "
                            f"({data.get('node_type')}) failed: {data.get('exception_type', '')}"
                            f" {data.get('exception_message', '').strip()}"
                        )
                    elif kind == "execution_interrupted":
                        raise JobError(f"ComfyUI {client.url}: the job was interrupted")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise ServerDown(f"{client.url}: connection lost ({type(exc).__name__}: {exc})") from None
    raise ServerDown(f"{client.url}: the WebSocket closed before the job finished")


def _outputs(
    history: dict[str, Any], graph: dict[str, Any] | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """The image files a finished prompt listed, saved outputs first: only those of nodes of
    `graph` (the graph we submitted; a server may list anything), at most `limit`."""
    items: list[dict[str, Any]] = []
    outputs = history.get("outputs") if isinstance(history, dict) else None
    if not isinstance(outputs, dict):
        return []
    for node_id in sorted(outputs, key=lambda n: (len(str(n)), str(n))):
        if graph is not None and str(node_id) not in graph:
            continue
        node = outputs[node_id]
        images = node.get("images") if isinstance(node, dict) else None
        for item in images if isinstance(images, list) else []:
            if isinstance(item, dict) and isinstance(item.get("filename"), str):
                items.append(item)
    saved = [i for i in items if i.get("type") == "output"]
    chosen = saved or items
    return chosen if limit is None else chosen[:limit]


def _open_image(data: bytes, max_pixels: int, where: str) -> Any:
    """The image in `data`, its size checked from the header before it is decoded."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # the cap below says it in our words
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            picture = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise JobError(f"{where}: refused as a decompression bomb ({exc})") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise JobError(f"{where}: not an image ({exc})") from None
    width, height = picture.size
    if width * height > max_pixels:
        raise JobError(
            f"{where}: the image is {width}x{height}, over the pixel cap of {max_pixels} "
            "(max_pixels in models.yaml)"
        )
    try:
        picture.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise JobError(f"{where}: the image does not decode ({exc})") from None
    return picture


class ComfyUIBackend:
    """Renders workflow recipes on ComfyUI servers; `server` pins it to one of them."""

    name = "comfyui"
    max_batch = 1
    capabilities = Capabilities()

    def __init__(
        self,
        servers: list[str],
        show_dir: Path,
        server: str | None = None,
        limits: Mapping[str, ComfyLimits] | None = None,
    ) -> None:
        self.servers = list(servers)
        self.show_dir = Path(show_dir)
        self.limits = dict(limits or {})
        url = server or (servers[0] if servers else "http://127.0.0.1:8188")
        self.client = ComfyClient(url, self.limits.get(url.rstrip("/")))
        self._workflows: dict[Path, Workflow] = {}
        self._infos: dict[str, dict[str, Any]] = {}  # url -> /object_info, set by check
        self.cache_keys: list[str] = []  # set per task by ServerSlot: prompt ids
        self.running: str | None = None
        self.notes: list[str] = []

    def workflow_of(self, job: Job) -> Workflow:
        """The job's workflow, read once per run."""
        path = (self.show_dir / str(job.spec.workflow)).resolve()
        if path not in self._workflows:
            wf = load_workflow(path)
            if wf.needs_conversion:  # UI format: the server's own nodes say what widgets mean
                try:
                    info = next(iter(self._infos.values()), None) or self.client.object_info()
                except (ServerDown, JobError) as exc:
                    raise WorkflowError(
                        f"workflow {path.name}: a UI-format workflow is converted with the "
                        f"server's /object_info, and {self.client.url} does not answer ({exc})"
                    ) from None
                wf = wf.converted(info)
            self._workflows[path] = wf
        return self._workflows[path]

    def check(self, jobs: list[Job]) -> list[tuple[Job, str]]:
        """Offline checks, then each workflow against every server's /object_info."""
        problems: list[tuple[Job, str]] = []
        if not self.servers:
            return [
                (
                    j,
                    "its recipe names a workflow but the model registry lists no ComfyUI "
                    "server (add comfyui: {servers: [http://127.0.0.1:8188]} to models.yaml)",
                )
                for j in jobs[:1]
            ]
        infos: dict[str, dict[str, Any]] = {}
        down: list[str] = []
        for url in self.servers:
            try:
                infos[url] = ComfyClient(url, self.limits.get(url)).object_info()
            except (ServerDown, JobError) as exc:
                down.append(f"{url} ({exc})")
        if not infos:
            return [
                (
                    j,
                    f"no ComfyUI server answers: {'; '.join(down)}. Start one (python main.py "
                    "--listen) or fix comfyui.servers in models.yaml",
                )
                for j in jobs[:1]
            ]
        if down:
            self.notes.append(f"ComfyUI servers down (not used): {', '.join(down)}")
        self._infos = infos
        seen: set[tuple[str, str]] = set()
        for job in jobs:
            try:
                wf = self.workflow_of(job)
            except WorkflowError as exc:
                problems.append((job, str(exc)))
                continue
            self.notes += [n for n in wf.warnings if n not in self.notes]
            found = check_offline(wf, job.spec.bind)
            for url, info in infos.items():
                found += check_against(wf, job.spec.bind, info, url)
            for message in found:
                if (job.cue.id, message) not in seen:
                    seen.add((job.cue.id, message))
                    problems.append((job, f"workflow {job.spec.workflow}: {message}"))
        return problems

    def identity(self, job: Job) -> dict[str, Any]:
        """The workflow file's content and the binds: part of the cache key."""
        try:
            sha = self.workflow_of(job).sha256
        except WorkflowError:
            sha = "missing"
        return {
            "comfyui": VERSION,
            "workflow": str(job.spec.workflow),
            "workflow_sha256": sha,
            "bind": job.spec.bind,
        }

    def prepare(self) -> None:
        """Nothing: servers are checked by `check`."""

    def describe_device(self) -> str:
        """The server."""
        return f"ComfyUI {self.client.url}"

    def recover(self) -> None:
        """Nothing to free here."""

    def close(self) -> None:
        """Nothing to release."""

    def render(
        self, jobs: list[Job], inputs: dict[str, Path], on_step: StepCallback
    ) -> list[Rendered]:
        """Upload, submit, follow, fetch: one job, within the server's time limit. Every
        failure names the server and the job."""
        job = jobs[0]
        try:
            return self._render(job, inputs, on_step)
        except ServerDown as exc:
            raise ServerDown(f"{exc} (job {job.label})") from None
        except JobError as exc:
            text = str(exc)
            if self.client.url not in text:
                text = f"ComfyUI {self.client.url}: {text}"
            raise JobError(f"{text} (job {job.label})") from None

    def _render(self, job: Job, inputs: dict[str, Path], on_step: StepCallback) -> list[Rendered]:
        wf = self.workflow_of(job)
        lim = self.client.limits
        deadline = time.monotonic() + lim.timeout
        images = {
            role: self.client.upload_image(
                f"app-{path.stem}-{_short(path)}{path.suffix}", path.read_bytes()
            )
            for role, path in inputs.items()
        }
        graph = bind_graph(wf, job.spec.bind, job, images)
        key = self.cache_keys[0] if self.cache_keys else uuid.uuid4().hex
        pid = prompt_id(key)
        self.running = pid
        try:
            left = max(deadline - time.monotonic(), 0.001)
            try:
                asyncio.run(asyncio.wait_for(_run_prompt(self.client, graph, pid, on_step), left))
            except TimeoutError:
                self.cancel_running()
                raise JobError(
                    f"ComfyUI {self.client.url}: prompt {pid} did not finish within "
                    f"{lim.timeout:g} s (timeout in models.yaml)"
                ) from None
            history = self._history(pid, deadline)
        finally:
            self.running = None
        still = job.kind is not MediaKind.VIDEO
        items = _outputs(history, graph, 1 if still else lim.max_outputs)
        if not items:
            raise JobError(
                f"ComfyUI {self.client.url} returned no image of the workflow's own nodes: "
                "does the workflow end in a SaveImage (or PreviewImage) node?"
            )
        if job.kind is MediaKind.SPLAT:
            raise JobError("ComfyUI workflows make images and videos, not splat scenes")
        pictures = []
        for item in items:
            if time.monotonic() > deadline:
                raise JobError(
                    f"ComfyUI {self.client.url}: downloads not done within {lim.timeout:g} s "
                    "(timeout in models.yaml)"
                )
            where = f"ComfyUI {self.client.url}: output {item.get('filename')}"
            pictures.append(_open_image(self.client.view(item), lim.max_pixels, where))
        info = {
            "workflow": str(job.spec.workflow),
            "workflow_sha256": wf.sha256,
            "bind": job.spec.bind,
            "server": self.client.url,
            "prompt_id": pid,
            "files": [i.get("filename") for i in items],
        }
        on_step(1.0)
        if job.kind is MediaKind.VIDEO:
            import numpy as np

            frames = [np.asarray(p.convert("RGB")) for p in pictures]
            return [Rendered(frames=frames, frames_fps=job.spec.fps, sampler="comfyui", info=info)]
        image = pictures[0].convert("RGB")
        image.load()
        return [Rendered(image=image, sampler="comfyui", info=info)]

    def cancel_running(self) -> None:
        """Best effort: take our prompt off the server (queued or running)."""
        pid = self.running
        if pid is None:
            return
        try:
            self.client.delete_queued([pid])
            self.client.interrupt()
        except (ServerDown, JobError):
            pass

    def _history(self, pid: str, deadline: float | None = None) -> dict[str, Any]:
        wait = time.monotonic() + HISTORY_WAIT_S
        end = wait if deadline is None else min(wait, deadline)
        while True:
            history = self.client.history(pid)
            if isinstance(history, dict) and isinstance(history.get(pid), dict):
                return history[pid]
            if time.monotonic() > end:
                raise JobError(f"ComfyUI {self.client.url}: no history for prompt {pid}")
            time.sleep(0.2)


def _short(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


class ServerSlot:
    """One ComfyUI server as a worker of the executor's pool (in a thread of the driver)."""

    threaded = True
    max_batch = 1

    def __init__(self, backend: ComfyUIBackend) -> None:
        self.backend = backend
        self.name = backend.client.url.split("://", 1)[-1]
        self._queued: list[str] = []

    def start(self) -> None:
        """Nothing to start: the server runs on its own."""

    def accepts(self, job: Job) -> bool:
        """Workflow recipes only."""
        return job.spec.workflow is not None

    def check(self, jobs: list[Job]) -> list[tuple[str, str]]:
        """This server must answer (the workflows were checked against it already)."""
        if self.backend.client.healthy():
            return []
        return [(j.key, f"ComfyUI {self.backend.client.url} does not answer") for j in jobs]

    def run(self, task: RenderTask, on_step: Callable[[float], None]) -> TaskOutcome:
        """Render on this server; WorkerLost when it drops."""
        started = time.monotonic()
        self.backend.cache_keys = list(task.digests)
        try:
            results, failure, device, _ = _render_with(self.backend, task, on_step)
        except ServerDown as exc:
            raise WorkerLost(str(exc)) from None
        return TaskOutcome(task, self.name, device, results, failure, time.monotonic() - started)

    def revive(self) -> bool:
        """Wait (bounded) for the server to answer again."""
        deadline = time.monotonic() + REVIVE_WAIT_S
        while time.monotonic() < deadline:
            if self.backend.client.healthy():
                return True
            time.sleep(1.0)
        return False

    def cancel(self) -> None:
        """Interrupt our running prompt (our queued ones were never queued server-side)."""
        self.backend.cancel_running()

    def close(self) -> None:
        """Nothing to stop."""


def _render_with(
    backend: ComfyUIBackend, task: RenderTask, on_step: Callable[[float], None]
) -> Any:
    """WorkerCore.render for a server: ServerDown propagates (the slot turns it into a loss)."""
    with task_inputs(task, prefix="app-comfy-in-") as paths:
        try:
            results = backend.render(task.jobs, paths, on_step)
        except (ServerDown, KeyboardInterrupt):
            raise
        except Exception as exc:
            return None, describe_failure(exc), backend.describe_device(), 0.0
    return results, None, backend.describe_device(), 0.0


class RoutedBackend:
    """The runner's backend for a show with workflow recipes: ComfyUI for those, the chosen
    backend for the rest."""

    def __init__(self, default: Backend, comfy: ComfyUIBackend) -> None:
        self.default = default
        self.comfy = comfy
        self.name = default.name
        self.max_batch = default.max_batch
        self.capabilities = default.capabilities
        self.notes = comfy.notes

    def use_steps(self, store: Any) -> None:
        """Hand the chain step store to the local backend (ComfyUI keeps its own cache)."""
        self.default.use_steps(store)  # type: ignore[attr-defined]

    def backend_for(self, job: Job) -> Backend:
        """ComfyUI for a recipe with `workflow:`."""
        return self.comfy if job.spec.workflow is not None else self.default

    def server_slots(self) -> list[ServerSlot]:
        """One pool slot per server."""
        return [
            ServerSlot(
                ComfyUIBackend(self.comfy.servers, self.comfy.show_dir, url, self.comfy.limits)
            )
            for url in self.comfy.servers
        ]

    def check(self, jobs: list[Job]) -> list[tuple[Job, str]]:
        """Each backend checks its own jobs."""
        mine = [j for j in jobs if j.spec.workflow is not None]
        rest = [j for j in jobs if j.spec.workflow is None]
        return (self.default.check(rest) if rest else []) + (self.comfy.check(mine) if mine else [])

    def identity(self, job: Job) -> dict[str, Any]:
        """The identity from the job's backend."""
        return self.backend_for(job).identity(job)

    def prepare(self) -> None:
        """Prepare the local backend."""
        self.default.prepare()

    def render(
        self, jobs: list[Job], inputs: dict[str, Path], on_step: StepCallback
    ) -> list[Rendered]:
        """Render with the job's backend (the executor normally sends workflow jobs to server
        slots; this path serves a run without them)."""
        return self.backend_for(jobs[0]).render(jobs, inputs, on_step)

    def recover(self) -> None:
        """Recover the local backend."""
        self.default.recover()

    def describe_device(self) -> str:
        """The local backend's device."""
        return self.default.describe_device()

    def close(self) -> None:
        """Close the local backend."""
        self.default.close()


def check_show_workflows(show: Any) -> tuple[list[str], list[str]]:
    """(problems, warnings) of every workflow recipe of a show, as `show:line:` lines.

    Offline checks always; each reachable server of the show's model registry then checks
    node classes, inputs and model files (a server that is down is a warning here).
    """
    from app.generate.registry import find_registry, load_registry

    cues = [c for c in show.cues if c.generate is not None and c.generate.workflow]
    if not cues:
        return [], []
    problems: list[str] = []
    warnings: list[str] = []
    limits: Mapping[str, ComfyLimits] = {}
    try:
        registry = load_registry(find_registry(show.path))
        servers, limits = registry.comfyui_servers, registry.comfyui_limits
    except Exception as exc:  # a broken registry is generate's to report; check goes on
        servers = ()
        warnings.append(f"{show.path}: model registry not read ({exc}): workflows checked offline")
    infos: dict[str, dict[str, Any]] = {}
    for url in servers:
        try:
            infos[url] = ComfyClient(url, limits.get(url)).object_info()
        except (ServerDown, JobError) as exc:
            warnings.append(f"ComfyUI {url} not reachable ({exc}): workflows checked offline only")
    for cue in cues:
        spec = cue.generate
        where = f"{show.path}:{cue.line}: cue '{cue.id}': workflow {spec.workflow}"
        try:
            wf = load_workflow(show.path.parent / spec.workflow)
        except WorkflowError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if wf.needs_conversion:  # what ComfyUI would fill in itself: told, not refused
            for info in infos.values():
                try:
                    warnings += [f"{where}: {w}" for w in wf.converted(info).warnings]
                except WorkflowError:  # check_against says so, as a problem
                    pass
            warnings[:] = list(dict.fromkeys(warnings))
        found = check_offline(wf, spec.bind)
        for url, info in infos.items():
            found += check_against(wf, spec.bind, info, url)
        problems += [f"{where}: {m}" for m in dict.fromkeys(found)]
    return problems, warnings
