"""The player: the visible main loop that plays a show on an output.

One frame: drain the action queue into the engine, ask the engine for the mix at the clock
time, let the media pool bring the needed images up to date, composite, present, log.
Only this thread touches GL. Inputs (OSC, gamepad threads) only call `actions.put`.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.clock import FakeTime, FrameClock
from app.cues.actions import Action, Go
from app.cues.engine import Engine
from app.cues.state import LayerMix, Mix
from app.eventlog import EventLog
from app.render.warp import Venue, parse_monitor
from app.show.model import Show

DEMO_SHOW = Path(__file__).resolve().parent.parent / "show" / "demo.yaml"

# An entry whose media failed mid-show fades to black over this many seconds.
ERROR_FADE = 1.0


class Player:
    """Plays one show on one output. Drive it with `step()` (one frame) or `run()`."""

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
        self.engine = Engine(show)
        self.state = self.engine.initial_state()
        self.actions: queue.SimpleQueue[tuple[float | None, Action]] = queue.SimpleQueue()
        self.pool = MediaPool(output.ctx, show, self._media_error, offline=offline)
        self.compositor = Compositor(output.ctx, output.width, output.height)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.frame = 0
        self.dropped = 0
        self.last_source = "-"
        self.last_mix: Mix | None = None
        self._snapshot: dict[str, Any] = {}
        self._last_frame_t: float | None = None
        self.fps = 0.0
        self.osc: Any = None  # the OSC server, when one runs (status line)
        self.gamepad: Any = None  # the gamepad input, when one runs (status line)
        self.hint = ""  # e.g. "press Esc again to quit"
        self.warnings: list[str] = []  # refused OSC clients, newest last (operator view)
        self.recorder: Any = None  # an app.render.recorder.Recorder while --record runs
        self.web: Any = None  # the web console (app.web.console.WebConsole), when one runs
        # key handlers that see a window key before the show's keys; True consumes it
        self.key_filters: list[Callable[[Any], bool]] = []
        # called on the main thread after each action is applied, with the engine's note
        # (None when it took effect): the web console acknowledges its commands from it
        self.applied_hooks: list[Callable[[Action, str | None], None]] = []
        self.frame_ms: float | None = None  # duration of the last step(), for health displays

    # --- inputs -----------------------------------------------------------------------

    def put(self, action: Action, t: float | None = None) -> None:
        """Queue an action (thread-safe). Without t it takes effect at its arrival time."""
        self.actions.put((self.clock.time() if t is None else t, action))

    def apply(self, action: Action, t: float) -> None:
        """Apply one action now (main thread) and log it and what it fired."""
        before = self.state
        self.state = self.engine.apply(self.state, action, t)
        self.last_source = action.source
        self.log.write("action", t, **action.to_log())
        note = self.engine.last_note
        if note:
            self.log.write("info", t, message=note)
        for hook in self.applied_hooks:
            hook(action, note)
        if self.state.live != before.live or (
            isinstance(action, Go) and self.state.last_go_at != before.last_go_at
        ):
            if self.state.live is not None:
                cue = self.show.cues[self.state.live]
                self.log.write("cue", t, cue=cue.id, poem=cue.poem_id, media=cue.media_ref)

    def _drain(self, now: float) -> None:
        while True:
            try:
                t, action = self.actions.get_nowait()
            except queue.Empty:
                return
            self.apply(action, min(t, now))

    def _media_error(self, message: str, cue: int) -> None:
        self.log.write("error", self.clock.time(), message=message, cue=self.show.cues[cue].id)

    # --- one frame --------------------------------------------------------------------

    def step(self) -> float:
        """Render one frame at the clock's current time; returns that time."""
        started = time.perf_counter()
        t = self.clock.time()
        self._drain(t)
        self.state = self.engine.prune(self.state, t)
        mix = self._fade_failed(self.engine.mix(self.state, t), t)
        self.pool.update(mix, self.state.standby, t, live=self.state.live)
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
        self._notify()
        self.frame += 1
        self.frame_ms = (time.perf_counter() - started) * 1000.0
        return t

    def _fade_failed(self, mix: Mix, t: float) -> Mix:
        """Entries whose media broke fade to black over ERROR_FADE; the show goes on."""
        layers = []
        for layer in mix.layers:
            entries = []
            for e in layer.entries:
                since = self.pool.error_since(e.cue)
                if since is not None:
                    e = replace(e, opacity=e.opacity * max(0.0, 1.0 - (t - since) / ERROR_FADE))
                entries.append(e)
            layers.append(LayerMix(layer.layer, tuple(entries), layer.opacity))
        return replace(mix, layers=tuple(layers))

    def _account(self, t: float) -> None:
        fps = self.show.output.fps
        if self._last_frame_t is not None:
            dt = t - self._last_frame_t
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

    def snapshot(self) -> dict[str, Any]:
        """State summary for the status line, OSC /state pushes and the operator view."""
        cues = self.show.cues
        s = self.state
        live = cues[s.live] if s.live is not None else None
        standby = cues[s.standby] if s.standby is not None else None
        poem_id = (live or standby).poem_id if (live or standby) else None
        poem = next((p for p in self.show.poems if p.id == poem_id), None)
        mix = self.last_mix
        return {
            "poem": poem_id,
            "poem_title": poem.title if poem else None,
            "cue": live.id if live else None,
            "standby": standby.id if standby else None,
            "blackout": s.blackout,
            "master": round(s.master, 4),
            "transition": None
            if mix is None or mix.transition is None
            else round(mix.transition, 2),
            "layers": {
                str(layer): {"opacity": op, "rate": dict(s.layer_rate).get(layer, 1.0)}
                for layer, op in (dict(s.layer_opacity) or {1: 1.0}).items()
            },
        }

    def _notify(self) -> None:
        if not self.listeners:
            return
        snap = self.snapshot()
        if snap != self._snapshot:
            self._snapshot = snap
            for listener in self.listeners:
                listener(snap)

    def status_line(self) -> str:
        """One terminal line: poem, live cue, standby, fps, dropped frames, last source."""
        snap = self.snapshot()
        parts = [
            f"poem {snap['poem'] or '-'}",
            f"live {snap['cue'] or '-'}",
            f"standby {snap['standby'] or '-'}",
            f"{self.fps:5.1f} fps",
            f"dropped {self.dropped + self.pool.dropped_video_frames}",
            f"src {self.last_source}",
        ]
        if snap["blackout"]:
            parts.append("BLACKOUT")
        if self.osc is not None:
            parts.append(f"osc {len(self.osc.clients)} clients")
        if self.gamepad is not None:
            pads = ", ".join(self.gamepad.connected) or "none"
            parts.append(f"pad {pads}")
        if self.recorder is not None:
            parts.append(f"REC ({self.recorder.dropped} dropped)")
        if self.hint:
            parts.append(self.hint)
        if self.log.errors:
            parts.append(f"errors {len(self.log.errors)}: {self.log.errors[-1][:60]}")
        return " | ".join(parts)

    def close(self) -> None:
        self.pool.close()
        self.log.close()


