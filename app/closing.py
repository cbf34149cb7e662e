"""`Closing`: the `with` support of everything that owns a `close()`.

A shared leaf (imports nothing of app/). `with X(...) as x:` gives the object itself and
calls `x.close()` on the way out, whatever happened inside; the block's exception, if any,
is not swallowed.
"""

from __future__ import annotations

from typing import Self


class Closing:
    """Mixin: `__enter__` returns the object, `__exit__` calls its `close()`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
