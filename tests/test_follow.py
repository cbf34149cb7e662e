"""`follow:` in the cue engine: armed by GO, due by the engine clock, cancelled by the
performer (pure: the times are the clock values given to the engine)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from app.cues.actions import (
    Back,
    FadeOut,
    Go,
    HardBlack,
    LayerRate,
    MediaFailed,
    Panic,
    Standby,
    StandbyStep,
    TBar,
)
from app.cues.engine import FOLLOW_SOURCE, Engine
from app.cues.state import EngineState
from app.show.model import Cue, Curve, Defaults, FollowSpec, MediaKind, OutputSpec, Poem, Show


def _cue(cid: str, *, fade: float = 1.0, follow: FollowSpec | None = None, **kw: object) -> Cue:
    kind = MediaKind.VIDEO if follow is not None and follow.on_end else MediaKind.STILL
    return Cue(
        id=cid,
        poem_id="1",
        media=Path(f"/media/{cid}.png"),
        media_ref=f"{cid}.png",
        kind=kind,
        fade=fade,
        curve=Curve.LINEAR,
        follow=follow,
        **kw,  # type: ignore[arg-type]
    )


def _show(*cues: Cue, go_guard: float = 0.25) -> Show:
    return Show(
        title="follow",
        path=Path("/shows/follow.yaml"),
        media_root=Path("/media"),
        output=OutputSpec(),
        defaults=Defaults(go_guard=go_guard),
        poems=(Poem(id="1", title="one", part=1, cues=tuple(cues)),),
    )


def _go(engine: Engine, state: EngineState, t: float, **kw: object) -> EngineState:
    applied = engine.apply(state, Go(source="script", **kw), t)  # type: ignore[arg-type]
    assert applied.note is None, applied.note
    return applied.state


def _fire_due(engine: Engine, state: EngineState, t: float) -> tuple[EngineState, list[float]]:
    """What the main loop does once a frame: apply every follow due by `t` at its time."""
    fired = []
    while (due := engine.due(state, t)) is not None:
        at, action = due
        assert action.source == FOLLOW_SOURCE
        state, note = engine.apply(state, action, at)
        assert note is None, note
        fired.append(at)
    return state, fired


def test_after_fires_once_the_fade_has_completed_plus_the_wait() -> None:
    engine = Engine(_show(_cue("a", fade=1.5, follow=FollowSpec(after=2.0)), _cue("b"), _cue("c")))
    state = _go(engine, engine.initial_state(), 10.0)
    assert state.follow is not None and state.follow.target == 1
    assert engine.follow_deadline(state) == 13.5  # fade 1.5 s, then 2 s
    assert engine.due(state, 13.49) is None
    due = engine.due(state, 14.0)
    assert due is not None and due[0] == 13.5 and due[1].detail == "1/a"
    state, fired = _fire_due(engine, state, 14.0)
    assert fired == [13.5]
    assert state.live == 1 and state.standby == 2 and state.follow is None  # b has none
    fade_in = next(e for e in state.entries if e.cue == 1).opacity
    assert fade_in.t0 == 13.5  # the GO happened at the due time, not at the frame's


def test_next_fade_counts_in_the_wait() -> None:
    from app.cues.actions import NextFade

    engine = Engine(_show(_cue("a", follow=FollowSpec(after=1.0)), _cue("b")))
    state = engine.apply(engine.initial_state(), NextFade(seconds=4.0), 0.0).state
    state = _go(engine, state, 0.0)
    assert engine.follow_deadline(state) == 5.0


def test_a_chain_of_cuts_with_no_wait_fires_at_once_past_the_go_guard() -> None:
    cut = FollowSpec(after=0.0)
    engine = Engine(_show(_cue("a", fade=0, follow=cut), _cue("b", fade=0, follow=cut), _cue("c")))
    state = _go(engine, engine.initial_state(), 2.0)
    state, fired = _fire_due(engine, state, 2.0)
    assert fired == [2.0, 2.0]  # the double-GO guard (0.25 s) is for hands, not follows
    assert state.live == 2
    # a performer's GO right after a follow fired is still guarded
    note = engine.apply(state, Go(source="key"), 2.1).note
    assert note is not None and "guard" in note


def test_on_end_follows_the_media_time_and_the_layer_rate() -> None:
    show = _show(_cue("v", fade=0.5, follow=FollowSpec(on_end=True), rate=2.0), _cue("b"))
    engine = Engine(show, lengths={0: 8.0})
    state = _go(engine, engine.initial_state(), 1.0)
    assert engine.follow_deadline(state) == 5.0  # 8 media s at the cue's rate 2
    state = engine.apply(state, LayerRate(layer=1, rate=0.5), 3.0).state  # 4 s played
    assert engine.follow_deadline(state) == 7.0  # 4 s left at rate 1
    paused = engine.apply(state, LayerRate(layer=1, rate=0.0), 4.0).state
    assert engine.follow_deadline(paused) is None and engine.due(paused, 100.0) is None
    state, fired = _fire_due(engine, state, 7.5)
    assert fired == [7.0] and state.live == 1


def test_on_end_never_before_the_fade_and_waits_for_an_unknown_length() -> None:
    show = _show(_cue("v", fade=3.0, follow=FollowSpec(on_end=True)), _cue("b"))
    state = _go(Engine(show, lengths={0: 1.0}), EngineState(), 0.0)
    assert Engine(show, lengths={0: 1.0}).follow_deadline(state) == 3.0
    unknown = Engine(show)
    assert unknown.follow_deadline(state) is None and unknown.due(state, 1e6) is None


def test_the_performer_cancels_a_follow() -> None:
    show = _show(
        _cue("a", follow=FollowSpec(after=5.0)), _cue("b", follow=FollowSpec(after=1.0)), _cue("c")
    )
    engine = Engine(show)
    armed = _go(engine, engine.initial_state(), 0.0)
    cancels = [
        Back(),
        Panic(),
        HardBlack(),
        FadeOut(seconds=1.0),
        StandbyStep(cues=1),
        Standby(poem="1", cue="c"),
        TBar(position=0.3),
    ]
    for action in cancels:
        applied = engine.apply(armed, action, 1.0)
        assert applied.note is None, (action, applied.note)
        assert applied.state.follow is None, action
        assert engine.due(applied.state, 100.0) is None
    # GO fires the standby cue and arms that cue's own follow instead
    state = _go(engine, armed, 1.0)
    assert state.live == 1 and state.follow is not None
    assert state.follow.cue == 1 and engine.follow_deadline(state) == 3.0
    # what does not take over from the performer leaves it running
    from app.cues.actions import Blackout, LayerOpacity, Master

    for action in (Master(level=0.5), Blackout(on=True), LayerOpacity(layer=1, opacity=0.5)):
        assert engine.apply(armed, action, 1.0).state.follow == armed.follow


def test_a_refused_cancel_keeps_the_follow_and_a_failed_cue_drops_it() -> None:
    engine = Engine(_show(_cue("a", follow=FollowSpec(after=5.0)), _cue("b")))
    armed = _go(engine, engine.initial_state(), 0.0)
    refused = engine.apply(armed, Go(source="key"), 0.1)  # inside the double-GO guard
    assert refused.note is not None and refused.state.follow == armed.follow
    failed = engine.apply(armed, MediaFailed(cue=0, source="media"), 1.0).state
    assert failed.follow is None


def test_a_completed_t_bar_arms_the_cue_it_brought_in() -> None:
    engine = Engine(_show(_cue("a"), _cue("b", follow=FollowSpec(after=2.0)), _cue("c")))
    state = _go(engine, engine.initial_state(), 0.0)
    for t, position in ((2.0, 0.4), (2.5, 1.0)):
        state = engine.apply(state, TBar(position=position), t).state
    assert state.live == 1 and state.follow is not None
    assert engine.follow_deadline(state) == 4.5
    rest = engine.apply(state, TBar(position=0.0), 3.0).state  # the T-bar back at rest
    assert rest.follow == state.follow


def test_the_last_cue_arms_nothing_and_a_follow_go_without_one_is_refused() -> None:
    engine = Engine(_show(_cue("a"), _cue("b", follow=FollowSpec(after=1.0))))
    state = _go(engine, engine.initial_state(), 0.0, poem="1", cue="b")
    assert state.follow is None
    note = engine.apply(state, Go(source=FOLLOW_SOURCE), 5.0).note
    assert note is not None and "no follow" in note


def test_apply_stays_pure_with_a_follow() -> None:
    engine = Engine(_show(_cue("a", follow=FollowSpec(after=1.0)), _cue("b")))
    state = _go(engine, engine.initial_state(), 0.0)
    before = replace(state)
    engine.apply(state, Back(), 0.5)
    assert state == before and state.follow is not None


# --- a real run: play --fake-clock, read back in the event log -------------------------


def test_play_fires_follows_at_their_time_and_logs_them(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    import numpy as np
    from PIL import Image

    from app.media.lavfi import make_clip

    media = tmp_path / "media"
    media.mkdir()
    for name, rgb in (("a", (200, 0, 0)), ("c", (0, 0, 200)), ("d", (0, 200, 0))):
        Image.fromarray(np.full((36, 64, 3), rgb, np.uint8)).save(media / f"{name}.png")
    make_clip(media / "b.mp4", width=64, height=36, fps=10, seconds=1.0)
    (tmp_path / "show").mkdir()
    show = tmp_path / "show" / "s.yaml"
    show.write_text(
        "output: {width: 64, height: 36, fps: 10}\n"
        "poems:\n"
        "  - id: 1\n"
        "    notes: the whole poem\n"
        "    cues:\n"
        "      - {id: a, media: a.png, fade: 0.5, follow: {after: 1.03}}\n"
        "      - {id: b, media: b.mp4, fade: 0, loop: false, follow: {on: end}}\n"
        "      - {id: c, media: c.png, fade: 0, notes: hold, follow: {after: 2}}\n"
        "      - {id: d, media: d.png}\n"
    )
    log = tmp_path / "run.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "play",
            str(show),
            "--headless",
            "--fake-clock",
            "--frames",
            "60",
            "--quiet",
            "--no-osc",
            "--no-gamepad",
            "--no-web",
            "--script",
            "0:go 3.2:back",
            "--event-log",
            str(log),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    gos = [(r["t"], r["source"]) for r in records if r["event"] == "action" and r["action"] == "GO"]
    assert gos == [(0.0, "script"), (1.53, "follow"), (2.53, "follow")]  # b plays 1.0 s
    assert [(r["t"], r["cue"]) for r in records if r["event"] == "cue"] == [
        (0.0, "a"),
        (1.53, "b"),
        (2.53, "c"),
    ]
    follows = [r for r in records if r["event"] == "follow"]
    assert [(f["what"], f["cue"]) for f in follows] == [
        ("armed", "a"),
        ("armed", "b"),
        ("armed", "c"),
        ("cancelled", "c"),
    ]
    assert follows[0]["at"] == 1.53 and follows[0]["mode"] == "after 1.03 s"
    assert follows[1]["at"] is None and follows[1]["mode"] == "on end"
    assert follows[3]["by"] == "BACK" and follows[3]["t"] == 3.2
    frames = [r for r in records if r["event"] == "frame"]
    shown = {round(f["t"], 1): [e["cue"] for e in f["layers"]] for f in frames}
    assert shown[1.5] == ["a"] and shown[1.6] == ["b"] and shown[2.5] == ["b"]
    assert shown[2.6] == ["c"] and shown[5.9] == ["c"]  # cancelled: d never came