def prepare_demo_media(path: Path) -> None:
    """The demo show's media are made by the project the first time they are missing."""
    if path.resolve() == DEMO_SHOW:
        from app.media.demo_assets import ensure_demo_media
        from app.media.splat_demo import ensure_demo_splat

        ensure_demo_media(DEMO_SHOW.parent.parent / "media")
        ensure_demo_splat(DEMO_SHOW.parent.parent / "media")


def load_for_play(path: Path, allow_missing: bool) -> Show | None:
    """Load a show for play/render, printing every problem; None if it cannot be played."""
    from app.show.loader import ShowError, load_show

    prepare_demo_media(path)
    try:
        show = load_show(path, allow_missing=True)
    except ShowError as exc:
        print(exc, file=sys.stderr)
        return None
    missing = [c for c in show.cues if not c.media.exists()]
    if missing and not allow_missing:
        for c in missing:
            print(
                f"{show.path}:{c.line}: cue {c.id}: media file not found: {c.media}",
                file=sys.stderr,
            )
        print("refusing to play with missing media (use --allow-missing)", file=sys.stderr)
        return None
    return show


def _scripted(args: argparse.Namespace) -> list[tuple[float, Action]]:
    """The `--script` text or the `--script-file` file, parsed (the text is never a path)."""
    from app.cues.script import ScriptError, parse_script

    path = getattr(args, "script_file", None)
    if path is not None:
        try:
            text = Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ScriptError(f"cannot read {path}: {exc}") from None
        return parse_script(text)
    return parse_script(args.script or "")


