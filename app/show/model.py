"""The show model: frozen dataclasses built by `app.show.loader` from a YAML show file.

No GL and no torch here. Everything is resolved at load time (defaults merged, media paths
made absolute), so the rest of the program never looks at YAML again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.show.controls import GamepadSpec, KeyboardSpec, OscSpec, WebSpec

DEMO_SHOW = Path(__file__).resolve().parent.parent.parent / "show" / "demo.yaml"
"""The show `play` and `testcard` use when none is given; its media are made on first use."""

STILL_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mxf"})
SPLAT_EXTENSIONS = frozenset({".ply", ".splat", ".spz", ".sog", ".ksplat"})
SOG_META = "meta.json"  # an unbundled SOG scene is cued by its meta.json


class MediaKind(StrEnum):
    """What a cue's media file is, decided by its extension."""

    STILL = "still"
    VIDEO = "video"
    SPLAT = "splat"

    @property
    def recipe_word(self) -> str:
        """The word a `generate:` recipe uses for this kind ('image', 'video', 'splat')."""
        return "image" if self is MediaKind.STILL else self.value


RECIPE_KINDS: dict[str, MediaKind] = {k.recipe_word: k for k in MediaKind}
"""Recipe `kind:` word -> media kind."""


def media_kind_for(path: str | Path) -> MediaKind | None:
    """The media kind of a file name, or None for an unknown extension."""
    ext = Path(path).suffix.lower()
    if Path(path).name.lower() == SOG_META:
        return MediaKind.SPLAT
    if ext in STILL_EXTENSIONS:
        return MediaKind.STILL
    if ext in VIDEO_EXTENSIONS:
        return MediaKind.VIDEO
    if ext in SPLAT_EXTENSIONS:
        return MediaKind.SPLAT
    return None


class Fit(StrEnum):
    """How media of one aspect ratio fills an output of another."""

    COVER = "cover"  # fill the output, crop the overflow
    CONTAIN = "contain"  # show everything, letterbox/pillarbox with black
    STRETCH = "stretch"  # fill the output, distort


class Curve(StrEnum):
    """Crossfade curves (see app.cues.curves for the math)."""

    LINEAR = "linear"
    SMOOTH = "smooth"  # S-curve (smoothstep), the default of most cue software


@dataclass(frozen=True)
class OutputSpec:
    """The projector output: resolution and frame rate."""

    width: int = 1920
    height: int = 1080
    fps: float = 60.0


@dataclass(frozen=True)
class CameraLimits:
    """How far a performer may move a splat camera from its base view."""

    yaw: float = 8.0  # degrees either side
    pitch: float = 5.0  # degrees either side
    pan: float = 0.08  # fraction of the scene's focus distance, either side
    dolly_in: float = 0.15  # fraction of the focus distance, toward the scene
    dolly_out: float = 0.15  # fraction of the focus distance, away from the scene


@dataclass(frozen=True)
class CameraSpec:
    """Base view of a splat cue, and how it may move.

    `fov` is the vertical field of view in degrees; None means "from the file's
    intrinsics" (ml-sharp) or 60 degrees when the file has none.
    """

    yaw: float = 0.0
    pitch: float = 0.0
    dolly: float = 0.0
    pan_x: float = 0.0
    pan_y: float = 0.0
    fov: float | None = None
    limits: CameraLimits = field(default_factory=CameraLimits)
    drift: float = 0.0  # amplitude of the automatic "breathing" move, 0..1 of the limits
    drift_period: float = 20.0  # seconds per breathing cycle
    path: Path | None = None  # a recorded camera move (app.render.camera_path), absolute
    path_ref: str | None = None  # `path:` as written in the show file (for messages)


