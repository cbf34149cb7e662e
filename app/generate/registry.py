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
(`app/generate/comfyui/limits.py`: time limits, answer sizes, the pixel cap).

Other keys of an entry: `pipeline` (a diffusers class name, default: from model_index.json),
`variant`, `options` (extra `from_pretrained` arguments), `refiner` (name of a model used for
`refine:` passes instead of this one). Nothing is ever downloaded: a model that is not on disk
is an error naming the path that was looked for.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app.generate.comfyui.limits import FIELDS as LIMIT_FIELDS
from app.generate.comfyui.limits import ComfyLimits
from app.generate.errors import GenerateError, ModelNotFoundError
from app.show.schema import (
    FLOAT_TAG,
    INT_TAG,
    INVALID,
    STR_TAG,
    Converter,
    Items,
    Reporter,
    check_keys,
    compose_file,
    construct,
    describe,
    identifier,
    is_null,
    line_of,
    mapping,
    number,
    raw_mapping,
    read_fields,
    string,
    suggest,
)

KINDS = ("t2i", "i2v", "depth", "lora", "upscale", "edit", "sharp")
FILE_KINDS = ("lora", "upscale", "sharp")  # entries that are one weight file, not a folder
DTYPES = ("bfloat16", "float16", "float32")
OFFLOADS = ("none", "model", "sequential")
DEFAULT_TOOL = "sharp"  # kind sharp: ml-sharp's command when the entry names no `tool:`
TOP_KEYS = ("models", "root", "hf_cache", "comfyui")
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


def find_tool(entry: ModelEntry) -> Path | None:
    """The command of a kind `sharp` entry (its `tool:`, default `sharp` on PATH), or None
    when it is not installed (app/generate/backends/sharp.py runs it)."""
    name = entry.tool or DEFAULT_TOOL
    if os.sep in name or (os.altsep and os.altsep in name):
        path = Path(name).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    found = shutil.which(name)
    return Path(found) if found else None


def check_on_disk(entry: ModelEntry, registry_path: Path | None = None) -> None:
    """Raise ModelNotFoundError naming the path looked for when `entry` is not on disk."""
    origin = f" ({registry_path}:{entry.line})" if registry_path else ""
    if entry.kind == "sharp" and entry.fallback:
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


_WHAT = "the model registry"  # how messages name models.yaml


def load_registry(path: Path | None) -> Registry:
    """Read a models.yaml, or an empty registry for None.

    Read with the show's schema machinery (app/show/schema.py): a GenerateError lists every
    problem at once, one `file:line: message` a line, with a close key or value suggested.
    """
    if path is None:
        return Registry(None, {})
    path = Path(path)
    rep = Reporter(path)
    root = compose_file(path, rep, _WHAT)
    registry = _read(path, root, rep) if root is not None else None
    if registry is None or rep.problems:
        raise GenerateError("\n".join(str(p) for p in rep.problems))
    return registry


def _one_of(options: tuple[str, ...], *, nullable: bool = False) -> Converter:
    """One word among `options` -> itself; the problem says `<name> must be one of ...`."""

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        if nullable and is_null(node):
            return None
        if isinstance(node, ScalarNode) and node.tag == STR_TAG and node.value in options:
            return node.value
        hint = _close(node.value, options) if isinstance(node, ScalarNode) else ""
        rep.add(node, f"{name} must be one of {', '.join(options)}, got {describe(node)}{hint}")
        return INVALID

    return convert


def _positive(whole: bool) -> Converter:
    """A number > 0 (a ComfyUI limit) -> float, or int for a count."""

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        value = construct(node) if node.tag in (INT_TAG, FLOAT_TAG) else None
        if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            rep.add(node, f"{name}: expected a positive number, got {describe(node)}")
            return INVALID
        return int(value) if whole else float(value)

    return convert


