"""Grid sweeps: a cue's recipe rendered over the product of a few field values (the X/Y/Z
plot of AUTOMATIC1111), each cell at one or more seeds.

`parse_axis("guidance=2,3.5,5")` checks the values where they are typed (a scheduler that
does not exist, steps of 0: one clear message); `grid_jobs` makes ordinary variation jobs
(`Job`, run by the same `Runner` as `generate`, so every cell is cached and goes through
whatever executor runs jobs); `make_grid_sheet` draws the labelled sheet and writes its
layout (which file sits in which box, with which values) as JSON beside it.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from app.atomic import atomic_output, write_text_atomic
from app.generate.cache import canonical_json
from app.generate.curation.contact_sheet import _font
from app.generate.errors import GenerateError
from app.generate.manifest import state_dir
from app.generate.plan import (
    EXTENSIONS,
    Job,
    _cue_jobs,
    apply_overrides,
    order_jobs,
    plan_show,
    recipe_cue,
)
from app.media.thumbnails import file_thumbnail
from app.show.model import MediaKind, Show

AXIS_NAMES = ("X", "Y", "Z")
MAX_CELLS = 4096  # a typo like steps=1-1000 should not queue a night of work


def _integer(lo: int, multiple: int = 1) -> Callable[[str], Any]:
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got '{text}'") from None
        if value < lo:
            raise ValueError(f"expected an integer >= {lo}, got {value}")
        if value % multiple:
            raise ValueError(f"expected a multiple of {multiple}, got {value}")
        return value

    return convert


def _number(lo: float, hi: float | None = None, lo_open: bool = False) -> Callable[[str], Any]:
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got '{text}'") from None
        if value < lo or (lo_open and value == lo) or (hi is not None and value > hi):
            bound = f"> {lo:g}" if lo_open else f">= {lo:g}"
            raise ValueError(f"expected a number {bound}{f' and <= {hi:g}' if hi else ''}")
        return value

    return convert


def _scheduler(text: str) -> str:
    from app.generate.a1111 import scheduler_problem

    problem = scheduler_problem(text)
    if problem:
        raise ValueError(problem)
    return text


def _text(text: str) -> str:
    return text


def _any_scalar(text: str) -> Any:
    import yaml

    from app import safe_yaml

    try:
        return safe_yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# Recipe fields a grid may sweep, with the converter of one typed value. `refine.<key>` and
# `extra.<key>` (LoRA weights and other pipeline arguments live in `extra`) are handled below.
FIELDS: dict[str, Callable[[str], Any]] = {
    "steps": _integer(1),
    "guidance": _number(0),
    "width": _integer(8, 8),
    "height": _integer(8, 8),
    "scheduler": _scheduler,
    "prompt": _text,
    "negative_prompt": _text,
    "frames": _integer(1),
    "fps": _number(0, lo_open=True),
    "upscale": _number(1, lo_open=True),
}
REFINE_FIELDS: dict[str, Callable[[str], Any]] = {
    "scale": _number(1),
    "strength": _number(0, 1, lo_open=True),
    "steps": _integer(1),
    "guidance": _number(0),
}
TEXT_FIELDS = ("prompt", "negative_prompt")  # values separated by '|' (prompts hold commas)


@dataclass(frozen=True)
class Axis:
    """One swept field and its values, in the order typed."""

    field: str  # "guidance", "refine.strength", "extra.lora_scale"
    values: tuple[Any, ...]

    def label(self, value: Any) -> str:
        """How a value reads on the sheet: `guidance: 3.5`."""
        return f"{self.field}: {_show(value)}"


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return str(value)


def parse_axis(text: str) -> Axis:
    """`field=v1,v2,...` -> Axis; raises GenerateError naming the bad field or value."""
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name or not raw.strip():
        raise GenerateError(f"--grid {text}: expected FIELD=VALUE,VALUE,... (e.g. guidance=2,5)")
    group, _, key = name.partition(".")
    if group == "refine" and key:
        convert = REFINE_FIELDS.get(key)
        if convert is None:
            raise GenerateError(
                f"--grid {text}: refine has no '{key}' (sweepable: "
                f"{', '.join('refine.' + k for k in REFINE_FIELDS)})"
            )
    elif group == "extra" and key:
        convert = _any_scalar
    else:
        convert = FIELDS.get(name)  # type: ignore[assignment]
        if convert is None:
            fields = [*FIELDS, *("refine." + k for k in REFINE_FIELDS), "extra.<key>"]
            hint = " (seeds are swept with --seeds)" if name in ("seed", "seeds") else ""
            raise GenerateError(
                f"--grid {text}: '{name}' is not a recipe field a grid can sweep{hint}; "
                f"sweepable: {', '.join(fields)}"
            )
    parts = raw.split("|") if name in TEXT_FIELDS else raw.split(",")
    values: list[Any] = []
    for part in parts:
        part = part.strip()
        if not part:
            raise GenerateError(f"--grid {text}: an empty value (two commas in a row?)")
        try:
            value = convert(part)
        except ValueError as exc:
            raise GenerateError(f"--grid {text}: {name}: {exc}") from None
        if value not in values:
            values.append(value)
    return Axis(name, tuple(values))


def parse_axes(texts: Sequence[str]) -> list[Axis]:
    """Every `--grid` value (at most three axes, each field once)."""
    axes = [parse_axis(t) for t in texts]
    if len(axes) > len(AXIS_NAMES):
        raise GenerateError(f"--grid: at most {len(AXIS_NAMES)} axes (X, Y, Z), got {len(axes)}")
    seen = [a.field for a in axes]
    dupes = sorted({f for f in seen if seen.count(f) > 1})
    if dupes:
        raise GenerateError(f"--grid: field {dupes[0]} is given twice; list its values once")
    return axes


def cell_slug(overrides: dict[str, Any]) -> str:
    """A file-name-safe, readable and unique name for a cell's values."""
    readable = "_".join(f"{k}{_show(v)}" for k, v in overrides.items())
    readable = re.sub(r"[^A-Za-z0-9.+-]+", "-", readable).strip("-")[:48]
    digest = hashlib.sha256(canonical_json(overrides).encode()).hexdigest()[:6]
    return f"{readable}-{digest}"


