"""The diffusers backend: text-to-image (+ img2img refine), image-to-video, image-to-splat.

torch, diffusers and transformers are imported inside methods only, so importing this module
is cheap and the live runtime never pulls them in. Models come from the registry, from local
disk only (`HF_HUB_OFFLINE=1`, `local_files_only=True`).

What makes a sweep fast without changing its images (compile off): the pipeline stays loaded
across jobs (one model at a time: big models do not fit together), weights in bf16 on CUDA,
PyTorch SDPA attention (diffusers' default processor), the prompt encoded once per recipe,
and seeds batched in one call with one CPU `torch.Generator` per image, so image i of a
batch is the image a single call with seed i makes (CPU generators also make a seed give the
same noise on any GPU).

The steps after the first pass (learned upscale, refine, edit), edit cues and ml-sharp
splats are its `Chain` (stages.py): the backend builds it with its loader, hands it its
`refine` pass and calls its public methods.
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import json
import os
import platform
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from app.generate import a1111
from app.generate.backends.base import Capabilities, Rendered, StepCallback
from app.generate.backends.depth_splat import DepthModel, image_to_scene
from app.generate.cache import file_sha256
from app.generate.chain import stages
from app.generate.chain.families import (
    Family,
    call_guidance,
    family_of,
    generation_size,
    grid_of,
    pipeline_class_name,
    recipe_problems,
    snap,
    upscale_factor,
)
from app.generate.chain.pipeline_args import extra_problem
from app.generate.chain.stages import Chain, fit_exact, step_callback
from app.generate.errors import DeviceError, JobError, ModelNotFoundError
from app.generate.metadata import REFINE_STRENGTH
from app.generate.plan import Job, full_prompt
from app.generate.registry import ModelEntry, Registry, model_identity
from app.generate.steps import StepStore, step_key
from app.show.model import MediaKind

NEEDED_KIND = {MediaKind.STILL: "t2i", MediaKind.VIDEO: "i2v", MediaKind.SPLAT: "depth"}
KIND_WORD = {MediaKind.STILL: "image", MediaKind.VIDEO: "video", MediaKind.SPLAT: "splat"}
KIND_NAMES = {
    "t2i": "text to image",
    "i2v": "image to video",
    "depth": "image to splat",
    "edit": "instruction edit",
    "sharp": "ml-sharp image to splat",
    "lora": "LoRA",
    "upscale": "upscaler",
}
# Recipe `extra` keys that are ours (splat making), not pipeline arguments.
OWN_EXTRA = frozenset({"style", "splat_width", "fov", "near", "far", "edge_fade"})
# diffusers' auto maps: the fallback for twins of classes not in the family table.
AUTO_TWINS = {"img2img": "AutoPipelineForImage2Image", "inpaint": "AutoPipelineForInpainting"}


def scheduler_spec(name: str) -> tuple[str, dict[str, Any]] | None:
    """(class name, options) for a recipe's `scheduler:` (A1111 words or a diffusers class
    name, app/generate/a1111.py), or None when it has no diffusers equivalent."""
    try:
        choice = a1111.parse_scheduler(name)
    except ValueError:
        return None
    return choice.cls, choice.options


def dtype_keyword() -> str:
    """`dtype` from diffusers 0.40 on, `torch_dtype` before (it is deprecated there)."""
    import diffusers

    parts = diffusers.__version__.split(".")
    major, minor = int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    return "dtype" if (major, minor) >= (0, 40) else "torch_dtype"


def _scheduler_rules(name: str | None, entry: ModelEntry) -> list[str]:
    """What stops a recipe's `scheduler:` (unknown words, no equivalent, a diffusion sampler
    on a flow-matching model, a missing package)."""
    if not name:
        return []
    try:
        choice = a1111.parse_scheduler(name)
    except ValueError as exc:
        return [f"generate.scheduler: {exc}"]
    mismatch = a1111.flow_problem(choice, a1111.own_scheduler_class([entry.path, entry.config]))
    if mismatch:
        return [f"generate.scheduler: {mismatch}"]
    package = a1111.SCHEDULER_PACKAGES.get(choice.cls)
    if package and importlib.util.find_spec(package) is None:
        return [
            f"generate.scheduler: '{name}' uses {choice.cls}, which needs the {package} "
            f"package: pip install {package}"
        ]
    return []


def _extra_rules(job: Job, cls: str | None, family: Family | None) -> list[str]:
    """`extra:` keys the first pass's pipeline class takes no argument for (a table of the
    call arguments, app/generate/chain/pipeline_args.py: no diffusers import at check)."""
    if job.kind is MediaKind.SPLAT or cls is None:
        return []
    if job.spec.source is not None and job.kind is MediaKind.STILL:
        cls = (family.img2img if family else None) or cls
    problems = []
    for key in job.spec.extra:
        if key in OWN_EXTRA or (key == "strength" and job.spec.source is not None):
            continue
        problem = extra_problem(cls, key)
        if problem:
            problems.append(problem)
    return problems


class DiffusersBackend:
    """Renders jobs with diffusers pipelines (and transformers depth models for splats)."""

    name = "diffusers"
    capabilities = Capabilities(step_cache=True)

    def __init__(
        self,
        registry: Registry,
        device: str = "cuda",
        batch: int | None = None,
        compile: bool = False,
    ) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        self.registry = registry
        self.device = device
        self.compile = compile
        self.max_batch = max(1, batch if batch is not None else (4 if self.on_cuda else 1))
        self._loaded: tuple[str, Any] | None = None  # (model name, pipeline or DepthModel)
        self._refiner: tuple[str, Any] | None = None  # a registry `refiner:`, loaded beside
        self._twins: dict[tuple[int, str], Any] = {}  # (id(pipeline), role) -> twin
        self._schedulers: dict[int, tuple[Any, dict[str, Any]]] = {}  # id(pipe) -> its own
        self._embeds: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self._warned: set[str] = set()
        self.notes: list[str] = []
        # The steps after the base pass, their LoRAs, upscaler and step store.
        self.chain = Chain(registry, device, self.load, half=self.on_cuda)

    def use_steps(self, store: StepStore) -> None:
        """Cache the intermediate steps of chains (a refine's base pass) in `store`."""
        self.chain.use_steps(store)

    @property
    def on_cuda(self) -> bool:
        """True when rendering on a CUDA device."""
        return self.device.startswith("cuda")

    # --- before rendering ---------------------------------------------------------------

    def check(self, jobs: list[Job]) -> list[tuple[Job, str]]:
        """Missing or unsuitable models, recipes the pipeline family cannot make."""
        problems, missing = self.check_split(jobs)
        return missing + problems

    def check_split(self, jobs: list[Job]) -> tuple[list[tuple[Job, str]], list[tuple[Job, str]]]:
        """(recipe problems, models not found): `check` on a machine that only plays a show
        reports the second as warnings (the weights may live on the generation machine)."""
        problems: list[tuple[Job, str]] = []
        missing: list[tuple[Job, str]] = []
        seen: dict[str, ModelEntry | str] = {}  # model name -> entry, or why it is missing
        for job in jobs:
            if job.variation and any(j.key == job.cue.id for j in jobs):
                continue
            spec = job.spec
            if spec.model is None:
                problems.append(
                    (
                        job,
                        "generate.model: no model given; set `model:` in the recipe or as a "
                        "part/show default (names come from models.yaml)",
                    )
                )
                continue
            entry = self._located(spec.model, seen)
            if isinstance(entry, str):
                missing.append((job, entry))
                continue
            need = stages.needed_kind(job)
            if not stages.accepts_model(job, entry):
                problems.append(
                    (
                        job,
                        f"model '{entry.name}' is a {entry.kind} model "
                        f"({KIND_NAMES[entry.kind]}); {KIND_WORD[job.kind]} recipes need a "
                        f"{need} model ({KIND_NAMES[need]})",
                    )
                )
                continue
            problems.extend((job, m) for m in self._recipe_rules(job, entry, seen))
            problems.extend((job, m) for m in stages.chain_problems(self.registry, job, entry))
            for note in stages.chain_notes(self.registry, job, entry):
                if note not in self.notes:
                    self.notes.append(note)
        return problems, missing

    def _located(self, name: str, seen: dict[str, ModelEntry | str]) -> ModelEntry | str:
        """The entry of model `name` once its files are found, else the reason (memoised)."""
        if name not in seen:
            try:
                seen[name] = self.registry.locate(name)
            except ModelNotFoundError as exc:
                seen[name] = str(exc)
        return seen[name]

    def _recipe_rules(
        self, job: Job, entry: ModelEntry, seen: dict[str, ModelEntry | str]
    ) -> list[str]:
        """What the family table (and this backend) says against the job's recipe."""
        spec = job.spec
        problems: list[str] = []
        if job.kind is not MediaKind.STILL and spec.source is None:
            problems.append(
                f"{KIND_WORD[job.kind]} recipes need `from:` (the cue whose image they start from)"
            )
        problems += _scheduler_rules(spec.scheduler, entry)
        if job.kind is MediaKind.SPLAT:
            return problems
        cls = pipeline_class_name(entry)
        family = family_of(cls)
        refiner: Family | None = None
        if job.kind is MediaKind.STILL and spec.refine and entry.refiner:
            found = self._located(entry.refiner, seen)
            if isinstance(found, str):
                problems.append(f"refiner of model '{entry.name}': {found}")
            else:
                refiner = family_of(pipeline_class_name(found))
        if family is not None:
            problems += recipe_problems(family, spec, job.kind, refiner=refiner)
        if cls is None and entry.single_file and entry.kind == "t2i":
            cls = "StableDiffusionXLPipeline"  # what the loader makes of a bare checkpoint
        problems += _extra_rules(job, cls, family_of(cls))
        if cls and cls.startswith("Wan") and importlib.util.find_spec("ftfy") is None:
            problems.append(
                f"{cls} needs the ftfy package, which is not installed: pip install ftfy"
            )
        return problems

    def _entry_identity(self, entry: ModelEntry) -> dict[str, Any]:
        return {
            "files": model_identity(entry),
            "dtype": entry.dtype,
            "vae_dtype": entry.vae_dtype,
            "pipeline": entry.pipeline,
        }

    def identity(self, job: Job) -> dict[str, Any]:
        """The model's file identity and dtype (what changes the pixels); a video adds the
        model's native rate, a refined still the refiner model's identity."""
        if job.spec.model is None:
            return {}
        entry = self.registry.get(job.spec.model)
        ident = self._entry_identity(entry)
        if job.kind is MediaKind.VIDEO:
            ident["fps"] = entry.fps
        if job.kind is MediaKind.STILL and job.spec.refine and entry.refiner:
            ident["refiner"] = self._entry_identity(self.registry.get(entry.refiner))
        ident.update(stages.chain_identity(self.registry, job))
        return ident

    def prepare(self) -> None:
        """Fail early and clearly when the device is not there."""
        import torch

        if self.on_cuda:
            if not torch.cuda.is_available():
                build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
                raise DeviceError(
                    f"--device {self.device}: no CUDA device is available (torch "
                    f"{torch.__version__}, {build}). Run on the machine with the NVIDIA GPU, or "
                    "use --backend placeholder (no GPU), or --device cpu (slow: tiny models only)"
                )
            index = torch.device(self.device).index or 0
            if index >= torch.cuda.device_count():
                raise DeviceError(
                    f"--device {self.device}: only {torch.cuda.device_count()} CUDA device(s)"
                )
        elif self.device != "cpu" and not self.device.startswith("mps"):
            raise DeviceError(f"--device {self.device}: expected cuda, cuda:N or cpu")

    def describe_device(self) -> str:
        """GPU name and CUDA version, or the CPU."""
        import torch

        if self.on_cuda and torch.cuda.is_available():
            index = torch.device(self.device).index or 0
            return f"{torch.cuda.get_device_name(index)} (CUDA {torch.version.cuda})"
        return f"cpu ({platform.processor() or platform.machine()})"

    # --- loading ------------------------------------------------------------------------

    def torch_dtype(self, name: str | None) -> Any:
        """The torch dtype for a registry dtype name (float32 on CPU: bf16 there is slow)."""
        import torch

        if not self.on_cuda or name is None:
            return torch.float32
        return {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(name, torch.float32)

    def load(self, entry: ModelEntry) -> Any:
        """The loaded pipeline of `entry` (the one loaded before is released first)."""
        if self._loaded is not None and self._loaded[0] == entry.name:
            return self._loaded[1]
        self.unload()

        if entry.kind == "depth":
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            model = DepthModel(entry.path, self.device, self.torch_dtype(entry.dtype))
            self._loaded = (entry.name, model)
            return model
        pipe = self._load_pipeline(entry)
        self._loaded = (entry.name, pipe)
        return pipe

    def load_refiner(self, entry: ModelEntry) -> Any:
        """The loaded refiner model of `entry` (registry `refiner:`), kept beside the base
        model while its jobs run (an SDXL base and refiner fit together on one GPU; use
        `offload:` on either when they do not)."""
        assert entry.refiner is not None
        if self._refiner is not None and self._refiner[0] == entry.refiner:
            return self._refiner[1]
        self._refiner = None
        gc.collect()
        pipe = self._load_pipeline(self.registry.locate(entry.refiner))
        self._refiner = (entry.refiner, pipe)
        return pipe

    def _load_pipeline(self, entry: ModelEntry) -> Any:
        """A diffusers pipeline of `entry` from local files, on the device."""
        import diffusers
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        kwargs: dict[str, Any] = {dtype_keyword(): self.torch_dtype(entry.dtype)}
        kwargs["local_files_only"] = True
        if entry.variant:
            kwargs["variant"] = entry.variant
        kwargs.update(entry.options)
        cls_name = pipeline_class_name(entry)
        if entry.vae_dtype and not entry.single_file:
            # Loaded on its own so its weights never pass through the lower precision.
            vae = self._load_vae(entry)
            if vae is not None:
                kwargs["vae"] = vae
        if entry.single_file:
            cls = getattr(diffusers, cls_name or "StableDiffusionXLPipeline")
            if entry.config is not None:
                kwargs["config"] = str(entry.config)
            pipe = cls.from_single_file(str(entry.path), **kwargs)
        else:
            cls = getattr(diffusers, cls_name or "", None) or diffusers.DiffusionPipeline
            pipe = cls.from_pretrained(str(entry.path), **kwargs)
        if entry.vae_dtype and entry.single_file and getattr(pipe, "vae", None) is not None:
            pipe.vae.to(dtype=self.torch_dtype(entry.vae_dtype))
        if entry.offload == "model" and self.on_cuda:
            pipe.enable_model_cpu_offload(device=self.device)
        elif entry.offload == "sequential" and self.on_cuda:
            pipe.enable_sequential_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        if self.compile:
            for attr in ("transformer", "transformer_2", "unet"):
                module = getattr(pipe, attr, None)
                if module is not None:
                    module.compile()  # in place: the pipeline keeps its module class
        self._schedulers[id(pipe)] = (type(pipe.scheduler), dict(pipe.scheduler.config))
        return pipe

    def _load_vae(self, entry: ModelEntry) -> Any:
        """The model's VAE in `vae_dtype`, or None when model_index.json names none."""
        import diffusers

        try:
            index = json.loads((entry.path / "model_index.json").read_text(encoding="utf-8"))
            cls = getattr(diffusers, str(index["vae"][1]))
        except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
            return None
        return cls.from_pretrained(
            str(entry.path),
            subfolder="vae",
            local_files_only=True,
            **{dtype_keyword(): self.torch_dtype(entry.vae_dtype)},
        )

    def unload(self) -> None:
        """Release the loaded pipeline and its memory."""
        self._loaded = None
        self._refiner = None
        self._twins.clear()
        self._schedulers.clear()
        self._embeds = None
        self.chain.forget()
        gc.collect()
        self._empty_cache()

    def _empty_cache(self) -> None:
        # torch never imported (a run of workflow recipes only, or no torch installed):
        # nothing of ours is on the GPU
        torch = sys.modules.get("torch")
        if self.on_cuda and torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()

    def recover(self) -> None:
        """After a failed job (e.g. out of memory): free cached blocks, keep the pipeline."""
        self._embeds = None
        gc.collect()
        self._empty_cache()

    def close(self) -> None:
        """Release everything."""
        self.unload()

    # --- rendering ----------------------------------------------------------------------

    def render(
        self, jobs: list[Job], inputs: dict[str, Path], on_step: StepCallback
    ) -> list[Rendered]:
        """Render a batch of jobs of one recipe (images), or one job (video, splat)."""
        job = jobs[0]
        assert job.spec.model is not None
        entry = self.registry.locate(job.spec.model)
        if job.kind is MediaKind.STILL and stages.is_edit(job.spec):
            return self.chain.render_edit_cue(entry, jobs, inputs["from"], on_step)
        if job.kind is MediaKind.SPLAT and entry.kind == "sharp":
            return [self.chain.render_sharp(entry, job, inputs["from"], on_step)]
        model = self.load(entry)
        if job.kind is not MediaKind.SPLAT:
            self.chain.use_loras(model, job.spec)
        if job.kind is MediaKind.STILL:
            return self.text_to_image(model, entry, jobs, on_step, inputs.get("from"))
        if len(jobs) != 1:
            raise JobError("video and splat jobs are rendered one at a time")
        if job.kind is MediaKind.VIDEO:
            return [self.image_to_video(model, entry, job, inputs, on_step)]
        with Image.open(inputs["from"]) as im:
            scene, info = image_to_scene(model, im.convert("RGB"), job.spec.extra)
        on_step(1.0)
        return [Rendered(scene=scene, sampler=f"depth: {entry.name}", info=info)]

    def _set_scheduler(self, pipe: Any, name: str | None) -> str:
        """A fresh scheduler for the job (none left in a state by the one before)."""
        import diffusers

        own_class, own_config = self._schedulers.get(
            id(pipe), (type(pipe.scheduler), dict(pipe.scheduler.config))
        )
        if name is None:
            cls, options = own_class, {}
        else:
            try:
                choice = a1111.parse_scheduler(name)
            except ValueError as exc:
                raise JobError(f"generate.scheduler: {exc}") from None
            if not hasattr(diffusers, choice.cls):
                raise JobError(f"generate.scheduler: diffusers has no {choice.cls}")
            cls, options = getattr(diffusers, choice.cls), choice.options
        pipe.scheduler = cls.from_config(own_config, **options)
        return a1111.words_of(cls.__name__, dict(pipe.scheduler.config))

    def _call_kwargs(
        self, pipe: Any, job: Job, wanted: dict[str, Any], *, extra: bool = True
    ) -> dict[str, Any]:
        """`wanted` plus the recipe's `extra`, checked against the pipeline's arguments."""
        params = inspect.signature(pipe.__call__).parameters
        kwargs = {k: v for k, v in wanted.items() if v is not None}
        if extra:
            for key, value in job.spec.extra.items():
                if key in OWN_EXTRA:
                    continue
                if key not in params:
                    raise JobError(
                        f"generate.extra.{key}: {type(pipe).__name__} takes no argument '{key}'"
                    )
                kwargs[key] = value
        if "negative_prompt" in kwargs and "negative_prompt" not in params:
            kwargs.pop("negative_prompt")
            note = f"{job.spec.model}: negative_prompt"
            if note not in self._warned:
                self._warned.add(note)
                self.notes.append(
                    f"cue '{job.cue.id}': {type(pipe).__name__} takes no negative prompt; "
                    "it is ignored"
                )
        return {k: v for k, v in kwargs.items() if k in params}

    def prompt_embeddings(self, pipe: Any, job: Job, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Encode the prompt once per recipe (SDXL and FLUX families); {} for others.

        The returned keyword arguments replace `prompt`/`negative_prompt` in the call; the
        pipeline repeats them per image itself, exactly as it does for a text prompt.
        """
        import torch

        name = type(pipe).__name__
        spec = job.spec
        weighted = self.chain.weighted_embeddings(pipe, full_prompt(spec), spec.negative_prompt)
        if weighted is not None:
            return weighted
        extra = {k: v for k, v in spec.extra.items() if k not in OWN_EXTRA}
        family = (
            "sdxl"
            if name.startswith("StableDiffusionXL")
            else "flux"
            if name in ("FluxPipeline", "FluxImg2ImgPipeline")
            else None
        )
        if family is None or any("embeds" in k or k == "prompt_2" for k in extra):
            return {}
        if family == "flux" and extra.get("true_cfg_scale", 1.0) > 1.0:
            return {}
        msl = extra.get("max_sequence_length", 512 if family == "flux" else None)
        prompt = full_prompt(spec)
        loras = tuple(sorted(self.chain.loras.active.items()))  # text-encoder LoRAs change embeds
        key = (id(pipe), family, prompt, spec.negative_prompt, spec.guidance > 1.0, msl, loras)
        if self._embeds is not None and self._embeds[0] == key:
            return self._embeds[1]
        device = getattr(pipe, "_execution_device", None) or torch.device(self.device)
        with torch.inference_mode():
            if family == "sdxl":
                pe, npe, ppe, nppe = pipe.encode_prompt(
                    prompt=prompt,
                    device=device,
                    num_images_per_prompt=1,
                    do_classifier_free_guidance=spec.guidance > 1.0,
                    negative_prompt=spec.negative_prompt or None,
                )
                embeds = {
                    "prompt_embeds": pe,
                    "negative_prompt_embeds": npe,
                    "pooled_prompt_embeds": ppe,
                    "negative_pooled_prompt_embeds": nppe,
                }
            else:
                pe, ppe, _ = pipe.encode_prompt(
                    prompt=prompt,
                    prompt_2=None,
                    device=device,
                    num_images_per_prompt=1,
                    max_sequence_length=msl,
                )
                embeds = {"prompt_embeds": pe, "pooled_prompt_embeds": ppe}
        embeds = {k: v for k, v in embeds.items() if v is not None}
        self._embeds = (key, embeds)
        return embeds

    def text_to_image(
        self,
        pipe: Any,
        entry: ModelEntry,
        jobs: list[Job],
        on_step: StepCallback,
        source: Path | None = None,
    ) -> list[Rendered]:
        """Text to image for seeds of one recipe, then the optional refine/upscale pass.

        With a `source` image (`from:` on an image recipe) the first pass is image-to-image
        from it instead, at `extra.strength` (default 0.6). With a refine and a step store,
        each first-pass image is a cached step: a seed whose base image is stored skips
        its first pass.
        """
        spec = jobs[0].spec
        grid = grid_of(type(pipe).__name__)
        refine = dict(spec.refine or {})
        fw, fh = generation_size(spec, grid)
        gw, gh = snap(fw, grid), snap(fh, grid)
        sampler = self._set_scheduler(pipe, spec.scheduler)
        refine_steps = int(refine.get("steps", spec.steps)) if refine else 0
        share = spec.steps / (spec.steps + refine_steps)
        info: dict[str, Any] = {"generated_size": [gw, gh], "pipeline": type(pipe).__name__}
        if entry.single_file and entry.path.is_file():  # A1111's `Model hash` of the file
            info["model_hash"] = a1111.autov2_hash(entry.path)
        keys: list[str | None] = [None] * len(jobs)
        store = self.chain.steps
        if stages.chained(spec) and store is not None:
            keys = [self._base_key(job, entry, (gw, gh), source) for job in jobs]
        images: list[Image.Image | None] = [
            store.load(k) if store is not None and k else None for k in keys
        ]
        todo = [i for i, im in enumerate(images) if im is None]
        if todo:
            made = self._first_pass(
                pipe, [jobs[i] for i in todo], (gw, gh), source, on_step, share, info
            )
            for i, image in zip(todo, made, strict=True):
                images[i] = image
                key = keys[i]
                if store is not None and key is not None:
                    store.save(key, image)
        on_step(share)
        if len(todo) < len(jobs):
            info["base_from_cache"] = len(jobs) - len(todo)
        done = [im for im in images if im is not None]
        info["sampler"] = sampler
        results = self.chain.after_base(
            pipe, entry, jobs, done, keys, on_step, share, info, refine_pass=self.refine
        )
        for result in results:
            result.info.pop("sampler", None)
        on_step(1.0)
        return results

    def _base_key(
        self, job: Job, entry: ModelEntry, size: tuple[int, int], source: Path | None
    ) -> str:
        """The step key of a job's first pass: what makes its pixels, no refine setting."""
        spec = job.spec
        return step_key(
            "base",
            {
                "backend": self.name,
                "model": self._entry_identity(entry),
                "seed": job.seed,
                "prompt": full_prompt(spec),
                "negative_prompt": spec.negative_prompt,
                "steps": spec.steps,
                "guidance": spec.guidance,
                "scheduler": spec.scheduler,
                "size": list(size),
                "extra": spec.extra,
                "source": file_sha256(source) if source is not None else None,
                **({"loras": list(spec.loras)} if spec.loras else {}),
            },
        )

    def _first_pass(
        self,
        pipe: Any,
        jobs: list[Job],
        size: tuple[int, int],
        source: Path | None,
        on_step: StepCallback,
        share: float,
        info: dict[str, Any],
    ) -> list[Image.Image]:
        """The first pass for `jobs` (one recipe, one generator per seed)."""
        import torch

        spec = jobs[0].spec
        gw, gh = size
        family = family_of(type(pipe).__name__)
        generators = [torch.Generator(device="cpu").manual_seed(j.seed) for j in jobs]
        wanted: dict[str, Any] = {
            "prompt": full_prompt(spec),
            "negative_prompt": spec.negative_prompt or None,
            "num_inference_steps": spec.steps,
            **call_guidance(family, spec),
            "width": gw,
            "height": gh,
            "generator": generators,
            "num_images_per_prompt": len(jobs),
            "output_type": "pil",
            "callback_on_step_end": step_callback(on_step, 0.0, share, spec.steps),
        }
        first_pass = pipe
        if source is not None:
            first_pass = self.twin(pipe, "img2img")
            with Image.open(source) as im:
                wanted["image"] = fit_exact(im.convert("RGB"), gw, gh)
            wanted.setdefault("strength", 0.6)
            info["pipeline"] = type(first_pass).__name__
        kwargs = self._call_kwargs(first_pass, jobs[0], wanted)
        embeds = self.prompt_embeddings(first_pass, jobs[0], kwargs)
        if embeds:
            kwargs.pop("prompt", None)
            kwargs.pop("negative_prompt", None)
            kwargs.update(embeds)
        return list(first_pass(**kwargs).images)

    def twin(self, pipe: Any, role: str = "img2img") -> Any:
        """The `role` twin ('img2img' or 'inpaint') of `pipe`, sharing its loaded weights.

        Resolved by family (the family table), else through diffusers' auto map; made once
        per pipeline with `from_pipe` (never a second load), with a fresh copy of `pipe`'s
        current scheduler for each call.
        """
        import diffusers

        key = (id(pipe), role)
        if key not in self._twins:
            name = type(pipe).__name__
            family = family_of(name)
            target = family.twin(role) if family else None
            if target == name:
                made = pipe
            elif target is not None:
                made = getattr(diffusers, target).from_pipe(pipe)
            elif family is not None:
                raise JobError(
                    f"{family.name} ({name}) has no {role} pipeline in diffusers (needed by "
                    "refine: and by image recipes with from:)"
                )
            else:
                try:
                    made = getattr(diffusers, AUTO_TWINS[role]).from_pipe(pipe)
                except ValueError as exc:
                    raise JobError(
                        f"{name} is not in the family table and diffusers' auto map has no "
                        f"{role} pipeline for it (needed by refine: and by image recipes with "
                        f"from:): {exc}"
                    ) from None
            made.set_progress_bar_config(disable=True)
            self._twins[key] = made
        made = self._twins[key]
        if made is not pipe:
            made.scheduler = pipe.scheduler.__class__.from_config(pipe.scheduler.config)
        return made

    def refine(
        self,
        pipe: Any,
        entry: ModelEntry,
        jobs: list[Job],
        images: list[Image.Image],
        refine: dict[str, Any],
        on_step: StepCallback,
        start: float,
    ) -> list[Image.Image]:
        """The "hires fix": upscale, then img2img at `strength` with the same model (or the
        registry's `refiner:` model)."""
        import torch

        spec = jobs[0].spec
        if entry.refiner:
            refiner = self.load_refiner(entry)
            self._set_scheduler(refiner, None)
            i2i = self.twin(refiner, "img2img")
        else:
            i2i = self.twin(pipe, "img2img")
        family = family_of(type(i2i).__name__)
        grid = grid_of(type(i2i).__name__)
        rw, rh = snap(spec.width, grid), snap(spec.height, grid)
        upscaled = self.chain.upscale_images(spec, images, (rw, rh))
        steps = int(refine.get("steps", spec.steps))
        # The refine pass gets its own noise stream per seed (offset so it differs from the
        # first pass's), still one generator per image.
        generators = [torch.Generator(device="cpu").manual_seed(j.seed + 1) for j in jobs]
        n = len(jobs)
        guidance = float(refine.get("guidance", spec.guidance))
        wanted = {
            "prompt": [str(refine.get("prompt", full_prompt(spec)))] * n,
            "negative_prompt": [spec.negative_prompt] * n if spec.negative_prompt else None,
            "image": upscaled,
            "strength": float(refine.get("strength", REFINE_STRENGTH)),
            "num_inference_steps": steps,
            **call_guidance(family, replace(spec, guidance=guidance)),
            "width": rw,
            "height": rh,
            "generator": generators,
            "output_type": "pil",
            "callback_on_step_end": step_callback(on_step, start, 1.0 - start, steps),
        }
        kwargs = self._call_kwargs(i2i, jobs[0], wanted, extra=False)
        weighted = self.chain.weighted_embeddings(
            i2i, wanted["prompt"][0], spec.negative_prompt, copies=n
        )
        if weighted is not None:
            kwargs.pop("prompt", None)
            kwargs.pop("negative_prompt", None)
            kwargs.update(weighted)
        return list(i2i(**kwargs).images)

    def image_to_video(
        self, pipe: Any, entry: ModelEntry, job: Job, inputs: dict[str, Path], on_step: StepCallback
    ) -> Rendered:
        """Image (and optional last image) to video frames at the model's native rate."""
        import numpy as np
        import torch

        spec = job.spec
        family = family_of(type(pipe).__name__)
        grid = grid_of(type(pipe).__name__)
        scale = upscale_factor(spec) if spec.upscale else 1.0
        gw, gh = snap(spec.width / scale, grid), snap(spec.height / scale, grid)
        # The rate the model makes its frames at: the registry's, else the family's.
        rate = entry.fps or (family.native_fps if family else None)
        sampler = self._set_scheduler(pipe, spec.scheduler)
        with Image.open(inputs["from"]) as im:
            first = fit_exact(im.convert("RGB"), gw, gh)
        last = None
        if "last_from" in inputs:
            with Image.open(inputs["last_from"]) as im:
                last = fit_exact(im.convert("RGB"), gw, gh)
            if "last_image" not in inspect.signature(pipe.__call__).parameters:
                raise JobError(f"generate.last_from: {type(pipe).__name__} takes no last frame")
        wanted: dict[str, Any] = {
            "image": first,
            "last_image": last,
            "prompt": full_prompt(spec),
            "negative_prompt": spec.negative_prompt or None,
            "width": gw,
            "height": gh,
            "num_frames": spec.frames,
            "num_inference_steps": spec.steps,
            "guidance_scale": spec.guidance,
            "generator": torch.Generator(device="cpu").manual_seed(job.seed),
            "output_type": "np",
            "callback_on_step_end": step_callback(on_step, 0.0, 1.0, spec.steps),
        }
        if family is not None and family.fps_argument and rate:
            wanted[family.fps_argument] = rate
        kwargs = self._call_kwargs(pipe, job, wanted)
        video = pipe(**kwargs).frames[0]
        array = np.asarray(video)
        if array.dtype != np.uint8:
            array = (np.clip(array, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        frames = [np.ascontiguousarray(f[:, :, :3]) for f in array]
        on_step(1.0)
        return Rendered(
            frames=frames,
            frames_fps=rate or spec.fps,
            sampler=sampler,
            info={
                "generated_size": [gw, gh],
                "pipeline": type(pipe).__name__,
                "frames": len(frames),
                "model_fps": rate,
            },
        )
