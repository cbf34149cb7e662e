"""The cue engine: a pure state machine, `(state, action, t) -> state`, and the mix at t.

No GL, no threads, no I/O. The main loop owns the one `EngineState`, hands every action to
`Engine.apply` with the clock time, and asks `Engine.mix` what to draw each frame. Cues are
referred to by their flat index in `Show.cues`.

Semantics (quoted by the README):

- **GO** fires the cue in standby (or the cue named by `Go(poem, cue)`) into its layer. The new
  entry fades from 0 to the cue's opacity over the fade time (a pending NEXT_FADE, used once,
  else the cue's `fade`) with the cue's curve; every other entry of that layer fades from its
  value *at that moment* to 0 over the same time and curve, so a GO during a running
  transition continues from the current mix without a jump. Other layers are untouched.
  Standby moves to the cue after the fired one (None after the last cue). Fade 0 is a cut.
- **Double-GO guard**: a GO less than `defaults.go_guard` seconds after the last accepted GO
  (or T-bar completion) is ignored, with a note.
- **Re-firing a cue that is on stage** (e.g. after BACK): the cue restarts its media; its
  opacity continues from its current value toward the cue's opacity (no dip, no second copy).
  A cue appears at most once in the mix, so the media pool needs one source per cue.
- **GO while in blackout**: the cue fires underneath the blackout (the mix changes, nothing
  shows) and the blackout stays on until it is released; releasing it reveals the new cue.
- **PANIC** fades every entry to 0 and black to 1 over `defaults.panic_fade` and releases any
  blackout; a second PANIC while that fade runs cuts at once (entries cleared). When the
  panic is over the mix is empty and black is back to 0, so the next GO shows its cue
  normally. A GO during the panic fade fires normally and black fades back to 0 over that
  GO's fade time while the old cues finish fading out.
- **HARDBLACK** clears every entry at once (the output is black because nothing is live);
  black and blackout are reset, standby stays.
- **TBAR** (manual T-bar, 0..1) toward the cue in standby: the first position > 0 puts the
  standby cue in its layer at that weight and the layer's other entries at their current
  value times (1 - position); the position is the mix (linear: the hand is the curve).
  Reaching 1 completes it as a finished GO (standby advances, the others are removed);
  returning to 0 removes the incoming cue and restores the others. A GO during it completes
  it with a timed fade from the current position. While it is in progress standby cannot
  move. After it ends (completed, or taken over by GO/FADEOUT/PANIC/HARDBLACK) the T-bar must
  come back to 0 before it starts another crossfade, so a spring-loaded trigger returning to
  rest never starts the next cue half-way.
- **Layer rate** multiplies the cue's own rate. A change applies from the moment it
  arrives: media already played stays played (a playing video slows down, speeds up or
  pauses where it is, without a jump), and a cue fired later plays at the layer's rate.
- **Camera** moves are offsets from the splat cue's base view, clamped to the limits of the
  live cue's camera (or the newest splat on stage, or `CameraLimits()` defaults). A GO that
  fires a splat cue resets the offset.
- **Media failure** (`MediaFailed`, from the player when the pool reports a broken file):
  that cue's entries fade from their current weight to 0 over `MEDIA_FAIL_FADE` seconds and
  the cue is marked failed until it is fired again; the rest of the show goes on.
- **Follow** (a cue's `follow:`, QLab's auto-continue): firing a cue that has one (by GO or
  a completed T-bar) arms it when a cue comes after it; `due(state, t)` then says when the
  next cue fires by itself: `after: S` S seconds once the cue's fade has completed, `on:
  end` when its media time reaches its clip length (`Engine(show, lengths)`; a paused layer
  waits, a rate change moves it; never before the fade has completed). The main loop applies
  that `Go(source="follow")` at the due time (not at the frame's): the double-GO guard does
  not apply to it. Cancelled (the timer dropped) by BACK, GO (which arms the fired cue's own
  follow, if any), PANIC, HARDBLACK, FADEOUT, any standby move, a T-bar starting a manual
  crossfade, and its cue's media failing.
- Any action carrying a non-finite or non-numeric number is refused, state unchanged.

`apply` returns an `Applied(state, note)`: the note says why an action was refused or
changed nothing (None when it took effect).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import fields, replace
from typing import Any, NamedTuple

from app.cues.actions import (
    TRANSPORT_ACTIONS,
    Action,
    Back,
    Blackout,
    CameraDolly,
    CameraOrbit,
    CameraPan,
    CameraRecord,
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
from app.cues.commands import log_name
from app.cues.curves import curve_value, fade_done, fade_progress, fade_running, fade_value
from app.cues.state import (
    CameraOffset,
    EngineState,
    Entry,
    Fade,
    FollowTimer,
    LayerMix,
    Mix,
    MixEntry,
)
from app.show.model import CameraLimits, Curve, MediaKind, Show

MAX_LAYER_RATE = 4.0
NO_SPLAT_LIVE = "no splat cue is live"  # why a camera_record is refused
MEDIA_FAIL_FADE = 1.0  # seconds: an entry whose media broke fades to black over this
FOLLOW_SOURCE = "follow"  # the source of the GO a cue's `follow:` fires
# a performer taking over: these cancel an armed follow when they take effect (GO re-arms)
CANCELS_FOLLOW = (Back, Standby, StandbyStep, Panic, HardBlack, FadeOut)
# actions whose effect is outside the engine (the renderer's, the reference recording's)
_OUTSIDE = (CameraRecord, *TRANSPORT_ACTIONS)


class Applied(NamedTuple):
    """What `Engine.apply` returns: the new state and the note (None: it took effect)."""

    state: EngineState
    note: str | None


def entry_weight(entry: Entry, t: float) -> float:
    """Weight of an entry in its layer at time t (the T-bar position drives manual ones)."""
    if entry.manual is not None:
        f = entry.opacity
        return f.start + (f.end - f.start) * curve_value(f.curve, entry.manual)
    return fade_value(entry.opacity, t)


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _media_elapsed(e: Entry, t: float, rate: float) -> float:
    """Media seconds entry `e` has played by clock time `t` at its current `rate`."""
    since = e.fired_at if e.media_since is None else e.media_since
    return e.media_base + max(t - since, 0.0) * rate


def _num(x: float) -> str:
    return f"{round(x, 3):g}"


def _set_pair(
    pairs: tuple[tuple[int, float], ...], key: int, value: float
) -> tuple[tuple[int, float], ...]:
    return tuple(sorted({**dict(pairs), key: value}.items()))


def _take_layer(
    entries: tuple[Entry, ...],
    cue: int,
    layer: int,
    t: float,
    seconds: float,
    curve: Curve,
    manual: float | None,
) -> list[Entry]:
    """The entries as cue `cue` takes `layer` over at t: the other layers' as they are, the
    layer's others fading from their weight at t to 0 over `seconds` with `curve` (driven by
    the T-bar position `manual` when one does it; those already at 0 dropped), and the cue's
    own entry left out (the caller puts the incoming one)."""
    out = []
    for e in entries:
        if e.layer != layer:
            out.append(e)
        elif e.cue != cue:
            w = entry_weight(e, t)
            if w > 0.0:
                out.append(replace(e, opacity=Fade(w, 0.0, t, seconds, curve), manual=manual))
    return out


def _is_follow_go(action: Action) -> bool:
    """Whether `action` is the GO a cue's `follow:` fires (made by the main loop)."""
    return isinstance(action, Go) and action.source == FOLLOW_SOURCE


