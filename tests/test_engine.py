"""The cue engine (app.cues.engine), driven with fake times: no clock, no sleeps."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from app.cues.actions import (
    Back,
    Blackout,
    CameraDolly,
    CameraOrbit,
    CameraPan,
    CameraReset,
    FadeOut,
    Go,
    HardBlack,
    LayerOpacity,
    LayerRate,
    Master,
    MediaFailed,
    NextFade,
    Panic,
    Standby,
    StandbyStep,
    TBar,
)
from app.cues.engine import Engine, entry_weight
from app.cues.state import CameraOffset, EngineState
from app.show.model import (
    CameraLimits,
    CameraSpec,
    Cue,
    Curve,
    Defaults,
    MediaKind,
    OutputSpec,
    Poem,
    Show,
)


class NotedEngine(Engine):
    """The engine with the note of its last `apply` kept, for the many checks below."""

    last_note: str | None = None

    def apply(self, state: EngineState, action: Any, t: float) -> Any:  # type: ignore[override]
        applied = super().apply(state, action, t)
        self.last_note = applied.note
        return applied.state


def cue(cid: str, poem: str = "1", **kw: object) -> Cue:
    """A still cue (a splat one when `camera` is given); defaults: fade 2 s, linear."""
    kind = MediaKind.SPLAT if kw.get("camera") is not None else MediaKind.STILL
    ext = ".ply" if kind == MediaKind.SPLAT else ".png"
    kw.setdefault("fade", 2.0)
    kw.setdefault("curve", Curve.LINEAR)
    return Cue(
        id=cid,
        poem_id=poem,
        media=Path(f"/media/{cid}{ext}"),
        media_ref=f"{cid}{ext}",
        kind=kind,
        **kw,  # type: ignore[arg-type]
    )


def make_show(*poems: tuple[str, list[Cue]], **defaults: object) -> Show:
    """A show from (poem id, cues) pairs; `defaults` override `Defaults` fields."""
    return Show(
        title="test",
        path=Path("/shows/test.yaml"),
        media_root=Path("/media"),
        output=OutputSpec(),
        defaults=Defaults(**defaults),  # type: ignore[arg-type]
        poems=tuple(Poem(id=pid, title=f"poem {pid}", part=1, cues=tuple(cs)) for pid, cs in poems),
    )


def abc_show(**defaults: object) -> Show:
    """Poem 1: cues a, b, c (layer 1, linear, fade 2); poem 2: d, e; poem 3 empty; poem 4: f."""
    return make_show(
        ("1", [cue("a"), cue("b"), cue("c")]),
        ("2", [cue("d", "2"), cue("e", "2")]),
        ("3", []),
        ("4", [cue("f", "4")]),
        **defaults,
    )


def weights(engine: Engine, state: EngineState, t: float) -> dict[str, float]:
    """Cue id -> weight of every visible entry in the mix at t."""
    mix = engine.mix(state, t)
    return {engine.cues[e.cue].id: e.opacity for lm in mix.layers for e in lm.entries}


def run(engine: Engine, state: EngineState, *steps: tuple[float, object]) -> EngineState:
    """Apply (t, action) steps in order and check each one took effect."""
    for t, action in steps:
        state = engine.apply(state, action, t)  # type: ignore[arg-type]
        assert engine.last_note is None, engine.last_note
    return state


# --- initial state and GO -------------------------------------------------------------


def test_initial_state() -> None:
    engine = NotedEngine(abc_show())
    s = engine.initial_state()
    assert s.standby == 0 and s.live is None and s.entries == () and s.master == 1.0
    mix = engine.mix(s, 0.0)
    assert mix.layers == () and mix.black == 0.0 and mix.master == 1.0 and mix.transition is None
    assert NotedEngine(make_show()).initial_state().standby is None


def test_first_go_fades_in_from_nothing() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (1.0, Go()))
    assert s.live == 0 and s.standby == 1 and s.last_go_at == 1.0
    assert weights(engine, s, 1.0) == {}
    assert weights(engine, s, 2.0) == {"a": pytest.approx(0.5)}
    assert weights(engine, s, 3.0) == {"a": 1.0}


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        (Curve.LINEAR, [0.0, 0.25, 0.5, 1.0]),
        (Curve.SMOOTH, [0.0, 0.15625, 0.5, 1.0]),
    ],
)
def test_crossfade_opacities(curve: Curve, expected: list[float]) -> None:
    show = make_show(("1", [cue("a", fade=0.0), cue("b", fade=4.0, curve=curve)]))
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, Go()))
    for frac, b in zip([0.0, 0.25, 0.5, 1.0], expected, strict=True):
        w = weights(engine, s, 10.0 + 4.0 * frac)
        assert w.get("b", 0.0) == pytest.approx(b)
        assert w.get("a", 0.0) == pytest.approx(1.0 - b)
    mix = engine.mix(s, 11.0)
    assert mix.transition == pytest.approx(0.25)
    assert engine.mix(s, 14.0).transition is None


def test_go_fades_to_cue_opacity() -> None:
    engine = NotedEngine(make_show(("1", [cue("a", opacity=0.6)])))
    s = run(engine, engine.initial_state(), (0.0, Go()))
    assert weights(engine, s, 1.0) == {"a": pytest.approx(0.3)}
    assert weights(engine, s, 5.0) == {"a": pytest.approx(0.6)}


@pytest.mark.parametrize("curve", list(Curve))
def test_go_during_transition_continues_without_a_jump(curve: Curve) -> None:
    show = make_show(("1", [cue(c, fade=2.0, curve=curve) for c in "abc"]))
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, Go()))
    before = weights(engine, s, 10.7)
    assert 0.0 < before["a"] < 1.0 and 0.0 < before["b"] < 1.0
    s2 = run(engine, s, (10.7, Go()))
    after = weights(engine, s2, 10.7)
    assert after["a"] == pytest.approx(before["a"], abs=1e-12)
    assert after["b"] == pytest.approx(before["b"], abs=1e-12)
    assert "c" not in after  # c starts at 0
    eps = 1e-6
    later = weights(engine, s2, 10.7 + eps)
    assert later["a"] == pytest.approx(before["a"], abs=1e-4)
    assert later["b"] == pytest.approx(before["b"], abs=1e-4)
    end = weights(engine, s2, 12.7)
    assert end == {"c": 1.0}
    assert [engine.cues[e.cue].id for e in engine.prune(s2, 12.7).entries] == ["c"]


def test_cut_with_fade_zero() -> None:
    engine = NotedEngine(make_show(("1", [cue("a"), cue("b", fade=0.0)])))
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Go()))
    assert weights(engine, s, 5.0) == {"b": 1.0}
    assert [e.cue for e in s.entries] == [1]  # the cut-out entry is pruned at once


def test_layers_are_independent() -> None:
    show = make_show(("1", [cue("a"), cue("top", layer=2), cue("b")]))
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Go()), (10.0, Go()))
    w = weights(engine, s, 11.0)
    assert w == {"a": pytest.approx(0.5), "b": pytest.approx(0.5), "top": 1.0}
    mix = engine.mix(s, 11.0)
    assert [lm.layer for lm in mix.layers] == [1, 2]
    assert [engine.cues[e.cue].id for e in mix.layers[0].entries] == ["a", "b"]


def test_double_go_guard() -> None:
    engine = NotedEngine(abc_show(go_guard=0.25))
    s = run(engine, engine.initial_state(), (1.0, Go()))
    s2 = engine.apply(s, Go(), 1.1)
    assert s2 is s
    assert engine.last_note == "GO ignored: 0.1 s after the last GO (guard 0.25 s)"
    s3 = engine.apply(s, Go(), 1.25)
    assert engine.last_note is None and s3.live == 1
    engine0 = NotedEngine(abc_show(go_guard=0.0))
    s = run(engine0, engine0.initial_state(), (1.0, Go()), (1.0, Go()))
    assert s.live == 1


def test_refused_go_does_not_arm_the_guard() -> None:
    engine = NotedEngine(abc_show())
    s = engine.apply(engine.initial_state(), Go(poem="9"), 1.0)
    assert s.last_go_at is None and engine.last_note == "GO ignored: no poem '9'"


def test_go_advances_standby_to_the_end() -> None:
    engine = NotedEngine(make_show(("1", [cue("a"), cue("b")])))
    s = run(engine, engine.initial_state(), (0.0, Go()), (1.0, Go()))
    assert s.standby is None and s.live == 1
    s2 = engine.apply(s, Go(), 5.0)
    assert s2 is s and engine.last_note == "GO ignored: nothing in standby (end of the show)"


def test_named_go() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go(poem="2", cue="e")))
    assert s.live == 4 and s.standby == 5
    s = run(engine, s, (1.0, Go(poem="1")))
    assert s.live == 0 and s.standby == 1
    s = run(engine, s, (2.0, Go(cue="c")))
    assert s.live == 2
    engine.apply(s, Go(poem="1", cue="zz"), 3.0)
    assert engine.last_note == "GO ignored: no cue 'zz' in poem '1'"
    engine.apply(s, Go(poem="3"), 3.0)
    assert engine.last_note == "GO ignored: poem '3' has no cues"


def test_refire_live_cue_restarts_media_without_a_dip() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (1.0, Back()), (10.0, Go()))
    assert len(s.entries) == 1 and s.entries[0].fired_at == 10.0
    for t in (10.0, 10.5, 12.0):
        assert weights(engine, s, t) == {"a": 1.0}
    assert engine.mix(s, 11.0).layers[0].entries[0].media_time == pytest.approx(1.0)
    assert s.standby == 1


def test_refire_during_its_fade_out_continues_from_current_value() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, Go()), (11.0, Standby(poem="1")))
    s = run(engine, s, (11.0, Go()))
    assert sorted(e.cue for e in s.entries) == [0, 1]  # still one entry per cue
    assert weights(engine, s, 11.0) == {"a": pytest.approx(0.5), "b": pytest.approx(0.5)}
    assert weights(engine, s, 13.0) == {"a": 1.0}


def test_apply_is_pure() -> None:
    engine = NotedEngine(abc_show())
    s0 = engine.initial_state()
    s1 = engine.apply(s0, Go(), 0.0)
    assert s0 == EngineState(standby=0) and s1 is not s0


# --- standby moves ----------------------------------------------------------------------


def test_back_stops_at_first_cue_and_comes_back_from_the_end() -> None:
    engine = NotedEngine(make_show(("1", [cue("a"), cue("b")])))
    s = engine.initial_state()
    assert engine.apply(s, Back(), 0.0) is s
    assert engine.last_note == "BACK ignored: standby is already the first cue"
    s = run(engine, s, (0.0, Go()), (1.0, Go()))
    assert s.standby is None
    s = run(engine, s, (2.0, Back()))
    assert s.standby == 1 and s.live == 1
    s = run(engine, s, (3.0, Back()))
    assert s.standby == 0


def test_goto() -> None:
    engine = NotedEngine(abc_show())
    s = engine.initial_state()
    assert run(engine, s, (0.0, Standby(poem="2"))).standby == 3
    assert run(engine, s, (0.0, Standby(poem="2", cue="e"))).standby == 4
    for action, note in [
        (Standby(poem="9"), "STANDBY ignored: no poem '9'"),
        (Standby(poem="2", cue="a"), "STANDBY ignored: no cue 'a' in poem '2'"),
        (Standby(poem="3"), "STANDBY ignored: poem '3' has no cues"),
    ]:
        assert engine.apply(s, action, 0.0) is s
        assert engine.last_note == note


def test_standby_step_cues() -> None:
    engine = NotedEngine(abc_show())
    s = engine.initial_state()
    s = run(engine, s, (0.0, StandbyStep(cues=1)), (0.0, StandbyStep(cues=2)))
    assert s.standby == 3
    s = run(engine, s, (0.0, StandbyStep(cues=-10)))
    assert s.standby == 0
    assert engine.apply(s, StandbyStep(cues=-1), 0.0) is s
    assert engine.last_note == "STANDBY_PREV ignored: standby is already the first cue"
    s = run(engine, s, (0.0, StandbyStep(cues=99)))
    assert s.standby == 5
    assert engine.apply(s, StandbyStep(cues=1), 0.0) is s
    assert engine.last_note == "STANDBY_NEXT ignored: standby is already the last cue"
    end = replace(s, standby=None)
    assert engine.apply(end, StandbyStep(cues=1), 0.0) is end
    assert run(engine, end, (0.0, StandbyStep(cues=-1))).standby == 5


def test_standby_step_poems_skips_empty_poems() -> None:
    engine = NotedEngine(abc_show())
    s = replace(engine.initial_state(), standby=1)  # poem 1, cue b
    s = run(engine, s, (0.0, StandbyStep(poems=1)))
    assert s.standby == 3  # poem 2's first cue
    s = run(engine, s, (0.0, StandbyStep(poems=1)))
    assert s.standby == 5  # poem 3 is empty: poem 4
    assert engine.apply(s, StandbyStep(poems=1), 0.0) is s
    assert engine.last_note == "POEM_NEXT ignored: there is no next poem"
    s = run(engine, s, (0.0, StandbyStep(poems=-1)))
    assert s.standby == 3
    s = run(engine, replace(s, standby=4), (0.0, StandbyStep(poems=-1)))
    assert s.standby == 0  # from poem 2's second cue: poem 1's first cue
    assert engine.apply(s, StandbyStep(poems=-1), 0.0) is s
    assert run(engine, replace(s, standby=None), (0.0, StandbyStep(poems=-1))).standby == 5
    assert run(engine, replace(s, standby=1), (0.0, StandbyStep(poems=5))).standby == 5


def test_empty_standby_step_is_noted() -> None:
    engine = NotedEngine(abc_show())
    s = engine.initial_state()
    engine.apply(s, StandbyStep(), 0.0)
    assert engine.last_note == "STANDBY_NEXT: nothing to change"


# --- fade out, blackout, master -----------------------------------------------------------


def test_fadeout_fades_every_layer_and_keeps_standby() -> None:
    show = make_show(("1", [cue("a"), cue("top", layer=2), cue("b")]), fade=4.0, curve=Curve.LINEAR)
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, Go()), (0.5, Go(cue="top")))
    s = run(engine, s, (3.0, FadeOut()))
    assert weights(engine, s, 3.0) == {"a": 1.0, "top": 1.0}
    assert weights(engine, s, 5.0) == {"a": 0.5, "top": 0.5}
    assert weights(engine, s, 7.0) == {}
    assert s.standby == 2 and s.live == 1
    assert engine.prune(s, 7.0).entries == ()
    assert engine.apply(engine.prune(s, 7.0), FadeOut(), 7.0).entries == ()
    assert engine.last_note == "FADEOUT ignored: nothing to fade"


def test_fadeout_seconds_and_negative() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()))
    s2 = run(engine, s, (2.0, FadeOut(seconds=1.0)))
    assert weights(engine, s2, 2.5) == {"a": pytest.approx(0.5)}
    assert engine.apply(s, FadeOut(seconds=-1.0), 2.0) is s
    assert engine.last_note == "FADEOUT refused: negative time -1 s"


def test_blackout_toggle_cut() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()))
    s = run(engine, s, (5.0, Blackout()))
    assert s.blackout and engine.mix(s, 5.0).black == 1.0
    assert engine.apply(s, Blackout(on=True), 6.0) is s
    assert engine.last_note == "BLACKOUT ignored: blackout is already on"
    s = run(engine, s, (6.0, Blackout()))
    assert not s.blackout and engine.mix(s, 6.0).black == 0.0
    assert s.black is None  # pruned once back to 0
    s = run(engine, s, (7.0, Blackout(on=True)), (8.0, Blackout(on=False)))
    assert not s.blackout


def test_blackout_with_fade_reverses_from_current_level() -> None:
    show = make_show(("1", [cue("a")]), blackout_fade=2.0, curve=Curve.LINEAR)
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, Blackout()))
    assert engine.mix(s, 11.0).black == pytest.approx(0.5)
    assert engine.mix(s, 11.0).transition == pytest.approx(0.5)
    assert engine.mix(s, 12.0).black == 1.0
    s = run(engine, s, (11.5, Blackout()))  # back off mid-fade: from 0.75 down
    assert engine.mix(s, 11.5).black == pytest.approx(0.75)
    assert engine.mix(s, 12.5).black == pytest.approx(0.375)
    assert engine.mix(s, 13.5).black == 0.0
    assert engine.prune(s, 13.5).black is None


def test_go_in_blackout_fires_underneath() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Blackout()), (6.0, Go()))
    assert s.blackout and s.live == 1
    mix = engine.mix(s, 8.0)
    assert mix.black == 1.0
    assert weights(engine, s, 8.0) == {"b": 1.0}
    s = run(engine, s, (9.0, Blackout()))
    assert engine.mix(s, 9.0).black == 0.0 and weights(engine, s, 9.0) == {"b": 1.0}


def test_master_clamps_and_is_immediate() -> None:
    engine = NotedEngine(abc_show())
    s = engine.initial_state()
    s = run(engine, s, (0.0, Master(level=0.4)))
    assert s.master == 0.4
    assert run(engine, s, (0.0, Master(level=3.0))).master == 1.0
    s = run(engine, s, (0.0, Master(level=-1.0)))
    assert s.master == 0.0 and engine.mix(s, 0.0).master == 0.0
    assert run(engine, s, (0.0, Master(level=1))).master == 1.0


@pytest.mark.parametrize(
    "action",
    [
        Master(level=math.nan),
        Master(level=math.inf),
        TBar(position=math.nan),
        NextFade(seconds=math.inf),
        FadeOut(seconds=math.nan),
        LayerOpacity(layer=1, opacity=-math.inf),
        LayerRate(layer=1, rate=math.nan),
        CameraOrbit(dx=math.nan, dy=0.0),
        CameraPan(dx=0.0, dy=math.inf),
        CameraDolly(d=math.nan),
        Master(level="0.5"),  # type: ignore[arg-type]
        LayerOpacity(layer=True, opacity=0.5),
    ],
)
def test_invalid_numbers_are_refused(action: object) -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()))
    assert engine.apply(s, action, 1.0) is s  # type: ignore[arg-type]
    assert engine.last_note is not None and "refused" in engine.last_note
    assert engine.apply(s, Go(), math.nan) is s
    assert engine.last_note == "GO refused: time nan is not finite"


# --- panic and hard black ---------------------------------------------------------------


def test_panic_fades_everything_then_clears() -> None:
    show = make_show(
        ("1", [cue("a"), cue("top", layer=2), cue("b")]), panic_fade=2.0, curve=Curve.LINEAR
    )
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, Go()), (0.5, Go(cue="top")))
    s = run(engine, s, (3.0, Blackout()), (5.0, Panic()))
    assert not s.blackout and s.panic_at == 5.0
    mix = engine.mix(s, 6.0)
    assert mix.black == 1.0  # was already black: stays black while the panic runs
    assert weights(engine, s, 6.0) == {"a": pytest.approx(0.5), "top": pytest.approx(0.5)}
    mix = engine.mix(s, 7.0)
    assert mix.layers == () and mix.black == 0.0
    s = engine.prune(s, 7.0)
    assert s.entries == () and s.black is None and s.panic_at is None
    s = run(engine, s, (8.0, Go()))
    assert weights(engine, s, 10.0) == {"b": 1.0} and engine.mix(s, 10.0).black == 0.0


def test_panic_black_ramps_up() -> None:
    engine = NotedEngine(abc_show(panic_fade=2.0, curve=Curve.LINEAR))
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Panic()))
    assert engine.mix(s, 6.0).black == pytest.approx(0.5)
    assert weights(engine, s, 6.0) == {"a": pytest.approx(0.5)}


def test_second_panic_within_the_fade_cuts_at_once() -> None:
    engine = NotedEngine(abc_show(panic_fade=2.0))
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Panic()), (5.5, Panic()))
    assert s.entries == () and s.black is None and s.panic_at is None and not s.blackout
    mix = engine.mix(s, 5.5)
    assert mix.layers == ()
    assert s.standby == 1


def test_panic_after_the_fade_is_a_first_panic_again() -> None:
    engine = NotedEngine(abc_show(panic_fade=2.0))
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Panic()), (8.0, Go()))
    s = run(engine, s, (20.0, Panic()))
    assert s.panic_at == 20.0 and s.entries


def test_panic_with_zero_time_is_immediate() -> None:
    engine = NotedEngine(abc_show(panic_fade=0.0))
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Panic()))
    assert s.entries == () and s.black is None and engine.mix(s, 5.0).layers == ()


def test_go_during_panic_brings_black_back_down() -> None:
    engine = NotedEngine(abc_show(panic_fade=2.0, curve=Curve.LINEAR))
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Panic()), (6.0, Go()))
    assert s.panic_at is None
    mix = engine.mix(s, 6.0)
    assert mix.black == pytest.approx(0.5)
    assert engine.mix(s, 7.0).black == pytest.approx(0.25)
    assert engine.mix(s, 8.0).black == 0.0
    assert weights(engine, s, 8.0) == {"b": 1.0}


def test_hardblack_clears_everything_but_standby() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (1.0, Blackout()), (2.0, HardBlack()))
    assert s.entries == () and s.black is None and not s.blackout and s.standby == 1
    assert engine.mix(s, 2.0).layers == ()
    engine.apply(s, HardBlack(), 3.0)
    assert engine.last_note == "HARDBLACK: nothing to change"


# --- manual crossfade --------------------------------------------------------------------


def test_manual_crossfade_forward_and_complete() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()))
    s = run(engine, s, (10.0, TBar(position=0.25)))
    assert weights(engine, s, 10.0) == {"a": 0.75, "b": 0.25}
    assert weights(engine, s, 99.0) == {"a": 0.75, "b": 0.25}  # time does not move it
    assert s.tbar == 0.25 and engine.mix(s, 10.0).transition == 0.25
    assert s.standby == 1 and s.live == 0
    s = run(engine, s, (11.0, TBar(position=0.5)))
    assert weights(engine, s, 11.0) == {"a": 0.5, "b": 0.5}
    s = run(engine, s, (12.0, TBar(position=1.0)))
    assert weights(engine, s, 12.0) == {"b": 1.0}
    assert s.live == 1 and s.standby == 2 and s.last_go_at == 12.0
    assert [e.cue for e in s.entries] == [1] and s.entries[0].manual is None
    assert s.entries[0].fired_at == 10.0  # media started with the T-bar
    assert engine.mix(s, 12.0).transition is None


def test_manual_crossfade_back_to_zero_restores() -> None:
    engine = NotedEngine(abc_show())
    s0 = run(engine, engine.initial_state(), (0.0, Go()))
    s = run(engine, s0, (10.0, TBar(position=0.6)), (11.0, TBar(position=0.0)))
    assert weights(engine, s, 11.0) == {"a": 1.0}
    assert [e.cue for e in s.entries] == [0] and s.entries[0].manual is None
    assert s.tbar is None and s.standby == 1 and s.live == 0
    s = run(engine, s, (12.0, TBar(position=0.3)))  # a new crossfade can start
    assert weights(engine, s, 12.0) == {"a": 0.7, "b": pytest.approx(0.3)}


def test_manual_crossfade_from_a_running_transition_takes_current_values() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, Go()))
    s = run(engine, s, (11.0, TBar(position=0.5)))  # a and b at 0.5 each
    assert weights(engine, s, 11.0) == {"a": 0.25, "b": 0.25, "c": 0.5}
    assert weights(engine, s, 15.0) == {"a": 0.25, "b": 0.25, "c": 0.5}


def test_go_during_manual_crossfade_completes_it_with_a_timed_fade() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, TBar(position=0.5)))
    s = run(engine, s, (11.0, Go()))
    assert s.live == 1 and s.standby == 2 and not any(e.manual is not None for e in s.entries)
    assert weights(engine, s, 11.0) == {"a": 0.5, "b": 0.5}
    assert weights(engine, s, 12.0) == {"a": pytest.approx(0.25), "b": pytest.approx(0.75)}
    assert weights(engine, s, 13.0) == {"b": 1.0}
    b = next(e for e in s.entries if e.cue == 1)
    assert b.fired_at == 10.0
    # the T-bar is still half-way: it must go back to 0 before it starts the next cue
    assert engine.apply(s, TBar(position=0.6), 14.0) is s
    assert engine.last_note == "TBAR ignored: bring the T-bar back to 0 to start the next one"
    s = run(engine, s, (14.0, TBar(position=0.0)))
    assert s.tbar is None
    s = run(engine, s, (15.0, TBar(position=0.2)))
    assert weights(engine, s, 15.0) == {"b": 0.8, "c": pytest.approx(0.2)}


def test_tbar_must_return_to_zero_after_completion() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()))
    s = run(engine, s, (10.0, TBar(position=0.5)), (10.5, TBar(position=1.0)))
    assert s.tbar == 1.0
    for pos in (0.9, 0.5, 1.0):  # a trigger springing back through the range
        assert engine.apply(s, TBar(position=pos), 11.0) is s
    s = run(engine, s, (11.0, TBar(position=0.0)))
    s = run(engine, s, (12.0, TBar(position=0.4)))
    assert weights(engine, s, 12.0) == {"b": pytest.approx(0.6), "c": pytest.approx(0.4)}


def test_crossfade_straight_to_one_is_a_cut_go() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, TBar(position=1.0)))
    assert weights(engine, s, 10.0) == {"b": 1.0} and s.live == 1 and s.tbar == 1.0


def test_crossfade_refusals() -> None:
    engine = NotedEngine(make_show(("1", [cue("a")])))
    s = engine.initial_state()
    assert engine.apply(s, TBar(position=0.0), 0.0) is s
    assert engine.last_note == "TBAR ignored: T-bar at 0, no crossfade running"
    s = run(engine, s, (0.0, Go()))
    assert engine.apply(s, TBar(position=0.5), 1.0) is s
    assert engine.last_note == "TBAR ignored: nothing in standby (end of the show)"
    s = run(engine, s, (1.0, Back()))
    assert engine.apply(s, TBar(position=0.5), 1.0) is s
    assert engine.last_note == "TBAR ignored: 1/a is already live (GO re-fires it)"


def test_standby_is_locked_during_manual_crossfade() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (1.0, TBar(position=0.5)))
    for action in (Back(), Standby(poem="2"), StandbyStep(cues=1)):
        assert engine.apply(s, action, 2.0) is s
        assert engine.last_note is not None and "manual crossfade" in engine.last_note


def test_named_go_during_manual_crossfade_freezes_it() -> None:
    show = make_show(("1", [cue("a"), cue("b"), cue("top", layer=2)]))
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, TBar(position=0.4)))
    s = run(engine, s, (6.0, Go(cue="top")))
    assert weights(engine, s, 10.0) == {"a": pytest.approx(0.6), "b": 0.4, "top": 1.0}
    assert not any(e.manual is not None for e in s.entries)


def test_fadeout_during_manual_crossfade() -> None:
    engine = NotedEngine(abc_show(fade=1.0, curve=Curve.LINEAR))
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, TBar(position=0.5)))
    s = run(engine, s, (6.0, FadeOut()))
    assert weights(engine, s, 6.5) == {"a": 0.25, "b": 0.25}
    assert engine.prune(s, 7.0).entries == ()


def test_crossfade_refused_during_panic() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Panic()))
    assert engine.apply(s, TBar(position=0.5), 5.5) is s
    assert engine.last_note == "TBAR ignored: a panic is in progress"


# --- next fade, layers ------------------------------------------------------------------


def test_next_fade_is_used_once() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, NextFade(seconds=0.0)), (0.0, Go()))
    assert s.next_fade is None and weights(engine, s, 0.0) == {"a": 1.0}
    s = run(engine, s, (10.0, Go()))
    assert weights(engine, s, 11.0) == {"a": 0.5, "b": 0.5}  # the cue's own 2 s again
    s = run(engine, s, (20.0, NextFade(seconds=4.0)), (21.0, Go()))
    assert weights(engine, s, 22.0) == {"b": 0.75, "c": 0.25}
    assert engine.apply(s, NextFade(seconds=-1.0), 30.0) is s
    assert engine.last_note == "NEXT_FADE refused: negative time -1 s"


def test_layer_opacity_and_rate() -> None:
    show = make_show(("1", [cue("v", rate=2.0), cue("top", layer=2, rate=0.5)]))
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, NextFade(seconds=0.0)), (0.0, Go()))
    s = run(engine, s, (1.0, NextFade(seconds=0.0)), (1.0, Go()))
    s = run(engine, s, (1.0, LayerOpacity(layer=2, opacity=0.5)), (1.0, LayerRate(layer=1, rate=3)))
    assert s.layer_opacity == ((2, 0.5),) and s.layer_rate == ((1, 3.0),)
    mix = engine.mix(s, 10.0)
    (l1, l2) = mix.layers
    assert l1.opacity == 1.0 and l2.opacity == 0.5
    # v played 1 s at 2x (2 media s) before layer 1 went to 3x: 2 + 9 s * 6
    assert l1.entries[0].rate == 6.0 and l1.entries[0].media_time == pytest.approx(56.0)
    assert l2.entries[0].rate == 0.5 and l2.entries[0].media_time == pytest.approx(4.5)
    s = run(engine, s, (2.0, LayerOpacity(layer=2, opacity=7.0)), (2.0, LayerRate(layer=1, rate=9)))
    assert s.layer_opacity == ((2, 1.0),) and s.layer_rate == ((1, 4.0),)
    s = run(engine, s, (2.0, LayerOpacity(layer=0, opacity=-1)), (2.0, LayerRate(layer=1, rate=-2)))
    assert s.layer_opacity == ((0, 0.0), (2, 1.0)) and s.layer_rate == ((1, 0.0),)
    # rate 0 pauses where it was (2 + 1 s * 6 = 8 media s), not back at the start
    assert engine.mix(s, 10.0).layers[0].entries[0].media_time == pytest.approx(8.0)
    s = run(engine, s, (10.0, LayerRate(layer=1, rate=1)))
    assert engine.mix(s, 11.0).layers[0].entries[0].media_time == pytest.approx(10.0)


def test_layer_rate_change_never_jumps_the_media_time() -> None:
    show = make_show(("1", [cue("a", rate=1.5), cue("b")]))
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, NextFade(seconds=0.0)), (0.0, Go()))
    changes = [(0.7, 2.0), (1.3, 0.25), (2.0, 0.0), (2.5, 4.0), (3.1, 1.0)]
    for t, rate in changes:
        before = engine.mix(s, t).layers[0].entries[0].media_time
        s = engine.apply(s, LayerRate(layer=1, rate=rate), t)
        assert engine.mix(s, t).layers[0].entries[0].media_time == pytest.approx(before)
    # by hand: 0.7*1.5 + 0.6*3 + 0.7*0.375 + 0.5*0 + 0.6*6 + 0.9*1.5
    expected = 1.05 + 1.8 + 0.2625 + 0.0 + 3.6 + 1.35
    assert engine.mix(s, 4.0).layers[0].entries[0].media_time == pytest.approx(expected)
    # a cue fired after the change plays at the layer's rate from its own start
    s = run(engine, s, (4.0, NextFade(seconds=0.0)), (4.0, Go()))
    (entry,) = engine.mix(s, 5.0).layers[0].entries
    assert entry.media_time == pytest.approx(1.0)


# --- camera -------------------------------------------------------------------------------


def test_camera_moves_clamp_to_default_limits() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()))
    s = run(engine, s, (1.0, CameraOrbit(dx=3.0, dy=-1.0)), (1.0, CameraOrbit(dx=100.0, dy=-100)))
    lim = CameraLimits()
    assert s.camera.yaw == lim.yaw and s.camera.pitch == -lim.pitch
    s = run(engine, s, (1.0, CameraPan(dx=1.0, dy=-0.01)), (1.0, CameraDolly(d=-1.0)))
    assert s.camera.pan_x == lim.pan and s.camera.pan_y == -0.01
    assert s.camera.dolly == -lim.dolly_out
    assert engine.apply(s, CameraDolly(d=-0.1), 1.0) is s
    assert engine.last_note == "DOLLY ignored: the camera is at its limit"
    assert engine.mix(s, 1.0).camera == s.camera
    s = run(engine, s, (2.0, CameraReset()))
    assert s.camera == CameraOffset()


def test_camera_uses_the_live_splat_limits_and_go_resets_it() -> None:
    spec = CameraSpec(limits=CameraLimits(yaw=2.0, pitch=1.0, pan=0.5, dolly_in=0.3, dolly_out=0.1))
    show = make_show(("1", [cue("s", camera=spec), cue("s2", camera=CameraSpec()), cue("still")]))
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (0.0, Go()))
    s = run(engine, s, (1.0, CameraOrbit(dx=5.0, dy=5.0)), (1.0, CameraDolly(d=1.0)))
    assert (s.camera.yaw, s.camera.pitch, s.camera.dolly) == (2.0, 1.0, 0.3)
    s = run(engine, s, (2.0, Go()))  # another splat cue: back to its base view
    assert s.camera == CameraOffset()
    s = run(engine, s, (3.0, CameraOrbit(dx=1.0, dy=0.0)), (4.0, Go()))  # a still: kept
    assert s.camera.yaw == 1.0


# --- prune and mix ------------------------------------------------------------------------


def test_prune_drops_only_finished_fade_outs() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, Go()))
    assert engine.prune(s, 11.0) is s
    p = engine.prune(s, 12.0)
    assert [e.cue for e in p.entries] == [1]
    assert engine.prune(p, 50.0) is p


def test_entry_weight_matches_mix() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (10.0, Go()))
    by_cue = {e.cue: entry_weight(e, 10.5) for e in s.entries}
    assert by_cue == {0: 0.75, 1: 0.25}


def test_mix_fields() -> None:
    show = make_show(("1", [cue("a", rate=1.5), cue("b")]))
    engine = NotedEngine(show)
    s = run(engine, engine.initial_state(), (2.0, Go()), (2.0, Master(level=0.8)))
    mix = engine.mix(s, 3.0)
    assert mix.master == 0.8 and mix.black == 0.0 and mix.camera == CameraOffset()
    assert mix.transition == pytest.approx(0.5)
    (layer,) = mix.layers
    assert layer.layer == 1 and layer.opacity == 1.0
    (entry,) = layer.entries
    assert entry.cue == 0 and entry.opacity == pytest.approx(0.5)
    assert entry.rate == 1.5 and entry.media_time == pytest.approx(1.5)
    assert engine.mix(s, 1.0).layers == ()  # before it fired: weight 0


def test_label() -> None:
    engine = NotedEngine(abc_show())
    assert engine.label(3) == "2/d" and engine.label(None) == "-" and engine.label(99) == "-"


def test_blackout_during_panic_keeps_black_on() -> None:
    engine = NotedEngine(abc_show(panic_fade=2.0))
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, Panic()), (5.5, Blackout(on=True)))
    assert s.blackout and s.panic_at is None
    s = engine.prune(s, 10.0)
    assert engine.mix(s, 10.0).black == 1.0 and s.entries == ()


def test_nothing_to_change_is_noted() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Master(level=0.5)))
    assert engine.apply(s, Master(level=0.5), 1.0) == s
    assert engine.last_note == "MASTER: nothing to change"
    engine.apply(s, CameraReset(), 1.0)
    assert engine.last_note == "CAMERA_RESET: nothing to change"


def test_random_actions_keep_the_invariants() -> None:
    import random

    show = make_show(
        ("1", [cue("a"), cue("b", fade=0.0), cue("top", layer=2, opacity=0.5)]),
        ("2", [cue("s", "2", camera=CameraSpec(), curve=Curve.SMOOTH), cue("d", "2")]),
        panic_fade=1.0,
        blackout_fade=0.5,
    )
    engine = NotedEngine(show)
    rng = random.Random(7)
    makers = [
        lambda: Go(),
        lambda: Go(poem=rng.choice(["1", "2", "9"])),
        lambda: Back(),
        lambda: Standby(poem=rng.choice(["1", "2"])),
        lambda: StandbyStep(cues=rng.choice([-1, 1]), poems=rng.choice([-1, 0, 1])),
        lambda: FadeOut(seconds=rng.choice([None, 0.0, 1.0])),
        lambda: Blackout(on=rng.choice([None, True, False])),
        lambda: Master(level=rng.uniform(-0.5, 1.5)),
        lambda: Panic(),
        lambda: HardBlack(),
        lambda: TBar(position=rng.choice([0.0, 0.3, 0.7, 1.0, rng.random()])),
        lambda: LayerOpacity(layer=rng.choice([1, 2]), opacity=rng.uniform(-1, 2)),
        lambda: LayerRate(layer=1, rate=rng.uniform(-1, 5)),
        lambda: NextFade(seconds=rng.choice([0.0, 0.5, 3.0])),
        lambda: CameraOrbit(dx=rng.uniform(-20, 20), dy=rng.uniform(-20, 20)),
        lambda: CameraDolly(d=rng.uniform(-1, 1)),
    ]
    s, t = engine.initial_state(), 0.0
    for _ in range(600):
        t += rng.choice([0.0, 0.05, 0.2, 0.5, 1.5])
        s = engine.apply(s, rng.choice(makers)(), t)
        cues = [e.cue for e in s.entries]
        assert len(cues) == len(set(cues))
        assert s.standby is None or 0 <= s.standby < len(engine.cues)
        assert 0.0 <= s.master <= 1.0
        assert abs(s.camera.yaw) <= CameraLimits().yaw
        mix = engine.mix(s, t + rng.random())
        assert 0.0 <= mix.black <= 1.0
        for layer in mix.layers:
            assert 0.0 <= layer.opacity <= 1.0
            total = sum(e.opacity for e in layer.entries)
            assert all(e.opacity > 0.0 for e in layer.entries) and total <= 1.0 + 1e-9


# --- the apply result and media failures ------------------------------------------------


def test_apply_returns_the_state_and_the_note() -> None:
    engine = Engine(abc_show())
    s = engine.initial_state()
    applied = engine.apply(s, Go(), 1.0)
    assert applied.note is None and applied.state.live == 0
    refused = engine.apply(applied.state, Go(), 1.1)
    assert refused.state is applied.state
    assert refused.note == "GO ignored: 0.1 s after the last GO (guard 0.25 s)"


def test_media_failure_fades_the_entry_and_marks_the_cue() -> None:
    engine = NotedEngine(abc_show())
    s = run(engine, engine.initial_state(), (0.0, Go()), (5.0, MediaFailed(cue=0, reason="x")))
    assert s.failed == (0,)
    assert weights(engine, s, 5.5) == {"a": 0.5}
    assert weights(engine, s, 6.0) == {}
    assert engine.apply(s, MediaFailed(cue=0), 6.0) is s and "already failed" in str(
        engine.last_note
    )
    s = run(engine, replace(s, standby=0), (7.0, Go()))
    assert s.failed == ()  # fired again: a new try
