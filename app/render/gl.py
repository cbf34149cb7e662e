"""GL context creation and error checks shared by everything in `app.render`."""

from __future__ import annotations

import moderngl


class GLError(RuntimeError):
    """A GL call failed, or no suitable GL context could be made."""


def create_headless_context(require: int = 450) -> moderngl.Context:
    """A standalone offscreen GL context on EGL (no display needed).

    `require` is the minimum GL version as moderngl writes it (450 = 4.5 core). Raises
    `GLError` with the reason when EGL or the version is not available.
    """
    try:
        return moderngl.create_standalone_context(backend="egl", require=require)
    except Exception as exc:  # moderngl/glcontext raise plain Exceptions here
        raise GLError(f"cannot create a headless EGL context (GL {require}): {exc}") from exc


def make_current(ctx: moderngl.Context) -> None:
    """Make `ctx` the calling thread's current GL context.

    Needed when one process holds several standalone contexts (creating one makes it current,
    releasing it leaves none); cheap (about a microsecond) when it is already current.
    """
    # moderngl's __enter__ makes the context current; the matching __exit__ would restore the
    # previous one, which may since have been released
    ctx.__enter__()


def check_gl(ctx: moderngl.Context, where: str) -> None:
    """Raise `GLError` naming `where` if the context has a pending GL error.

    Reading `ctx.error` clears the error flag, so one call reports the first error since the
    last check.
    """
    error = ctx.error
    if error != "GL_NO_ERROR":
        raise GLError(f"{where}: {error}")


def release_framebuffer(fbo: moderngl.Framebuffer, *, attachments: bool = True) -> None:
    """Release a framebuffer and, by default, its attachments.

    If it is the bound framebuffer, the default one is bound first: moderngl rebinds its
    current framebuffer after creating new objects, and a deleted one raises
    GL_INVALID_OPERATION there.
    """
    ctx = fbo.ctx
    if ctx.fbo is fbo:
        (ctx.screen or ctx.detect_framebuffer(0)).use()
    owned = list(fbo.color_attachments) + (
        [fbo.depth_attachment] if fbo.depth_attachment is not None else []
    )
    fbo.release()
    if attachments:
        for obj in owned:
            obj.release()
