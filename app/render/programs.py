"""Shader programs loaded by name from `shaders/<name>.glsl`.

One file per program. Its stages are guarded by `#if defined VERTEX_SHADER` (and
`FRAGMENT_SHADER`, `GEOMETRY_SHADER`, `COMPUTE_SHADER`); each stage is compiled from the same
text with its define inserted right after the file's own `#version` line (or after a default
`#version` put on top when the file has none). A line `#include "part.glsl"` is replaced by
that file's text (a snippet: no `#version`, no stage guards), looked up beside the including
file, then in the search path; GLSL itself has no include here (Mesa offers no
ARB_shading_language_include), so the loader does this one substitution. Compile errors are
reported as `shaders/<name>.glsl:<line>: <message>` with the file's own line numbers, or the
included file's for a line that came from one.

Programs are cached per (context, name, defines, search path); the cache owns them, so callers
must not release what they get.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import moderngl

REPO_ROOT = Path(__file__).resolve().parents[2]
SHADER_DIR = REPO_ROOT / "shaders"

PROGRAM_VERSION = 330
COMPUTE_VERSION = 430

# moderngl keyword -> the define that selects the stage in the .glsl file
_PROGRAM_STAGES = {
    "vertex_shader": "VERTEX_SHADER",
    "geometry_shader": "GEOMETRY_SHADER",
    "fragment_shader": "FRAGMENT_SHADER",
}
_COMPUTE_STAGES = {"compute_shader": "COMPUTE_SHADER"}
_Built = TypeVar("_Built")

_VERSION_RE = re.compile(r"^\s*#\s*version\b")
_INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"(?P<name>[\w.-]+\.glsl)"\s*(?://.*)?$')
# How deep includes may nest (a guard against a file that includes itself through others).
MAX_INCLUDE_DEPTH = 8
# Mesa "0:12(5): error: ...", Intel/AMD "ERROR: 0:12: ...", NVIDIA "0(12) : error C1008: ..."
_LOG_LINE_RES = (
    re.compile(r"^\s*(?:ERROR:\s*|WARNING:\s*)?\d+:(?P<line>\d+)(?:\(\d+\))?\s*:\s*(?P<msg>.*)$"),
    re.compile(r"^\s*\d+\((?P<line>\d+)\)\s*:\s*(?P<msg>.*)$"),
)
_SECTION_RE = re.compile(r"^(\w+)\n=+\n", re.M)

Defines = Mapping[str, str | int | float | bool]
SearchPath = str | Path | Sequence[str | Path] | None


@dataclass(frozen=True)
class ShaderProblem:
    """One message of the GL compiler or linker, mapped back to the shader file."""

    stage: str  # 'vertex_shader', ..., or 'program' for link errors
    line: int | None  # line in the .glsl file, None when the driver gave none
    message: str
    source_line: str | None = None  # the text of that line, for the report
    file: Path | None = None  # the included file the line is in; None: the program's file


class ShaderError(Exception):
    """A shader file that is missing or does not compile/link.

    `str(err)` is one `path:line: message` per problem (followed by the offending source line),
    with `path` shown relative to the project (e.g. `shaders/quad.glsl`).
    """

    def __init__(self, path: Path, problems: Sequence[ShaderProblem], log: str = "") -> None:
        self.path = path
        self.problems = list(problems)
        self.log = log
        super().__init__(self._format())

    def _format(self) -> str:
        shown = _display_path(self.path)
        out = []
        for p in self.problems:
            in_file = _display_path(p.file) if p.file is not None else shown
            where = f"{in_file}:{p.line}" if p.line is not None else in_file
            out.append(f"{where}: {p.stage}: {p.message}")
            if p.source_line is not None:
                out.append(f"    {p.line} | {p.source_line.rstrip()}")
        return "\n".join(out) if out else f"{shown}: shader error"


def _display_path(path: Path) -> str:
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def _search_dirs(search_path: SearchPath) -> list[Path]:
    if search_path is None:
        return [SHADER_DIR]
    if isinstance(search_path, str | Path):
        return [Path(search_path)]
    return [Path(p) for p in search_path]


def find_shader(name: str, search_path: SearchPath = None) -> Path:
    """The path of `<name>.glsl` in the search path (default: the project's `shaders/`)."""
    dirs = _search_dirs(search_path)
    for d in dirs:
        candidate = d / f"{name}.glsl"
        if candidate.is_file():
            return candidate
    missing = dirs[0] / f"{name}.glsl"
    searched = ", ".join(_display_path(d) for d in dirs)
    raise ShaderError(
        missing, [ShaderProblem("file", None, f"no shader named {name!r} (searched {searched})")]
    )


Origin = tuple[Path, int]  # (file, 1-based line) a line of an assembled source came from


def expand_includes(
    path: Path, search_path: SearchPath = None, _stack: tuple[Path, ...] = ()
) -> tuple[str, list[Origin]]:
    """The text of `path` with each `#include "part.glsl"` line replaced by that file's
    (expanded) text, and for each resulting line the (file, line) it came from.

    Raises ShaderError naming the including file and line for a missing file, a cycle, or
    nesting deeper than MAX_INCLUDE_DEPTH.
    """
    stack = (*_stack, path.resolve())
    lines: list[str] = []
    origins: list[Origin] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        m = _INCLUDE_RE.match(line)
        if m is None:
            lines.append(line)
            origins.append((path, n))
            continue
        name = m.group("name")
        beside = path.parent / name
        try:
            part = beside if beside.is_file() else find_shader(name[: -len(".glsl")], search_path)
        except ShaderError:
            raise _include_error(path, n, line, f"included file {name!r} not found") from None
        if part.resolve() in stack:
            raise _include_error(path, n, line, f"{name!r} includes itself")
        if len(stack) >= MAX_INCLUDE_DEPTH:
            raise _include_error(path, n, line, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
        text, where = expand_includes(part, search_path, stack)
        lines += text.splitlines()
        origins += where
    return "\n".join(lines), origins


def _include_error(path: Path, line: int, text: str, message: str) -> ShaderError:
    return ShaderError(path, [ShaderProblem("file", line, message, text)])


def _define_lines(defines: Defines | None) -> list[str]:
    lines = []
    for key, value in (defines or {}).items():
        if isinstance(value, bool):
            value = int(value)
        lines.append(f"#define {key} {value}")
    return lines


def assemble_stage(
    text: str, stage_define: str, defines: Defines | None, default_version: int
) -> tuple[str, list[int | None]]:
    """The source of one stage, and for each of its lines the file line it came from.

    Inserted lines map to None.
    """
    lines = text.splitlines()
    inserted = [f"#define {stage_define} 1", *_define_lines(defines)]
    version_at = next((i for i, line in enumerate(lines) if _VERSION_RE.match(line)), None)
    if version_at is None:
        out = [f"#version {default_version}", *inserted, *lines]
        origin: list[int | None] = [None] * (len(inserted) + 1)
        origin += list(range(1, len(lines) + 1))
    else:
        head, tail = lines[: version_at + 1], lines[version_at + 1 :]
        out = [*head, *inserted, *tail]
        origin = list(range(1, version_at + 2)) + [None] * len(inserted)
        origin += list(range(version_at + 2, len(lines) + 1))
    return "\n".join(out) + "\n", origin


def _stage_present(text: str, stage_define: str) -> bool:
    return re.search(rf"\b{stage_define}\b", text) is not None


def _parse_log(
    log: str, origins: Mapping[str, list[Origin | None]], program: Path
) -> list[ShaderProblem]:
    """Split moderngl's error text into per-stage driver messages mapped to file lines."""
    problems: list[ShaderProblem] = []
    texts: dict[Path, list[str]] = {}

    def source(file: Path, line: int) -> str | None:
        if file not in texts:
            texts[file] = file.read_text(encoding="utf-8").splitlines()
        return texts[file][line - 1] if line <= len(texts[file]) else None

    headers = list(_SECTION_RE.finditer(log))
    for i, header in enumerate(headers):
        stage = header.group(1)
        end = headers[i + 1].start() if i + 1 < len(headers) else len(log)
        body = log[header.end() : end]
        stage_name = stage if stage in origins else "program"
        origin = origins.get(stage)
        for raw in body.splitlines():
            if not raw.strip():
                continue
            at: Origin | None = None
            message = raw.strip()
            for pattern in _LOG_LINE_RES:
                m = pattern.match(raw)
                if m and origin is not None:
                    n = int(m.group("line"))
                    at = origin[n - 1] if 1 <= n <= len(origin) else None
                    message = m.group("msg").strip()
                    break
            if at is None:
                problems.append(ShaderProblem(stage_name, None, message))
                continue
            file, line = at
            included = None if file == program else file
            problems.append(ShaderProblem(stage_name, line, message, source(file, line), included))
    if not problems:
        problems.append(ShaderProblem("program", None, log.strip() or "unknown GL error"))
    return problems


_cache: weakref.WeakKeyDictionary[moderngl.Context, dict[tuple, object]] = (
    weakref.WeakKeyDictionary()
)


def _cache_key(kind: str, name: str, defines: Defines | None, search_path: SearchPath) -> tuple:
    dirs = tuple(str(d.resolve()) for d in _search_dirs(search_path))
    return (kind, name, tuple(sorted((defines or {}).items())), dirs)


def load_program(
    ctx: moderngl.Context,
    name: str,
    defines: Defines | None = None,
    *,
    search_path: SearchPath = None,
) -> moderngl.Program:
    """Compile and link `shaders/<name>.glsl` (cached per context, name and defines).

    The file must contain a `VERTEX_SHADER` section; `FRAGMENT_SHADER` and `GEOMETRY_SHADER`
    sections are used when present. Raises `ShaderError` naming the file and line.
    """
    return _compiled(
        ctx, "program", name, defines, search_path, _PROGRAM_STAGES, PROGRAM_VERSION, ctx.program
    )


def load_compute(
    ctx: moderngl.Context,
    name: str,
    defines: Defines | None = None,
    *,
    search_path: SearchPath = None,
) -> moderngl.ComputeShader:
    """Compile the `COMPUTE_SHADER` section of `shaders/<name>.glsl` (cached like programs).

    Needs a GL 4.3 context. Raises `ShaderError` naming the file and line.
    """

    def make(compute_shader: str) -> moderngl.ComputeShader:
        return ctx.compute_shader(compute_shader)

    return _compiled(
        ctx, "compute", name, defines, search_path, _COMPUTE_STAGES, COMPUTE_VERSION, make
    )


def _compiled(
    ctx: moderngl.Context,
    kind: str,
    name: str,
    defines: Defines | None,
    search_path: SearchPath,
    stages: Mapping[str, str],
    version: int,
    make: Callable[..., _Built],
) -> _Built:
    """The cached or newly built `make(**sources)` for a shader file: `stages` maps make's
    keywords to the file's sections, the first of which the file must have; the others are
    used when present."""
    per_ctx = _cache.setdefault(ctx, {})
    key = _cache_key(kind, name, defines, search_path)
    cached = per_ctx.get(key)
    if cached is not None:
        return cached  # type: ignore[return-value]
    path = find_shader(name, search_path)
    text, where = expand_includes(path, search_path)
    required = next(iter(stages.values()))
    if not _stage_present(text, required):
        raise ShaderError(path, [ShaderProblem("file", None, f"no {required} section")])
    sources: dict[str, str] = {}
    origins: dict[str, list[Origin | None]] = {}
    for keyword, stage_define in stages.items():
        if _stage_present(text, stage_define):
            src, origin = assemble_stage(text, stage_define, defines, version)
            sources[keyword], origins[keyword] = src, _through(origin, where)
    try:
        built = make(**sources)
    except moderngl.Error as exc:
        log = str(exc)
        raise ShaderError(path, _parse_log(log, origins, path), log) from None
    per_ctx[key] = built
    return built


def _through(origin: list[int | None], where: list[Origin]) -> list[Origin | None]:
    """Stage lines -> expanded lines (assemble_stage) -> files and lines (expand_includes)."""
    return [None if n is None else where[n - 1] for n in origin]


def clear_program_cache(ctx: moderngl.Context) -> None:
    """Release every cached program and compute shader of `ctx`."""
    for obj in _cache.pop(ctx, {}).values():
        obj.release()  # type: ignore[attr-defined]
