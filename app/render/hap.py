"""HAP frames on the GPU: their compressed DXT/BC blocks uploaded as they are, no CPU decode.

moderngl allocates the textures (`ctx.texture(..., internal_format=...)` without data) but
cannot upload pre-compressed data (its `write` checks sizes against uncompressed pixels), so
`glCompressedTexSubImage2D` is called through PyOpenGL's raw binding on the texture's `glo`.
moderngl binds a texture again each time it uses one, so binding it here disturbs nothing.

Layouts, sampled by shaders/hap_sample.glsl (which hap.glsl and look.glsl include): RGB
(Hap1), straight RGBA (Hap5, Hap7), scaled YCoCg (HapY), YCoCg plus an RGTC1 alpha texture
(HapM), alpha only (HapA, shown as grey like FFmpeg's decoder does). Textures cover whole
4x4 blocks: the shader scales its coordinates by `uv_scale` so that the padding is never
shown.
"""

from __future__ import annotations

import ctypes

import moderngl

from app.media.hap import HapFrame

# OpenGL's internal formats for each HAP texture format.
GL_FORMATS = {
    "dxt1": 0x83F0,  # COMPRESSED_RGB_S3TC_DXT1_EXT
    "dxt5": 0x83F3,  # COMPRESSED_RGBA_S3TC_DXT5_EXT
    "ycocg": 0x83F3,
    "bc7": 0x8E8C,  # COMPRESSED_RGBA_BPTC_UNORM
    "rgtc1": 0x8DBB,  # COMPRESSED_RED_RGTC1
    "bc6u": 0x8E8F,  # COMPRESSED_RGB_BPTC_UNSIGNED_FLOAT
    "bc6s": 0x8E8E,  # COMPRESSED_RGB_BPTC_SIGNED_FLOAT
}
_S3TC = "GL_EXT_texture_compression_s3tc"
_BPTC = "GL_ARB_texture_compression_bptc"
_RGTC = "GL_ARB_texture_compression_rgtc"
# The extension each format needs, and the core version that made it unnecessary.
_NEEDS = {
    "dxt1": (_S3TC, None),
    "dxt5": (_S3TC, None),
    "ycocg": (_S3TC, None),
    "bc7": (_BPTC, 420),
    "bc6u": (_BPTC, 420),
    "bc6s": (_BPTC, 420),
    "rgtc1": (_RGTC, 300),
}
# Layout numbers, the HAP_LAYOUT define of the shaders.
LAYOUTS = {
    ("dxt1",): 0,
    ("dxt5",): 1,
    ("bc7",): 1,
    ("ycocg",): 2,
    ("ycocg", "rgtc1"): 3,
    ("rgtc1",): 4,
}
_GL_TEXTURE_2D = 0x0DE1
_GL_TEXTURE0 = 0x84C0
_GL_PIXEL_UNPACK_BUFFER = 0x88EC


def missing_support(ctx: moderngl.Context, formats: tuple[str, ...]) -> str | None:
    """What this GL lacks to sample `formats` (an extension name, a layout), or None."""
    if formats not in LAYOUTS:
        return f"no shader layout for HAP textures {'+'.join(formats)}"
    extensions = ctx.extensions
    for fmt in formats:
        ext, core = _NEEDS[fmt]
        if ext in extensions or (core is not None and ctx.version_code >= core):
            continue
        if ext == _RGTC and "GL_EXT_texture_compression_rgtc" in extensions:
            continue
        return ext
    return None


class HapTextures:
    """One HAP frame's compressed textures on the GPU (same size and layout every frame).

    `width`/`height` are the image's; the textures are rounded up to whole blocks.
    Raises RuntimeError (naming the extension) when the GL cannot sample the formats.
    """

    top_row_first = True
    smooth_filter = (moderngl.LINEAR, moderngl.LINEAR)

    def __init__(
        self, ctx: moderngl.Context, width: int, height: int, formats: tuple[str, ...]
    ) -> None:
        missing = missing_support(ctx, formats)
        if missing is not None:
            raise RuntimeError(f"this GL cannot sample HAP {'+'.join(formats)}: no {missing}")
        limit = int(ctx.info["GL_MAX_TEXTURE_SIZE"])
        if width <= 0 or height <= 0 or width > limit or height > limit:
            raise ValueError(f"HapTextures: size {width}x{height} is outside 1..{limit}")
        self.ctx = ctx
        self.width = width
        self.height = height
        self.formats = formats
        self.layout = LAYOUTS[formats]
        self.block_width = (width + 3) // 4 * 4
        self.block_height = (height + 3) // 4 * 4
        self.uv_scale = (width / self.block_width, height / self.block_height)
        self.pts: float | None = None
        self.textures: list[moderngl.Texture] = []
        for fmt in formats:
            tex = ctx.texture(
                (self.block_width, self.block_height), 4, internal_format=GL_FORMATS[fmt]
            )
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            tex.repeat_x = False
            tex.repeat_y = False
            self.textures.append(tex)

    def matches(self, frame: HapFrame) -> bool:
        """Whether `frame` can be uploaded here (same size and texture formats)."""
        return (frame.width, frame.height) == (self.width, self.height) and tuple(
            t.format for t in frame.textures
        ) == self.formats

    def upload(self, frame: HapFrame) -> None:
        """Hand the frame's blocks to GL (raises ValueError when it does not `match`)."""
        if not self.matches(frame):
            got = "+".join(t.format for t in frame.textures)
            raise ValueError(
                f"HAP frame is {frame.width}x{frame.height} {got}, textures are "
                f"{self.width}x{self.height} {'+'.join(self.formats)}"
            )
        _upload_state()
        for tex, texture in zip(self.textures, frame.textures, strict=True):
            data = texture.data
            _bind_texture(tex.glo)
            _compressed_sub_image(
                _GL_TEXTURE_2D,
                0,
                0,
                0,
                self.block_width,
                self.block_height,
                GL_FORMATS[texture.format],
                data.nbytes,
                ctypes.c_void_p(data.ctypes.data),
            )
        self.pts = frame.pts

    def release(self) -> None:
        """Free the GPU textures."""
        for tex in self.textures:
            tex.release()
        self.textures = []


def _no_error_checks() -> None:
    """PyOpenGL calls glGetError after every call unless told not to: that costs a round
    trip and reports errors other code left pending as ours. GL errors are checked where
    moderngl's are (the tests' context fixture), so the checks are off; nothing else in the
    runtime uses PyOpenGL. This must run before PyOpenGL's first import."""
    import OpenGL

    OpenGL.ERROR_CHECKING = False


def _upload_state() -> None:
    """Texture unit 0 active, no pixel-unpack buffer bound (a bound one would be read)."""
    _no_error_checks()
    from OpenGL.raw.GL.VERSION.GL_1_3 import glActiveTexture
    from OpenGL.raw.GL.VERSION.GL_1_5 import glBindBuffer

    glActiveTexture(_GL_TEXTURE0)
    glBindBuffer(_GL_PIXEL_UNPACK_BUFFER, 0)


def _bind_texture(glo: int) -> None:
    from OpenGL.raw.GL.VERSION.GL_1_1 import glBindTexture

    glBindTexture(_GL_TEXTURE_2D, glo)


def _compressed_sub_image(*args: object) -> None:
    from OpenGL.raw.GL.VERSION.GL_1_3 import glCompressedTexSubImage2D

    glCompressedTexSubImage2D(*args)
