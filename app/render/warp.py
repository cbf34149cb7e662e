"""Four-corner warp (keystone) of the projector output, the per-venue file, and its editor.

Pure math, no GL. Coordinates are normalised, x to the right and y down, (0, 0) the top-left
corner: the show image is the unit square (u, v) and the output surface (the window or the
projector raster) is the unit square (x, y). A `Warp` holds where the show's four corners
land on the output, in the order top-left, top-right, bottom-right, bottom-left (corner 1-4
of the editor). The mapping is the homography that sends the unit square's corners there,
so straight lines stay straight and the picture is perspective-correct; the shader
(`shaders/warp.glsl`) applies its inverse per output pixel.

The venue file (`venue.yaml`, by default next to the show) keeps a venue's set-up:

```yaml
output: {monitor: 1, corners: [[0, 0], [1, 0], [1, 1], [0, 1]]}
operator: {monitor: 0}
```

`monitor` is an index or a substring of the monitor's name; it may be left out. The file is
written atomically (a temporary file renamed into place), so a crash while saving never
leaves a half-written set-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from yaml.nodes import Node, ScalarNode

from app.atomic import write_text_atomic
from app.show.schema import (
    INVALID,
    Reporter,
    block,
    compose_file,
    construct,
    describe,
    is_null,
    read_fields,
)

Corner = tuple[float, float]
Corners = tuple[Corner, Corner, Corner, Corner]
Monitor = int | str | None

UNIT_SQUARE: Corners = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
CORNER_NAMES = ("top-left", "top-right", "bottom-right", "bottom-left")
VENUE_FILE = "venue.yaml"


class WarpError(ValueError):
    """Corners that do not make a usable warp (not four finite points of a convex quad)."""


class VenueError(ValueError):
    """A venue file that cannot be read; the message names the file and every problem."""


def homography_between(
    src: Sequence[Sequence[float]], dst: Sequence[Sequence[float]]
) -> np.ndarray:
    """The 3x3 homography H (H[2, 2] = 1) with H @ (x, y, 1) ~ (x', y', 1) for 4 point pairs."""
    a = np.zeros((8, 8))
    b = np.zeros(8)
    for i, ((x, y), (xp, yp)) in enumerate(zip(src, dst, strict=True)):
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -x * xp, -y * xp]
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -x * yp, -y * yp]
        b[2 * i], b[2 * i + 1] = xp, yp
    try:
        h = np.linalg.solve(a, b)
    except np.linalg.LinAlgError as exc:
        raise WarpError("degenerate corners: three of them are on one line") from exc
    return np.append(h, 1.0).reshape(3, 3)


def homography(corners: Sequence[Sequence[float]]) -> np.ndarray:
    """The homography from the unit square to `corners` (TL, TR, BR, BL)."""
    return homography_between(UNIT_SQUARE, corners)


def apply_homography(matrix: np.ndarray, points: np.ndarray | Sequence[float]) -> np.ndarray:
    """Map (..., 2) points through a 3x3 homography; NaN where a point maps to infinity or
    behind the projection (w <= 0)."""
    p = np.asarray(points, dtype=np.float64)
    q = p @ matrix[:, :2].T + matrix[:, 2]
    w = q[..., 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(w > 1e-12, q[..., :2] / w, np.nan)


def _check_corners(corners: Any) -> Corners:
    try:
        points = tuple((float(x), float(y)) for x, y in corners)
    except (TypeError, ValueError) as exc:
        raise WarpError(f"corners must be four [x, y] pairs of numbers, got {corners!r}") from exc
    if len(points) != 4:
        raise WarpError(f"corners must be four [x, y] pairs, got {len(points)}")
    if not all(math.isfinite(c) for p in points for c in p):
        raise WarpError(f"corners must be finite numbers, got {points!r}")
    # convex and not folded: every turn along TL, TR, BR, BL goes the same way (either way:
    # a mirrored quad is a rear projection)
    turns = []
    for i in range(4):
        (x0, y0), (x1, y1), (x2, y2) = points[i], points[(i + 1) % 4], points[(i + 2) % 4]
        turns.append((x1 - x0) * (y2 - y1) - (y1 - y0) * (x2 - x1))
    if not (all(t > 1e-9 for t in turns) or all(t < -1e-9 for t in turns)):
        raise WarpError(
            "corners must make a convex quad in the order top-left, top-right, bottom-right, "
            f"bottom-left, got {points!r}"
        )
    return points  # type: ignore[return-value]


@dataclass(frozen=True)
class Warp:
    """Where the show's corners land on the output: TL, TR, BR, BL in normalised output
    coordinates (y down). Validated on construction (`WarpError`)."""

    corners: Corners = UNIT_SQUARE

    def __post_init__(self) -> None:
        object.__setattr__(self, "corners", _check_corners(self.corners))

    @classmethod
    def identity(cls) -> Warp:
        """The show fills the output."""
        return cls(UNIT_SQUARE)

    @property
    def is_identity(self) -> bool:
        return self.corners == UNIT_SQUARE

    @property
    def matrix(self) -> np.ndarray:
        """Homography from show (u, v) to output (x, y), normalised."""
        return homography(self.corners)

    @property
    def inverse(self) -> np.ndarray:
        """Homography from output (x, y) back to show (u, v), scaled so that [2, 2] = 1."""
        inv = np.linalg.inv(self.matrix)
        return inv / inv[2, 2]

    def to_output(self, uv: np.ndarray | Sequence[float]) -> np.ndarray:
        """Show points (..., 2) -> output points (..., 2)."""
        return apply_homography(self.matrix, uv)

    def to_source(self, xy: np.ndarray | Sequence[float]) -> np.ndarray:
        """Output points (..., 2) -> the show points drawn there (outside [0, 1]: black)."""
        return apply_homography(self.inverse, xy)

    def moved(self, index: int, dx: float, dy: float) -> Warp:
        """This warp with corner `index` (0-3) moved by (dx, dy); `WarpError` if that would
        fold the quad."""
        corners = list(self.corners)
        x, y = corners[index]
        corners[index] = (x + dx, y + dy)
        return Warp(tuple(corners))  # type: ignore[arg-type]


# --- the venue file ---------------------------------------------------------------------


@dataclass(frozen=True)
class Venue:
    """A venue's set-up: the output's warp and monitor, and the operator window's monitor."""

    warp: Warp = field(default_factory=Warp.identity)
    output_monitor: Monitor = None
    operator_monitor: Monitor = None


