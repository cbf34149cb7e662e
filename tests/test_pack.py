"""Show packs: pack, verify (flipped byte, deleted and added file), refused entries (`../`,
absolute paths, links, truncation, a newer format), the unpack cache, the format's pure
functions."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from app.pack.format import (
    ManifestLine,
    PackError,
    manifest_text,
    member_problem,
    parse_manifest,
    poem_sizes,
)
from app.pack.reader import cached_folder, read_pack, resolve_show, unpack_cached, unpack_to

SHOW = """
title: Tiny pack
output: {width: 64, height: 36, fps: 10}
poems:
  - id: "1"
    title: One
    cues:
      - {id: "1.1", media: a/one.png}
      - {id: "1.2", media: a/two.png}
  - id: "2"
    title: Two
    cues:
      - {id: "2.1", media: b/three.png}
      - {id: "2.2", media: a/one.png}
"""


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((18, 32, 3), value, np.uint8)).save(path)


@pytest.fixture
def show(tmp_path: Path) -> Path:
    (tmp_path / "proj" / "show").mkdir(parents=True)
    path = tmp_path / "proj" / "show" / "tiny.yaml"
    path.write_text(SHOW, encoding="utf-8")
    (tmp_path / "proj" / "show" / "tiny.picks.yaml").write_text("picks: {}\n", encoding="utf-8")
    for name, v in (("a/one.png", 40), ("a/two.png", 120), ("b/three.png", 200)):
        _png(tmp_path / "proj" / "media" / name, v)
    _png(tmp_path / "proj" / "media" / "unused.png", 9)  # not played: stays out of the pack
    return path


@pytest.fixture
def pack(show: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VJSHOW_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "tiny.vjshow"
    assert main(["pack", str(show), "--out", str(out)]) == 0
    return out


def _members(pack: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(pack) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else b"") for m in tar]


def _rewrite(
    pack: Path,
    edit: Callable[[list[tuple[tarfile.TarInfo, bytes]]], list[tuple[tarfile.TarInfo, bytes]]],
) -> Path:
    members = edit(_members(pack))
    out = pack.with_name("edited.vjshow")
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if info.isfile():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _before_manifest(extra: list[tuple[tarfile.TarInfo, bytes]]) -> Callable:
    return lambda ms: ms[:-1] + extra + ms[-1:]


def _verify(pack: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["verify", str(pack)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_pack_holds_the_show_media_readme_and_manifest(pack: Path) -> None:
    names = [m.name for m, _ in _members(pack)]
    assert names[:2] == ["pack.json", "README.txt"] and names[-1] == "MANIFEST"
    assert "show/tiny.yaml" in names and "show/tiny.picks.yaml" in names
    assert {"media/a/one.png", "media/a/two.png", "media/b/three.png"} <= set(names)
    assert "media/unused.png" not in names
    assert names.count("media/a/one.png") == 1  # played by two cues, packed once
    assert {"models/models.json", "env/requirements.lock"} <= set(names)
    data = dict((m.name, d) for m, d in _members(pack))
    lines, problems = parse_manifest(data["MANIFEST"].decode())
    assert not problems and set(lines) == set(names) - {"MANIFEST"}
    info = json.loads(data["pack.json"])
    assert info["show"] == "show/tiny.yaml" and info["version"] == 1
    assert [p["id"] for p in info["poems"]] == ["1", "2"]
    assert info["poems"][0]["files"] == 2 and info["poems"][1]["files"] == 1
    readme = data["README.txt"].decode()
    assert "python -m app play" in readme and "Sizes per poem" in readme
    assert "numpy==" in data["env/requirements.lock"].decode()
    assert str(pack.parent) not in b"".join(data.values()).decode("utf-8", "replace")


def test_verify_passes_an_intact_pack(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _verify(pack, capsys)
    assert code == 0, text
    assert "intact" in text and "3 media files present and probing" in text


def test_verify_names_a_flipped_byte(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tarfile.open(pack) as tar:
        member = tar.getmember("media/b/three.png")
    raw = bytearray(pack.read_bytes())
    raw[member.offset_data + member.size // 2] ^= 0x01
    pack.write_bytes(bytes(raw))
    code, text = _verify(pack, capsys)
    assert code == 1
    assert "media/b/three.png: altered" in text
    assert text.count("altered") == 1


def test_verify_names_a_deleted_file(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edited = _rewrite(pack, lambda ms: [m for m in ms if m[0].name != "media/a/two.png"])
    code, text = _verify(edited, capsys)
    assert code == 1 and "media/a/two.png: missing from the pack" in text


def test_verify_names_an_added_file(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edited = _rewrite(pack, _before_manifest([_file("media/extra.png", b"not in the manifest")]))
    code, text = _verify(edited, capsys)
    assert code == 1 and "media/extra.png: not in MANIFEST" in text


def test_verify_names_a_media_file_that_does_not_probe(
    show: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VJSHOW_CACHE", str(tmp_path / "cache"))
    (show.parent.parent / "media" / "a" / "two.png").write_bytes(b"this is not a png")
    out = tmp_path / "broken.vjshow"
    assert main(["pack", str(show), "--out", str(out)]) == 0
    code, text = _verify(out, capsys)
    assert code == 1 and "media/a/two.png: does not probe (cue 1.2)" in text


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, b""


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (_file("../escaped.txt", b"out of the folder"), "climbs out of the pack"),
        (_file("media/../../escaped.txt", b"out of the folder"), "climbs out of the pack"),
        (_file("/tmp/escaped-absolute.txt", b"absolute"), "absolute path"),
        (_link("media/link.png", "/etc/passwd"), "a link"),
        (_link("media/hard.png", "media/a/one.png", tarfile.LNKTYPE), "a link"),
    ],
)
def test_unsafe_entries_are_refused_and_nothing_is_written(
    pack: Path, tmp_path: Path, entry: tuple[tarfile.TarInfo, bytes], why: str
) -> None:
    name = entry[0].name
    edited = _rewrite(pack, _before_manifest([entry]))
    home = tmp_path / "unpack-here"
    home.mkdir()
    before = _tree(tmp_path)
    with pytest.raises(PackError) as caught:
        unpack_to(edited, home / "show")
    assert any(p.startswith(f"{name}: refused") and why in p for p in caught.value.problems)
    assert _tree(tmp_path) == before  # nothing outside, nothing half-unpacked
    assert not Path("/tmp/escaped-absolute.txt").exists()
    with pytest.raises(PackError):
        unpack_cached(edited, tmp_path / "cache2")
    assert not any(p.name != "index" for p in (tmp_path / "cache2").iterdir())


def test_a_truncated_pack_is_refused(pack: Path, tmp_path: Path) -> None:
    raw = pack.read_bytes()
    cut = tmp_path / "cut.vjshow"
    cut.write_bytes(raw[: len(raw) // 2])
    result = read_pack(cut, None)
    assert not result.ok
    assert any("truncated" in p for p in result.problems)
    with pytest.raises(PackError):
        unpack_to(cut, tmp_path / "cut")
    assert not (tmp_path / "cut").exists()
    assert not list(tmp_path.glob(".partial-*"))


def test_a_pack_from_a_newer_version_is_refused(pack: Path, tmp_path: Path) -> None:
    def newer(ms: list[tuple[tarfile.TarInfo, bytes]]) -> list[tuple[tarfile.TarInfo, bytes]]:
        info = json.loads(ms[0][1])
        info["version"] = 99
        return [(ms[0][0], json.dumps(info).encode()), *ms[1:]]

    with pytest.raises(PackError) as caught:
        unpack_to(_rewrite(pack, newer), tmp_path / "new")
    assert "format 99" in str(caught.value) and "newer version" in str(caught.value)
    assert not (tmp_path / "new").exists()


def test_not_a_pack_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.vjshow"
    with tarfile.open(plain, "w") as tar:
        tar.addfile(*_with_io(_file("hello.txt", b"hi")))
    result = read_pack(plain, None)
    assert result.problems == [f"{plain}: not a show pack (pack.json does not come first)"]


def _with_io(entry: tuple[tarfile.TarInfo, bytes]) -> tuple[tarfile.TarInfo, io.BytesIO]:
    return entry[0], io.BytesIO(entry[1])


def test_the_cache_unpacks_once_per_pack(pack: Path, tmp_path: Path) -> None:
    show_file = resolve_show(pack)
    folder = show_file.parent.parent
    assert folder.parent == tmp_path / "cache" and show_file.name == "tiny.yaml"
    assert cached_folder(pack) == folder
    marker = folder / "media" / "a" / "one.png"
    stamp = marker.stat().st_mtime_ns
    assert resolve_show(pack) == show_file  # found by the index, not unpacked again
    assert marker.stat().st_mtime_ns == stamp
    copy = tmp_path / "copy.vjshow"
    copy.write_bytes(pack.read_bytes())
    assert resolve_show(copy) == show_file  # same content, same folder
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name != "index"] == [folder.name]


def test_check_and_render_take_a_pack(
    pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(pack)]) == 0
    assert "tiny.yaml" in capsys.readouterr().out
    out = tmp_path / "run.mp4"
    assert (
        main(["render", str(pack), "--script", "0:GO", "--duration", "0.3", "--out", str(out)]) == 0
    )
    assert out.stat().st_size > 0


def test_pack_refuses_a_show_with_missing_media(
    show: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (show.parent.parent / "media" / "b" / "three.png").unlink()
    out = tmp_path / "x.vjshow"
    assert main(["pack", str(show), "--out", str(out)]) == 2
    assert "three.png" in capsys.readouterr().err
    assert not out.exists()


def test_pack_refuses_an_absolute_media_root(show: Path, tmp_path: Path) -> None:
    show.write_text(f"media_root: {show.parent.parent / 'media'}\n" + SHOW, encoding="utf-8")
    assert main(["pack", str(show), "--out", str(tmp_path / "x.vjshow")]) == 2


def test_member_names() -> None:
    assert member_problem("media/a/one.png") is None
    assert "climbs" in (member_problem("a/../../b") or "")
    assert "absolute" in (member_problem("/etc/passwd") or "")
    assert "absolute" in (member_problem("C:/x") or "")
    assert member_problem("a\\b") is not None and member_problem("a/./b") is not None
    assert member_problem("a//b") is not None and member_problem("") is not None


def test_manifest_round_trip_and_malformed_lines() -> None:
    lines = [ManifestLine("show/a b.yaml", 12, "ab" * 32), ManifestLine("media/x.png", 0, "0" * 64)]
    parsed, problems = parse_manifest(manifest_text(lines))
    assert not problems and list(parsed.values()) == lines
    _, problems = parse_manifest("zz  1  a\n" + "0" * 64 + "  x  b\n" + "0" * 64 + "  1  ../c\n")
    assert [p.split(":")[1] for p in problems] == ["1", "2", "3"]


def test_poem_sizes() -> None:
    sizes = poem_sizes([("1", 10), ("2", 5), ("1", 1), (None, 7)], {"1": "One", "2": "Two"})
    assert [(s.poem, s.files, s.bytes) for s in sizes] == [("1", 2, 11), ("2", 1, 5), ("", 1, 7)]


def test_a_show_inside_its_media_root_keeps_its_layout(tmp_path: Path) -> None:
    from app.show.loader import load_show

    folder = tmp_path / "flat"
    folder.mkdir()
    show = folder / "flat.yaml"
    show.write_text("media_root: .\n" + SHOW, encoding="utf-8")
    for name in ("a/one.png", "a/two.png", "b/three.png"):
        _png(folder / name, 77)
    out = tmp_path / "flat.vjshow"
    assert main(["pack", str(show), "--out", str(out)]) == 0
    unpack_to(out, tmp_path / "there")
    loaded = load_show(tmp_path / "there" / "media" / "flat.yaml")
    assert all(c.media.is_relative_to(tmp_path / "there") for c in loaded.cues)
