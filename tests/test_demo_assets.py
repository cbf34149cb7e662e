"""Demo media: made when missing, deterministic, atomic, and what the demo show expects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.media.demo_assets import DEMO_STILLS, DEMO_VIDEOS, draw_moon, ensure_demo_media
from app.media.probe import probe
from app.media.still import load_still

SMALL = dict(width=160, height=90, seconds=0.5)


def test_small_demo_media_are_deterministic(tmp_path: Path) -> None:
    a = ensure_demo_media(tmp_path / "a", **SMALL)
    b = ensure_demo_media(tmp_path / "b", **SMALL)
    names = [p.relative_to(tmp_path / "a").as_posix() for p in a]
    assert names == list(DEMO_STILLS + DEMO_VIDEOS)
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), f"{pa.name} differs between two runs"
    # nothing but the six files: no temporary leftovers
    assert sorted(p.name for p in (tmp_path / "a" / "demo").iterdir()) == sorted(p.name for p in a)


def test_existing_files_are_left_alone(tmp_path: Path) -> None:
    paths = ensure_demo_media(tmp_path, **SMALL)
    marker = paths[0]
    marker.write_bytes(b"the artist's own moon")
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    again = ensure_demo_media(tmp_path, **SMALL)
    assert again == paths
    assert marker.read_bytes() == b"the artist's own moon"
    assert {p: p.stat().st_mtime_ns for p in paths} == stamps


def test_a_missing_file_is_made_again(tmp_path: Path) -> None:
    paths = ensure_demo_media(tmp_path, **SMALL)
    before = paths[4].read_bytes()
    paths[4].unlink()
    ensure_demo_media(tmp_path, **SMALL)
    assert paths[4].read_bytes() == before


def test_stills_are_deterministic_pixels() -> None:
    a, b = draw_moon(320, 180), draw_moon(320, 180)
    assert a.shape == (180, 320, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    # the disc is pale and warm, the sky deep blue
    disc = a[int(0.38 * 180), int(0.63 * 320)].astype(int)
    sky = a[5, 5].astype(int)
    assert disc.min() > 150 and disc[0] > disc[2]
    assert sky[2] > sky[0] and sky.max() < 80


def test_odd_sizes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ensure_demo_media(tmp_path, width=161, height=90)


@pytest.mark.slow
def test_full_size_demo_media(tmp_path: Path) -> None:
    paths = ensure_demo_media(tmp_path)
    for p in paths:
        info = probe(p)
        assert info.error is None, f"{p.name}: {info.error}"
        assert (info.width, info.height) == (1280, 720)
        if info.kind == "video":
            assert info.codec == "h264" and info.pix_fmt == "yuv420p"
            assert info.colorspace == "bt709" and not info.full_range
            assert info.fps == pytest.approx(30.0)
            assert info.duration == pytest.approx(6.0, abs=0.05)
        else:
            assert load_still(p).shape == (720, 1280, 4)
