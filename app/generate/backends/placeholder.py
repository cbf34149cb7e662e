"""The placeholder backend: title cards, animatic clips and splat cards, no GPU, no torch.

It lets a show be blocked and rehearsed before the real media exist. Every output carries
its cue id and prompt so that the operator sees what will be there. Placeholders are small on
purpose (at most 640x360, clips of 2-4 s): the player scales them to the output like any
other media, and a whole show renders in seconds.
"""

from __future__ import annotations

import math
import random
import textwrap
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from app.generate.backends import Capabilities, Rendered, StepCallback
from app.generate.backends.depth_splat import gaussians_from_depth, splat_grid
from app.generate.plan import Job, full_prompt
from app.show.model import MediaKind

MAX_WIDTH, MAX_HEIGHT = 640, 360
MIN_CLIP_S, MAX_CLIP_S = 2.0, 4.0
DRAW_FPS = 15.0  # frames drawn per second; the encoder repeats them up to the recipe's rate
SPLAT_WIDTH = 160  # Gaussians per row of a splat card
VERSION = 1  # part of the recipe hash: bump when the look of placeholders changes

# (top colour, bottom colour, text colour) per part: sepia daguerreotype, expressionist
# colour, contemporary colour. Parts beyond 3 reuse the neutral last entry.
PALETTES: dict[int, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    1: ((150, 118, 82), (38, 27, 18), (245, 230, 205)),
    2: ((32, 84, 92), (120, 18, 30), (250, 236, 210)),
    3: ((236, 72, 140), (32, 160, 190), (255, 255, 255)),
    0: ((90, 90, 100), (25, 25, 30), (240, 240, 240)),
}


def placeholder_size(width: int, height: int) -> tuple[int, int]:
    """The recipe size scaled to fit 640x360 (aspect kept, even sides)."""
    k = min(1.0, MAX_WIDTH / width, MAX_HEIGHT / height)
    w = max(2, int(round(width * k / 2)) * 2)
    h = max(2, int(round(height * k / 2)) * 2)
    return w, h


_GERMAN = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "LiberationSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _printable(text: str) -> str:
    """`text` as the card's font can draw it (Pillow's own font has no accented letters)."""
    font = _font(12)
    if isinstance(font, ImageFont.FreeTypeFont) and "DejaVu" in (font.font.family or ""):
        return text
    text = unicodedata.normalize("NFKD", text.translate(_GERMAN))
    return "".join(c for c in text if not unicodedata.combining(c) and ord(c) < 128)


