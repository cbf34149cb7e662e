"""The images of each step of a still's chain (base, upscaled, refined, edited), kept for
contact sheets: `<media_root>/.generate/chains/<cue>/seed-<n>/<i>-<step>.png`.

The runner writes them next to the output it records (atomically, like every file); a
sweep's contact sheet then shows, per seed, where along the chain a result went wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.generate.cache import atomic_output
from app.generate.manifest import state_dir
from app.generate.plan import Job

STEP_ORDER = ("base", "upscaled", "refined", "edited")


def steps_dir(media_root: Path, cue_id: str, seed: int) -> Path:
    """The folder of the chain step images of `cue_id` at `seed`."""
    return state_dir(media_root) / "chains" / cue_id.replace("/", "_") / f"seed-{seed}"


def write_steps(media_root: Path, job: Job, steps: list[tuple[str, Any]]) -> list[str]:
    """Write the (step, PIL image) pairs of one output; their paths relative to media_root."""
    folder = steps_dir(media_root, job.cue.id, job.seed)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.png"):
        stale.unlink()
    written = []
    for i, (label, image) in enumerate(steps, 1):
        path = folder / f"{i}-{label}.png"
        with atomic_output(path) as tmp:
            image.convert("RGB").save(tmp, format="PNG")
        written.append(path.relative_to(media_root).as_posix())
    return written


def read_steps(media_root: Path, cue_id: str, seed: int) -> list[tuple[str, Path]]:
    """The (step, file) pairs written for `cue_id` at `seed`, in chain order ([] if none)."""
    folder = steps_dir(media_root, cue_id, seed)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.png"):
        index, _, label = path.stem.partition("-")
        if index.isdigit():
            found.append((int(index), label, path))
    return [(label, path) for _, label, path in sorted(found)]
