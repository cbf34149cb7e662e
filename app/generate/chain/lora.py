"""LoRAs: a recipe's `loras: [{name, weight}]`, applied through diffusers' adapter API (peft).

Each LoRA file is loaded into the pipeline once, as a named adapter; between jobs the
wanted adapters are switched on at their weights with `set_adapters` and the others off, so
changing a weight or dropping a LoRA never reloads the pipeline. The image-to-image twin made
with `from_pipe` shares the same denoiser modules, so a refine pass sees the same LoRAs.

A LoRA that does not fit the model is found twice: before rendering, from the layer names in
the file's header (a UNet LoRA for a transformer model, or the other way round); and on
loading, when diffusers matches none of its weights to the model's layers.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.generate.errors import JobError

UNET_MARKERS = ("down_blocks", "up_blocks", "mid_block", "input_blocks", "output_blocks")
TRANSFORMER_MARKERS = (
    "transformer_blocks",
    "single_transformer_blocks",
    "double_blocks",
    "single_blocks",
    "blocks.",
    "layers.",
)


@dataclass(frozen=True)
class LoraUse:
    """One LoRA of a recipe: its registry name, its weight, and its file."""

    name: str
    weight: float
    path: Path


def safetensors_keys(path: Path) -> list[str]:
    """The tensor names in a .safetensors file, read from its header only (no torch)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise JobError(f"LoRA file {path}: too short to be a .safetensors file")
        (size,) = struct.unpack("<Q", head)
        if size > 100 << 20:
            raise JobError(f"LoRA file {path}: not a .safetensors file (header of {size} bytes)")
        try:
            header = json.loads(fh.read(size))
        except ValueError:
            raise JobError(f"LoRA file {path}: not a .safetensors file (bad header)") from None
    return [k for k in header if k != "__metadata__"]


def lora_denoiser(keys: list[str]) -> str | None:
    """'unet' or 'transformer': the kind of denoiser a LoRA's layer names are for (None when
    the names say nothing, e.g. a text-encoder-only LoRA)."""
    denoiser = [k for k in keys if not re.match(r"(lora_)?(te\d?|text_encoder(_\d)?)[._]", k)]
    if not denoiser:
        return None
    if any(any(m in k for m in UNET_MARKERS) for k in denoiser):
        return "unet"
    if any(any(m in k for m in TRANSFORMER_MARKERS) for k in denoiser):
        return "transformer"
    return None


def pipeline_denoiser(pipeline_class: str) -> str | None:
    """'unet' for the Stable Diffusion families, 'transformer' for the DiT ones (FLUX,
    Chroma, SD3, Qwen-Image, Z-Image, Wan, LTX), None when the class is unknown."""
    if pipeline_class.startswith(("StableDiffusionXL", "StableDiffusionPipeline")) or (
        pipeline_class.startswith("StableDiffusion") and "3" not in pipeline_class
    ):
        return "unet"
    dit = ("Flux", "Chroma", "StableDiffusion3", "QwenImage", "ZImage", "Wan", "LTX", "Sana")
    if pipeline_class.startswith(dit):
        return "transformer"
    return None


def mismatch(use: LoraUse, pipeline_class: str | None) -> str | None:
    """Why a LoRA cannot fit a pipeline class, judged from its file's layer names; None when
    it may fit (the load itself checks the rest)."""
    if pipeline_class is None or not use.path.is_file() or use.path.suffix != ".safetensors":
        return None
    try:
        keys = safetensors_keys(use.path)
    except (OSError, JobError) as exc:
        return str(exc)
    made_for = lora_denoiser(keys)
    needs = pipeline_denoiser(pipeline_class)
    if made_for and needs and made_for != needs:
        return (
            f"LoRA '{use.name}' ({use.path}) is for a {made_for.upper()} model; "
            f"{pipeline_class} has a {needs} (a LoRA of another model family)"
        )
    return None


def adapter_name(name: str) -> str:
    """A peft adapter name for a registry name (letters, digits and underscores)."""
    return "lora_" + re.sub(r"\W", "_", name)


class LoraSet:
    """The LoRAs loaded into one pipeline, switched and weighted per job."""

    def __init__(self) -> None:
        self._pipe_id: int | None = None
        self._loaded: dict[str, Path] = {}  # adapter name -> file it was loaded from
        self.active: dict[str, float] = {}  # adapter name -> weight in force
        self.loads = 0  # LoRA files loaded so far (tests count them)

    def forget(self) -> None:
        """The pipeline was released: its adapters went with it."""
        self._pipe_id = None
        self._loaded.clear()
        self.active.clear()

    def apply(self, pipe: Any, uses: list[LoraUse]) -> None:
        """Make exactly `uses` active on `pipe` at their weights (none: LoRAs off)."""
        if self._pipe_id != id(pipe):
            self.forget()
            self._pipe_id = id(pipe)
        for use in uses:
            name = adapter_name(use.name)
            if self._loaded.get(name) == use.path:
                continue
            if name in self._loaded:  # the registry now points at another file
                pipe.delete_adapters([name])
                del self._loaded[name]
            self._load(pipe, use, name)
        wanted = {adapter_name(u.name): float(u.weight) for u in uses}
        if wanted == self.active:
            return
        if not wanted:
            pipe.disable_lora()
        else:
            pipe.enable_lora()
            pipe.set_adapters(list(wanted), adapter_weights=list(wanted.values()))
        self.active = wanted

    def _load(self, pipe: Any, use: LoraUse, name: str) -> None:
        cls = type(pipe).__name__
        if not hasattr(pipe, "load_lora_weights"):
            raise JobError(f"LoRA '{use.name}' ({use.path}): {cls} cannot load LoRAs")
        try:
            pipe.load_lora_weights(str(use.path), adapter_name=name)
        except Exception as exc:  # diffusers raises ValueError, KeyError, RuntimeError...
            raise JobError(
                f"LoRA '{use.name}' ({use.path}) does not fit {cls}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
            ) from None
        adapters = {a for names in pipe.get_list_adapters().values() for a in names}
        if name not in adapters:
            raise JobError(
                f"LoRA '{use.name}' ({use.path}) does not fit {cls}: none of its weights "
                "match the model's layers (a LoRA made for another model family?)"
            )
        self._loaded[name] = use.path
        self.loads += 1