def parse_monitor(value: Any) -> Monitor:
    """A monitor as given on the command line or in a file: an index ('1' -> 1), a name
    substring, or None."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return int(text) if text.isdigit() else text
    raise ValueError(f"a monitor is an index or a name, got {value!r}")


def default_venue_path(show_path: str | Path) -> Path:
    """`venue.yaml` next to the show file."""
    return Path(show_path).resolve().parent / VENUE_FILE


def _monitor(node: Node, rep: Reporter, name: str) -> Any:
    """A venue file's monitor (schema converter): an index, a name substring, or empty."""
    try:
        if not isinstance(node, ScalarNode):
            raise ValueError
        return parse_monitor(construct(node))
    except (ValueError, yaml.YAMLError):
        rep.add(node, f"{name}: expected a monitor index or a name, got {describe(node)}")
        return INVALID


def _corners(node: Node, rep: Reporter, name: str) -> Any:
    """A venue file's output corners (schema converter) -> a Warp."""
    try:
        return Warp(construct(node))
    except (WarpError, yaml.YAMLError) as exc:
        rep.add(node, f"{name}: {exc}")
        return INVALID


_SECTIONS = {
    "output": {"monitor": _monitor, "corners": _corners},
    "operator": {"monitor": _monitor},
}


def load_venue(path: str | Path, *, missing_ok: bool = False) -> Venue:
    """Read a venue file. A missing file is an error unless `missing_ok` (then: defaults).

    `VenueError` lists every problem, one `file:line: message` a line (app/show/schema.py).
    """
    path = Path(path)
    if not path.exists():
        if missing_ok:
            return Venue()
        raise VenueError(f"{path}: no such venue file")
    rep = Reporter(path)
    root = compose_file(path, rep, "the venue file")
    items = block(root, rep, "the venue file", _SECTIONS) if root is not None else None
    values: dict[str, dict[str, Any]] = {"output": {}, "operator": {}}
    if items is not None:
        for name, spec in _SECTIONS.items():
            if name in items and not is_null(items[name][1]):
                section = block(items[name][1], rep, name, spec)
                if section is not None:
                    values[name] = read_fields(section, spec, rep, prefix=f"{name}.")
    if rep.problems:
        raise VenueError("\n".join(str(p) for p in rep.problems))
    output, operator = values["output"], values["operator"]
    return Venue(
        output.get("corners", Warp.identity()), output.get("monitor"), operator.get("monitor")
    )


