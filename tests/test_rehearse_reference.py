"""The reference recording end to end: a real audio server (PulseAudio with a null sink,
started here), `play --reference` capturing 50 scripted GOs, then a `--cuetimes` ghost run
firing them again; both runs are followed through the event log's recording position."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_server import audio_server
from web_helpers import wait_for

from app.rehearse.cuetimes import cuetimes_path, read_cuetimes

ROOT = Path(__file__).resolve().parent.parent
RATE = 44100
FPS = 30
FRAME = 1.0 / FPS
GOS = [round(0.6 + 0.2 * i + 0.013 * (i % 7), 3) for i in range(50)]  # recording seconds
LENGTH = 12.0  # seconds of recording
TONE = 440.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def audio_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with audio_server(tmp_path_factory.mktemp("pulse")) as env:
        yield env


def _write_show(folder: Path) -> Path:
    """50 cues (5 poems of 10 cuts between three tiny stills) and a 12 s tone recording."""
    from PIL import Image

    media = folder / "media"
    media.mkdir()
    for i in range(3):
        Image.new("RGB", (16, 9), (90 * i, 60, 200 - 70 * i)).save(media / f"s{i}.png")
    poems = []
    for p in range(5):
        cues = [f'      - {{id: "{p + 1}.{c + 1}", media: s{(p + c) % 3}.png}}' for c in range(10)]
        poems.append(f'  - id: "{p + 1}"\n    cues:\n' + "\n".join(cues))
    show = folder / "show.yaml"
    show.write_text(
        "title: Reference test\n"
        f"output: {{width: 32, height: 18, fps: {FPS}}}\n"
        "defaults: {fade: 0, go_guard: 0.05}\n"
        "media_root: media\n"
        "poems:\n" + "\n".join(poems) + "\n"
    )
    t = np.arange(int(LENGTH * RATE)) / RATE
    tone = (0.3 * np.sin(2 * np.pi * TONE * t) * 32767).astype(np.int16)
    with wave.open(str(folder / "rec.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.stack([tone, tone], axis=1).tobytes())
    return show


def _records(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # the line being written
    return out


def _play(show: Path, log: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "app", "play", str(show), "--headless", "--quiet"]
    cmd += ["--no-osc", "--no-web", "--no-gamepad", "--event-log", str(log)]
    cmd += ["--reference", str(show.parent / "rec.wav"), *extra]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _run_past(proc: subprocess.Popen[str], log: Path, position: float) -> list[dict[str, Any]]:
    """Wait until the show clock (the recording's position: no seek in these runs) has
    passed `position` in the event log, then stop play (Ctrl-C: it closes everything)."""

    def passed() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"play exited early:\n{proc.communicate()[1]}")
        return any(r["event"] == "frame" and r["t"] >= position for r in _records(log))

    try:
        wait_for(passed, timeout=120, message=f"the recording to pass {position} s")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    return _records(log)


def test_reference_capture_then_ghost_run(tmp_path: Path, audio_env: dict[str, str]) -> None:
    show = _write_show(tmp_path)
    script = tmp_path / "gos.txt"
    script.write_text("\n".join(f"{at}:go" for at in GOS) + "\n")
    sink = tmp_path / "sink.raw"
    with open(sink, "wb") as out:  # what reaches the null sink, from its monitor
        parec = subprocess.Popen(
            ["parec", "-d", "vj_out.monitor", "--raw", "--format=s16le", "--channels=1"],
            env=audio_env,
            stdout=out,
        )
        try:
            log = tmp_path / "capture.jsonl"
            proc = _play(show, log, audio_env, "--script-file", str(script))
            records = _run_past(proc, log, GOS[-1] + 0.3)
        finally:
            parec.terminate()
            parec.wait(30)

    # every GO captured within one frame of its scripted recording position, in order
    times = read_cuetimes(cuetimes_path(show))["rec.wav"]
    ids = [f"{p + 1}.{c + 1}" for p in range(5) for c in range(10)]
    assert [c.cue for c in times.cues] == ids
    errors = [abs(times.at(cue) - at) for cue, at in zip(ids, GOS, strict=True)]
    assert max(errors) <= FRAME, errors
    assert times.duration == pytest.approx(LENGTH, abs=0.01)
    assert len([r for r in records if r["event"] == "cuetime"]) == 50

    # the recording was played through the audio server: the tone is in the sink
    heard = np.frombuffer(sink.read_bytes(), np.int16).astype(np.float64) / 32768
    assert heard.size > RATE, "the null sink's monitor recorded less than a second"
    assert np.sqrt(np.mean(heard**2)) > 0.05, "no sound reached the audio server"

    # the ghost run fires the 50 captured GOs within one frame of their times
    log = tmp_path / "ghost.jsonl"
    records = _run_past(_play(show, log, audio_env, "--cuetimes"), log, GOS[-1] + 0.3)
    fired = [r for r in records if r["event"] == "cue"]
    assert [r["cue"] for r in fired] == ids
    late = [abs(r["t"] - times.at(r["cue"])) for r in fired]
    assert max(late) <= FRAME, late
    gos = [r for r in records if r["event"] == "action" and r["action"] == "GO"]
    assert {r["source"] for r in gos} == {"ghost"}
    # and each fired cue is on the first frame drawn after its time, or, when its still was
    # not on the GPU yet (a frame held long enough for two GOs to land in it), on the first
    # frame after the late start the event log names
    frames = [r for r in records if r["event"] == "frame"]
    starts = {r["cue"]: r["t"] for r in records if r["event"] == "late"}
    for cue in fired:
        after = next(f for f in frames if f["t"] >= starts.get(cue["cue"], cue["t"]))
        shown = {layer["cue"] for layer in after["layers"]}
        later = [c["cue"] for c in fired if cue["t"] < c["t"] <= after["t"]]
        assert cue["cue"] in shown or later, (cue, after)
