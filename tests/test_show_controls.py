"""The show's control blocks (`osc:`, `gamepad:`, `keyboard:`): typed, validated, file:line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from app.control.keyboard import KeyboardMapper, KeyEvent, bindings_for
from app.cues import actions as A
from app.show.controls import DEFAULT_OSC_PORT, KEY_NAMES, OscSpec
from app.show.loader import load_show
from app.show.schema import ShowError

ROOT = Path(__file__).resolve().parent.parent


def write_show(tmp_path: Path, blocks: str) -> Path:
    (tmp_path / "media").mkdir(exist_ok=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "media" / "a.png")
    (tmp_path / "show").mkdir(exist_ok=True)
    path = tmp_path / "show" / "show.yaml"
    body = textwrap.dedent(blocks).strip("\n")
    path.write_text(f"title: t\n{body}\npoems:\n  - id: 1\n    cues: [{{media: a.png}}]\n")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ShowError) as info:
        load_show(path)
    return [str(p) for p in info.value.problems]


def test_check_fails_on_the_issue_example(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        osc: {passcod: secret, alow: [any]}
        gamepad: {buttons: {a: gox}}
        keyboard: {keys: {spcae: go}}
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "app", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert f"{path}:2: unknown key 'passcod' in osc, did you mean 'passcode'?" in out
    assert f"{path}:2: unknown key 'alow' in osc, did you mean 'allow'?" in out
    assert f"{path}:3: gamepad.buttons.a: unknown command 'gox' (did you mean 'go'?" in out
    assert f"{path}:4: unknown name 'spcae' in keyboard.keys, did you mean 'space'?" in out


def test_every_block_checked_with_lines(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        osc:
          port: 70000
          allow: [local, 10.0.0.0/8, lokal]
        gamepad:
          dead_zone: 0.95
          buttons: {x: fadeout 700, start: master 0.5}
          axes: {leftx: {action: orbit.dz}, righttrigger: tbar}
          raw: {buttons: {300: a}}
        keyboard:
          keys: {escape: go, f1: blackout 1, q: standby}
          repeat: [left, rihgt]
        """,
    )
    found = problems(path)
    text = "\n".join(found)
    assert f"{path}:3: osc.port: expected a port 0..65535, got 70000" in text
    assert (
        f"{path}:4: osc.allow: 'lokal' is not an address or a network, did you mean 'local'?"
        in (text)
    )
    assert f"{path}:6: gamepad.dead_zone: expected a number from 0 to 0.9" in text
    assert f"{path}:7: gamepad.buttons.x: fadeout: seconds: 700 out of range 0..600" in text
    assert f"{path}:8: unknown name 'orbit.dz' in gamepad.axes.leftx.action" in text
    assert f"{path}:9: gamepad.raw.buttons: expected a button number 0..255" in text
    assert f"{path}:11: keyboard.keys.escape: Esc cannot be bound" in text
    assert f"{path}:11: keyboard.keys.q: standby: missing argument poem" in text
    assert f"{path}:12: unknown name 'rihgt' in keyboard.repeat, did you mean 'right'?" in text
    assert f"{path}:8: unknown name 'orbit.dz'" in text and "did you mean 'orbit.dy'?" in text
    assert len(found) == 9


def test_good_blocks_become_specs(tmp_path: Path) -> None:
    show = load_show(
        write_show(
            tmp_path,
            """
            osc: {port: 9000, passcode: 1234, allow: [loopback]}
            keyboard: {keys: {f1: fadeout 2, b: none}, repeat: [left]}
            """,
        )
    )
    assert show.osc == OscSpec(port=9000, passcode="1234", allow=("loopback",))
    keys = KeyboardMapper(clock=lambda: 0.0, bindings=bindings_for(show.keyboard))
    assert keys.handle(KeyEvent("f1")) == A.FadeOut(seconds=2.0, source="key")
    assert keys.handle(KeyEvent("b")) is None  # unbound by the show
    assert keys.handle(KeyEvent("space")) == A.Go(source="key")  # the defaults stay
    assert keys.handle(KeyEvent("right", "repeat")) is None  # repeat replaced: left only
    assert keys.handle(KeyEvent("left", "repeat")) == A.StandbyStep(cues=-1, source="key")


def test_defaults_are_defined_once() -> None:
    assert OscSpec().port == DEFAULT_OSC_PORT == 7700 and OscSpec().host == "0.0.0.0"
    from app.control.osc import OscServer

    assert OscServer(lambda a: None).port == DEFAULT_OSC_PORT


def test_key_names_are_glfw_names() -> None:
    import glfw

    names = {a[4:].lower() for a in dir(glfw) if a.startswith("KEY_")} - {"unknown", "last"}
    assert set(KEY_NAMES) == names


def test_web_block_checked_by_check(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        web: {prot: 8081, token: abc}
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "app", "check", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"{path}:2: unknown key 'prot' in web, did you mean 'port'?" in done.stdout + done.stderr


def test_web_block_values_with_lines(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        web:
          port: 70000
          host: 5
          token: same
          view_token: same
          allow: [locall]
          qr: yes
        """,
    )
    assert problems(path) == [
        f"{path}:3: web.port: expected a port 0..65535, got 70000",
        f"{path}:4: web.host: expected a text, got 5",
        f"{path}:6: web.view_token: must differ from web.token",
        f"{path}:7: web.allow: 'locall' is not an address or a network, did you mean 'local'?",
        f"{path}:8: unknown key 'qr' in web, expected one of: host, port, token, view_token, allow",
    ]


def test_web_block_becomes_a_spec_the_console_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    import app.web.child
    from app.show.controls import WebSpec
    from app.web import console

    path = write_show(
        tmp_path,
        """
        web: {host: 127.0.0.1, port: 0, token: op-token, view_token: view-token, allow: [local]}
        """,
    )
    show = load_show(path)
    assert show.web == WebSpec("127.0.0.1", 0, "op-token", "view-token", ("local",))
    assert load_show(write_show(tmp_path, "")).web == WebSpec()

    # what start_web_console hands the server process, with no flag given
    started: dict[str, object] = {}

    def server(*args: object, **kw: object) -> object:
        started.update(kw)
        raise OSError("not started in this test")

    monkeypatch.setattr(app.web.child, "ServerProcess", server)
    player = SimpleNamespace(show=show, put=lambda a: None, listeners=[])
    args = SimpleNamespace(web_host=None, web_port=None, web_token=None, web_view_token=None)
    assert console.start_web_console(player, args, lambda m, f: None) is None
    listen: object = started["listen"]  # app.control.access.Listen
    assert listen.host == "127.0.0.1" and listen.port == 0  # type: ignore[attr-defined]
    assert list(listen.allow) == ["local"]  # type: ignore[attr-defined]
    tokens: object = started["tokens"]
    assert (tokens.operate, tokens.view) == ("op-token", "view-token")  # type: ignore[attr-defined]
