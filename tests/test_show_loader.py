"""The show loader: schema, defaults, media resolution, recipes, and `file:line: message` errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.show.controls import OscSpec
from app.show.loader import Problem, ShowError, load_show
from app.show.model import CameraSpec, Curve, Fit, MediaKind

REPO = Path(__file__).resolve().parent.parent


def write_show(tmp_path: Path, text: str, media: tuple[str, ...] = ()) -> Path:
    """Write show/show.yaml and empty media files under media/ (the default media root)."""
    (tmp_path / "show").mkdir(exist_ok=True)
    (tmp_path / "media").mkdir(exist_ok=True)
    for name in media:
        f = tmp_path / "media" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"")
    path = tmp_path / "show" / "show.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(path: Path, *, allow_missing: bool = True) -> list[str]:
    """The problem lines of a show that must fail to load."""
    with pytest.raises(ShowError) as info:
        load_show(path, allow_missing=allow_missing)
    return [str(p) for p in info.value.problems]


def test_demo_show_loads() -> None:
    show = load_show(REPO / "show" / "demo.yaml", allow_missing=True)
    assert show.title == "Demo"
    assert (show.output.width, show.output.height, show.output.fps) == (1280, 720, 30.0)
    assert show.media_root == REPO / "media"
    assert [p.id for p in show.poems] == ["1", "2"]
    refs = [c.media_ref for c in show.cues]
    assert refs == [
        "demo/moon.png",
        "demo/tide.mp4",
        "demo/stars.png",
        "demo/room.ply",
        "demo/life.mp4",
        "demo/cells.mp4",
        "demo/dawn.png",
    ]
    assert all(c.media == REPO / "media" / c.media_ref for c in show.cues)
    assert any(c.fade == 0 for c in show.cues)
    assert any(c.fit is Fit.CONTAIN for c in show.cues)
    assert all(c.fade == 0 or 1.0 <= c.fade <= 2.0 for c in show.cues)


def test_minimal_show_defaults_and_resolution(tmp_path: Path) -> None:
    absolute = tmp_path / "elsewhere" / "abs.mp4"
    absolute.parent.mkdir()
    absolute.write_bytes(b"")
    path = write_show(
        tmp_path,
        f"""
        poems:
          - id: 1
            cues:
              - media: a/still.png
              - media: {absolute}
                rate: 2
              - id: "x"
                media: scene.ply
        """,
        media=("a/still.png", "scene.ply"),
    )
    show = load_show(path)
    assert show.title == "show"
    assert show.path == path.resolve()
    assert show.media_root == (tmp_path / "media").resolve()
    still, video, splat = show.cues
    assert (still.id, video.id, splat.id) == ("1.1", "1.2", "x")
    assert still.media == show.media_root / "a" / "still.png"
    assert still.media_ref == "a/still.png"
    assert still.kind is MediaKind.STILL and still.line == 4 and still.poem_id == "1"
    assert video.media == absolute and video.kind is MediaKind.VIDEO and video.rate == 2.0
    assert splat.kind is MediaKind.SPLAT and splat.camera == CameraSpec()
    assert still.camera is None and still.generate is None
    assert (still.fade, still.curve, still.fit, still.opacity, still.layer) == (
        1.5,
        Curve.SMOOTH,
        Fit.COVER,
        1.0,
        1,
    )
    assert show.poems[0].line == 2 and show.poems[0].part == 1


def test_show_defaults_and_cue_overrides(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        title: T
        media_root: ../clips
        output: {width: 640, height: 360, fps: 25}
        defaults: {fade: 3, fit: contain, curve: linear, opacity: 0.5, loop: false,
                   rate: 0.5, blackout_fade: 1, panic_fade: 4, go_guard: 0.5}
        osc: {port: 9000, passcode: abc}
        gamepad: {buttons: {a: go}}
        poems:
          - id: "1.10"
            title: Ten
            part: 2
            cues:
              - media: v.mp4
              - media: v.mp4
                fade: 0
                fit: stretch
                curve: smooth
                opacity: 1
                layer: 2
                rate: 1
                loop: true
                start: 1
                end: 2.5
        """,
    )
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "v.mp4").write_bytes(b"")
    show = load_show(path)
    assert show.media_root == (tmp_path / "clips").resolve()
    assert (show.output.width, show.output.height, show.output.fps) == (640, 360, 25.0)
    assert show.defaults.blackout_fade == 1.0 and show.defaults.go_guard == 0.5
    assert show.osc == OscSpec(port=9000, passcode="abc")
    assert dict(show.gamepad.buttons) == {"a": "go"}
    poem = show.poems[0]
    assert (poem.id, poem.title, poem.part) == ("1.10", "Ten", 2)
    a, b = poem.cues
    assert (a.id, a.fade, a.fit, a.curve, a.opacity, a.loop, a.rate) == (
        "1.10.1",
        3.0,
        Fit.CONTAIN,
        Curve.LINEAR,
        0.5,
        False,
        0.5,
    )
    assert (b.fade, b.fit, b.curve, b.opacity, b.layer, b.rate, b.loop, b.start, b.end) == (
        0.0,
        Fit.STRETCH,
        Curve.SMOOTH,
        1.0,
        2,
        1.0,
        True,
        1.0,
        2.5,
    )
    assert isinstance(b.fade, float) and isinstance(b.start, float)


