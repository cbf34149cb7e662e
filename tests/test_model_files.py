"""A model's file set is one rule (`registry.model_files`): the identity hash recorded with
generated media and the files a pack lists and carries are the same files."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

from app.generate.registry import load_registry, model_files, model_identity
from app.pack.collect import model_records


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_the_pack_lists_and_carries_the_files_the_identity_hashes(tmp_path: Path) -> None:
    _write(tmp_path / "a" / "model_index.json", b'{"_class_name": "X"}')
    _write(tmp_path / "a" / "unet" / "config.json", b"{}")
    _write(tmp_path / "a" / "unet" / "w.safetensors", b"w" * 100)
    _write(tmp_path / "a" / ".cache" / "lock", b"hidden")  # hidden: not the model's
    _write(tmp_path / "a" / "unet" / ".w.safetensors.part", b"hidden")
    _write(tmp_path / "b.safetensors", b"b" * 100)
    _write(tmp_path / "cfg" / "model_index.json", b"{}")
    models = tmp_path / "models.yaml"
    models.write_text(
        "models:\n"
        "  a: {path: a, kind: t2i}\n"
        "  b: {path: b.safetensors, config: cfg, kind: t2i, licence: MIT}\n"
    )
    registry = load_registry(models)
    show = SimpleNamespace(path=tmp_path / "show.yaml", cues=[])
    entries = {"x.png": {"model": "a"}, "y.png": {"model": "b"}}
    records, weights = model_records(show, entries, models, with_models=True)  # type: ignore[arg-type]

    listed = {r["name"]: [f["path"] for f in r["files"]] for r in records}
    assert listed == {
        "a": ["weights/model_index.json", "weights/unet/config.json", "weights/unet/w.safetensors"],
        "b": ["weights/b.safetensors", "config/model_index.json"],
    }
    for record in records:
        entry = registry.models[record["name"]]
        assert listed[entry.name] == [name for name, _ in model_files(entry)]
        assert record["identity"] == model_identity(entry)

    pack = tmp_path / "pack"  # the members as the pack writes them
    for member in weights:
        target = pack / member.arc
        target.parent.mkdir(parents=True, exist_ok=True)
        if member.src is not None:
            shutil.copyfile(member.src, target)
        else:
            target.write_bytes(member.data or b"")
    packed = load_registry(pack / "models.yaml")
    for name in ("a", "b"):  # the packed copy is the same model
        assert model_identity(packed.models[name]) == model_identity(registry.models[name])
