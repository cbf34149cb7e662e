"""Show file edits that keep comments, anchors and order (app/show/edit.py): each edit's
diff touches only its lines, and the result is what the same edit makes of the YAML model."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from app.show.edit import Edit, EditError, Stale, apply_edit, describe, digest, edited_text
from app.show.loader import load_show
from tests.web_helpers import tiny_show

SHOW = """# a show
title: T   # the title
media_root: {media}
defaults: &d {{fade: 1.5}}
poems:
  - id: "1"
    cues:
      # first cue
      - id: "1.1"   # the opening
        media: red.png
      - id: "1.2"
        media: blue.png
        fade: 2   # slow
        notes: |
          two lines
          of notes
      # third
      - id: "1.3"
        media: green.png

  # poem two
  - id: "2"
    cues:
      - {{id: "2.1", media: grey.png}}
      - media: grey.png
"""


@pytest.fixture
def show(tmp_path: Path) -> Path:
    path = tiny_show(tmp_path)
    path.write_text(SHOW.format(media=tmp_path / "media"))
    return path


def _diff(path: Path, obj: dict) -> list[str]:
    before = path.read_text()
    apply_edit(path, Edit.parse(obj), digest(before))
    after = path.read_text()
    load_show(path)  # still a show
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("---", "+++")
    ]


def test_setting_a_value_changes_its_line_only_and_keeps_the_comment(show: Path) -> None:
    assert _diff(show, {"op": "set", "cue": "1.2", "field": "fade", "value": 3.5}) == [
        "-        fade: 2   # slow",
        "+        fade: 3.5   # slow",
    ]
    assert _diff(show, {"op": "set", "cue": "2.1", "field": "curve", "value": "linear"}) == [
        '-      - {id: "2.1", media: grey.png}',
        '+      - {id: "2.1", media: grey.png, curve: linear}',
    ]
    # a new key goes after the cue's last line, before the comment of the next one
    assert _diff(show, {"op": "set", "cue": "1.3", "field": "follow", "value": {"after": 2}}) == [
        "+        follow: {after: 2}"
    ]
    assert _diff(show, {"op": "set", "cue": "1.2", "field": "notes", "value": None}) == [
        "-        notes: |",
        "-          two lines",
        "-          of notes",
    ]
    text = show.read_text()
    assert "&d" in text and "# third" in text and "# poem two" in text


def test_moving_a_cue_moves_its_lines_with_its_comment(show: Path) -> None:
    lines = _diff(show, {"op": "move", "cue": "1.3", "poem": "1", "before": "1.1"})
    assert sorted(lines) == sorted(
        ["-      # third", '-      - id: "1.3"', "-        media: green.png"]
        + ["+      # third", '+      - id: "1.3"', "+        media: green.png"]
    )
    assert [c.id for c in load_show(show).cues] == ["1.3", "1.1", "1.2", "2.1", "2.2"]
    # a cue without an id keeps its name in its new place
    _diff(show, {"op": "move", "cue": "2.2", "poem": "1", "before": None})
    assert [c.id for c in load_show(show).cues] == ["1.3", "1.1", "1.2", "2.2", "2.1"]


def test_adding_and_deleting(show: Path) -> None:
    assert _diff(show, {"op": "add", "poem": "1", "media": "green.png"}) == [
        '+      - id: "1.4"',
        "+        media: green.png",
    ]
    assert _diff(show, {"op": "delete", "cue": "1.2"}) == [
        '-      - id: "1.2"',
        "-        media: blue.png",
        "-        fade: 2   # slow",
        "-        notes: |",
        "-          two lines",
        "-          of notes",
    ]
    names = describe(show)["media"]
    assert "red.png" in names and "grey.png" in names


def test_refusals(show: Path) -> None:
    text = show.read_text()
    with pytest.raises(Stale):
        apply_edit(show, Edit.parse({"op": "delete", "cue": "1.1"}), digest(text + " "))
    with pytest.raises(EditError, match="videos only"):  # the loader's word on the result
        apply_edit(
            show,
            Edit.parse({"op": "set", "cue": "1.1", "field": "follow", "value": {"on": "end"}}),
            digest(text),
        )
    for bad in (
        {"op": "set", "cue": "1.1", "field": "fade", "value": float("nan")},
        {"op": "set", "cue": "1.1", "field": "fade", "value": True},
        {"op": "set", "cue": "1.1", "field": "notes", "value": "x" * 3000},
        {"op": "add", "poem": "1", "media": "../x.png"},
        {"op": "move", "cue": "a b", "poem": "1"},
        {"op": "rename"},
    ):
        with pytest.raises(EditError):
            Edit.parse(bad)
    with pytest.raises(EditError, match="no cue"):
        edited_text(text, Edit.parse({"op": "delete", "cue": "9.9"}))
    assert show.read_text() == text


def test_a_poem_emptied_and_filled_again(show: Path) -> None:
    # 2.2 has no id: when 2.1 leaves, it is given its name so that it keeps it
    assert _diff(show, {"op": "move", "cue": "2.1", "poem": "1", "before": None}) == [
        '+      - {id: "2.1", media: grey.png}',
        '-      - {id: "2.1", media: grey.png}',
        "-      - media: grey.png",
        '+      - id: "2.2"',
        "+        media: grey.png",
    ]
    assert _diff(show, {"op": "delete", "cue": "2.2"}) == [
        '-      - id: "2.2"',
        "-        media: grey.png",
    ]
    assert "    cues:\n" in show.read_text()  # poem 2 has none now
    assert _diff(show, {"op": "add", "poem": "2", "media": "red.png"}) == [
        '+      - id: "2.2"',  # 2.1 is taken (in poem 1)
        "+        media: red.png",
    ]
    assert [c.id for c in load_show(show).cues] == ["1.1", "1.2", "1.3", "2.1", "2.2"]