def play_command(args: argparse.Namespace) -> int:
    """`python -m app play`."""
    show = load_for_play(args.show, args.allow_missing)
    if show is None:
        return 2
    try:
        script = _scripted(args)
    except ValueError as exc:
        print(f"--script: {exc}", file=sys.stderr)
        return 2
    from app.render.outputs import HeadlessOutput

    fake = FakeTime() if args.fake_clock else None
    clock = FrameClock(fake, fake.sleep) if fake else FrameClock()
    if not args.headless and not _has_display():
        print("no display found: playing headless (--headless says so explicitly)", file=sys.stderr)
        args.headless = True
    found = _venue(args, show)
    if found is None:
        return 2
    venue, venue_path = found
    warp = None if venue.warp.is_identity else venue.warp
    monitor = venue.output_monitor if args.monitor is None else parse_monitor(args.monitor)
    if args.headless:
        output = HeadlessOutput(show.output.width, show.output.height, warp=warp)
    else:
        from app.render.outputs import GlfwOutput, OutputError

        try:
            output = GlfwOutput(
                show.output.width,
                show.output.height,
                fullscreen=args.fullscreen,
                monitor=monitor,
                vsync=not args.no_vsync,
                title=f"{show.title}",
                warp=warp,
            )
        except OutputError as exc:
            print(f"output: {exc}", file=sys.stderr)
            return 2
    log = EventLog(_event_log_path(args))
    player = Player(show, output, clock=clock, log=log)
    operator = _open_operator(args, output, venue.operator_monitor)
    if not args.headless:
        player.key_filters.append(_warp_keys(player, venue, venue_path, monitor))
    if getattr(args, "record", None):
        # on a fake clock no one watches in real time: keep every frame
        _start_recording(player, Path(args.record), blocking=args.fake_clock)
    inputs = start_inputs(player, args)
    try:
        run(
            player,
            script,
            frames=args.frames,
            status=not args.quiet,
            inputs=inputs,
            operator=operator,
        )
    finally:
        for inp in inputs:
            inp.close()
        _stop_recording(player)
        if operator is not None:
            operator.close()  # before the output: closing the output ends glfw
        player.close()
        output.close()
    return 0


def _venue(args: argparse.Namespace, show: Show) -> tuple[Venue, Path] | None:
    """The venue set-up: `--venue FILE`, else `venue.yaml` next to the show when there is one.

    Prints the problems and returns None when the file cannot be used.
    """
    from app.render.warp import VenueError, default_venue_path, load_venue

    given = getattr(args, "venue", None)
    path = Path(given) if given else default_venue_path(show.path)
    try:
        return load_venue(path, missing_ok=not given), path
    except VenueError as exc:
        print(exc, file=sys.stderr)
        return None


def _warp_keys(
    player: Player, venue: Venue, path: Path, monitor: int | str | None
) -> Callable[[Any], bool]:
    """Projector-window keys for the warp: F1-F4 select a corner (again: deselect),
    shift+arrows move it a pixel (ctrl+shift: ten), F8 resets it, F5 saves the venue file."""
    from app.render.warp import Venue, WarpEditor, save_venue

    output = player.output
    editor = WarpEditor(
        venue.warp,
        width=output.width,
        height=output.height,
        nudge_mod="shift",
        coarse_mod="ctrl",
        function_keys_only=True,
    )

    def consume(event: Any) -> bool:
        outcome = editor.handle(event)
        if outcome is None:
            return False
        t = player.clock.time()
        if outcome == "save":
            try:
                save_venue(path, Venue(editor.warp, monitor, venue.operator_monitor))
            except OSError as exc:
                player.log.write("error", t, message=f"cannot save the venue file: {exc}")
            else:
                player.log.write("info", t, message=f"venue saved to {path}")
        else:
            output.warp = None if editor.warp.is_identity else editor.warp
            player.log.write("info", t, message=editor.describe())
        return True

    return consume


