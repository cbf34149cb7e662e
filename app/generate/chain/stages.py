"""The steps of a still's chain beyond text-to-image, for the diffusers backend.

A still is made as: base (text to image, at the recipe size divided by the upscale factor)
-> upscale (a learned model through spandrel, or Lanczos) -> refine (img2img with the same
model) -> edit (an instruction editor, `edit:`). `kind: edit` cues are the edit step alone,
applied to another cue's image. LoRAs (`loras:`) are switched on before the base and refine
passes; weighted prompts are encoded through compel. Splat cues whose model is of kind
`sharp` run ml-sharp, or the entry's depth-model fallback when ml-sharp is not installed.

Reading a recipe, its checks and its cache key are pure functions of the registry and the
job. Rendering is `Chain`: one object per backend that owns what the steps keep between jobs
(the loaded upscaler, the last weighted prompt's embeddings, the LoRAs switched on, the step
store). The backend hands it its model loader and its refine pass and calls its public
methods only.
"""

from __future__ import annotations

import inspect
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from app.generate.backends.base import Rendered, StepCallback
from app.generate.backends.sharp import LICENCE_NOTE, find_tool, missing_message, run_sharp
from app.generate.chain import lora as lora_mod
from app.generate.chain.families import grid_of, pipeline_class_name, snap
from app.generate.chain.prompt_weights import weighting_problem
from app.generate.errors import JobError, ModelNotFoundError, is_out_of_memory
from app.generate.plan import Job
from app.generate.registry import ModelEntry, Registry, model_identity
from app.generate.steps import StepStore, step_key
from app.show.model import GenerateSpec, MediaKind

EDIT_PIPELINES = (
    "FluxKontextPipeline",
    "QwenImageEditPipeline",
    "QwenImageEditPlusPipeline",
    "Flux2Pipeline",
    "Flux2KleinPipeline",
)
EDIT_GRID = 16
EDIT_STEPS = 28
EDIT_GUIDANCE = 2.5


# --- recipe reading (pure) ---------------------------------------------------------------


def upscale_model(spec: GenerateSpec) -> str | None:
    """The registry name of the recipe's learned upscaler, None for Lanczos."""
    return spec.upscale.get("model") if isinstance(spec.upscale, dict) else None


def is_edit(spec: GenerateSpec) -> bool:
    """True for a `kind: edit` recipe (a still made by editing its `from:` image)."""
    return spec.mode == "edit"


def needed_kind(job: Job) -> str:
    """The registry kind the job's own `model:` must have."""
    if job.kind is MediaKind.STILL:
        return "edit" if is_edit(job.spec) else "t2i"
    if job.kind is MediaKind.VIDEO:
        return "i2v"
    return "depth"


def accepts_model(job: Job, entry: ModelEntry) -> bool:
    """True when `entry` can make the job (a splat takes a depth or an ml-sharp model)."""
    if job.kind is MediaKind.SPLAT:
        return entry.kind in ("depth", "sharp")
    return entry.kind == needed_kind(job)


def _class_of(entry: ModelEntry) -> str | None:
    name = pipeline_class_name(entry)
    if name is None and entry.single_file and entry.kind == "t2i":
        return "StableDiffusionXLPipeline"  # what the loader uses for a bare checkpoint
    return name


def _entry(registry: Registry, name: str, kind: str, what: str) -> tuple[ModelEntry | None, str]:
    try:
        entry = registry.locate(name)
    except ModelNotFoundError as exc:
        return None, f"{what}: {exc}"
    if entry.kind != kind:
        return None, (
            f"{what}: model '{name}' is a {entry.kind} model; this step needs a {kind} model"
        )
    return entry, ""


def lora_uses(registry: Registry, spec: GenerateSpec) -> list[lora_mod.LoraUse]:
    """The recipe's LoRAs with their files (ModelNotFoundError when one is not on disk)."""
    return [
        lora_mod.LoraUse(name, weight, registry.locate(name).path) for name, weight in spec.loras
    ]


# --- checks ------------------------------------------------------------------------------


