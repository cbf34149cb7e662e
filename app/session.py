"""The session: builds everything a show run needs, runs the main loop, stops it all.

`Player` (app/player.py) owns the frame (`step()`); a `Session` does the wiring around it:
the output window, the inputs (OSC server, gamepad, and any other object with the small
`Input` protocol: the web console is one more), the keyboard, the recorder, the operator
window and the projector's warp keys, and it stops them in the right order. `run()` is the
visible main loop.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from app.clock import FakeTime, FrameClock
from app.control.terminal import StopGuard, fit_line, terminal_columns
from app.cues.actions import Action
from app.eventlog import EventLog
from app.player import Player
from app.render.warp import Venue, parse_monitor
from app.show.model import DEMO_SHOW, Show


@runtime_checkable
class Input(Protocol):
    """An input the session runs: `start()` (threads, sockets), `poll(t)` once per frame on
    the main thread (deliver logs, pump events), `close()` (idempotent). An input may also
    have `status() -> InputStatus` for the status snapshot. It hands actions to the
    player's thread-safe `put`."""

    def start(self) -> object:
        """Start (bind, spawn threads); raise OSError/ValueError when it cannot."""
        ...

    def poll(self, t: float) -> None:
        """Per-frame work on the main thread."""
        ...

    def close(self) -> None:
        """Stop and release everything."""
        ...


