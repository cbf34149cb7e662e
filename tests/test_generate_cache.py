"""Cache keys, atomic writes, the manifest, the run lock, metadata round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from app.atomic import atomic_output, partial_path, remove_partials
from app.generate.cache import file_sha256, recipe_hash
from app.generate.curation.picks import load_picks, picks_path, save_pick
from app.generate.errors import GenerateError
from app.generate.manifest import Manifest, RunLock
from app.generate.metadata import (
    a1111_parameters,
    embedded_hash,
    parse_a1111_fields,
    read_png_metadata,
    save_png,
    write_sidecar,
)


def test_recipe_hash_is_canonical() -> None:
    a = {"prompt": "moon", "seed": 1, "extra": {"x": 1, "y": 2}}
    b = {"extra": {"y": 2, "x": 1}, "seed": 1, "prompt": "moon"}
    assert recipe_hash(a) == recipe_hash(b)
    assert recipe_hash(a) != recipe_hash({**a, "seed": 2})


def test_atomic_output_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out" / "x.png"
    target.parent.mkdir()
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_output(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert not partial_path(target).exists()
    with atomic_output(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["x.png"]


def test_remove_partials(tmp_path: Path) -> None:
    target = tmp_path / "x.mp4"
    stale = tmp_path / ".x.partial-123.mp4"
    stale.write_bytes(b"junk")
    other = tmp_path / ".y.partial-123.mp4"
    other.write_bytes(b"junk")
    remove_partials(target)
    assert not stale.exists() and other.exists()


def test_manifest_round_trip_and_corrupt_file(tmp_path: Path) -> None:
    out = tmp_path / "p" / "a.png"
    out.parent.mkdir()
    out.write_bytes(b"abc")
    m = Manifest.load(tmp_path)
    m.record(out, {"hash": "h1", "bytes": 3})
    again = Manifest.load(tmp_path)
    assert again.get(out) == {"hash": "h1", "bytes": 3}
    assert again.outputs_with_hash("h1") == [out]
    assert json.loads(m.path.read_text())["outputs"]["p/a.png"]["hash"] == "h1"
    m.path.write_text("{ not json")
    with open(tmp_path / "warn.txt", "w") as warn:
        fresh = Manifest.load(tmp_path, warn=warn)
    assert fresh.entries == {}
    assert list(m.path.parent.glob("manifest.corrupt-*.json"))
    assert "unreadable" in (tmp_path / "warn.txt").read_text()


def test_run_lock_is_exclusive(tmp_path: Path) -> None:
    with RunLock(tmp_path):
        with pytest.raises(GenerateError, match="another generate run"):
            RunLock(tmp_path).__enter__()
    with RunLock(tmp_path):
        pass


def test_a1111_parameters_round_trip(tmp_path: Path) -> None:
    text = a1111_parameters(
        "a moon, over water",
        "blurry",
        [
            ("Steps", 30),
            ("Sampler", "DPM++ 2M Karras"),
            ("CFG scale", 5.5),
            ("Seed", 7),
            ("Size", "1920x1080"),
            ("Model", "chroma: hd"),
            ("Skip", None),
        ],
    )
    lines = text.splitlines()
    assert lines[0] == "a moon, over water"
    assert lines[1] == "Negative prompt: blurry"
    assert lines[2].startswith("Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 5.5, Seed: 7")
    fields = parse_a1111_fields(text)
    assert fields["Model"] == "chroma: hd"  # quoted because of the colon
    assert "Skip" not in fields
    png = tmp_path / "x.png"
    save_png(Image.new("RGB", (4, 4)), png, parameters=text, digest="abc", recipe={"seed": 7})
    meta = read_png_metadata(png)
    assert meta["parameters"] == text and meta["generate_hash"] == "abc"
    assert json.loads(meta["generate_recipe"]) == {"seed": 7}
    assert embedded_hash(png) == "abc"
    clip = tmp_path / "x.mp4"
    clip.write_bytes(b"")
    write_sidecar(clip, {"hash": "def"})
    assert embedded_hash(clip) == "def"


def test_file_digest(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"hello")
    assert file_sha256(f).startswith("2cf24dba")


def test_picks_file(tmp_path: Path) -> None:
    show = tmp_path / "pierrot.yaml"
    assert picks_path(show).name == "pierrot.picks.yaml"
    assert load_picks(show) == {}
    save_pick(show, "1.1", 7)
    save_pick(show, "2.10", 3)
    assert load_picks(show) == {"1.1": 7, "2.10": 3}
    save_pick(show, "1.1", None)
    assert load_picks(show) == {"2.10": 3}
    picks_path(show).write_text("picks: {1.1: minus}\n")
    with pytest.raises(GenerateError, match="picks"):
        load_picks(show)
