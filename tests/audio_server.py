"""A PulseAudio server of a test's own: its runtime folder, one null sink `vj_out` (the
default output; `vj_out.monitor` records what reaches it). Debian's pulseaudio, started and
stopped by the test; never a mock of the audio library."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from requires import missing


@contextmanager
def audio_server(folder: Path) -> Iterator[dict[str, str]]:
    """Start the server; yields the environment that reaches it (for child processes)."""
    if shutil.which("pulseaudio") is None or shutil.which("pactl") is None:
        missing("pulseaudio is missing (apt-get install pulseaudio pulseaudio-utils)")
    env = dict(os.environ)
    env.update(
        PULSE_RUNTIME_PATH=str(folder),
        XDG_RUNTIME_DIR=str(folder),
        PULSE_STATE_PATH=str(folder / "state"),
        PULSE_SERVER=f"unix:{folder}/native",
    )
    started = subprocess.run(
        [
            "pulseaudio",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "-n",  # no default.pa: only the modules named here
            "--load=module-native-protocol-unix",
            "--load=module-null-sink sink_name=vj_out",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if started.returncode != 0:
        pytest.fail(f"pulseaudio did not start: {started.stderr}")
    try:
        info = subprocess.run(
            ["pactl", "info"], env=env, capture_output=True, text=True, timeout=30
        )
        assert "Default Sink: vj_out" in info.stdout, info.stdout + info.stderr
        yield env
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, timeout=30, check=False)
