"""`check` loads every splat scene as `play` does: files that would not draw are refused at
their cue's line; compressed PLY, SPZ and SOG pass and `render` shows them; a cue's
`splat:` trim drops what is outside its crop, with the counts in check's table."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from splat_writers import (
    known_splats,
    write_compressed_ply,
    write_inria_ply,
    write_sog_folder,
    write_sog_zip,
    write_spz,
    write_spz_v4,
)

from app.cli import main
from app.media.splat_cue import load_cue_scene
from app.show.check import check_show, format_report
from app.show.loader import ShowError, load_show

W, H = 64, 36


def _show(tmp_path: Path, cues: str, extra: str = "") -> Path:
    (tmp_path / "show").mkdir(exist_ok=True)
    (tmp_path / "media").mkdir(exist_ok=True)
    text = f"""
title: Splats
output: {{width: {W}, height: {H}, fps: 10}}
defaults: {{fade: 0}}
{extra}poems:
  - id: 1
    cues:
{textwrap.indent(textwrap.dedent(cues).strip(), "      ")}
"""
    path = tmp_path / "show" / "show.yaml"
    path.write_text(text.lstrip("\n"))
    return path


def _line_of(path: Path, text: str) -> int:
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return n
    raise AssertionError(text)


def _ascii_ply(path: Path, claimed: int, rows: int) -> None:
    names = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity"]
    names += [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
    head = ["ply", "format ascii 1.0", f"element vertex {claimed}"]
    head += [f"property float {n}" for n in names] + ["end_header"]
    row = "0 0 2 0.1 0.1 0.1 2 -3 -3 -3 1 0 0 0"
    path.write_text("\n".join(head + [row] * rows) + "\n")


def test_check_refuses_what_would_not_draw(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    s = known_splats(n=300)
    write_compressed_ply(media / "good.compressed.ply", s)
    _ascii_ply(media / "claims.ply", 10**9, 3)
    rows = write_inria_ply(media / "norot.ply", s).read_bytes()
    (media / "norot.ply").write_bytes(
        rows.replace(b"property float rot_3", b"property float rrr_3")
    )
    clear = known_splats(n=300)
    clear.logit[:] = -12.0  # every opacity below 1/255
    write_spz(media / "clear.spz", clear)
    (media / "old.ksplat").write_bytes(b"\0" * 4096)
    path = _show(
        tmp_path,
        """
        - {id: good, media: good.compressed.ply}
        - {id: claims, media: claims.ply}
        - {id: norot, media: norot.ply}
        - {id: clear, media: clear.spz}
        - {id: ks, media: old.ksplat}
        - {id: empty, media: good.compressed.ply, splat: {crop: {box: [[9, 9, 9], [10, 10, 10]]}}}
        """,
    )
    report = check_show(path)
    assert not report.ok
    text = format_report(report)
    assert "ok: the show can be played" not in text

    def problem(cue: str) -> str:
        found = [p for p in report.problems if f"cue '{cue}'" in p]
        assert len(found) == 1, (cue, report.problems)
        assert found[0].startswith(f"{path}:{_line_of(path, f'id: {cue},')}: "), found[0]
        return found[0]

    assert "truncated" in problem("claims") and "vertex" in problem("claims")
    assert "lacks properties rot_3" in problem("norot")
    assert "transparent" in problem("clear") and "renders black" in problem("clear")
    assert "splat-transform scene.ksplat scene.ply" in problem("ks")
    assert "drops all 300 splats" in problem("empty")
    assert not [p for p in report.problems if "cue 'good'" in p]


FORMAT_FILES = {
    "cply": ("scene.compressed.ply", write_compressed_ply),
    "spz": ("scene.spz", write_spz),
    "spz4": ("scene4.spz", write_spz_v4),
    "sog": ("scene.sog", write_sog_zip),
    "sogdir": ("sogdir/meta.json", lambda p, s: write_sog_folder(p.parent, s)),
}


def _decode(path: Path) -> np.ndarray:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3)


@pytest.mark.parametrize("fmt", list(FORMAT_FILES))
def test_check_ok_and_render_shows_the_scene(tmp_path: Path, fmt: str) -> None:
    name, write = FORMAT_FILES[fmt]
    (tmp_path / "media").mkdir()
    write(tmp_path / "media" / name, known_splats(n=400))
    path = _show(tmp_path, f"- {{id: s, media: {name}}}")
    report = check_show(path)
    assert report.ok, report.problems
    assert "400 splats" in format_report(report)
    assert "ok: the show can be played" in format_report(report)

    out = tmp_path / "out.mp4"
    assert (
        main(["render", str(path), "--script", "0:GO", "--duration", "0.3", "--out", str(out)]) == 0
    )
    last = _decode(out)[-1].astype(np.float64)
    assert last.mean() > 8.0, f"{fmt}: the rendered frame is black (mean {last.mean():.1f})"
    centre = last[H // 4 : 3 * H // 4, W // 4 : 3 * W // 4]
    assert centre.mean() > last.mean() * 0.8  # framed: the scene is in the middle


def test_trim_box_drops_outside_and_check_counts(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    s = known_splats(n=500)
    write_inria_ply(media / "scene.ply", s)
    path = _show(
        tmp_path,
        """
        - id: crop
          media: scene.ply
          splat:
            crop: {box: [[-0.3, -0.4, 2.0], [0.3, 0.4, 3.0]]}
            min_opacity: 0.3
        - {id: ball, media: scene.ply, splat: {crop: {sphere: {centre: [0, 0, 2.5], radius: 0.5}}}}
        - {id: whole, media: scene.ply}
        """,
    )
    show = load_show(path)
    crop = show.cues[0]
    trimmed = load_cue_scene(crop.media, crop.splat)
    inside = np.all((s.xyz >= [-0.3, -0.4, 2.0]) & (s.xyz <= [0.3, 0.4, 3.0]), axis=1)
    kept = inside & (s.opacity >= 0.3)
    assert trimmed.kept == int(kept.sum()) and trimmed.dropped == 500 - int(kept.sum())
    p = trimmed.scene.positions
    assert np.all((p >= [-0.3, -0.4, 2.0]) & (p <= [0.3, 0.4, 3.0]))
    dropped = s.xyz[~kept]  # every dropped splat is outside the box or too transparent
    assert np.all(~inside[~kept] | (s.opacity[~kept] < 0.3)) and len(dropped) > 0
    np.testing.assert_allclose(np.sort(p[:, 0]), np.sort(s.xyz[kept, 0]), atol=1e-6)

    report = check_show(path)
    assert report.ok, report.problems
    rows = {r.cue_id: r for poem in report.poems for r in poem.rows}
    assert rows["crop"].length == f"{kept.sum()}/500 splats ({500 - kept.sum()} trimmed)"
    ball = np.sum((s.xyz - [0, 0, 2.5]) ** 2, axis=1) <= 0.25
    assert rows["ball"].length == f"{ball.sum()}/500 splats ({500 - ball.sum()} trimmed)"
    assert rows["whole"].length == "500 splats"
    assert f"{kept.sum()}/500 splats" in format_report(report)


def test_trim_schema_errors_name_their_line(tmp_path: Path) -> None:
    path = _show(
        tmp_path,
        """
        - id: a
          media: scene.ply
          splat:
            crop: {box: [[1, 0, 0], [0, 1, 1]]}
            min_opacity: 2
        - id: b
          media: scene.ply
          splat: {crop: {sphere: {center: [0, 0, 0], radius: 1}}, max_scal: 1}
        - {id: c, media: still.png, splat: {min_opacity: 0.1}}
        """,
    )
    with pytest.raises(ShowError) as info:
        load_show(path, allow_missing=True)
    text = "\n".join(str(p) for p in info.value.problems)
    assert f"{path}:{_line_of(path, 'crop: {box')}: splat.crop.box: each min corner" in text
    line = _line_of(path, "min_opacity: 2")
    assert f"{path}:{line}: splat.min_opacity: expected a number from 0 to 1" in text
    assert "unknown key 'center' in splat.crop.sphere, did you mean 'centre'?" in text
    assert "unknown key 'max_scal' in splat, did you mean 'max_scale'?" in text
    assert f"{path}:{_line_of(path, 'id: c,')}: splat: applies to splat scenes only" in text