def chain_problems(registry: Registry, job: Job, entry: ModelEntry) -> list[str]:
    """Everything that would stop the job's extra steps (LoRAs, weights, upscaler, edit,
    ml-sharp), as messages naming the step and the file."""
    spec = job.spec
    problems: list[str] = []
    cls = _class_of(entry)
    for name, _weight in spec.loras:
        lora, message = _entry(registry, name, "lora", f"generate.loras: '{name}'")
        if lora is None:
            problems.append(message)
            continue
        why = lora_mod.mismatch(lora_mod.LoraUse(name, 1.0, lora.path), cls)
        if why:
            problems.append(f"generate.loras: {why}")
    weighted = weighting_problem(spec.prompt, spec.negative_prompt, cls)
    if weighted and entry.kind in ("t2i", "i2v", "edit"):
        problems.append(weighted)
    name = upscale_model(spec)
    if name is not None and job.kind is MediaKind.VIDEO:
        problems.append(
            "generate.upscale.model: learned upscaling applies to stills; a video recipe "
            "takes a number (its frames are made at the recipe size over it)"
        )
    elif name is not None:
        problems.extend(_entry(registry, name, "upscale", "generate.upscale.model")[1:2])
    if spec.edit:
        edit_entry, message = _entry(registry, spec.edit["model"], "edit", "generate.edit.model")
        if edit_entry is None:
            problems.append(message)
        else:
            problems.extend(_edit_problems(edit_entry, "generate.edit"))
            weighted = weighting_problem(spec.edit["prompt"], "", _class_of(edit_entry))
            if weighted:
                problems.append(weighted.replace("generate.prompt", "generate.edit.prompt"))
    if is_edit(spec):
        problems.extend(_edit_problems(entry, "generate.model"))
    if entry.kind == "sharp":
        problems.extend(_sharp_problems(registry, entry))
    return [p for p in problems if p]


def _edit_problems(entry: ModelEntry, what: str) -> list[str]:
    cls = _class_of(entry)
    if cls is not None and cls not in EDIT_PIPELINES:
        return [
            f"{what}: model '{entry.name}' is a {cls}, not an instruction editor "
            f"(edit models: {', '.join(EDIT_PIPELINES)})"
        ]
    return []


def _sharp_problems(registry: Registry, entry: ModelEntry) -> list[str]:
    if find_tool(entry) is not None or entry.fallback:
        return []
    return [missing_message(entry) + "; or give the entry a depth `fallback:`"]


def chain_notes(registry: Registry, job: Job, entry: ModelEntry) -> list[str]:
    """Things worth saying before the run that do not stop it (ml-sharp falling back)."""
    if entry.kind != "sharp":
        return []
    notes = [f"cue '{job.cue.id}': model '{entry.name}': {LICENCE_NOTE}"]
    if find_tool(entry) is None and entry.fallback:
        notes.append(
            f"cue '{job.cue.id}': {missing_message(entry)}; the depth model "
            f"'{entry.fallback}' makes this scene instead"
        )
    return notes


# --- cache key ---------------------------------------------------------------------------


def chain_identity(registry: Registry, job: Job) -> dict[str, Any]:
    """What of the extra steps' models goes into the job's hash (nothing when unused, so
    recipes without these steps keep their hashes)."""
    spec = job.spec
    out: dict[str, Any] = {}
    if spec.loras:
        out["loras"] = [
            {"name": n, "weight": w, "files": model_identity(registry.get(n))}
            for n, w in spec.loras
        ]
    name = upscale_model(spec)
    if name is not None:
        out["upscaler"] = model_identity(registry.get(name))
    if spec.edit:
        out["edit_model"] = model_identity(registry.get(spec.edit["model"]))
    if job.kind is MediaKind.SPLAT and spec.model is not None:
        entry = registry.get(spec.model)
        if entry.kind == "sharp":
            if find_tool(entry) is not None:
                out["maker"] = "ml-sharp"
            elif entry.fallback:
                out["maker"] = f"depth fallback {entry.fallback}"
                out["fallback"] = model_identity(registry.get(entry.fallback))
    return out


# --- rendering ---------------------------------------------------------------------------

# The backend's refine pass: (pipe, entry, jobs, images, refine settings, on_step, start).
RefinePass = Callable[
    [Any, ModelEntry, list[Job], list[Image.Image], dict[str, Any], StepCallback, float],
    list[Image.Image],
]