def _event_log_path(args: argparse.Namespace) -> Path | None:
    """--event-log, else the recording's FILE.jsonl beside FILE.mp4, else none."""
    if args.event_log is not None:
        return Path(args.event_log)
    record = getattr(args, "record", None)
    if not record:
        return None
    Path(record).parent.mkdir(parents=True, exist_ok=True)
    return Path(record).with_suffix(".jsonl")


def _start_recording(player: Player, path: Path, *, blocking: bool = False) -> None:
    """Record the output to `path`; a recording that cannot start never stops the show."""
    from app.render.recorder import Recorder

    out = player.output

    def dropped(total: int) -> None:
        message = "recording: the encoder is behind, a recorded frame was dropped"
        player.log.write("info", player.clock.time(), message=message, recording_dropped=total)

    def failed(message: str) -> None:
        player.log.write("error", player.clock.time(), message=message)

    try:
        player.recorder = Recorder(
            out.ctx,
            out.width,
            out.height,
            player.show.output.fps,
            path,
            on_drop=dropped,
            on_error=failed,
            blocking=blocking,
        )
    except (OSError, ValueError) as exc:
        print(f"recording: cannot start ({exc}): playing without it", file=sys.stderr)


def _stop_recording(player: Player) -> None:
    """Finish the recording (the video file appears complete, or not at all)."""
    from app.render.recorder import RecorderError

    recorder, player.recorder = player.recorder, None
    if recorder is None:
        return
    try:
        recorder.close()
    except RecorderError as exc:
        print(exc, file=sys.stderr)
        return
    message = f"recording: wrote {recorder.written} frames to {recorder.path}"
    player.log.write(
        "info",
        player.clock.time(),
        message=message,
        recording_frames=recorder.written,
        recording_dropped=recorder.dropped,
    )
    print(f"{message} ({recorder.dropped} dropped)", file=sys.stderr)


def _open_operator(args: argparse.Namespace, output: Any, venue_monitor: Any) -> Any:
    """The operator window (`--operator`) sharing the output's GL context, or None.

    Without a window (headless) or when it cannot open, the show plays on without it.
    """
    if not getattr(args, "operator", False):
        return None
    if args.headless:
        print("--operator needs a window: playing without the operator view", file=sys.stderr)
        return None
    from app.render.operator import OperatorWindow
    from app.render.outputs import OutputError

    given = getattr(args, "operator_monitor", None)
    monitor = parse_monitor(given) if given is not None else venue_monitor
    try:
        return OperatorWindow(output, monitor=monitor, title="operator")
    except OutputError as exc:
        print(f"operator window: {exc} (playing without it)", file=sys.stderr)
        return None


def _has_display() -> bool:
    import os

    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def start_inputs(player: Player, args: argparse.Namespace) -> list[Any]:
    """Start the live-control inputs: the OSC server and the gamepad poller.

    A port that is taken or a gamepad layer that cannot start is reported and the show plays
    on without that input (the keyboard always works).
    """
    from app.control.gamepad import GamepadInput, GamepadMappingError, load_mapping
    from app.control.osc import OscServer

    def log(message: str, fields: dict[str, Any]) -> None:
        player.log.write("info", player.clock.time(), message=message, **fields)
        if message.startswith(
            ("osc refused", "osc denied", "osc bad passcode", "web console refused")
        ):
            player.warnings.append(f"{message}: {fields.get('client', '?')}")
            del player.warnings[:-20]

    inputs: list[Any] = []
    cfg = player.show.osc
    if not getattr(args, "no_osc", False):
        try:
            server = OscServer(
                player.put,
                host=args.osc_host or cfg.get("host", "0.0.0.0"),
                port=args.osc_port if args.osc_port is not None else cfg.get("port", 7700),
                passcode=args.passcode or cfg.get("passcode"),
                allow=args.osc_allow or cfg.get("allow"),
                log=log,
            ).start()
        except (OSError, ValueError) as exc:
            print(f"OSC: {exc} (playing without OSC)", file=sys.stderr)
        else:
            player.listeners.append(server.publish)
            player.osc = server
            inputs.append(server)
    if not getattr(args, "no_web", False):
        from app.web.console import start_web_console

        web = start_web_console(player, args, log)
        if web is not None:
            inputs.append(web)
    if not getattr(args, "no_gamepad", False):
        try:
            pad = GamepadInput(player.put, load_mapping(player.show.gamepad), log)
        except GamepadMappingError as exc:
            print(f"gamepad mapping: {exc}", file=sys.stderr)
        else:
            player.gamepad = pad
            inputs.append(pad)
    return inputs


