"""Generation backends: `placeholder` (no torch) and `diffusers` (torch, imported lazily).

A backend turns a batch of jobs into `Rendered` results (a PIL image, video frames or a splat
scene) and never writes files itself: the runner writes every output atomically with its
metadata, whatever made it. What a backend can do is declared in its `capabilities`
(`Capabilities`); the runner reads those flags, never the backend's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.generate.backends.base import Backend, Capabilities, Rendered, StepCallback

__all__ = ["Backend", "Capabilities", "Rendered", "StepCallback", "make_backend", "worker_backend"]


def make_backend(name: str, **options: Any) -> Backend:
    """The backend called `name` ('placeholder' or 'diffusers')."""
    if name == "placeholder":
        from app.generate.backends.placeholder import PlaceholderBackend

        return PlaceholderBackend()
    if name == "diffusers":
        from app.generate.chain.diffusers_backend import DiffusersBackend

        return DiffusersBackend(**options)
    raise ValueError(f"unknown backend {name!r}: expected 'diffusers' or 'placeholder'")


def worker_backend(
    name: str,
    registry_path: str | None,
    device: str,
    batch: int | None,
    compile: bool,
    steps_dir: str | None = None,
    reuse_steps: bool = True,
) -> Backend:
    """The backend of an executor's worker, built where the worker runs.

    The registry is read on the worker's own machine: `registry_path` when that file exists
    there, else $APP_MODELS (so that machines may keep their models in other places). A
    backend that caches chain steps uses the show's step store `steps_dir` when this machine
    sees the show's `.generate` folder (this machine, or a shared disk); elsewhere it makes
    every step itself.
    """
    import os

    if name == "placeholder":
        return make_backend("placeholder")
    from app.generate.registry import load_registry

    path = registry_path if registry_path and Path(registry_path).is_file() else None
    path = path or os.environ.get("APP_MODELS") or None
    registry = load_registry(Path(path) if path else None)
    backend = make_backend(name, registry=registry, device=device, batch=batch, compile=compile)
    if steps_dir and backend.capabilities.step_cache and Path(steps_dir).parent.is_dir():
        from app.generate.steps import StepStore

        backend.use_steps(StepStore(Path(steps_dir), reuse=reuse_steps))  # type: ignore[attr-defined]
    return backend
