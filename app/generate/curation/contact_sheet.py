"""Contact sheets of a seed sweep: a labelled grid PNG and an HTML page of thumbnails.

When the sweep's outputs were made in chains (base -> upscaled -> refined -> edited), each
seed gets a row with one thumbnail per step instead, so the artist sees where it went wrong.
"""

from __future__ import annotations

import html
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from app.atomic import atomic_output, write_text_atomic
from app.media.thumbnails import file_thumbnail

THUMB_WIDTH = 320
LABEL_H, PAD, HEAD = 22, 8, 34  # sheet layout: label under each cell, padding, title band
PICKED, PLAIN = (255, 200, 40), (220, 220, 220)  # label and frame colours
# One cell of a sheet: (column, row, thumbnail, label).
Cell = tuple[int, int, Image.Image, str]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


def _thumbnail(path: Path, width: int, out: Path) -> Image.Image:
    """The thumbnail of `path`, also written to `out` as JPEG."""
    thumb = file_thumbnail(path, width)
    with atomic_output(out) as tmp:
        thumb.save(tmp, format="JPEG", quality=85)
    return thumb


def _link(path: Path, folder: Path) -> str:
    """How the page in `folder` links to `path` (relative when it is inside)."""
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else path.as_uri()


def _write_sheet(
    folder: Path,
    title: str,
    width: int,
    cells: list[Cell],
    frames: list[tuple[int, int, int, int]],
) -> Path:
    """`contact.png`: the title, then each cell's thumbnail with its label under it (picked
    labels in colour), and a picked frame around each (first column, row, last column, row)
    of `frames`."""
    columns = 1 + max(c for c, _, _, _ in cells)
    rows = 1 + max(r for _, r, _, _ in cells)
    cell_h = max(t.height for _, _, t, _ in cells)
    sheet = Image.new(
        "RGB",
        (columns * (width + PAD) + PAD, HEAD + rows * (cell_h + LABEL_H + PAD) + PAD),
        (24, 24, 24),
    )
    draw = ImageDraw.Draw(sheet)
    draw.text((PAD, 8), title, font=_font(18), fill=(235, 235, 235))
    font = _font(14)

    def corner(column: int, row: int) -> tuple[int, int]:
        return PAD + column * (width + PAD), HEAD + row * (cell_h + LABEL_H + PAD)

    framed = {(c, r) for c0, r0, c1, r1 in frames for c in range(c0, c1 + 1) for r in (r0, r1)}
    for column, row, thumb, label in cells:
        x, y = corner(column, row)
        sheet.paste(thumb, (x, y))
        colour = PICKED if (column, row) in framed else PLAIN
        draw.text((x, y + cell_h + 3), label, font=font, fill=colour)
    for c0, r0, c1, r1 in frames:
        (x0, y0), (x1, y1) = corner(c0, r0), corner(c1, r1)
        bottom = y1 + max(t.height for c, r, t, _ in cells if (c, r) == (c1, r1))
        if c0 != c1:  # a whole row: the frame spans the tallest cell
            bottom = y1 + cell_h
        draw.rectangle((x0 - 3, y0 - 3, x1 + width + 2, bottom + 2), outline=PICKED, width=3)
    png = folder / "contact.png"
    with atomic_output(png) as tmp:
        sheet.save(tmp, format="PNG")
    return png