def test_unknown_keys_with_suggestions(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        titel: x
        poems:
          - id: 1
            cues:
              - media: a.png
                fdae: 2
                zzz: 1
        """,
    )
    assert problems(path) == [
        f"{path}:1: unknown key 'titel' in the show, did you mean 'title'?",
        f"{path}:6: unknown key 'fdae' in cue, did you mean 'fade'?",
        f"{path}:7: unknown key 'zzz' in cue, expected one of: id, media, fade, curve, "
        "opacity, fit, layer, rate, loop, start, end, camera, generate, look, notes, follow, splat",
    ]


def test_wrong_types(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        title: [a]
        output: {width: 1280.5, height: "720", fps: fast}
        defaults: {loop: 1, fit: contian, fade: true}
        poems:
          - id: [1]
            cues:
              - media: 5
              - media: b.mp4
                loop: "yes"
                curve: 3
        """,
    )
    assert problems(path) == [
        f"{path}:1: title: expected a text, got a list",
        f"{path}:2: output.width: expected an integer >= 1, got 1280.5",
        f"{path}:2: output.height: expected an integer >= 1, got '720'",
        f"{path}:2: output.fps: expected a number > 0, got 'fast'",
        f"{path}:3: defaults.loop: expected true or false, got 1",
        f"{path}:3: defaults.fit: expected cover, contain or stretch, got 'contian' "
        "(did you mean 'contain'?)",
        f"{path}:3: defaults.fade: expected a number >= 0, got true",
        f"{path}:5: id: expected an id (a text or a number), got a list",
        f"{path}:7: media: expected a text, got 5",
        f"{path}:9: loop: expected true or false, got 'yes'",
        f"{path}:10: curve: expected linear or smooth, got 3",
    ]


