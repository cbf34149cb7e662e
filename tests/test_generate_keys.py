"""Cache keys per kind, backend capabilities and the family table (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import write_show

from app.cli import main
from app.generate.backends import Capabilities
from app.generate.backends.placeholder import PlaceholderBackend
from app.generate.chain.families import FAMILIES, family_of, recipe_problems
from app.generate.manifest import Manifest
from app.generate.plan import plan_show
from app.generate.runner import Runner
from app.show.loader import load_show
from app.show.model import GenerateSpec, MediaKind

SHOW = """
title: Keys
generate: {width: 128, height: 72, fps: 12, frames: 25}
poems:
  - id: "1"
    title: One
    cues:
      - id: "1.1"
        media: k/1.1.png
        generate: {prompt: "the moon", seed: 3}
      - id: "1.2"
        media: k/1.2.mp4
        generate: {from: "1.1", prompt: "slow zoom"}
      - id: "1.3"
        media: k/1.3.ply
        generate: {from: "1.1"}
"""


def _summary(show: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["generate", str(show), "--backend", "placeholder"]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_a_still_keeps_its_key_when_only_video_settings_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(tmp_path, SHOW)
    assert _summary(show, capsys) == "generate: 3 rendered, 0 copied, 0 already current"
    still = (tmp_path / "media" / "k" / "1.1.png").read_bytes()
    show.write_text(
        show.read_text().replace("frames: 25", "frames: 9").replace("fps: 12", "fps: 8")
    )
    # the clip is remade; the still (and the splat made from it) are current
    assert _summary(show, capsys) == "generate: 1 rendered, 0 copied, 2 already current"
    assert (tmp_path / "media" / "k" / "1.1.png").read_bytes() == still
    show.write_text(show.read_text().replace("seed: 3}", "seed: 3, steps: 12}"))
    # a sampling setting changes the still, and so what is made from it
    assert _summary(show, capsys) == "generate: 3 rendered, 0 copied, 0 already current"


class _OtherStandIn(PlaceholderBackend):
    """A stand-in backend under another name: it must keep media it did not make too."""

    name = "sketch"


def test_stand_in_capability_keeps_real_media(tmp_path: Path) -> None:
    show_path = write_show(tmp_path, SHOW)
    show = load_show(show_path, allow_missing=True)
    real = tmp_path / "media" / "k" / "1.1.png"
    real.parent.mkdir(parents=True)
    real.write_bytes(b"made by hand")
    jobs = plan_show(show)
    backend = _OtherStandIn()
    assert backend.capabilities == Capabilities(stand_in=True)
    runner = Runner(show, backend, Manifest.load(show.media_root))
    report = runner.run(jobs)
    assert report.kept == ["1.1"] and real.read_bytes() == b"made by hand"


def test_family_table_covers_every_class_once() -> None:
    names = [c for f in FAMILIES for c in f.classes]
    assert len(names) == len(set(names))
    assert family_of("ChromaPipeline").img2img == "ChromaImg2ImgPipeline"  # type: ignore[union-attr]
    assert family_of("LTXImageToVideoPipeline").fps_argument == "frame_rate"  # type: ignore[union-attr]
    assert family_of("NoSuchPipeline") is None


def test_family_rules_name_the_rule() -> None:
    ltx = family_of("LTXImageToVideoPipeline")
    assert ltx is not None
    ok = GenerateSpec(kind=MediaKind.VIDEO, width=1280, height=704, frames=97, source="a")
    assert recipe_problems(ltx, ok, MediaKind.VIDEO) == []
    bad = GenerateSpec(kind=MediaKind.VIDEO, width=1280, height=720, frames=97, source="a")
    assert recipe_problems(ltx, bad, MediaKind.VIDEO) == [
        "generate.width/height: LTX-Video makes sizes that are multiples of 32; the generation "
        "size is 1280x720 (nearest: 1280x736)"
    ]
    chroma = family_of("ChromaPipeline")
    assert chroma is not None
    # the reference show's still: 1920x1080 made at 1280x720, refined at full size
    pierrot = GenerateSpec(
        kind=MediaKind.STILL, width=1920, height=1080, refine={"scale": 1.5}, negative_prompt="x"
    )
    assert recipe_problems(chroma, pierrot, MediaKind.STILL) == []
    distilled = family_of("FluxPipeline")
    assert distilled is not None
    assert recipe_problems(distilled, pierrot, MediaKind.STILL)[0].startswith(
        "generate.negative_prompt: FLUX.1 is guidance-distilled"
    )


def test_reference_show_keeps_the_rules_of_its_real_model_classes(tmp_path: Path) -> None:
    """show/pierrot.yaml against folders that name the real classes (no weights: the rules
    read only model_index.json), found by `check` as a models.yaml beside the show."""
    import shutil

    from app.generate.cli import recipe_report

    (tmp_path / "show").mkdir()
    show = tmp_path / "show" / "pierrot.yaml"
    shutil.copy(Path(__file__).resolve().parent.parent / "show" / "pierrot.yaml", show)
    lines = ["models:"]
    for name, cls, kind in (
        ("chroma-hd", "ChromaPipeline", "t2i"),
        ("wan22-i2v", "WanImageToVideoPipeline", "i2v"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model_index.json").write_text(f'{{"_class_name": "{cls}"}}')
        lines.append(f"  {name}: {{path: {tmp_path / name}, kind: {kind}}}")
    (tmp_path / "depth").mkdir()
    (tmp_path / "depth" / "config.json").write_text("{}")
    lines.append(f"  depth-anything-v2: {{path: {tmp_path / 'depth'}, kind: depth}}")
    # the chain steps' models: an upscaler file, an edit folder, ml-sharp (absent here)
    (tmp_path / "kontext").mkdir()
    (tmp_path / "kontext" / "model_index.json").write_text('{"_class_name": "FluxKontextPipeline"}')
    (tmp_path / "up.safetensors").write_bytes(b"")
    lines.append(f"  flux-kontext: {{path: {tmp_path / 'kontext'}, kind: edit}}")
    lines.append(f"  ultrasharp-v2: {{path: {tmp_path / 'up.safetensors'}, kind: upscale}}")
    lines.append(
        "  ml-sharp: {path: sharp.pt, kind: sharp, tool: /nonexistent/sharp,"
        " fallback: depth-anything-v2}"
    )
    (show.parent / "models.yaml").write_text("\n".join(lines) + "\n")
    problems, warnings = recipe_report(show)
    assert warnings == []
    # Wan needs ftfy at render time; that is the only thing the rules may say here
    assert all("ftfy" in p for p in problems), problems
    # the same show with an LTX model for its clips breaks LTX's size rule (720 is not /32)
    text = show.read_text().replace("model: wan22-i2v", "model: ltx")
    (tmp_path / "ltx").mkdir()
    (tmp_path / "ltx" / "model_index.json").write_text('{"_class_name": "LTXImageToVideoPipeline"}')
    show.write_text(text)
    (show.parent / "models.yaml").write_text(
        "\n".join([*lines, f"  ltx: {{path: {tmp_path / 'ltx'}, kind: i2v}}"]) + "\n"
    )
    problems, _ = recipe_report(show)
    assert any("LTX-Video makes sizes that are multiples of 32" in p for p in problems)
    assert any("cue '4.3'" in p and "LTX-Video takes no last frame" in p for p in problems)
