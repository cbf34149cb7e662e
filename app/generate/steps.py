"""Intermediate steps of a chain, cached by key: a failed refine never reruns its base pass.

A still with `refine:` is made in steps (first pass, then the img2img "hires fix"); each
step's result is an image stored under its own key in `<media_root>/.generate/steps/`. A
step's key hashes what makes that step's pixels and nothing after it (the first pass's key
holds no refine setting), so a changed refine setting reuses the base image, and a run that
failed in the refine finds the base on the next run. The final output is cached by the runner
as before; this store holds only what lies between.

Files are written atomically (PNG, no metadata beyond the key); a missing or unreadable file
is a miss, never an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from app.atomic import atomic_output
from app.generate.cache import CACHE_VERSION, recipe_hash
from app.generate.manifest import state_dir


def step_key(step: str, recipe: dict[str, Any]) -> str:
    """The key of chain step `step` ('base', ...) made from `recipe` (what decides it)."""
    return recipe_hash({"cache": CACHE_VERSION, "step": step, **recipe})


class StepStore:
    """Images of intermediate chain steps by key (one PNG per key)."""

    def __init__(self, folder: Path, *, reuse: bool = True) -> None:
        self.folder = Path(folder)
        self.reuse = reuse  # False (generate --force): remake every step, still store them
        self.hits = 0
        self.saved = 0

    @classmethod
    def for_media_root(cls, media_root: Path, *, reuse: bool = True) -> StepStore:
        """The store of a show's media root (`<media_root>/.generate/steps/`)."""
        return cls(state_dir(media_root) / "steps", reuse=reuse)

    def path(self, key: str) -> Path:
        """Where the image of `key` lives."""
        return self.folder / f"{key}.png"

    def load(self, key: str) -> Image.Image | None:
        """The stored image of `key` (RGB), or None when there is none or it cannot be read."""
        path = self.path(key)
        if not self.reuse or not path.is_file():
            return None
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")
        except (OSError, ValueError):
            return None
        self.hits += 1
        return image

    def save(self, key: str, image: Image.Image) -> None:
        """Store `image` under `key` (atomically: a killed run leaves no half file)."""
        with atomic_output(self.path(key)) as tmp:
            image.convert("RGB").save(tmp, format="PNG")
        self.saved += 1
