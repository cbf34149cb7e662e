"""PlayCanvas SOG: a `meta.json` and lossless WebP property images (Pillow reads them),
either loose in a folder (cue the `meta.json`) or bundled in a `.sog` zip.

Layout (playcanvas/splat-transform `read-sog.ts`, `write-sog.ts`;
shared/notes/splat-formats.md), one texel per splat, row by row:

- version 2 (`"version": 2`): `means` {mins, maxs, files: [low bytes, high bytes]}: per axis
  a 16-bit value within mins..maxs of `sign(x) * ln(|x| + 1)`; `scales` {codebook[256]}:
  RGB index the codebook (log scales); `sh0` {codebook}: RGB index the codebook (f_dc), A is
  sigmoid(opacity) * 255; `quats`: RGB the three smaller components as
  `(v / 255 * 2 - 1) / sqrt(2)` in w, x, y, z order, A = 252 + index of the largest;
  optional `shN` {count, bands, codebook, files: [centroids, labels]}: a 16-bit label
  (R + G * 256) picks a palette entry; entry e's coefficient j is the texel at
  (e % 64 * coefficients + j, e // 64) of the centroids image, whose RGB index the codebook.
- version 1 (no `version` key) used per-property mins/maxs instead of codebooks; it is
  refused with the conversion line (`splat-transform old.sog new.sog`).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from app.media.splat_scene import SplatScene, scene_from_arrays
from app.media.types import MediaError

MAX_META_BYTES = 1 << 20
MAX_MEMBER_BYTES = 1 << 30
SH_COEFFS = {1: 3, 2: 8, 3: 15}
PALETTE_ROW = 64

Reader = Callable[[str], bytes]


def load_sog_folder(meta_path: Path) -> SplatScene:
    """A SOG whose `meta.json` and images lie in one folder."""
    folder = meta_path.parent

    def read(name: str) -> bytes:
        member = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise MediaError(meta_path, f"SOG image name {name!r} leaves the scene's folder")
        try:
            return member.read_bytes()
        except OSError as exc:
            raise MediaError(meta_path, f"SOG image {name} cannot be read: {exc}") from None

    try:
        meta = meta_path.read_bytes()
    except OSError as exc:
        raise MediaError(meta_path, f"cannot read: {exc}") from None
    return decode_sog(meta, read, meta_path)


def decode_sog_zip(data: bytes, path: str | Path = "<bytes>") -> SplatScene:
    """A bundled `.sog`: a zip holding `meta.json` and the images."""
    try:
        bundle = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise MediaError(path, f"not a SOG bundle (not a zip: {exc})") from None
    with bundle:
        names = {info.filename: info for info in bundle.infolist()}
        metas = [n for n in names if n.rsplit("/", 1)[-1] == "meta.json"]
        if not metas:
            raise MediaError(path, "SOG bundle has no meta.json")
        base = metas[0].rpartition("/")[0]

        def read(name: str) -> bytes:
            full = f"{base}/{name}" if base else name
            info = names.get(full)
            if info is None:
                raise MediaError(path, f"SOG bundle lacks {name} (named in meta.json)")
            if info.file_size > MAX_MEMBER_BYTES:
                raise MediaError(path, f"SOG member {name} is {info.file_size} bytes (too big)")
            try:
                return bundle.read(info)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise MediaError(path, f"SOG member {name} is damaged: {exc}") from None

        return decode_sog(read("meta.json"), read, path)


def _meta(raw: bytes, path: object) -> dict[str, Any]:
    if len(raw) > MAX_META_BYTES:
        raise MediaError(path, f"SOG meta.json is {len(raw)} bytes (more than 1 MiB)")
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MediaError(path, f"SOG meta.json is not JSON: {exc}") from None
    if not isinstance(meta, dict):
        raise MediaError(path, "SOG meta.json is not an object")
    if "version" not in meta:
        raise MediaError(
            path,
            "SOG version 1 (no 'version' in meta.json) is not read here: convert it with "
            "PlayCanvas splat-transform (splat-transform old/meta.json new.sog)",
        )
    if meta["version"] != 2:
        raise MediaError(path, f"SOG version {meta['version']!r} is not supported (2 is)")
    for key in ("count", "means", "scales", "quats", "sh0"):
        if key not in meta:
            raise MediaError(path, f"SOG meta.json lacks '{key}'")
    count = meta["count"]
    if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
        raise MediaError(path, f"SOG count is {count!r} (expected a positive integer)")
    return meta


def _files(meta: dict[str, Any], key: str, n: int, path: object) -> list[str]:
    files = meta[key].get("files") if isinstance(meta[key], dict) else None
    if not isinstance(files, list) or len(files) < n or not all(isinstance(f, str) for f in files):
        raise MediaError(path, f"SOG meta.json '{key}.files' must name {n} image(s)")
    return files[:n]


def _numbers(meta: dict[str, Any], section: str, key: str, size: int, path: object) -> np.ndarray:
    """`meta[section][key]` as `size` finite numbers (float64); MediaError otherwise."""
    raw = meta[section].get(key) if isinstance(meta[section], dict) else None
    try:
        values = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError):
        values = np.zeros(0)
    if values.shape != (size,) or not np.isfinite(values).all():
        raise MediaError(path, f"SOG meta.json '{section}.{key}' must be {size} finite numbers")
    return values


def _image(
    read: Reader, name: str, count: int, path: object, width: int | None = None
) -> np.ndarray:
    """The first `count` texels of an RGBA image, (count, 4) uint8 (`width`: required)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(read(name))) as im:
            rgba = np.asarray(im.convert("RGBA"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
        raise MediaError(path, f"SOG image {name} cannot be decoded: {exc}") from None
    if width is not None and rgba.shape[1] != width:
        raise MediaError(path, f"SOG image {name} is {rgba.shape[1]} texels wide, not {width}")
    flat = rgba.reshape(-1, 4)
    if flat.shape[0] < count:
        raise MediaError(
            path, f"SOG image {name} holds {flat.shape[0]} texels, fewer than {count} splats"
        )
    return flat[:count]


def decode_sog(meta_raw: bytes, read: Reader, path: str | Path) -> SplatScene:
    """Decode a SOG from its meta.json bytes and a reader of the images it names."""
    meta = _meta(meta_raw, path)
    n = int(meta["count"])
    lo_name, hi_name = _files(meta, "means", 2, path)
    lo = _image(read, lo_name, n, path)[:, :3].astype(np.float64)
    hi = _image(read, hi_name, n, path)[:, :3].astype(np.float64)
    mins, maxs = _numbers(meta, "means", "mins", 3, path), _numbers(meta, "means", "maxs", 3, path)
    t = (lo + 256.0 * hi) / 65535.0
    logged = mins + (maxs - mins) * t
    positions = np.sign(logged) * np.expm1(np.abs(logged))

    scales = _image(read, _files(meta, "scales", 1, path)[0], n, path)
    log_scales = _numbers(meta, "scales", "codebook", 256, path)[scales[:, :3]]

    sh0 = _image(read, _files(meta, "sh0", 1, path)[0], n, path)
    f_dc = _numbers(meta, "sh0", "codebook", 256, path)[sh0[:, :3]]
    opacities = sh0[:, 3] / 255.0

    quats = _image(read, _files(meta, "quats", 1, path)[0], n, path)
    rotations = _quaternions(quats)
    sh = _sh_rest(meta, read, n, path) if meta.get("shN") else None
    return scene_from_arrays(
        path,
        "sog",
        positions=positions,
        log_scales=log_scales,
        rotations=rotations,
        opacities=opacities,
        f_dc=f_dc,
        sh=sh,
    )


def _quaternions(texels: np.ndarray) -> np.ndarray:
    n = texels.shape[0]
    small = (texels[:, :3] / 255.0 * 2.0 - 1.0) / np.sqrt(2.0)
    tag = texels[:, 3].astype(np.int64)
    out = np.zeros((n, 4), np.float64)
    out[:, 0] = 1.0  # a texel with a bad tag stays the identity
    for k in range(4):
        rows = tag == 252 + k
        others = [i for i in range(4) if i != k]
        out[np.ix_(rows, others)] = small[rows]
        out[rows, k] = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", small, small)))[rows]
    return out


def _sh_rest(meta: dict[str, Any], read: Reader, n: int, path: object) -> np.ndarray | None:
    spec = meta["shN"]
    bands = spec.get("bands") if isinstance(spec, dict) else None
    if bands not in SH_COEFFS:
        raise MediaError(path, f"SOG shN.bands is {bands!r} (expected 1, 2 or 3)")
    coeffs = SH_COEFFS[bands]
    palette = spec.get("count")
    if not isinstance(palette, int) or palette <= 0:
        raise MediaError(path, f"SOG shN.count is {palette!r} (expected a positive integer)")
    book = _numbers(meta, "shN", "codebook", 256, path)
    centroids_name, labels_name = _files(meta, "shN", 2, path)
    labels_px = _image(read, labels_name, n, path)
    labels = labels_px[:, 0].astype(np.int64) | (labels_px[:, 1].astype(np.int64) << 8)
    rows = -(-palette // PALETTE_ROW)
    flat = _image(read, centroids_name, rows * PALETTE_ROW * coeffs, path, PALETTE_ROW * coeffs)
    # the centroid image is PALETTE_ROW * coeffs texels wide: entry e, coefficient j
    table = flat.reshape(rows * PALETTE_ROW, coeffs, 4)[:palette, :, :3]
    values = book[table]  # (palette, coeffs, 3)
    out = np.zeros((n, coeffs, 3), np.float64)
    ok = labels < palette
    out[ok] = values[labels[ok]]
    return out
