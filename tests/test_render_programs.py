"""Shader loading by name: stages from one file, defines, cache, and errors naming file:line."""

from __future__ import annotations

from pathlib import Path

import moderngl
import pytest
from requires import missing

from app.render.gl import GLError, check_gl
from app.render.programs import (
    ShaderError,
    assemble_stage,
    clear_program_cache,
    expand_includes,
    load_compute,
    load_program,
)

GOOD = """#version 330 core
#if defined VERTEX_SHADER
void main() { gl_Position = vec4(0.0, 0.0, 0.0, 1.0); }
#endif
#if defined FRAGMENT_SHADER
uniform float u_gain;
out vec4 f_color;
void main() { f_color = vec4(u_gain * GAIN); }
#endif
"""

# line 9 uses an undeclared name in the fragment stage
BROKEN_FRAGMENT = """#version 330 core
// a comment
#if defined VERTEX_SHADER
void main() { gl_Position = vec4(0.0); }
#endif

#if defined FRAGMENT_SHADER
out vec4 f_color;
void main() { f_color = vec4(not_declared); }
#endif
"""

# no #version line: a default one is put on top; line 3 is broken in the vertex stage
BROKEN_VERTEX_NO_VERSION = """#if defined VERTEX_SHADER
void main() {
    gl_Position = vec3(1.0);
}
#endif
#if defined FRAGMENT_SHADER
out vec4 f_color;
void main() { f_color = vec4(1.0); }
#endif
"""

BROKEN_COMPUTE = """#version 430
#if defined COMPUTE_SHADER
layout(local_size_x = 1) in;

void main() {
    int x = missing_function(1);
}
#endif
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.glsl"
    path.write_text(text)
    return path


def test_project_shaders_compile(ctx: moderngl.Context) -> None:
    for name in ("quad", "yuv", "present"):
        assert isinstance(load_program(ctx, name), moderngl.Program)
    for layout in range(5):  # hap.glsl and look.glsl include hap_sample.glsl
        assert isinstance(load_program(ctx, "hap", {"HAP_LAYOUT": layout}), moderngl.Program)
        look = {"SOURCE_HAP": 1, "HAP_LAYOUT": layout}
        assert isinstance(load_program(ctx, "look", look), moderngl.Program)
    check_gl(ctx, "compiling project shaders")


def test_defines_and_cache(ctx: moderngl.Context, tmp_path: Path) -> None:
    _write(tmp_path, "good", GOOD)
    a = load_program(ctx, "good", {"GAIN": 2.0}, search_path=tmp_path)
    assert load_program(ctx, "good", {"GAIN": 2.0}, search_path=tmp_path) is a
    b = load_program(ctx, "good", {"GAIN": 3.0}, search_path=tmp_path)
    assert b is not a
    clear_program_cache(ctx)
    assert load_program(ctx, "good", {"GAIN": 2.0}, search_path=tmp_path) is not a


def test_fragment_error_names_file_and_line(ctx: moderngl.Context, tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", BROKEN_FRAGMENT)
    with pytest.raises(ShaderError) as info:
        load_program(ctx, "broken", search_path=tmp_path)
    err = info.value
    assert err.path == path
    assert {p.line for p in err.problems} == {9}
    assert err.problems[0].stage == "fragment_shader"
    text = str(err)
    assert f"{path}:9: fragment_shader:" in text
    assert "not_declared" in text
    assert "f_color = vec4(not_declared)" in text  # the offending source line is shown


def test_error_line_without_version_line(ctx: moderngl.Context, tmp_path: Path) -> None:
    path = _write(tmp_path, "noversion", BROKEN_VERTEX_NO_VERSION)
    with pytest.raises(ShaderError) as info:
        load_program(ctx, "noversion", {"EXTRA": 1}, search_path=tmp_path)
    assert info.value.problems[0].line == 3
    assert f"{path}:3: vertex_shader:" in str(info.value)


def test_compute_error_names_file_and_line(ctx: moderngl.Context, tmp_path: Path) -> None:
    path = _write(tmp_path, "broken_cs", BROKEN_COMPUTE)
    with pytest.raises(ShaderError) as info:
        load_compute(ctx, "broken_cs", search_path=tmp_path)
    assert info.value.problems[0].line == 6
    assert str(info.value).startswith(f"{path}:6: compute_shader:")


def test_project_path_is_shown_relative(ctx: moderngl.Context) -> None:
    with pytest.raises(ShaderError, match=r"shaders/no_such_shader\.glsl"):
        load_program(ctx, "no_such_shader")


def test_link_error_names_file(ctx: moderngl.Context, tmp_path: Path) -> None:
    mismatch = """#version 330 core