def run(
    player: Player,
    script: Iterable[tuple[float, Action]] = (),
    *,
    frames: int | None = None,
    status: bool = True,
    inputs: Iterable[Any] = (),
    operator: Any = None,
) -> None:
    """The main loop: pace, feed scripted actions, poll inputs and keys, render, repeat.

    `operator` (an app.render.operator.OperatorWindow) adds its keys and clicks to the
    output's and is redrawn after each frame.
    """
    from app.control.keyboard import QUIT, KeyboardMapper

    keys = KeyboardMapper(clock=player.clock.time)
    pending = sorted(script, key=lambda item: item[0])
    fps = player.show.output.fps
    last_status = 0.0
    player.clock.start()
    while not player.output.should_close and (frames is None or player.frame < frames):
        t = player.clock.time()
        while pending and pending[0][0] <= t:
            player.put(*reversed(pending.pop(0)))
        for inp in inputs:
            inp.poll(t)
        events = list(player.output.poll_events())
        if operator is not None:
            events += operator.poll_events()
        for event in events:
            if isinstance(event, Action):  # a click on the operator view
                player.put(event)
                continue
            if any(consume(event) for consume in player.key_filters):
                continue
            result = keys.handle(event)
            if result is QUIT:
                return
            if isinstance(result, Action):
                player.put(result)
        player.hint = keys.hint or ""
        player.step()
        if operator is not None:
            operator.draw(player)
        if status and time.monotonic() - last_status > 0.5:
            last_status = time.monotonic()
            print("\r" + player.status_line()[:160].ljust(160), end="", file=sys.stderr, flush=True)
        for inp in inputs:  # the frame is out: hand-overs that may wake other processes
            idle = getattr(inp, "idle", None)
            if idle is not None:
                idle()
        player.clock.wait_next_frame(fps)
    if status:
        print(file=sys.stderr)


def render_command(args: argparse.Namespace) -> int:
    """`python -m app render SHOW --script ... --out FILE.mp4`: a scripted run to a video."""
    from app.media.writer import VideoWriter
    from app.render.outputs import HeadlessOutput

    show = load_for_play(args.show, args.allow_missing)
    if show is None:
        return 2
    try:
        script = _scripted(args)
    except ValueError as exc:
        print(f"--script: {exc}", file=sys.stderr)
        return 2
    fps = show.output.fps
    duration = args.duration
    if duration is None:
        duration = (script[-1][0] if script else 0.0) + 3.0
    frames = max(1, int(round(duration * fps)))
    fake = FakeTime()
    clock = FrameClock(fake, fake.sleep)
    output = HeadlessOutput(show.output.width, show.output.height)
    player = Player(show, output, clock=clock, log=EventLog(args.event_log), offline=True)
    pending = list(script)
    try:
        with VideoWriter(args.out, show.output.width, show.output.height, fps) as writer:
            for n in range(frames):
                fake.t = n / fps
                while pending and pending[0][0] <= fake.t:
                    t, action = pending.pop(0)
                    player.put(action, t)
                player.step()
                writer.write(output.read_pixels())
    finally:
        player.close()
        output.close()
    print(f"wrote {args.out}: {frames} frames at {fps:g} fps ({duration:.2f} s)")
    return 0
