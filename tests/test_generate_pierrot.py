"""show/pierrot.yaml: the real show loads, and its placeholders make it playable."""

from __future__ import annotations

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