def _bad_field(action: Action) -> str | None:
    """Name and value of the first numeric field that is not a finite number, if any."""
    for f in fields(action):
        if f.name in ("source", "detail"):
            continue
        value = getattr(action, f.name)
        ann = str(f.type)
        numeric = ann.startswith("float") or ann.startswith("int")
        if not numeric or (value is None and "None" in ann):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{f.name}={value!r} is not a number"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{f.name}={value!r} is not a finite number"
    return None


class Engine:
    """The cue engine of one show (see the module docstring for the semantics).

    `apply` never raises on a valid action object: an action that cannot apply returns the
    state unchanged with a note saying why (the note is None when the action took effect).
    """

    def __init__(self, show: Show, lengths: Mapping[int, float] | None = None) -> None:
        self.show = show
        self.cues = show.cues
        # media seconds from a cue's start to its end, by flat index (`follow: {on: end}`)
        self.lengths: dict[int, float] = dict(lengths or {})
        self._note: str | None = None  # scratch of the apply in progress
        self._poem_of: list[int] = []  # poem index of each cue
        self._poem_first: list[int | None] = []  # first cue index of each poem
        for p_index, poem in enumerate(show.poems):
            self._poem_first.append(len(self._poem_of) if poem.cues else None)
            self._poem_of.extend(p_index for _ in poem.cues)
        self._handlers: dict[type[Action], Callable[[EngineState, Any, float], EngineState]] = {
            Go: self._go,
            Back: self._back,
            Standby: self._goto,
            StandbyStep: self._standby_step,
            FadeOut: self._fadeout,
            Blackout: self._blackout,
            Master: self._master,
            Panic: self._panic,
            HardBlack: self._hardblack,
            TBar: self._tbar,
            LayerOpacity: self._layer_opacity,
            LayerRate: self._layer_rate,
            NextFade: self._next_fade,
            CameraOrbit: self._camera,
            CameraPan: self._camera,
            CameraDolly: self._camera,
            CameraReset: self._camera,
            CameraRecord: self._camera_record,
            MediaFailed: self._media_failed,
        }
        for kind in TRANSPORT_ACTIONS:  # the reference recording's: the state stays
            self._handlers[kind] = self._outside

    # --- public API -------------------------------------------------------------------

    def initial_state(self) -> EngineState:
        """Nothing live, the first cue in standby (None for a show with no cues), master 1."""
        return EngineState(standby=0 if self.cues else None)

    def label(self, index: int | None) -> str:
        """A cue index as 'poem/cue' for messages ('-' for None)."""
        if index is None or not 0 <= index < len(self.cues):
            return "-"
        cue = self.cues[index]
        return f"{cue.poem_id}/{cue.id}"

    def apply(self, state: EngineState, action: Action, t: float) -> Applied:
        """The state after `action` at clock time `t` (a new object; `state` is unchanged)
        and the note (why it was refused or changed nothing; None when it took effect)."""
        new = self._apply(state, action, t)
        note, self._note = self._note, None
        return Applied(new, note)

    def _apply(self, state: EngineState, action: Action, t: float) -> EngineState:
        self._note = None
        handler = self._handlers.get(type(action))
        if handler is None:
            return self._refuse(state, f"{type(action).__name__} ignored: unknown action")
        if not (isinstance(t, int | float) and math.isfinite(t)):
            return self._refuse(state, f"{log_name(action)} refused: time {t!r} is not finite")
        bad = _bad_field(action)
        if bad is not None:
            return self._refuse(state, f"{log_name(action)} refused: {bad}")
        pruned = self.prune(state, t)
        new = handler(pruned, action, t)
        if new is pruned and self._note is not None:
            if _is_follow_go(action) and state.follow is not None:
                return replace(state, follow=None)  # a follow that cannot fire is dropped
            return state  # refused: the caller's state, untouched
        if new.follow is not None and new.follow == pruned.follow:
            started = isinstance(action, TBar) and not self._manual(pruned)
            if isinstance(action, CANCELS_FOLLOW) or (started and self._manual(new)):
                new = replace(new, follow=None)
        new = self.prune(new, t)
        if new == pruned and self._note is None and not isinstance(action, _OUTSIDE):
            self._note = f"{log_name(action)}: nothing to change"  # (recording is the renderer's)
        return new

    def follow_deadline(self, state: EngineState) -> float | None:
        """The clock time the armed follow fires, or None (none armed; an `on: end` follow
        whose clip length is unknown, or whose layer is paused)."""
        f = state.follow
        if f is None or f.at is not None:
            return None if f is None else f.at
        length = self.lengths.get(f.cue)
        entry = next((e for e in state.entries if e.cue == f.cue), None)
        if length is None or entry is None:
            return None
        rate = self.cues[f.cue].rate * dict(state.layer_rate).get(entry.layer, 1.0)
        if rate <= 0.0:
            return None
        since = entry.fired_at if entry.media_since is None else entry.media_since
        end = since + (length - entry.media_base) / rate
        fade = entry.opacity
        return max(end, since, fade.t0 + fade.duration if entry.manual is None else since)

    def due(self, state: EngineState, t: float) -> tuple[float, Go] | None:
        """The follow GO due by clock time `t`: (the time it is due, the action), else None.

        The caller applies the action at that time (`apply(state, action, at)`).
        """
        at = self.follow_deadline(state)
        if at is None or at > t or state.follow is None:
            return None
        return at, Go(source=FOLLOW_SOURCE, detail=self.label(state.follow.cue))

    def delay_start(self, state: EngineState, cue: int, at: float) -> EngineState:
        """The state with the fade that fired `cue` starting at `at` instead: its entry's
        fade and media clock, the fade-outs of its layer that its GO began, and an `after:`
        follow it armed all move by the same amount (a cue whose media is not ready yet is
        held this way; the player calls it). Unchanged when the cue has no timed entry."""
        entry = next((e for e in state.entries if e.cue == cue and e.manual is None), None)
        if entry is None or entry.opacity.t0 == at:
            return state
        t0, delta = entry.opacity.t0, at - entry.opacity.t0
        entries = []
        for e in state.entries:
            if e is entry:
                since = None if e.media_since is None else e.media_since + delta
                e = replace(
                    e,
                    opacity=replace(e.opacity, t0=at),
                    fired_at=e.fired_at + delta,
                    media_since=since,
                )
            elif (
                e.layer == entry.layer
                and e.manual is None
                and e.opacity.t0 == t0
                and e.opacity.end == 0.0
            ):
                e = replace(e, opacity=replace(e.opacity, t0=at))
            entries.append(e)
        follow = state.follow
        if follow is not None and follow.cue == cue and follow.at is not None:
            follow = replace(follow, at=follow.at + delta)
        return replace(state, entries=tuple(entries), follow=follow)

    def prune(self, state: EngineState, t: float) -> EngineState:
        """Drop entries that have faded out to 0, and end a finished panic or un-blackout."""
        entries = tuple(
            e
            for e in state.entries
            if e.manual is not None or e.opacity.end > 0.0 or not fade_done(e.opacity, t)
        )
        black, panic_at = state.black, state.panic_at
        if panic_at is not None and t >= panic_at + self.show.defaults.panic_fade:
            panic_at = None
            if not state.blackout:
                black = None
        if black is not None and black.end <= 0.0 and fade_done(black, t):
            black = None
        if entries == state.entries and black is state.black and panic_at == state.panic_at:
            return state
        return replace(state, entries=entries, black=black, panic_at=panic_at)

    def mix(self, state: EngineState, t: float) -> Mix:
        """What the output shows at time `t`: visible entries by layer, master, black."""
        state = self.prune(state, t)
        opacity = dict(state.layer_opacity)
        rates = dict(state.layer_rate)
        layers: list[LayerMix] = []
        for layer in sorted({e.layer for e in state.entries}):
            mixed = []
            for e in sorted(
                (e for e in state.entries if e.layer == layer), key=lambda e: e.fired_at
            ):
                w = entry_weight(e, t)
                if w > 0.0:
                    rate = self.cues[e.cue].rate * rates.get(layer, 1.0)
                    mixed.append(MixEntry(e.cue, w, _media_elapsed(e, t, rate), rate))
            if mixed:
                layers.append(LayerMix(layer, tuple(mixed), opacity.get(layer, 1.0)))
        black = fade_value(state.black, t) if state.black is not None else 0.0
        return Mix(tuple(layers), state.master, black, self._transition(state, t), state.camera)

    # --- helpers ----------------------------------------------------------------------

    def _refuse(self, state: EngineState, note: str) -> EngineState:
        self._note = note
        return state

    def _black_level(self, state: EngineState, t: float) -> float:
        return fade_value(state.black, t) if state.black is not None else 0.0

    def _transition(self, state: EngineState, t: float) -> float | None:
        if any(e.manual is not None for e in state.entries):
            return state.tbar
        running = [e.opacity for e in state.entries if fade_running(e.opacity, t)]
        if state.black is not None and fade_running(state.black, t):
            running.append(state.black)
        if not running:
            return None
        return fade_progress(max(running, key=lambda f: f.t0), t)

    def _manual(self, state: EngineState) -> bool:
        return any(e.manual is not None for e in state.entries)

    def _after(self, index: int) -> int | None:
        return index + 1 if index + 1 < len(self.cues) else None

    def _lookup(self, poem: str | None, cue: str | None) -> int | None:
        if poem is not None:
            return self.show.cue_index(poem, cue)
        return self.show.find_cue(cue) if cue is not None else None

    def _lookup_note(self, poem: str | None, cue: str | None) -> str:
        if poem is not None and not any(p.id == poem for p in self.show.poems):
            return f"no poem {poem!r}"
        if poem is not None and cue is None:
            return f"poem {poem!r} has no cues"
        if poem is not None:
            return f"no cue {cue!r} in poem {poem!r}"
        return f"no cue {cue!r}"

    def _panic_running(self, state: EngineState, t: float) -> bool:
        return state.panic_at is not None and t < state.panic_at + self.show.defaults.panic_fade

    def _is_splat(self, index: int) -> bool:
        cue = self.cues[index]
        return cue.kind == MediaKind.SPLAT or cue.camera is not None

    def _arm(self, index: int, t: float, seconds: float) -> FollowTimer | None:
        """The follow of cue `index` fired at `t` with a fade of `seconds`, if it has one."""
        spec = self.cues[index].follow
        target = self._after(index)
        if spec is None or target is None:
            return None
        if spec.on_end:
            return FollowTimer(index, target)
        return FollowTimer(index, target, t + seconds + spec.after)

    def _fade_all(self, entries: tuple[Entry, ...], t: float, seconds: float) -> tuple[Entry, ...]:
        """Every entry from its current weight to 0 over `seconds` (timed, not manual)."""
        out = []
        for e in entries:
            w = entry_weight(e, t)
            if w > 0.0:
                fade = Fade(w, 0.0, t, seconds, self.show.defaults.curve)
                out.append(replace(e, opacity=fade, manual=None))
        return tuple(out)

    def _freeze(self, entries: tuple[Entry, ...], t: float) -> tuple[Entry, ...]:
        """Manual entries become constant at their current weight."""
        out = []
        for e in entries:
            if e.manual is None:
                out.append(e)
                continue
            w = entry_weight(e, t)
            out.append(replace(e, opacity=Fade(w, w, t, 0.0, e.opacity.curve), manual=None))
        return tuple(out)

    def _fire(self, state: EngineState, index: int, t: float, seconds: float) -> EngineState:
        """Put cue `index` in its layer over `seconds`, fading the layer's others out."""
        cue = self.cues[index]
        own = next((e for e in state.entries if e.cue == index), None)  # re-fired, or a T-bar's
        start = 0.0 if own is None else entry_weight(own, t)
        fired_at = t if own is None or own.manual is None else own.fired_at  # T-bar: media runs
        entries = _take_layer(state.entries, index, cue.layer, t, seconds, cue.curve, None)
        entries.append(
            Entry(index, cue.layer, Fade(start, cue.opacity, t, seconds, cue.curve), fired_at)
        )
        failed = tuple(c for c in state.failed if c != index)  # fired again: a new try
        return self._gone_live(state, index, entries, t, seconds, failed=failed)

    def _gone_live(
        self,
        state: EngineState,
        index: int,
        entries: list[Entry],
        t: float,
        seconds: float,
        **changes: Any,
    ) -> EngineState:
        """The state once cue `index` is live with `entries` over a fade of `seconds` (a GO,
        or a T-bar reaching 1): standby on the next cue, the cue's follow armed, a splat's
        camera back to its base view, and the other `changes` made."""
        new = replace(
            state,
            entries=tuple(entries),
            live=index,
            standby=self._after(index),
            follow=self._arm(index, t, seconds),
            **changes,
        )
        if self._is_splat(index):
            new = replace(new, camera=CameraOffset())
        return new

    # --- handlers ---------------------------------------------------------------------

    def _media_failed(self, state: EngineState, a: MediaFailed, t: float) -> EngineState:
        if not 0 <= a.cue < len(self.cues):
            return self._refuse(state, f"{log_name(a)} ignored: no cue at index {a.cue}")
        if a.cue in state.failed:
            return self._refuse(state, f"{log_name(a)} ignored: {self.label(a.cue)} already failed")
        entries = []
        for e in state.entries:
            if e.cue == a.cue:
                w = entry_weight(e, t)
                e = replace(e, opacity=Fade(w, 0.0, t, MEDIA_FAIL_FADE, Curve.LINEAR), manual=None)
            entries.append(e)
        follow = state.follow if state.follow is None or state.follow.cue != a.cue else None
        return replace(state, entries=tuple(entries), failed=(*state.failed, a.cue), follow=follow)

    def _go(self, state: EngineState, a: Go, t: float) -> EngineState:
        index = self._go_target(state, a, t)
        if index is None:
            return state  # refused, the note says why
        seconds = state.next_fade if state.next_fade is not None else self.cues[index].fade
        if self._manual(state) and index != state.standby:
            state = replace(state, entries=self._freeze(state.entries, t))
        new = self._fire(state, index, t, seconds)
        new = replace(new, next_fade=None, last_go_at=t)
        if state.panic_at is not None:
            black = state.black
            if not state.blackout:
                black = Fade(self._black_level(state, t), 0.0, t, seconds, self.cues[index].curve)
            new = replace(new, panic_at=None, black=black)
        return new

    def _go_target(self, state: EngineState, a: Go, t: float) -> int | None:
        """The cue a GO fires, or None (refused, with the note)."""
        if _is_follow_go(a):  # not a performer's press: no double-GO guard
            if state.follow is None:
                self._refuse(state, "GO (follow) ignored: no follow is armed")
                return None
            return state.follow.target
        guard = self.show.defaults.go_guard
        if state.last_go_at is not None and t - state.last_go_at < guard:
            dt = t - state.last_go_at
            self._refuse(
                state, f"GO ignored: {_num(dt)} s after the last GO (guard {_num(guard)} s)"
            )
            return None
        if a.poem is not None or a.cue is not None:
            index = self._lookup(a.poem, a.cue)
            if index is None:
                self._refuse(state, f"GO ignored: {self._lookup_note(a.poem, a.cue)}")
                return None
        else:
            index = state.standby
            if index is None:
                self._refuse(state, "GO ignored: nothing in standby (end of the show)")
                return None
        if not 0 <= index < len(self.cues):
            self._refuse(state, f"GO ignored: no cue at index {index}")
            return None
        return index

    def _back(self, state: EngineState, a: Back, t: float) -> EngineState:
        if self._manual(state):
            return self._refuse(state, "BACK ignored: a manual crossfade is in progress")
        if not self.cues:
            return self._refuse(state, "BACK ignored: the show has no cues")
        if state.standby is None:
            return replace(state, standby=len(self.cues) - 1)
        if state.standby <= 0:
            return self._refuse(state, "BACK ignored: standby is already the first cue")
        return replace(state, standby=state.standby - 1)

    def _goto(self, state: EngineState, a: Standby, t: float) -> EngineState:
        if self._manual(state):
            return self._refuse(state, f"{log_name(a)} ignored: a manual crossfade is in progress")
        index = self._lookup(a.poem, a.cue)
        if index is None:
            return self._refuse(state, f"{log_name(a)} ignored: {self._lookup_note(a.poem, a.cue)}")
        return replace(state, standby=index)

    def _standby_step(self, state: EngineState, a: StandbyStep, t: float) -> EngineState:
        if self._manual(state):
            return self._refuse(state, f"{log_name(a)} ignored: a manual crossfade is in progress")
        n = len(self.cues)
        if n == 0:
            return self._refuse(state, f"{log_name(a)} ignored: the show has no cues")
        index = state.standby
        if a.poems:
            current = self._poem_of[index] if index is not None else len(self._poem_first)
            step = 1 if a.poems > 0 else -1
            target: int | None = None
            p, moved = current, 0
            while moved < abs(a.poems):
                p += step
                if not 0 <= p < len(self._poem_first):
                    break
                if self._poem_first[p] is not None:
                    target, moved = self._poem_first[p], moved + 1
            if target is None:
                where = "next" if step > 0 else "previous"
                return self._refuse(state, f"{log_name(a)} ignored: there is no {where} poem")
            index = target
        if a.cues:
            if index is None and a.cues > 0:
                return self._refuse(state, f"{log_name(a)} ignored: standby is past the last cue")
            base = index if index is not None else n
            index = int(_clamp(base + a.cues, 0, n - 1))
            if index == state.standby:
                end = "last" if a.cues > 0 else "first"
                return self._refuse(
                    state, f"{log_name(a)} ignored: standby is already the {end} cue"
                )
        return replace(state, standby=index)

    def _fadeout(self, state: EngineState, a: FadeOut, t: float) -> EngineState:
        seconds = self.show.defaults.fade if a.seconds is None else a.seconds
        if seconds < 0:
            return self._refuse(state, f"FADEOUT refused: negative time {_num(seconds)} s")
        if not any(entry_weight(e, t) > 0.0 for e in state.entries):
            return self._refuse(state, "FADEOUT ignored: nothing to fade")
        return replace(state, entries=self._fade_all(state.entries, t, seconds))

    def _blackout(self, state: EngineState, a: Blackout, t: float) -> EngineState:
        on = (not state.blackout) if a.on is None else bool(a.on)
        panic = self._panic_running(state, t)
        if on == state.blackout and not panic:
            return self._refuse(
                state, f"BLACKOUT ignored: blackout is already {'on' if on else 'off'}"
            )
        d = self.show.defaults
        black = Fade(self._black_level(state, t), 1.0 if on else 0.0, t, d.blackout_fade, d.curve)
        return replace(state, blackout=on, black=black, panic_at=None)

    def _master(self, state: EngineState, a: Master, t: float) -> EngineState:
        return replace(state, master=_clamp(float(a.level), 0.0, 1.0))

    def _panic(self, state: EngineState, a: Panic, t: float) -> EngineState:
        if self._panic_running(state, t):
            return replace(state, entries=(), black=None, blackout=False, panic_at=None)
        d = self.show.defaults
        black = Fade(self._black_level(state, t), 1.0, t, d.panic_fade, d.curve)
        entries = self._fade_all(state.entries, t, d.panic_fade)
        return replace(state, entries=entries, black=black, blackout=False, panic_at=t)

    def _hardblack(self, state: EngineState, a: HardBlack, t: float) -> EngineState:
        return replace(state, entries=(), black=None, blackout=False, panic_at=None)

    def _tbar(self, state: EngineState, a: TBar, t: float) -> EngineState:
        pos = _clamp(float(a.position), 0.0, 1.0)
        if self._manual(state):
            if pos <= 0.0:
                return self._tbar_cancel(state, t)
            if pos >= 1.0:
                return self._tbar_complete(state, t)
            entries = tuple(
                e if e.manual is None else replace(e, manual=pos) for e in state.entries
            )
            return replace(state, entries=entries, tbar=pos)
        if state.tbar is not None:
            if pos <= 0.0:
                return replace(state, tbar=None)  # the T-bar is back at rest: re-armed
            return self._refuse(
                state, f"{log_name(a)} ignored: bring the T-bar back to 0 to start the next one"
            )
        if pos <= 0.0:
            return self._refuse(state, f"{log_name(a)} ignored: T-bar at 0, no crossfade running")
        index = state.standby
        if index is None:
            return self._refuse(
                state, f"{log_name(a)} ignored: nothing in standby (end of the show)"
            )
        if self._panic_running(state, t):
            return self._refuse(state, f"{log_name(a)} ignored: a panic is in progress")
        if any(e.cue == index for e in state.entries):
            return self._refuse(
                state,
                f"{log_name(a)} ignored: {self.label(index)} is already live (GO re-fires it)",
            )
        cue = self.cues[index]
        entries = _take_layer(state.entries, index, cue.layer, t, 0.0, Curve.LINEAR, pos)
        incoming = Fade(0.0, cue.opacity, t, 0.0, Curve.LINEAR)
        entries.append(Entry(index, cue.layer, incoming, t, manual=pos))
        new = replace(state, entries=tuple(entries), tbar=pos)
        return self._tbar_complete(new, t) if pos >= 1.0 else new

    def _tbar_complete(self, state: EngineState, t: float) -> EngineState:
        index = state.standby
        assert index is not None  # a manual crossfade always targets the standby cue
        cue = self.cues[index]
        entries = []
        for e in state.entries:
            if e.manual is None:
                entries.append(e)
            elif e.cue == index:
                fade = Fade(cue.opacity, cue.opacity, t, 0.0, cue.curve)
                entries.append(replace(e, opacity=fade, manual=None))
        return self._gone_live(state, index, entries, t, 0.0, last_go_at=t, tbar=1.0)

    def _tbar_cancel(self, state: EngineState, t: float) -> EngineState:
        entries = []
        for e in state.entries:
            if e.manual is None:
                entries.append(e)
            elif e.cue != state.standby:
                v = e.opacity.start
                entries.append(replace(e, opacity=Fade(v, v, t, 0.0, e.opacity.curve), manual=None))
        return replace(state, entries=tuple(entries), tbar=None)

    def _layer_opacity(self, state: EngineState, a: LayerOpacity, t: float) -> EngineState:
        value = _clamp(float(a.opacity), 0.0, 1.0)
        return replace(state, layer_opacity=_set_pair(state.layer_opacity, a.layer, value))

    def _layer_rate(self, state: EngineState, a: LayerRate, t: float) -> EngineState:
        value = _clamp(float(a.rate), 0.0, MAX_LAYER_RATE)
        old = dict(state.layer_rate).get(a.layer, 1.0)
        entries = tuple(
            replace(
                e,
                media_base=_media_elapsed(e, t, self.cues[e.cue].rate * old),
                media_since=max(t, e.fired_at),
            )
            if e.layer == a.layer and value != old
            else e
            for e in state.entries
        )
        return replace(
            state,
            entries=entries,
            layer_rate=_set_pair(state.layer_rate, a.layer, value),
        )

    def _next_fade(self, state: EngineState, a: NextFade, t: float) -> EngineState:
        if a.seconds < 0:
            return self._refuse(state, f"{log_name(a)} refused: negative time {_num(a.seconds)} s")
        return replace(state, next_fade=float(a.seconds))

    def _camera_limits(self, state: EngineState) -> CameraLimits:
        if state.live is not None and 0 <= state.live < len(self.cues):
            spec = self.cues[state.live].camera
            if spec is not None:
                return spec.limits
        splats = [e for e in state.entries if self.cues[e.cue].camera is not None]
        if splats:
            spec = self.cues[max(splats, key=lambda e: e.fired_at).cue].camera
            assert spec is not None
            return spec.limits
        return CameraLimits()

    def _camera(
        self, state: EngineState, a: CameraOrbit | CameraPan | CameraDolly | CameraReset, t: float
    ) -> EngineState:
        c, lim = state.camera, self._camera_limits(state)
        if isinstance(a, CameraOrbit):
            cam = replace(
                c,
                yaw=_clamp(c.yaw + a.dx, -lim.yaw, lim.yaw),
                pitch=_clamp(c.pitch + a.dy, -lim.pitch, lim.pitch),
            )
        elif isinstance(a, CameraPan):
            cam = replace(
                c,
                pan_x=_clamp(c.pan_x + a.dx, -lim.pan, lim.pan),
                pan_y=_clamp(c.pan_y + a.dy, -lim.pan, lim.pan),
            )
        elif isinstance(a, CameraDolly):
            cam = replace(c, dolly=_clamp(c.dolly + a.d, -lim.dolly_out, lim.dolly_in))
        else:
            cam = CameraOffset()
        if cam == c and not isinstance(a, CameraReset):
            return self._refuse(state, f"{log_name(a)} ignored: the camera is at its limit")
        return replace(state, camera=cam)

    def _outside(self, state: EngineState, a: Action, t: float) -> EngineState:
        return state  # the reference recording's transport (app.rehearse.reference)

    def _camera_record(self, state: EngineState, a: CameraRecord, t: float) -> EngineState:
        """Recording itself is the renderer's (app.render.camera_path): starting one needs
        a live splat cue; stopping is always accepted."""
        if a.on is not False and (
            state.live is None or self.cues[state.live].kind is not MediaKind.SPLAT
        ):
            return self._refuse(state, f"{log_name(a)} ignored: {NO_SPLAT_LIVE}")
        return state