def test_out_of_range_values(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        output: {width: 0, height: -720, fps: 0}
        defaults: {panic_fade: -1}
        poems:
          - id: 1
            part: 0
            cues:
              - media: v.mp4
                fade: -0.5
                opacity: 1.5
                rate: 0
                layer: 0
                start: -1
              - media: v.mp4
                start: 4
                end: 3
              - media: v.mp4
                end: 0
        """,
    )
    assert problems(path) == [
        f"{path}:1: output.width: expected an integer >= 1, got 0",
        f"{path}:1: output.height: expected an integer >= 1, got -720",
        f"{path}:1: output.fps: expected a number > 0, got 0",
        f"{path}:2: defaults.panic_fade: expected a number >= 0, got -1",
        f"{path}:5: part: expected an integer >= 1, got 0",
        f"{path}:8: fade: expected a number >= 0, got -0.5",
        f"{path}:9: opacity: expected a number from 0 to 1, got 1.5",
        f"{path}:10: rate: expected a number > 0, got 0",
        f"{path}:11: layer: expected an integer >= 1, got 0",
        f"{path}:12: start: expected a number >= 0, got -1",
        f"{path}:15: end: expected a time after start (4 s), got 3",
        f"{path}:17: end: expected a number > 0 (or null), got 0",
    ]


def test_duplicate_ids_and_keys(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - id: a
                media: x.png
              - id: a
                media: y.png
                fade: 1
                fade: 2
          - id: "1"
            cues:
              - id: a
                media: z.png
              - media: z.png
          - id: "3"
            cues:
              - id: "1.2"
                media: z.png
        """,
    )
    assert problems(path) == [
        f"{path}:6: duplicate cue id 'a' (first defined at line 4)",
        f"{path}:9: duplicate key 'fade' (first at line 8)",
        f"{path}:10: duplicate poem id '1' (first defined at line 2)",
        f"{path}:12: duplicate cue id 'a' (first defined at line 4)",
        f"{path}:17: duplicate cue id '1.2' (first defined at line 14)",
    ]


def test_missing_media_is_a_problem_unless_allowed(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - media: here.png
              - media: gone.mp4
              - media: sub
        """,
        media=("here.png", "sub/inner.png"),
    )
    media = (tmp_path / "media").resolve()
    assert problems(path, allow_missing=False) == [
        f"{path}:5: cue '1.2': media file not found: gone.mp4 (looked for {media}/gone.mp4)",
        f"{path}:6: media: 'sub' has no extension, expected a still (.bmp, .jpeg, .jpg, .png, "
        ".tif, .tiff, .webp), a video (.avi, .m4v, .mkv, .mov, .mp4, .mxf, .webm) or a splat "
        "scene (.ksplat, .ply, .sog, .splat, .spz)",
    ]
    path.write_text(path.read_text().replace("media: sub\n", "media: sub.mp4\n"))
    (media / "sub.mp4").mkdir()
    show_problems = problems(path, allow_missing=False)
    assert (
        show_problems[1] == f"{path}:6: cue '1.3': media is a folder, not a file: {media}/sub.mp4"
    )
    (media / "sub.mp4").rmdir()
    show = load_show(path, allow_missing=True)
    assert [c.media.name for c in show.cues] == ["here.png", "gone.mp4", "sub.mp4"]


def test_missing_media_root(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        media_root: nowhere
        poems:
          - id: 1
            cues:
              - media: a.png
        """,
    )
    root = (path.parent / "nowhere").resolve()
    assert problems(path, allow_missing=False) == [
        f"{path}:1: media_root: folder not found: {root}",
        f"{path}:5: cue '1.1': media file not found: a.png (looked for {root}/a.png)",
    ]
    assert load_show(path, allow_missing=True).media_root == root


