"""The model registry: `models.yaml` maps a model name to weights on local disk.

```yaml
root: /data/models            # optional; relative paths resolve against it (default: here)
hf_cache: ~/.cache/huggingface/hub   # optional; default $HF_HUB_CACHE or $HF_HOME/hub
models:
  chroma-hd:
    path: chroma1-hd          # a diffusers folder (model_index.json inside)
    kind: t2i                 # t2i | i2v | depth
    dtype: bfloat16           # bfloat16 | float16 | float32 (default bfloat16)
    licence: Apache-2.0
  juggernaut-xl:
    path: juggernautXL_v9.safetensors   # a single-file checkpoint...
    config: sdxl-base-config            # ...with a local diffusers folder of its configs
    kind: t2i
  wan22-i2v:
    hf: Wan-AI/Wan2.2-I2V-A14B-Diffusers   # an entry of the offline Hugging Face cache
    kind: i2v
    vae_dtype: float32
    fps: 16                   # the model's native frame rate (clips are resampled to the recipe's)
    offload: model            # none | model | sequential (accelerate CPU offload)
```

A `comfyui: {servers: [http://127.0.0.1:8188, http://gpu2:8188]}` block lists the ComfyUI
servers that render recipes with `workflow:` (one job at a time per server). A server may be
a mapping `{url: ..., timeout: 3600, ...}`, and the block may hold limits for every server
(`app/generate/backends/comfyui_limits.py`: time limits, answer sizes, the pixel cap).

Other keys of an entry: `pipeline` (a diffusers class name, default: from model_index.json),
`variant`, `options` (extra `from_pretrained` arguments), `refiner` (name of a model used for
`refine:` passes instead of this one). Nothing is ever downloaded: a model that is not on disk
is an error naming the path that was looked for.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from app import safe_yaml
from app.generate.comfyui.limits import ComfyLimits, parse_limits
from app.generate.errors import GenerateError, ModelNotFoundError

KINDS = ("t2i", "i2v", "depth", "lora", "upscale", "edit", "sharp")
FILE_KINDS = ("lora", "upscale", "sharp")  # entries that are one weight file, not a folder
DTYPES = ("bfloat16", "float16", "float32")
OFFLOADS = ("none", "model", "sequential")
ENTRY_KEYS = frozenset(
    {
        "path",
        "hf",
        "revision",
        "config",
        "kind",
        "pipeline",
        "dtype",
        "vae_dtype",
        "licence",
        "license",
        "fps",
        "offload",
        "variant",
        "options",
        "refiner",
        "tool",
        "fallback",
    }
)
TOP_KEYS = frozenset({"root", "hf_cache", "models", "comfyui"})
_SAMPLE = 1 << 20  # bytes read at each of three places of a large weight file
_SMALL = 4 << 20  # files up to this size are hashed whole


@dataclass(frozen=True)
class ModelEntry:
    """One registered model. `path` is where its weights must be (not checked until used)."""

    name: str
    kind: str
    path: Path
    where: str  # how the registry named it, for messages
    config: Path | None = None
    pipeline: str | None = None
    dtype: str = "bfloat16"
    vae_dtype: str | None = None
    licence: str = ""
    fps: float | None = None
    offload: str = "none"
    variant: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    refiner: str | None = None
    line: int = 0
    tool: str | None = None  # kind sharp: the `sharp` command (a name on PATH or a path)
    fallback: str | None = None  # kind sharp: a depth model used when the tool is missing

    @property
    def single_file(self) -> bool:
        """True for a single checkpoint file (loaded with `from_single_file`)."""
        suffixes = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf")
        return self.kind in FILE_KINDS or self.path.suffix.lower() in suffixes


@dataclass(frozen=True)
class Registry:
    """Models by name, read from one models.yaml (or empty when there is none)."""

    path: Path | None
    models: dict[str, ModelEntry]
    comfyui_servers: tuple[str, ...] = ()  # `comfyui: {servers: [...]}`: one job per server
    comfyui_limits: Mapping[str, ComfyLimits] = field(default_factory=dict)  # by server url

    def get(self, name: str) -> ModelEntry:
        """The entry for `name`; ModelNotFoundError (naming the registry file) if absent."""
        entry = self.models.get(name)
        if entry is not None:
            return entry
        if self.path is None:
            raise ModelNotFoundError(
                f"model '{name}': no model registry found (write a models.yaml next to the "
                "show or pass --models PATH; see models.yaml.example)"
            )
        known = ", ".join(sorted(self.models)) or "none"
        raise ModelNotFoundError(f"model '{name}' is not in {self.path} (registered: {known})")

    def locate(self, name: str) -> ModelEntry:
        """The entry for `name` after checking its files exist (ModelNotFoundError if not)."""
        entry = self.get(name)
        check_on_disk(entry, self.path)
        return entry


def check_on_disk(entry: ModelEntry, registry_path: Path | None = None) -> None:
    """Raise ModelNotFoundError naming the path looked for when `entry` is not on disk."""
    origin = f" ({registry_path}:{entry.line})" if registry_path else ""
    if entry.kind == "sharp" and entry.fallback:
        from app.generate.backends.sharp import find_tool

        if find_tool(entry) is None:
            return  # its depth fallback makes the scene: the checkpoint is not needed here
    if entry.where.startswith("hf:") and not entry.path.exists():
        raise ModelNotFoundError(
            f"model '{entry.name}'{origin}: {entry.where[3:].strip()} is not in the offline "
            f"Hugging Face cache: looked for {entry.path}. Nothing is downloaded here: fetch it "
            "on a machine with network and copy the cache over"
        )
    if entry.single_file:
        if not entry.path.is_file():
            raise ModelNotFoundError(
                f"model '{entry.name}'{origin}: checkpoint file not found: {entry.path}"
            )
        if (
            entry.kind not in ("depth", *FILE_KINDS)
            and entry.config is not None
            and not entry.config.is_dir()
        ):
            raise ModelNotFoundError(
                f"model '{entry.name}'{origin}: config folder not found: {entry.config}"
            )
        return
    if not entry.path.is_dir():
        raise ModelNotFoundError(
            f"model '{entry.name}'{origin}: model folder not found: {entry.path}"
        )
    marker = "config.json" if entry.kind == "depth" else "model_index.json"
    if not (entry.path / marker).is_file():
        raise ModelNotFoundError(
            f"model '{entry.name}'{origin}: {entry.path} is not a "
            f"{'transformers' if entry.kind == 'depth' else 'diffusers'} model folder "
            f"(no {marker} in it)"
        )


def find_registry(show_path: Path, explicit: Path | None = None) -> Path | None:
    """The models.yaml to use: `explicit`, else next to the show, else in its parent folder."""
    if explicit is not None:
        if not Path(explicit).is_file():
            raise GenerateError(f"--models: file not found: {explicit}")
        return Path(explicit)
    folder = Path(show_path).resolve().parent
    for candidate in (folder / "models.yaml", folder.parent / "models.yaml"):
        if candidate.is_file():
            return candidate
    return None


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings remember the line they start on (key '__line__')."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    data = loader.construct_mapping(node, deep=True)
    data["__line__"] = node.start_mark.line + 1
    return data


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def default_hf_cache() -> Path:
    """The Hugging Face hub cache folder the way huggingface_hub finds it (no import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def hf_snapshot(cache: Path, repo: str, revision: str = "main") -> Path:
    """The snapshot folder of `repo` at `revision` in an offline HF cache.

    Returns the path that would hold it even when it is missing (for the error message).
    """
    base = cache / ("models--" + repo.replace("/", "--"))
    if re.fullmatch(r"[0-9a-f]{40}", revision):
        return base / "snapshots" / revision
    ref = base / "refs" / revision
    if ref.is_file():
        return base / "snapshots" / ref.read_text().strip()
    return ref


def load_registry(path: Path | None) -> Registry:
    """Read a models.yaml (GenerateError listing every problem) or an empty registry."""
    if path is None:
        return Registry(None, {})
    path = Path(path)
    try:
        data = safe_yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except OSError as exc:
        raise GenerateError(f"{path}: cannot read the model registry: {exc}") from None
    except yaml.YAMLError as exc:
        raise GenerateError(f"{safe_yaml.one_line(exc, path)} (the model registry)") from None
    if isinstance(data, Mapping) and "models" not in data and "comfyui" in data:
        # A registry for ComfyUI workflows only: the workflows name their own weights.
        data["models"] = {"__line__": data.get("__line__", 1)}
    if not isinstance(data, Mapping) or not isinstance(data.get("models"), Mapping):
        raise GenerateError(
            f"{path}:1: expected a mapping with 'models:' and/or 'comfyui:' "
            "(see models.yaml.example)"
        )
    problems: list[str] = []
    for key in data:
        if key != "__line__" and key not in TOP_KEYS:
            problems.append(f"{path}:{data['__line__']}: unknown key '{key}'")
    root = Path(str(data.get("root", path.parent))).expanduser()
    if not root.is_absolute():
        root = (path.parent / root).resolve()
    cache = Path(str(data["hf_cache"])).expanduser() if data.get("hf_cache") else default_hf_cache()
    models: dict[str, ModelEntry] = {}
    for name, raw in data["models"].items():
        if name == "__line__":
            continue
        line = raw.get("__line__", data["models"]["__line__"]) if isinstance(raw, Mapping) else 0
        entry = _entry(str(name), raw, root, cache, f"{path}:{line}", problems)
        if entry is not None:
            models[str(name)] = entry
    problems.extend(_check_links(path, models))
    for entry in models.values():
        if entry.refiner is not None and entry.refiner not in models:
            problems.append(
                f"{path}:{entry.line}: model '{entry.name}': refiner "
                f"'{entry.refiner}' is not registered"
            )
    limits: dict[str, ComfyLimits] = {}
    where = f"{path}:{data['__line__']}"
    servers = _comfyui_servers(data.get("comfyui"), where, problems, limits)
    if problems:
        raise GenerateError("\n".join(problems))
    return Registry(path, models, servers, limits)


def _comfyui_servers(
    raw: Any, where: str, problems: list[str], limits: dict[str, ComfyLimits] | None = None
) -> tuple[str, ...]:
    """The `comfyui: {servers: [http://host:port | {url: ..., <limits>}, ...], <limits>}`
    block; each server's limits go into `limits` by url."""
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        where = f"{where.rsplit(':', 1)[0]}:{raw.get('__line__', where.rsplit(':', 1)[1])}"
    servers = raw.get("servers") if isinstance(raw, Mapping) else None
    if not isinstance(servers, list) or not servers:
        problems.append(
            f"{where}: comfyui: expected {{servers: [http://127.0.0.1:8188, ...]}} "
            "(one ComfyUI server per GPU)"
        )
        return ()
    assert isinstance(raw, Mapping)
    base = parse_limits(raw, ComfyLimits(), where, problems, skip=("servers",))
    out: list[str] = []
    for item in servers:
        url, own = (item.get("url"), item) if isinstance(item, Mapping) else (item, {})
        text = str(url).rstrip("/")
        if not text.startswith(("http://", "https://")):
            problems.append(f"{where}: comfyui.servers: {url!r} is not an http:// address")
            continue
        out.append(text)
        if limits is not None:
            limits[text] = parse_limits(own, base, where, problems, skip=("url",))
    return tuple(out)


def _entry(
    name: str, raw: Any, root: Path, cache: Path, where: str, problems: list[str]
) -> ModelEntry | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: model '{name}': expected a mapping (path, kind, ...)")
        return None
    bad = len(problems)
    for key in raw:
        if key != "__line__" and key not in ENTRY_KEYS:
            problems.append(f"{where}: model '{name}': unknown key '{key}'")
    kind = raw.get("kind")
    if kind not in KINDS:
        problems.append(
            f"{where}: model '{name}': kind must be one of {', '.join(KINDS)}, got {kind!r}"
        )
    dtype = raw.get("dtype", "bfloat16")
    vae_dtype = raw.get("vae_dtype")
    for key, value in (("dtype", dtype), ("vae_dtype", vae_dtype)):
        if value is not None and value not in DTYPES:
            problems.append(f"{where}: model '{name}': {key} must be one of {', '.join(DTYPES)}")
    offload = str(raw.get("offload", "none"))
    if offload not in OFFLOADS:
        problems.append(f"{where}: model '{name}': offload must be one of {', '.join(OFFLOADS)}")
    fps = raw.get("fps")
    if fps is not None and (not isinstance(fps, int | float) or fps <= 0):
        problems.append(f"{where}: model '{name}': fps must be a number > 0")
    options = raw.get("options", {})
    if not isinstance(options, Mapping):
        problems.append(f"{where}: model '{name}': options must be a mapping")
    if ("path" in raw) == ("hf" in raw):
        problems.append(
            f"{where}: model '{name}': give exactly one of 'path' (a local folder "
            "or file) and 'hf' (an offline Hugging Face cache entry)"
        )
    if len(problems) > bad:
        return None
    if "hf" in raw:
        repo = str(raw["hf"])
        target = hf_snapshot(cache, repo, str(raw.get("revision", "main")))
        label = f"hf: {repo}"
    else:
        target = Path(str(raw["path"])).expanduser()
        target = target if target.is_absolute() else root / target
        label = f"path: {raw['path']}"
    config = None
    if raw.get("config") is not None:
        config = Path(str(raw["config"])).expanduser()
        config = config if config.is_absolute() else root / config
    return ModelEntry(
        name=name,
        kind=str(kind),
        path=target,
        where=label,
        config=config,
        pipeline=raw.get("pipeline"),
        dtype=str(dtype),
        vae_dtype=vae_dtype,
        licence=str(raw.get("licence", raw.get("license", ""))),
        fps=float(fps) if fps is not None else None,
        offload=offload,
        variant=raw.get("variant"),
        options={k: v for k, v in dict(options).items() if k != "__line__"},
        refiner=raw.get("refiner"),
        line=int(raw.get("__line__", 0)),
        tool=str(raw["tool"]) if raw.get("tool") is not None else None,
        fallback=str(raw["fallback"]) if raw.get("fallback") is not None else None,
    )


def _check_links(path: Path, models: dict[str, ModelEntry]) -> list[str]:
    """Problems of the keys that only some kinds take (`tool`, `fallback`)."""
    problems = []
    for entry in models.values():
        where = f"{path}:{entry.line}: model '{entry.name}'"
        if entry.kind != "sharp" and (entry.tool or entry.fallback):
            problems.append(f"{where}: tool and fallback apply to kind sharp only")
        if entry.fallback is None:
            continue
        other = models.get(entry.fallback)
        if other is None or other.kind != "depth":
            problems.append(
                f"{where}: fallback '{entry.fallback}' must be a registered depth model"
            )
    return problems


_identity_memo: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def model_identity(entry: ModelEntry) -> str:
    """A hash that changes when the model's files change, and not when they are copied.

    Small files (configs, tokenizers) are hashed whole; large weight files by their size and
    three 1 MiB samples (start, middle, end): two fine-tunes of one architecture have the same
    sizes but different bytes everywhere, and reading 3 MiB of a 20 GB file is instant.
    """
    files: list[tuple[str, Path]] = []  # (name used in the hash, file)
    for label, base in (("weights", entry.path), ("config", entry.config)):
        if base is None:
            continue
        if base.is_file():
            files.append((f"{label}/{base.name}", base))
        elif base.is_dir():
            for p in sorted(base.rglob("*")):
                rel = p.relative_to(base)
                if p.is_file() and not any(part.startswith(".") for part in rel.parts):
                    files.append((f"{label}/{rel.as_posix()}", p))
    stats = tuple((name, p.stat().st_size, p.stat().st_mtime_ns) for name, p in files)
    key = (str(entry.path), stats)
    if key in _identity_memo:
        return _identity_memo[key]
    h = hashlib.sha256()
    for (name, p), (_, size, _) in zip(files, stats, strict=True):
        h.update(f"{name}\0{size}\0".encode())
        h.update(_file_sample_hash(p, size))
    digest = h.hexdigest()
    _identity_memo[key] = digest
    return digest


def _file_sample_hash(path: Path, size: int) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= _SMALL:
            h.update(fh.read())
        else:
            for offset in (0, size // 2, size - _SAMPLE):
                fh.seek(offset)
                h.update(fh.read(_SAMPLE))
    return h.digest()
