"""Compressed splat layouts (PlayCanvas compressed PLY, Niantic SPZ, PlayCanvas SOG) read to
the same scene arrays as the Inria PLY they were made from, within each format's
quantisation, and render like it (PSNR against the PLY original)."""

from __future__ import annotations

from pathlib import Path

import moderngl
import numpy as np
import pytest
from splat_oracle import psnr
from splat_writers import (
    SH_C0,
    KnownSplats,
    known_splats,
    write_compressed_ply,
    write_inria_ply,
    write_sog_folder,
    write_sog_zip,
    write_spz,
    write_spz_v4,
)

from app.media.splats import SplatScene, load_splats
from app.media.types import MediaError

SIZE = 96
MIN_PSNR = 30.0


def _write(fmt: str, tmp: Path, s: KnownSplats) -> Path:
    writers = {
        "ply": lambda: write_inria_ply(tmp / "scene.ply", s),
        "compressed": lambda: write_compressed_ply(tmp / "scene.compressed.ply", s),
        "compressed-nocolour": lambda: write_compressed_ply(
            tmp / "plain.compressed.ply", s, chunk_colours=False
        ),
        "spz2": lambda: write_spz(tmp / "scene2.spz", s, version=2),
        "spz3": lambda: write_spz(tmp / "scene3.spz", s, version=3),
        "spz4": lambda: write_spz_v4(tmp / "scene4.spz", s),
        "sog": lambda: write_sog_zip(tmp / "scene.sog", s),
        "sog-folder": lambda: write_sog_folder(tmp / "sogdir", s),
    }
    return writers[fmt]()


def _same_rotation(got: np.ndarray, want: np.ndarray, tol: float) -> None:
    dots = np.abs(np.einsum("ij,ij->i", got.astype(np.float64), want))
    assert dots.min() >= 1.0 - tol, f"rotation off by {1.0 - dots.min():.2e}"


# per format: position, log-scale, colour, opacity, SH tolerances and 1 - |q.q'|
TOLERANCE = {
    "compressed": (None, None, None, 0.5 / 255 + 1e-6, 4.0 / 256 + 1e-6, 2e-5),
    "compressed-nocolour": (None, None, 0.5 / 255 + 1e-6, 0.5 / 255 + 1e-6, 4.0 / 256 + 1e-6, 2e-5),
    "spz2": (0.5 / 4096 + 1e-6, 1 / 32 + 1e-6, SH_C0 / 76.5 + 1e-6, 1 / 510 + 1e-6, 0.07, 1e-2),
    "spz3": (0.5 / 4096 + 1e-6, 1 / 32 + 1e-6, SH_C0 / 76.5 + 1e-6, 1 / 510 + 1e-6, 0.07, 1e-5),
    "spz4": (0.5 / 4096 + 1e-6, 1 / 32 + 1e-6, SH_C0 / 76.5 + 1e-6, 1 / 510 + 1e-6, 0.07, 1e-5),
    "sog": (2e-4, None, None, 1 / 510 + 1e-6, None, 1e-4),
    "sog-folder": (2e-4, None, None, 1 / 510 + 1e-6, None, 1e-4),
}
FORMATS = list(TOLERANCE)


def _chunk_steps(values: np.ndarray, bits: tuple[int, int, int]) -> np.ndarray:
    """Half a quantisation step per axis of the compressed PLY (the largest chunk span)."""
    chunks = np.arange(values.shape[0]) // 256
    span = np.max([np.ptp(values[chunks == c], axis=0) for c in range(chunks.max() + 1)], axis=0)
    return span / (2.0 ** np.array(bits) - 1.0) * 0.5 + 1e-6


def _codebook_step(values: np.ndarray) -> float:
    return float(np.ptp(values)) / 255.0 * 0.5 + 1e-6


