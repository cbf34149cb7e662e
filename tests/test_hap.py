"""HAP: section parsing (pure), then every variant played to GL and read back against
FFmpeg's own decode of the same frames (or, for Hap7, which FFmpeg cannot decode, the
exactly stored source), alpha composited over a layer below."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import cramjam
import moderngl
import numpy as np
import pytest

from app.bench.clips import make_hap_clip
from app.cues.state import LayerMix, Mix, MixEntry
from app.media.ffmpeg import ffmpeg_cmd
from app.media.hap import HapError, HapFrame, parse_frame, texture_bytes
from app.media.probe import probe
from app.media.video import VideoSource
from app.render.compositor import Compositor
from app.render.hap import HapTextures, missing_support
from app.render.outputs import HeadlessOutput
from app.render.textures import RgbaTexture
from app.show.model import Fit
from tests.hap_clips import (
    ALPHA_RAMP,
    bc7_flat,
    block_means,
    flat_blocks,
    rgtc1_flat,
    section,
    write_hap_mov,
)

W, H, FPS = 64, 36, 10.0


# -- parsing (no GL) ----------------------------------------------------------------------------


def dxt1_payload(w: int = 8, h: int = 8) -> bytes:
    return bytes(range(256)) * (texture_bytes("dxt1", w, h) // 256) or bytes(
        i % 251 for i in range(texture_bytes("dxt1", w, h))
    )


def test_both_header_sizes_and_no_compression() -> None:
    tex = bytes(i % 251 for i in range(texture_bytes("dxt1", 8, 8)))
    for long in (False, True):
        frame = parse_frame(section(0xAB, tex, long=long), 8, 8)
        assert frame.variant == "Hap1" and frame.textures[0].data.tobytes() == tex


def test_snappy_and_chunked_sections() -> None:
    tex = bytes(i % 7 for i in range(texture_bytes("dxt5", 16, 8)))
    whole = section(0xBE, bytes(cramjam.snappy.compress_raw(tex)))
    assert parse_frame(whole, 16, 8).textures[0].data.tobytes() == tex
    half = len(tex) // 2
    chunks = [bytes(cramjam.snappy.compress_raw(tex[:half])), tex[half:]]
    table = (
        section(0x02, bytes([0x0B, 0x0A]))
        + section(0x03, b"".join(len(c).to_bytes(4, "little") for c in chunks))
        + section(0x04, (0).to_bytes(4, "little") + len(chunks[0]).to_bytes(4, "little"))
    )
    packet = section(0xCF, section(0x01, table) + b"".join(chunks))
    frame = parse_frame(packet, 16, 8)
    assert frame.variant == "HapY" and frame.textures[0].data.tobytes() == tex


def test_multi_image_section() -> None:
    ycocg = bytes(texture_bytes("ycocg", 8, 8))
    alpha = bytes(texture_bytes("rgtc1", 8, 8))
    frame = parse_frame(section(0x0D, section(0xAF, ycocg) + section(0xA1, alpha)), 8, 8)
    assert frame.variant == "HapM" and frame.has_alpha
    assert [t.format for t in frame.textures] == ["ycocg", "rgtc1"]


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (b"\x10\x00", "header at byte 0 is cut"),
        (section(0xAB, bytes(10))[:-2], "declares 10 bytes, only 8 follow"),
        (bytes([0, 0, 0, 0xAB, 0xFF, 0xFF, 0xFF, 0x7F]) + bytes(32), "declares"),
        (section(0xA7, bytes(32)), "unknown section type 0xa7"),
        (section(0xAB, bytes(31)), "texture is 31 bytes, 8x8 needs 32"),
        (section(0xBB, b"\xff\xff\xff\xff\x0f garbage"), "Snappy"),
        (section(0xCB, section(0x01, section(0x02, b"\x0b"))), "chunk size table"),
    ],
)
def test_bad_frames_raise_a_clear_error(packet: bytes, message: str) -> None:
    with pytest.raises(HapError, match=message):
        parse_frame(packet, 8, 8)


# -- clips --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hap_clips")
    common = dict(width=W, height=H, fps=FPS, seconds=0.3)
    out = {
        "Hap1": make_hap_clip(d / "hap1.mov", variant="Hap1", **common),
        "Hap1-chunks": make_hap_clip(d / "hap1c.mov", variant="Hap1", chunks=4, **common),
        "Hap1-raw": make_hap_clip(d / "hap1r.mov", variant="Hap1", compressor="none", **common),
        "Hap5": make_hap_clip(d / "hap5.mov", variant="Hap5", filters=ALPHA_RAMP, **common),
        "HapY": make_hap_clip(d / "hapy.mov", variant="HapY", **common),
        "HapY-chunks": make_hap_clip(d / "hapyc.mov", variant="HapY", chunks=3, **common),
    }
    rgtc = rgtc1_flat(block_means(flat_alpha()[..., None])[..., 0])

    def hapm(i: int, packet: bytes) -> bytes:  # ffmpeg's HapY texture + our alpha
        return section(0x0D, packet + section(0xB1, bytes(cramjam.snappy.compress_raw(rgtc))))

    out["HapM"] = write_hap_mov(d / "hapm.mov", out["HapY"], "HapM", hapm)
    out["HapA"] = write_hap_mov(
        d / "hapa.mov", out["HapY"], "HapA", lambda i, p: section(0xA1, rgtc)
    )
    bc7 = bc7_flat(block_means(bc7_source()))
    out["Hap7"] = write_hap_mov(
        d / "hap7.mov", out["HapY"], "Hap7", lambda i, p: section(0xAC, bc7, long=True)
    )
    return out


def flat_alpha() -> np.ndarray:
    """(H, W) uint8 alpha, flat by 4x4 blocks (RGTC1 stores it exactly): a ramp by columns."""
    ramp = np.round(np.linspace(0, 255, W)).astype(np.uint8)[None, :, None].repeat(H, 0)
    return flat_blocks(block_means(ramp))[..., 0]


def bc7_source() -> np.ndarray:
    """(H, W, 4) RGBA flat by 4x4 blocks, every channel of a colour even (BC7 stores it exactly)."""
    rng = np.random.default_rng(7)
    blocks = (rng.integers(0, 128, size=(H // 4, W // 4, 4)) * 2).astype(np.uint8)
    blocks[..., 3] = np.where(blocks[..., 3] < 60, 254, blocks[..., 3])  # mostly visible
    return flat_blocks(blocks)


def ffmpeg_rgba(path: Path, frame: int) -> np.ndarray:
    raw = subprocess.run(
        ffmpeg_cmd("-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgba", "-"),
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, H, W, 4)[frame].astype(int)


@pytest.fixture
def output(ctx: moderngl.Context) -> Iterator[HeadlessOutput]:
    out = HeadlessOutput(W, H, ctx=ctx)
    yield out
    out.close()


def hap_frame(path: Path, t: float) -> HapFrame:
    with VideoSource(path, loop=False) as src:
        frame = src.frame_for(t, wait=2.0)
        while frame is None or not src.is_current(frame, t):
            frame = src.frame_for(t, wait=0.5)
        assert isinstance(frame, HapFrame)
        return frame


def drawn(ctx: moderngl.Context, out: HeadlessOutput, frame: HapFrame) -> np.ndarray:
    """The frame drawn 1:1 over black by the compositor, read back as (H, W, 3) int."""
    comp = Compositor(ctx, W, H)
    tex = HapTextures(ctx, frame.width, frame.height, tuple(t.format for t in frame.textures))
    try:
        tex.upload(frame)
        comp.draw_image(tex, Fit.STRETCH, 1.0, out.fbo)
        return out.read_pixels().astype(int)
    finally:
        tex.release()
        comp.release()


@pytest.mark.parametrize(
    ("name", "tol"),
    [
        ("Hap1", 2),
        ("Hap1-chunks", 2),
        ("Hap1-raw", 2),
        ("Hap5", 2),
        ("HapY", 4),
        ("HapY-chunks", 4),
        ("HapM", 4),
        ("HapA", 2),
    ],
)
def test_variant_matches_ffmpeg(
    ctx: moderngl.Context, output: HeadlessOutput, clips: dict[str, Path], name: str, tol: int
) -> None:
    info = probe(clips[name])
    assert info.error is None and info.codec == "hap"
    assert info.hap == name.split("-")[0]
    frame = hap_frame(clips[name], 0.2)  # the third frame
    assert frame.variant == info.hap
    if name == "HapM":  # FFmpeg rejects our HapM: its colour is the HapY clip's, alpha ours
        ref = ffmpeg_rgba(clips["HapY"], 2)
        ref[..., 3] = flat_alpha()
    else:
        ref = ffmpeg_rgba(clips[name], 2)
    expected = ref[..., :3] * ref[..., 3:] / 255.0  # drawn over black: premultiplied
    diff = np.abs(drawn(ctx, output, frame) - expected)
    assert diff.max() <= tol + 0.5, f"{name}: max difference {diff.max():.1f}/255"


def test_hap7_matches_its_exact_source(
    ctx: moderngl.Context, output: HeadlessOutput, clips: dict[str, Path]
) -> None:
    info = probe(clips["Hap7"])
    assert info.error is None and info.hap == "Hap7" and info.alpha
    src = bc7_source().astype(int)
    expected = src[..., :3] * src[..., 3:] / 255.0
    diff = np.abs(drawn(ctx, output, hap_frame(clips["Hap7"], 0.1)) - expected)
    assert diff.max() <= 2.5


def test_alpha_composites_over_the_layer_below(
    ctx: moderngl.Context, output: HeadlessOutput, clips: dict[str, Path]
) -> None:
    frame = hap_frame(clips["Hap5"], 0.0)
    hap = HapTextures(ctx, W, H, ("dxt5",))
    white = RgbaTexture(ctx, np.full((H, W, 4), 255, np.uint8))
    comp = Compositor(ctx, W, H)
    try:
        hap.upload(frame)
        mix = Mix(
            layers=(
                LayerMix(1, (MixEntry(0, 1.0, 0.0, 1.0),)),
                LayerMix(2, (MixEntry(1, 1.0, 0.0, 1.0),)),
            ),
            master=1.0,
            black=0.0,
        )
        output.begin_frame()
        comp.draw(mix, {0: white, 1: hap}.get, lambda cue: Fit.STRETCH, output.fbo)
        output.end_frame()
        pixels = output.read_pixels().astype(int)
    finally:
        comp.release()
        hap.release()
        white.release()
    ref = ffmpeg_rgba(clips["Hap5"], 0)
    a = ref[..., 3:] / 255.0
    expected = ref[..., :3] * a + 255 * (1 - a)
    assert np.abs(pixels - expected).max() <= 2.5
    assert pixels[:, 0].min() >= 250  # alpha 0 on the left: the white layer shows through


def test_a_gl_without_s3tc_is_told(ctx: moderngl.Context) -> None:
    class Gl33:  # a core 3.3 context without any compression extension
        extensions = {e for e in ctx.extensions if "compression" not in e}
        version_code = 330

    old = Gl33()
    assert missing_support(old, ("dxt1",)) == "GL_EXT_texture_compression_s3tc"  # type: ignore[arg-type]
    assert missing_support(old, ("bc7",)) == "GL_ARB_texture_compression_bptc"  # type: ignore[arg-type]
    assert missing_support(old, ("rgtc1",)) is None  # type: ignore[arg-type]  # core in 3.0
    assert missing_support(ctx, ("ycocg", "rgtc1")) is None


def test_fallback_decodes_hap_on_the_cpu(clips: dict[str, Path]) -> None:
    with VideoSource(clips["Hap1"], hap=False) as src:
        frame = src.preroll()
        assert frame is not None and not isinstance(frame, HapFrame)
        assert (frame.width, frame.height) == (W, H) and frame.colorspace == "bt601"


# -- in a running show ------------------------------------------------------------------------


def play(tmp_path: Path, clip: Path, frames: int, on_note=None):
    """A one-cue show played offline on a headless output; returns (pixels, player notes)."""
    from frames import run_frames

    from app.bench.common import show_of
    from app.clock import FakeTime, FrameClock
    from app.cues.actions import Go
    from app.eventlog import EventLog
    from app.player import Player

    show = show_of([clip], width=W, height=H, fps=FPS, fade=0.0, loop=False)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    clock = FrameClock(fake, fake.sleep)
    player = Player(show, out, clock=clock, log=EventLog(tmp_path / "l"), offline=True)
    try:
        if on_note is not None:
            player.pool.on_note = on_note
        player.put(Go(source="key"), 0.0)
        run_frames(player, frames)  # each frame moves the fake clock on by 1 / FPS
        return out.read_pixels().astype(int), player.pool.image_for(0)
    finally:
        player.close()
        out.close()


def test_hap_cue_plays_in_a_show(tmp_path: Path, clips: dict[str, Path]) -> None:
    pixels, image = play(tmp_path, clips["HapY"], 3)  # frames at 0, 0.1, 0.2 s
    assert isinstance(image, HapTextures)
    ref = ffmpeg_rgba(clips["HapY"], 2)[..., :3]
    assert np.abs(pixels - ref).max() <= 4


def test_a_gl_lacking_the_format_falls_back_once_with_a_note(
    tmp_path: Path, clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.render.pool as pool

    monkeypatch.setattr(pool, "missing_support", lambda ctx, formats: "GL_EXT_fake_s3tc")
    notes: list[str] = []
    pixels, image = play(tmp_path, clips["Hap1"], 3, on_note=notes.append)
    assert not isinstance(image, HapTextures)  # decoded by libavcodec, drawn as YUV
    assert notes == ["Hap1 clips decode on the CPU here: this GL has no GL_EXT_fake_s3tc"]
    ref = ffmpeg_rgba(clips["Hap1"], 2)[..., :3]
    # through 4:2:0 chroma: exact in flat areas, blurred at the edges of testsrc2's patches
    assert np.median(np.abs(pixels - ref).max(axis=2)) <= 3
