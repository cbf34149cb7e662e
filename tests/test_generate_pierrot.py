"""show/pierrot.yaml: the real show loads, and its placeholders make it playable."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from app.cli import main
from app.generate.plan import full_prompt, plan_show
from app.show.check import check_show
from app.show.loader import load_show
from app.show.model import MediaKind

SHOW = Path(__file__).resolve().parent.parent / "show" / "pierrot.yaml"
TITLES = [
    "Mondestrunken", "Colombine", "Der Dandy", "Eine blasse Wäscherin", "Valse de Chopin",
    "Madonna", "Der kranke Mond", "Nacht", "Gebet an Pierrot", "Raub", "Rote Messe",
    "Galgenlied", "Enthauptung", "Die Kreuze", "Heimweh", "Gemeinheit", "Parodie",
    "Der Mondfleck", "Serenade", "Heimfahrt", "O alter Duft",
]  # fmt: skip


def test_pierrot_structure() -> None:
    show = load_show(SHOW, allow_missing=True)
    assert [p.title for p in show.poems] == TITLES
    assert [p.part for p in show.poems] == [1] * 7 + [2] * 7 + [3] * 7
    assert all(2 <= len(p.cues) <= 4 for p in show.poems)
    assert (show.output.width, show.output.height, show.output.fps) == (1920, 1080, 30)
    assert show.media_root == SHOW.parent.parent / "media"
    kinds = Counter(c.kind for c in show.cues)
    assert kinds[MediaKind.VIDEO] >= 10 and kinds[MediaKind.SPLAT] >= 3
    for cue in show.cues:
        assert cue.generate is not None, cue.id
        assert cue.media.is_relative_to(show.media_root / "pierrot")
        if cue.kind is not MediaKind.STILL:
            assert cue.generate.source is not None, cue.id
        if cue.kind is MediaKind.VIDEO:
            assert (cue.generate.frames - 1) % 4 == 0  # Wan: 4k+1 frames
    styles = {
        p.part: full_prompt(p.cues[0].generate) for p in show.poems if p.id in {"1", "8", "15"}
    }
    assert "daguerreotype" in styles[1] and "expressionist" in styles[2]
    assert "surrealism" in styles[3]
    last = show.poems[-1].cues[0].generate
    assert last is not None and "Rococo" in full_prompt(last)
    assert len(plan_show(show)) == len(show.cues) + 4  # one sweep of four seeds


@pytest.mark.slow
def test_placeholders_make_pierrot_playable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "show").mkdir()
    show = tmp_path / "show" / "pierrot.yaml"
    shutil.copy(SHOW, show)
    assert main(["generate", str(show), "--backend", "placeholder"]) == 0
    assert "generate: 57 rendered, 1 copied, 0 already current" in capsys.readouterr().out
    report = check_show(show)
    assert report.ok
    loaded = load_show(show)
    assert all(c.media.is_file() for c in loaded.cues)
    assert main(["generate", str(show), "--backend", "placeholder"]) == 0
    assert "0 rendered, 0 copied" in capsys.readouterr().out

    # ... and it plays end to end: every cue goes live, no media error, the last one stays.
    # (A small output keeps software GL quick; the media are the show's own.)
    text = show.read_text(encoding="utf-8")
    small = text.replace(
        "output: {width: 1920, height: 1080, fps: 30}", "output: {width: 96, height: 54, fps: 5}"
    )
    assert small != text
    show.write_text(small, encoding="utf-8")
    ids = [c.id for c in loaded.cues]
    script = " ".join(f"{i}:go" for i in range(len(ids)))
    log = tmp_path / "run.jsonl"
    frames = (len(ids) + 3) * 5
    args = ["play", str(show), "--headless", "--fake-clock", "--frames", str(frames)]
    args += ["--quiet", "--no-osc", "--no-gamepad", "--no-web", "--script", script]
    assert main([*args, "--event-log", str(log)]) == 0
    records = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [r["cue"] for r in records if r["event"] == "cue"] == ids
    assert [r for r in records if r["event"] in ("error", "media")] == []
    last = [r for r in records if r["event"] == "frame"][-1]
    assert last["layers"] == [
        {"layer": 1, "cue": ids[-1], "media": "pierrot/21/21.3.png", "opacity": 1.0}
    ]
