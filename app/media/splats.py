"""Gaussian-splat scene loaders (numpy only, no GL): Inria 3DGS PLY, ml-sharp PLY, `.splat`,
and (each in its own module) PlayCanvas compressed PLY, Niantic SPZ and PlayCanvas SOG.

Every loader returns a `SplatScene` in one convention (app.media.splat_scene, a leaf the
format modules share); `load_splats` picks the loader by the file. PLY files are read by
app.media.ply, by property name, so the extra elements of ml-sharp files (`extrinsic`,
`intrinsic`, `image_size`, `frame`, `disparity`, `color_space`, `version`) and property orders
other than Inria's are fine. Formats: shared/notes/splats.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.media.ply import PLY_TYPES, PlyElement, parse_ply_header, read_ply_elements
from app.media.splat_scene import (
    INRIA_DILATION,
    SH_C0,
    ColourSpace,
    Intrinsics,
    SplatScene,
    check_finite,
    check_values,
    normalise_quaternions,
    sigmoid,
)
from app.media.types import MediaError

MLSHARP_EXTRA_ELEMENTS = frozenset(
    {"extrinsic", "intrinsic", "image_size", "frame", "disparity", "color_space", "version"}
)


KSPLAT_REFUSAL = (
    ".ksplat (GaussianSplats3D) has no published layout: convert it with PlayCanvas "
    "splat-transform (npm install -g @playcanvas/splat-transform; "
    "splat-transform scene.ksplat scene.ply) and cue the .ply"
)


def load_splats(path: str | Path) -> SplatScene:
    """Load a splat scene: `.ply` (Inria 3DGS, ml-sharp or PlayCanvas compressed, told apart by
    the PLY's elements), `.splat` (antimatter15 32-byte layout), `.spz` (Niantic), `.sog` or a
    SOG `meta.json` (PlayCanvas). `.ksplat` is refused with the command that converts it.
    Raises MediaError with the file and the reason.
    """
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "file not found")
    if not p.is_file():
        raise MediaError(p, "not a file")
    ext = p.suffix.lower()
    if ext == ".ksplat":
        raise MediaError(p, KSPLAT_REFUSAL)
    if ext == ".json" and p.name.lower().endswith("meta.json"):
        from app.media.splat_sog import load_sog_folder

        return load_sog_folder(p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MediaError(p, f"cannot read: {exc}") from exc
    if ext == ".splat":
        return decode_dot_splat(data, p)
    if ext == ".ply":
        return decode_ply(data, p)
    if ext == ".spz":
        from app.media.splat_spz import decode_spz

        return decode_spz(data, p)
    if ext == ".sog":
        from app.media.splat_sog import decode_sog_zip

        return decode_sog_zip(data, p)
    raise MediaError(
        p, f"unknown splat file type {ext!r} (expected .ply, .splat, .spz, .sog or meta.json)"
    )


def decode_ply(data: bytes, path: str | Path = "<bytes>") -> SplatScene:
    """Decode a 3DGS PLY (Inria or ml-sharp layout) from its bytes."""
    header = parse_ply_header(data, path)
    vertex_el = header.element("vertex")
    if vertex_el is None:
        raise MediaError(path, "PLY file has no 'vertex' element")
    if vertex_el.count == 0:
        raise MediaError(path, "PLY file has no splats (vertex count is 0)")
    if header.element("chunk") is not None and "packed_position" in vertex_el.names:
        from app.media.splat_cply import decode_compressed_ply

        return decode_compressed_ply(data, header, path)
    names = {e.name for e in header.elements}
    is_mlsharp = bool(names & MLSHARP_EXTRA_ELEMENTS)
    wanted = {"vertex"} | (names & {"extrinsic", "intrinsic", "image_size", "color_space"})
    elements = read_ply_elements(data, header, wanted, path)
    vertex = elements["vertex"]
    props = set(vertex_el.names)

    def column(name: str) -> np.ndarray:
        return vertex[name].astype(np.float32, copy=False)

    def stack(names_: list[str]) -> np.ndarray:
        missing = [n for n in names_ if n not in props]
        if missing:
            raise MediaError(path, f"PLY vertex element lacks properties {', '.join(missing)}")
        out = np.empty((vertex_el.count, len(names_)), dtype=np.float32)
        for i, n in enumerate(names_):
            out[:, i] = vertex[n]
        return out

    positions = stack(["x", "y", "z"])
    log_scales = stack(["scale_0", "scale_1", "scale_2"])
    rotations = stack(["rot_0", "rot_1", "rot_2", "rot_3"])
    if "opacity" not in props:
        raise MediaError(path, "PLY vertex element lacks property opacity")
    opacity_logits = column("opacity")
    colours = _ply_colours(vertex_el, props, stack, path)
    sh, degree = _ply_sh(props, stack, path)
    check_values(path, positions, rotations, colours, sh, opacity_logits, log_scales)

    intrinsics: Intrinsics | None = None
    extrinsic: np.ndarray | None = None
    colour_space: ColourSpace = "srgb"
    if is_mlsharp:
        intrinsics = _mlsharp_intrinsics(elements, path)
        extrinsic = _mlsharp_extrinsic(elements, path)
        colour_space = _mlsharp_colour_space(elements)

    return SplatScene(
        positions=positions,
        scales=np.exp(log_scales),
        rotations=normalise_quaternions(rotations),
        opacities=sigmoid(opacity_logits),
        colours=colours,
        sh=sh,
        sh_degree=degree,
        dilation=0.0 if is_mlsharp else INRIA_DILATION,
        colour_space=colour_space,
        blend_linear=is_mlsharp,
        intrinsics=intrinsics,
        extrinsic=extrinsic,
        kind="mlsharp" if is_mlsharp else "inria",
        path=Path(path) if not isinstance(path, Path) else path,
    )


def _ply_colours(
    vertex_el: PlyElement, props: set[str], stack: Callable[[list[str]], np.ndarray], path: Any
) -> np.ndarray:
    """Base colours 0..1: from the SH DC terms, or from red/green/blue."""
    if {"f_dc_0", "f_dc_1", "f_dc_2"} <= props:
        return stack(["f_dc_0", "f_dc_1", "f_dc_2"]) * np.float32(SH_C0) + np.float32(0.5)
    if {"red", "green", "blue"} <= props:
        colours = stack(["red", "green", "blue"])
        if vertex_el.properties[vertex_el.names.index("red")].dtype == "u1":
            colours /= np.float32(255.0)
        return colours
    raise MediaError(path, "PLY vertex element lacks colour properties f_dc_0..2")


def _ply_sh(
    props: set[str], stack: Callable[[list[str]], np.ndarray], path: Any
) -> tuple[np.ndarray | None, int]:
    """The higher SH coefficients (N, M, 3) and their degree, from f_rest_*."""
    rest = sorted(
        (n for n in props if n.startswith("f_rest_") and n[7:].isdigit()), key=lambda n: int(n[7:])
    )
    if not rest:
        return None, 0
    if [int(n[7:]) for n in rest] != list(range(len(rest))) or len(rest) % 3:
        raise MediaError(path, f"PLY f_rest_* properties are not 0..3k-1 ({len(rest)} found)")
    per_channel = len(rest) // 3
    degree = round(math.sqrt(per_channel + 1)) - 1
    if (degree + 1) ** 2 - 1 != per_channel or degree > 3:
        raise MediaError(path, f"{len(rest)} f_rest_* values match no SH degree 1..3")
    flat = stack(rest)
    # f_rest is channel-major in the file: coefficient k of channel c is f_rest[c*M + k]
    return np.ascontiguousarray(flat.reshape(-1, 3, per_channel).transpose(0, 2, 1)), degree


def _single_column(elements: dict[str, np.ndarray], name: str) -> np.ndarray | None:
    arr = elements.get(name)
    if arr is None:
        return None
    # ml-sharp writes one property per element, named like the element; take the first field
    field = name if name in arr.dtype.names else arr.dtype.names[0]
    return np.asarray(arr[field], dtype=np.float64)


def _mlsharp_intrinsics(elements: dict[str, np.ndarray], path: str | Path) -> Intrinsics | None:
    values = _single_column(elements, "intrinsic")
    if values is None:
        return None
    size = _single_column(elements, "image_size")
    if values.size == 4:  # legacy: fx, fy, width, height
        fx, fy, w, h = (float(v) for v in values)
        return fx, fy, w / 2.0, h / 2.0, int(round(w)), int(round(h))
    if values.size != 9:
        raise MediaError(path, f"intrinsic element has {values.size} values (expected 9 or 4)")
    m = values.reshape(3, 3)
    fx, fy, cx, cy = float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2])
    if size is not None and size.size >= 2:
        w, h = int(size[0]), int(size[1])
    else:
        w, h = int(round(2 * cx)), int(round(2 * cy))
    if not all(math.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
        raise MediaError(path, f"intrinsic focal lengths are not positive ({fx}, {fy})")
    return fx, fy, cx, cy, w, h


def _mlsharp_extrinsic(elements: dict[str, np.ndarray], path: str | Path) -> np.ndarray | None:
    values = _single_column(elements, "extrinsic")
    if values is None:
        return None
    out = np.eye(4)
    if values.size == 16:
        out[:] = values.reshape(4, 4)
    elif values.size == 12:
        # legacy 3x4 layout stores the rotation transposed (as ml-sharp's own loader reads it)
        out[:3] = values.reshape(3, 4)
        out[:3, :3] = out[:3, :3].T.copy()
    else:
        raise MediaError(path, f"extrinsic element has {values.size} values (expected 16 or 12)")
    if not np.isfinite(out).all():
        raise MediaError(path, "extrinsic matrix is not finite")
    return out


def _mlsharp_colour_space(elements: dict[str, np.ndarray]) -> ColourSpace:
    values = _single_column(elements, "color_space")
    # ml-sharp: 0 = sRGB, 1 = linear; its loader assumes linear when the element is absent
    if values is None or values.size == 0:
        return "linear"
    return "srgb" if int(values[0]) == 0 else "linear"


def decode_dot_splat(data: bytes, path: str | Path = "<bytes>") -> SplatScene:
    """Decode the antimatter15 `.splat` layout: 32 bytes per splat, no header."""
    if len(data) == 0:
        raise MediaError(path, "file is empty")
    if len(data) % 32:
        raise MediaError(
            path, f"file is truncated: {len(data)} bytes is not a multiple of 32 (.splat rows)"
        )
    row = np.dtype([("pos", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
    arr = np.frombuffer(data, dtype=row)
    positions = np.ascontiguousarray(arr["pos"])
    scales = np.ascontiguousarray(arr["scale"])
    check_finite(path, "position", positions)
    if not np.isfinite(scales).all() or (scales < 0).any():
        raise MediaError(path, "scale is negative or not finite")
    rgba = arr["rgba"].astype(np.float32) / np.float32(255.0)
    rot = (arr["rot"].astype(np.float32) - np.float32(128.0)) / np.float32(128.0)
    return SplatScene(
        positions=positions,
        scales=scales,
        rotations=normalise_quaternions(rot),
        opacities=np.ascontiguousarray(rgba[:, 3]),
        colours=np.ascontiguousarray(rgba[:, :3]),
        dilation=INRIA_DILATION,
        colour_space="srgb",
        blend_linear=False,
        kind="splat",
        path=Path(path),
    )


# --- writing -------------------------------------------------------------------------------

_MLSHARP_VERTEX = (
    ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
    + [f"scale_{i}" for i in range(3)]
    + [f"rot_{i}" for i in range(4)]
)


def write_mlsharp_ply(path: str | Path, scene: SplatScene, *, legacy: bool = False) -> None:
    """Write `scene` in ml-sharp's PLY layout (14-float vertex rows plus its extra elements).

    Opacities of exactly 0 or 1 are written as -inf/+inf logits, as ml-sharp does. Without
    intrinsics a 60-degree camera on a 1024x768 image is recorded. `legacy` writes the older
    4-value intrinsic and 12-value extrinsic and no image_size element.
    """
    n = scene.count
    row = np.dtype([(name, "<f4") for name in _MLSHARP_VERTEX])
    vertex = np.empty(n, dtype=row)
    for i, axis in enumerate("xyz"):
        vertex[axis] = scene.positions[:, i]
    dc = (scene.colours.astype(np.float64) - 0.5) / SH_C0
    for i in range(3):
        vertex[f"f_dc_{i}"] = dc[:, i]
    o = scene.opacities.astype(np.float64)
    with np.errstate(divide="ignore"):
        vertex["opacity"] = np.log(o) - np.log1p(-o)
        log_scales = np.log(scene.scales.astype(np.float64))
    for i in range(3):
        vertex[f"scale_{i}"] = log_scales[:, i]
    for i in range(4):
        vertex[f"rot_{i}"] = scene.rotations[:, i]

    if scene.intrinsics is not None:
        fx, fy, cx, cy, w, h = scene.intrinsics
    else:
        w, h = 1024, 768
        fx = fy = h / (2.0 * math.tan(math.radians(30.0)))
        cx, cy = w / 2.0, h / 2.0
    extrinsic = np.eye(4) if scene.extrinsic is None else np.asarray(scene.extrinsic)
    z = scene.positions[:, 2]
    front = z[z > 1e-6]
    disparity = np.quantile(1.0 / front, [0.1, 0.9]) if front.size else np.array([0.0, 0.0])

    extras: list[tuple[str, str, np.ndarray]] = []
    if legacy:
        ext12 = extrinsic[:3].copy()
        ext12[:3, :3] = ext12[:3, :3].T
        extras.append(("extrinsic", "float", ext12.reshape(-1)))
        extras.append(("intrinsic", "float", np.array([fx, fy, w, h])))
    else:
        extras.append(("extrinsic", "float", extrinsic.reshape(-1)))
        k = np.array([fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0])
        extras.append(("intrinsic", "float", k))
        extras.append(("image_size", "uint", np.array([w, h])))
    extras.append(("frame", "int", np.array([1, n])))
    extras.append(("disparity", "float", disparity))
    extras.append(("color_space", "uchar", np.array([0 if scene.colour_space == "srgb" else 1])))
    extras.append(("version", "uchar", np.array([1, 5, 0])))

    lines = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    lines += [f"property float {name}" for name in _MLSHARP_VERTEX]
    for name, ply_type, values in extras:
        lines += [f"element {name} {values.size}", f"property {ply_type} {name}"]
    lines.append("end_header")
    with open(path, "wb") as fh:
        fh.write(("\n".join(lines) + "\n").encode("ascii"))
        fh.write(vertex.tobytes())
        for _name, ply_type, values in extras:
            fh.write(values.astype("<" + PLY_TYPES[ply_type]).tobytes())
