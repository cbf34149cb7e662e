"""`check` on hostile files of issue 23 answers in one line naming the file, never "ok" and
never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PLY_LIAR = (
    "ply\nformat ascii 1.0\nelement vertex 1000000000\n"
    "property float x\nproperty float y\nproperty float z\nend_header\n"
    "0 0 0\n1 1 1\n2 2 2\n"
)


def test_check_refuses_an_ascii_ply_that_claims_a_billion_splats(tmp_path: Path) -> None:
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "liar.ply").write_text(PLY_LIAR)
    show = tmp_path / "show" / "show.yaml"
    show.parent.mkdir()
    show.write_text(
        'title: liar\npoems:\n  - id: "1"\n    title: Moon\n    cues:\n'
        '      - {id: "1.1", media: liar.ply}\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "app", "check", str(show)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    lines = [s for s in out.splitlines() if f"{show}:6:" in s]
    assert len(lines) == 1 and "liar.ply: file is truncated" in lines[0], out
    assert "1000000000 ASCII vertex rows" in lines[0]