@dataclass(frozen=True)
class SplatTrim:
    """A splat cue's `splat:` trim, applied when the scene is loaded (app.media.splat_trim).

    `axes: rub` says the file stores x right, y up, z back (Niantic's SPZ frame): y and z
    are flipped on load, before the crop. A splat is kept when its centre is inside the
    crop (`box`: min and max corners, or `sphere`: centre and radius, in the drawn frame:
    the file's coordinates unless flipped), its opacity is at least
    `min_opacity` (0..1) and its largest axis (1-sigma radius) is at most `max_scale`
    (scene units; None: no limit).
    """

    box: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None
    sphere: tuple[tuple[float, float, float], float] | None = None
    min_opacity: float = 0.0
    max_scale: float | None = None
    axes: str = "rdf"  # the file's frame: "rdf" (as PLY files) or "rub" (y, z flipped on load)

    def describe(self) -> str:
        """The trim as written in a show file, short (for check's table and logs)."""
        parts = []
        if self.box is not None:
            parts.append(f"box {list(self.box[0])}..{list(self.box[1])}")
        if self.sphere is not None:
            parts.append(f"sphere {list(self.sphere[0])} r {self.sphere[1]:g}")
        if self.min_opacity > 0:
            parts.append(f"opacity >= {self.min_opacity:g}")
        if self.max_scale is not None:
            parts.append(f"scale <= {self.max_scale:g}")
        if self.axes != "rdf":
            parts.append(f"axes {self.axes}")
        return ", ".join(parts) or "none"


@dataclass(frozen=True)
class Look:
    """A cue's grade, applied by the compositor as it draws the cue (app.render.look_math).

    In order: `saturation` (0 = grey, 1 = as is), toning (luminance mapped onto `tint`, the
    colour white becomes, mixed in by `tint_amount`), `contrast` around mid-grey (1 = as is),
    `brightness` added (-1..1); then `dust` (specks and scratches), `grain` (film grain,
    strongest in the mid-tones) and `vignette` (darkened corners), each 0..1.
    """

    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    tint_amount: float = 0.0
    saturation: float = 1.0
    contrast: float = 1.0
    brightness: float = 0.0
    grain: float = 0.0
    vignette: float = 0.0
    dust: float = 0.0

    @property
    def is_identity(self) -> bool:
        """True when the look changes nothing (the compositor then takes its plain path)."""
        # with no toning the tint colour does not matter
        return replace(self, tint=_NO_LOOK.tint) == _NO_LOOK


_NO_LOOK = Look()

# The paper's three aesthetics and a plain sepia; `none` cancels a look set higher up.
LOOK_PRESETS: dict[str, Look] = {
    "sepia": Look(tint=(1.0, 0.84, 0.62), tint_amount=1.0),
    "daguerreotype": Look(
        tint=(0.95, 0.88, 0.76),
        tint_amount=1.0,
        contrast=1.15,
        brightness=0.02,
        grain=0.25,
        vignette=0.55,
        dust=0.5,
    ),
    "expressionist": Look(saturation=0.7, contrast=1.5, brightness=-0.04, vignette=0.35, grain=0.1),
    "contemporary": Look(saturation=1.1, contrast=1.05),
    "none": _NO_LOOK,
}


@dataclass(frozen=True)
class GenerateSpec:
    """How the offline module makes a cue's media (the cue's `generate:` block).

    Show- and part-level defaults are already merged in by the loader. `source` names another
    cue id whose output feeds this one (image -> video, image -> splat); `last_from` a cue
    whose output is the last frame of an image-to-video job.
    """

    kind: MediaKind
    model: str | None = None
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    seeds: tuple[int, ...] = ()  # a sweep; empty means just `seed`
    steps: int = 30
    guidance: float = 5.0
    width: int = 1280
    height: int = 720
    scheduler: str | None = None
    refine: dict[str, Any] | None = None  # img2img "hires fix": {scale, strength, steps}
    upscale: float | dict[str, Any] | None = None  # a factor (Lanczos) or {model, scale, ...}
    source: str | None = None  # `from:` in YAML
    last_from: str | None = None
    frames: int = 49
    fps: float = 16.0
    extra: dict[str, Any] = field(default_factory=dict)  # passed through to the pipeline
    loras: tuple[tuple[str, float], ...] = ()  # (registry name, weight)
    edit: dict[str, Any] | None = None  # an instruction edit after the still's chain
    mode: str = "generate"  # "edit": a still made by editing the `from:` cue's image
    workflow: str | None = None  # a ComfyUI API-format graph, relative to the show file
    bind: dict[str, Any] = field(default_factory=dict)  # cue field -> "node.input" (workflow)