def test_unknown_extension(tmp_path: Path) -> None:
    path = write_show(tmp_path, "poems: [{id: 1, cues: [{media: anim.gif}]}]\n")
    (message,) = problems(path)
    assert message.startswith(f"{path}:1: media: unknown media type '.gif' for 'anim.gif', ")


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - media: a.png
                fade: [1, 2
              - media: b.png
        """,
    )
    (message,) = problems(path)
    assert message.startswith(f"{path}:6: YAML syntax error: ")
    path.write_text("poems:\n\t- id: 1\n")
    (message,) = problems(path)
    assert message.startswith(f"{path}:2: YAML syntax error: ")


def test_degenerate_files(tmp_path: Path) -> None:
    path = write_show(tmp_path, "")
    assert problems(path) == [f"{path}:1: the show file is empty, expected a mapping with 'poems'"]
    path.write_text("- a\n- b\n")
    assert problems(path) == [f"{path}:1: show file: expected a mapping (key: value), got a list"]
    path.write_text("title: x\n")
    assert problems(path) == [f"{path}:1: missing 'poems' (the list of poems, each with its cues)"]
    path.write_text("poems:\n  - id: 1\n")
    assert problems(path) == [f"{path}:2: the show has no cues"]
    assert problems(tmp_path / "none.yaml")[0].startswith(
        f"{tmp_path / 'none.yaml'}:1: cannot read the show file: "
    )


def test_all_problems_at_once_in_line_order(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        title: All
        output: {width: 0}
        poems:
          - id: 1
            cues:
              - media: a.png
                rate: 2
                camera: {yaw: 1}
              - media: b.mp4
                generate: {stepz: 3}
              - media: gone.png
        """,
        media=("a.png", "b.mp4"),
    )
    with pytest.raises(ShowError) as info:
        load_show(path)
    err = info.value
    assert [p.line for p in err.problems] == [2, 7, 8, 10, 11]
    assert all(isinstance(p, Problem) and p.path == path for p in err.problems)
    assert str(err) == "\n".join(str(p) for p in err.problems)
    assert str(err.problems[1]) == f"{path}:7: rate: applies to videos only (a.png is a still)"
    assert str(err.problems[2]) == (
        f"{path}:8: camera: applies to splat scenes only (a.png is a still)"
    )
    assert (
        str(err.problems[3]) == f"{path}:10: unknown key 'stepz' in generate, did you mean 'steps'?"
    )


def test_numbers_and_ids(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1.10
            cues:
              - id: 7
                media: a.png
                fade: 2
                opacity: 1
          - id: "two"
            cues:
              - media: a.png
                fade: .nan
        """,
    )
    assert problems(path) == [f"{path}:11: fade: expected a number >= 0, got .nan"]
    path.write_text(path.read_text().replace(".nan", "1.0"))
    show = load_show(path, allow_missing=True)
    assert [p.id for p in show.poems] == ["1.10", "two"]
    assert [c.id for c in show.cues] == ["7", "two.1"]
    assert show.cues[0].fade == 2.0 and show.cues[1].fade == 1.0


def test_camera_on_splat(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            look: sepia
            cues:
              - media: room.ply
                look: {grain: 0.2}
                camera:
                  yaw: 10
                  pitch: -5
                  fov: 40
                  drift: 0.3
                  limits: {yaw: 20, dolly_in: 0.5}
        """,
    )
    cam = load_show(path, allow_missing=True).cues[0].camera
    assert cam is not None
    assert (cam.yaw, cam.pitch, cam.fov, cam.drift, cam.drift_period) == (10, -5, 40, 0.3, 20)
    assert (cam.limits.yaw, cam.limits.dolly_in, cam.limits.pitch) == (20, 0.5, 5.0)
    path.write_text(path.read_text().replace("fov: 40", "fov: 200").replace("yaw: 20", "yw: 20"))
    assert problems(path) == [
        f"{path}:10: camera.fov: expected a number from 1 to 179 (or null), got 200",
        f"{path}:12: unknown key 'yw' in camera.limits, did you mean 'yaw'?",
    ]


