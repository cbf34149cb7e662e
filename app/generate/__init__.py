"""Offline generation: render the media a show's cues describe (`generate:` recipes).

`python -m app generate SHOW` plans one job per recipe (per seed for sweeps), skips what is
already current (cache keyed by a hash of the resolved recipe), runs the rest grouped by
model so each pipeline loads once, and records everything in a manifest next to the media.
`variations` sweeps seeds and makes a contact sheet; `pick` records the chosen seed.

Layout: `registry` (models.yaml), `plan` (jobs, order), `cache` (hashes, atomic writes),
`manifest`, `metadata` (PNG chunks, sidecars), `runner` (the loop), `backends/`
(`placeholder`: no torch; `depth_splat`: torch imported inside functions; `sharp`: ml-sharp
as an installed tool), `chain/` (the diffusers backend and the steps after a still's base),
`comfyui/` (workflow recipes and the ComfyUI client), `curation/` (catalog, ratings, picks,
grids, contact sheets), `cli`.
Importing this package never imports torch.
"""

from app.generate.errors import GenerateError

__all__ = ["GenerateError"]
