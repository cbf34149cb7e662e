"""Helpers the bench commands share with the tests: memory readings and tiny in-memory shows
(bench and test support: nothing outside app/bench imports it, tests/test_rooms.py)."""

from __future__ import annotations

from pathlib import Path

from app.show.model import Cue, Defaults, OutputSpec, Poem, Show, media_kind_for


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def show_of(
    media: list[Path],
    *,
    width: int,
    height: int,
    fps: float,
    fade: float = 0.0,
    go_guard: float = 0.0,
    loop: bool = True,
) -> Show:
    """A one-poem show with one cue per media file (cue ids 1.1, 1.2, ...)."""
    cues = []
    for i, path in enumerate(media, start=1):
        kind = media_kind_for(path)
        if kind is None:
            raise ValueError(f"{path}: unknown media type")
        cues.append(
            Cue(
                id=f"1.{i}",
                poem_id="1",
                media=Path(path).resolve(),
                media_ref=str(path),
                kind=kind,
                fade=fade,
                loop=loop,
            )
        )
    return Show(
        title="bench",
        path=Path("bench.yaml"),
        media_root=Path("."),
        output=OutputSpec(width=width, height=height, fps=fps),
        defaults=Defaults(fade=fade, go_guard=go_guard),
        poems=(Poem(id="1", title="bench", part=1, cues=tuple(cues)),),
    )


def single_cue_show(clip: Path, *, width: int, height: int, fps: float) -> Show:
    """A show with one looping cue, for benchmarks that play one file."""
    return show_of([clip], width=width, height=height, fps=fps)