def grid_path(
    media_root: Path, cue_id: str, overrides: dict[str, Any], seed: int, ext: str
) -> Path:
    """Where the grid cell `overrides` of `cue_id` at `seed` is written."""
    safe = cue_id.replace("/", "_")
    name = f"grid-{cell_slug(overrides)}-seed-{seed}{ext}"
    return state_dir(media_root) / "variations" / safe / name


@dataclass(frozen=True)
class Cell:
    """One image of a grid: its position, values, seed and job."""

    index: tuple[int, ...]  # value index per axis (x, y, z)
    overrides: dict[str, Any]
    seed: int
    job: Job


def cells_for(
    show: Show, cue_id: str, axes: Sequence[Axis], seeds: Sequence[int]
) -> tuple[list[Cell], list[Job]]:
    """(cells in sheet order, every job to run: upstream inputs first, then the cells)."""
    by_id = {c.id: c for c in show.cues}
    cue = recipe_cue(show, cue_id)
    if cue.generate.kind is MediaKind.SPLAT:
        raise GenerateError(f"cue '{cue_id}': a splat scene has no recipe fields to sweep")
    count = len(seeds)
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_CELLS:
        raise GenerateError(f"--grid: {count} images is more than {MAX_CELLS}; sweep fewer values")
    poem = next(p for p in show.poems if any(c.id == cue_id for c in p.cues))
    base = _cue_jobs(show, poem, cue, by_id, {}, sweeps=False)[-1]
    upstream = [j for j in plan_show(show, only=[cue_id], sweeps=False) if j.cue.id != cue_id]
    ext = EXTENSIONS[cue.generate.kind]
    cells: list[Cell] = []
    ranges = [range(len(a.values)) for a in axes]
    # sheet order: Z panel, then Y row, then X column, then seed
    for zyx in itertools.product(*reversed(ranges)):
        index = tuple(reversed(zyx))
        overrides = {a.field: a.values[i] for a, i in zip(axes, index, strict=True)}
        spec = apply_overrides(cue.generate, overrides)
        slug = cell_slug(overrides)
        for seed in dict.fromkeys(seeds):
            job = Job(
                key=f"{cue_id}@grid-{slug}-seed-{seed}",
                cue=cue,
                poem=poem,
                spec=spec,
                seed=seed,
                output=grid_path(show.media_root, cue_id, overrides, seed, ext),
                variation=True,
                deps=base.deps,
                sources=base.sources,
            )
            cells.append(Cell(index, overrides, seed, job))
    return cells, order_jobs(upstream + [c.job for c in cells])


