"""Load a show file (YAML) into the frozen show model, reporting every problem at once.

`load_show(path)` returns a `Show` or raises `ShowError`, whose `problems` are
`path:line: message` lines, all of them, in line order; never a traceback for bad content.

The schema (every key, type, range and default) is docs/show-file.md; keep the two together.

Missing media files are errors unless `allow_missing=True` (the generator loads a show
before its media exist; `check` probes the files itself). A cue with a `generate:` recipe
whose file is missing is still an error for playing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app import safe_yaml
from app.show import recipe_steps
from app.show.controls import (
    GamepadSpec,
    KeyboardSpec,
    OscSpec,
    WebSpec,
    read_gamepad,
    read_keyboard,
    read_osc,
    read_web,
)
from app.show.model import (
    LOOK_PRESETS,
    RECIPE_KINDS,
    SPLAT_EXTENSIONS,
    STILL_EXTENSIONS,
    VIDEO_EXTENSIONS,
    CameraLimits,
    CameraSpec,
    Cue,
    Curve,
    Defaults,
    Fit,
    FollowSpec,
    GenerateSpec,
    Look,
    MediaKind,
    OutputSpec,
    Poem,
    Show,
    SplatTrim,
    media_kind_for,
)
from app.show.schema import (
    INVALID,
    STR_TAG,
    Converter,
    Items,
    Problem,
    Reporter,
    ShowError,
    block,
    boolean,
    choice,
    describe,
    enum_choice,
    identifier,
    integer,
    line_of,
    mapping,
    number,
    raw_mapping,
    read_fields,
    string,
    suggest,
)
from app.show.splat_schema import read_splat_trim

__all__ = ["Problem", "ShowError", "load_show", "media_file_problem", "RECIPE_KINDS"]

SHOW_KEYS = (
    "title",
    "media_root",
    "output",
    "defaults",
    "parts",
    "generate",
    "osc",
    "gamepad",
    "keyboard",
    "web",
    "reference",
    "poems",
)
PART_KEYS = ("generate", "look")
POEM_KEYS = ("id", "title", "part", "cues", "generate", "look", "notes")
CUE_KEYS = (
    "id",
    "media",
    "fade",
    "curve",
    "opacity",
    "fit",
    "layer",
    "rate",
    "loop",
    "start",
    "end",
    "camera",
    "generate",
    "look",
    "notes",
    "follow",
    "splat",
)
VIDEO_ONLY_KEYS = ("rate", "loop", "start", "end")

_RECIPE_WORD = {kind: word for word, kind in RECIPE_KINDS.items()}

_FADE = number(0)
_RATE = number(0, lo_open=True)

OUTPUT_SPEC: dict[str, Converter] = {
    "width": integer(1),
    "height": integer(1),
    "fps": number(0, lo_open=True),
}
DEFAULTS_SPEC: dict[str, Converter] = {
    "fade": _FADE,
    "curve": enum_choice(Curve),
    "fit": enum_choice(Fit),
    "opacity": number(0, 1),
    "loop": boolean(),
    "rate": _RATE,
    "blackout_fade": number(0),
    "panic_fade": number(0),
    "go_guard": number(0),
}
CUE_SPEC: dict[str, Converter] = {
    "fade": _FADE,
    "curve": enum_choice(Curve),
    "opacity": number(0, 1),
    "fit": enum_choice(Fit),
    "layer": integer(1),
    "rate": _RATE,
    "loop": boolean(),
    "start": number(0),
    "end": number(0, lo_open=True, nullable=True),
    "notes": string(),
}
CAMERA_SPEC: dict[str, Converter] = {
    "yaw": number(),
    "pitch": number(-90, 90),
    "dolly": number(),
    "pan_x": number(),
    "pan_y": number(),
    "fov": number(1, 179, nullable=True),
    "drift": number(0, 1),
    "drift_period": number(0, lo_open=True),
}
LIMITS_SPEC: dict[str, Converter] = {
    "yaw": number(0, 180),
    "pitch": number(0, 90),
    "pan": number(0),
    "dolly_in": number(0),
    "dolly_out": number(0),
}
REFINE_SPEC: dict[str, Converter] = {
    "scale": number(1),
    "strength": number(0, 1, lo_open=True),
    "steps": integer(1),
    "guidance": number(0),
}
SEEDS_RANGE_SPEC: dict[str, Converter] = {"from": integer(0), "count": integer(1)}
FOLLOW_KEYS = ("after", "on")
FOLLOW_ON = ("end",)


def _follow(node: Node, rep: Reporter, kind: MediaKind | None) -> FollowSpec | None:
    """A cue's `follow:`: {after: SECONDS} or {on: end} (videos only) -> FollowSpec."""
    items = block(node, rep, "follow", FOLLOW_KEYS)
    if items is None:
        return None
    if ("after" in items) == ("on" in items):
        if "after" in items or all(k in FOLLOW_KEYS for k in items):  # else: did you mean
            rep.add(node, "follow: write either `after: SECONDS` or `on: end`")
        return None
    if "after" in items:
        after = number(0)(items["after"][1], rep, "follow.after")
        return None if after is INVALID else FollowSpec(after=after)
    vnode = items["on"][1]
    word = vnode.value if isinstance(vnode, ScalarNode) and vnode.tag == STR_TAG else None
    if word not in FOLLOW_ON:
        close = suggest(word, FOLLOW_ON) if word else None
        hint = f" (did you mean '{close}'?)" if close else ""
        rep.add(
            vnode, f"follow.on: expected end (when the video ends), got {describe(vnode)}{hint}"
        )
        return None
    if kind is not None and kind is not MediaKind.VIDEO:
        rep.add(
            items["on"][0], f"follow.on: end applies to videos only (this cue is a {kind.value})"
        )
        return None
    return FollowSpec(on_end=True)


