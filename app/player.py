"""The player: one show on one output, one frame at a time (`step()`).

One frame: drain the action queue into the engine, ask the engine for the mix at the clock
time, let the media pool bring the needed images up to date (a media failure it reports
goes back to the engine as an input), composite, present, log, publish the status
snapshot. Only this thread touches GL. Inputs (OSC, gamepad threads, the web console) only
call `put`. Building outputs, inputs, recorder and operator and running the loop is the
session's job (app/session.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.clock import FrameClock
from app.control.inbox import BUSY, Batch, Inbox
from app.cues.actions import Action, Go, MediaFailed
from app.cues.commands import log_fields, log_name
from app.cues.engine import Engine, FollowTimer
from app.cues.state import EngineState, Mix
from app.eventlog import EventLog
from app.show.model import Show
from app.status import Alert, FollowStatus, InputStatus, LayerStatus, LiveCue, Status

Listener = Callable[[Status], None]
MAX_WARNINGS = 20


def follow_lengths(show: Show) -> dict[int, float]:
    """Clip lengths (media seconds from `start` to `end`) of the cues with `follow: {on:
    end}`, by flat index: `end` when the cue says it, else the probed duration. A file that
    cannot be probed is left out (its follow then waits; the status says so)."""
    from app.media.probe import probe

    lengths: dict[int, float] = {}
    for i, cue in enumerate(show.cues):
        if cue.follow is None or not cue.follow.on_end:
            continue
        end = cue.end
        if end is None and cue.media.is_file():
            end = probe(cue.media).duration
        if end is not None:
            lengths[i] = max(0.0, end - cue.start)
    return lengths


@dataclass(frozen=True)
class FrameResult:
    """What one `Player.step()` did: the show time it rendered, the snapshot it published
    and the actions it applied, in order, each with the engine's note (None: took effect)."""

    t: float
    status: Status
    applied: tuple[tuple[Action, str | None], ...] = ()


