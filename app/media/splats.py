"""Gaussian-splat scene loaders (numpy only, no GL): Inria 3DGS PLY, ml-sharp PLY, `.splat`,
and (each in its own module) PlayCanvas compressed PLY, Niantic SPZ and PlayCanvas SOG.

Every loader returns a `SplatScene` in one convention, whatever the file stored:
linear scales (not logs), unit w-first quaternions, opacities in 0..1 (not logits), DC colours
in 0..1 in the file's colour space, and the higher spherical-harmonic coefficients (when the
file has them) as `sh[n, k, channel]` for k = 1..(degree+1)^2-1.

PLY headers are parsed generically and properties are read by name, so the extra elements of
ml-sharp files (`extrinsic`, `intrinsic`, `image_size`, `frame`, `disparity`, `color_space`,
`version`) and property orders other than Inria's are fine. Formats: shared/notes/splats.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.media.types import MediaError

SH_C0 = 0.28209479177387814  # Y_0^0, turns a DC coefficient into a colour offset
INRIA_DILATION = 0.3  # px^2 added to the 2D covariance by the Inria rasteriser
MLSHARP_EXTRA_ELEMENTS = frozenset(
    {"extrinsic", "intrinsic", "image_size", "frame", "disparity", "color_space", "version"}
)

ColourSpace = Literal["srgb", "linear"]
SourceKind = Literal["inria", "mlsharp", "splat", "compressed_ply", "spz", "sog"]
Intrinsics = tuple[float, float, float, float, int, int]  # fx, fy, cx, cy, width, height


@dataclass(frozen=True, eq=False)
class SplatScene:
    """A Gaussian-splat scene in memory, ready for upload.

    `intrinsics` and `extrinsic` (world -> camera, 4x4, OpenCV frame: x right, y down,
    z forward) describe the photo an ml-sharp scene was made from; None for other sources.
    `dilation` is added to each 2D covariance in px^2 (0.3 for Inria-trained scenes, 0 for
    ml-sharp). `blend_linear` asks the renderer to blend in linear light (ml-sharp).
    """

    positions: np.ndarray  # (N, 3) float32
    scales: np.ndarray  # (N, 3) float32, linear
    rotations: np.ndarray  # (N, 4) float32, w x y z, unit length
    opacities: np.ndarray  # (N,) float32, 0..1
    colours: np.ndarray  # (N, 3) float32, DC colour in `colour_space`
    sh: np.ndarray | None = None  # (N, (deg+1)^2 - 1, 3) float32, without the DC term
    sh_degree: int = 0
    dilation: float = INRIA_DILATION
    colour_space: ColourSpace = "srgb"
    blend_linear: bool = False
    intrinsics: Intrinsics | None = None
    extrinsic: np.ndarray | None = None  # (4, 4) float64
    kind: SourceKind = "inria"
    path: Path | None = None

    @property
    def count(self) -> int:
        """Number of splats."""
        return int(self.positions.shape[0])

    def subset(self, index: np.ndarray | slice) -> SplatScene:
        """A scene with only the splats selected by `index` (same metadata)."""
        return SplatScene(
            positions=np.ascontiguousarray(self.positions[index]),
            scales=np.ascontiguousarray(self.scales[index]),
            rotations=np.ascontiguousarray(self.rotations[index]),
            opacities=np.ascontiguousarray(self.opacities[index]),
            colours=np.ascontiguousarray(self.colours[index]),
            sh=None if self.sh is None else np.ascontiguousarray(self.sh[index]),
            sh_degree=self.sh_degree,
            dilation=self.dilation,
            colour_space=self.colour_space,
            blend_linear=self.blend_linear,
            intrinsics=self.intrinsics,
            extrinsic=self.extrinsic,
            kind=self.kind,
            path=self.path,
        )


# --- generic PLY ---------------------------------------------------------------------------

_PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
_PLY_FORMATS = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "ascii"}
_MAX_HEADER = 1 << 20


@dataclass(frozen=True)
class PlyProperty:
    """One property of a PLY element: its name and numpy type code (e.g. 'f4').

    `list_count` is the type of the length prefix for list properties, else None.
    """

    name: str
    dtype: str
    list_count: str | None = None


@dataclass(frozen=True)
class PlyElement:
    """One element declared in a PLY header."""

    name: str
    count: int
    properties: tuple[PlyProperty, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The property names in file order."""
        return tuple(p.name for p in self.properties)

    @property
    def fixed_size(self) -> bool:
        """True when every row has the same size (no list properties)."""
        return all(p.list_count is None for p in self.properties)

    @property
    def row_bytes(self) -> int | None:
        """Bytes per row in a binary file, None with list properties."""
        if not self.fixed_size:
            return None
        return sum(np.dtype(p.dtype).itemsize for p in self.properties)


