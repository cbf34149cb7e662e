"""Gaussian-splat renderer: a `SplatScene` and a `CameraView` in, a premultiplied RGBA16F
layer (`PremulTexture`) out, ready for the compositor like any other layer image.

Per frame, when the view changed (an unchanged view and size returns the last image as is):

1. preprocess on the GPU (`shaders/splat_draw.glsl`, compute stage): cull (near/far, opacity,
   screen box of the whole footprint, so splats whose centre is off screen still draw), EWA
   2D covariance with the 1.3*tan(fov/2) clamp, the scene's dilation, screen-radius clamp,
   spherical harmonics for the view direction, colour into the blend space; writes a depth
   key per splat and a screen-space record;
2. sort by view depth with a stable radix sort on full 32-bit keys (`shaders/splat_sort.glsl`:
   4 passes of 8-bit digits, workgroup histograms, per-digit prefix sums, scatter), then
   gather the records in back-to-front order;
3. draw one instanced quad per visible splat (indirect draw, count from step 1) into an
   RGBA16F target cleared to 0, blend ONE, ONE_MINUS_SRC_ALPHA (premultiplied "over").

Colour: Inria and `.splat` scenes blend in sRGB as stored (as their reference renderer does).
ml-sharp scenes (`blend_linear`) convert their sRGB colours to linear in step 1, blend in
linear light into a private RGBA16F buffer, and **the linear -> sRGB conversion happens here,
in a resolve pass at the end of `render`** (`shaders/splat_resolve.glsl`: un-premultiply,
encode, premultiply), so the layer handed to the compositor is always sRGB-encoded and
premultiplied like stills and video, and the compositor needs no special case.

Without compute shaders (GL < 4.3), or with `sort='cpu'`, numpy sorts the splats by depth
(`np.argsort`) and the vertex shader projects each splat itself from data textures; the image
is the same.

Images are stored top row first (texture row 0 is the top of the picture), as the returned
`PremulTexture.top_row_first` says. Only the main thread may call into this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import moderngl
import numpy as np

from app.media.splats import SplatScene
from app.render.camera import CameraView
from app.render.programs import load_compute, load_program
from app.render.textures import PremulTexture

SortMode = Literal["auto", "gpu", "cpu"]

BLOCK = 4096  # keys per radix-sort workgroup; equals BLOCK in shaders/splat_sort.glsl
GROUP = 256  # compute workgroup size of the per-splat kernels
RECORD_BYTES = 48  # three vec4 per splat record
SPLAT_FLOATS = 16  # four vec4 per uploaded splat
SPLATS_PER_ROW = 1024  # CPU-sort path: splats per row of the data texture (4 texels each)
TEXTURE_ROW = 4096  # texels per row of the CPU-sort path's textures
MAX_GROUPS = 65535
RADIUS_CLAMP = 1.0  # screen-radius clamp, in multiples of the target's larger side
TAN_CLAMP = 1.3  # the EWA Jacobian is evaluated within 1.3x the frustum
SPLAT_SLICE = 256  # splats in the first slice a `SplatDraw.advance` blends
SPLAT_STEP_BUDGET = (
    0.008  # s of drawing a `SplatDraw.advance` aims at (a first picture over frames)
)


def quaternion_matrices(q: np.ndarray) -> np.ndarray:
    """(N, 4) unit w-first quaternions -> (N, 3, 3) rotation matrices (float64)."""
    w, x, y, z = (np.asarray(q, dtype=np.float64)[:, i] for i in range(4))
    r = np.empty((len(w), 3, 3))
    r[:, 0, 0] = 1 - 2 * (y * y + z * z)
    r[:, 0, 1] = 2 * (x * y - w * z)
    r[:, 0, 2] = 2 * (x * z + w * y)
    r[:, 1, 0] = 2 * (x * y + w * z)
    r[:, 1, 1] = 1 - 2 * (x * x + z * z)
    r[:, 1, 2] = 2 * (y * z - w * x)
    r[:, 2, 0] = 2 * (x * z - w * y)
    r[:, 2, 1] = 2 * (y * z + w * x)
    r[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return r


def splat_covariances(scene: SplatScene, chunk: int = 1 << 18) -> np.ndarray:
    """(N, 6) float32 world-space 3D covariances (xx, xy, xz, yy, yz, zz) = R S S^T R^T."""
    out = np.empty((scene.count, 6), dtype=np.float32)
    for start in range(0, scene.count, chunk):
        stop = min(start + chunk, scene.count)
        m = quaternion_matrices(scene.rotations[start:stop])
        m *= scene.scales[start:stop, None, :].astype(np.float64)
        cov = m @ m.transpose(0, 2, 1)
        out[start:stop] = cov[:, [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    return out


def pack_splats(scene: SplatScene) -> np.ndarray:
    """(N, 16) float32 rows as the shaders read them: position, opacity, covariance, colour."""
    out = np.zeros((scene.count, SPLAT_FLOATS), dtype=np.float32)
    out[:, 0:3] = scene.positions
    out[:, 3] = scene.opacities
    out[:, 4:10] = splat_covariances(scene)
    out[:, 10:13] = scene.colours
    return out


def cpu_sort_order(positions: np.ndarray, view: CameraView) -> np.ndarray:
    """Indices of the splats between the near and far planes, back to front (uint32).

    Stable, so splats at equal depth keep their file order, like the GPU radix sort.
    """
    r = view.view[2, :3].astype(np.float32)
    depth = positions @ r + np.float32(view.view[2, 3])
    keep = np.flatnonzero((depth >= view.near) & (depth <= view.far))
    order = np.argsort(-depth[keep], kind="stable")
    return keep[order].astype(np.uint32)


def _groups(n: int) -> tuple[int, int]:
    groups = max(1, math.ceil(n / GROUP))
    if groups <= MAX_GROUPS:
        return groups, 1
    return MAX_GROUPS, math.ceil(groups / MAX_GROUPS)


def _set(prog: Any, name: str, value: Any) -> None:
    """Set a uniform if the program kept it (compilers drop unused ones)."""
    try:
        uniform = prog[name]
    except KeyError:
        return
    uniform.value = value


def _unbind_if_current(ctx: moderngl.Context, fbo: Any) -> None:
    """Bind the default framebuffer if `fbo` is bound: moderngl rebinds the current
    framebuffer when it makes a new one, and rebinding a deleted one is a GL error."""
    if ctx.fbo is fbo:
        ctx.detect_framebuffer(0).use()


def compute_supported(ctx: moderngl.Context) -> bool:
    """True when the context can run compute shaders (GL 4.3)."""
    return ctx.version_code >= 430


class GpuRadixSort:
    """Stable GPU sort of (uint32 key, uint32 value) buffers on the full 32-bit keys.

    Owns its scratch buffers (grown on demand); call `release` when done.
    """

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._histogram = load_compute(ctx, "splat_sort", {"STAGE": 1})
        self._scan = load_compute(ctx, "splat_sort", {"STAGE": 2})
        self._scatter = load_compute(ctx, "splat_sort", {"STAGE": 3})
        self._capacity = 0
        self._keys: moderngl.Buffer | None = None
        self._values: moderngl.Buffer | None = None
        self._hist: moderngl.Buffer | None = None
        self._totals = ctx.buffer(reserve=256 * 4)

    def _ensure(self, count: int) -> None:
        if count <= self._capacity:
            return
        for buf in (self._keys, self._values, self._hist):
            if buf is not None:
                buf.release()
        self._capacity = count
        self._keys = self.ctx.buffer(reserve=count * 4)
        self._values = self.ctx.buffer(reserve=count * 4)
        self._hist = self.ctx.buffer(reserve=256 * 4 * math.ceil(count / BLOCK))

    def sort(self, keys: moderngl.Buffer, values: moderngl.Buffer, count: int) -> None:
        """Sort the first `count` pairs of `keys`/`values` in place, by key, stably."""
        if count <= 0:
            return
        self._ensure(count)
        assert self._keys is not None and self._values is not None and self._hist is not None
        blocks = math.ceil(count / BLOCK)
        for prog in (self._histogram, self._scan, self._scatter):
            _set(prog, "u_count", count)
            _set(prog, "u_blocks", blocks)
        src, dst = (keys, values), (self._keys, self._values)
        for shift in (0, 8, 16, 24):
            src[0].bind_to_storage_buffer(0)
            self._hist.bind_to_storage_buffer(2)
            _set(self._histogram, "u_shift", shift)
            self._histogram.run(blocks)
            self.ctx.memory_barrier()
            self._totals.bind_to_storage_buffer(3)
            self._scan.run(256)
            self.ctx.memory_barrier()
            src[1].bind_to_storage_buffer(1)
            dst[0].bind_to_storage_buffer(4)
            dst[1].bind_to_storage_buffer(5)
            _set(self._scatter, "u_shift", shift)
            self._scatter.run(blocks)
            self.ctx.memory_barrier()
            src, dst = dst, src

    def sort_array(
        self, keys: np.ndarray, values: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sort numpy arrays on the GPU (for tests and benchmarks): (sorted keys, values).

        `values` default to the indices, so the second result is the stable argsort.
        """
        keys = np.ascontiguousarray(keys, dtype=np.uint32)
        n = len(keys)
        if values is None:
            values = np.arange(n, dtype=np.uint32)
        kb = self.ctx.buffer(keys.tobytes())
        vb = self.ctx.buffer(np.ascontiguousarray(values, dtype=np.uint32).tobytes())
        try:
            self.sort(kb, vb, n)
            out_k = np.frombuffer(kb.read(), dtype=np.uint32).copy()
            out_v = np.frombuffer(vb.read(), dtype=np.uint32).copy()
        finally:
            kb.release()
            vb.release()
        return out_k, out_v

    def release(self) -> None:
        """Free the scratch buffers."""
        for buf in (self._keys, self._values, self._hist, self._totals):
            if buf is not None:
                buf.release()
        self._keys = self._values = self._hist = None
        self._capacity = 0


