"""The malloc arena cap that `python -m app` sets before any thread starts."""

import os
import platform
import subprocess
import sys

import pytest
from requires import missing


@pytest.fixture(autouse=True)
def _glibc() -> None:
    if platform.libc_ver()[0] != "glibc":
        missing("mallopt(M_ARENA_MAX) is glibc's: this is not a glibc system")


CODE = "from app.memory import limit_malloc_arenas as f; print(f(2))"


def _run(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | env_extra
    done = subprocess.run(
        [sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_arena_cap_takes_effect():
    assert _run({}) == "True"


def test_technicians_environment_setting_wins():
    assert _run({"MALLOC_ARENA_MAX": "4"}) == "False"