@dataclass(frozen=True)
class PlyHeader:
    """A parsed PLY header: format ('<', '>' or 'ascii'), elements, and where data starts."""

    format: str
    elements: tuple[PlyElement, ...]
    data_offset: int

    def element(self, name: str) -> PlyElement | None:
        """The element called `name`, or None."""
        return next((e for e in self.elements if e.name == name), None)


def _header_text(data: bytes, path: str | Path) -> tuple[str, int]:
    """The header's text (up to end_header) and the offset where the data starts."""
    if not data.startswith(b"ply"):
        raise MediaError(path, "not a PLY file (no 'ply' magic)")
    end = data.find(b"end_header", 0, _MAX_HEADER)
    if end < 0:
        raise MediaError(path, "PLY header has no end_header (truncated or not a PLY file)")
    newline = data.find(b"\n", end)
    if newline < 0:
        raise MediaError(path, "PLY file ends right after its header")
    try:
        return data[:end].decode("ascii"), newline + 1
    except UnicodeDecodeError:
        raise MediaError(path, "PLY header is not ASCII") from None


def _property(words: list[str]) -> PlyProperty | None:
    """A `property TYPE NAME` or `property list COUNT_TYPE TYPE NAME` line, None if bad."""
    if len(words) == 3 and words[1] in _PLY_TYPES:
        return PlyProperty(words[2], _PLY_TYPES[words[1]])
    if len(words) == 5 and words[1] == "list" and words[2] in _PLY_TYPES:
        if words[3] in _PLY_TYPES:
            return PlyProperty(words[4], _PLY_TYPES[words[3]], _PLY_TYPES[words[2]])
    return None


def parse_ply_header(data: bytes, path: str | Path = "<bytes>") -> PlyHeader:
    """Parse the header at the start of `data`; raises MediaError when it is malformed.

    The one PLY header parser: the splat loader and `app.media.probe` both use it.
    """
    text, data_offset = _header_text(data, path)
    fmt: str | None = None
    elements: list[PlyElement] = []
    for lineno, raw in enumerate(text.splitlines()[1:], start=2):
        words = raw.split()
        key = words[0] if words else "comment"
        if key in ("comment", "obj_info"):
            continue
        where = f"PLY header line {lineno}"
        if key == "format":
            if len(words) < 2 or words[1] not in _PLY_FORMATS:
                raise MediaError(path, f"{where}: unknown format {raw!r}")
            fmt = _PLY_FORMATS[words[1]]
        elif key == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise MediaError(path, f"{where}: bad element line {raw!r}")
            elements.append(PlyElement(words[1], int(words[2]), ()))
        elif key == "property":
            if not elements:
                raise MediaError(path, f"{where}: property before any element")
            prop = _property(words)
            if prop is None:
                raise MediaError(path, f"{where}: bad property line {raw!r}")
            last = elements[-1]
            elements[-1] = PlyElement(last.name, last.count, (*last.properties, prop))
        else:
            raise MediaError(path, f"{where}: unexpected {raw!r}")
    if fmt is None:
        raise MediaError(path, "PLY header has no format line")
    return PlyHeader(fmt, tuple(elements), data_offset)


def _row_dtype(element: PlyElement, byte_order: str) -> np.dtype:
    return np.dtype([(p.name, byte_order + p.dtype) for p in element.properties])