#if defined VERTEX_SHADER
out vec3 v_x;
void main() { v_x = vec3(1.0); gl_Position = vec4(0.0); }
#endif
#if defined FRAGMENT_SHADER
in vec4 v_x;
out vec4 f_color;
void main() { f_color = v_x; }
#endif
"""
    path = _write(tmp_path, "mismatch", mismatch)
    with pytest.raises(ShaderError) as info:
        load_program(ctx, "mismatch", search_path=tmp_path)
    assert str(info.value).startswith(f"{path}: program:")


INCLUDER = """#version 330 core
#if defined VERTEX_SHADER
void main() { gl_Position = vec4(0.0); }
#endif
#if defined FRAGMENT_SHADER
out vec4 f_color;
#include "part.glsl"
void main() { f_color = vec4(gain()); }
#endif
"""


def test_include_is_expanded_and_errors_name_the_included_file(
    ctx: moderngl.Context, tmp_path: Path
) -> None:
    main = _write(tmp_path, "main", INCLUDER)
    part = _write(tmp_path, "part", "// a part\nfloat gain() { return GAIN; }\n")
    text, where = expand_includes(main)
    assert "float gain() { return GAIN; }" in text.splitlines()
    assert where[6:8] == [(part, 1), (part, 2)] and where[8] == (main, 8)
    prog = load_program(ctx, "main", {"GAIN": 0.5}, search_path=tmp_path)
    assert isinstance(prog, moderngl.Program)
    with pytest.raises(ShaderError) as info:  # GAIN undefined: line 2 of part.glsl
        load_program(ctx, "main", search_path=tmp_path)
    assert {(p.file, p.line) for p in info.value.problems} == {(part, 2)}
    assert f"{part}:2: fragment_shader:" in str(info.value)
    assert "return GAIN" in str(info.value)


def test_bad_includes_name_the_including_line(tmp_path: Path) -> None:
    main = _write(tmp_path, "main", INCLUDER)
    with pytest.raises(ShaderError, match=r"main\.glsl:7: file: included file 'part.glsl' not"):
        expand_includes(main)
    _write(tmp_path, "part", '#include "main.glsl"\n')
    with pytest.raises(ShaderError, match=r"part\.glsl:1: file: 'main.glsl' includes itself"):
        expand_includes(main)


def test_hap_sampling_has_one_home() -> None:
    root = Path(__file__).resolve().parents[1] / "shaders"
    homes = [p.name for p in sorted(root.glob("*.glsl")) if "vec4 hap_sample(" in p.read_text()]
    assert homes == ["hap_sample.glsl"]
    for name in ("hap", "look"):
        assert '#include "hap_sample.glsl"' in (root / f"{name}.glsl").read_text()


def test_assemble_stage_maps_lines() -> None:
    src, origin = assemble_stage("// c\n#version 430\nA\nB", "X_SHADER", {"N": 3}, 330)
    lines = src.splitlines()
    assert lines == ["// c", "#version 430", "#define X_SHADER 1", "#define N 3", "A", "B"]
    assert origin == [1, 2, None, None, 3, 4]
    src, origin = assemble_stage("A\nB", "X_SHADER", None, 330)
    assert src.splitlines()[:2] == ["#version 330", "#define X_SHADER 1"]
    assert origin == [None, None, 1, 2]


def test_check_gl_raises_on_pending_error(ctx: moderngl.Context) -> None:
    check_gl(ctx, "clean")
    tex = ctx.texture((4, 4), 4)
    fbo = ctx.framebuffer(color_attachments=[tex])
    # reading 4 components into a buffer offset beyond its end raises a GL error
    buf = ctx.buffer(reserve=16)
    try:
        fbo.read_into(buf, components=4, write_offset=1 << 20)
    except moderngl.Error:
        pass
    error = ctx.error
    if error == "GL_NO_ERROR":
        missing("could not provoke a GL error on this driver")
    # provoke it again, now through check_gl
    try:
        fbo.read_into(buf, components=4, write_offset=1 << 20)
    except moderngl.Error:
        pass
    with pytest.raises(GLError, match="reading back"):
        check_gl(ctx, "reading back")
    assert ctx.error == "GL_NO_ERROR"
    for obj in (buf, fbo, tex):
        obj.release()