def _write_page(folder: Path, title: str, style: str, body: str) -> Path:
    """`index.html` of the sheet: dark page, the title, `body`."""
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ background: #181818; color: #ddd; font-family: sans-serif; margin: 16px; }}
{style}
code {{ font-size: 11px; color: #9c9; user-select: all; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
{body}
</body></html>
"""
    page_path = folder / "index.html"
    write_text_atomic(page_path, page)
    return page_path


def make_contact_sheet(
    items: list[tuple[int, Path]],
    folder: Path,
    *,
    title: str,
    pick_command: str,
    picked: int | None = None,
    columns: int = 6,
    width: int = THUMB_WIDTH,
    steps: dict[int, list[tuple[str, Path]]] | None = None,
) -> tuple[Path, Path]:
    """Write `contact.png` and `index.html` in `folder` for (seed, file) items.

    The picked seed, if any, is framed. `steps` (seed -> (step, image file) in chain order)
    turns the sheet into one row per seed showing every step. Returns (png path, html path).
    """
    if steps and any(steps.get(seed) for seed, _ in items):
        return _chain_sheet(items, folder, title, pick_command, picked, width, steps)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thumbs").mkdir(exist_ok=True)
    columns = max(1, min(columns, len(items)))
    cells: list[Cell] = []
    frames = []
    cards = []
    for i, (seed, path) in enumerate(items):
        thumb = _thumbnail(path, width, folder / "thumbs" / f"seed-{seed}.jpg")
        column, row = i % columns, i // columns
        cells.append(
            (column, row, thumb, f"seed {seed}" + ("  (picked)" if seed == picked else ""))
        )
        if seed == picked:
            frames.append((column, row, column, row))
        rel = _link(path, folder)
        media = (
            f'<video src="{html.escape(rel)}" poster="thumbs/seed-{seed}.jpg" muted loop '
            'onmouseover="this.play()" onmouseout="this.pause()"></video>'
            if path.suffix.lower() == ".mp4"
            else f'<img src="thumbs/seed-{seed}.jpg" alt="seed {seed}">'
        )
        mark = " picked" if seed == picked else ""
        command = html.escape(pick_command.format(seed=seed))
        cards.append(
            f'<figure class="card{mark}"><a href="{html.escape(rel)}">{media}</a>'
            f"<figcaption>seed {seed}{' (picked)' if mark else ''}<br><code>{command}</code>"
            "</figcaption></figure>"
        )
    png = _write_sheet(folder, title, width, cells, frames)
    style = f""".grid {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.card {{ margin: 0; width: {width}px; }}
.card img, .card video {{ width: {width}px; display: block; }}
.card.picked {{ outline: 3px solid #ffc828; }}"""
    body = f'<div class="grid">\n{chr(10).join(cards)}\n</div>'
    return png, _write_page(folder, title, style, body)


def _chain_sheet(
    items: list[tuple[int, Path]],
    folder: Path,
    title: str,
    pick_command: str,
    picked: int | None,
    width: int,
    steps: dict[int, list[tuple[str, Path]]],
) -> tuple[Path, Path]:
    """One row per seed: a thumbnail per chain step (the output itself when it has none)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "thumbs").mkdir(exist_ok=True)
    cells: list[Cell] = []
    frames = []
    lines = []
    for row, (seed, path) in enumerate(items):
        figures = []
        chain = steps.get(seed) or [("output", path)]
        for column, (label, step_path) in enumerate(chain):
            name = f"seed-{seed}-{label}.jpg"
            thumb = _thumbnail(step_path, width, folder / "thumbs" / name)
            text = f"seed {seed} · {label}" + (
                "  (picked)" if seed == picked and column == 0 else ""
            )
            cells.append((column, row, thumb, text))
            figures.append(
                f'<figure class="step"><img src="thumbs/{html.escape(name)}" '
                f'alt="{html.escape(label)}">'
                f"<figcaption>{html.escape(label)}</figcaption></figure>"
            )
        if seed == picked:
            frames.append((0, row, len(chain) - 1, row))
        mark = " picked" if seed == picked else ""
        command = html.escape(pick_command.format(seed=seed))
        lines.append(
            f'<section class="chain{mark}"><h2><a href="{html.escape(_link(path, folder))}">'
            f"seed {seed}</a>{' (picked)' if mark else ''}</h2>"
            f'<div class="steps">{"".join(figures)}</div><code>{command}</code></section>'
        )
    png = _write_sheet(folder, title, width, cells, frames)
    style = f""".steps {{ display: flex; gap: 10px; }}
.step {{ margin: 0; width: {width}px; }}
.step img {{ width: {width}px; display: block; }}
.chain.picked {{ outline: 3px solid #ffc828; }}
h2 {{ font-size: 15px; }}"""
    return png, _write_page(folder, title, style, "\n".join(lines))