def _seeds(node: Node, rep: Reporter, name: str) -> Any:
    """A seed sweep: a list of integers >= 0, or {from: a, count: n} -> tuple of ints."""
    if isinstance(node, SequenceNode):
        seed = integer(0)
        values = [seed(item, rep, name) for item in node.value]
        if not values:
            rep.add(node, f"{name}: expected at least one seed, got an empty list")
        return INVALID if not values or INVALID in values else tuple(values)
    if isinstance(node, MappingNode):
        items = block(node, rep, name, SEEDS_RANGE_SPEC)
        if items is None:
            return INVALID
        values = read_fields(items, SEEDS_RANGE_SPEC, rep, prefix=f"{name}.")
        missing = [k for k in SEEDS_RANGE_SPEC if k not in items]
        if missing:
            rep.add(node, f"{name}: a seed range needs 'from' and 'count'")
        if missing or len(values) < len(SEEDS_RANGE_SPEC):
            return INVALID
        return tuple(range(values["from"], values["from"] + values["count"]))
    rep.add(
        node,
        f"{name}: expected a list of seeds or {{from: first seed, count: n}}, got {describe(node)}",
    )
    return INVALID


def _refine(node: Node, rep: Reporter, name: str) -> Any:
    """img2img refine settings: a mapping whose known keys are checked -> dict."""
    raw = raw_mapping(nullable=True)(node, rep, name)
    if raw is None or raw is INVALID:
        return raw
    items = mapping(node, rep, name)
    if items is None:
        return INVALID
    checked = read_fields(items, REFINE_SPEC, rep, prefix=f"{name}.")
    if any(k in items and k not in checked for k in REFINE_SPEC):
        return INVALID
    return {**raw, **checked}


RECIPE_SPEC: dict[str, Converter] = {
    "kind": choice({**RECIPE_KINDS, recipe_steps.EDIT_MODE: recipe_steps.EDIT_MODE}),
    "model": string(nullable=True),
    "prompt": string(),
    "negative_prompt": string(),
    "seed": integer(0),
    "seeds": _seeds,
    "steps": integer(1),
    "guidance": number(0),
    "width": integer(1, multiple_of=8),
    "height": integer(1, multiple_of=8),
    "scheduler": string(nullable=True),
    "refine": _refine,
    "upscale": recipe_steps.upscale,
    "loras": recipe_steps.loras,
    "edit": recipe_steps.edit,
    "from": identifier(nullable=True),
    "last_from": identifier(nullable=True),
    "frames": integer(1),
    "fps": number(0, lo_open=True),
    "extra": raw_mapping(),
    "workflow": string(nullable=True),
    "bind": raw_mapping(),
}
_MERGED_BY_KEY = ("refine", "extra")