def fit_exact(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` scaled to cover width x height (Lanczos) and centre-cropped to it."""
    if image.size == (width, height):
        return image
    k = max(width / image.width, height / image.height)
    rw = max(width, math.ceil(image.width * k))
    rh = max(height, math.ceil(image.height * k))
    scaled = image.resize((rw, rh), Image.Resampling.LANCZOS)
    left, top = (rw - width) // 2, (rh - height) // 2
    return scaled.crop((left, top, left + width, top + height))


def step_callback(on_step: StepCallback, start: float, span: float, steps: int) -> Any:
    """A diffusers `callback_on_step_end` reporting steps as the fraction
    `start + span * done` of the job."""

    def callback(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> Any:
        on_step(start + span * (step + 1) / max(steps, 1))
        return tensors

    return callback


def chained(spec: GenerateSpec) -> bool:
    """True when a still has steps after its base pass (its base is then a cached step)."""
    return bool(spec.refine or upscale_model(spec) or spec.edit)


def _run_step(
    label: str, what: dict[str, Any], make: Any, todo: list[int], images: list[Image.Image]
) -> list[Image.Image]:
    """One chain step; its failure names the step (out-of-memory passes through as it is,
    so the runner can retry a batch one image at a time)."""
    try:
        return list(make(todo, images))
    except JobError as exc:
        raise JobError(f"step {label}: {exc}") from None
    except Exception as exc:
        if is_out_of_memory(exc):
            raise
        raise JobError(
            f"step {label} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]} "
            "(the steps before it are cached: the next run starts here)"
        ) from None


class Chain:
    """The steps after a still's base pass, edit cues and ml-sharp splats, with the state
    they keep between jobs of one backend.

    `load` is the backend's model loader (one model loaded at a time); the chain keeps the
    learned upscaler it loaded, the last weighted prompt's embeddings, the LoRAs switched on
    in the loaded pipeline (`loras`) and the step store (`steps`, from `use_steps`).
    """

    def __init__(
        self,
        registry: Registry,
        device: str,
        load: Callable[[ModelEntry], Any],
        *,
        half: bool = False,
    ) -> None:
        self.registry = registry
        self.device = device
        self.half = half  # learned upscalers in float16 (on CUDA)
        self.loras = lora_mod.LoraSet()
        self.steps: StepStore | None = None
        self._load = load
        self._upscaler: Any = None
        self._weighted: tuple[tuple[Any, ...], dict[str, Any]] | None = None

    def use_steps(self, store: StepStore) -> None:
        """Cache the intermediate steps of chains (a refine's base pass) in `store`."""
        self.steps = store

    def forget(self) -> None:
        """The loaded pipeline was released: its LoRAs and prompt embeddings went with it."""
        self.loras.forget()
        self._weighted = None

    def use_loras(self, pipe: Any, spec: GenerateSpec) -> None:
        """Switch the recipe's LoRAs on in `pipe` (the others off)."""
        self.loras.apply(pipe, lora_uses(self.registry, spec))

    def upscale_images(
        self, spec: GenerateSpec, images: list[Image.Image], size: tuple[int, int]
    ) -> list[Image.Image]:
        """Images brought to `size` by the recipe's learned upscaler, or by Lanczos."""
        if all(im.size == tuple(size) for im in images):
            return images  # already upscaled before the refine pass
        name = upscale_model(spec)
        if name is None:
            return [im.resize(size, Image.Resampling.LANCZOS) for im in images]
        from app.generate.chain.upscale import DEFAULT_OVERLAP, DEFAULT_TILE, load_upscaler

        entry = self.registry.locate(name)
        if self._upscaler is None or self._upscaler.path != entry.path:
            try:
                self._upscaler = load_upscaler(entry.path, self.device, half=self.half)
            except JobError as exc:
                raise JobError(f"step upscale (model '{name}'): {exc}") from None
        up = spec.upscale if isinstance(spec.upscale, dict) else {}
        tile, overlap = int(up.get("tile", DEFAULT_TILE)), int(up.get("overlap", DEFAULT_OVERLAP))
        return [self._upscaler.upscale(im, size, tile=tile, overlap=overlap) for im in images]

    def weighted_embeddings(
        self, pipe: Any, prompt: str, negative: str, copies: int = 1
    ) -> dict[str, Any] | None:
        """Prompt embeddings through compel when `prompt` or `negative` carry A1111 weights
        and the pipeline's family can weight them; None otherwise (the text is passed as it
        is)."""
        from app.generate.chain.prompt_weights import (
            WeightedEncoder,
            has_weights,
            weighting_family,
        )

        if not (has_weights(prompt) or has_weights(negative)):
            return None
        if weighting_family(type(pipe).__name__) is None:
            raise JobError(
                weighting_problem(prompt, negative, type(pipe).__name__) or "cannot weight prompts"
            )
        key = ("weighted", id(pipe), prompt, negative, tuple(sorted(self.loras.active.items())))
        if self._weighted is None or self._weighted[0] != key:
            device = getattr(pipe, "_execution_device", None)
            self._weighted = (key, WeightedEncoder(pipe, device).encode(prompt, negative))
        embeds = self._weighted[1]
        if copies == 1:
            return dict(embeds)
        return {k: v.repeat(copies, *([1] * (v.ndim - 1))) for k, v in embeds.items()}

    def after_base(
        self,
        pipe: Any,
        entry: ModelEntry,
        jobs: list[Job],
        images: list[Image.Image],
        base_keys: list[str | None],
        on_step: StepCallback,
        share: float,
        info: dict[str, Any],
        refine_pass: RefinePass,
    ) -> list[Rendered]:
        """The steps after the base images of a batch: learned upscale, refine (the
        backend's `refine_pass`), fit to the recipe size, edit. Each step but the last is
        stored in the step store under a key made of the previous step's key and its own
        settings, so a chain that failed at a step resumes there, and a changed later
        setting reuses the earlier steps."""
        spec = jobs[0].spec
        refine = dict(spec.refine or {})
        grid = grid_of(type(pipe).__name__)
        size = (snap(spec.width, grid), snap(spec.height, grid))
        stages: list[tuple[str, dict[str, Any], Any]] = []
        name = upscale_model(spec)
        if name is not None:
            up = spec.upscale if isinstance(spec.upscale, dict) else {}
            what = {"upscaler": model_identity(self.registry.get(name)), "size": list(size)}
            what.update({k: up.get(k) for k in ("tile", "overlap")})
            stages.append(("upscaled", what, lambda idx, ims: self.upscale_images(spec, ims, size)))
            info["upscaler"] = name
        if refine:
            what = {"refine": refine, "loras": list(spec.loras), "refiner": entry.refiner}

            def refined(idx: list[int], ims: list[Image.Image]) -> list[Image.Image]:
                chosen = [jobs[i] for i in idx]
                done = refine_pass(pipe, entry, chosen, ims, refine, on_step, share)
                return [fit_exact(im.convert("RGB"), spec.width, spec.height) for im in done]

            stages.append(("refined", what, refined))
            info["refined"] = refine
            if entry.refiner:
                info["refiner"] = entry.refiner
        if spec.edit:
            editor = self.registry.locate(spec.edit["model"])
            what = {"edit": spec.edit, "model": model_identity(editor)}

            def edited(idx: list[int], ims: list[Image.Image]) -> list[Image.Image]:
                ims = [fit_exact(im.convert("RGB"), spec.width, spec.height) for im in ims]
                seeds = [jobs[i].seed for i in idx]
                return self.edit_images(ims, editor, spec.edit, seeds, on_step)

            stages.append(("edited", what, edited))
            info["edited"] = spec.edit["model"]
        steps = [[("base", im)] for im in images]
        keys = list(base_keys)
        for n, (label, what, make) in enumerate(stages):
            last = n == len(stages) - 1
            keys = [step_key(label, {"after": k, **what}) if k else None for k in keys]
            store = None if last else self.steps  # the last step is the output itself
            found = [store.load(k) if store is not None and k else None for k in keys]
            todo = [i for i, im in enumerate(found) if im is None]
            if todo:
                made = _run_step(label, what, make, todo, [images[i] for i in todo])
                for i, im in zip(todo, made, strict=True):
                    found[i] = im
                    if store is not None and keys[i]:
                        store.save(keys[i], im)
            if len(todo) < len(found):
                info[f"{label}_from_cache"] = len(found) - len(todo)
            images = [im for im in found if im is not None]
            for s, im in zip(steps, images, strict=True):
                s.append((label, im))
        results = []
        sampler = info.get("sampler", "")
        for image, chain_steps in zip(images, steps, strict=True):
            final = fit_exact(image.convert("RGB"), spec.width, spec.height)
            kept = chain_steps if len(chain_steps) > 1 else []
            results.append(Rendered(image=final, sampler=sampler, info=dict(info), steps=kept))
        return results

    def edit_images(
        self,
        images: list[Image.Image],
        entry: ModelEntry,
        settings: dict[str, Any],
        seeds: list[int],
        on_step: StepCallback,
    ) -> list[Image.Image]:
        """Apply an instruction edit (`settings`: prompt, negative_prompt, steps, guidance)
        to each image with the edit model `entry`; outputs keep each image's size."""
        import torch

        pipe = self._load(entry)
        cls = type(pipe).__name__
        if cls not in EDIT_PIPELINES:
            raise JobError(f"step edit: model '{entry.name}' is a {cls}, not an instruction editor")
        params = inspect.signature(pipe.__call__).parameters
        steps = int(settings.get("steps", EDIT_STEPS))
        out = []
        for i, (image, seed) in enumerate(zip(images, seeds, strict=True)):
            w, h = snap(image.width, EDIT_GRID), snap(image.height, EDIT_GRID)
            wanted: dict[str, Any] = {
                "image": image.convert("RGB").resize((w, h), Image.Resampling.LANCZOS),
                "prompt": settings["prompt"],
                "negative_prompt": settings.get("negative_prompt") or None,
                "width": w,
                "height": h,
                "num_inference_steps": steps,
                "guidance_scale": float(settings.get("guidance", EDIT_GUIDANCE)),
                "generator": torch.Generator(device="cpu").manual_seed(seed),
                "output_type": "pil",
                # Kontext otherwise rescales to its preferred ~1 MP sizes.
                "max_area": w * h,
                "_auto_resize": False,
                "callback_on_step_end": step_callback(
                    on_step, i / len(images), 1.0 / len(images), steps
                ),
            }
            if cls.startswith("QwenImageEdit"):
                wanted["true_cfg_scale"] = wanted.pop("guidance_scale")
            kwargs = {k: v for k, v in wanted.items() if v is not None and k in params}
            result = pipe(**kwargs).images[0].convert("RGB")
            if result.size != image.size:
                result = result.resize(image.size, Image.Resampling.LANCZOS)
            out.append(result)
        return out

    def render_edit_cue(
        self, entry: ModelEntry, jobs: list[Job], source: Path, on_step: StepCallback
    ) -> list[Rendered]:
        """A `kind: edit` cue: its `from:` image edited by its prompt, at the recipe size."""
        spec = jobs[0].spec
        with Image.open(source) as im:
            image = fit_exact(im.convert("RGB"), spec.width, spec.height)
        settings = {
            "prompt": spec.prompt,
            "negative_prompt": spec.negative_prompt,
            "steps": spec.steps,
            "guidance": spec.guidance,
        }
        seeds = [j.seed for j in jobs]
        edited = self.edit_images([image] * len(jobs), entry, settings, seeds, on_step)
        on_step(1.0)
        info = {"pipeline": type(self._load(entry)).__name__, "edited_from": str(source.name)}
        return [
            Rendered(image=e, sampler=f"edit: {entry.name}", info=dict(info), steps=[("edited", e)])
            for e in edited
        ]

    def render_sharp(
        self, entry: ModelEntry, job: Job, source: Path, on_step: StepCallback
    ) -> Rendered:
        """A splat cue with an ml-sharp model: ml-sharp's own PLY, or the depth fallback's."""
        if find_tool(entry) is None:
            if not entry.fallback:
                raise JobError(missing_message(entry))
            from app.generate.backends.depth_splat import image_to_scene

            depth = self._load(self.registry.locate(entry.fallback))
            with Image.open(source) as im:
                scene, info = image_to_scene(depth, im.convert("RGB"), job.spec.extra)
            on_step(1.0)
            info["fallback_for"] = entry.name
            return Rendered(scene=scene, sampler=f"depth: {entry.fallback}", info=info)
        from app.atomic import partial_path
        from app.media.splats import load_splats
        from app.media.types import MediaError

        job.output.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".sharp-", dir=job.output.parent) as tmp:
            image = Path(tmp) / "in" / f"{job.cue.id.replace('/', '_')}.png"
            image.parent.mkdir()
            with Image.open(source) as im:
                im.convert("RGB").save(image)
            ply = run_sharp(entry, image, Path(tmp) / "out", self.device)
            try:
                scene = load_splats(ply)
            except MediaError as exc:
                raise JobError(f"ml-sharp wrote a PLY that does not load: {exc}") from None
            # Under the runner's own partial name: it becomes the output in place, and a run
            # killed before that leaves a file the next run's clean-up removes.
            kept = partial_path(job.output)
            ply.replace(kept)
        on_step(1.0)
        info = {
            "splats": scene.count,
            "maker": "ml-sharp",
            "intrinsics": list(scene.intrinsics) if scene.intrinsics else None,
            "licence": entry.licence or LICENCE_NOTE,
        }
        return Rendered(file=kept, sampler=f"ml-sharp: {entry.name}", info=info)