_TOP_FIELDS: dict[str, Converter] = {"root": string(), "hf_cache": string(nullable=True)}
_ENTRY_FIELDS: dict[str, Converter] = {
    "path": string(),
    "hf": string(),
    "revision": identifier(),
    "config": string(nullable=True),
    "kind": _one_of(KINDS),
    "pipeline": string(nullable=True),
    "dtype": _one_of(DTYPES),
    "vae_dtype": _one_of(DTYPES, nullable=True),
    "licence": string(nullable=True),
    "license": string(nullable=True),
    "fps": number(0, lo_open=True, nullable=True),
    "offload": _one_of(OFFLOADS),
    "variant": string(nullable=True),
    "options": raw_mapping(nullable=True),
    "refiner": identifier(nullable=True),
    "tool": string(nullable=True),
    "fallback": identifier(nullable=True),
}
ENTRY_KEYS = tuple(_ENTRY_FIELDS)
_LIMIT_FIELDS: dict[str, Converter] = {
    name: _positive(spec.type == "int") for name, spec in LIMIT_FIELDS.items()
}


def _read(path: Path, root: Node, rep: Reporter) -> Registry | None:
    """The registry of a composed models.yaml; its problems go to `rep`."""
    items = mapping(root, rep, _WHAT)
    if items is None:
        return None
    if "models" not in items and "comfyui" not in items:
        # A registry for ComfyUI workflows only may leave out models: (the workflows name
        # their own weights), but one of the two must be there.
        rep.add(
            line_of(root) if root.start_mark else 1,  # an empty file has no mark
            "expected a mapping with 'models:' and/or 'comfyui:' (see models.yaml.example)",
        )
        return None
    check_keys(items, TOP_KEYS, rep, _WHAT)
    top = read_fields(items, _TOP_FIELDS, rep)
    base = path.parent
    if "root" in top:
        base = Path(top["root"]).expanduser()
        base = base if base.is_absolute() else (path.parent / base).resolve()
    elif not base.is_absolute():
        base = base.resolve()
    cache = Path(top["hf_cache"]).expanduser() if top.get("hf_cache") else default_hf_cache()
    models: dict[str, ModelEntry] = {}
    section = mapping(items["models"][1], rep, "models") if "models" in items else None
    for name, (knode, vnode) in (section or {}).items():
        entry = _entry(name, knode, vnode, base, cache, rep)
        if entry is not None:
            models[name] = entry
    _check_links(models, rep)
    limits: dict[str, ComfyLimits] = {}
    servers = _comfyui_servers(items["comfyui"][1], rep, limits) if "comfyui" in items else ()
    return Registry(path, models, servers, limits)


def _comfyui_servers(node: Node, rep: Reporter, limits: dict[str, ComfyLimits]) -> tuple[str, ...]:
    """The `comfyui: {servers: [http://host:port | {url: ..., <limits>}, ...], <limits>}`
    block; each server's limits go into `limits` by url."""
    items = mapping(node, rep, "comfyui")
    if items is None:
        return ()
    servers = items["servers"][1] if "servers" in items else node
    if not isinstance(servers, SequenceNode) or not servers.value:
        rep.add(
            servers,
            "comfyui: expected {servers: [http://127.0.0.1:8188, ...]} "
            "(one ComfyUI server per GPU)",
        )
        return ()
    base = _limits(items, ComfyLimits(), rep, "servers")
    out: list[str] = []
    for item in servers.value:
        own: Items = {}
        url: Node | None = item
        if isinstance(item, MappingNode):
            own = mapping(item, rep, "comfyui.servers") or {}
            url = own["url"][1] if "url" in own else None
            if url is None:
                rep.add(item, "comfyui.servers: a server given as a mapping needs url:")
        own_limits = _limits(own, base, rep, "url")
        text = url.value.rstrip("/") if isinstance(url, ScalarNode) else ""
        if text.startswith(("http://", "https://")):
            out.append(text)
            limits[text] = own_limits
        elif url is not None:
            rep.add(url, f"comfyui.servers: {describe(url)} is not an http:// address")
    return tuple(out)


def _limits(items: Items, base: ComfyLimits, rep: Reporter, other: str) -> ComfyLimits:
    """`base` with the limit keys of `items` applied; keys but `other` and limits are problems."""
    check_keys(items, (other, *LIMIT_FIELDS), rep, "comfyui")
    return dataclasses.replace(base, **read_fields(items, _LIMIT_FIELDS, rep, prefix="comfyui: "))


