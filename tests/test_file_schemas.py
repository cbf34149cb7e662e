"""venue.yaml, models.yaml, the picks file and the ratings file go through the show's schema
machinery (app/show/schema.py): every problem at once, each as `file:line: message`, a close key
suggested."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.generate.curation.picks import (
    load_pick_recipes,
    load_pick_variations,
    load_picks,
    save_pick,
)
from app.generate.curation.ratings import Mark, load_ratings, save_ratings
from app.generate.errors import GenerateError
from app.generate.registry import load_registry
from app.render.warp import Venue, VenueError, Warp, load_venue


def _problems(exc: pytest.ExceptionInfo[Exception]) -> list[str]:
    return str(exc.value).splitlines()


def test_a_bad_venue_value_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "venue.yaml"
    path.write_text(
        "# venue set-up\n"
        "output:\n"
        "  monitor: 1\n"
        "  corners: [[0, 0], [1, 0], [1, 1]]\n"
        "operator:\n"
        "  monitor: [2]\n"
        "  monitr: 1\n"
    )
    with pytest.raises(VenueError) as info:
        load_venue(path)
    assert _problems(info) == [
        f"{path}:4: output.corners: corners must be four [x, y] pairs, got 3",
        f"{path}:6: operator.monitor: expected a monitor index or a name, got a list",
        f"{path}:7: unknown key 'monitr' in operator, did you mean 'monitor'?",
    ]


def test_a_good_venue_file_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "venue.yaml"
    path.write_text(
        "output: {monitor: 'HDMI', corners: [[0.1, 0], [1, 0], [1, 1], [0, 1]]}\noperator:\n"
    )
    corners = ((0.1, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    assert load_venue(path) == Venue(Warp(corners), "HDMI", None)  # type: ignore[arg-type]
    path.write_text("output: {monitor: '2'}\n")
    assert load_venue(path) == Venue(output_monitor=2)
    path.write_text("")
    assert load_venue(path) == Venue()


def test_a_bad_picks_value_names_its_file_and_line(tmp_path: Path) -> None:
    show = tmp_path / "show.yaml"
    path = tmp_path / "show.picks.yaml"
    path.write_text(
        "# picks\npicks:\n  '1.1': 3\n  '1.2': seven\nrecipes:\n  '1.1': 2.0\nvariatons: {}\n"
    )
    for load in (load_picks, load_pick_recipes, load_pick_variations):
        with pytest.raises(GenerateError) as info:
            load(show)
        assert _problems(info) == [
            f"{path}:4: picks: cue '1.2': expected an integer >= 0, got 'seven'",
            f"{path}:6: recipes: cue '1.1': expected a mapping (key: value), got 2.0",
            f"{path}:7: unknown key 'variatons' in the picks file, did you mean 'variations'?",
        ]


def test_the_picks_file_round_trips_and_keeps_ids_as_written(tmp_path: Path) -> None:
    show = tmp_path / "show.yaml"
    save_pick(show, "1.10", 4, recipe={"guidance": 2.5}, variation="seed-4.png")
    save_pick(show, "2", 0)
    assert load_picks(show) == {"1.10": 4, "2": 0}
    assert load_pick_recipes(show) == {"1.10": {"guidance": 2.5}}
    assert load_pick_variations(show) == {"1.10": "seed-4.png"}
    (tmp_path / "show.picks.yaml").write_text("picks: {1.10: 3}\n")  # unquoted: as written
    assert load_picks(show) == {"1.10": 3}


def test_a_bad_rating_names_its_file_and_line(tmp_path: Path) -> None:
    show = tmp_path / "show.yaml"
    save_ratings(show, {"1.10": {"seed-1.png": Mark(4), "seed-2.png": Mark(0, True)}})
    assert load_ratings(show) == {"1.10": {"seed-1.png": Mark(4), "seed-2.png": Mark(0, True)}}
    path = tmp_path / "show.ratings.yaml"
    path.write_text(
        "ratings:\n"
        "  '1.1':\n"
        "    seed-1.png: {rating: 9}\n"
        "    seed-2.png: {rating: 2, rejectd: true}\n"
        "    seed-3.png:\n"
    )
    with pytest.raises(GenerateError) as info:
        load_ratings(show)
    assert _problems(info) == [
        f"{path}:3: ratings: cue '1.1', seed-1.png: rating must be 0..5, got 9",
        f"{path}:4: unknown key 'rejectd' in ratings: cue '1.1', seed-2.png, "
        "did you mean 'rejected'?",
    ]


def test_a_bad_models_file_names_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "# model registry\n"
        "models:\n"
        "  base:\n"
        "    path: base\n"
        "    kind: t2l\n"
        "    dtpye: float16\n"
        "  depth: {path: depth, kind: depth, fps: -2}\n"
        "  xl: {path: xl, kind: t2i, offload: modle, refiner: bse}\n"
        "  splat: {path: s.pt, kind: sharp, fallback: dept}\n"
        "comfyui:\n"
        "  servers: [http://a:8188, {url: 'ftp://b', timout: 9}]\n"
        "rot: /data\n"
    )
    with pytest.raises(GenerateError) as info:
        load_registry(path)
    assert _problems(info) == [
        f"{path}:5: model 'base': kind must be one of t2i, i2v, depth, lora, upscale, edit, "
        "sharp, got 't2l' (did you mean 't2i'?)",
        f"{path}:6: unknown key 'dtpye' in model 'base', did you mean 'dtype'?",
        f"{path}:7: model 'depth': fps: expected a number > 0 (or null), got -2",
        f"{path}:8: model 'xl': offload must be one of none, model, sequential, got 'modle' "
        "(did you mean 'model'?)",
        f"{path}:9: model 'splat': fallback 'dept' must be a registered depth model",
        f"{path}:11: comfyui.servers: 'ftp://b' is not an http:// address",
        f"{path}:11: unknown key 'timout' in comfyui, did you mean 'timeout'?",
        f"{path}:12: unknown key 'rot' in the model registry, did you mean 'root'?",
    ]


def test_a_models_file_names_the_close_model_it_meant(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n"
        "  depth-v2: {path: d, kind: depth}\n"
        "  xl: {path: xl, kind: t2i, refiner: xl-refinr}\n"
        "  xl-refiner: {path: r, kind: t2i}\n"
        "  splat: {path: s.pt, kind: sharp, fallback: depth-v3}\n"
        "  other: {hf: org/name, path: x, kind: t2i}\n"
        "  bare: {path: b}\n"
    )
    with pytest.raises(GenerateError) as info:
        load_registry(path)
    assert _problems(info) == [
        f"{path}:3: model 'xl': refiner 'xl-refinr' is not registered (did you mean 'xl-refiner'?)",
        f"{path}:5: model 'splat': fallback 'depth-v3' must be a registered depth model "
        "(did you mean 'depth-v2'?)",
        f"{path}:6: model 'other': give exactly one of 'path' (a local folder or file) and "
        "'hf' (an offline Hugging Face cache entry)",
        f"{path}:7: model 'bare': kind must be one of t2i, i2v, depth, lora, upscale, edit, "
        "sharp, got none (no kind:)",
    ]


def test_a_good_models_file_reads_as_before(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "root: weights\n"
        "models:\n"
        "  xl:\n"
        "    path: xl.safetensors\n"
        "    config: sdxl-config\n"
        "    kind: t2i\n"
        "    fps: 16\n"
        "    licence: MIT\n"
        "    options: {use_safetensors: true}\n"
        "  hub: {hf: org/name, revision: 0123456789, kind: i2v, offload: model}\n"
        "comfyui: {timeout: 60, servers: [http://a:8188/, {url: http://b:8188, max_pixels: 9.0}]}\n"
    )
    registry = load_registry(path)
    xl = registry.models["xl"]
    assert (xl.path, xl.config, xl.fps, xl.licence, xl.options, xl.line) == (
        tmp_path / "weights" / "xl.safetensors",
        tmp_path / "weights" / "sdxl-config",
        16.0,
        "MIT",
        {"use_safetensors": True},
        3,
    )
    hub = registry.models["hub"]
    assert (hub.where, hub.offload, hub.path.name) == ("hf: org/name", "model", "0123456789")
    assert registry.comfyui_servers == ("http://a:8188", "http://b:8188")
    b = registry.comfyui_limits["http://b:8188"]
    assert (b.timeout, b.max_pixels) == (60.0, 9)
    path.write_text("comfyui: {servers: [http://a:8188]}\n")
    assert load_registry(path).models == {}
    path.write_text("")
    with pytest.raises(GenerateError, match=f"{path}:1: expected a mapping with 'models:'"):
        load_registry(path)