def test_yaml_merge_keys(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - &slow {media: a.png, fade: 4, fit: contain}
              - <<: *slow
                id: "b"
                fade: 1
        """,
    )
    a, b = load_show(path, allow_missing=True).cues
    assert (a.fade, a.fit) == (4.0, Fit.CONTAIN)
    assert (b.id, b.fade, b.fit, b.media_ref) == ("b", 1.0, Fit.CONTAIN, "a.png")


# --- generate: recipes -------------------------------------------------------------------


RECIPE_SHOW = """
generate:
  model: sdxl
  steps: 20
  negative_prompt: blurry
  extra: {a: 1, b: 1}
parts:
  1:
    generate: {guidance: 3.5, width: 1024, extra: {b: 2}}
    look: sepia
  2:
    generate: {model: flux}
poems:
  - id: 1
    part: 1
    generate: {steps: 8, seeds: {from: 100, count: 3}}
    cues:
      - id: moon
        media: moon.png
        generate: {prompt: a moon, seed: 7, extra: {c: 3}, refine: {strength: 0.3, x: y}}
      - id: tide
        media: tide.mp4
        generate: {from: moon, last_from: dawn, frames: 33, fps: 24, model: wan}
      - id: plain
        media: plain.png
      - id: room
        media: room.ply
        generate: {kind: splat, from: moon, model: null}
  - id: 2
    part: 2
    cues:
      - id: dawn
        media: dawn.png
        generate: {}
"""


def test_recipe_defaults_merge_show_part_poem_cue(tmp_path: Path) -> None:
    path = write_show(tmp_path, RECIPE_SHOW)
    cues = {c.id: c for c in load_show(path, allow_missing=True).cues}
    moon = cues["moon"].generate
    assert moon is not None
    assert moon.kind is MediaKind.STILL
    assert (moon.model, moon.steps, moon.guidance, moon.width, moon.height) == (
        "sdxl",
        8,
        3.5,
        1024,
        720,
    )
    assert (moon.prompt, moon.negative_prompt, moon.seed, moon.seeds) == (
        "a moon",
        "blurry",
        7,
        (100, 101, 102),
    )
    assert moon.extra == {"a": 1, "b": 2, "c": 3}
    assert moon.refine == {"strength": 0.3, "x": "y"}
    tide = cues["tide"].generate
    assert tide is not None and tide.kind is MediaKind.VIDEO
    assert (tide.source, tide.last_from, tide.frames, tide.fps, tide.model) == (
        "moon",
        "dawn",
        33,
        24.0,
        "wan",
    )
    assert cues["plain"].generate is None
    room = cues["room"].generate
    assert room is not None and room.kind is MediaKind.SPLAT and room.model is None
    dawn = cues["dawn"].generate
    assert dawn is not None
    assert (dawn.model, dawn.steps, dawn.guidance, dawn.seeds, dawn.width) == (
        "flux",
        20,
        5.0,
        (),
        1280,
    )


def test_generate_cue_with_missing_media(tmp_path: Path) -> None:
    path = write_show(tmp_path, RECIPE_SHOW, media=("tide.mp4", "plain.png", "room.ply"))
    media = (tmp_path / "media").resolve()
    hint = "; it has a generate: recipe, make it with `python -m app generate`"
    assert problems(path, allow_missing=False) == [
        f"{path}:17: cue 'moon': media file not found: moon.png "
        f"(looked for {media}/moon.png){hint}",
        f"{path}:31: cue 'dawn': media file not found: dawn.png "
        f"(looked for {media}/dawn.png){hint}",
    ]


def test_recipe_errors(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        generate: {width: 500, stpes: 2}
        parts:
          1: {generate: {guidance: -1}, looks: x}
          one: {}
        poems:
          - id: 1
            cues:
              - id: a
                media: a.png
                generate:
                  kind: video
                  seed: -1
                  seeds: [1, x]
                  upscale: 1
                  height: 0
              - id: b
                media: b.mp4
                generate: {kind: picture, from: c, last_from: a}
              - id: c
                media: c.png
                generate: {from: zz, last_from: a, seeds: {from: 1}, refine: {strength: 0}}
        """,
    )
    assert problems(path) == [
        f"{path}:1: generate.width: expected a positive multiple of 8, got 500",
        f"{path}:1: unknown key 'stpes' in generate, did you mean 'steps'?",
        f"{path}:3: generate.guidance: expected a number >= 0, got -1",
        f"{path}:3: unknown key 'looks' in part 1, did you mean 'look'?",
        f"{path}:4: parts: expected part numbers (1, 2, ...), got 'one'",
        f"{path}:11: cue 'a': generate.kind is 'video' but its media a.png is a still, "
        "expected 'image'",
        f"{path}:12: generate.seed: expected an integer >= 0, got -1",
        f"{path}:13: generate.seeds: expected an integer >= 0, got 'x'",
        f"{path}:14: generate.upscale: expected a number > 1 (or null), got 1",
        f"{path}:15: generate.height: expected a positive multiple of 8, got 0",
        f"{path}:18: generate.kind: expected image, video, splat or edit, got 'picture'",
        f"{path}:21: generate.from: no cue 'zz' in this show",
        f"{path}:21: generate.last_from: applies to video recipes only",
        f"{path}:21: generate.seeds: a seed range needs 'from' and 'count'",
        f"{path}:21: generate.refine.strength: expected a number > 0 and <= 1, got 0",
    ]