class Session:
    """One run of a show: a player, its inputs, keys, operator window and recorder.

    `Session(player)` wraps a player made by the caller (tests, benches); `open_play(args)`
    builds the whole `play` set-up from the command line. `add_input` starts an input and
    runs it from then on; `run()` is the main loop; `close()` stops the inputs, finishes
    the recording and closes the operator, the player and the output, in that order.
    """

    def __init__(
        self,
        player: Player,
        *,
        inputs: Iterable[Any] = (),
        operator: Any = None,
    ) -> None:
        from app.control.keyboard import KeyboardMapper

        self.player = player
        self.inputs: list[Any] = list(inputs)  # already started
        self.operator = operator
        self.keys = KeyboardMapper(clock=player.clock.time, bindings=_show_keys(player.show))
        self.closers: list[Callable[[], None]] = []  # run by close(), last added first
        self.stop = StopGuard()  # Ctrl-C twice / SIGTERM (handlers installed by `play`)
        player.set_inputs(self.inputs)

    def add_input(self, inp: Any) -> None:
        """Start `inp` and poll it every frame; its `status()` joins the snapshot."""
        inp.start()
        self.inputs.append(inp)
        self.player.set_inputs(self.inputs)

    def add_listener(self, listener: Callable[[Any], None]) -> None:
        """Call `listener(status)` on the main thread whenever the status changed."""
        self.player.add_listener(listener)

    def run(
        self,
        script: Iterable[tuple[float, Action]] = (),
        *,
        frames: int | None = None,
        status: bool = True,
        until: Callable[[], bool] | None = None,
    ) -> None:
        """The main loop: pace, feed scripted actions, poll inputs and keys, render, repeat.

        Stops when the output window closes, after `frames` frames, on Esc twice, when
        `stop` was requested (Ctrl-C twice, SIGTERM), or when `until()` (asked before each
        frame: a bench's clock) says so. A later `run()` of the same player goes on from the
        show time reached (a test runs its frames a few at a time): the clock starts once, at
        the player's first frame.
        """
        player, operator = self.player, self.operator
        pending = sorted(script, key=lambda item: item[0])
        fps = player.show.output.fps
        last_status = 0.0
        if player.frame == 0:
            player.clock.start()
        while not player.output.should_close and (frames is None or player.frame < frames):
            if self.stop.requested or (until is not None and until()):
                break
            t = player.clock.time()
            while pending and pending[0][0] <= t:
                player.put(*reversed(pending.pop(0)))
            for inp in self.inputs:
                inp.poll(t)
            if not self._keys(t):
                return
            player.step(t)  # the time the inputs were polled at
            if operator is not None:
                operator.draw(player)
            if status and time.monotonic() - last_status > 0.5:
                last_status = time.monotonic()
                line = fit_line(player.status.line(), terminal_columns())
                print("\r" + line, end="", file=sys.stderr, flush=True)
            for inp in self.inputs:  # the frame is out: hand-overs that may wake others
                idle = getattr(inp, "idle", None)
                if idle is not None:
                    idle()
            player.clock.wait_next_frame(fps)
        if status:
            print(file=sys.stderr)

    def _keys(self, t: float) -> bool:
        """Hand the windows' key events and clicks on; False when the show must quit."""
        from app.control.keyboard import QUIT

        player = self.player
        events = list(player.output.poll_events())
        if self.operator is not None:
            events += self.operator.poll_events()
        for event in events:
            if isinstance(event, Action):  # a click on the operator view
                player.put(event)
                continue
            if any(consume(event) for consume in player.key_filters):
                continue
            result = self.keys.handle(event)
            if result is QUIT:
                return False
            if isinstance(result, Action):
                player.put(result)
        player.set_hint(self.keys.hint or self.stop.hint() or "")
        return True

    def close(self) -> None:
        """Stop the inputs, then everything registered in `closers`, newest first."""
        for inp in self.inputs:
            try:
                inp.close()
            except Exception as exc:  # one input failing to stop must not keep others open
                print(f"closing an input: {exc}", file=sys.stderr)
        self.inputs.clear()
        self.player.set_inputs(())
        while self.closers:
            self.closers.pop()()

    # --- the play set-up ----------------------------------------------------------------

    @classmethod
    def open_play(cls, args: argparse.Namespace, show: Show) -> Session | None:
        """Output, player, operator, warp keys, recording and inputs for `play`; None (and
        the problem printed) when the output or the venue cannot be used."""
        from app.rehearse.reference import ReferenceError, open_reference
        from app.render.outputs import HeadlessOutput

        try:
            reference = open_reference(args, show)  # the recording to rehearse against
        except ReferenceError as exc:
            print(f"reference: {exc}", file=sys.stderr)
            return None
        fake = FakeTime() if args.fake_clock else None
        clock = FrameClock(fake, fake.sleep) if fake else FrameClock()
        if reference is not None:
            clock = reference.clock
        if not args.headless and not _has_display():
            print("no display found: playing headless (--headless says so)", file=sys.stderr)
            args.headless = True
        found = _venue(args, show)
        if found is None:
            return None
        venue, venue_path = found
        warp = None if venue.warp.is_identity else venue.warp
        monitor = venue.output_monitor if args.monitor is None else parse_monitor(args.monitor)
        if args.headless:
            output: Any = HeadlessOutput(show.output.width, show.output.height, warp=warp)
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
                return None
        # on a fake clock no one watches in real time: frames wait for their media, as a
        # render does, so that runs are deterministic
        player = Player(
            show, output, clock=clock, log=EventLog(_event_log_path(args)), offline=args.fake_clock
        )
        session = cls(player, operator=_open_operator(args, output, venue.operator_monitor))
        session.closers += [output.close, player.close]
        if session.operator is not None:
            session.closers.append(session.operator.close)  # before the output: it ends glfw
        if not args.headless:
            player.add_key_filter(_warp_keys(player, venue, venue_path, monitor))
        if getattr(args, "record", None):
            # on a fake clock no one watches in real time: keep every frame
            _start_recording(player, Path(args.record), blocking=args.fake_clock)
            session.closers.append(lambda: _stop_recording(player))
        if reference is not None:
            try:
                session.add_input(reference.attach(player))
            except OSError as exc:
                print(f"reference: {exc}", file=sys.stderr)
                session.close()
                return None
        start_inputs(session, args)
        from app.rehearse.reload import LiveShow  # the show file is live (issue 26)

        session.add_input(LiveShow(player, venue_path, allow_missing=args.allow_missing))
        return session


def play_command(args: argparse.Namespace) -> int:
    """`python -m app play`."""
    from app.pack.trust import for_play

    show = load_for_play(args.show, args.allow_missing)
    if show is None:
        return 2
    show = for_play(show, args)  # a pack's show opens no network access of its own
    try:
        script = _scripted(args)
    except ValueError as exc:
        print(f"--script: {exc}", file=sys.stderr)
        return 2
    session = Session.open_play(args, show)
    if session is None:
        return 2
    session.stop.install()  # Ctrl-C twice or SIGTERM: the loop ends, everything closes
    try:
        session.run(script, frames=args.frames, status=not args.quiet)
    finally:
        session.close()
        session.stop.uninstall()
    return 0


