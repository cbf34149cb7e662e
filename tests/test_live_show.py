"""The live show file (issue 26, point 1): edits of the show file of a running `play` are
applied without a restart, live and standby kept by cue id; a broken edit is refused with
`file:line` and the show runs on. Pure merge tests first, then a headless `play`."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.cues.actions import Go
from app.cues.engine import Engine
from app.rehearse.merge import changes, merge
from app.show.loader import load_show
from tests.web_helpers import Play, tiny_show, wait_for

SHOW = """title: Live
media_root: {media}
output: {{width: 64, height: 36, fps: 30}}
defaults: {{fade: 0, go_guard: 0}}
poems:
  - id: "1"
    title: Moon
    cues:
      - id: "1.1"   # the opening
        media: red.png
      - id: "1.2"
        media: blue.png
      - id: "1.3"
        media: green.png
        fade: 1.5
      - id: "1.4"
        media: grey.png
"""


def _show(tmp_path: Path, text: str | None = None) -> Path:
    path = tiny_show(tmp_path)  # makes the media
    path.write_text((text or SHOW).format(media=tmp_path / "media"))
    return path


def _edit(path: Path, old: str, new: str) -> None:
    """Replace `old` by `new` in the file, saved as an editor saves (a temporary file
    renamed over it: the watcher never sees half a file)."""
    text = path.read_text()
    assert old in text, old
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text.replace(old, new, 1))
    tmp.replace(path)


# --- merge (pure) ----------------------------------------------------------------------


def _fired(path: Path) -> tuple[Any, Any]:
    show = load_show(path)
    engine = Engine(show)
    state = engine.apply(engine.initial_state(), Go(source="test"), 0.0).state
    return show, state


def test_merge_keeps_live_and_standby_by_id_when_cues_move(tmp_path: Path) -> None:
    path = _show(tmp_path)
    show, state = _fired(path)
    assert (state.live, state.standby) == (0, 1)
    _edit(path, '      - id: "1.1"   # the opening\n        media: red.png\n', "")
    _edit(
        path,
        "        media: grey.png\n",
        '        media: grey.png\n      - id: "1.1"\n        media: red.png\n',
    )
    m = merge(show, state, load_show(path))
    cues = m.show.cues
    assert [c.id for c in cues] == ["1.2", "1.3", "1.4", "1.1"]
    assert cues[m.state.live].id == "1.1" and cues[m.state.standby].id == "1.2"
    assert [cues[e.cue].id for e in m.state.entries] == ["1.1"]
    assert m.moved == {0: 3, 1: 0, 2: 1, 3: 2}


def test_deleted_standby_moves_to_the_next_and_says_so(tmp_path: Path) -> None:
    path = _show(tmp_path)
    show, state = _fired(path)
    _edit(path, '      - id: "1.2"\n        media: blue.png\n', "")
    m = merge(show, state, load_show(path))
    assert m.show.cues[m.state.standby].id == "1.3"
    assert m.notes == ("standby cue 1.2 was deleted: standby moves to 1.3",)


def test_what_is_on_stage_keeps_its_settings_until_it_leaves(tmp_path: Path) -> None:
    path = _show(tmp_path)
    show, state = _fired(path)
    _edit(path, "        media: red.png\n", "        media: red.png\n        opacity: 0.5\n")
    new = load_show(path)
    m = merge(show, state, new)
    assert m.show.cues[0].opacity == 1.0 and m.held == {"1.1"}
    assert changes(show, new) == ["cue 1.1: opacity 1.0 -> 0.5"]
    gone = replace(m.state, entries=())  # it left the stage: merging again applies it
    again = merge(m.show, gone, new)
    assert again.show.cues[0].opacity == 0.5 and not again.held


def test_a_deleted_cue_on_stage_stays_until_it_leaves(tmp_path: Path) -> None:
    path = _show(tmp_path)
    show, state = _fired(path)
    _edit(path, '      - id: "1.1"   # the opening\n        media: red.png\n', "")
    m = merge(show, state, load_show(path))
    assert [c.id for c in m.show.cues] == ["1.2", "1.3", "1.4", "1.1"]
    assert m.show.cues[m.state.live].id == "1.1" and m.held == {"1.1"}
    assert "cue 1.1 was deleted: it stays on stage until it leaves" in m.notes


# --- a running play ---------------------------------------------------------------------


def _go(play: Play) -> None:
    body = json.dumps({"type": "command", "id": "g", "name": "go", "args": {}}).encode()
    req = urllib.request.Request(
        f"{play.base}/api/command?token={play.token}", data=body, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["ok"] is True


def _reloads(play: Play) -> list[dict[str, Any]]:
    return [r for r in play.records() if r["event"] == "reload"]


def _next_reload(play: Play, seen: int) -> dict[str, Any]:
    found = wait_for(lambda: _reloads(play)[seen:], 30.0, "a reload record")
    return found[0]


CUE_13 = '      - id: "1.3"\n        media: green.png\n        fade: 1.5\n'
CUE_14 = '      - id: "1.4"\n        media: grey.png\n'


def test_edits_of_a_running_play_are_applied_and_a_broken_one_refused(tmp_path: Path) -> None:
    path = _show(tmp_path)
    log = tmp_path / "events.jsonl"
    play = Play(path, log)
    latencies: list[float] = []

    def edit(old: str, new: str) -> dict[str, Any]:
        seen = len(_reloads(play))
        _edit(path, old, new)
        rec = _next_reload(play, seen)
        latencies.append(rec["since_saved"])
        return rec

    try:
        wait_for(lambda: any(r["event"] == "frame" for r in play.records()), 60.0, "a frame")
        _go(play)
        wait_for(lambda: play.state()["state"]["live"] == 0, 20.0, "1.1 live")

        rec = edit("        fade: 1.5\n", "        fade: 3.0\n")  # a fade
        assert rec["changes"] == ["cue 1.3: fade 1.5 -> 3.0"]
        assert (rec["live"], rec["standby"]) == ("1.1", "1.2")

        rec = edit(
            "        media: blue.png\n", '        media: blue.png\n        notes: "bar 23"\n'
        )
        assert rec["changes"] == ["cue 1.2: notes '' -> 'bar 23'"]

        cue13 = CUE_13.replace("1.5", "3.0")
        rec = edit(cue13 + CUE_14, CUE_14 + cue13)  # the order of two cues
        assert rec["changes"] == ["cue order: 1.1 1.2 1.4 1.3"]
        assert (rec["live"], rec["standby"]) == ("1.1", "1.2")

        (tmp_path / "media" / "white.png").write_bytes(
            (tmp_path / "media" / "grey.png").read_bytes()
        )
        rec = edit(cue13, cue13 + '      - id: "1.5"\n        media: white.png\n')  # a new cue
        assert rec["changes"] == ["cue 1.5 added"]
        assert (rec["live"], rec["standby"]) == ("1.1", "1.2")

        rec = edit('      - id: "1.2"\n        media: blue.png\n        notes: "bar 23"\n', "")
        assert rec["changes"] == ["cue 1.2 deleted"]
        assert rec["notes"] == ["standby cue 1.2 was deleted: standby moves to 1.4"]
        assert (rec["live"], rec["standby"]) == ("1.1", "1.4")
        wait_for(  # the console too
            lambda: play.state()["show"]["poems"][0]["cues"][1]["id"] == "1.4", 10.0, "console"
        )

        errors = len([r for r in play.records() if r["event"] == "error"])
        _edit(path, "        fade: 3.0\n", "        fade: -2\n")  # broken
        line = path.read_text().splitlines().index("        fade: -2") + 1
        refused = wait_for(
            lambda: [r for r in play.records() if r["event"] == "error"][errors:], 30.0, "refusal"
        )[0]
        assert refused["message"].startswith(f"reload refused: {path.resolve()}:{line}: fade")
        wait_for(  # the terminal
            lambda: any(f"{path.resolve()}:{line}:" in x for x in play.lines), 10.0, "stderr"
        )
        health = wait_for(lambda: play.state()["state"]["health"]["warnings"], 10.0, "warning")
        assert any(f":{line}: fade" in w for w in health)  # the console (and operator) see it

        # the show runs on with the previous version: GO fires 1.4 (standby), frames go on
        _go(play)
        wait_for(lambda: play.state()["state"]["live"] == 1, 20.0, "1.4 live")
        frames = wait_for(
            lambda: [
                r
                for r in play.records()
                if r["event"] == "frame" and [x["cue"] for x in r["layers"]] == ["1.4"]
            ],
            20.0,
            "frames of 1.4",
        )
        assert frames
        assert len(_reloads(play)) == 5
    finally:
        play.stop()
    print("seconds from save to applied:", latencies)


# --- bench soak --reload-every ------------------------------------------------------------


def test_reload_phases_and_ratio() -> None:
    import numpy as np

    from app.rehearse.soak_reload import editing, frame_p99_ratio, phase_length

    assert phase_length(2.0) == 4.0
    assert [editing(t, 4.0) for t in (0.0, 3.9, 4.0, 7.9, 8.0)] == [False] * 2 + [True] * 2 + [
        False
    ]
    t = np.arange(0.0, 16.0, 0.5)
    ms = np.where([editing(x, 4.0) for x in t], 40.0, 20.0)
    r = frame_p99_ratio(t, ms, 4.0)
    assert r["frame_p99_ratio"] == 2.0 and r["frames_with_edits"] == r["frames_without"] == 16


def test_short_soak_with_reloads_reports_the_ratio() -> None:
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "app", "bench", "soak", "--minutes", "0.1", "--width", "320"]
    cmd += ["--height", "180", "--reload-every", "0.5", "--json"]
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    assert r["edits"] >= 2 and r["reloads"] >= 1, r
    assert r["frame_p99_ratio"] is not None and r["frames_with_edits"] > 0
    assert r["apply_ms_max"] is not None and r["errors"] == 0


def test_the_watcher_reads_a_changed_venue_and_refuses_a_broken_one(tmp_path: Path) -> None:
    from app.rehearse.reload import ShowWatcher

    path = _show(tmp_path)
    venue = tmp_path / "venue.yaml"
    venue.write_text("output: {corners: [[0, 0], [1, 0], [1, 1], [0, 1]]}\n")
    watcher = ShowWatcher(path, venue, allow_missing=False)  # not started: check() by hand
    watcher.check()
    assert watcher.results.empty()  # nothing changed
    venue.write_text("output: {corners: [[0.1, 0], [1, 0], [1, 1], [0, 1]]}\n")
    watcher.check()
    loaded = watcher.results.get_nowait()
    assert loaded.show is None and loaded.error is None
    assert not loaded.venue.warp.is_identity
    venue.write_text("output: {corners: [[0, 0], [1, 0]]}\n")
    watcher.check()
    assert str(venue) in (watcher.results.get_nowait().venue_error or "")