def title_card(job: Job, size: tuple[int, int]) -> Image.Image:
    """The card of a job: the part's colours, a seed-placed moon, the cue and its prompt."""
    w, h = size
    top, bottom, ink = PALETTES.get(job.poem.part, PALETTES[0])
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    rgb = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    img = np.broadcast_to(rgb, (h, w, 3)).copy()
    rng = np.random.default_rng(job.seed)
    if job.poem.part == 1:  # dust and grain of an old plate
        img += rng.normal(0.0, 9.0, (h, w, 1)).astype(np.float32)
        for _ in range(max(8, w * h // 4000)):
            y, x = rng.integers(0, h), rng.integers(0, w)
            img[max(0, y - 1) : y + 1, max(0, x - 1) : x + 1] += 70.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
    img *= (1.0 - 0.35 * np.clip(r - 0.4, 0.0, 1.0))[:, :, None]
    card = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))

    pick = random.Random(job.seed)
    mr = h * 0.11
    mx, my = pick.uniform(0.62, 0.9) * w, pick.uniform(0.3, 0.5) * h
    mask = Image.new("L", (w, h), 0)
    mdraw = ImageDraw.Draw(mask)
    mdraw.ellipse((mx - mr, my - mr, mx + mr, my + mr), fill=255)
    shift = mr * pick.uniform(0.35, 0.7)
    mdraw.ellipse(
        (mx - mr + shift, my - mr - mr * 0.1, mx + mr + shift, my + mr - mr * 0.1), fill=0
    )
    card.paste((246, 240, 220), mask=mask)

    draw = ImageDraw.Draw(card)
    pad = max(6, w // 40)
    big, mid, small = _font(max(10, h // 11)), _font(max(8, h // 20)), _font(max(7, h // 26))
    title = f"{job.poem.id}  {job.poem.title}".strip()
    draw.text((pad, pad), _printable(title), font=big, fill=ink)
    line2 = f"cue {job.cue.id} · {job.kind.recipe_word} · seed {job.seed}"
    if job.spec.model:
        line2 += f" · {job.spec.model}"
    draw.text((pad, pad + h // 8), _printable(line2), font=mid, fill=ink)
    chars = max(20, int(w / max(4.0, h / 26 * 0.55)))
    wrapped = textwrap.wrap(_printable(full_prompt(job.spec)) or "(no prompt)", chars)[:6]
    y = h - pad - len(wrapped) * (h // 22)
    for line in wrapped:
        draw.text((pad, y), line, font=small, fill=ink)
        y += h // 22
    draw.text((w - pad - 8 * (h // 26), pad), "PLACEHOLDER", font=small, fill=ink)
    if job.poem.part == 1:
        card = card.filter(ImageFilter.GaussianBlur(0.6))
    return card


def fit_cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled to cover `size` and centre-cropped to it."""
    w, h = size
    k = max(w / image.width, h / image.height)
    rw, rh = max(w, math.ceil(image.width * k)), max(h, math.ceil(image.height * k))
    scaled = image.convert("RGB").resize((rw, rh), Image.Resampling.LANCZOS)
    left, top = (rw - w) // 2, (rh - h) // 2
    return scaled.crop((left, top, left + w, top + h))


def _label(image: Image.Image, text: str) -> Image.Image:
    out = image.copy()
    draw = ImageDraw.Draw(out)
    font = _font(max(7, image.height // 24))
    bar = image.height // 14
    draw.rectangle((0, image.height - bar, image.width, image.height), fill=(0, 0, 0))
    draw.text((6, image.height - bar + 2), _printable(text), font=font, fill=(255, 255, 255))
    return out


def animatic(
    first: Image.Image, last: Image.Image | None, frames: int, seed: int
) -> list[np.ndarray]:
    """A slow zoom and pan over `first` (crossfading to `last` in the second half)."""
    w, h = first.size
    rng = random.Random(seed)
    dx, dy = rng.uniform(-0.04, 0.04), rng.uniform(-0.03, 0.03)
    out: list[np.ndarray] = []
    for i in range(frames):
        t = i / max(frames - 1, 1)
        zoom = 1.0 + 0.15 * t
        cw, ch = w / zoom, h / zoom
        cx, cy = w / 2 + dx * t * w, h / 2 + dy * t * h
        box = (cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2)
        frame = first.resize((w, h), Image.Resampling.BILINEAR, box=box)
        if last is not None and t > 0.5:
            other = last.resize((w, h), Image.Resampling.BILINEAR, box=box)
            frame = Image.blend(frame, other, min(1.0, (t - 0.5) * 2.0))
        out.append(np.asarray(frame.convert("RGB")))
    return out


def relief_depth(rgb: np.ndarray) -> np.ndarray:
    """A made-up depth for a splat card: a gentle bowl, bright areas standing forward."""
    h, w = rgb.shape[:2]
    lum = rgb[:, :, :3].astype(np.float32).mean(axis=2) / 255.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    return (4.0 + 0.6 * r2 - 0.8 * lum).astype(np.float32)


class PlaceholderBackend:
    """Renders stand-in media for every recipe kind."""

    name = "placeholder"
    max_batch = 1
    capabilities = Capabilities(stand_in=True)

    def check(self, jobs: list[Job]) -> list[tuple[Job, str]]:
        """Nothing can be missing: placeholders need no model."""
        return []

    def identity(self, job: Job) -> dict[str, Any]:
        """Placeholders depend on no model, only on this module's version."""
        return {"placeholder": VERSION}

    def prepare(self) -> None:
        """Nothing to prepare."""

    def describe_device(self) -> str:
        """Placeholders are drawn on the CPU."""
        return "cpu (placeholder)"

    def recover(self) -> None:
        """Nothing to free."""

    def close(self) -> None:
        """Nothing to release."""

    def render(
        self, jobs: list[Job], inputs: dict[str, Path], on_step: StepCallback
    ) -> list[Rendered]:
        """Draw the placeholder of each job."""
        return [self._one(job, inputs, on_step) for job in jobs]

    def _one(self, job: Job, inputs: dict[str, Path], on_step: StepCallback) -> Rendered:
        spec = job.spec
        size = placeholder_size(spec.width, spec.height)
        source = _open(inputs.get("from"), size)
        info: dict[str, Any] = {"placeholder_size": list(size)}
        if job.kind is MediaKind.STILL:
            what = f"placeholder · cue {job.cue.id}"
            if spec.mode == "edit" or spec.edit:
                what += f" · edit: {(spec.edit or {}).get('prompt', spec.prompt)[:60]}"
            card = _label(source, what) if source else None
            card = card or title_card(job, size)
            on_step(1.0)
            return Rendered(image=card, sampler="placeholder", info=info)
        if job.kind is MediaKind.VIDEO:
            first = _label(source, f"placeholder · cue {job.cue.id}") if source else None
            first = first or title_card(job, size)
            last = _open(inputs.get("last_from"), size)
            seconds = min(max(spec.frames / spec.fps, MIN_CLIP_S), MAX_CLIP_S)
            rate = min(spec.fps, DRAW_FPS)
            count = max(2, int(round(seconds * rate)))
            frames = animatic(first, last, count, job.seed)
            on_step(1.0)
            info["seconds"] = count / rate
            return Rendered(
                frames=frames, frames_fps=rate, sampler="placeholder", info=info, draft=True
            )
        base = source or title_card(job, size)
        rgb = splat_grid(base, SPLAT_WIDTH)
        scene = gaussians_from_depth(rgb, relief_depth(rgb), source_size=(base.width, base.height))
        on_step(1.0)
        info["splats"] = scene.count
        return Rendered(scene=scene, sampler="placeholder", info=info)


def _open(path: Path | None, size: tuple[int, int]) -> Image.Image | None:
    if path is None:
        return None
    if path.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"):
        from app.generate.video import first_frame

        return fit_cover(Image.fromarray(first_frame(path)), size)
    with Image.open(path) as im:
        return fit_cover(im, size)