def _show_keys(show: Show) -> Any:
    """The key bindings: the defaults with the show's `keyboard:` block over them."""
    from app.control.keyboard import bindings_for

    return bindings_for(getattr(show, "keyboard", None))


def start_inputs(session: Session, args: argparse.Namespace) -> None:
    """Start the live-control inputs: the OSC server and the gamepad poller.

    A port that is taken or a gamepad layer that cannot start is reported and the show plays
    on without that input (the keyboard always works).
    """
    from app.control.access import Listen
    from app.control.gamepad import GamepadInput, GamepadMappingError, load_mapping
    from app.control.osc import OscServer
    from app.status import alert_of

    player = session.player

    def log(message: str, fields: dict[str, Any]) -> None:
        player.log.write("info", player.clock.time(), message=message, **fields)
        alert = alert_of(message, fields)  # a warning, of the kind its source gave it
        if alert is not None:
            player.warn(alert.message, alert.kind)

    cfg = player.show.osc
    if not getattr(args, "no_osc", False):
        listen = Listen(
            args.osc_host or cfg.host,
            args.osc_port if args.osc_port is not None else cfg.port,
            args.osc_allow or cfg.allow,
        )
        server = OscServer(player.put, listen, passcode=args.passcode or cfg.passcode, log=log)
        try:
            session.add_input(server)
        except (OSError, ValueError) as exc:
            print(f"OSC: {exc} (playing without OSC)", file=sys.stderr)
        else:
            session.add_listener(server.publish)
    if not getattr(args, "no_web", False):
        from app.web.console import start_web_console

        web = start_web_console(player, args, log)
        if web is not None:
            session.inputs.append(web)
    if not getattr(args, "no_gamepad", False):
        try:
            pad = GamepadInput(player.put, load_mapping(player.show.gamepad), log)
        except GamepadMappingError as exc:
            print(f"gamepad mapping: {exc}", file=sys.stderr)
        else:
            session.add_input(pad)


def run(
    player: Player,
    script: Iterable[tuple[float, Action]] = (),
    *,
    frames: int | None = None,
    status: bool = True,
    inputs: Iterable[Any] = (),
    operator: Any = None,
) -> None:
    """Run the main loop of `Session(player, inputs=..., operator=...)` (tests, benches)."""
    Session(player, inputs=inputs, operator=operator).run(script, frames=frames, status=status)


def prepare_demo_media(path: Path) -> None:
    """The demo show's media are made by the project the first time they are missing."""
    if path.resolve() == DEMO_SHOW:
        from app.media.demo_assets import ensure_demo_media
        from app.media.splat_demo import ensure_demo_splat

        media = DEMO_SHOW.parent.parent / "media"

        def making(name: str) -> None:
            print(f"first run: making the demo media, {name} ...", file=sys.stderr, flush=True)

        ensure_demo_media(media, progress=making)
        if not (media / "demo" / "room.ply").is_file():
            making("demo/room.ply (a splat scene)")
        ensure_demo_splat(media)


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
        recorder = Recorder(
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
    else:
        player.set_recorder(recorder)


def _stop_recording(player: Player) -> None:
    """Finish the recording (the video file appears complete, or not at all)."""
    from app.render.recorder import RecorderError

    recorder = player.set_recorder(None)
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


def render_command(args: argparse.Namespace) -> int:
    """`python -m app render SHOW --script ... --out FILE.mp4`: a scripted run to a video."""
    from app.loop import FrameTap, RenderClock
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
    output = HeadlessOutput(show.output.width, show.output.height)
    player = Player(
        show, output, clock=RenderClock(fake), log=EventLog(args.event_log), offline=True
    )
    try:
        with VideoWriter(args.out, show.output.width, show.output.height, fps) as writer:
            session = Session(player, inputs=[FrameTap(lambda: writer.write(output.read_pixels()))])
            session.run(script, frames=frames, status=False)
    finally:
        player.close()
        output.close()
    print(f"wrote {args.out}: {frames} frames at {fps:g} fps ({duration:.2f} s)")
    return 0
