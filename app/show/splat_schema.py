"""A splat cue's `splat:` block (its trim), read from the show file's YAML nodes.

    splat:
      crop: {box: [[x0, y0, z0], [x1, y1, z1]]}      # or {sphere: {centre: [x, y, z], radius: r}}
      min_opacity: 0.05                              # 0..1
      max_scale: 0.4                                 # scene units, > 0
      axes: rub                                      # the file's frame: rdf (default) or rub

Every problem is reported at its line (app.show.schema); an invalid block gives None.
"""

from __future__ import annotations

from typing import Any

from yaml.nodes import Node, SequenceNode

from app.show.model import SplatTrim
from app.show.schema import (
    INVALID,
    Reporter,
    block,
    choice,
    describe,
    number,
    read_fields,
)

SPLAT_KEYS = ("crop", "min_opacity", "max_scale", "axes")
CROP_KEYS = ("box", "sphere")
SPHERE_KEYS = ("centre", "radius")
_NUMBER = number()


def _vector(node: Node, rep: Reporter, name: str) -> tuple[float, float, float] | None:
    if not isinstance(node, SequenceNode) or len(node.value) != 3:
        rep.add(node, f"{name}: expected [x, y, z] (3 numbers), got {describe(node)}")
        return None
    values = [_NUMBER(v, rep, name) for v in node.value]
    if any(v is INVALID for v in values):
        return None
    return (values[0], values[1], values[2])


def _box(node: Node, rep: Reporter) -> Any:
    name = "splat.crop.box"
    if not isinstance(node, SequenceNode) or len(node.value) != 2:
        rep.add(node, f"{name}: expected [[x0, y0, z0], [x1, y1, z1]], got {describe(node)}")
        return INVALID
    lo = _vector(node.value[0], rep, name)
    hi = _vector(node.value[1], rep, name)
    if lo is None or hi is None:
        return INVALID
    if any(a >= b for a, b in zip(lo, hi, strict=True)):
        rep.add(node, f"{name}: each min corner value must be below the max one ({lo} {hi})")
        return INVALID
    return (lo, hi)


def _sphere(node: Node, rep: Reporter) -> Any:
    items = block(node, rep, "splat.crop.sphere", SPHERE_KEYS)
    if items is None:
        return INVALID
    missing = [k for k in SPHERE_KEYS if k not in items]
    if missing:
        rep.add(node, f"splat.crop.sphere: needs {' and '.join(missing)}")
        return INVALID
    centre = _vector(items["centre"][1], rep, "splat.crop.sphere.centre")
    radius = number(0, lo_open=True)(items["radius"][1], rep, "splat.crop.sphere.radius")
    if centre is None or radius is INVALID:
        return INVALID
    return (centre, radius)


def read_splat_trim(node: Node, rep: Reporter) -> SplatTrim | None:
    """The trim a `splat:` block asks for; None when it is invalid (problems reported)."""
    items = block(node, rep, "splat", SPLAT_KEYS)
    if items is None:
        return None
    values = read_fields(
        items,
        {
            "min_opacity": number(0, 1),
            "max_scale": number(0, lo_open=True),
            "axes": choice({"rdf": "rdf", "rub": "rub"}),
        },
        rep,
        prefix="splat.",
    )
    box = sphere = None
    if "crop" in items:
        crop = block(items["crop"][1], rep, "splat.crop", CROP_KEYS)
        if crop is None:
            return None
        if len([k for k in CROP_KEYS if k in crop]) != 1:
            rep.add(items["crop"][1], "splat.crop: give one of box or sphere")
            return None
        if "box" in crop:
            box = _box(crop["box"][1], rep)
        else:
            sphere = _sphere(crop["sphere"][1], rep)
        if box is INVALID or sphere is INVALID:
            return None
    bad = [k for k in ("min_opacity", "max_scale", "axes") if k in items and k not in values]
    if bad:
        return None
    return SplatTrim(
        box=box,
        sphere=sphere,
        min_opacity=values.get("min_opacity", 0.0),
        max_scale=values.get("max_scale"),
        axes=values.get("axes", "rdf"),
    )
