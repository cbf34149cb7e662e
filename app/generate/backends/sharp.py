"""Apple's ml-sharp as an installed tool: one still in, one Gaussian-splat PLY out.

ml-sharp (github.com/apple/ml-sharp) is not on PyPI and its network weights are licensed
for research use only, so it is never a dependency of ours: the artist installs it in its
own environment and the registry names its checkpoint (kind `sharp`). We call its command
line, `sharp predict -i IMAGE -o FOLDER -c CHECKPOINT --device DEVICE`, which writes
`FOLDER/<image stem>.ply` in ml-sharp's layout (app/media/splats.py reads it, camera
intrinsics included); the file is kept byte for byte. The checkpoint is always passed, so
ml-sharp never downloads one.

When the tool is missing, a registry `fallback:` depth model makes the scene instead
(app/generate/backends/depth_splat.py), and `check` / `--dry-run` say so. Nothing here
imports torch.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from app.generate.errors import JobError
from app.generate.registry import DEFAULT_TOOL, ModelEntry, find_tool

INSTALL = (
    "install it in its own environment: git clone https://github.com/apple/ml-sharp, then "
    "`pip install -r requirements.txt` inside it (its README), and put its `sharp` command on "
    "PATH or give its path as `tool:` in models.yaml"
)
LICENCE_NOTE = "ml-sharp's model weights are licensed for research use only"
TIMEOUT_S = 1800.0


def missing_message(entry: ModelEntry) -> str:
    """What to say when the tool of `entry` is not installed."""
    name = entry.tool or DEFAULT_TOOL
    return f"ml-sharp (model '{entry.name}') is not installed: no `{name}` command found; {INSTALL}"


def check_warnings(show: Any) -> list[str]:
    """`check`'s lines about the splat cues whose model is ml-sharp: missing tool (with how
    to install it and what is used instead) and the weights' licence. Reads the registry next
    to the show; never raises (a registry problem is said in one line)."""
    from app.generate.errors import GenerateError
    from app.generate.registry import find_registry, load_registry

    wanted = [
        c
        for c in show.cues
        if c.generate is not None and c.generate.model and c.kind.value == "splat"
    ]
    if not wanted:
        return []
    try:
        registry = load_registry(find_registry(show.path))
    except GenerateError as exc:
        return [f"model registry: {str(exc).splitlines()[0]}"]
    lines = []
    for cue in wanted:
        entry = registry.models.get(cue.generate.model)
        if entry is None or entry.kind != "sharp":
            continue
        where = f"{show.path}:{cue.line}: cue '{cue.id}'"
        if find_tool(entry) is None:
            instead = (
                f"the depth model '{entry.fallback}' makes its scene instead"
                if entry.fallback
                else "generate will refuse it (no depth fallback: in models.yaml)"
            )
            lines.append(f"{where}: {missing_message(entry)}; {instead}")
        lines.append(f"{where}: model '{entry.name}': {entry.licence or LICENCE_NOTE}")
    return lines


def sharp_device(device: str) -> str:
    """ml-sharp's --device value for a torch device string (cuda:1 -> cuda)."""
    return device.split(":", 1)[0]


def run_sharp(entry: ModelEntry, image: Path, out_dir: Path, device: str) -> Path:
    """Run ml-sharp on `image`; the PLY it wrote in `out_dir`. JobError naming the command,
    the image and ml-sharp's last words when it fails or writes no PLY."""
    tool = find_tool(entry)
    if tool is None:
        raise JobError(missing_message(entry))
    if not entry.path.is_file():
        raise JobError(f"ml-sharp checkpoint not found: {entry.path} (model '{entry.name}')")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.ply"):
        stale.unlink()
    command = [
        str(tool),
        "predict",
        "-i",
        str(image),
        "-o",
        str(out_dir),
        "-c",
        str(entry.path),
        "--device",
        sharp_device(device),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JobError(f"ml-sharp ({tool}) on {image}: {type(exc).__name__}: {exc}") from None
    wanted = out_dir / f"{image.stem}.ply"
    tail = (done.stderr or done.stdout or "").strip().splitlines()[-3:]
    said = f"; it said: {' | '.join(tail)}" if tail else ""
    if done.returncode != 0:
        raise JobError(f"ml-sharp ({tool}) on {image} failed (exit {done.returncode}){said}")
    if not wanted.is_file():
        raise JobError(f"ml-sharp ({tool}) on {image} wrote no PLY (expected {wanted}){said}")
    return wanted
