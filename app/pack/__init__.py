"""Show packs (`.vjshow`): one archive that carries a show, every file it plays and how each
medium was made, checked by SHA-256 and played on a machine with no network.

Layout: `format` (names, MANIFEST text, member-name rules, size summary: pure), `collect`
(what of a show goes into a pack), `writer` (the streamed tar), `reader` (checked
extraction, `verify`, the unpack cache), `readme` (the README.txt inside), `cli` (the
`pack`, `verify`, `unpack` commands and the `.vjshow` argument of play/check/render).
Nothing here imports torch or GL.
"""

from app.pack.format import PackError

__all__ = ["PackError"]
