"""Learned upscaling: an ESRGAN-family model loaded through spandrel, run in tiles.

`upscale: {model: NAME, scale: 2}` in a recipe names a registry entry of kind `upscale` (a
`.safetensors` or `.pth` such as 4x-UltraSharp). spandrel reads the file, identifies the
architecture and its native scale; the image is cut into tiles that each carry `overlap`
pixels of context on every side, each tile is upscaled alone and only its core is kept, so
memory stays bounded at any image size and, when the overlap covers the network's receptive
field, the tiled result equals the whole-image one. A model whose native scale differs from
the recipe's (a 4x model for a 2x step) is followed by a Lanczos resize to the asked size.

torch and spandrel are imported inside functions only.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from app.generate.errors import JobError

DEFAULT_TILE = 512  # input pixels per tile side (before the overlap is added)
DEFAULT_OVERLAP = 32  # input pixels of context on each side of a tile

# spandrel imports torchvision at package import for two architectures we never load
# (LaMa inpainting and RestoreFormer face restoration); these are the names they take.
_TORCHVISION_NAMES = {
    "torchvision.transforms.functional": ("InterpolationMode", "rotate", "normalize"),
}


def _torchvision_importable() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        import torchvision  # noqa: F401
    except Exception:  # a build for another torch fails with RuntimeError, not ImportError
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        return False
    return True


def import_spandrel() -> Any:
    """The spandrel module, importable on machines where torchvision is absent or broken.

    When torchvision cannot be imported, a stand-in `torchvision` exists only while spandrel
    imports: its few names raise if the two architectures that use them are ever run, and it
    is removed from `sys.modules` afterwards so that nothing else (transformers checks for
    torchvision) takes it for the real package. With a working torchvision nothing is
    substituted.
    """
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    if _torchvision_importable():
        import spandrel

        return spandrel

    def missing(*_args: Any, **_kwargs: Any) -> Any:
        raise ModuleNotFoundError(
            "torchvision is not importable here; spandrel's LaMa and RestoreFormer models "
            "need it (ESRGAN-family upscalers do not)"
        )

    class InterpolationMode:
        """Placeholder of torchvision's enum (only named at import by spandrel's LaMa)."""

    stand_ins: dict[str, types.ModuleType] = {}
    for full in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional"):
        module = types.ModuleType(
            full, "stand-in for spandrel's import (app.generate.chain.upscale)"
        )
        stand_ins[full] = module
    stand_ins["torchvision"].transforms = stand_ins["torchvision.transforms"]  # type: ignore[attr-defined]
    functional = stand_ins["torchvision.transforms.functional"]
    stand_ins["torchvision.transforms"].functional = functional  # type: ignore[attr-defined]
    for name in _TORCHVISION_NAMES["torchvision.transforms.functional"]:
        setattr(functional, name, InterpolationMode if name == "InterpolationMode" else missing)
    sys.modules.update(stand_ins)
    try:
        import spandrel
    finally:
        for full, module in stand_ins.items():
            if sys.modules.get(full) is module:
                del sys.modules[full]
    return spandrel


def tile_boxes(
    width: int, height: int, tile: int, overlap: int
) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """(core, padded) boxes (left, top, right, bottom) covering a width x height image.

    Cores tile the image without gaps or overlaps; each padded box is its core grown by
    `overlap` on every side, clamped to the image.
    """
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be >= 1 and overlap >= 0, got {tile} and {overlap}")
    boxes = []
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            core = (left, top, min(left + tile, width), min(top + tile, height))
            padded = (
                max(0, core[0] - overlap),
                max(0, core[1] - overlap),
                min(width, core[2] + overlap),
                min(height, core[3] + overlap),
            )
            boxes.append((core, padded))
    return boxes


def run_tiled(model: Callable[[Any], Any], image: Any, scale: int, tile: int, overlap: int) -> Any:
    """`model` (a (1, C, h, w) -> (1, C, h*scale, w*scale) tensor function) over `image` in
    tiles; returns the (1, C, H*scale, W*scale) result. Only one tile is on the model at once.
    """
    import torch

    _, channels, height, width = image.shape
    out = torch.zeros(
        (1, channels, height * scale, width * scale), dtype=image.dtype, device=image.device
    )
    for core, padded in tile_boxes(width, height, tile, overlap):
        pl, pt, pr, pb = padded
        result = model(image[:, :, pt:pb, pl:pr])
        cl, ct, cr, cb = core
        # The core's place inside the padded tile's output.
        ox, oy = (cl - pl) * scale, (ct - pt) * scale
        w, h = (cr - cl) * scale, (cb - ct) * scale
        out[:, :, ct * scale : cb * scale, cl * scale : cr * scale] = result[
            :, :, oy : oy + h, ox : ox + w
        ]
    return out


@dataclass
class Upscaler:
    """A loaded spandrel image model (super-resolution) and where it came from."""

    path: Path
    descriptor: Any  # spandrel.ImageModelDescriptor
    device: str

    @property
    def scale(self) -> int:
        """The model's native scale (4 for 4x-UltraSharp)."""
        return int(self.descriptor.scale)

    @property
    def architecture(self) -> str:
        """The architecture spandrel identified (e.g. 'ESRGAN')."""
        return str(self.descriptor.architecture.name)

    def upscale(
        self,
        image: Image.Image,
        size: tuple[int, int] | None = None,
        *,
        tile: int = DEFAULT_TILE,
        overlap: int = DEFAULT_OVERLAP,
    ) -> Image.Image:
        """`image` upscaled by the model in tiles, then resized (Lanczos) to `size` if given
        and different from the model's own output size."""
        import numpy as np
        import torch

        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        dtype = next(self.descriptor.model.parameters()).dtype
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(self.device, dtype=dtype)
        with torch.inference_mode():
            if self.descriptor.tiling.name == "INTERNAL":
                y = self.descriptor(x)
            else:
                y = run_tiled(self.descriptor, x, self.scale, tile, overlap)
        array = y[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        out = Image.fromarray((array * 255.0 + 0.5).astype(np.uint8))
        if size is not None and out.size != tuple(size):
            out = out.resize(tuple(size), Image.Resampling.LANCZOS)
        return out


def load_upscaler(path: Path, device: str = "cpu", half: bool = False) -> Upscaler:
    """Load an upscaler file through spandrel; JobError naming the file when spandrel cannot
    identify it or it is not a single-image super-resolution model."""
    spandrel = import_spandrel()
    path = Path(path)
    if not path.is_file():
        raise JobError(f"upscaler file not found: {path}")
    try:
        descriptor = spandrel.ModelLoader(device=device).load_from_file(str(path))
    except spandrel.UnsupportedModelError:
        raise JobError(
            f"upscaler {path}: spandrel cannot identify its architecture (expected an "
            "ESRGAN-family or other super-resolution model, .safetensors or .pth)"
        ) from None
    except Exception as exc:
        raise JobError(f"upscaler {path}: cannot be read: {type(exc).__name__}: {exc}") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose not in (
        "SR",
        "Restoration",
    ):
        raise JobError(
            f"upscaler {path}: spandrel reads it as a {descriptor.architecture.name} "
            f"{descriptor.purpose} model, not an image upscaler"
        )
    descriptor.eval()
    if half and descriptor.supports_half:
        descriptor.half()
    return Upscaler(path=path, descriptor=descriptor, device=device)


def lanczos(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The fallback upscale when no model is named."""
    return image.resize(tuple(size), Image.Resampling.LANCZOS)