def read_ply_elements(
    data: bytes, header: PlyHeader, wanted: set[str], path: str | Path = "<bytes>"
) -> dict[str, np.ndarray]:
    """Read the elements named in `wanted` as structured arrays (fields named as in the file).

    Elements are walked in file order; elements with list properties can be skipped only when
    they come after everything wanted. Raises MediaError for truncated data.
    """
    out: dict[str, np.ndarray] = {}
    if header.format == "ascii":
        return _read_ascii(data, header, wanted, path)
    offset = header.data_offset
    for element in header.elements:
        if wanted <= out.keys():
            break
        if not element.fixed_size:
            raise MediaError(
                path, f"PLY element {element.name!r} has list properties (not supported here)"
            )
        dtype = _row_dtype(element, header.format)
        size = dtype.itemsize * element.count
        if offset + size > len(data):
            have = max(0, (len(data) - offset) // max(dtype.itemsize, 1))
            raise MediaError(
                path,
                f"file is truncated: element {element.name!r} declares {element.count} rows "
                f"of {dtype.itemsize} bytes, only {have} complete rows present",
            )
        if element.name in wanted:
            out[element.name] = np.frombuffer(data, dtype=dtype, count=element.count, offset=offset)
        offset += size
    return out


def _read_ascii(
    data: bytes, header: PlyHeader, wanted: set[str], path: str | Path
) -> dict[str, np.ndarray]:
    tokens = data[header.data_offset :].split()
    pos = 0
    out: dict[str, np.ndarray] = {}
    for element in header.elements:
        if wanted <= out.keys():
            break
        if not element.fixed_size:
            raise MediaError(path, f"PLY element {element.name!r} has list properties")
        n = len(element.properties) * element.count
        if pos + n > len(tokens):
            have = (len(tokens) - pos) // max(len(element.properties), 1)
            raise MediaError(
                path,
                f"file is truncated in element {element.name!r}: the header claims "
                f"{element.count} rows, the data holds {have}",
            )
        if element.name in wanted:
            values = np.array(tokens[pos : pos + n], dtype=np.float64).reshape(element.count, -1)
            arr = np.empty(element.count, dtype=_row_dtype(element, "<"))
            for i, prop in enumerate(element.properties):
                arr[prop.name] = values[:, i]
            out[element.name] = arr
        pos += n
    return out


# --- scene decoding ------------------------------------------------------------------------


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


def scene_from_arrays(
    path: str | Path,
    kind: SourceKind,
    *,
    positions: np.ndarray,
    log_scales: np.ndarray,
    rotations: np.ndarray,
    opacities: np.ndarray,
    f_dc: np.ndarray,
    sh: np.ndarray | None = None,
) -> SplatScene:
    """A scene in the one convention from decoded arrays as the Inria PLY stores them (log
    scales, any-length w-first quaternions, f_dc coefficients, `sh[n, k, channel]`), except
    that opacities are already 0..1. Non-finite values are refused as in `decode_ply`."""
    positions = np.ascontiguousarray(positions, dtype=np.float32)
    log_scales = np.ascontiguousarray(log_scales, dtype=np.float32)
    rotations = np.ascontiguousarray(rotations, dtype=np.float32)
    colours = (np.asarray(f_dc, np.float32) * np.float32(SH_C0) + np.float32(0.5)).astype(
        np.float32
    )
    opacities = np.ascontiguousarray(opacities, dtype=np.float32)
    degree = 0
    if sh is not None:
        sh = np.ascontiguousarray(sh, dtype=np.float32)
        degree = {3: 1, 8: 2, 15: 3}.get(sh.shape[1], 0)
        if degree == 0:
            sh = None
    _check_values(path, positions, rotations, colours, sh, opacities, log_scales)
    return SplatScene(
        positions=positions,
        scales=np.exp(log_scales),
        rotations=normalise_quaternions(rotations),
        opacities=np.clip(opacities, 0.0, 1.0),
        colours=np.ascontiguousarray(colours),
        sh=sh,
        sh_degree=degree,
        dilation=INRIA_DILATION,
        colour_space="srgb",
        blend_linear=False,
        kind=kind,
        path=Path(path),
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
    _check_values(path, positions, rotations, colours, sh, opacity_logits, log_scales)

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


def _check_values(
    path: Any,
    positions: np.ndarray,
    rotations: np.ndarray,
    colours: np.ndarray,
    sh: np.ndarray | None,
    opacity_logits: np.ndarray,
    log_scales: np.ndarray,
) -> None:
    """Refuse NaN (and infinite where it cannot mean anything) values, naming them."""
    _check_finite(path, "position (x, y, z)", positions)
    _check_finite(path, "rotation (rot_*)", rotations)
    _check_finite(path, "colour (f_dc_*)", colours)
    if sh is not None:
        _check_finite(path, "SH (f_rest_*)", sh)
    if np.isnan(opacity_logits).any():
        raise MediaError(path, f"opacity is NaN for {int(np.isnan(opacity_logits).sum())} splats")
    if np.isnan(log_scales).any() or np.isposinf(log_scales).any():
        bad = int((np.isnan(log_scales) | np.isposinf(log_scales)).any(axis=1).sum())
        raise MediaError(path, f"scale (scale_*) is NaN or +inf for {bad} splats")


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
    _check_finite(path, "position", positions)
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


def _check_finite(path: str | Path, what: str, values: np.ndarray) -> None:
    ok = np.isfinite(values)
    if not ok.all():
        bad = int((~ok).reshape(len(values), -1).any(axis=1).sum())
        kind = "NaN" if np.isnan(values).any() else "infinite"
        raise MediaError(path, f"{what} is {kind} for {bad} splats")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function as float32; +-inf logits give exactly 1 and 0."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):
        return (np.float32(1.0) / (np.float32(1.0) + np.exp(-x))).astype(np.float32)


def normalise_quaternions(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (w first); zero-length ones become the identity."""
    q = np.asarray(q, dtype=np.float32)
    norm = np.sqrt(np.einsum("ij,ij->i", q, q))
    out = np.empty_like(q)
    zero = norm < 1e-12
    np.divide(q, np.where(zero, 1.0, norm)[:, None], out=out)
    if zero.any():
        out[zero] = (1.0, 0.0, 0.0, 0.0)
    return out


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
            fh.write(values.astype("<" + _PLY_TYPES[ply_type]).tobytes())