def sheet_name(axes: Sequence[Axis], seeds: Sequence[int]) -> str:
    """The sheet's file stem, the same for the same grid."""
    key = canonical_json({"axes": [[a.field, list(a.values)] for a in axes], "seeds": list(seeds)})
    fields = "-".join(re.sub(r"[^A-Za-z0-9]+", "", a.field) for a in axes)
    return f"grid-{fields}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def make_grid_sheet(
    cells: Sequence[Cell],
    axes: Sequence[Axis],
    seeds: Sequence[int],
    folder: Path,
    *,
    title: str,
    thumb_width: int = 256,
) -> tuple[Path, Path]:
    """Draw the labelled sheet of a grid and write its layout; returns (png, json).

    Columns are the X values, each holding one image per seed side by side; rows are the Y
    values; Z values are panels from left to right. Cells whose file is missing (a failed
    job) are drawn as a dark box with "failed".
    """
    seeds = list(dict.fromkeys(seeds))
    nx, ny, nz = (len(axes[i].values) if i < len(axes) else 1 for i in range(3))
    thumbs: dict[Path, Image.Image] = {}
    for c in cells:
        if c.job.output.is_file():
            thumbs[c.job.output] = file_thumbnail(c.job.output, thumb_width)
    cell_h = max((t.height for t in thumbs.values()), default=thumb_width)
    pad, head, label_w = 6, 40, 150 if ny > 1 else 0
    col_head, seed_h = 26, 18
    group_w = len(seeds) * (thumb_width + pad)
    panel_w = label_w + nx * (group_w + pad)
    panel_top = head + (26 if nz > 1 else 0)
    width = pad + nz * (panel_w + pad * 3)
    height = panel_top + col_head + seed_h + ny * (cell_h + pad) + pad
    sheet = Image.new("RGB", (width, height), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 8), title, font=_font(18), fill=(235, 235, 235))
    font, small = _font(15), _font(12)
    layout: list[dict[str, Any]] = []
    for c in cells:
        ix = c.index[0] if len(c.index) > 0 else 0
        iy = c.index[1] if len(c.index) > 1 else 0
        iz = c.index[2] if len(c.index) > 2 else 0
        si = seeds.index(c.seed)
        px = pad + iz * (panel_w + pad * 3)
        x = px + label_w + ix * (group_w + pad) + si * (thumb_width + pad)
        y = panel_top + col_head + seed_h + iy * (cell_h + pad)
        thumb = thumbs.get(c.job.output)
        if thumb is not None:
            sheet.paste(thumb, (x, y))
        else:
            draw.rectangle((x, y, x + thumb_width - 1, y + cell_h - 1), fill=(60, 20, 20))
            draw.text((x + 8, y + 8), "failed", font=font, fill=(240, 160, 160))
        layout.append(
            {
                "file": c.job.output.name,
                "seed": c.seed,
                "values": {k: v for k, v in c.overrides.items()},
                "axis_index": list(c.index),
                "box": [x, y, x + thumb_width, y + cell_h],
                "ok": thumb is not None,
            }
        )
    for iz in range(nz):
        px = pad + iz * (panel_w + pad * 3)
        if nz > 1:
            draw.text(
                (px + label_w, head),
                axes[2].label(axes[2].values[iz]),
                font=font,
                fill=(255, 210, 120),
            )
        for ix in range(nx):
            gx = px + label_w + ix * (group_w + pad)
            if axes:
                draw.text(
                    (gx, panel_top + 4),
                    axes[0].label(axes[0].values[ix]),
                    font=font,
                    fill=(235, 235, 235),
                )
            for si, seed in enumerate(seeds):
                draw.text(
                    (gx + si * (thumb_width + pad), panel_top + col_head),
                    f"seed {seed}",
                    font=small,
                    fill=(170, 170, 170),
                )
        if ny > 1:
            for iy in range(ny):
                y = panel_top + col_head + seed_h + iy * (cell_h + pad)
                draw.text(
                    (px + 4, y + cell_h // 2 - 8),
                    axes[1].label(axes[1].values[iy]),
                    font=font,
                    fill=(235, 235, 235),
                )
    folder.mkdir(parents=True, exist_ok=True)
    stem = sheet_name(axes, seeds)
    png = folder / f"{stem}.png"
    with atomic_output(png) as tmp:
        sheet.save(tmp, format="PNG")
    meta = {
        "title": title,
        "axes": [
            {"name": AXIS_NAMES[i], "field": a.field, "values": list(a.values)}
            for i, a in enumerate(axes)
        ],
        "seeds": seeds,
        "thumb_width": thumb_width,
        "cell_height": cell_h,
        "size": [width, height],
        "cells": layout,
    }
    layout_path = folder / f"{stem}.json"
    write_text_atomic(layout_path, json.dumps(meta, indent=1, default=str))
    return png, layout_path