def venue_to_dict(venue: Venue) -> dict[str, Any]:
    """The venue as the plain data written to the file."""
    output: dict[str, Any] = {}
    if venue.output_monitor is not None:
        output["monitor"] = venue.output_monitor
    output["corners"] = [[round(x, 6), round(y, 6)] for x, y in venue.warp.corners]
    data: dict[str, Any] = {"output": output}
    if venue.operator_monitor is not None:
        data["operator"] = {"monitor": venue.operator_monitor}
    return data


def save_venue(path: str | Path, venue: Venue) -> None:
    """Write the venue file atomically (temporary file in the same folder, then rename)."""
    body = yaml.safe_dump(venue_to_dict(venue), default_flow_style=None, sort_keys=False)
    text = "# venue set-up: output warp corners TL, TR, BR, BL (normalised, y down)\n" + body
    write_text_atomic(Path(path), text)


# --- keyboard adjustment ----------------------------------------------------------------

EditOutcome = Literal["select", "deselect", "nudge", "refused", "reset", "save"]

_ARROWS = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
_SELECT = {"1": 0, "2": 1, "3": 2, "4": 3, "f1": 0, "f2": 1, "f3": 2, "f4": 3}


@dataclass
class WarpEditor:
    """Keyboard adjustment of a warp: a pure state machine over key events.

    - `1`-`4` or `F1`-`F4` select a corner (TL, TR, BR, BL), the same key again deselects
      it; `F1`-`F4` only when `function_keys_only` (the show keeps 1-4 and plain arrows);
    - arrows move the selected corner by one output pixel (`width` x `height`), ten with
      `coarse_mod` held; when `nudge_mod` is set, arrows act only with it held;
    - `F5` asks to save (the caller writes the venue file), `F8` puts the selected corner
      back where the identity warp has it.

    `handle(event)` takes anything with `key`, `action` and `mods` and returns what it did,
    or None for a key that is not the editor's (pass it on). A nudge that would fold the
    quad is refused and leaves the warp as it was.
    """

    warp: Warp = field(default_factory=Warp.identity)
    width: int = 1920
    height: int = 1080
    nudge_mod: str | None = None
    coarse_mod: str = "shift"
    function_keys_only: bool = False
    coarse_step: int = 10
    selected: int | None = None

    def handle(self, event: Any) -> EditOutcome | None:
        if getattr(event, "action", "press") == "release":
            return None
        key = event.key
        mods = set(getattr(event, "mods", ()) or ())
        repeat = getattr(event, "action", "press") == "repeat"
        if key in _SELECT and not repeat:
            if self.function_keys_only and not key.startswith("f"):
                return None
            if mods - {"shift"}:
                return None
            if self.selected == _SELECT[key]:
                self.selected = None
                return "deselect"
            self.selected = _SELECT[key]
            return "select"
        if key == "f5" and not repeat:
            return "save"
        if key == "f8" and not repeat and self.selected is not None:
            return self._set(self.selected, UNIT_SQUARE[self.selected], "reset")
        if key in _ARROWS and self.selected is not None:
            if self.nudge_mod is not None and self.nudge_mod not in mods:
                return None
            extra = mods - {self.nudge_mod, self.coarse_mod}
            if extra:
                return None
            step = self.coarse_step if self.coarse_mod in mods else 1
            dx, dy = _ARROWS[key]
            x, y = self.warp.corners[self.selected]
            target = (x + dx * step / self.width, y + dy * step / self.height)
            return self._set(self.selected, target, "nudge")
        return None

    def _set(self, index: int, point: Corner, outcome: EditOutcome) -> EditOutcome:
        corners = list(self.warp.corners)
        corners[index] = point
        try:
            self.warp = replace(self.warp, corners=tuple(corners))
        except WarpError:
            return "refused"
        return outcome

    def describe(self) -> str:
        """A status line: the selected corner and where all four are."""
        sel = CORNER_NAMES[self.selected] if self.selected is not None else "no corner"
        pts = " ".join(f"({x:.4f},{y:.4f})" for x, y in self.warp.corners)
        return f"warp: {sel} selected | {pts}"
