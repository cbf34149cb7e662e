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
# One tiny model of every family the README claims (tests/test_generate_families.py).
FAMILY_MODELS = {
    "tiny-chroma": ("chroma", "t2i", {}),
    "tiny-zimage": ("z-image", "t2i", {}),
    "tiny-sd3": ("sd3", "t2i", {}),
    "tiny-qwen": ("qwen-image", "t2i", {}),
    "tiny-sdxl-refined": ("sdxl", "t2i", {"refiner": "tiny-sdxl-refiner"}),
    "tiny-sdxl-refiner": ("sdxl-refiner", "t2i", {}),
    # the tiny SDXL as one original-layout checkpoint, with the tiny SDXL folder as config
    "tiny-sdxl-file": (
        "sdxl-file",
        "t2i",
        {"config": "tiny-sdxl", "pipeline": "StableDiffusionXLPipeline"},
    ),
    "tiny-ltx": ("ltx-i2v", "i2v", {"fps": 24}),
}
# The models of the image chain steps (tests/test_generate_chain.py, the tiny Pierrot run).
CHAIN_MODELS = {
    "tiny-kontext": ("kontext", "edit", {}),
    "tiny-esrgan": ("esrgan", "upscale", {}),
}
ALL = {**TINY, **FAMILY_MODELS, **CHAIN_MODELS}


def build_tiny_models(
    folder: Path,
    names: tuple[str, ...] = tuple(TINY),
    aliases: dict[str, str] | None = None,
    registry_name: str = "models.yaml",
) -> Path:
    """Save the tiny models under `folder` and write `folder/models.yaml`; returns it.

    `aliases` registers more names for models already built (e.g. a show's model names).
    """
    from tiny_builders import save_sdxl_single_file, save_tiny, save_tiny_esrgan

    models = {}
    for name in names:
        builder, kind, options = ALL[name]
        where = f"{name}.safetensors" if builder in ("sdxl-file", "esrgan") else name
        target = folder / where
        if target.exists():
            pass
        elif builder == "sdxl-file":
            save_sdxl_single_file(target)
        elif builder == "esrgan":
            save_tiny_esrgan(target)
        else:
            save_tiny(builder, target)
        models[name] = {
            "path": where,
            "kind": kind,
            "dtype": "float32",
            "licence": "random test weights",
            **options,
        }
    for alias, name in (aliases or {}).items():
        models[alias] = dict(models[name])
    registry = folder / registry_name
    registry.write_text(yaml.safe_dump({"models": models}, sort_keys=False), encoding="utf-8")
    return registry


@lru_cache(maxsize=1)
def tiny_registry() -> Path:
    """models.yaml of all tiny models, built once per process."""
    folder = Path(tempfile.mkdtemp(prefix="tiny-models-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_tiny_models(folder)


@lru_cache(maxsize=1)
def family_registry() -> Path:
    """A registry of one tiny model per claimed family (and the first ones), built once per
    process beside `tiny_registry()`'s models."""
    folder = tiny_registry().parent
    return build_tiny_models(folder, tuple(ALL), registry_name="families.yaml")


def write_show(folder: Path, text: str, name: str = "show.yaml") -> Path:
    """Write a show file into `folder/show/` (so its media root is `folder/media`)."""
    (folder / "show").mkdir(parents=True, exist_ok=True)
    path = folder / "show" / name
    path.write_text(text, encoding="utf-8")
    return path
