"""The one PLY reader: a generic header parser and element reader (numpy only).

Properties are read by name, so extra elements (ml-sharp's `extrinsic`, `intrinsic` ...) and
property orders other than Inria's are fine. The splat loaders and `app.media.probe` use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.media.types import MediaError

PLY_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
_PLY_FORMATS = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "ascii"}
_MAX_HEADER = 1 << 20


@dataclass(frozen=True)
class PlyProperty:
    """One property of a PLY element: its name and numpy type code (e.g. 'f4').

    `list_count` is the type of the length prefix for list properties, else None.
    """

    name: str
    dtype: str
    list_count: str | None = None


@dataclass(frozen=True)
class PlyElement:
    """One element declared in a PLY header."""

    name: str
    count: int
    properties: tuple[PlyProperty, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The property names in file order."""
        return tuple(p.name for p in self.properties)

    @property
    def fixed_size(self) -> bool:
        """True when every row has the same size (no list properties)."""
        return all(p.list_count is None for p in self.properties)

    @property
    def row_bytes(self) -> int | None:
        """Bytes per row in a binary file, None with list properties."""
        if not self.fixed_size:
            return None
        return sum(np.dtype(p.dtype).itemsize for p in self.properties)


@dataclass(frozen=True)
class PlyHeader:
    """A parsed PLY header: format ('<', '>' or 'ascii'), elements, and where data starts."""

    format: str
    elements: tuple[PlyElement, ...]
    data_offset: int

    def element(self, name: str) -> PlyElement | None:
        """The element called `name`, or None."""
        return next((e for e in self.elements if e.name == name), None)


def _header_text(data: bytes, path: str | Path) -> tuple[str, int]:
    """The header's text (up to end_header) and the offset where the data starts."""
    if not data.startswith(b"ply"):
        raise MediaError(path, "not a PLY file (no 'ply' magic)")
    end = data.find(b"end_header", 0, _MAX_HEADER)
    if end < 0:
        raise MediaError(path, "PLY header has no end_header (truncated or not a PLY file)")
    newline = data.find(b"\n", end)
    if newline < 0:
        raise MediaError(path, "PLY file ends right after its header")
    try:
        return data[:end].decode("ascii"), newline + 1
    except UnicodeDecodeError:
        raise MediaError(path, "PLY header is not ASCII") from None


def _property(words: list[str]) -> PlyProperty | None:
    """A `property TYPE NAME` or `property list COUNT_TYPE TYPE NAME` line, None if bad."""
    if len(words) == 3 and words[1] in PLY_TYPES:
        return PlyProperty(words[2], PLY_TYPES[words[1]])
    if len(words) == 5 and words[1] == "list" and words[2] in PLY_TYPES:
        if words[3] in PLY_TYPES:
            return PlyProperty(words[4], PLY_TYPES[words[3]], PLY_TYPES[words[2]])
    return None


def parse_ply_header(data: bytes, path: str | Path = "<bytes>") -> PlyHeader:
    """Parse the header at the start of `data`; raises MediaError when it is malformed.

    The one PLY header parser: the splat loader and `app.media.probe` both use it.
    """
    text, data_offset = _header_text(data, path)
    fmt: str | None = None
    elements: list[PlyElement] = []
    for lineno, raw in enumerate(text.splitlines()[1:], start=2):
        words = raw.split()
        key = words[0] if words else "comment"
        if key in ("comment", "obj_info"):
            continue
        where = f"PLY header line {lineno}"
        if key == "format":
            if len(words) < 2 or words[1] not in _PLY_FORMATS:
                raise MediaError(path, f"{where}: unknown format {raw!r}")
            fmt = _PLY_FORMATS[words[1]]
        elif key == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise MediaError(path, f"{where}: bad element line {raw!r}")
            elements.append(PlyElement(words[1], int(words[2]), ()))
        elif key == "property":
            if not elements:
                raise MediaError(path, f"{where}: property before any element")
            prop = _property(words)
            if prop is None:
                raise MediaError(path, f"{where}: bad property line {raw!r}")
            last = elements[-1]
            elements[-1] = PlyElement(last.name, last.count, (*last.properties, prop))
        else:
            raise MediaError(path, f"{where}: unexpected {raw!r}")
    if fmt is None:
        raise MediaError(path, "PLY header has no format line")
    return PlyHeader(fmt, tuple(elements), data_offset)


def _row_dtype(element: PlyElement, byte_order: str) -> np.dtype:
    return np.dtype([(p.name, byte_order + p.dtype) for p in element.properties])


def read_ply_elements(
    data: bytes, header: PlyHeader, wanted: set[str], path: str | Path = "<bytes>"
) -> dict[str, np.ndarray]:
    """Read the elements named in `wanted` as structured arrays (fields named as in the file).

    Elements are walked in file order; elements with list properties can be skipped only when
    they come after everything wanted. Raises MediaError for truncated data.
    """
    out: dict[str, np.ndarray] = {}
    if header.format == "ascii":
        return _read_ascii(data, header, wanted, path)
    offset = header.data_offset
    for element in header.elements:
        if wanted <= out.keys():
            break
        if not element.fixed_size:
            raise MediaError(
                path, f"PLY element {element.name!r} has list properties (not supported here)"
            )
        dtype = _row_dtype(element, header.format)
        size = dtype.itemsize * element.count
        if offset + size > len(data):
            have = max(0, (len(data) - offset) // max(dtype.itemsize, 1))
            raise MediaError(
                path,
                f"file is truncated: element {element.name!r} declares {element.count} rows "
                f"of {dtype.itemsize} bytes, only {have} complete rows present",
            )
        if element.name in wanted:
            out[element.name] = np.frombuffer(data, dtype=dtype, count=element.count, offset=offset)
        offset += size
    return out


def _read_ascii(
    data: bytes, header: PlyHeader, wanted: set[str], path: str | Path
) -> dict[str, np.ndarray]:
    tokens = data[header.data_offset :].split()
    pos = 0
    out: dict[str, np.ndarray] = {}
    for element in header.elements:
        if wanted <= out.keys():
            break
        if not element.fixed_size:
            raise MediaError(path, f"PLY element {element.name!r} has list properties")
        n = len(element.properties) * element.count
        if pos + n > len(tokens):
            have = (len(tokens) - pos) // max(len(element.properties), 1)
            raise MediaError(
                path,
                f"file is truncated in element {element.name!r}: the header claims "
                f"{element.count} rows, the data holds {have}",
            )
        if element.name in wanted:
            values = np.array(tokens[pos : pos + n], dtype=np.float64).reshape(element.count, -1)
            arr = np.empty(element.count, dtype=_row_dtype(element, "<"))
            for i, prop in enumerate(element.properties):
                arr[prop.name] = values[:, i]
            out[element.name] = arr
        pos += n
    return out
