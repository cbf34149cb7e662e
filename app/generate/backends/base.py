"""What every generation backend is and returns: `Backend` (the protocol the runner calls),
`Capabilities` (what a backend declares about itself) and `Rendered` (one job's result).

A leaf: it imports nothing of the backends, so that a backend module anywhere (the diffusers
chain, ComfyUI) can import it without going through `app.generate.backends`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from app.generate.plan import Job
    from app.media.splats import SplatScene

StepCallback = Callable[[float], None]  # fraction (0..1) of the running job done


@dataclass(frozen=True)
class Capabilities:
    """What a backend declares about itself; the runner decides by these, not by name.

    stand_in: its outputs stand in for media not made yet (placeholders): they never replace
      a file another backend made or one put there by hand, and every job weighs the same in
      the progress bar.
    step_cache: it caches the intermediate steps of chains (the base pass of a refine) in a
      `StepStore` handed to it once with `use_steps(store)` before the first render.
    """

    stand_in: bool = False
    step_cache: bool = False


@dataclass
class Rendered:
    """What a backend made for one job: exactly one of image, frames, scene, file."""

    image: Image.Image | None = None
    frames: list[np.ndarray] | None = None  # (H, W, 3) uint8
    frames_fps: float | None = None  # the rate the frames were made at
    scene: SplatScene | None = None
    sampler: str | None = None  # for the A1111 parameters
    draft: bool = False  # a stand-in: encode fast rather than well
    info: dict[str, Any] = field(default_factory=dict)  # recorded in the manifest
    file: Path | None = None  # a finished output made by an outside tool (ml-sharp's PLY)
    data: bytes | None = None  # such a file's bytes, when it was made on another machine
    steps: list[tuple[str, Any]] = field(default_factory=list)  # (step, PIL image) of a chain


class Backend(Protocol):
    """What the runner needs from a backend."""

    name: str
    max_batch: int  # jobs differing only by seed that may be rendered in one call
    capabilities: Capabilities

    def check(self, jobs: list[Job]) -> list[tuple[Job, str]]:
        """(job, problem) for everything that would stop these jobs (missing models, wrong
        sizes...), all at once; the caller adds the show file and line."""
        ...

    def identity(self, job: Job) -> dict[str, Any]:
        """What of the model goes into the job's recipe hash."""
        ...

    def prepare(self) -> None:
        """Called once before the first job that really renders (device checks)."""
        ...

    def render(
        self, jobs: list[Job], inputs: dict[str, Path], on_step: StepCallback
    ) -> list[Rendered]:
        """Render a batch (one job, or jobs of one recipe differing only by seed)."""
        ...

    def recover(self) -> None:
        """Free what can be freed after a failed job (e.g. after out-of-memory)."""
        ...

    def describe_device(self) -> str:
        """The device the outputs were made on, for the manifest."""
        ...

    def close(self) -> None:
        """Release pipelines and memory."""
        ...
