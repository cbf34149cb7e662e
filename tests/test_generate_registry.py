"""Model registry: parsing, clear errors naming the paths looked for, file identity."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.generate.errors import GenerateError, ModelNotFoundError
from app.generate.registry import find_registry, load_registry, model_identity

ROOT = Path(__file__).resolve().parent.parent


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _diffusers_folder(folder: Path, weights: bytes = b"w" * 100) -> Path:
    _write(folder / "model_index.json", '{"_class_name": "StableDiffusionXLPipeline"}')
    _write(folder / "unet" / "config.json", '{"sample_size": 128}')
    (folder / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(weights)
    return folder


def test_example_registry_parses() -> None:
    registry = load_registry(ROOT / "models.yaml.example")
    assert {"chroma-hd", "wan22-i2v", "depth-anything-v2", "juggernaut-xl"} <= set(registry.models)
    wan = registry.models["wan22-i2v"]
    assert (wan.kind, wan.dtype, wan.vae_dtype, wan.fps, wan.offload) == (
        "i2v",
        "bfloat16",
        "float32",
        16.0,
        "model",
    )
    assert registry.models["juggernaut-xl"].single_file
    assert registry.models["chroma-hd"].path == Path("/data/models/Chroma1-HD")


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    reg = load_registry(
        _write(tmp_path / "models.yaml", "models:\n  m: {path: nowhere, kind: t2i}\n")
    )
    with pytest.raises(ModelNotFoundError) as err:
        reg.locate("m")
    assert str(tmp_path / "nowhere") in str(err.value)
    assert "models.yaml:2" in str(err.value)


def test_folder_without_model_index_is_explained(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    reg = load_registry(_write(tmp_path / "models.yaml", "models:\n  m: {path: m, kind: t2i}\n"))
    with pytest.raises(ModelNotFoundError, match="no model_index.json"):
        reg.locate("m")


def test_unregistered_model_lists_known_names(tmp_path: Path) -> None:
    reg = load_registry(_write(tmp_path / "models.yaml", "models:\n  a: {path: a, kind: t2i}\n"))
    with pytest.raises(ModelNotFoundError, match=r"'b' is not in .*models.yaml \(registered: a\)"):
        reg.get("b")


def test_offline_hf_cache_entry(tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    snap = cache / "models--org--name" / "snapshots" / "abc123"
    _diffusers_folder(snap)
    _write(cache / "models--org--name" / "refs" / "main", "abc123")
    text = (
        f"hf_cache: {cache}\nmodels:\n"
        "  m: {hf: org/name, kind: t2i}\n"
        "  x: {hf: org/other, kind: t2i}\n"
    )
    reg = load_registry(_write(tmp_path / "models.yaml", text))
    assert reg.locate("m").path == snap
    with pytest.raises(ModelNotFoundError) as err:
        reg.locate("x")
    message = str(err.value)
    assert "offline Hugging Face cache" in message
    assert str(cache / "models--org--other" / "refs" / "main") in message


def test_single_file_needs_its_config(tmp_path: Path) -> None:
    (tmp_path / "ckpt.safetensors").write_bytes(b"x")
    text = "models:\n  m: {path: ckpt.safetensors, config: cfg, kind: t2i}\n"
    reg = load_registry(_write(tmp_path / "models.yaml", text))
    with pytest.raises(ModelNotFoundError, match="config folder not found"):
        reg.locate("m")


def test_all_problems_at_once_with_lines(tmp_path: Path) -> None:
    text = (
        "models:\n"
        "  a: {path: a, kind: t2v}\n"
        "  b: {path: b, kind: t2i, dtype: fp8, colour: red}\n"
        "  c: {kind: t2i}\n"
    )
    with pytest.raises(GenerateError) as err:
        load_registry(_write(tmp_path / "models.yaml", text))
    lines = str(err.value).splitlines()
    assert any("models.yaml:2" in ln and "kind must be one of" in ln for ln in lines)
    assert any("models.yaml:3" in ln and "dtype" in ln for ln in lines)
    assert any("models.yaml:3" in ln and "unknown key 'colour'" in ln for ln in lines)
    assert any("models.yaml:4" in ln and "exactly one of 'path'" in ln for ln in lines)


def test_find_registry_next_to_show_then_parent(tmp_path: Path) -> None:
    show = _write(tmp_path / "show" / "s.yaml", "poems: []\n")
    assert find_registry(show) is None
    parent = _write(tmp_path / "models.yaml", "models: {}\n")
    assert find_registry(show) == parent
    beside = _write(tmp_path / "show" / "models.yaml", "models: {}\n")
    assert find_registry(show) == beside
    with pytest.raises(GenerateError, match="--models"):
        find_registry(show, tmp_path / "missing.yaml")


def test_identity_follows_content_not_location(tmp_path: Path) -> None:
    a = _diffusers_folder(tmp_path / "a")
    text = "models:\n  a: {path: a, kind: t2i}\n  b: {path: b, kind: t2i}\n"
    shutil.copytree(a, tmp_path / "b")
    reg = load_registry(_write(tmp_path / "models.yaml", text))
    same = model_identity(reg.models["a"])
    assert model_identity(reg.models["b"]) == same  # a copy is the same model
    (tmp_path / "b" / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"v" * 100)
    assert model_identity(reg.models["b"]) != same  # same size, other weights
    _write(tmp_path / "a" / "unet" / "config.json", '{"sample_size": 64}')
    assert model_identity(reg.models["a"]) != same