def _preset(node: Node, rep: Reporter, name: str) -> Any:
    """A look preset's name -> the preset's settings (every key of `Look`)."""
    if not (isinstance(node, ScalarNode) and node.tag == STR_TAG):
        rep.add(node, f"{name}: expected a preset name, got {describe(node)}")
        return INVALID
    look = LOOK_PRESETS.get(node.value)
    if look is None:
        close = suggest(node.value, LOOK_PRESETS)
        hint = (
            f"did you mean '{close}'?" if close else f"expected one of: {', '.join(LOOK_PRESETS)}"
        )
        rep.add(node, f"{name}: unknown preset {describe(node)}, {hint}")
        return INVALID
    return {f.name: getattr(look, f.name) for f in fields(Look)}


_TINT_EXPECTED = "expected a colour, [r, g, b] from 0 to 1 or '#rrggbb'"


def _tint(node: Node, rep: Reporter, name: str) -> Any:
    """A colour: [r, g, b] each 0..1, or '#rrggbb' -> (r, g, b) floats."""
    if isinstance(node, ScalarNode) and node.tag == STR_TAG:
        text = node.value.strip()
        if len(text) == 7 and text[0] == "#":
            try:
                return tuple(int(text[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
            except ValueError:
                pass
    elif isinstance(node, SequenceNode) and len(node.value) == 3:
        channel = number(0, 1)
        values = [channel(item, rep, name) for item in node.value]
        return INVALID if INVALID in values else tuple(values)
    rep.add(node, f"{name}: {_TINT_EXPECTED}, got {describe(node)}")
    return INVALID


LOOK_SPEC: dict[str, Converter] = {
    "preset": _preset,
    "tint": _tint,
    "tint_amount": number(0, 1),
    "saturation": number(0),
    "contrast": number(0),
    "brightness": number(-1, 1),
    "grain": number(0, 1),
    "vignette": number(0, 1),
    "dust": number(0, 1),
}


@dataclass(frozen=True)
class _Setting:
    """A recipe value with the node it was written at."""

    value: Any
    node: Node


def _edit_mode(merged: dict[str, _Setting], rep: Reporter) -> str:
    """'edit' for a `kind: edit` recipe (whose kind becomes image), else 'generate'."""
    if "kind" not in merged or merged["kind"].value != recipe_steps.EDIT_MODE:
        return "generate"
    node = merged["kind"].node
    merged["kind"] = _Setting(MediaKind.STILL, node)
    if "from" not in merged or merged["from"].value is None:
        rep.add(node, "generate.kind edit: needs `from:` (the cue whose image is edited)")
    return recipe_steps.EDIT_MODE


Recipe = dict[str, _Setting]


@dataclass
class _CueDraft:
    """What was read of a cue before the whole show is known."""

    id: str
    poem_id: str
    part: int
    line: int
    media_ref: str | None
    media: Path | None
    kind: MediaKind | None
    settings: dict[str, Any]
    camera: CameraSpec | None
    own_recipe: Recipe | None  # None: the cue has no `generate:` key
    poem_recipe: Recipe
    generate_node: Node | None
    generate: GenerateSpec | None = None
    look: Look | None = None
    follow: FollowSpec | None = None
    follow_line: int = 0
    splat: SplatTrim | None = None

    def build(self, defaults: Defaults) -> Cue:
        """The finished cue (only called when the show has no problems)."""
        assert self.media is not None and self.media_ref is not None and self.kind is not None
        s = self.settings
        return Cue(
            id=self.id,
            poem_id=self.poem_id,
            media=self.media,
            media_ref=self.media_ref,
            kind=self.kind,
            fade=s.get("fade", defaults.fade),
            curve=s.get("curve", defaults.curve),
            opacity=s.get("opacity", defaults.opacity),
            fit=s.get("fit", defaults.fit),
            layer=s.get("layer", 1),
            rate=s.get("rate", defaults.rate),
            loop=s.get("loop", defaults.loop),
            start=s.get("start", 0.0),
            end=s.get("end"),
            camera=self.camera,
            generate=self.generate,
            line=self.line,
            look=self.look,
            notes=s.get("notes", ""),
            follow=self.follow,
            splat=self.splat,
        )


@dataclass
class _PoemDraft:
    """A poem as read, its cues still drafts."""

    id: str
    title: str
    part: int
    line: int
    cues: list[_CueDraft]
    notes: str = ""


def media_file_problem(cue_id: str, media_ref: str, media: Path, *, has_recipe: bool) -> str | None:
    """The message for a cue whose media file is not there, or None when the file exists.

    Shared with `check` so that `play` and `check` word the same problem the same way.
    """
    if media.is_file():
        return None
    if media.is_dir():
        return f"cue '{cue_id}': media is a folder, not a file: {media}"
    looked = "" if Path(media_ref).expanduser().is_absolute() else f" (looked for {media})"
    message = f"cue '{cue_id}': media file not found: {media_ref}{looked}"
    if has_recipe:
        message += "; it has a generate: recipe, make it with `python -m app generate`"
    return message


def load_show(path: str | Path, *, allow_missing: bool = False) -> Show:
    """Read and validate a show file.

    Raises `ShowError` listing every problem found (YAML syntax, unknown keys, wrong types,
    out-of-range values, duplicate ids, bad recipes, and missing media files unless
    `allow_missing`). Never returns a half-loaded show.
    """
    path = Path(path)
    rep = Reporter(path)

    def fail(line: int, message: str) -> ShowError:
        return ShowError([Problem(path, line, message)])

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise fail(1, f"cannot read the show file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise fail(1, f"the show file is not UTF-8 text: {e.reason}") from None
    try:
        root = safe_yaml.compose(text)
    except safe_yaml.YamlLimitError as e:
        mark = e.problem_mark
        raise fail(mark.line + 1 if mark else 1, f"YAML refused: {e.problem}") from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise fail(mark.line + 1 if mark else 1, f"YAML syntax error: {e.problem}") from None
    except yaml.YAMLError as e:
        raise fail(1, f"YAML syntax error: {e}") from None
    if root is None:
        raise fail(1, "the show file is empty, expected a mapping with 'poems'")
    show = _ShowReader(path, rep, allow_missing).read(root)
    if rep.problems or show is None:
        raise ShowError(rep.problems)
    return show


class _ShowReader:
    """One pass over a composed show file; problems go to the reporter."""

    def __init__(self, path: Path, rep: Reporter, allow_missing: bool) -> None:
        self.path = path
        self.rep = rep
        self.allow_missing = allow_missing
        self.show_dir = path.absolute().parent
        self.media_root = (self.show_dir.parent / "media").resolve()
        self.defaults = Defaults()
        self.show_recipe: Recipe = {}
        self.part_recipes: dict[int, Recipe] = {}
        self.part_looks: dict[int, dict[str, Any]] = {}
        self.cues: list[_CueDraft] = []
        self.cue_first_line: dict[str, int] = {}

    def read(self, root: Node) -> Show | None:
        """Read the whole show; returns None when its top level is unusable."""
        rep = self.rep
        top = block(root, rep, "show file", SHOW_KEYS, where="the show")
        if top is None:
            return None
        values = read_fields(
            top,
            {
                "title": string(),
                "media_root": string(),
                "reference": string(),
            },
            rep,
        )
        reference = None
        if "reference" in values:  # the rehearsal recording (play --reference)
            reference = (self.show_dir / Path(values["reference"]).expanduser()).resolve()
            if not self.allow_missing and not reference.is_file():
                rep.add(top["reference"][1], f"reference: recording not found: {reference}")
        if "media_root" in values:
            root_dir = (self.show_dir / Path(values["media_root"]).expanduser()).resolve()
            self.media_root = root_dir
            if not self.allow_missing and not root_dir.is_dir():
                rep.add(top["media_root"][1], f"media_root: folder not found: {root_dir}")
        output = OutputSpec(**self._block(top, "output", OUTPUT_SPEC))
        osc = read_osc(top["osc"][1], rep) if "osc" in top else OscSpec()
        gamepad = read_gamepad(top["gamepad"][1], rep) if "gamepad" in top else GamepadSpec()
        keyboard = read_keyboard(top["keyboard"][1], rep) if "keyboard" in top else KeyboardSpec()
        web = read_web(top["web"][1], rep) if "web" in top else WebSpec()
        self.defaults = Defaults(**self._block(top, "defaults", DEFAULTS_SPEC))
        if "generate" in top:
            self.show_recipe = self._recipe(top["generate"][1]) or {}
        if "parts" in top:
            self._parts(top["parts"][1])
        poems = self._poems(top)
        self._link_recipes()
        if not self.allow_missing:
            self._check_media()
        if rep.problems:
            return None
        return Show(
            title=values.get("title", self.path.stem),
            path=self.path.resolve(),
            media_root=self.media_root,
            output=output,
            defaults=self.defaults,
            poems=tuple(
                Poem(
                    id=p.id,
                    title=p.title,
                    part=p.part,
                    cues=tuple(c.build(self.defaults) for c in p.cues),
                    line=p.line,
                    notes=p.notes,
                )
                for p in poems
            ),
            osc=osc,
            gamepad=gamepad,
            reference=reference,
            keyboard=keyboard,
            web=web,
        )

    def _block(self, top: Items, key: str, spec: dict[str, Converter]) -> dict[str, Any]:
        """Read a flat settings mapping such as `output:` or `defaults:`."""
        if key not in top:
            return {}
        items = block(top[key][1], self.rep, key, spec)
        if items is None:
            return {}
        return read_fields(items, spec, self.rep, prefix=f"{key}.")

    def _parts(self, node: Node) -> None:
        items = mapping(node, self.rep, "parts")
        if items is None:
            return
        for key, (knode, vnode) in items.items():
            if not key.isdigit() or int(key) < 1:
                self.rep.add(
                    knode, f"parts: expected part numbers (1, 2, ...), got {describe(knode)}"
                )
                continue
            part_items = block(vnode, self.rep, f"part {key}", PART_KEYS)
            if part_items is None:
                continue
            if "generate" in part_items:
                recipe = self._recipe(part_items["generate"][1])
                if recipe is not None:
                    self.part_recipes[int(key)] = recipe
            if "look" in part_items:
                self.part_looks[int(key)] = self._look(part_items["look"][1])

    def _poems(self, top: Items) -> list[_PoemDraft]:
        rep = self.rep
        if "poems" not in top:
            rep.add(1, "missing 'poems' (the list of poems, each with its cues)")
            return []
        node = top["poems"][1]
        if not isinstance(node, SequenceNode):
            rep.add(node, f"poems: expected a list of poems, got {describe(node)}")
            return []
        poems: list[_PoemDraft] = []
        first_line: dict[str, int] = {}
        for pnode in node.value:
            poem = self._poem(pnode)
            if poem is None:
                continue
            if poem.id in first_line:
                rep.add(
                    poem.line,
                    f"duplicate poem id '{poem.id}' (first defined at line {first_line[poem.id]})",
                )
            else:
                first_line[poem.id] = poem.line
            poems.append(poem)
        if not self.cues:
            rep.add(node, "the show has no cues")
        elif self.cues[-1].follow is not None:
            last = self.cues[-1]
            rep.add(last.follow_line, f"follow: cue '{last.id}' is the last cue, no cue follows it")
        return poems

    def _poem(self, node: Node) -> _PoemDraft | None:
        rep = self.rep
        items = block(node, rep, "poem", POEM_KEYS)
        if items is None:
            return None
        values = read_fields(
            items,
            {"id": identifier(), "title": string(), "part": integer(1), "notes": string()},
            rep,
        )
        line = line_of(node)
        if "id" not in items:
            rep.add(node, "poem: missing 'id'")
        poem_id = values.get("id", f"<poem at line {line}>")
        part = values.get("part", 1)
        poem_recipe: Recipe = {}
        if "generate" in items:
            poem_recipe = self._recipe(items["generate"][1]) or {}
        look = self.part_looks.get(part, {})
        if "look" in items:
            look = {**look, **self._look(items["look"][1])}
        cues: list[_CueDraft] = []
        if "cues" in items:
            cnode = items["cues"][1]
            if isinstance(cnode, SequenceNode):
                for position, item in enumerate(cnode.value, start=1):
                    draft = self._cue(item, poem_id, part, position, poem_recipe, look)
                    if draft is not None:
                        cues.append(draft)
            elif not (isinstance(cnode, ScalarNode) and cnode.tag.endswith(":null")):
                rep.add(cnode, f"cues: expected a list of cues, got {describe(cnode)}")
        self.cues.extend(cues)
        return _PoemDraft(
            poem_id, values.get("title", ""), part, line, cues, values.get("notes", "")
        )

    def _media(
        self, node: Node, items: Items, cue_id: str
    ) -> tuple[str | None, Path | None, MediaKind | None]:
        """A cue's `media:` as written, as a path under the media root, and its kind."""
        rep = self.rep
        if "media" not in items:
            rep.add(node, f"cue '{cue_id}': missing 'media' (the file to play)")
            return None, None, None
        mnode = items["media"][1]
        media_ref = string()(mnode, rep, "media")
        if media_ref is INVALID:
            return None, None, None
        if not media_ref.strip():
            rep.add(mnode, "media: expected a file name, got an empty text")
            return None, None, None
        as_path = Path(media_ref).expanduser()
        media = as_path if as_path.is_absolute() else self.media_root / as_path
        kind = media_kind_for(media_ref)
        if kind is None:
            rep.add(mnode, _unknown_extension(media_ref))
        return media_ref, media, kind

    def _cue(
        self,
        node: Node,
        poem_id: str,
        part: int,
        position: int,
        poem_recipe: Recipe,
        poem_look: dict[str, Any],
    ) -> _CueDraft | None:
        """Read one cue; `poem_look` is its part's look overlaid by its poem's."""
        rep = self.rep
        items = block(node, rep, "cue", CUE_KEYS)
        if items is None:
            return None
        line = line_of(node)
        cue_id = f"{poem_id}.{position}"
        if "id" in items:
            value = identifier()(items["id"][1], rep, "id")
            if value is not INVALID:
                cue_id = value
        if cue_id in self.cue_first_line:
            first = self.cue_first_line[cue_id]
            rep.add(line, f"duplicate cue id '{cue_id}' (first defined at line {first})")
        else:
            self.cue_first_line[cue_id] = line

        media_ref, media, kind = self._media(node, items, cue_id)

        def misplaced(key: str, wanted: MediaKind, what: str) -> bool:
            """Report `key` when the cue's media is known and not `wanted`; True if reported."""
            if kind is None or kind is wanted:
                return False
            rep.add(items[key][0], f"{key}: applies to {what} only ({media_ref} is a {kind.value})")
            return True

        settings = read_fields(items, CUE_SPEC, rep)
        for key in VIDEO_ONLY_KEYS:
            if key in items:
                misplaced(key, MediaKind.VIDEO, "videos")
        start, end = settings.get("start", 0.0), settings.get("end")
        start_ok = "start" not in items or "start" in settings
        if end is not None and start_ok and end <= start:
            rep.add(items["end"][1], f"end: expected a time after start ({start:g} s), got {end:g}")

        camera: CameraSpec | None = CameraSpec() if kind is MediaKind.SPLAT else None
        if "camera" in items and not misplaced("camera", MediaKind.SPLAT, "splat scenes"):
            camera = self._camera(items["camera"][1]) or camera
        trim = None
        if "splat" in items and not misplaced("splat", MediaKind.SPLAT, "splat scenes"):
            trim = read_splat_trim(items["splat"][1], rep)

        follow = _follow(items["follow"][1], rep, kind) if "follow" in items else None
        own_recipe: Recipe | None = None
        generate_node: Node | None = None
        if "generate" in items:
            generate_node = items["generate"][0]
            own_recipe = self._recipe(items["generate"][1]) or {}
        return _CueDraft(
            id=cue_id,
            poem_id=poem_id,
            part=part,
            line=line,
            media_ref=media_ref,
            media=media,
            kind=kind,
            settings=settings,
            camera=camera,
            own_recipe=own_recipe,
            poem_recipe=poem_recipe,
            generate_node=generate_node,
            look=_merged_look(poem_look, self._look(items["look"][1]) if "look" in items else {}),
            follow=follow,
            follow_line=line_of(items["follow"][0]) if "follow" in items else 0,
            splat=trim,
        )

    def _look(self, node: Node) -> dict[str, Any]:
        """The settings one `look:` writes (a preset expands to all keys); {} when invalid."""
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            return {}
        if isinstance(node, ScalarNode) and node.tag == STR_TAG:
            preset = _preset(node, self.rep, "look")
            return {} if preset is INVALID else preset
        if not isinstance(node, MappingNode):
            self.rep.add(
                node,
                f"look: expected a preset name or a mapping (key: value), got {describe(node)}",
            )
            return {}
        items = block(node, self.rep, "look", LOOK_SPEC)
        if items is None:
            return {}
        values = read_fields(items, LOOK_SPEC, self.rep, prefix="look.")
        return {**values.pop("preset", {}), **values}

    def _camera(self, node: Node) -> CameraSpec | None:
        items = block(node, self.rep, "camera", (*CAMERA_SPEC, "limits", "path"))
        if items is None:
            return None
        values = read_fields(items, CAMERA_SPEC, self.rep, prefix="camera.")
        if "path" in items:
            ref = string()(items["path"][1], self.rep, "camera.path")
            if ref is not INVALID and ref.strip():
                as_path = Path(ref).expanduser()
                values["path"] = as_path if as_path.is_absolute() else self.media_root / as_path
                values["path_ref"] = ref
            elif ref is not INVALID:
                self.rep.add(items["path"][1], "camera.path: expected a file name, got empty")
        limits = CameraLimits()
        if "limits" in items:
            lim_items = block(items["limits"][1], self.rep, "camera.limits", LIMITS_SPEC)
            if lim_items is not None:
                lim = read_fields(lim_items, LIMITS_SPEC, self.rep, prefix="camera.limits.")
                limits = CameraLimits(**lim)
        return CameraSpec(**values, limits=limits)

    def _recipe(self, node: Node) -> Recipe | None:
        """Check one `generate:` block where it is written (each level once)."""
        if isinstance(node, ScalarNode) and node.tag.endswith(":null"):
            return {}
        items = block(node, self.rep, "generate", RECIPE_SPEC)
        if items is None:
            return None
        recipe: Recipe = {}
        for key, convert in RECIPE_SPEC.items():
            if key in items:
                vnode = items[key][1]
                value = convert(vnode, self.rep, f"generate.{key}")
                if value is not INVALID:
                    recipe[key] = _Setting(value, vnode)
        return recipe

    def _link_recipes(self) -> None:
        """Merge each cue's recipe over its defaults, then check kinds, sources and cycles."""
        rep = self.rep
        ids = {c.id for c in self.cues}
        for cue in self.cues:
            if cue.own_recipe is None:
                continue
            merged: Recipe = {}
            levels = (
                self.show_recipe,
                self.part_recipes.get(cue.part, {}),
                cue.poem_recipe,
                cue.own_recipe,
            )
            for level in levels:
                for key, setting in level.items():
                    old = merged.get(key)
                    if (
                        key in _MERGED_BY_KEY
                        and old is not None
                        and isinstance(old.value, dict)
                        and isinstance(setting.value, dict)
                    ):
                        setting = _Setting({**old.value, **setting.value}, setting.node)
                    merged[key] = setting

            kind = cue.kind
            mode = _edit_mode(merged, rep)
            if "kind" in merged:
                asked = merged["kind"]
                if cue.kind is not None and asked.value is not cue.kind:
                    where = asked.node if "kind" in cue.own_recipe else cue.generate_node
                    rep.add(
                        where,
                        f"cue '{cue.id}': generate.kind is '{_RECIPE_WORD[asked.value]}' but "
                        f"its media {cue.media_ref} is a {cue.kind.value}, "
                        f"expected '{_RECIPE_WORD[cue.kind]}'",
                    )
                kind = asked.value
            for key in ("from", "last_from"):
                ref = merged.get(key)
                if ref is None or ref.value is None or ref.value in ids:
                    continue
                message = f"generate.{key}: no cue '{ref.value}' in this show"
                close = suggest(ref.value, sorted(ids))
                if close:
                    message += f", did you mean '{close}'?"
                rep.add(ref.node, message)
            last = merged.get("last_from")
            if last is not None and last.value is not None and kind is not MediaKind.VIDEO:
                rep.add(last.node, "generate.last_from: applies to video recipes only")
            if kind is None:
                continue
            args = {k: s.value for k, s in merged.items() if k not in ("kind", "from")}
            if "from" in merged:
                args["source"] = merged["from"].value
            cue.generate = GenerateSpec(kind=kind, mode=mode, **args)
        self._check_cycles()

    def _check_cycles(self) -> None:
        """Report each cycle of `from:`/`last_from:` references once, at its first cue."""
        order = {c.id: i for i, c in enumerate(self.cues)}
        edges: dict[str, list[tuple[str, str, Node]]] = {}
        for cue in self.cues:
            if cue.own_recipe is None or cue.generate is None:
                continue
            refs = (("from", cue.generate.source), ("last_from", cue.generate.last_from))
            for key, target in refs:
                if target is not None and target in order:
                    node = self._recipe_node(cue, key)
                    edges.setdefault(cue.id, []).append((target, key, node))
        state: dict[str, int] = {}  # 1 on the stack, 2 done
        stack: list[str] = []
        reported: set[frozenset[str]] = set()

        def visit(cid: str) -> None:
            state[cid] = 1
            stack.append(cid)
            for target, _, _ in edges.get(cid, ()):
                if state.get(target) == 1:
                    cycle = stack[stack.index(target) :]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self._report_cycle(cycle, order, edges)
                elif target not in state:
                    visit(target)
            stack.pop()
            state[cid] = 2

        for cue in self.cues:
            if cue.id not in state:
                visit(cue.id)

    def _report_cycle(
        self,
        cycle: list[str],
        order: dict[str, int],
        edges: dict[str, list[tuple[str, str, Node]]],
    ) -> None:
        first = min(range(len(cycle)), key=lambda i: order[cycle[i]])
        cycle = cycle[first:] + cycle[:first]
        nxt = cycle[1] if len(cycle) > 1 else cycle[0]
        key, node = next((k, n) for t, k, n in edges[cycle[0]] if t == nxt)
        if len(cycle) == 1:
            self.rep.add(node, f"generate.{key}: cue '{cycle[0]}' cannot be made from itself")
            return
        chain = " -> ".join(f"'{c}'" for c in [*cycle, cycle[0]])
        self.rep.add(node, f"generate.{key}: recipes form a cycle: {chain}")

    def _recipe_node(self, cue: _CueDraft, key: str) -> Node:
        for level in (cue.own_recipe or {}, cue.poem_recipe, self.part_recipes.get(cue.part, {})):
            if key in level:
                return level[key].node
        return self.show_recipe[key].node

    def _check_media(self) -> None:
        for cue in self.cues:
            if cue.media is None or cue.kind is None or cue.media_ref is None:
                continue
            message = media_file_problem(
                cue.id, cue.media_ref, cue.media, has_recipe=cue.own_recipe is not None
            )
            if message:
                self.rep.add(cue.line, message)


def _merged_look(*levels: dict[str, Any]) -> Look | None:
    """Looks overlaid key by key (later levels win); None when the result changes nothing."""
    merged: dict[str, Any] = {}
    for level in levels:
        merged.update(level)
        # a tint written on its own tones fully, unless a toning amount is inherited
        if "tint" in level and "tint_amount" not in level and not merged.get("tint_amount"):
            merged["tint_amount"] = 1.0
    look = Look(**merged)
    if look.tint_amount == 0.0:
        look = replace(look, tint=Look().tint)  # no toning: one way to write it
    return None if look.is_identity else look


def _unknown_extension(media_ref: str) -> str:
    ext = Path(media_ref).suffix
    kinds = (
        f"a still ({', '.join(sorted(STILL_EXTENSIONS))}), "
        f"a video ({', '.join(sorted(VIDEO_EXTENSIONS))}) "
        f"or a splat scene ({', '.join(sorted(SPLAT_EXTENSIONS))})"
    )
    if not ext:
        return f"media: '{media_ref}' has no extension, expected {kinds}"
    return f"media: unknown media type '{ext}' for '{media_ref}', expected {kinds}"
