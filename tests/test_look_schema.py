"""`look:` in show files: presets, part/poem/cue merging, and `file:line: message` errors."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from app.show.loader import ShowError, load_show
from app.show.model import LOOK_PRESETS, Look

REPO = Path(__file__).resolve().parent.parent
SEPIA = LOOK_PRESETS["sepia"]


def write_show(tmp_path: Path, text: str) -> Path:
    (tmp_path / "show").mkdir(exist_ok=True)
    path = tmp_path / "show" / "show.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def looks(path: Path) -> dict[str, Look | None]:
    return {c.id: c.look for c in load_show(path, allow_missing=True).cues}


def problems(path: Path) -> list[str]:
    with pytest.raises(ShowError) as info:
        load_show(path, allow_missing=True)
    return [str(p) for p in info.value.problems]


def test_no_look_is_none(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - {id: a, media: a.png}
              - {id: b, media: b.png, look: none}
              - {id: c, media: c.png, look: {grain: 0}}
              - {id: d, media: d.png, look: {tint: [1, 0.5, 0.5], tint_amount: 0}}
              - {id: e, media: e.png, look: ~}
        """,
    )
    assert looks(path) == {"a": None, "b": None, "c": None, "d": None, "e": None}


def test_presets_and_overrides(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        poems:
          - id: 1
            cues:
              - {id: sepia, media: a.png, look: sepia}
              - {id: grainy, media: a.png, look: {preset: sepia, grain: 0.3}}
              - {id: dag, media: a.png, look: daguerreotype}
              - {id: ex, media: a.png, look: {preset: expressionist}}
              - {id: now, media: a.png, look: contemporary}
              - id: own
                media: a.png
                look:
                  tint: "#ff8000"
                  saturation: 0.5
                  contrast: 1.2
                  brightness: -0.1
                  vignette: 0.4
                  dust: 0.2
        """,
    )
    got = looks(path)
    assert got["sepia"] == SEPIA
    assert got["grainy"] == replace(SEPIA, grain=0.3)
    assert got["dag"] == LOOK_PRESETS["daguerreotype"]
    assert got["ex"] == LOOK_PRESETS["expressionist"]
    assert got["now"] == LOOK_PRESETS["contemporary"]
    # a tint written without an amount tones fully
    assert got["own"] == Look(
        tint=(1.0, 128 / 255, 0.0),
        tint_amount=1.0,
        saturation=0.5,
        contrast=1.2,
        brightness=-0.1,
        vignette=0.4,
        dust=0.2,
    )
    assert {"sepia", "daguerreotype", "expressionist", "contemporary", "none"} <= set(LOOK_PRESETS)


def test_part_poem_cue_merge_key_by_key(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        parts:
          1: {look: {preset: sepia, grain: 0.2, vignette: 0.3}}
          2: {look: expressionist}
          3: {look: {tint: [1, 0.9, 0.8], tint_amount: 0.5}}
        poems:
          - id: one
            part: 1
            look: {grain: 0.4}
            cues:
              - {id: p1, media: a.png}
              - {id: p1dust, media: a.png, look: {dust: 0.6, vignette: 0}}
              - {id: p1plain, media: a.png, look: none}
              - {id: p1colour, media: a.png, look: {tint_amount: 0}}
          - id: two
            part: 2
            cues:
              - {id: p2, media: a.png}
              - {id: p2now, media: a.png, look: contemporary}
          - id: three
            part: 3
            cues:
              - {id: p3, media: a.png, look: {tint: [0.9, 0.9, 1]}}
          - id: four
            part: 4
            look: sepia
            cues:
              - {id: p4, media: a.png, look: {tint: [1, 1, 0.5]}}
              - {id: p4plain, media: a.png, look: {preset: none, grain: 0.1}}
        """,
    )
    got = looks(path)
    part1 = replace(SEPIA, grain=0.2, vignette=0.3)
    assert got["p1"] == replace(part1, grain=0.4)  # the poem overlays the part
    assert got["p1dust"] == replace(part1, grain=0.4, dust=0.6, vignette=0.0)
    assert got["p1plain"] is None  # `none` cancels everything above
    assert got["p1colour"] == Look(grain=0.4, vignette=0.3)
    assert got["p2"] == LOOK_PRESETS["expressionist"]
    assert got["p2now"] == LOOK_PRESETS["contemporary"]  # a preset replaces the whole look
    # a tint written alone keeps an inherited toning amount
    assert got["p3"] == Look(tint=(0.9, 0.9, 1.0), tint_amount=0.5)
    assert got["p4"] == replace(SEPIA, tint=(1.0, 1.0, 0.5))
    assert got["p4plain"] == Look(grain=0.1)


def test_look_errors_with_file_and_line(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        parts:
          1: {look: sepai}
          2: {look: {preset: zzz}}
        poems:
          - id: 1
            look: 3
            cues:
              - media: a.png
                look:
                  grain: 2
                  saturation: -1
                  brightness: 1.5
                  contrast: x
              - media: b.png
                look: {tint: [1, 2, 0.5], vignete: 0.5}
              - media: c.png
                look: {tint: "#12345", dust: -0.1}
              - media: d.png
                look: {tint: [1, 1], preset: [sepia]}
              - media: e.png
                look: Daguerreotype
        """,
    )
    presets = "sepia, daguerreotype, expressionist, contemporary, none"
    tint = "expected a colour, [r, g, b] from 0 to 1 or '#rrggbb'"
    assert problems(path) == [
        f"{path}:2: look: unknown preset 'sepai', did you mean 'sepia'?",
        f"{path}:3: look.preset: unknown preset 'zzz', expected one of: {presets}",
        f"{path}:6: look: expected a preset name or a mapping (key: value), got 3",
        f"{path}:10: look.grain: expected a number from 0 to 1, got 2",
        f"{path}:11: look.saturation: expected a number >= 0, got -1",
        f"{path}:12: look.brightness: expected a number from -1 to 1, got 1.5",
        f"{path}:13: look.contrast: expected a number >= 0, got 'x'",
        f"{path}:15: look.tint: expected a number from 0 to 1, got 2",
        f"{path}:15: unknown key 'vignete' in look, did you mean 'vignette'?",
        f"{path}:17: look.tint: {tint}, got '#12345'",
        f"{path}:17: look.dust: expected a number from 0 to 1, got -0.1",
        f"{path}:19: look.tint: {tint}, got a list",
        f"{path}:19: look.preset: expected a preset name, got a list",
        f"{path}:21: look: unknown preset 'Daguerreotype', did you mean 'daguerreotype'?",
    ]


def test_demo_show_has_a_look() -> None:
    show = load_show(REPO / "show" / "demo.yaml", allow_missing=True)
    first = show.poems[0].cues[0].look
    assert first is not None and first.tint_amount > 0 and first.grain > 0
    assert any(c.look != first for c in show.cues)
