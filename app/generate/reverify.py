"""`generate SHOW --verify`: re-make the show's media from their recipes and compare.

For each cue with a recipe (or those `--only` selects) whose media are kept: re-render it
from the kept inputs (an image-to-video cue reads the kept image, so each step is judged
alone) into `<media_root>/.generate/verify/`, then compare with the kept file: the same
bytes, the same pixels, or a distance. Each row says from what it was re-made, and when it
could not be (model missing, input missing, the backend refused) or differs, why: the
recorded recipe (manifest) is compared with the recipe now, field by field, and the device
the media was made on with this one. `report.json` beside the renders keeps the rows.

Uses the runner's public pieces only: `plan_show`, `validate_jobs`, `Runner.digest`,
`Runner.run` (with `force`), `Manifest`, `make_backend`, and the backend's `check`,
`describe_device`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from app.generate.errors import GenerateError
from app.generate.manifest import Manifest, RunLock, state_dir
from app.generate.plan import Job
from app.show.model import MediaKind, Show

IDENTICAL, DIFFERS, NOT_MADE = "identical", "differs", "not re-made"
THUMB = 64  # width of the thumbnails the distance is measured on


@dataclass
class CueCheck:
    """One row of the report."""

    cue: str
    media: str  # key under the media root
    status: str  # identical | differs | not re-made
    made_from: str = ""  # backend, model and identity, seed, device of the re-render
    detail: str = ""  # how it compares, or why it could not be re-made
    reasons: tuple[str, ...] = ()  # what differs between the recorded recipe and now
    distance: float | None = None
    psnr: float | None = None


def recipe_differences(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Plain sentences for each field of the recorded recipe that differs from now."""
    if old is None:
        return ["no recorded recipe (not in the generation manifest): the cause is unknown"]
    out: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if key == "model" and isinstance(a, dict) and isinstance(b, dict):
            for sub in sorted(set(a) | set(b)):
                if a.get(sub) == b.get(sub):
                    continue
                if sub == "files":
                    out.append(
                        f"the model's files changed (identity {str(a.get(sub))[:12]} when made, "
                        f"{str(b.get(sub))[:12]} now)"
                    )
                else:
                    out.append(f"model {sub}: {a.get(sub)!r} when made, {b.get(sub)!r} now")
        elif key == "inputs" and isinstance(a, dict) and isinstance(b, dict):
            for role in sorted(set(a) | set(b)):
                if a.get(role) != b.get(role):
                    out.append(f"input '{role}' is not the file it was made from")
        else:
            out.append(f"{key}: {_short(a)} when made, {_short(b)} now")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def image_distance(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(distance, PSNR dB) of two RGB uint8 images of one size.

    The distance is the mean absolute difference of greyscale thumbnails 64 px wide
    (0 = alike, 1 = black against white): it forgives noise a few pixels wide and sees
    changes of composition, tone and colour balance. It is not a learned metric (LPIPS).
    """
    from PIL import Image

    def thumb(x: np.ndarray) -> np.ndarray:
        img = Image.fromarray(x).convert("L")
        h = max(1, round(img.height * THUMB / img.width))
        return np.asarray(img.resize((THUMB, h), Image.Resampling.BOX), dtype=np.float64)

    distance = float(np.mean(np.abs(thumb(a) - thumb(b))) / 255.0)
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    psnr = float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)
    return distance, psnr


def _frames(path: Path, kind: MediaKind) -> list[np.ndarray]:
    if kind is MediaKind.STILL:
        from PIL import Image

        with Image.open(path) as img:
            return [np.asarray(img.convert("RGB"))]
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in reader]


def compare_media(
    kept: Path, new: Path, kind: MediaKind
) -> tuple[str, str, float | None, float | None]:
    """(status, detail, distance, psnr) of a re-rendered file against the kept one."""
    if kept.read_bytes() == new.read_bytes():
        return IDENTICAL, "bit-identical (the same bytes)", 0.0, float("inf")
    if kind is MediaKind.SPLAT:
        return DIFFERS, "the scene's bytes differ (no distance is measured for splats)", None, None
    a, b = _frames(kept, kind), _frames(new, kind)
    if len(a) != len(b) or a[0].shape != b[0].shape:
        return (
            DIFFERS,
            (
                f"not the same size: {len(a)} frames of {a[0].shape[1]}x{a[0].shape[0]} kept, "
                f"{len(b)} of {b[0].shape[1]}x{b[0].shape[0]} re-made"
            ),
            None,
            None,
        )
    if all(np.array_equal(x, y) for x, y in zip(a, b, strict=True)):
        return IDENTICAL, "bit-identical pixels (the file's metadata differs)", 0.0, float("inf")
    pairs = [image_distance(x, y) for x, y in zip(a, b, strict=True)]
    distance = float(np.mean([d for d, _ in pairs]))
    psnr = float(np.mean([p for _, p in pairs if np.isfinite(p)] or [float("inf")]))
    return DIFFERS, f"distance {distance:.4f}, PSNR {psnr:.1f} dB", distance, psnr


def _made_from(job: Job, recipe: dict[str, Any], device: str) -> str:
    model = recipe.get("model") or {}
    ident = model.get("files") if isinstance(model, dict) else None
    name = job.spec.model or "no model"
    who = f"{recipe.get('backend')}: {name}" + (f" (identity {str(ident)[:12]})" if ident else "")
    inputs = ", ".join(f"cue {src.id} ({role})" for role, src in job.sources)
    return f"{who}, seed {job.seed}, {device}" + (
        f", from the kept media of {inputs}" if inputs else ""
    )


def reverify(
    show: Show, backend: Any, manifest: Manifest, jobs: list[Job], *, err: TextIO | None = None
) -> list[CueCheck]:
    """Re-make each job's media into `.generate/verify/` and compare with the kept file."""
    from app.generate.runner import Runner, validate_jobs

    work = state_dir(show.media_root) / "verify"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    scratch = Manifest(work / "manifest.json", show.media_root, {})
    quiet = io.StringIO()
    runner = Runner(show, backend, scratch, force=True, out=quiet, err=err or quiet)
    rows: dict[str, CueCheck] = {}
    todo: list[tuple[Job, Job, dict[str, Any]]] = []
    device = backend.describe_device()
    for job in jobs:
        key = manifest.key(job.output)
        row = CueCheck(job.cue.id, key, NOT_MADE)
        rows[job.key] = row
        if not job.output.is_file():
            row.detail = "no kept media to compare with"
            continue
        problems = validate_jobs(show, [job], backend)
        if problems:
            row.detail = "; ".join(p.split(": ", 2)[-1] for p in problems)
            continue
        _, recipe = runner.digest(job)
        row.made_from = _made_from(job, recipe, device)
        entry = manifest.get(job.output) or {}
        row.reasons = tuple(recipe_differences(entry.get("recipe"), recipe))
        made_on = entry.get("device")
        if made_on and made_on != device:
            row.reasons += (f"made on {made_on}, re-made on {device}",)
        target = work / key
        todo.append((job, replace(job, output=target, deps=(), variation=False), entry))
    report = runner.run([t for _, t, _ in todo])
    for job, tmp, _ in todo:
        row = rows[job.key]
        failed = report.failed.get(tmp.key)
        if failed is not None or not tmp.output.is_file():
            row.detail = (failed or "the backend made nothing").split(": ", 1)[-1].splitlines()[0]
            continue
        row.status, row.detail, row.distance, row.psnr = compare_media(
            job.output, tmp.output, job.kind
        )
    order = {c.id: i for i, c in enumerate(show.cues)}
    checks = sorted(rows.values(), key=lambda c: order.get(c.cue, len(order)))
    (work / "report.json").write_text(
        json.dumps([asdict(c) for c in checks], indent=1, default=str), encoding="utf-8"
    )
    return checks


def format_checks(checks: list[CueCheck]) -> str:
    """The report printed by `generate --verify`."""
    lines = []
    for c in checks:
        lines.append(f"{c.cue:<8} {c.status:<12} {c.media}: {c.detail}")
        if c.made_from:
            lines.append(f"{'':8} re-made with {c.made_from}")
        for reason in c.reasons:
            lines.append(f"{'':8} why it may differ: {reason}")
    counts = {s: sum(1 for c in checks if c.status == s) for s in (IDENTICAL, DIFFERS, NOT_MADE)}
    lines.append(
        f"verify: {counts[IDENTICAL]} identical, {counts[DIFFERS]} differ, "
        f"{counts[NOT_MADE]} could not be re-made"
    )
    return "\n".join(lines)


def cmd_verify(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`generate SHOW --verify [--only ...]`: exit 0 when every cue re-made identical."""
    from app.generate.backends import make_backend
    from app.generate.plan import plan_show
    from app.generate.registry import find_registry, load_registry
    from app.show.loader import ShowError, load_show

    out, err = out or sys.stdout, err or sys.stderr
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        show_path = _show_path(args.show)
        try:
            show = load_show(show_path, allow_missing=True)
        except ShowError as exc:
            raise GenerateError("\n".join(str(p) for p in exc.problems)) from None
        options: dict[str, Any] = {}
        if args.backend == "diffusers":
            registry = load_registry(find_registry(show.path, args.models))
            options = {"registry": registry, "device": args.device, "batch": 1}
        backend = make_backend(args.backend, **options)
        jobs = plan_show(show, only=args.only, sweeps=False)
        if not jobs:
            print(f"{show.path}: no cue has a generate: recipe, nothing to verify", file=out)
            return 0
        with RunLock(show.media_root):
            try:
                checks = reverify(
                    show, backend, Manifest.load(show.media_root, warn=err), jobs, err=err
                )
            finally:
                backend.close()
    except GenerateError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=err)
        return 2
    print(format_checks(checks), file=out)
    print(f"renders and report.json in {state_dir(show.media_root) / 'verify'}", file=out)
    return 0 if all(c.status == IDENTICAL for c in checks) else 1


def _show_path(path: Path) -> Path:
    """A show file, or the show file of a `.vjshow` pack (unpacked into the pack cache)."""
    if Path(path).suffix.lower() != ".vjshow":
        return Path(path)
    from app.pack.format import PackError
    from app.pack.reader import resolve_show

    try:
        return resolve_show(Path(path))
    except PackError as exc:
        raise GenerateError("\n".join(exc.problems)) from None
