"""Splat loaders: decoded values checked against files parsed by hand with `struct`."""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from requires import missing

from app.media.splat_demo import ensure_demo_splat, make_demo_scene
from app.media.splats import SplatScene, load_splats, parse_ply_header, write_mlsharp_ply
from app.media.types import MediaError

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "splats"
C0 = 0.28209479177387814


def _needs(name: str) -> Path:
    path = TESTDATA / name
    if not path.is_file():
        missing(f"test data {path} not present")
    return path


def _sigmoid(x: float) -> float:
    if x == math.inf:
        return 1.0
    if x == -math.inf:
        return 0.0
    return 1.0 / (1.0 + math.exp(-x))


def _unit(q: list[float]) -> list[float]:
    n = math.sqrt(sum(v * v for v in q))
    return [v / n for v in q]


def _hand_parse_ply(path: Path) -> tuple[list[str], list[dict[str, float]]]:
    """Vertex rows of a little-endian, all-float PLY, as dicts by property name."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    count = next(int(line.split()[2]) for line in lines if line.startswith("element vertex"))
    names = []
    in_vertex = False
    for line in lines:
        if line.startswith("element"):
            in_vertex = line.split()[1] == "vertex"
        elif line.startswith("property") and in_vertex:
            assert line.split()[1] == "float"
            names.append(line.split()[2])
    row = struct.Struct("<" + "f" * len(names))
    rows = [
        dict(zip(names, row.unpack_from(data, end + i * row.size), strict=True))
        for i in range(count)
    ]
    return names, rows


def _expected(rows: list[dict[str, float]], sh_per_channel: int = 0) -> dict[str, np.ndarray]:
    out: dict[str, list] = {k: [] for k in ("pos", "scale", "rot", "opacity", "colour", "sh")}
    for r in rows:
        out["pos"].append([r["x"], r["y"], r["z"]])
        out["scale"].append([math.exp(r[f"scale_{i}"]) for i in range(3)])
        out["rot"].append(_unit([r[f"rot_{i}"] for i in range(4)]))
        out["opacity"].append(_sigmoid(r["opacity"]))
        out["colour"].append([0.5 + C0 * r[f"f_dc_{i}"] for i in range(3)])
        out["sh"].append(
            [
                [r[f"f_rest_{c * sh_per_channel + k}"] for c in range(3)]
                for k in range(sh_per_channel)
            ]
        )
    return {k: np.array(v, dtype=np.float64) for k, v in out.items()}


def _check(scene: SplatScene, exp: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(scene.positions, exp["pos"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(scene.scales, exp["scale"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(scene.rotations, exp["rot"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scene.opacities, exp["opacity"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scene.colours, exp["colour"], rtol=1e-5, atol=1e-6)


def _write_ply(
    path: Path,
    vertex: list[tuple[str, str]],
    rows: list[list[float]],
    extras: list[tuple[str, str, list]] = (),
    byte_order: str = "<",
) -> None:
    """A PLY written by hand: vertex properties (name, struct code), then extra elements."""
    ply_type = {"f": "float", "d": "double", "B": "uchar", "I": "uint", "i": "int"}
    fmt = "binary_little_endian" if byte_order == "<" else "binary_big_endian"
    head = [
        "ply",
        f"format {fmt} 1.0",
        "comment written by test_splat_loaders",
        f"element vertex {len(rows)}",
    ]
    head += [f"property {ply_type[code]} {name}" for name, code in vertex]
    for name, code, values in extras:
        head += [f"element {name} {len(values)}", f"property {ply_type[code]} {name}"]
    head.append("end_header")
    body = b"".join(struct.pack(byte_order + "".join(c for _, c in vertex), *row) for row in rows)
    for _name, code, values in extras:
        body += struct.pack(byte_order + code * len(values), *values)
    path.write_bytes(("\n".join(head) + "\n").encode("ascii") + body)


MLSHARP_VERTEX = (
    [("x", "f"), ("y", "f"), ("z", "f")]
    + [(f"f_dc_{i}", "f") for i in range(3)]
    + [("opacity", "f")]
    + [(f"scale_{i}", "f") for i in range(3)]
    + [(f"rot_{i}", "f") for i in range(4)]
)


def _mlsharp_rows(n: int, seed: int) -> list[list[float]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pos = [*rng.normal(size=2), 2.0 + rng.uniform(0, 3)]
        dc = list(rng.normal(size=3))
        opacity = [math.inf, -math.inf, float(rng.normal())][i % 3]
        rows.append([*pos, *dc, opacity, *rng.uniform(-6, -3, 3), *rng.normal(size=4)])
    return [[float(np.float32(v)) for v in r] for r in rows]


def _rows_as_dicts(rows: list[list[float]]) -> list[dict[str, float]]:
    names = [n for n, _ in MLSHARP_VERTEX]
    return [dict(zip(names, r, strict=True)) for r in rows]


# --- shared test data ------------------------------------------------------------------------


def test_inria_ply_with_sh_matches_hand_parse() -> None:
    path = _needs("splatapult-test.ply")
    names, rows = _hand_parse_ply(path)
    per_channel = sum(n.startswith("f_rest_") for n in names) // 3
    scene = load_splats(path)
    assert scene.kind == "inria"
    assert scene.count == len(rows) == 16
    assert scene.sh_degree == 3 and scene.sh is not None and scene.sh.shape == (16, 15, 3)
    assert scene.dilation == pytest.approx(0.3)
    assert scene.colour_space == "srgb" and not scene.blend_linear
    assert scene.intrinsics is None
    exp = _expected(rows, per_channel)
    _check(scene, exp)
    np.testing.assert_allclose(scene.sh, exp["sh"], atol=1e-7)


def test_dot_splat_matches_hand_parse() -> None:
    path = _needs("minimal.splat")
    data = path.read_bytes()
    scene = load_splats(path)
    assert scene.kind == "splat" and scene.count == len(data) // 32
    for i in range(scene.count):
        vals = struct.unpack_from("<3f3f4B4B", data, 32 * i)
        np.testing.assert_allclose(scene.positions[i], vals[0:3], rtol=1e-7)
        np.testing.assert_allclose(scene.scales[i], vals[3:6], rtol=1e-7)
        np.testing.assert_allclose(scene.colours[i], np.array(vals[6:9]) / 255.0, rtol=1e-6)
        assert scene.opacities[i] == pytest.approx(vals[9] / 255.0)
        q = _unit([(v - 128) / 128.0 for v in vals[10:14]])
        np.testing.assert_allclose(scene.rotations[i], q, atol=1e-6)


# --- Inria layout variants ---------------------------------------------------------------------


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_inria_sh_channel_major_and_by_name(tmp_path: Path, degree: int) -> None:
    """f_rest is channel-major; properties are found by name in any order and type."""
    m = (degree + 1) ** 2 - 1
    names = (
        [("opacity", "f"), ("z", "f"), ("y", "f"), ("x", "d"), ("extra", "f")]
        + [(f"rot_{i}", "f") for i in (3, 1, 0, 2)]
        + [(f"f_rest_{i}", "f") for i in range(3 * m)]
        + [(f"scale_{i}", "f") for i in range(3)]
        + [(f"f_dc_{i}", "f") for i in (2, 0, 1)]
    )
    rng = np.random.default_rng(degree)
    rows = [[float(np.float32(v)) for v in rng.normal(size=len(names))] for _ in range(7)]
    path = tmp_path / "shuffled.ply"
    _write_ply(path, names, rows)
    dicts = [dict(zip([n for n, _ in names], r, strict=True)) for r in rows]
    scene = load_splats(path)
    assert scene.sh_degree == degree and scene.kind == "inria"
    exp = _expected(dicts, m)
    _check(scene, exp)
    np.testing.assert_allclose(scene.sh, exp["sh"], rtol=1e-6)


def test_big_endian_and_ascii_ply(tmp_path: Path) -> None:
    rows = _mlsharp_rows(5, 3)
    for r in rows:
        r[6] = 0.25  # finite opacity so that ascii can spell it
    exp = _expected(_rows_as_dicts(rows))
    be = tmp_path / "be.ply"
    _write_ply(be, MLSHARP_VERTEX, rows, byte_order=">")
    _check(load_splats(be), exp)
    text = ["ply", "format ascii 1.0", f"element vertex {len(rows)}"]
    text += [f"property float {n}" for n, _ in MLSHARP_VERTEX] + ["end_header"]
    text += [" ".join(repr(v) for v in r) for r in rows]
    asc = tmp_path / "ascii.ply"
    asc.write_text("\n".join(text) + "\n")
    _check(load_splats(asc), exp)


# --- ml-sharp layout ---------------------------------------------------------------------------


def test_mlsharp_layout_with_extra_elements(tmp_path: Path) -> None:
    rows = _mlsharp_rows(12, 1)
    extrinsic = [1.0, 0, 0, 0.1, 0, 1.0, 0, -0.2, 0, 0, 1.0, 0.3, 0, 0, 0, 1.0]
    extras = [
        ("extrinsic", "f", extrinsic),
        ("intrinsic", "f", [700.0, 0, 512.0, 0, 710.0, 384.0, 0, 0, 1]),
        ("image_size", "I", [1024, 768]),
        ("frame", "i", [1, 12]),
        ("disparity", "f", [0.2, 0.45]),
        ("color_space", "B", [0]),
        ("version", "B", [1, 5, 0]),
    ]
    path = tmp_path / "sharp.ply"
    _write_ply(path, MLSHARP_VERTEX, rows, extras)
    scene = load_splats(path)
    assert scene.kind == "mlsharp"
    assert scene.dilation == 0.0 and scene.blend_linear and scene.colour_space == "srgb"
    assert scene.sh is None and scene.sh_degree == 0
    _check(scene, _expected(_rows_as_dicts(rows)))
    # +inf / -inf opacity logits become exactly 1 and 0
    assert scene.opacities[0] == 1.0 and scene.opacities[1] == 0.0
    assert scene.intrinsics == pytest.approx((700.0, 710.0, 512.0, 384.0, 1024, 768))
    np.testing.assert_allclose(scene.extrinsic, np.array(extrinsic).reshape(4, 4), rtol=1e-6)
    header = parse_ply_header(path.read_bytes())
    assert [e.name for e in header.elements][1:] == [e[0] for e in extras]


def test_mlsharp_legacy_intrinsic_and_extrinsic(tmp_path: Path) -> None:
    rows = _mlsharp_rows(6, 2)
    c, s = math.cos(0.3), math.sin(0.3)
    rot = [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
    trans = [0.5, -0.25, 1.0]
    # legacy 3x4 layout stores the rotation transposed
    legacy = []
    for i in range(3):
        legacy += [rot[0][i], rot[1][i], rot[2][i], trans[i]]
    extras = [
        ("extrinsic", "f", legacy),
        ("intrinsic", "f", [600.0, 610.0, 800.0, 600.0]),
        ("color_space", "B", [1]),
    ]
    path = tmp_path / "legacy.ply"
    _write_ply(path, MLSHARP_VERTEX, rows, extras)
    scene = load_splats(path)
    assert scene.kind == "mlsharp"
    assert scene.intrinsics == pytest.approx((600.0, 610.0, 400.0, 300.0, 800, 600))
    expected = np.eye(4)
    expected[:3, :3] = rot
    expected[:3, 3] = trans
    np.testing.assert_allclose(scene.extrinsic, expected, atol=1e-6)
    assert scene.colour_space == "linear"
    _check(scene, _expected(_rows_as_dicts(rows)))


@pytest.mark.parametrize("legacy", [False, True])
def test_write_mlsharp_round_trip(tmp_path: Path, legacy: bool) -> None:
    rows = _mlsharp_rows(30, 4)
    src = tmp_path / "src.ply"
    _write_ply(
        src,
        MLSHARP_VERTEX,
        rows,
        [
            ("intrinsic", "f", [500.0, 0, 320, 0, 500.0, 240, 0, 0, 1]),
            ("image_size", "I", [640, 480]),
            ("color_space", "B", [0]),
        ],
    )
    scene = load_splats(src)
    out = tmp_path / "out.ply"
    write_mlsharp_ply(out, scene, legacy=legacy)
    again = load_splats(out)
    assert again.kind == "mlsharp" and again.count == scene.count
    for name in ("positions", "scales", "rotations", "opacities", "colours"):
        np.testing.assert_allclose(
            getattr(again, name), getattr(scene, name), rtol=2e-5, atol=1e-6, err_msg=name
        )
    assert again.intrinsics == pytest.approx(scene.intrinsics)
    assert again.colour_space == "srgb"


# --- errors ------------------------------------------------------------------------------------


def test_truncated_ply(tmp_path: Path) -> None:
    path = tmp_path / "cut.ply"
    _write_ply(path, MLSHARP_VERTEX, _mlsharp_rows(10, 5))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(MediaError, match="truncated"):
        load_splats(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "head.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 3\n")
    with pytest.raises(MediaError, match="end_header"):
        load_splats(path)


def test_missing_property(tmp_path: Path) -> None:
    vertex = [p for p in MLSHARP_VERTEX if p[0] != "scale_1"]
    rows = [r[:8] + r[9:] for r in _mlsharp_rows(3, 6)]
    path = tmp_path / "noscale.ply"
    _write_ply(path, vertex, rows)
    with pytest.raises(MediaError, match="scale_1"):
        load_splats(path)


def test_nan_values(tmp_path: Path) -> None:
    rows = _mlsharp_rows(4, 7)
    rows[2][1] = math.nan
    path = tmp_path / "nan.ply"
    _write_ply(path, MLSHARP_VERTEX, rows)
    with pytest.raises(MediaError, match="NaN"):
        load_splats(path)
    rows = _mlsharp_rows(4, 7)
    rows[1][6] = math.nan
    _write_ply(path, MLSHARP_VERTEX, rows)
    with pytest.raises(MediaError, match="opacity"):
        load_splats(path)


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "short.splat"
    bad.write_bytes(b"\0" * 33)
    with pytest.raises(MediaError, match="truncated"):
        load_splats(bad)
    notply = tmp_path / "x.ply"
    notply.write_bytes(b"hello")
    with pytest.raises(MediaError, match="not a PLY"):
        load_splats(notply)
    with pytest.raises(MediaError, match="not found"):
        load_splats(tmp_path / "missing.ply")
    other = tmp_path / "x.obj"
    other.write_bytes(b"")
    with pytest.raises(MediaError, match="unknown splat file type"):
        load_splats(other)
    novertex = tmp_path / "nov.ply"
    _write_ply(novertex, MLSHARP_VERTEX, [])
    with pytest.raises(MediaError, match="no splats"):
        load_splats(novertex)


# --- demo scene --------------------------------------------------------------------------------


def _still(path: Path, w: int = 64, h: int = 40) -> Path:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], axis=-1).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


def test_demo_scene_is_mlsharp_shaped_and_deterministic(tmp_path: Path) -> None:
    still = _still(tmp_path / "still.png")
    a = make_demo_scene(still, tmp_path / "a.ply", size=32, margin=0.0)
    b = make_demo_scene(still, tmp_path / "b.ply", size=32, margin=0.0)
    assert (tmp_path / "a.ply").read_bytes() == (tmp_path / "b.ply").read_bytes()
    assert a.kind == "mlsharp" and a.count == 32 * 20 * 2
    assert a.intrinsics is not None and a.intrinsics[4:] == (64, 40)
    assert (a.positions[:, 2] > 0).all()
    names = [e.name for e in parse_ply_header((tmp_path / "a.ply").read_bytes()).elements]
    assert names == [
        "vertex",
        "extrinsic",
        "intrinsic",
        "image_size",
        "frame",
        "disparity",
        "color_space",
        "version",
    ]
    # layer 0 carries the still's colours, box-downsampled 2x
    small = np.asarray(Image.open(still).convert("RGB").resize((32, 20), Image.BOX)) / 255.0
    np.testing.assert_allclose(a.colours[: 32 * 20].reshape(20, 32, 3), small, atol=1e-5)
    assert b.count == a.count
    wide = make_demo_scene(still, tmp_path / "c.ply", size=32, margin=0.125)
    assert wide.count == (32 + 8) * (20 + 8) * 2 and wide.intrinsics == a.intrinsics
    np.testing.assert_allclose(
        wide.colours[: 40 * 28].reshape(28, 40, 3)[4:-4, 4:-4], small, atol=1e-5
    )


def test_ensure_demo_splat(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    demo.mkdir()
    out = ensure_demo_splat(tmp_path)  # no still yet: built-in sky
    assert out == demo / "room.ply" and load_splats(out).kind == "mlsharp"
    stamp = out.stat().st_mtime_ns
    assert ensure_demo_splat(tmp_path) == out and out.stat().st_mtime_ns == stamp
    still = _still(demo / "moon.png")
    future = out.stat().st_mtime + 10
    os.utime(still, (future, future))
    ensure_demo_splat(tmp_path)
    assert out.stat().st_mtime_ns != stamp  # rebuilt from the newer still
