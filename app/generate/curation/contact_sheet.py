"""Contact sheets of a seed sweep: a labelled grid PNG and an HTML page of thumbnails.

When the sweep's outputs were made in chains (base -> upscaled -> refined -> edited), each
seed gets a row with one thumbnail per step instead, so the artist sees where it went wrong.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from app.atomic import atomic_output, write_text_atomic
from app.media.thumbnails import file_thumbnail

THUMB_WIDTH = 320


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):
        return ImageFont.load_default()


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
    thumbs_dir = folder / "thumbs"
    thumbs_dir.mkdir(exist_ok=True)
    thumbs: list[tuple[int, Path, Image.Image]] = []
    for seed, path in items:
        thumb = file_thumbnail(path, width)
        thumb_path = thumbs_dir / f"seed-{seed}.jpg"
        with atomic_output(thumb_path) as tmp:
            thumb.save(tmp, format="JPEG", quality=85)
        thumbs.append((seed, path, thumb))

    columns = max(1, min(columns, len(thumbs)))
    rows = math.ceil(len(thumbs) / columns)
    cell_h = max(t.height for _, _, t in thumbs)
    label_h, pad, head = 22, 8, 34
    sheet = Image.new(
        "RGB",
        (columns * (width + pad) + pad, head + rows * (cell_h + label_h + pad) + pad),
        (24, 24, 24),
    )
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 8), title, font=_font(18), fill=(235, 235, 235))
    font = _font(14)
    for i, (seed, _, thumb) in enumerate(thumbs):
        x = pad + (i % columns) * (width + pad)
        y = head + (i // columns) * (cell_h + label_h + pad)
        sheet.paste(thumb, (x, y))
        colour = (255, 200, 40) if seed == picked else (220, 220, 220)
        if seed == picked:
            draw.rectangle(
                (x - 3, y - 3, x + width + 2, y + thumb.height + 2), outline=colour, width=3
            )
        draw.text(
            (x, y + cell_h + 3),
            f"seed {seed}" + ("  (picked)" if seed == picked else ""),
            font=font,
            fill=colour,
        )
    png = folder / "contact.png"
    with atomic_output(png) as tmp:
        sheet.save(tmp, format="PNG")

    cards = []
    for seed, path, _ in thumbs:
        rel = path.relative_to(folder).as_posix() if path.is_relative_to(folder) else path.as_uri()
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
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ background: #181818; color: #ddd; font-family: sans-serif; margin: 16px; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.card {{ margin: 0; width: {width}px; }}
.card img, .card video {{ width: {width}px; display: block; }}
.card.picked {{ outline: 3px solid #ffc828; }}
code {{ font-size: 11px; color: #9c9; user-select: all; }}
</style></head>
<body><h1>{html.escape(title)}</h1><div class="grid">
{chr(10).join(cards)}
</div></body></html>
"""
    page_path = folder / "index.html"
    write_text_atomic(page_path, page)
    return png, page_path


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
    thumbs_dir = folder / "thumbs"
    thumbs_dir.mkdir(exist_ok=True)
    rows: list[tuple[int, Path, list[tuple[str, str, Image.Image]]]] = []
    for seed, path in items:
        cells = []
        for label, step_path in steps.get(seed) or [("output", path)]:
            thumb = file_thumbnail(step_path, width)
            name = f"seed-{seed}-{label}.jpg"
            with atomic_output(thumbs_dir / name) as tmp:
                thumb.save(tmp, format="JPEG", quality=85)
            cells.append((label, name, thumb))
        rows.append((seed, path, cells))
    columns = max(len(cells) for _, _, cells in rows)
    cell_h = max(t.height for _, _, cells in rows for _, _, t in cells)
    label_h, pad, head = 22, 8, 34
    sheet = Image.new(
        "RGB",
        (columns * (width + pad) + pad, head + len(rows) * (cell_h + label_h + pad) + pad),
        (24, 24, 24),
    )
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 8), title, font=_font(18), fill=(235, 235, 235))
    font = _font(14)
    for r, (seed, _, cells) in enumerate(rows):
        y = head + r * (cell_h + label_h + pad)
        colour = (255, 200, 40) if seed == picked else (220, 220, 220)
        for c, (label, _, thumb) in enumerate(cells):
            x = pad + c * (width + pad)
            sheet.paste(thumb, (x, y))
            text = f"seed {seed} · {label}" + ("  (picked)" if seed == picked and c == 0 else "")
            draw.text((x, y + cell_h + 3), text, font=font, fill=colour)
        if seed == picked:
            last = pad + (len(cells) - 1) * (width + pad)
            draw.rectangle(
                (pad - 3, y - 3, last + width + 2, y + cell_h + 2), outline=colour, width=3
            )
    png = folder / "contact.png"
    with atomic_output(png) as tmp:
        sheet.save(tmp, format="PNG")

    lines = []
    for seed, path, cells in rows:
        rel = path.relative_to(folder).as_posix() if path.is_relative_to(folder) else path.as_uri()
        figures = "".join(
            f'<figure class="step"><img src="thumbs/{html.escape(name)}" '
            f'alt="{html.escape(label)}">'
            f"<figcaption>{html.escape(label)}</figcaption></figure>"
            for label, name, _ in cells
        )
        mark = " picked" if seed == picked else ""
        command = html.escape(pick_command.format(seed=seed))
        lines.append(
            f'<section class="chain{mark}"><h2><a href="{html.escape(rel)}">seed {seed}</a>'
            f'{" (picked)" if mark else ""}</h2><div class="steps">{figures}</div>'
            f"<code>{command}</code></section>"
        )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ background: #181818; color: #ddd; font-family: sans-serif; margin: 16px; }}
.steps {{ display: flex; gap: 10px; }}
.step {{ margin: 0; width: {width}px; }}
.step img {{ width: {width}px; display: block; }}
.chain.picked {{ outline: 3px solid #ffc828; }}
h2 {{ font-size: 15px; }}
code {{ font-size: 11px; color: #9c9; user-select: all; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
{chr(10).join(lines)}
</body></html>
"""
    page_path = folder / "index.html"
    write_text_atomic(page_path, page)
    return png, page_path
