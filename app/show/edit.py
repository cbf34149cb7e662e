"""Edits of a show file that keep its comments, anchors and order (the console's edit view).

No GL, no network: `apply_edit(path, edit)` reads the show file, checks the digest the
editor saw (an edit made against a file changed on disk since is refused with `Stale`),
applies one edit and writes the file atomically; the running `play` then reloads it
(app.rehearse.reload): one path for every change.

The file is read with ruamel.yaml's round-trip loader, which is both the model the edit is
made on and the judge of the result. The text written changes only the lines of the edit:

- `set` (fade, curve, notes, follow of a cue): ruamel.yaml dumps the document, and only the
  changed lines within the cue's own lines are taken from that dump (ruamel re-spells some
  values elsewhere, e.g. `null`); the result must load as the edited document;
- `move`, `add`, `delete`: the cue's lines (with the comment lines right above it) are cut,
  pasted or written as text, re-indented to the list they go into; the result must load as
  the same edit made on the ruamel model, else the edit is refused.

The result must also pass the show loader (app.show.loader), so an edit never writes a show
that `play` would refuse. A cue written without `id:` is numbered by its place (`1.3`); a
cue moved or added gets an explicit id, so that it keeps its name.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from app import safe_yaml
from app.atomic import atomic_output
from app.show.model import SPLAT_EXTENSIONS, STILL_EXTENSIONS, VIDEO_EXTENSIONS

MAX_NOTES = 2000  # characters of a note
MAX_FADE = 600.0  # seconds
MAX_FILE = 4 << 20  # bytes of a show file the editor reads
MAX_MEDIA = 2000  # media files listed
ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MEDIA_RE = re.compile(r"^[^\x00-\x1f]{1,300}$")
FIELDS = ("fade", "curve", "notes", "follow")
CURVES = ("linear", "smooth")


class EditError(ValueError):
    """An edit that cannot be made; the text says why."""


class Stale(EditError):
    """The file changed on disk since the editor read it."""


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _yaml() -> YAML:
    y = safe_yaml.round_trip()
    y.representer.add_representer(type(None), _null)
    return y


def _null(representer: Any, data: None) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _keep_anchors(node: Any) -> None:
    """ruamel.yaml drops an anchor nothing refers to: keep them all."""
    if isinstance(node, CommentedMap | CommentedSeq):
        a = node.anchor
        if a.value and not a.always_dump:
            node.yaml_set_anchor(a.value, always_dump=True)
        for v in node.values() if isinstance(node, CommentedMap) else node:
            _keep_anchors(v)


def _load(text: str) -> Any:
    try:
        data = _yaml().load(text)
    except YAMLError as exc:
        raise EditError(f"the show file is not valid YAML: {str(exc).splitlines()[0]}") from None
    _keep_anchors(data)
    return data


def _dump(data: Any) -> str:
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def _plain(node: Any) -> Any:
    """A ruamel document as plain Python (merge keys resolved), to compare two."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_FILE:
            raise EditError(f"{path}: {size} bytes, more than the editor reads ({MAX_FILE})")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EditError(f"cannot read {path}: {exc}") from None


# --- the document's poems and cues ----------------------------------------------------------


@dataclass
class _Cue:
    id: str
    poem: str
    index: int  # in its poem's list
    node: CommentedMap
    explicit: bool  # the file names its id


def _poems(data: Any) -> list[tuple[str, CommentedMap]]:
    if not isinstance(data, CommentedMap) or not isinstance(data.get("poems"), CommentedSeq):
        raise EditError("the show file has no list of poems")
    out = []
    for p in data["poems"]:
        if isinstance(p, CommentedMap) and p.get("id") is not None:
            out.append((str(p["id"]), p))
    return out


def _cue_list(poem: CommentedMap) -> CommentedSeq | None:
    cues = poem.get("cues")
    return cues if isinstance(cues, CommentedSeq) else None


def _cues(data: Any) -> list[_Cue]:
    out = []
    for pid, poem in _poems(data):
        for i, c in enumerate(_cue_list(poem) or []):
            if isinstance(c, CommentedMap):
                explicit = c.get("id") is not None
                cid = str(c["id"]) if explicit else f"{pid}.{i + 1}"
                out.append(_Cue(cid, pid, i, c, explicit))
    return out