def _check_arrays(fmt: str, scene: SplatScene, s: KnownSplats) -> None:
    t_pos, t_scale, t_col, t_alpha, t_sh, t_rot = TOLERANCE[fmt]
    rgb = 0.5 + SH_C0 * s.f_dc
    if fmt.startswith("compressed"):
        t_pos = _chunk_steps(s.xyz, (11, 10, 11))
        t_scale = _chunk_steps(s.log_scale, (11, 10, 11))
        t_col = t_col or _chunk_steps(rgb, (8, 8, 8))
    if fmt.startswith("sog"):
        t_scale = _codebook_step(s.log_scale)
        t_col = SH_C0 * _codebook_step(s.f_dc)
        t_sh = _codebook_step(s.f_rest)
    assert scene.count == s.n
    assert np.all(np.abs(scene.positions - s.xyz) <= t_pos)
    assert np.all(np.abs(np.log(scene.scales) - s.log_scale) <= t_scale + 1e-5)
    assert np.all(np.abs(scene.colours - rgb) <= t_col + 1e-6)
    assert np.all(np.abs(scene.opacities - s.opacity) <= t_alpha)
    _same_rotation(scene.rotations, s.rot, t_rot)
    assert scene.sh_degree == 1 and scene.sh is not None
    assert np.all(np.abs(scene.sh - s.sh()) <= t_sh)


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_reads_the_known_splats(tmp_path: Path, fmt: str) -> None:
    s = known_splats()
    scene = load_splats(_write(fmt, tmp_path, s))
    _check_arrays(fmt, scene, s)


def test_spz_without_sh_and_degree_3(tmp_path: Path) -> None:
    for degree in (0, 3):
        s = known_splats(n=300, degree=degree, seed=9)
        for version in (2, 3):
            scene = load_splats(write_spz(tmp_path / f"d{degree}v{version}.spz", s, version))
            assert scene.sh_degree == degree
            np.testing.assert_allclose(scene.positions, s.xyz, atol=0.5 / 4096 + 1e-6)
            if degree:
                flat = scene.sh.transpose(0, 2, 1).reshape(s.n, -1)
                np.testing.assert_allclose(flat, s.f_rest, atol=1 / 16 + 1e-6)
        v4 = load_splats(write_spz_v4(tmp_path / f"d{degree}.spz", s))
        assert v4.sh_degree == degree


def test_spz_version_1_float16_positions(tmp_path: Path) -> None:
    s = known_splats(n=200, seed=12)
    scene = load_splats(write_spz(tmp_path / "v1.spz", s, version=1))
    np.testing.assert_allclose(scene.positions, s.xyz, rtol=2**-11, atol=1e-6)
    _same_rotation(scene.rotations, s.rot, 1e-2)


