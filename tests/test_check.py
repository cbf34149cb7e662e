"""`check`: a show's media probed file by file, reported per poem with `file:line` problems."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from PIL import Image

from app.media.lavfi import make_clip
from app.show.check import check_show, format_report


def write_show(tmp_path: Path, text: str) -> Path:
    (tmp_path / "show").mkdir(exist_ok=True)
    (tmp_path / "media").mkdir(exist_ok=True)
    path = tmp_path / "show" / "show.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_good_missing_and_corrupt_files(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        title: Check
        poems:
          - id: 1
            title: One
            cues:
              - id: good
                media: good.png
              - id: gone
                media: gone.png
              - id: bad
                media: x.png
          - id: 2
            cues:
              - id: again
                media: good.png
              - id: made
                media: later.png
                generate: {prompt: a moon}
        """,
    )
    media = (tmp_path / "media").resolve()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(media / "good.png")
    (media / "x.png").write_bytes(b"not a png at all" * 8)

    report = check_show(path)

    assert not report.ok
    assert report.show is not None
    assert report.problems[0] == (
        f"{path}:8: cue 'gone': media file not found: gone.png (looked for {media}/gone.png)"
    )
    assert report.problems[1].startswith(
        f"{path}:10: cue 'bad': cannot play {media}/x.png: cannot decode image"
    )
    assert report.problems[2] == (
        f"{path}:16: cue 'made': media file not found: later.png (looked for "
        f"{media}/later.png); it has a generate: recipe, make it with `python -m app generate`"
    )
    assert len(report.problems) == 3
    [one, two] = report.poems
    assert [(r.cue_id, r.kind, r.size, r.status) for r in one.rows] == [
        ("good", "still", "64x48", "ok"),
        ("gone", "still", "-", "missing"),
        ("bad", "still", "-", "error"),
    ]
    assert [r.status for r in two.rows] == ["ok", "missing"]

    text = format_report(report)
    assert "poem 1  One (part 1)" in text
    assert "good.png" in text and "64x48" in text
    assert "3 problems:" in text
    assert all(f"  {p}" in text for p in report.problems)
    assert text.rstrip().endswith("not playable: 3 problems")


def test_playable_show_with_a_video(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - media: still.png
              - media: clip.mp4
                end: 9
        """,
    )
    media = tmp_path / "media"
    Image.fromarray(np.full((36, 64, 3), 200, np.uint8)).save(media / "still.png")
    make_clip(media / "clip.mp4", width=64, height=36, fps=10, seconds=1.0)

    report = check_show(path)

    assert report.ok, report.problems
    video = report.poems[0].rows[1]
    assert (video.kind, video.size, video.fps, video.status) == ("video", "64x36", 10.0, "ok")
    assert video.duration is not None and abs(video.duration - 1.0) < 0.15
    assert len(report.warnings) == 1 and "end 9 s is past the end of clip.mp4" in report.warnings[0]
    assert format_report(report).rstrip().endswith("ok: the show can be played")

    path.write_text(path.read_text().replace("end: 9", "start: 5"))
    report = check_show(path)
    assert not report.ok
    assert report.problems == [
        f"{path}:5: cue '1.2': start 5 s is past the end of clip.mp4 "
        f"({report.poems[0].rows[1].duration:.2f} s)"
    ]


def test_a_show_that_does_not_load_becomes_a_report(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - media: a.png
                fdae: 1
              - media: b.png
                opacity: 2
        """,
    )
    report = check_show(path)
    assert not report.ok and report.show is None and report.poems == []
    # Missing media files are listed too, with the other problems, all at once.
    assert [p for p in report.problems if "not found" not in p] == [
        f"{path}:5: unknown key 'fdae' in cue, did you mean 'fade'?",
        f"{path}:7: opacity: expected a number from 0 to 1, got 2",
    ]
    assert sum("media file not found" in p for p in report.problems) == 2
    text = format_report(report)
    assert "did not load" in text and text.rstrip().endswith("not playable: 4 problems")
