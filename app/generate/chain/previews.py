"""Previews of each step of a still's chain (base, upscaled, refined, edited), kept for
contact sheets: `<media_root>/.generate/chains/<cue>/seed-<n>/<i>-<step>.jpg`.

These are JPEG previews at most `PREVIEW_WIDTH` wide, for looking at; the steps themselves
are cached at full size by the step store (app/generate/steps.py) for resuming. The runner
writes them when it records the output; a sweep's contact sheet then shows, per seed, where
along the chain a result went wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from app.atomic import atomic_output
from app.generate.manifest import state_dir
from app.generate.plan import Job

STEP_ORDER = ("base", "upscaled", "refined", "edited")
PREVIEW_WIDTH = 640


def steps_dir(media_root: Path, cue_id: str, seed: int) -> Path:
    """The folder of the chain step images of `cue_id` at `seed`."""
    return state_dir(media_root) / "chains" / cue_id.replace("/", "_") / f"seed-{seed}"


def write_steps(media_root: Path, job: Job, steps: list[tuple[str, Any]]) -> list[str]:
    """Write the (step, PIL image) pairs of one output; their paths relative to media_root."""
    folder = steps_dir(media_root, job.cue.id, job.seed)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.jpg"):
        stale.unlink()
    written = []
    for i, (label, image) in enumerate(steps, 1):
        path = folder / f"{i}-{label}.jpg"
        preview = image.convert("RGB")
        if preview.width > PREVIEW_WIDTH:
            h = max(1, round(preview.height * PREVIEW_WIDTH / preview.width))
            preview = preview.resize((PREVIEW_WIDTH, h), Image.Resampling.LANCZOS)
        with atomic_output(path) as tmp:
            preview.save(tmp, format="JPEG", quality=90)
        written.append(path.relative_to(media_root).as_posix())
    return written


def read_steps(media_root: Path, cue_id: str, seed: int) -> list[tuple[str, Path]]:
    """The (step, file) pairs written for `cue_id` at `seed`, in chain order ([] if none)."""
    folder = steps_dir(media_root, cue_id, seed)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.jpg"):
        index, _, label = path.stem.partition("-")
        if index.isdigit():
            found.append((int(index), label, path))
    return [(label, path) for _, label, path in sorted(found)]
