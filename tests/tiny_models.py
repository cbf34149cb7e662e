"""Test helper: tiny random-weight models saved to a folder and registered in a models.yaml.

`tiny_registry()` builds them once per test process (a few seconds) in a temporary folder
and returns the models.yaml path; nothing is downloaded.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import yaml

TINY = {
    "tiny-sdxl": ("sdxl", "t2i", {}),
    "tiny-flux": ("flux", "t2i", {}),
    "tiny-wan": ("wan-i2v", "i2v", {"fps": 8, "vae_dtype": "float32"}),
    "tiny-depth": ("depth", "depth", {}),
}


def build_tiny_models(folder: Path, names: tuple[str, ...] = tuple(TINY)) -> Path:
    """Save the tiny models under `folder` and write `folder/models.yaml`; returns it."""
    from app.generate.tiny import save_tiny

    models = {}
    for name in names:
        builder, kind, options = TINY[name]
        target = folder / name
        if not target.exists():
            save_tiny(builder, target)
        models[name] = {
            "path": name,
            "kind": kind,
            "dtype": "float32",
            "licence": "random test weights",
            **options,
        }
    registry = folder / "models.yaml"
    registry.write_text(yaml.safe_dump({"models": models}, sort_keys=False), encoding="utf-8")
    return registry


@lru_cache(maxsize=1)
def tiny_registry() -> Path:
    """models.yaml of all tiny models, built once per process."""
    folder = Path(tempfile.mkdtemp(prefix="tiny-models-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_tiny_models(folder)


def write_show(folder: Path, text: str, name: str = "show.yaml") -> Path:
    """Write a show file into `folder/show/` (so its media root is `folder/media`)."""
    (folder / "show").mkdir(parents=True, exist_ok=True)
    path = folder / "show" / name
    path.write_text(text, encoding="utf-8")
    return path