def test_damaged_compressed_files_are_refused(tmp_path: Path) -> None:
    s = known_splats(n=300)
    spz = write_spz(tmp_path / "a.spz", s).read_bytes()
    (tmp_path / "cut.spz").write_bytes(spz[: len(spz) // 2])
    with pytest.raises(MediaError, match="gzip"):
        load_splats(tmp_path / "cut.spz")
    import gzip

    raw = gzip.decompress(spz)
    (tmp_path / "short.spz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(MediaError, match="need"):
        load_splats(tmp_path / "short.spz")
    (tmp_path / "bomb.spz").write_bytes(gzip.compress(raw[:16] + bytes(64 << 20)))
    with pytest.raises(MediaError, match="more than 300 splats need"):
        load_splats(tmp_path / "bomb.spz")
    ply = write_compressed_ply(tmp_path / "c.compressed.ply", s).read_bytes()
    (tmp_path / "d.ply").write_bytes(ply.replace(b"packed_rotation", b"packed_rotatio_"))
    with pytest.raises(MediaError, match="lacks properties packed_rotation"):
        load_splats(tmp_path / "d.ply")
    (tmp_path / "e.ply").write_bytes(ply.replace(b"element chunk 2", b"element chunk 1"))
    with pytest.raises(MediaError, match="chunks"):
        load_splats(tmp_path / "e.ply")
    folder = write_sog_folder(tmp_path / "sog", s)
    (folder.parent / "quats.webp").unlink()
    with pytest.raises(MediaError, match="quats.webp"):
        load_splats(folder)
    (tmp_path / "x.ksplat").write_bytes(b"\0" * 5000)
    with pytest.raises(MediaError, match="splat-transform"):
        load_splats(tmp_path / "x.ksplat")


# --- render agreement -----------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(gl_context: moderngl.Context, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from app.render.camera import base_view
    from app.render.gl import make_current
    from app.render.splats import SplatRenderer

    make_current(gl_context)
    tmp = tmp_path_factory.mktemp("formats")
    s = known_splats()
    renderer = SplatRenderer(gl_context, sort="cpu", timing=False)
    original = load_splats(_write("ply", tmp, s))
    view = base_view(original, None, SIZE, SIZE)
    out = {}
    try:
        for fmt in ["ply", *FORMATS]:
            scene = original if fmt == "ply" else load_splats(_write(fmt, tmp, s))
            gpu = renderer.upload(scene)
            layer = renderer.render(gpu, view, SIZE, SIZE)
            raw = np.frombuffer(layer.texture.read(), np.float16).reshape(SIZE, SIZE, 4)
            out[fmt] = raw.astype(np.float64)[..., :3]
            gpu.release()
    finally:
        renderer.release()
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_renders_like_the_ply(rendered: dict, fmt: str) -> None:
    reference = rendered["ply"]
    assert reference.mean() > 0.02, "the PLY original renders (nearly) black"
    value = psnr(np.clip(rendered[fmt], 0, 1), np.clip(reference, 0, 1))
    print(f"PSNR {fmt} vs PLY: {value:.1f} dB")
    assert value >= MIN_PSNR, f"{fmt}: {value:.1f} dB"


def test_spz_in_niantics_rub_frame_plays_upright_with_axes_rub(tmp_path: Path) -> None:
    """splat-transform writes SPZ in the PLY's frame (read as is); a file in Niantic's RUB
    frame is turned back by the cue's `splat: {axes: rub}`."""
    from app.media.splat_cue import load_cue_scene
    from app.show.model import SplatTrim

    s = known_splats(n=400, degree=3, seed=5)
    for version in (2, 3):
        path = write_spz(tmp_path / f"rub{version}.spz", s, version, rub=True)
        raw = load_splats(path)
        np.testing.assert_allclose(raw.positions, s.xyz * [1, -1, -1], atol=0.5 / 4096 + 1e-6)
        turned = load_cue_scene(path, SplatTrim(axes="rub")).scene
        np.testing.assert_allclose(turned.positions, s.xyz, atol=0.5 / 4096 + 1e-6)
        tol = 1e-2 if version == 2 else 1e-5
        _same_rotation(turned.rotations, s.rot, tol)
        flat = turned.sh.transpose(0, 2, 1).reshape(s.n, -1)
        np.testing.assert_allclose(flat, s.f_rest, atol=1 / 16 + 1e-6)


REAL = Path(__file__).resolve().parent / "data" / "splat_transform"


@pytest.mark.parametrize("name", ["st.compressed.ply", "st-v4.spz", "st-v3.spz", "st.sog"])
def test_files_written_by_splat_transform(name: str) -> None:
    """Real files from PlayCanvas splat-transform 3.7.0 (tests/data/splat_transform) hold
    the known splats, reordered: each decoded splat matches its nearest original."""
    s = known_splats(n=600, degree=1, seed=21)
    scene = load_splats(REAL / name)
    assert scene.count == s.n and scene.sh_degree == 1
    d = ((scene.positions[:, None, :].astype(np.float64) - s.xyz[None]) ** 2).sum(-1)
    match = d.argmin(axis=1)
    assert len(set(match.tolist())) == s.n  # one to one
    assert np.sqrt(d.min(axis=1)).max() < 2e-3
    assert np.abs(scene.colours - (0.5 + SH_C0 * s.f_dc[match])).max() < 0.01
    assert np.abs(scene.opacities - s.opacity[match]).max() < 0.01
    assert np.abs(np.log(scene.scales) - s.log_scale[match]).max() < 0.04
    _same_rotation(scene.rotations, s.rot[match], 2e-4)
    sh_error = np.abs(scene.sh - s.sh()[match]).max()
    assert sh_error < (0.3 if name.endswith(".sog") else 0.04)  # SOG: a k-means palette