def _entry(
    name: str, knode: Node, vnode: Node, root: Path, cache: Path, rep: Reporter
) -> ModelEntry | None:
    """One `models:` entry, or None when it has a problem (reported)."""
    where = f"model '{name}'"
    items = mapping(vnode, rep, where)
    if items is None:
        return None
    check_keys(items, ENTRY_KEYS, rep, where)
    raw = read_fields(items, _ENTRY_FIELDS, rep, prefix=f"{where}: ")
    ok = all(key in raw for key in _ENTRY_FIELDS if key in items)
    if "kind" not in items:
        rep.add(knode, f"{where}: kind must be one of {', '.join(KINDS)}, got none (no kind:)")
        ok = False
    if ("path" in items) == ("hf" in items):
        rep.add(
            knode,
            f"{where}: give exactly one of 'path' (a local folder or file) and 'hf' "
            "(an offline Hugging Face cache entry)",
        )
        ok = False
    if not ok:
        return None
    if "hf" in raw:
        target = hf_snapshot(cache, raw["hf"], raw.get("revision", "main"))
        label = f"hf: {raw['hf']}"
    else:
        target = Path(raw["path"]).expanduser()
        target = target if target.is_absolute() else root / target
        label = f"path: {raw['path']}"
    config = None
    if raw.get("config") is not None:
        config = Path(raw["config"]).expanduser()
        config = config if config.is_absolute() else root / config
    return ModelEntry(
        name=name,
        kind=raw["kind"],
        path=target,
        where=label,
        config=config,
        pipeline=raw.get("pipeline"),
        dtype=raw.get("dtype", "bfloat16"),
        vae_dtype=raw.get("vae_dtype"),
        licence=raw.get("licence") or raw.get("license") or "",
        fps=raw.get("fps"),
        offload=raw.get("offload", "none"),
        variant=raw.get("variant"),
        options=raw.get("options") or {},
        refiner=raw.get("refiner"),
        line=line_of(knode),
        tool=raw.get("tool"),
        fallback=raw.get("fallback"),
    )


def _check_links(models: dict[str, ModelEntry], rep: Reporter) -> None:
    """Problems of the keys that name another model (`refiner`, `fallback`) or that only some
    kinds take (`tool`, `fallback`)."""
    for entry in models.values():
        where = f"model '{entry.name}'"
        if entry.kind != "sharp" and (entry.tool or entry.fallback):
            rep.add(entry.line, f"{where}: tool and fallback apply to kind sharp only")
        if entry.refiner is not None and entry.refiner not in models:
            rep.add(
                entry.line,
                f"{where}: refiner '{entry.refiner}' is not registered"
                f"{_close(entry.refiner, models)}",
            )
        other = models.get(entry.fallback) if entry.fallback is not None else None
        if entry.fallback is not None and (other is None or other.kind != "depth"):
            depth = [n for n, e in models.items() if e.kind == "depth"]
            rep.add(
                entry.line,
                f"{where}: fallback '{entry.fallback}' must be a registered depth model"
                f"{_close(entry.fallback, depth)}",
            )


def _close(word: str, names: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a name is close to `word`, else nothing."""
    close = suggest(word, names)
    return f" (did you mean '{close}'?)" if close and close != word else ""


_identity_memo: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def model_identity(entry: ModelEntry) -> str:
    """A hash that changes when the model's files change, and not when they are copied.

    Small files (configs, tokenizers) are hashed whole; large weight files by their size and
    three 1 MiB samples (start, middle, end): two fine-tunes of one architecture have the same
    sizes but different bytes everywhere, and reading 3 MiB of a 20 GB file is instant.
    """
    files = model_files(entry)
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


def model_files(entry: ModelEntry) -> list[tuple[str, Path]]:
    """A model's file set, the one rule for what belongs to a model: (name, file) for its
    weights (`weights/...`) and config (`config/...`), hidden files left out, sorted.

    `model_identity` hashes these names and files, and a pack stores the same files under
    `models/<name>/<name here>` (app/pack/collect.py), so the two cannot drift.
    """
    files: list[tuple[str, Path]] = []
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
    return files


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
