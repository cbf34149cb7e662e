"""AUTOMATIC1111 / Forge vocabulary: samplers, schedule types, hires sizes, `parameters` text.

One table maps A1111's sampler names and schedule types onto diffusers scheduler classes and
their config options. A recipe's `scheduler:` is written in A1111's words: a sampler,
optionally followed by a schedule type (`DPM++ 2M Karras`, `DPM++ 2M SDE Exponential`,
`Euler a`), the way A1111 wrote it before 1.9. Without a schedule type the model's own
schedule is kept; `Automatic` is A1111 1.10's: the sampler's default schedule (Karras for
DPM++ 2M, Exponential for the 2M/3M SDE samplers). What diffusers cannot do is refused with
the closest thing it can. A diffusers class name (`DPMSolverMultistepScheduler`) is accepted
as well.

Pure data and functions: no torch or diffusers import (`check` uses this). A test keeps
`SCHEDULER_OPTIONS` equal to the installed diffusers' constructor arguments.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")


@dataclass(frozen=True)
class Sampler:
    """One A1111 sampler and its diffusers equivalent (None: there is none)."""

    name: str
    scheduler: str | None
    options: dict[str, Any] = field(default_factory=dict)
    default_schedule: str | None = None  # what A1111's `Automatic` resolves to
    closest: str = ""  # without an equivalent: the closest sampler we have
    note: str = ""  # how close the equivalent is


@dataclass(frozen=True)
class Schedule:
    """One A1111 schedule type and the scheduler config that gives it (None: none does)."""

    name: str
    options: dict[str, Any] | None
    closest: str = ""
    note: str = ""


_DPM = "DPMSolverMultistepScheduler"
SAMPLERS: tuple[Sampler, ...] = (
    Sampler("DPM++ 2M", _DPM, {"algorithm_type": "dpmsolver++", "solver_order": 2}, "Karras"),
    Sampler(
        "DPM++ 2M SDE",
        _DPM,
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2},
        "Exponential",
    ),
    Sampler(
        "DPM++ 2M SDE Heun",
        _DPM,
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "heun"},
        "Exponential",
        note="closest: diffusers' heun solver type of the 2M SDE solver",
    ),
    Sampler(
        "DPM++ 3M SDE",
        _DPM,
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
        "Exponential",
    ),
    Sampler(
        "DPM++ SDE",
        "DPMSolverSDEScheduler",
        {},
        "Karras",
        note="k-diffusion's port (needs torchsde); Brownian noise: similar, not identical",
    ),
    Sampler("DPM++ 2S a", None, closest="DPM++ SDE"),
    Sampler("Euler a", "EulerAncestralDiscreteScheduler"),
    Sampler("Euler", "EulerDiscreteScheduler"),
    Sampler("LMS", "LMSDiscreteScheduler"),
    Sampler("Heun", "HeunDiscreteScheduler"),
    Sampler("DPM2", "KDPM2DiscreteScheduler", default_schedule="Karras"),
    Sampler("DPM2 a", "KDPM2AncestralDiscreteScheduler", default_schedule="Karras"),
    Sampler("DPM fast", None, closest="DPM++ 2M"),
    Sampler("DPM adaptive", None, closest="DPM++ 2M"),
    Sampler("Restart", None, closest="Heun"),
    Sampler("DDIM", "DDIMScheduler"),
    Sampler("DDIM CFG++", None, closest="DDIM"),
    Sampler("PLMS", "PNDMScheduler"),
    Sampler("UniPC", "UniPCMultistepScheduler"),
    Sampler("LCM", "LCMScheduler"),
    # Ours: the flow-matching Euler of FLUX, SD3, Chroma... (Forge writes it `Euler`).
    Sampler("Flow Euler", "FlowMatchEulerDiscreteScheduler"),
)

SCHEDULES: tuple[Schedule, ...] = (
    Schedule("Automatic", {}),  # resolved to the sampler's default in `parse_scheduler`
    Schedule("Uniform", {"timestep_spacing": "linspace"}),
    Schedule("Karras", {"use_karras_sigmas": True}),
    Schedule("Exponential", {"use_exponential_sigmas": True}),
    Schedule(
        "Polyexponential",
        {"use_exponential_sigmas": True},
        note="A1111's default rho 1 makes it the exponential schedule",
    ),
    Schedule("SGM Uniform", {"timestep_spacing": "trailing"}),
    Schedule("KL Optimal", None, closest="Karras"),
    Schedule("Align Your Steps", None, closest="Karras"),
    Schedule("Simple", {"timestep_spacing": "trailing"}),
    Schedule("Normal", {"timestep_spacing": "linspace"}),
    Schedule("DDIM", {"timestep_spacing": "leading"}),
    Schedule("Beta", {"use_beta_sigmas": True}),
    Schedule("Turbo", None, closest="SGM Uniform"),
)

# The config options each scheduler class takes, of those the tables set (diffusers 0.42;
# tests/test_a1111.py compares it with the installed diffusers).
_K = frozenset({*_SIGMA_FLAGS, "timestep_spacing"})
SCHEDULER_OPTIONS: dict[str, frozenset[str]] = {
    "EulerDiscreteScheduler": _K,
    "EulerAncestralDiscreteScheduler": frozenset({"timestep_spacing"}),
    "HeunDiscreteScheduler": _K,
    "LMSDiscreteScheduler": _K,
    "KDPM2DiscreteScheduler": _K,
    "KDPM2AncestralDiscreteScheduler": _K,
    _DPM: _K | {"algorithm_type", "solver_order", "solver_type"},
    "DPMSolverSDEScheduler": _K,
    "DDIMScheduler": frozenset({"timestep_spacing"}),
    "PNDMScheduler": frozenset({"timestep_spacing"}),
    "UniPCMultistepScheduler": _K | {"solver_order", "solver_type"},
    "LCMScheduler": frozenset({"timestep_spacing"}),
    "FlowMatchEulerDiscreteScheduler": frozenset(_SIGMA_FLAGS),
}
FLOW_SCHEDULERS = frozenset({"FlowMatchEulerDiscreteScheduler"})
# Packages a scheduler class needs beyond diffusers (checked with find_spec at `check`).
SCHEDULER_PACKAGES = {"DPMSolverSDEScheduler": "torchsde"}

_SAMPLER_BY_KEY = {s.name.lower(): s for s in SAMPLERS}
_SCHEDULE_BY_KEY = {s.name.lower(): s for s in SCHEDULES}
# Spellings seen in files: Forge/ComfyUI ids and A1111's internal names.
_SCHEDULE_ALIASES = {
    "sgmuniform": "SGM Uniform",
    "sgm_uniform": "SGM Uniform",
    "kl_optimal": "KL Optimal",
    "align_your_steps": "Align Your Steps",
}
_SAMPLER_ALIASES = {"k_euler_a": "Euler a", "k_euler": "Euler", "k_lms": "LMS", "k_heun": "Heun"}


@dataclass(frozen=True)
class SchedulerChoice:
    """A resolved `scheduler:`: the A1111 words and the diffusers class and options."""

    sampler: str  # A1111's sampler name (or the diffusers class name given)
    schedule: str | None  # A1111's schedule type; None: the model's own schedule
    cls: str
    options: dict[str, Any]

    @property
    def words(self) -> str:
        """The recipe spelling: sampler, then schedule type when there is one."""
        return f"{self.sampler} {self.schedule}" if self.schedule else self.sampler

    def describe(self) -> str:
        """`DPMSolverMultistepScheduler(use_karras_sigmas=True, ...)` for plans and messages."""
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.cls}({opts})"


def _key(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").split())


def vocabulary() -> list[str]:
    """Every spelling `parse_scheduler` accepts with a schedule type, for suggestions."""
    words = [s.name for s in SAMPLERS if s.scheduler]
    words += [f"{s.name} {t.name}" for s in SAMPLERS if s.scheduler for t in SCHEDULES]
    return words


def _closest(text: str) -> str:
    found = difflib.get_close_matches(text, vocabulary(), n=1, cutoff=0.5)
    if not found:
        found = difflib.get_close_matches(
            text.lower(), [w.lower() for w in vocabulary()], n=1, cutoff=0.4
        )
        found = [next(w for w in vocabulary() if w.lower() == found[0])] if found else []
    return found[0] if found else "DPM++ 2M Karras"


def _split(text: str) -> tuple[Sampler, Schedule | None] | None:
    key = _key(text)
    key = _key(_SAMPLER_ALIASES.get(key.replace(" ", "_"), key))
    for name in sorted(_SAMPLER_BY_KEY, key=len, reverse=True):
        if key != name and not key.startswith(name + " "):
            continue
        rest = key[len(name) :].strip(" ,/")
        if not rest:
            return _SAMPLER_BY_KEY[name], None
        rest = _key(_SCHEDULE_ALIASES.get(rest.replace(" ", "_"), rest))
        if rest in _SCHEDULE_BY_KEY:
            return _SAMPLER_BY_KEY[name], _SCHEDULE_BY_KEY[rest]
    return None


def parse_scheduler(text: str, schedule: str | None = None) -> SchedulerChoice:
    """The scheduler for a recipe's `scheduler:` (A1111 words or a diffusers class name).

    `schedule` is a separate schedule type (A1111's `Schedule type` field). ValueError with
    a message naming the closest supported spelling when diffusers has no equivalent.
    """
    text = text.strip()
    if schedule and schedule.strip():
        text = f"{text} {schedule.strip()}"
    if text.endswith("Scheduler") and text.isidentifier():
        return SchedulerChoice(text, None, text, {})
    found = _split(text)
    if found is None:
        raise ValueError(
            f"unknown scheduler '{text}' (closest: '{_closest(text)}'; A1111 sampler names, "
            "optionally followed by a schedule type, or a diffusers class name; see docs/a1111.md)"
        )
    sampler, sched = found
    if sampler.scheduler is None:
        raise ValueError(
            f"sampler '{sampler.name}' has no diffusers equivalent (closest: '{sampler.closest}')"
        )
    if sched is not None and sched.name == "Automatic":
        sched = (
            _SCHEDULE_BY_KEY[sampler.default_schedule.lower()] if sampler.default_schedule else None
        )
    if sched is not None and sched.options is None:
        raise ValueError(
            f"schedule type '{sched.name}' has no diffusers equivalent (closest: "
            f"'{sampler.name} {sched.closest}')"
        )
    options = dict(sampler.options)
    if sched is not None and sched.name == "Simple" and sampler.scheduler in FLOW_SCHEDULERS:
        sched = None  # Forge's `Euler, Simple` of flow models: the flow schedule itself
    if sched is not None:
        takes = SCHEDULER_OPTIONS.get(sampler.scheduler, frozenset())
        wanted = dict(sched.options or {})
        missing = [k for k in wanted if k not in takes]
        if missing:
            raise ValueError(
                f"'{sampler.name} {sched.name}': diffusers' {sampler.scheduler} takes no "
                f"{missing[0]} (closest: '{sampler.name}', the model's own schedule)"
            )
        # A schedule type sets every sigma flag, so the model's config cannot add its own.
        options.update({k: False for k in _SIGMA_FLAGS if k in takes})
        options.update(wanted)
    return SchedulerChoice(sampler.name, sched.name if sched else None, sampler.scheduler, options)


def scheduler_problem(text: str) -> str | None:
    """Why `text` cannot be a recipe's `scheduler:`, or None."""
    try:
        parse_scheduler(text)
    except ValueError as exc:
        return str(exc)
    return None


def words_of(cls: str, config: dict[str, Any]) -> str:
    """A1111's words (`DPM++ 2M Karras`) for a scheduler class and its config: the sampler
    whose options the config has, then the schedule its flags or spacing give."""
    sampler = cls
    for s in SAMPLERS:
        if s.scheduler == cls and all(config.get(k, v) == v for k, v in s.options.items()):
            sampler = s.name
            break
    for flag, name in zip(_SIGMA_FLAGS, ("Karras", "Exponential", "Beta"), strict=True):
        if config.get(flag):
            return f"{sampler} {name}"
    if cls in FLOW_SCHEDULERS:
        return sampler
    spacing = {"linspace": "Uniform", "trailing": "SGM Uniform", "leading": "DDIM"}
    name = spacing.get(str(config.get("timestep_spacing", "")))
    return f"{sampler} {name}" if name else sampler


def own_scheduler_class(folders: list[Path | None]) -> str | None:
    """The scheduler class a diffusers folder (or a checkpoint's config folder) brings:
    `scheduler/scheduler_config.json`'s `_class_name`, or None."""
    for folder in folders:
        config = folder / "scheduler" / "scheduler_config.json" if folder else None
        if config is not None and config.is_file() and config.stat().st_size < (1 << 20):
            try:
                return str(json.loads(config.read_text(encoding="utf-8")).get("_class_name"))
            except (OSError, ValueError, AttributeError):
                return None
    return None


def flow_problem(choice: SchedulerChoice, own: str | None) -> str | None:
    """Why `choice` cannot drive a model whose own scheduler is `own` (a diffusion sampler
    on a flow-matching model, or the other way round), or None."""
    if own is None or choice.sampler == choice.cls:
        return None
    own_flow, chosen_flow = own.startswith("FlowMatch"), choice.cls in FLOW_SCHEDULERS
    if own_flow and not chosen_flow:
        return (
            f"'{choice.words}' is a sampler of diffusion models; this model is a flow-matching "
            f"model ({own}) (closest: 'Flow Euler')"
        )
    if chosen_flow and not own_flow:
        return f"'{choice.words}' is for flow-matching models; this model uses {own}"
    return None


def sampler_fields(words: str) -> list[tuple[str, str]]:
    """`Sampler` and `Schedule type` fields for our `parameters` from the recipe words."""
    found = _split(words) if words else None
    if found is None:
        return [("Sampler", words)]
    sampler, sched = found
    fields = [("Sampler", sampler.name)]
    if sched is not None:
        fields.append(("Schedule type", sched.name))
    return fields


# --- hires fix sizes ---------------------------------------------------------------------


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The picture A1111's hires fix saves from a `width` x `height` first pass at `scale`:
    `int(W*s)` (truncated), then the latent's multiple of 8."""
    return int(width * scale) // 8 * 8, int(height * scale) // 8 * 8


def first_pass_side(final: int, scale: float, grid: int = 8) -> int | None:
    """The first-pass side (a multiple of `grid`) that A1111's rounding takes to `final` at
    `scale`, or None. Exact division wins; past scale 1 the answer is unique."""
    exact = final / scale
    if exact == int(exact) and int(exact) % grid == 0:
        return int(exact)
    lo = max(grid, (math.floor(exact) // grid - 1) * grid)
    for side in range(lo, lo + 4 * grid, grid):
        if int(side * scale) // 8 * 8 == final:
            return side
    return None


# --- the parameters text ----------------------------------------------------------------

_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")


@dataclass(frozen=True)
class Parameters:
    """A parsed A1111 `parameters` text."""

    prompt: str
    negative_prompt: str
    fields: dict[str, str]  # in the order written


def parse_parameters(text: str) -> Parameters:
    """Prompt, negative prompt and the `Key: value` fields, read as A1111's own reader does
    (`infotext_utils.parse_generation_parameters`): the last line holds the fields only when
    it yields at least 3 of them; quoted values are JSON strings."""
    lines = text.strip().split("\n")
    fields: dict[str, str] = {}
    last = lines[-1] if lines else ""
    found = _PARAM.findall(last)
    if len(found) >= 3:
        lines = lines[:-1]
        for key, value in found:
            value = value.strip()
            if len(value) > 1 and value[0] == '"' and value[-1] == '"':
                try:
                    value = str(json.loads(value))
                except ValueError:
                    pass
            fields[key.strip()] = value
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        if line.strip().startswith("Negative prompt:"):
            in_negative = True
            line = line.strip()[len("Negative prompt:") :]
        (negative if in_negative else prompt).append(line)
    return Parameters("\n".join(prompt).strip(), "\n".join(negative).strip(), fields)


def size_of(value: str) -> tuple[int, int] | None:
    """(width, height) of a `WxH` field, or None."""
    m = _SIZE.match(value.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


# --- model hashes ------------------------------------------------------------------------


def autov2_hash(path: Path) -> str:
    """A1111's `Model hash` ("AutoV2"): the first 10 hex digits of the file's SHA-256."""
    from app.generate.cache import file_sha256

    return file_sha256(path)[:10]


def legacy_hash(path: Path) -> str:
    """A1111's pre-2023 8-hex model hash: SHA-256 of the 64 KiB at offset 1 MiB."""
    with open(path, "rb") as fh:
        fh.seek(0x100000)
        return hashlib.sha256(fh.read(0x10000)).hexdigest()[:8]


def readme_table() -> str:
    """The README's short sampler table: A1111's words grouped by the diffusers scheduler
    that makes them, what is refused, and the schedule types (a test keeps it equal)."""
    groups: dict[str, list[str]] = {}
    for s in SAMPLERS:
        if s.scheduler is not None:
            groups.setdefault(s.scheduler, []).append(s.name)
    rows = ["| A1111 sampler (`scheduler:`) | diffusers scheduler |", "|---|---|"]
    rows += [f"| {', '.join(names)} | `{cls}` |" for cls, names in groups.items()]
    refused = [f"{s.name} (-> {s.closest})" for s in SAMPLERS if s.scheduler is None]
    rows.append(f"| refused by `check`, naming the closest | {', '.join(refused)} |")
    kinds = ", ".join(k.name for k in SCHEDULES if k.options is not None)
    cut = ", ".join(k.name for k in SCHEDULES if k.options is None)
    rows.append(f"| schedule types after the sampler | {kinds}; refused: {cut} |")
    return "\n".join(rows)


def markdown_tables() -> str:
    """The sampler and schedule-type tables of docs/a1111.md (a test keeps them equal)."""

    def opts(options: dict[str, Any] | None) -> str:
        return ", ".join(f"`{k}={v!r}`" for k, v in (options or {}).items()) or "-"

    rows = ["| A1111 sampler | diffusers scheduler | options | Automatic = | note |"]
    rows.append("|---|---|---|---|---|")
    for s in SAMPLERS:
        if s.scheduler is None:
            rows.append(f"| {s.name} | none: refused | - | - | closest: {s.closest} |")
        else:
            rows.append(
                f"| {s.name} | `{s.scheduler}` | {opts(s.options)} | "
                f"{s.default_schedule or 'model own'} | {s.note} |"
            )
    rows += ["", "| A1111 schedule type | scheduler config | note |", "|---|---|---|"]
    for t in SCHEDULES:
        if t.name == "Automatic":
            rows.append("| Automatic | the sampler's default (column above) | |")
        elif t.options is None:
            rows.append(f"| {t.name} | none: refused | closest: {t.closest} |")
        else:
            rows.append(f"| {t.name} | {opts(t.options)} | {t.note} |")
    takes = [
        f"| `{cls}` | {', '.join(sorted(k for k in keys if k in _K)) or '-'} |"
        for cls, keys in SCHEDULER_OPTIONS.items()
    ]
    rows += ["", "| scheduler | schedule options it takes |", "|---|---|", *takes]
    return "\n".join(rows) + "\n"