def _find(data: Any, cue_id: str) -> _Cue:
    for c in _cues(data):
        if c.id == cue_id:
            return c
    raise EditError(f"no cue {cue_id!r} in the show file")


def _poem(data: Any, poem_id: str) -> CommentedMap:
    for pid, p in _poems(data):
        if pid == poem_id:
            return p
    raise EditError(f"no poem {poem_id!r} in the show file")


def describe(path: Path) -> dict[str, Any]:
    """What the edit view shows: the file's digest, its poems and cues (values as written,
    None where the file leaves them to the defaults) and the media files it can add."""
    text = read_text(path)
    data = _load(text)
    defaults = data.get("defaults") if isinstance(data, CommentedMap) else None
    fade = defaults.get("fade") if isinstance(defaults, dict) else None
    poems = []
    for pid, poem in _poems(data):
        cues = []
        for c in _cues(data):
            if c.poem != pid:
                continue
            n = c.node
            follow = n.get("follow")
            cues.append(
                {
                    "id": c.id,
                    "media": str(n.get("media", "")),
                    "fade": _number(n.get("fade")),
                    "curve": None if n.get("curve") is None else str(n.get("curve")),
                    "notes": str(n.get("notes") or ""),
                    "follow": _plain(follow) if isinstance(follow, dict) else None,
                }
            )
        poems.append({"id": pid, "title": str(poem.get("title") or ""), "cues": cues})
    return {
        "digest": digest(text),
        "file": path.name,
        "title": str(data.get("title") or path.stem),
        "default_fade": _number(fade),
        "poems": poems,
        "media": media_files(path, data),
    }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def media_root(path: Path, data: Any) -> Path:
    """The show's media folder, as the loader finds it."""
    given = data.get("media_root") if isinstance(data, CommentedMap) else None
    base = path.absolute().parent
    if given:
        return (base / Path(str(given)).expanduser()).resolve()
    return (base.parent / "media").resolve()


def media_files(path: Path, data: Any) -> list[str]:
    """The media files under the show's media folder (relative names, sorted, bounded)."""
    root = media_root(path, data)
    known = STILL_EXTENSIONS | VIDEO_EXTENSIONS | SPLAT_EXTENSIONS
    out: list[str] = []
    if not root.is_dir():
        return out
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if Path(f).suffix.lower() in known and not f.startswith("."):
                out.append(str((Path(dirpath) / f).relative_to(root)))
                if len(out) >= MAX_MEDIA:
                    return out
    return out


# --- edits ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One edit, checked at the door (`Edit.parse`)."""

    op: str  # set, move, add, delete
    cue: str | None = None
    field: str | None = None
    value: Any = None
    poem: str | None = None
    before: str | None = None  # move: the cue it goes before (None: the poem's end)
    media: str | None = None

    @staticmethod
    def parse(obj: Any) -> Edit:
        """An edit from the page's JSON object; raises EditError naming what is wrong."""
        if not isinstance(obj, dict):
            raise EditError("expected an object")
        op = obj.get("op")
        if op == "set":
            fld = obj.get("field")
            if fld not in FIELDS:
                raise EditError(f"field: expected one of {', '.join(FIELDS)}")
            return Edit("set", cue=_id(obj, "cue"), field=fld, value=_value(fld, obj.get("value")))
        if op == "move":
            before = obj.get("before")
            return Edit(
                "move",
                cue=_id(obj, "cue"),
                poem=_id(obj, "poem"),
                before=None if before is None else _id(obj, "before"),
            )
        if op == "add":
            media = obj.get("media")
            if not isinstance(media, str) or not MEDIA_RE.match(media) or ".." in Path(media).parts:
                raise EditError("media: expected a file name under the media folder")
            return Edit("add", poem=_id(obj, "poem"), media=media)
        if op == "delete":
            return Edit("delete", cue=_id(obj, "cue"))
        raise EditError("op: expected set, move, add, delete or undo")


