"""The pure rooms import without the GL stack (a unit test of them never needs moderngl)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PURE = (
    "app.cues.commands",
    "app.cues.engine",
    "app.cues.script",
    "app.control.osc",
    "app.control.gamepad",
    "app.control.keyboard",
    "app.control.tables",
    "app.show.loader",
    "app.show.check",
    "app.status",
    "app.media.probe",
    "app.media.splats",
    "app.show.edit",
    "app.rehearse.merge",
    "app.rehearse.reload",
)
UNIT_TESTS = ("test_commands", "test_script", "test_engine", "test_osc", "test_show_controls")


def test_pure_modules_and_unit_tests_import_without_moderngl() -> None:
    tests = Path(__file__).parent
    code = (
        "import sys; sys.modules['moderngl'] = None; sys.modules['glfw'] = None; "
        f"sys.path.insert(0, {str(tests)!r}); "
        + "; ".join(f"import {m}" for m in PURE + UNIT_TESTS)
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tests.parent, timeout=120
    )
    assert done.returncode == 0, done.stderr