@dataclass(eq=False)
class GpuSplats:
    """A scene uploaded by `SplatRenderer.upload`; owns its GL objects (`release` them).

    `target` is the layer image of the last `render` (reallocated when the size changes).
    """

    count: int
    mode: Literal["gpu", "cpu"]
    sh_degree: int
    sh_count: int
    dilation: float
    blend_linear: bool
    to_linear: bool
    sh_per_row: int = 1  # CPU-sort path: splats per row of the SH texture
    objects: dict[str, Any] = field(default_factory=dict)
    positions: np.ndarray | None = None  # kept for the CPU sort
    target: PremulTexture | None = None
    last_key: tuple | None = None

    def release(self) -> None:
        """Free every GL object of this scene."""
        for obj in self.objects.values():
            if isinstance(obj, moderngl.Framebuffer):
                _unbind_if_current(obj.ctx, obj)
            obj.release()
        self.objects.clear()
        if self.target is not None:
            self.target.release()
            self.target = None
        self.last_key = None


class SplatRenderer:
    """Renders uploaded splat scenes into premultiplied RGBA16F layers.

    `sort`: 'auto' (GPU radix sort when compute shaders exist, else numpy), 'gpu' or 'cpu'.
    `timing`: measure each step into `last_timings` (milliseconds: preprocess_ms, sort_ms,
    draw_ms, total_ms, and the number of splats drawn as visible) with GL timer queries, or
    on the wall clock around glFinish on software GL (`timer` says which); reading them waits
    for the GPU, so live playback may turn it off.
    """

    def __init__(self, ctx: moderngl.Context, sort: SortMode = "auto", timing: bool = True) -> None:
        if sort not in ("auto", "gpu", "cpu"):
            raise ValueError(f"sort must be 'auto', 'gpu' or 'cpu', got {sort!r}")
        has_compute = compute_supported(ctx)
        if sort == "gpu" and not has_compute:
            raise RuntimeError(
                f"GPU sort needs GL 4.3 compute shaders (context: {ctx.version_code})"
            )
        self.ctx = ctx
        self.mode: Literal["gpu", "cpu"] = "gpu" if has_compute and sort != "cpu" else "cpu"
        self.timing = timing
        self.last_timings: dict[str, float] = {}
        self._draw = load_program(ctx, "splat_draw")
        self._draw_cpu = load_program(ctx, "splat_draw", {"PROJECT_IN_VERTEX": 1})
        self._resolve = load_program(ctx, "splat_resolve")
        self._resolve_vao = ctx.vertex_array(self._resolve, [])
        self._preprocess_prog = load_compute(ctx, "splat_draw") if self.mode == "gpu" else None
        self._gather = load_compute(ctx, "splat_sort", {"STAGE": 4}) if self.mode == "gpu" else None
        self.sorter = GpuRadixSort(ctx) if self.mode == "gpu" else None
        self._queries: dict[str, moderngl.Query] = {}
        renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
        self.software = any(name in renderer for name in ("llvmpipe", "softpipe", "swrast"))
        # software GL's timer queries do not time the work (llvmpipe returns garbage): there
        # the steps are timed on the wall clock around glFinish
        if timing and not self.software:
            try:
                self._queries = {k: ctx.query(time=True) for k in ("pre", "sort", "draw")}
            except moderngl.Error:
                self._queries = {}
        self.timer = "gl-query" if self._queries else "wall"

    # --- upload -----------------------------------------------------------------------------

    def upload(self, scene: SplatScene, packed: np.ndarray | None = None) -> GpuSplats:
        """Put a scene on the GPU. `packed`: its `pack_splats` rows when made already (on a
        worker thread: the covariances are the costly part), else they are made here."""
        if scene.count == 0:
            raise ValueError("cannot upload an empty splat scene")
        sh_count = 0 if scene.sh is None else int(scene.sh.shape[1])
        gpu = GpuSplats(
            count=scene.count,
            mode=self.mode,
            sh_degree=scene.sh_degree if sh_count else 0,
            sh_count=sh_count,
            dilation=float(scene.dilation),
            blend_linear=bool(scene.blend_linear),
            to_linear=bool(scene.blend_linear and scene.colour_space == "srgb"),
        )
        if packed is None:
            packed = pack_splats(scene)
        elif packed.shape != (scene.count, SPLAT_FLOATS) or packed.dtype != np.float32:
            raise ValueError(f"packed splats are {packed.shape} {packed.dtype}, not the scene's")
        ctx = self.ctx
        if self.mode == "gpu":
            n = scene.count
            sh = scene.sh if scene.sh is not None else np.zeros(4, dtype=np.float32)
            drawn = ctx.buffer(reserve=n * RECORD_BYTES)
            gpu.objects.update(
                splats=ctx.buffer(packed.tobytes()),
                sh=ctx.buffer(np.ascontiguousarray(sh, dtype=np.float32).tobytes()),
                keys=ctx.buffer(reserve=n * 4),
                values=ctx.buffer(reserve=n * 4),
                records=ctx.buffer(reserve=n * RECORD_BYTES),
                drawn=drawn,
                indirect=ctx.buffer(np.array([4, 0, 0, 0], dtype=np.uint32).tobytes()),
            )
            gpu.objects["vao"] = ctx.vertex_array(
                self._draw, [(drawn, "4f 4f 4f/i", "a_r0", "a_r1", "a_colour")]
            )
        else:
            rows = math.ceil(scene.count / SPLATS_PER_ROW)
            if rows > int(ctx.info["GL_MAX_TEXTURE_SIZE"]):
                raise ValueError(f"{scene.count} splats exceed the CPU-sort path's texture size")
            data = np.zeros((rows * SPLATS_PER_ROW, SPLAT_FLOATS), dtype=np.float32)
            data[: scene.count] = packed
            splat_tex = ctx.texture((TEXTURE_ROW, rows), 4, data.tobytes(), dtype="f4")
            per_row = max(1, TEXTURE_ROW // max(sh_count, 1))
            if sh_count:
                sh_rows = math.ceil(scene.count / per_row)
                sh_data = np.zeros((sh_rows * per_row, sh_count, 3), dtype=np.float32)
                sh_data[: scene.count] = scene.sh
                sh_data = sh_data.reshape(sh_rows, per_row * sh_count * 3)
                sh_tex = ctx.texture(
                    (per_row * sh_count, sh_rows), 3, sh_data.tobytes(), dtype="f4", alignment=4
                )
            else:
                sh_tex = ctx.texture((1, 1), 3, dtype="f4")
            for tex in (splat_tex, sh_tex):
                tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            index = ctx.buffer(reserve=scene.count * 4)
            gpu.objects.update(splat_tex=splat_tex, sh_tex=sh_tex, index=index)
            gpu.objects["vao"] = ctx.vertex_array(self._draw_cpu, [(index, "1u/i", "a_index")])
            gpu.sh_per_row = per_row
            gpu.positions = np.ascontiguousarray(scene.positions, dtype=np.float32)
        return gpu

    # --- render -----------------------------------------------------------------------------

    def render(
        self, gpu: GpuSplats, view: CameraView, width: int, height: int, *, force: bool = False
    ) -> PremulTexture:
        """Draw `gpu` seen from `view` into its `width` x `height` layer and return it.

        The view is re-framed to the size when they differ (`CameraView.resized`). When the
        view and size are those of the last call (and not `force`), nothing is redrawn.
        Leaves blending off and the framebuffer that was bound before bound again.
        """
        if gpu.mode != self.mode:
            raise ValueError(f"scene was uploaded for the {gpu.mode} path, renderer is {self.mode}")
        view = view.resized(width, height)
        key = (view.key(), width, height)
        target = self._ensure_target(gpu, width, height)
        if key == gpu.last_key and not force:
            self.last_timings = {
                "preprocess_ms": 0.0,
                "sort_ms": 0.0,
                "draw_ms": 0.0,
                "skipped": 1.0,
            }
            return target
        timings: dict[str, float] = {"skipped": 0.0}
        previous_fbo = self.ctx.fbo
        if self.mode == "gpu":
            self._preprocess_and_sort(gpu, view, timings)
        else:
            with self._timed("sort", timings, cpu=True):
                assert gpu.positions is not None
                order = cpu_sort_order(gpu.positions, view)
                gpu.objects["index"].write(order.tobytes())
            timings["visible"] = float(len(order))
        with self._timed("draw", timings):
            self._clear_layer(gpu, width, height)
            self._draw_splats(gpu, view, width, height, None if self.mode == "gpu" else len(order))
            self._resolve_layer(gpu)
        _use(previous_fbo)
        if self.timing and self.mode == "gpu":
            counts = np.frombuffer(gpu.objects["indirect"].read(), dtype=np.uint32)
            timings["visible"] = float(counts[1])
        timings["total_ms"] = sum(
            timings.get(k, 0.0) for k in ("preprocess_ms", "sort_ms", "draw_ms")
        )
        self.last_timings = timings
        gpu.last_key = key
        return target

    def _ensure_target(self, gpu: GpuSplats, width: int, height: int) -> PremulTexture:
        if gpu.target is not None and (gpu.target.width, gpu.target.height) == (width, height):
            return gpu.target
        if gpu.target is not None:
            gpu.target.release()
        for name in ("fbo", "accum", "accum_fbo"):
            obj = gpu.objects.pop(name, None)
            if obj is not None:
                _unbind_if_current(self.ctx, obj)
                obj.release()
        tex = self.ctx.texture((width, height), 4, dtype="f2")
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        gpu.target = PremulTexture(tex, top_row_first=True, owned=True)
        gpu.objects["fbo"] = self.ctx.framebuffer(color_attachments=[tex])
        if gpu.blend_linear:
            accum = self.ctx.texture((width, height), 4, dtype="f2")
            accum.filter = (moderngl.NEAREST, moderngl.NEAREST)
            gpu.objects["accum"] = accum
            gpu.objects["accum_fbo"] = self.ctx.framebuffer(color_attachments=[accum])
        gpu.last_key = None
        return gpu.target

    def _view_uniforms(self, prog: Any, gpu: GpuSplats, view: CameraView) -> None:
        width, height = view.width, view.height
        prog["u_view"].write(np.ascontiguousarray(view.view.T, dtype=np.float32).tobytes())
        _set(prog, "u_intr", (view.fx, view.fy, view.cx, view.cy))
        _set(prog, "u_size", (float(width), float(height)))
        _set(
            prog, "u_limit", (TAN_CLAMP * width / (2 * view.fx), TAN_CLAMP * height / (2 * view.fy))
        )
        _set(prog, "u_depth_range", (view.near, view.far))
        _set(prog, "u_dilation", gpu.dilation)
        _set(prog, "u_max_radius", RADIUS_CLAMP * max(width, height))
        _set(prog, "u_camera", tuple(float(v) for v in view.position))
        _set(prog, "u_sh_degree", gpu.sh_degree)
        _set(prog, "u_sh_count", gpu.sh_count)
        _set(prog, "u_to_linear", int(gpu.to_linear))

    def _preprocess_and_sort(
        self, gpu: GpuSplats, view: CameraView, timings: dict[str, float]
    ) -> None:
        with self._timed("pre", timings):
            self._preprocess(gpu, view)
        with self._timed("sort", timings):
            self._sort_records(gpu)

    def _preprocess(self, gpu: GpuSplats, view: CameraView) -> None:
        """Cull and project every splat: depth keys, screen records, the visible count."""
        assert self._preprocess_prog is not None
        obj = gpu.objects
        obj["indirect"].write(np.array([4, 0, 0, 0], dtype=np.uint32).tobytes())
        self._view_uniforms(self._preprocess_prog, gpu, view)
        _set(self._preprocess_prog, "u_count", gpu.count)
        for binding, name in enumerate(("splats", "sh", "keys", "values", "records", "indirect")):
            obj[name].bind_to_storage_buffer(binding)
        self._preprocess_prog.run(*_groups(gpu.count))
        self.ctx.memory_barrier()

    def _sort_records(self, gpu: GpuSplats) -> None:
        """Sort the keys the preprocess wrote and gather the records back to front."""
        assert self._gather is not None and self.sorter is not None
        obj = gpu.objects
        self.sorter.sort(obj["keys"], obj["values"], gpu.count)
        for binding, name in enumerate(("values", "records", "drawn", "indirect")):
            obj[name].bind_to_storage_buffer(binding)
        self._gather.run(*_groups(gpu.count))
        self.ctx.memory_barrier()

    def begin(
        self,
        gpu: GpuSplats,
        view: CameraView,
        width: int,
        height: int,
        *,
        per_step: int = SPLAT_SLICE,
        budget: float = SPLAT_STEP_BUDGET,
        clock: Callable[[], float] = time.perf_counter,
    ) -> SplatDraw:
        """A render of `gpu` seen from `view` spread over calls of `SplatDraw.advance` (one a
        frame: the sort, then slices of splats for about `budget` seconds a call), for a
        first picture that must not hold a frame. Its `target` is the image `render` gives,
        once `advance` returned True."""
        if gpu.mode != self.mode:
            raise ValueError(f"scene was uploaded for the {gpu.mode} path, renderer is {self.mode}")
        if per_step < 1:
            raise ValueError(f"per_step must be at least 1, got {per_step}")
        view = view.resized(width, height)
        return SplatDraw(self, gpu, view, width, height, per_step, budget, clock)

    def _clear_layer(self, gpu: GpuSplats, width: int, height: int) -> None:
        fbo = gpu.objects["accum_fbo"] if gpu.blend_linear else gpu.objects["fbo"]
        fbo.use()
        self.ctx.viewport = (0, 0, width, height)
        fbo.clear(0.0, 0.0, 0.0, 0.0)

    def _draw_splats(
        self,
        gpu: GpuSplats,
        view: CameraView,
        width: int,
        height: int,
        instances: int | None,
        first: int = 0,
    ) -> None:
        """Blend sorted splats into the layer (not cleared here): on the GPU path all the
        visible ones when `instances` is None (the count the preprocess wrote), else
        `instances` of them from the `first` in back-to-front order (the CPU path's index
        buffer holds those from `first` on)."""
        ctx = self.ctx
        obj = gpu.objects
        fbo = obj["accum_fbo"] if gpu.blend_linear else obj["fbo"]
        fbo.use()
        ctx.viewport = (0, 0, width, height)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.enable(moderngl.BLEND)
        ctx.blend_equation = moderngl.FUNC_ADD
        ctx.blend_func = moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA
        vao = obj["vao"]
        if self.mode == "gpu":
            _set(self._draw, "u_size", (float(width), float(height)))
            if instances is not None:  # a slice: (vertices, instances, first vertex, base)
                command = np.array([4, instances, 0, first], dtype=np.uint32)
                obj["indirect"].write(command.tobytes())
            vao.render_indirect(obj["indirect"], mode=moderngl.TRIANGLE_STRIP, count=1)
        elif instances:
            prog = self._draw_cpu
            self._view_uniforms(prog, gpu, view)
            _set(prog, "u_splats", 0)
            _set(prog, "u_sh", 1)
            _set(prog, "u_sh_per_row", gpu.sh_per_row)
            obj["splat_tex"].use(0)
            obj["sh_tex"].use(1)
            vao.render(moderngl.TRIANGLE_STRIP, vertices=4, instances=instances)
        ctx.disable(moderngl.BLEND)

    def _resolve_layer(self, gpu: GpuSplats) -> None:
        """Linear-light scenes: their accumulated layer, encoded to sRGB, into the target."""
        if gpu.blend_linear:
            obj = gpu.objects
            obj["fbo"].use()
            obj["accum"].use(0)
            _set(self._resolve, "u_accum", 0)
            self._resolve_vao.render(moderngl.TRIANGLE_STRIP, vertices=4)

    @contextmanager
    def _timed(self, name: str, timings: dict[str, float], cpu: bool = False) -> Iterator[None]:
        label = {"pre": "preprocess_ms", "sort": "sort_ms", "draw": "draw_ms"}[name]
        query = None if cpu else self._queries.get(name)
        if not self.timing:
            yield
            return
        if query is None:
            if not cpu:
                self.ctx.finish()
            start = time.perf_counter()
            yield
            if not cpu:
                self.ctx.finish()
            timings[label] = (time.perf_counter() - start) * 1000.0
            return
        with query:
            yield
        timings[label] = query.elapsed / 1e6

    def release(self) -> None:
        """Free the renderer's own GL objects (not the scenes: release those yourself)."""
        if self.sorter is not None:
            self.sorter.release()
        self._resolve_vao.release()
        for q in self._queries.values():
            q.release()
        self._queries = {}


def _use(fbo: Any) -> None:
    """Bind `fbo` again if it still exists (what was bound before a render)."""
    if fbo is not None and not isinstance(fbo.mglo, moderngl.InvalidObject):
        fbo.use()


@dataclass(eq=False)
class SplatDraw:
    """One render of a scene spread over frames (`SplatRenderer.begin`).

    The first steps cull and sort (on the GPU path the preprocess and the sort are a step
    each) and clear the layer; each later one blends the next splats
    in back-to-front order, so the "over" blend of the whole sorted list, and the picture,
    are those of one `render`; the last one resolves linear-light scenes. A step blends
    `per_step` splats, waits for the GL to finish them (`ctx.finish`) and goes on while the
    next slice fits in `budget` seconds of `clock`, the slice doubling while it takes under
    a quarter of the budget and halving when one alone overran it: a software GL gets a few
    hundred splats a frame, a GPU the whole scene in a few frames. `drawn` counts the
    splats blended so far, `slices` the size of each slice drawn; `visible` those the sort
    kept (None until the step after the sort reads the GPU's count, which has run by then).
    The GL state a step sets is its own: the frames between steps may draw anything else.
    """

    MIN_SLICE: ClassVar[int] = 64

    renderer: SplatRenderer
    gpu: GpuSplats
    view: CameraView
    width: int
    height: int
    per_step: int
    budget: float
    clock: Callable[[], float] = time.perf_counter
    visible: int | None = field(default=None, init=False)
    drawn: int = field(default=0, init=False)
    steps: int = field(default=0, init=False)
    slices: list[int] = field(default_factory=list, init=False)
    done: bool = field(default=False, init=False)
    target: PremulTexture = field(init=False)
    _order: np.ndarray | None = field(default=None, init=False)  # the CPU path's sorted ids
    _preprocessed: bool = field(default=False, init=False)
    _sorted: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.target = self.renderer._ensure_target(self.gpu, self.width, self.height)

    def advance(self) -> bool:
        """Do the next part of the render; True once the image is complete."""
        if self.done:
            return True
        r, gpu = self.renderer, self.gpu
        previous_fbo = r.ctx.fbo
        try:
            self.steps += 1
            if not self._sorted:
                self._sort()
            else:
                if self.visible is None:
                    counts = np.frombuffer(gpu.objects["indirect"].read(), dtype=np.uint32)
                    self.visible = int(counts[1])
                self._draw_for_budget()
                if self.drawn >= self.visible:
                    r._resolve_layer(gpu)
                    gpu.last_key = (self.view.key(), self.width, self.height)
                    self.done = True
        finally:
            _use(previous_fbo)
        return self.done

    def _draw_for_budget(self) -> None:
        assert self.visible is not None
        start = self.clock()
        while self.drawn < self.visible:
            n = min(self.per_step, self.visible - self.drawn)
            before = self.clock()
            self._draw_slice(n)
            self.renderer.ctx.finish()
            now = self.clock()
            took, spent = now - before, now - start
            if took > self.budget:
                self.per_step = max(self.MIN_SLICE, self.per_step // 2)
                return
            if took < self.budget / 4 and n == self.per_step:
                self.per_step *= 2
                took *= 2
            if spent + took > self.budget:
                return

    def _draw_slice(self, n: int) -> None:
        r, gpu = self.renderer, self.gpu
        if self._order is not None:  # the CPU path: the slice to the index buffer
            part = self._order[self.drawn : self.drawn + n]
            gpu.objects["index"].write(part.tobytes())
        first = 0 if self._order is not None else self.drawn
        r._draw_splats(gpu, self.view, self.width, self.height, n, first)
        self.drawn += n
        self.slices.append(n)

    def _sort(self) -> None:
        r, gpu = self.renderer, self.gpu
        gpu.last_key = None  # the layer is being redrawn
        if r.mode == "gpu":
            if not self._preprocessed:  # a step of its own: the sort is the next one
                r._preprocess(gpu, self.view)
                self._preprocessed = True
                return
            r._sort_records(gpu)
        else:
            assert gpu.positions is not None
            self._order = cpu_sort_order(gpu.positions, self.view)
            self.visible = len(self._order)
        r._clear_layer(gpu, self.width, self.height)
        self._sorted = True