def _id(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not ID_RE.match(value):
        raise EditError(f"{key}: expected an id (letters, digits, . _ : -, at most 64)")
    return value


def _value(field: str, value: Any) -> Any:
    if value is None:
        return None  # back to the default
    if field == "fade":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EditError("fade: expected seconds")
        if not math.isfinite(value) or not 0 <= value <= MAX_FADE:
            raise EditError(f"fade: expected 0 to {MAX_FADE:g} seconds")
        return int(value) if float(value).is_integer() else round(float(value), 3)
    if field == "curve":
        if value not in CURVES:
            raise EditError(f"curve: expected {' or '.join(CURVES)}")
        return value
    if field == "notes":
        if not isinstance(value, str) or len(value) > MAX_NOTES:
            raise EditError(f"notes: expected a text of at most {MAX_NOTES} characters")
        return value or None
    # follow
    if isinstance(value, dict) and set(value) == {"after"}:
        return {"after": _value("fade", value["after"])}
    if value == {"on": "end"}:
        return {"on": "end"}
    raise EditError("follow: expected null, {after: SECONDS} or {on: end}")


def apply_edit(path: Path, edit: Edit, seen: str) -> tuple[str, str]:
    """Make `edit` on the show file, which must still be the version of digest `seen`.

    Returns (the text before, the text written). Raises Stale or EditError; the file is then
    left as it was."""
    before = read_text(path)
    if digest(before) != seen:
        raise Stale("the show file changed on disk since the page read it")
    after = edited_text(before, edit)
    check_show(path, after)
    write_atomic(path, after)
    return before, after


def edited_text(text: str, edit: Edit) -> str:
    """The text of the show file with `edit` made (see the module docstring)."""
    data = _load(text)
    if edit.op in ("move", "delete"):
        pinned = _pin_ids(text, data, edit)
        if pinned != text:
            return edited_text(pinned, edit)
    expected = _load(text)
    lines = text.splitlines(keepends=True)
    if edit.op == "set":
        cue = _find(expected, edit.cue or "")
        _set(cue.node, edit.field or "", edit.value)
        node = _find(data, cue.id).node
        if _is_block(lines, node):
            out = _set_block(lines, node, edit.field or "", edit.value)
        else:  # a flow-style cue, `- {id: ..., media: ...}`: its line from the dump
            out = _patch_within(text, _dump(expected), *_span(lines, node))
    elif edit.op == "delete":
        cue = _find(data, edit.cue or "")
        a, b = _span(lines, cue.node)
        _model_remove(expected, cue)
        out = "".join(lines[:a] + lines[b:])
    elif edit.op == "move":
        out = _move(data, expected, lines, edit)
    elif edit.op == "add":
        out = _add(data, expected, lines, edit)
    else:
        raise EditError(f"unknown edit {edit.op!r}")
    if _plain(_load(out)) != _plain(expected):
        raise EditError("this edit cannot be written here without changing other lines")
    return out


def _pin_ids(text: str, data: Any, edit: Edit) -> str:
    """`text` with an explicit `id:` for each cue numbered by its place that the edit would
    move to another place (a later cue of the poem a cue leaves or enters), so that no cue
    changes its name (live and standby are kept by id)."""
    cue = _find(data, edit.cue or "")
    first = {cue.poem: cue.index}
    if edit.op == "move" and edit.before is not None:
        before = _find(data, edit.before)
        first[before.poem] = min(first.get(before.poem, before.index), before.index)
    lines = text.splitlines(keepends=True)
    later = [
        c
        for c in _cues(data)
        if c.poem in first and c.index >= first[c.poem] and not c.explicit and c.id != cue.id
    ]
    for c in reversed(later):
        i = c.node.lc.line
        line = lines[i]
        col = line.index("-")
        rest = line[col + 2 :]
        if rest.lstrip().startswith("{"):
            j = line.index("{", col)
            lines[i] = f"{line[: j + 1]}id: {_quoted(c.id)}, {line[j + 1 :].lstrip()}"
        else:
            lines[i : i + 1] = [f"{' ' * col}- id: {_quoted(c.id)}\n", " " * (col + 2) + rest]
    return "".join(lines)


def _set(node: CommentedMap, field: str, value: Any) -> None:
    if value is None:
        node.pop(field, None)
        return
    if field == "follow":
        m = CommentedMap(value)
        m.fa.set_flow_style()
        value = m
    node[field] = value


def _is_block(lines: list[str], node: CommentedMap) -> bool:
    line = lines[node.lc.line].lstrip()
    return line.startswith("- ") and not line[2:].lstrip().startswith("{")


def _render(key: str, value: Any, col: int) -> list[str]:
    """`key: value` as ruamel.yaml writes it, indented to `col`."""
    m = CommentedMap([(key, value)])
    if isinstance(value, dict):
        inner = CommentedMap(value)
        inner.fa.set_flow_style()
        m[key] = inner
    return [" " * col + line + "\n" for line in _dump(m).splitlines()]


def _key_end(lines: list[str], start: int, col: int) -> int:
    """The line after the block that starts at line `start` in column `col` (a key's value or
    a list item: it runs while lines are indented deeper; blank and comment lines between
    belong to it only when more of it follows)."""
    j, last = start + 1, start
    while j < len(lines):
        if _blank_or_comment(lines[j]):
            j += 1
            continue
        if _indent(lines[j]) <= col:
            break
        last = j
        j += 1
    return last + 1


def _set_block(lines: list[str], node: CommentedMap, key: str, value: Any) -> str:
    """Set (or, with None, remove) one key of a block-style cue, as text."""
    out = list(lines)
    if key in node:
        line, col = node.lc.key(key)
        end = _key_end(lines, line, col)
        if value is None:
            del out[line:end]
            return "".join(out)
        new = _render(key, value, col)
        token = (node.ca.items.get(key) or [None, None, None])[2]
        at = getattr(token, "column", None)
        if token is not None and at is not None and token.start_mark.line == line and len(new) == 1:
            old = lines[line]
            gap = at - len(old[:at].rstrip())  # the spaces before the comment, kept
            new[0] = new[0].rstrip("\n") + " " * max(1, gap) + old[at:].rstrip("\n") + "\n"
        out[line:end] = new
        return "".join(out)
    if value is None:
        return "".join(out)
    keys = list(node.keys())
    col = node.lc.key(keys[0])[1] if keys else lines[node.lc.line].index("-") + 2
    at = _span(lines, node)[1]
    out[at:at] = _render(key, value, col)
    return "".join(out)


def _patch_within(old: str, new: str, a: int, b: int) -> str:
    """`old` with the changes that make it `new`, taken only where they touch lines a..b."""
    ol, nl = old.splitlines(keepends=True), new.splitlines(keepends=True)
    out: list[str] = []
    sm = difflib.SequenceMatcher(a=ol, b=nl, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        inside = i1 < b and i2 > a if i2 > i1 else a <= i1 <= b
        out += nl[j1:j2] if tag != "equal" and inside else ol[i1:i2]
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blank_or_comment(line: str) -> bool:
    s = line.strip()
    return not s or s.startswith("#")


def _span(lines: list[str], node: CommentedMap) -> tuple[int, int]:
    """Lines [a, b) of a block-style list item (its `- ` line through its last line), with
    the comment lines right above it."""
    start = node.lc.line
    dash = lines[start].index("-") if lines[start].lstrip().startswith("-") else -1
    if dash < 0:
        raise EditError("this cue is not written as a block list item (`- id: ...`)")
    a = start
    while a > 0 and lines[a - 1].strip().startswith("#") and _indent(lines[a - 1]) == dash:
        a -= 1
    return a, _key_end(lines, start, dash)


def _item_lines(lines: list[str], node: CommentedMap, to_indent: int) -> list[str]:
    a, b = _span(lines, node)
    dash = lines[node.lc.line].index("-")
    shift = to_indent - dash
    out = []
    for line in lines[a:b]:
        if shift >= 0:
            out.append(" " * shift + line if line.strip() else line)
        else:
            out.append(line[-shift:] if line[:-shift].strip() == "" else line)
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    return out


def _list_indent(lines: list[str], poem: CommentedMap) -> int:
    """Column of the `- ` of a poem's cues (from its first cue, else its keys + 2)."""
    seq = _cue_list(poem)
    if seq:
        first = seq[0]
        if isinstance(first, CommentedMap):
            return lines[first.lc.line].index("-")
    return poem.lc.col + 2


def _poem_end(lines: list[str], poem: CommentedMap) -> int:
    """The line after a poem's last cue (where a cue is appended). A poem without cues
    (`cues:` or `cues: []`) gets its cues as a block list: `lines` is changed for that."""
    seq = _cue_list(poem)
    if seq and isinstance(seq[-1], CommentedMap):
        return _span(lines, seq[-1])[1]
    if "cues" in poem and not seq:
        line = poem.lc.key("cues")[0]
        lines[line] = re.sub(r"(cues:)\s*\[\s*\]", r"\1", lines[line], count=1)
        return line + 1
    raise EditError("this poem has no cues written as a block list to add to")


def _model_seq(poem: CommentedMap) -> CommentedSeq:
    """A poem's list of cues in the model, made when it has none."""
    seq = _cue_list(poem)
    if seq is None:
        seq = poem["cues"] = CommentedSeq()
    return seq


def _model_remove(expected: Any, cue: _Cue) -> CommentedMap:
    """Take a cue out of the model (an emptied list becomes `cues:` with nothing)."""
    poem = _poem(expected, cue.poem)
    seq = _model_seq(poem)
    node = seq.pop(cue.index)
    if not seq:
        poem["cues"] = None
    return node


def _move(data: Any, expected: Any, lines: list[str], edit: Edit) -> str:
    cue = _find(data, edit.cue or "")
    if edit.before == cue.id:
        raise EditError("a cue cannot move before itself")
    target = _poem(data, edit.poem or "")
    if edit.before is not None:
        before = _find(data, edit.before)
        if before.poem != edit.poem:
            raise EditError(f"cue {edit.before} is not in poem {edit.poem}")
        at = _span(lines, before.node)[0]
    else:
        at = _poem_end(lines, target)
    block = _item_lines(lines, cue.node, _list_indent(lines, target))
    if not cue.explicit:
        block = _with_id(block, cue.id)
    a, b = _span(lines, cue.node)
    out = lines[:at] + block + lines[at:]
    if at <= a:
        a, b = a + len(block), b + len(block)
    del out[a:b]
    # the same on the model
    node = _model_remove(expected, cue)
    if not cue.explicit:
        node.insert(0, "id", cue.id)
    dst = _model_seq(_poem(expected, edit.poem or ""))
    pos = len(dst) if edit.before is None else _find(expected, edit.before).index
    dst.insert(pos, node)
    return "".join(out)


def _with_id(block: list[str], cue_id: str) -> list[str]:
    """A block list item given an explicit `id:` as its first key."""
    for i, line in enumerate(block):
        if line.lstrip().startswith("- "):
            col = line.index("-")
            rest = line[col + 2 :]
            pad = " " * (col + 2)
            return [
                *block[:i],
                f"{' ' * col}- id: {_quoted(cue_id)}\n",
                pad + rest,
                *block[i + 1 :],
            ]
    return block


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _add(data: Any, expected: Any, lines: list[str], edit: Edit) -> str:
    poem = _poem(data, edit.poem or "")
    taken = {c.id for c in _cues(data)}
    n = len(_cue_list(poem) or []) + 1
    while f"{edit.poem}.{n}" in taken:
        n += 1
    cue_id = f"{edit.poem}.{n}"
    at = _poem_end(lines, poem)
    col = _list_indent(lines, poem)
    media = edit.media or ""
    block = [
        f"{' ' * col}- id: {_quoted(cue_id)}\n",
        f"{' ' * (col + 2)}media: {_quoted(media) if _needs_quotes(media) else media}\n",
    ]
    _model_seq(_poem(expected, edit.poem or "")).append(
        CommentedMap([("id", cue_id), ("media", media)])
    )
    return "".join(lines[:at] + block + lines[at:])


def _needs_quotes(text: str) -> bool:
    return not re.match(r"^[A-Za-z0-9_./-][A-Za-z0-9_./ -]*$", text) or text != text.strip()


def check_show(path: Path, text: str) -> None:
    """Refuse a text the show loader would refuse (written beside the show, then removed)."""
    from app.show.loader import ShowError, load_show

    tmp = path.with_name(f".{path.stem}.edit-check.yaml")
    try:
        tmp.write_text(text, encoding="utf-8")
        try:
            load_show(tmp, allow_missing=True)
        except ShowError as exc:
            first = str(exc).splitlines()[0].replace(str(tmp), path.name)
            raise EditError(f"the edited show would not load: {first}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    """Write as an editor saves: a temporary file beside it, renamed over it."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        try:
            os.chmod(tmp, path.stat().st_mode & 0o777)
        except OSError:
            pass