def test_recipe_cycles(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - id: a
                media: a.mp4
                generate: {from: c}
              - id: b
                media: b.mp4
                generate: {from: a}
              - id: c
                media: c.mp4
                generate: {from: x, last_from: b}
              - id: self
                media: s.ply
                generate: {from: self}
        """,
    )
    assert problems(path) == [
        f"{path}:6: generate.from: recipes form a cycle: 'a' -> 'c' -> 'b' -> 'a'",
        f"{path}:12: generate.from: no cue 'x' in this show",
        f"{path}:15: generate.from: cue 'self' cannot be made from itself",
    ]


def test_recipe_unknown_source_suggests(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - {id: moon, media: a.png}
              - {id: tide, media: b.mp4, generate: {from: mon}}
        """,
    )
    assert problems(path) == [
        f"{path}:5: generate.from: no cue 'mon' in this show, did you mean 'moon'?"
    ]


def test_notes_and_follow(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            notes: "on the flute's entry, bar 23"
            cues:
              - {id: a, media: a.png, notes: wait for the conductor, follow: {after: 2.5}}
              - {id: b, media: b.mp4, follow: {on: end}}
              - {id: c, media: c.png}
        """,
        media=("a.png", "b.mp4", "c.png"),
    )
    show = load_show(path)
    poem = show.poems[0]
    assert poem.notes == "on the flute's entry, bar 23"
    a, b, c = show.cues
    assert a.notes == "wait for the conductor" and b.notes == "" and c.notes == ""
    assert a.follow is not None and (a.follow.after, a.follow.on_end) == (2.5, False)
    assert b.follow is not None and b.follow.on_end and b.follow.describe() == "on end"
    assert c.follow is None


def test_notes_and_follow_problems(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            notes: 23
            cues:
              - {id: a, media: a.png, notes: [x]}
              - {id: b, media: b.png, follow: {after: -1}}
              - {id: c, media: c.png, follow: {on: end}}
              - {id: d, media: d.mp4, follow: {on: ned}}
              - {id: e, media: e.png, follow: {after: 1, on: end}}
              - {id: f, media: f.png, follow: {aftr: 1}}
              - {id: g, media: g.png, follow: 2}
              - {id: h, media: h.png, follow: {after: 1}}
        """,
    )
    assert problems(path) == [
        f"{path}:3: notes: expected a text, got 23",
        f"{path}:5: notes: expected a text, got a list",
        f"{path}:6: follow.after: expected a number >= 0, got -1",
        f"{path}:7: follow.on: end applies to videos only (this cue is a still)",
        f"{path}:8: follow.on: expected end (when the video ends), got 'ned' (did you mean 'end'?)",
        f"{path}:9: follow: write either `after: SECONDS` or `on: end`",
        f"{path}:10: unknown key 'aftr' in follow, did you mean 'after'?",
        f"{path}:11: follow: expected a mapping (key: value), got 2",
        f"{path}:12: follow: cue 'h' is the last cue, no cue follows it",
    ]