@dataclass(frozen=True)
class FollowSpec:
    """A cue's `follow:`: once it is fired, the next cue fires by itself (QLab's
    auto-continue). `after` seconds once the cue's fade has completed, or, with `on_end`,
    when its video reaches its end (the end of its first pass when it loops; never before
    the fade has completed)."""

    after: float = 0.0
    on_end: bool = False

    def describe(self) -> str:
        """The spec as written in a show file ('after 2 s', 'on end')."""
        return "on end" if self.on_end else f"after {self.after:g} s"


@dataclass(frozen=True)
class Cue:
    """One entry of a poem: one media file and how it plays."""

    id: str
    poem_id: str
    media: Path  # absolute, resolved against the show's media root
    media_ref: str  # as written in the show file (for messages)
    kind: MediaKind
    fade: float = 1.5  # seconds to crossfade in; 0 = cut
    curve: Curve = Curve.SMOOTH
    opacity: float = 1.0
    fit: Fit = Fit.COVER
    layer: int = 1  # a GO replaces what is in this layer; higher layers draw on top
    rate: float = 1.0  # video playback speed
    loop: bool = True
    start: float = 0.0  # seconds into the video
    end: float | None = None  # seconds into the video; None = the clip's end
    camera: CameraSpec | None = None  # splat cues only
    generate: GenerateSpec | None = None
    line: int = 0  # line of the cue in the show file, for messages
    look: Look | None = None  # part, poem and cue `look:` merged; None = drawn as it is
    notes: str = ""  # the performer's reminder ("on the flute's entry, bar 23")
    follow: FollowSpec | None = None  # fire the next cue by itself
    splat: SplatTrim | None = None  # splat cues only: what of the scene is kept


@dataclass(frozen=True)
class Poem:
    """A poem of the concert: an ordered list of cues."""

    id: str
    title: str
    part: int
    cues: tuple[Cue, ...]
    line: int = 0
    notes: str = ""  # the performer's reminder for the whole poem


@dataclass(frozen=True)
class Defaults:
    """Show-level defaults for cue settings."""

    fade: float = 1.5
    curve: Curve = Curve.SMOOTH
    fit: Fit = Fit.COVER
    opacity: float = 1.0
    loop: bool = True
    rate: float = 1.0
    blackout_fade: float = 0.0  # seconds; 0 = blackout cuts at once
    panic_fade: float = 2.0  # seconds for PANIC to fade everything to black
    go_guard: float = 0.25  # minimum seconds between two GOs (double-GO guard)


@dataclass(frozen=True)
class Show:
    """A whole show: output settings, defaults and the poems in order."""

    title: str
    path: Path  # the show file
    media_root: Path
    output: OutputSpec
    defaults: Defaults
    poems: tuple[Poem, ...]
    osc: OscSpec = field(default_factory=OscSpec)  # `osc:` (port, bind address, access)
    gamepad: GamepadSpec = field(default_factory=GamepadSpec)  # `gamepad:` overrides
    keyboard: KeyboardSpec = field(default_factory=KeyboardSpec)  # `keyboard:` overrides
    web: WebSpec = field(default_factory=WebSpec)  # `web:` (the console's address, tokens)
    reference: Path | None = None  # `reference:` the recording to rehearse against

    @property
    def cues(self) -> tuple[Cue, ...]:
        """All cues of the show in playing order (poem by poem)."""
        return tuple(c for p in self.poems for c in p.cues)

    def cue_index(self, poem_id: str, cue_id: str | None = None) -> int | None:
        """Flat index of a cue (or of a poem's first cue), or None if there is none."""
        i = 0
        for p in self.poems:
            if p.id == poem_id:
                if cue_id is None:
                    return i if p.cues else None
                for j, c in enumerate(p.cues):
                    if c.id == cue_id:
                        return i + j
                return None
            i += len(p.cues)
        return None

    def find_cue(self, cue_id: str) -> int | None:
        """Flat index of a cue by its (show-unique) id."""
        for i, c in enumerate(self.cues):
            if c.id == cue_id:
                return i
        return None