class Player:
    """Plays one show on one output. Drive it with `step()` (one frame)."""

    def __init__(
        self,
        show: Show,
        output: Any,
        *,
        clock: FrameClock | None = None,
        log: EventLog | None = None,
        offline: bool = False,
    ) -> None:
        from app.render.compositor import Compositor
        from app.render.pool import MediaPool

        self.show = show
        self.output = output
        self.clock = clock or FrameClock()
        self.log = log or EventLog()
        self.engine = Engine(show, follow_lengths(show))
        self.state = self.engine.initial_state()
        self.inbox = Inbox()  # the per-frame input budget (app/control/inbox.py)
        self._drained_to = 0.0  # show time of the last drain
        self._busy_logged_at: float | None = None
        self._starting: dict[int, float] = {}  # cues fired before their media were ready
        self.pool = MediaPool(
            output.ctx, show, self._media_error, offline=offline, on_reload=self._media_reloaded
        )
        self.compositor = Compositor(output.ctx, output.width, output.height)
        self.listeners: list[Listener] = []  # called on this thread when the status changed
        self.inputs: Sequence[Any] = ()  # inputs whose `status()` goes into the snapshot
        self.frame = 0
        self.dropped = 0
        self.last_source = "-"
        self.last_note = ""
        self.last_mix: Mix | None = None
        self.status = Status()  # replaced, never changed: readable from any thread
        self._last_frame_t: float | None = None
        self._frame_ms = 0.0
        self.fps = 0.0
        self.hint = ""  # e.g. "press Esc again to quit"
        self.warnings: list[str] = []  # refused OSC clients and the like, newest last
        self._warning_kinds: list[str] = []  # the kind of each warning ('refused', 'busy')
        self.recorder: Any = None  # an app.render.recorder.Recorder while --record runs
        self.web: Any = None  # the web console (app.web.console.WebConsole), when one runs
        # key handlers that see a window key before the show's keys; True consumes it
        self.key_filters: list[Callable[[Any], bool]] = []
        # called on the main thread after each action is applied, with the engine's note
        # (None when it took effect): the web console acknowledges its commands from it
        self.applied_hooks: list[Callable[[Action, str | None], None]] = []
        self.frame_ms: float | None = None  # duration of the last step(), for health displays
        # asked before each action is applied; a reason refuses it (logged as "refused"):
        # the web console refuses its commands that reach the loop after their deadline
        self.gates: list[Callable[[Action], str | None]] = []
        self.applied_hooks.append(self.pool.camera_moves.on_action)  # camera_record
        self._applied_now: list[tuple[Action, str | None]] = []  # this step's, in order
        self.status = self.make_status(0.0, None)  # what the show starts with (no frame yet)

    # --- registrations (the session, the inputs and the console call these) ------------

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(status)` on this thread whenever the status snapshot changed."""
        self.listeners.append(listener)

    def set_inputs(self, inputs: Sequence[Any]) -> None:
        """The inputs whose `status()` goes into the snapshot (the session's, in order)."""
        self.inputs = tuple(inputs)

    def add_key_filter(self, consume: Callable[[Any], bool]) -> None:
        """A key handler that sees a window key before the show's keys (True consumes it)."""
        self.key_filters.append(consume)

    def on_applied(self, hook: Callable[[Action, str | None], None]) -> None:
        """Call `hook(action, note)` on the main thread after each action is applied."""
        self.applied_hooks.append(hook)

    def add_gate(self, gate: Callable[[Action], str | None]) -> None:
        """Ask `gate(action)` before each action is applied; a reason refuses it."""
        self.gates.append(gate)

    def set_hint(self, hint: str) -> None:
        """The hint the status shows (e.g. "press Esc again to quit"); "" for none."""
        self.hint = hint

    def note(self, message: str) -> None:
        """The last note the status shows (a refusal, a reload's summary)."""
        self.last_note = message

    def warn(self, message: str, kind: str = "warning") -> None:
        """A warning for the status (refused OSC clients and the like), newest last."""
        self.warnings.append(message)
        self._warning_kinds.append(kind)
        del self.warnings[:-MAX_WARNINGS]
        del self._warning_kinds[:-MAX_WARNINGS]

    def set_recorder(self, recorder: Any) -> Any:
        """Capture each frame into `recorder` (None: stop); returns the previous one."""
        previous, self.recorder = self.recorder, recorder
        return previous

    def set_web(self, console: Any) -> None:
        """The web console bound to this player (its address, its show reloads)."""
        self.web = console

    def replace_show(
        self, show: Show, state: EngineState, lengths: dict[int, float], moved: dict[int, int]
    ) -> None:
        """Play `show` from now on (a reload, app/rehearse/reload.py; main thread): `state`
        is the engine state re-indexed to it, `lengths` its follow lengths, `moved` maps
        old flat indices to new ones."""
        self.show = show
        self.engine = Engine(show, lengths)
        self.state = state
        self.pool.replace_show(show, moved)
        # cues held for their media (late starts) keep waiting under their new indices
        self._starting = {moved[i]: t for i, t in self._starting.items() if i in moved}

    # --- inputs -----------------------------------------------------------------------

    def put(self, action: Action, t: float | None = None) -> bool:
        """Queue an action (thread-safe). Without t it takes effect at its arrival time.

        False when the inbox refused it (too many discrete commands wait: "busy"); a
        continuous control's value may be replaced by a newer one before the next frame.
        """
        at = self.clock.time() if t is None else t
        if isinstance(action, MediaFailed):
            self.inbox.put_internal(action, at)
            return True
        return self.inbox.put(action, at)

    def apply(self, action: Action, t: float) -> None:
        """Apply one action now (main thread) and log it and what it fired."""
        for gate in self.gates:
            reason = gate(action)
            if reason is not None:
                self.log.write("refused", t, reason=reason, **log_fields(action))
                return
        before = self.state
        self.state, note = self.engine.apply(self.state, action, t)
        self._log_follow(before.follow, action, t)
        if not isinstance(action, MediaFailed):
            self.last_source = action.source
        self.log.write("action", t, **log_fields(action))
        if note:
            self.last_note = note
            self.log.write("info", t, message=note)
        self._applied_now.append((action, note))
        for hook in self.applied_hooks:
            hook(action, note)
        if self.state.live != before.live or (
            isinstance(action, Go) and self.state.last_go_at != before.last_go_at
        ):
            if self.state.live is not None:
                cue = self.show.cues[self.state.live]
                self.log.write("cue", t, cue=cue.id, poem=cue.poem_id, media=cue.media_ref)
                if not self.pool.ready(self.state.live):
                    self._starting.setdefault(self.state.live, t)

    def _drain(self, now: float) -> None:
        """Apply this frame's share of the inbox, and the follows that fall due, in time
        order. A command kept waiting by the budget takes effect at this frame's start."""
        batch = self.inbox.take()
        for t, action in batch.actions:
            at = min(max(t, self._drained_to), now)
            self._follows(at)
            self.apply(action, at)
        self._follows(now)
        self._drained_to = now
        self._account_inputs(batch, now)

    def _account_inputs(self, batch: Batch, now: float) -> None:
        """Tell the acknowledgement hooks of what the frame did not apply, and log counts."""
        for action in batch.superseded:  # a newer value of the same control took its place
            for hook in self.applied_hooks:
                hook(action, None)
        for action in batch.refused:
            for hook in self.applied_hooks:
                hook(action, BUSY)
        if batch.coalesced or batch.refused_count:
            self.log.write(
                "input",
                now,
                coalesced=batch.coalesced,
                refused=batch.refused_count,
                waiting=batch.waiting,
            )
        if batch.refused_count and (
            self._busy_logged_at is None or not 0 <= now - self._busy_logged_at < 1.0
        ):
            self._busy_logged_at = now
            message = f"input busy: {self.inbox.total_refused} commands refused so far"
            self.log.write("info", now, message=message)
            self.warn(message, "busy")

    @property
    def starting(self) -> tuple[int, ...]:
        """Cues fired whose media are not on the GPU yet (their fades are held)."""
        return tuple(self._starting)

    def _hold_starts(self, t: float) -> None:
        """Cues fired before their media were ready start now if their first image is on
        the GPU (the late start goes to the event log); the others stay held one more
        frame. A cue gone from the mix, or whose media failed, is let go."""
        frame = 1.0 / self.show.output.fps
        for cue, fired in list(self._starting.items()):
            if not any(e.cue == cue and e.manual is None for e in self.state.entries):
                del self._starting[cue]
            elif self.pool.ready(cue) or self.pool.error_since(cue) is not None:
                del self._starting[cue]
                self.state = self.engine.delay_start(self.state, cue, t)
                c = self.show.cues[cue]
                self.log.write(
                    "late",
                    t,
                    cue=c.id,
                    media=c.media_ref,
                    fired=round(fired, 6),
                    delay=round(t - fired, 6),
                )
            else:
                self.state = self.engine.delay_start(self.state, cue, t + frame)

    def _follows(self, until: float) -> None:
        """Fire the follows due by `until`, each at its own time (a chain of `after: 0`
        cuts fires in one go, bounded by the number of cues)."""
        for _ in range(len(self.show.cues)):
            due = self.engine.due(self.state, until)
            if due is None:
                return
            at, action = due
            self.apply(action, at)

    def _log_follow(self, before: FollowTimer | None, action: Action, t: float) -> None:
        """Event-log records of a follow armed, or cancelled by the performer."""
        after = self.state.follow
        if after == before:
            return
        cues = self.show.cues
        if before is not None and not (isinstance(action, Go) and action.source == "follow"):
            self.log.write(
                "follow", t, what="cancelled", cue=cues[before.cue].id, by=log_name(action)
            )
        if after is not None:
            spec = cues[after.cue].follow
            self.log.write(
                "follow",
                t,
                what="armed",
                cue=cues[after.cue].id,
                target=cues[after.target].id,
                mode=spec.describe() if spec else "",
                at=None if after.at is None else round(after.at, 6),
            )

    def _media_error(self, message: str, cue: int) -> None:
        self.log.write("error", self.clock.time(), message=message, cue=self.show.cues[cue].id)

    def _report_failures(self, mix: Mix) -> None:
        """Cues in the mix whose media the pool says broke become engine input."""
        for layer in mix.layers:
            for e in layer.entries:
                since = self.pool.error_since(e.cue)
                if since is not None and e.cue not in self.state.failed:
                    self.put(MediaFailed(cue=e.cue, source="media", detail="pool"))

    def _media_reloaded(self, message: str, cue: int) -> None:
        c = self.show.cues[cue]
        self.log.write("media", self.clock.time(), message=message, cue=c.id, media=c.media_ref)

    # --- one frame --------------------------------------------------------------------

    def step(self, t: float | None = None) -> FrameResult:
        """Render one frame at show time `t` (None: the clock's time now); returns what it
        did. The loop passes the time it polled its inputs at, so the frame is drawn at the
        time its inputs saw: a GO due between two readings of the clock cannot be logged at
        a frame that does not show it."""
        started = time.perf_counter()
        if t is None:
            t = self.clock.time()
        self._applied_now = []
        self._drain(t)
        self._hold_starts(t)
        self.state = self.engine.prune(self.state, t)
        mix = self.engine.mix(self.state, t)
        self.pool.update(mix, self.state.standby, t, live=self.state.live, starting=self.starting)
        self._report_failures(mix)
        self.output.begin_frame()
        self.compositor.draw(
            mix,
            self.pool.image_for,
            self.pool.fit_for,
            self.output.fbo,
            look_for=lambda i: self.pool.cues[i].look,
            t=t,
        )
        if self.recorder is not None:
            self.recorder.capture(self.output.fbo, t)
        self.output.end_frame()
        self._account(t)
        self._log_frame(t, mix)
        self.last_mix = mix
        self._publish(t, mix)
        self.frame += 1
        self.frame_ms = (time.perf_counter() - started) * 1000.0
        return FrameResult(t, self.status, tuple(self._applied_now))

    def _account(self, t: float) -> None:
        fps = self.show.output.fps
        if self._last_frame_t is not None:
            dt = t - self._last_frame_t
            self._frame_ms = dt * 1000.0
            if dt > 1.5 / fps:
                self.dropped += int(round(dt * fps)) - 1
            if dt > 0:
                self.fps = 0.9 * self.fps + 0.1 / dt if self.fps else 1.0 / dt
        self._last_frame_t = t

    def _log_frame(self, t: float, mix: Mix) -> None:
        cues = self.show.cues
        layers = [
            {
                "layer": layer.layer,
                "cue": cues[e.cue].id,
                "media": cues[e.cue].media_ref,
                "opacity": round(e.opacity * layer.opacity, 5),
            }
            for layer in mix.layers
            for e in layer.entries
        ]
        self.log.write(
            "frame",
            t,
            frame=self.frame,
            layers=layers,
            master=round(mix.master, 5),
            black=round(mix.black, 5),
        )

    # --- the status snapshot ------------------------------------------------------------

    def make_status(self, t: float, mix: Mix | None) -> Status:
        """The snapshot of this frame (pure reading of the player's state)."""
        cues = self.show.cues
        s = self.state
        live = cues[s.live] if s.live is not None else None
        standby = cues[s.standby] if s.standby is not None else None
        poem_id = (live or standby).poem_id if (live or standby) else None
        poem = next((p for p in self.show.poems if p.id == poem_id), None)
        rates = dict(s.layer_rate)
        opacities = dict(s.layer_opacity) or {1: 1.0}
        entries = {e.cue: e for e in s.entries}
        shown: dict[int, tuple[LiveCue, ...]] = {}
        for lm in mix.layers if mix is not None else ():
            live_cues = []
            for e in lm.entries:
                entry = entries.get(e.cue)
                since = None
                if entry is not None:
                    since = entry.fired_at if entry.media_since is None else entry.media_since
                live_cues.append(
                    LiveCue(
                        e.cue,
                        cues[e.cue].id,
                        cues[e.cue].poem_id,
                        round(e.opacity * lm.opacity, 4),
                        weight=e.opacity,
                        since=since,
                        base=entry.media_base if entry is not None else 0.0,
                        rate=cues[e.cue].rate * rates.get(lm.layer, 1.0),
                    )
                )
            shown[lm.layer] = tuple(live_cues)
        numbers = sorted(set(opacities) | set(rates) | set(shown))
        layers = tuple(
            LayerStatus(n, opacities.get(n, 1.0), rates.get(n, 1.0), shown.get(n, ()))
            for n in numbers
        )
        inputs = tuple(i.status() for i in self.inputs if callable(getattr(i, "status", None)))
        alerts = [Alert("error", m) for m in self.log.errors] + [
            Alert(k, m) for k, m in zip(self._warning_kinds, self.warnings, strict=True)
        ]
        warnings = [a.message for a in alerts][-MAX_WARNINGS:]
        rec = self.recorder
        return Status(
            t=t,
            frame=self.frame,
            fps=self.fps,
            frame_ms=self._frame_ms,
            step_ms=self.frame_ms,
            dropped=max(self.status.dropped, self.dropped + self.pool.dropped_video_frames),
            poem=poem_id,
            poem_title=poem.title if poem else None,
            live=s.live,
            live_id=live.id if live else None,
            standby=s.standby,
            standby_id=standby.id if standby else None,
            master=round(s.master, 4),
            tbar=s.tbar,
            transition=None if mix is None or mix.transition is None else mix.transition,
            blackout=s.blackout,
            panic=s.panic_at is not None,
            black=0.0 if mix is None else mix.black,
            layers=layers,
            set_layers=tuple(sorted(set(dict(s.layer_opacity)) | set(rates))),
            last_source=self.last_source,
            last_note=self.last_note,
            media_failed=s.failed,
            warnings=tuple(warnings),
            alerts=tuple(alerts),
            inputs=tuple(i for i in inputs if isinstance(i, InputStatus)),
            recording=rec is not None,
            recording_dropped=int(rec.dropped) if rec is not None else 0,
            hint=self.hint,
            follow=self._follow_status(t),
        )

    def _follow_status(self, t: float) -> FollowStatus | None:
        f = self.state.follow
        if f is None:
            return None
        cues = self.show.cues
        at = self.engine.follow_deadline(self.state)
        spec = cues[f.cue].follow
        return FollowStatus(
            cues[f.cue].id,
            cues[f.target].id,
            spec.describe() if spec else "",
            None if at is None else round(at, 3),
            None if at is None else round(max(0.0, at - t), 1),
        )

    def _publish(self, t: float, mix: Mix) -> None:
        old = self.status
        self.status = new = self.make_status(t, mix)  # one reference swap
        if new.key != old.key or self.frame == 0:
            for listener in self.listeners:
                listener(new)

    def status_line(self) -> str:
        """One terminal line (the status snapshot's `line()`)."""
        return self.status.line()

    def close(self) -> None:
        self.pool.close()
        self.log.close()
