"""`generate` with the placeholder backend (no torch): outputs, cache, picks, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image
from tiny_models import write_show

from app.cli import main
from app.generate.manifest import Manifest
from app.generate.metadata import read_png_metadata, sidecar_path
from app.media.probe import probe
from app.media.splats import load_splats

SHOW = """
title: Small
output: {width: 1920, height: 1080, fps: 30}
generate: {width: 256, height: 144, fps: 12, frames: 25}
parts:
  1: {generate: {extra: {style: "sepia daguerreotype"}}}
poems:
  - id: "1"
    title: Mondestrunken
    part: 1
    cues:
      - id: "1.1"
        media: p/1.1.png
        generate: {prompt: "the moon drunk with wine", seed: 3, seeds: [1, 2, 3]}
      - id: "1.2"
        media: p/1.2.png
        generate: {prompt: "a poet", seed: 4}
      - id: "1.3"
        media: p/1.3.mp4
        generate: {from: "1.1", last_from: "1.2", prompt: "slow zoom"}
      - id: "1.4"
        media: p/1.4.ply
        generate: {from: "1.1"}
  - id: "2"
    title: Colombine
    part: 2
    cues:
      - id: "2.1"
        media: p/2.1.png
        generate: {prompt: "white roses"}
"""


def _generate(show: Path, *extra: str) -> int:
    return main(["generate", str(show), "--backend", "placeholder", *extra])


def _summary(capsys: pytest.CaptureFixture[str]) -> str:
    out = capsys.readouterr().out
    return next(line for line in out.splitlines() if line.startswith(("generate:", "variations:")))


def test_outputs_metadata_and_second_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(tmp_path, SHOW)
    media = tmp_path / "media" / "p"
    assert _generate(show) == 0
    assert "7 rendered, 1 copied" in _summary(capsys)  # 1.1 is copied from its variation

    meta = read_png_metadata(media / "1.1.png")
    params = meta["parameters"].splitlines()
    assert params[0] == "the moon drunk with wine, sepia daguerreotype"
    assert "Seed: 3" in params[-1] and "Size: 256x144" in params[-1]
    assert meta["generate_hash"] in params[-1]
    assert Image.open(media / "1.1.png").size == (256, 144)

    info = probe(media / "1.3.mp4")
    assert info.error is None and info.fps == 12 and (info.width, info.height) == (256, 144)
    assert 1.9 <= (info.duration or 0) <= 4.1
    scene = load_splats(media / "1.4.ply")
    assert scene.kind == "mlsharp" and scene.count > 1000
    for f in ("1.3.mp4", "1.4.ply"):
        side = json.loads(sidecar_path(media / f).read_text())
        assert (
            side["hash"] and side["cue"] == f.rsplit(".", 1)[0] and "Steps:" in side["parameters"]
        )

    manifest = Manifest.load(tmp_path / "media")
    entry = manifest.get(media / "1.2.png")
    assert entry is not None and entry["seed"] == 4 and entry["backend"] == "placeholder"
    assert entry["versions"]["python"] and entry["device"].startswith("cpu")

    assert _generate(show) == 0
    assert _summary(capsys).startswith("generate: 0 rendered, 0 copied, 8 already current")


def test_changing_a_prompt_rerenders_only_it_and_dependants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(tmp_path, SHOW)
    assert _generate(show, "--no-sweeps") == 0
    capsys.readouterr()
    media = tmp_path / "media" / "p"
    before = {p.name: p.stat().st_mtime_ns for p in media.iterdir()}
    show.write_text(SHOW.replace('"a poet"', '"a poet in white"'))
    assert _generate(show, "--no-sweeps", "--dry-run") == 0
    plan = capsys.readouterr().out
    assert "2 to make" in plan
    assert _generate(show, "--no-sweeps") == 0
    assert _summary(capsys).startswith("generate: 2 rendered, 0 copied, 3 already current")
    after = {p.name: p.stat().st_mtime_ns for p in media.iterdir()}
    changed = {n for n in before if before[n] != after[n] and not n.endswith(".json")}
    assert changed == {"1.2.png", "1.3.mp4"}  # 1.3 uses 1.2 as its last frame


def test_pick_copies_the_variation_and_rerenders_dependants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(tmp_path, SHOW)
    assert (
        main(["variations", str(show), "1.1", "--seeds", "1,2,5", "--backend", "placeholder"]) == 0
    )
    out = capsys.readouterr().out
    folder = tmp_path / "media" / ".generate" / "variations" / "1.1"
    assert (folder / "contact.png").is_file() and (folder / "index.html").is_file()
    assert "python -m app pick" in (folder / "index.html").read_text()
    assert "contact sheet:" in out
    assert Image.open(folder / "contact.png").width > 3 * 100

    assert main(["pick", str(show), "1.1", "5"]) == 0
    out = capsys.readouterr().out
    assert "picked seed 5" in out and "copied from its variation" in out and "1.3, 1.4" in out
    assert "'1.1': 5" in (tmp_path / "show" / "show.picks.yaml").read_text()
    assert _generate(show, "--no-sweeps") == 0
    err = capsys.readouterr()
    assert "1.1: copied from .generate/variations/1.1/seed-5.png" in err.err
    cue = tmp_path / "media" / "p" / "1.1.png"
    assert cue.read_bytes() == (folder / "seed-5.png").read_bytes()
    assert "Seed: 5" in read_png_metadata(cue)["parameters"]

    assert main(["pick", str(show), "1.1", "--clear"]) == 0
    assert "1.1" not in (tmp_path / "show" / "show.picks.yaml").read_text().split("picks:")[1]
    assert main(["pick", str(show), "9.9", "1"]) == 2
    assert "no cue '9.9'" in capsys.readouterr().err


def test_invalid_recipes_are_reported_with_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = SHOW.replace('generate: {prompt: "white roses"}', 'generate: {from: "1.3", steps: 0}')
    show = write_show(tmp_path, bad)
    assert _generate(show) == 2
    err = capsys.readouterr().err
    assert f"{show}:" in err and "generate.steps" in err
    media = tmp_path / "media"
    assert not media.exists() or not any(media.rglob("*.png"))

    video_source = SHOW.replace('generate: {prompt: "white roses"}', 'generate: {from: "1.3"}')
    show = write_show(tmp_path, video_source)
    assert _generate(show) == 2
    err = capsys.readouterr().err
    assert "cue '2.1': generate.from: cue '1.3' is a video" in err
    line = next(i for i, t in enumerate(video_source.splitlines(), 1) if '"2.1"' in t)
    assert f"{show}:{line}:" in err


def test_missing_input_without_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        SHOW
        + '      - {id: "2.2", media: p/photo.png}\n'
        + ('      - {id: "2.3", media: p/2.3.mp4, generate: {from: "2.2"}}\n')
    )
    show = write_show(tmp_path, text)
    assert _generate(show) == 2
    assert "the media of cue '2.2' is missing" in capsys.readouterr().err
    photo = tmp_path / "media" / "p" / "photo.png"
    photo.parent.mkdir(parents=True)
    Image.new("RGB", (64, 36), (200, 10, 10)).save(photo)
    assert _generate(show, "--only", "2/2.3") == 0
    assert (tmp_path / "media" / "p" / "2.3.mp4").is_file()
    assert not (tmp_path / "media" / "p" / "1.1.png").exists()  # --only


def test_placeholder_needs_no_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    show = write_show(tmp_path, SHOW)
    code = (
        "import sys\n"
        "from app.cli import main\n"
        f"rc = main(['generate', {str(show)!r}, '--backend', 'placeholder', '--only', '2'])\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules, 'torch imported'\n"
        "sys.exit(rc)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_placeholders_never_replace_real_media(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(tmp_path, SHOW)
    real = tmp_path / "media" / "p" / "1.2.png"
    real.parent.mkdir(parents=True)
    Image.new("RGB", (256, 144), (10, 200, 10)).save(real)
    data = real.read_bytes()
    assert _generate(show, "--no-sweeps", "--force") == 0
    assert "1 kept (real media are never replaced by placeholders)" in _summary(capsys)
    assert real.read_bytes() == data
    assert main(["generate", str(show), "--backend", "placeholder", "--dry-run"]) == 0
    assert "kept (real media)" in capsys.readouterr().out


def test_out_of_memory_in_a_batch_retries_one_at_a_time(tmp_path: Path) -> None:
    from app.generate.backends.placeholder import PlaceholderBackend
    from app.generate.plan import variation_jobs
    from app.generate.runner import Runner
    from app.show.loader import load_show

    class Tight(PlaceholderBackend):
        max_batch = 3

        def render(self, jobs, inputs, on_step):  # type: ignore[no-untyped-def]
            if len(jobs) > 1:
                raise MemoryError("out of memory")
            return super().render(jobs, inputs, on_step)

    show = load_show(write_show(tmp_path, SHOW), allow_missing=True)
    jobs = variation_jobs(show, "1.1", [1, 2, 3])
    err = io.StringIO()
    report = Runner(show, Tight(), Manifest.load(show.media_root), err=err).run(jobs)
    assert report.rendered == ["1.1@seed-1", "1.1@seed-2", "1.1@seed-3"] and not report.failed
    assert "retrying one at a time" in err.getvalue()
