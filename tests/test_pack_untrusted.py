"""Someone else's pack: its network settings are not applied unless trusted, its media must
lie inside it, and the reader refuses sparse, oversized and undeclared members before
writing (a 10 KB pack declaring 2 GiB writes nothing)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.cli import main
from app.pack.format import ManifestLine, PackError, manifest_text, parse_manifest
from app.pack.reader import read_pack, unpack_cached, unpack_to
from app.pack.trust import exposure_settings, for_play, without_exposure
from app.show.loader import load_show

REPO = Path(__file__).resolve().parent.parent

SHOW = """
title: Borrowed
output: {width: 32, height: 18, fps: 10}
web: {host: 127.0.0.1, token: known-public-token, view_token: known-view-token, allow: [any]}
osc: {host: 127.0.0.1, allow: [any], passcode: "1234"}
poems:
  - id: "1"
    title: One
    cues:
      - {id: "1.1", media: one.png}
      - {id: "1.2", media: two.png}
"""


def _png(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((18, 32, 3), value, np.uint8)).save(path)


@pytest.fixture
def pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VJSHOW_CACHE", str(tmp_path / "cache"))
    show = tmp_path / "proj" / "show" / "borrowed.yaml"
    show.parent.mkdir(parents=True)
    show.write_text(SHOW, encoding="utf-8")
    _png(tmp_path / "proj" / "media" / "one.png", 50)
    _png(tmp_path / "proj" / "media" / "two.png", 150)
    out = tmp_path / "borrowed.vjshow"
    assert main(["pack", str(show), "--out", str(out)]) == 0
    return out


Members = list[tuple[tarfile.TarInfo, bytes]]


def _members(pack: Path) -> Members:
    with tarfile.open(pack) as tar:
        return [(m, tar.extractfile(m).read() if m.isfile() else b"") for m in tar]


def _tar_bytes(members: Members) -> bytes:
    """The members as tar blocks, with no end-of-archive: more may follow."""
    out = b""
    for info, data in members:
        info.size = len(data)
        out += info.tobuf(tarfile.PAX_FORMAT) + data + b"\0" * (-len(data) % tarfile.BLOCKSIZE)
    return out


def _manifest_for(members: Members, extra: dict[str, tuple[int, str]] | None = None) -> bytes:
    lines, _ = parse_manifest(members[-1][1].decode())
    for info, data in members[:-1]:
        if info.name in lines or info.name.startswith("show/"):
            lines[info.name] = ManifestLine(info.name, len(data), hashlib.sha256(data).hexdigest())
    for name, (size, sha) in (extra or {}).items():
        lines[name] = ManifestLine(name, size, sha)
    return manifest_text(lines.values()).encode()


def _with_show(pack: Path, edit: str, replace: str) -> Path:
    """The pack with its show file edited and its MANIFEST made to match (as a forger
    would)."""
    members = _members(pack)
    for i, (info, data) in enumerate(members):
        if info.name == "show/borrowed.yaml":
            members[i] = (info, data.decode().replace(edit, replace).encode())
    members[-1] = (members[-1][0], _manifest_for(members))
    out = pack.with_name("forged.vjshow")
    out.write_bytes(_tar_bytes(members) + b"\0" * tarfile.RECORDSIZE)
    return out


def test_a_pack_plays_with_none_of_its_network_settings_and_says_so(pack: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DISPLAY", None)
    cmd = [sys.executable, "-m", "app", "play", str(pack), "--headless", "--fake-clock"]
    cmd += ["--frames", "3", "--script", "0:GO", "--web-port", "0", "--osc-port", "0"]
    cmd += ["--no-gamepad", "--quiet"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    notices = [line for line in done.stderr.splitlines() if "were not applied" in line]
    assert len(notices) == 1, done.stderr
    for name in ("web.host", "web.allow", "web.token", "web.view_token", "osc.host"):
        assert name in notices[0]
    assert "osc.allow" in notices[0] and "osc.passcode" in notices[0]
    urls = re.findall(r"console(?: \(view only\))?: (\S+)", done.stderr)
    assert len(urls) == 2, done.stderr
    assert all("known-public-token" not in u and "known-view-token" not in u for u in urls)
    assert all("127.0.0.1" not in u for u in urls)  # the pack's host was not bound

    trusted = subprocess.run(
        [*cmd, "--trust-pack"], env=env, capture_output=True, text=True, timeout=120
    )
    assert trusted.returncode == 0, trusted.stderr[-2000:]
    assert "were not applied" not in trusted.stderr
    assert "token=known-public-token" in trusted.stderr


def test_untrusted_show_keeps_only_the_machine_defaults(pack: Path) -> None:
    folder, _ = unpack_cached(pack)
    show = load_show(folder / "show" / "borrowed.yaml")
    assert len(exposure_settings(show)) == 7
    bare = without_exposure(show)
    assert exposure_settings(bare) == []
    assert bare.web.port == show.web.port and bare.osc.port == show.osc.port
    assert bare.cues == show.cues

    class Args:
        pack_folder = folder
        trust_pack = False

    assert for_play(show, Args()) == bare
    Args.trust_pack = True
    assert for_play(show, Args()) == show
    Args.pack_folder = None
    Args.trust_pack = False
    assert for_play(show, Args()) == show  # a plain show file is the performer's own


@pytest.mark.parametrize("absolute", [True, False])
def test_out_of_pack_media_is_refused_by_verify_and_play(
    pack: Path, tmp_path: Path, absolute: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "proj" / "media" / "one.png"  # a file of this machine, not the pack's
    # the media root is cache/<sha>/media: three levels up is tmp_path
    ref = str(elsewhere) if absolute else "../../../proj/media/one.png"
    forged = _with_show(pack, "media: two.png", f"media: {ref}")
    assert main(["verify", str(forged)]) == 1
    text = capsys.readouterr()
    assert "outside the pack (cue 1.2 plays it)" in text.err and "NOT intact" in text.out
    code = main(["play", str(forged), "--headless", "--frames", "1", "--no-osc", "--no-web"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cue 1.2: media" in err and "lies outside the pack" in err
    assert "borrowed.yaml:" in err  # file:line
    assert main(["check", str(forged)]) == 2
    assert main(["render", str(forged), "--script", "0:GO", "--out", str(pack) + ".mp4"]) == 2
    assert not Path(str(pack) + ".mp4").exists()


def _gnu_sparse(name: str, real: int, data: bytes) -> bytes:
    """A GNU sparse member (type 'S') whose map puts `data` at the end of `real` bytes of
    holes: what tar writes for a mostly empty file, and a bomb when `real` is large."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = len(data)
    head = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    assert len(head) == tarfile.BLOCKSIZE
    head[386:398] = b"%011o\0" % (real - len(data))  # first map entry: offset
    head[398:410] = b"%011o\0" % len(data)  # and the bytes stored there
    head[482] = 0  # no extended map
    head[483:495] = b"%011o\0" % real  # the unpacked size
    head[148:156] = b" " * 8
    head[148:155] = b"%06o\0" % sum(head)
    pad = -len(data) % tarfile.BLOCKSIZE
    return bytes(head) + data + b"\0" * pad


def _bomb(pack: Path, *, declared: bool) -> Path:
    members = _members(pack)
    real = 2 << 30
    extra = {"media/bomb.png": (real, "0" * 64)} if declared else {}
    manifest = _manifest_for(members, extra)
    head = _tar_bytes(members[:-1])
    tail = _tar_bytes([(members[-1][0], manifest)])
    out = pack.with_name("bomb.vjshow")
    body = _gnu_sparse("media/bomb.png", real, b"x" * 1024)
    out.write_bytes(head + body + tail + b"\0" * tarfile.RECORDSIZE)
    return out


def _bytes_under(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


@pytest.mark.parametrize("declared", [True, False])
def test_a_sparse_bomb_is_refused_having_written_under_1_mb(
    pack: Path, tmp_path: Path, declared: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = _bomb(pack, declared=declared)
    assert bomb.stat().st_size < 64 << 10
    with tarfile.open(bomb) as tar:  # what the standard reader would unpack
        assert tar.getmember("media/bomb.png").size == 2 << 30
    cache = tmp_path / "cache"
    before = _bytes_under(cache)
    assert main(["verify", str(bomb)]) == 1
    err = capsys.readouterr().err
    why = "declares 2.0 GiB but the pack holds only" if declared else "refused: a sparse member"
    assert why in err, err
    assert _bytes_under(cache) - before < 1 << 20
    with pytest.raises(PackError):
        unpack_to(bomb, tmp_path / "here")
    assert _bytes_under(tmp_path / "here") == 0 and not list(tmp_path.glob(".partial-*"))
    assert main(["play", str(bomb), "--headless", "--frames", "1", "--no-osc", "--no-web"]) == 2
    assert _bytes_under(cache) - before < 1 << 20


def test_a_member_longer_than_its_manifest_line_is_not_written(pack: Path, tmp_path: Path) -> None:
    members = _members(pack)
    manifest = members[-1][1]
    for i, (info, data) in enumerate(members):
        if info.name == "media/one.png":
            members[i] = (info, data + b"\0" * 4096)
    forged = pack.with_name("long.vjshow")
    forged.write_bytes(_tar_bytes([*members[:-1], (members[-1][0], manifest)]) + bytes(10240))
    result = read_pack(forged, None)
    assert any("media/one.png: altered" in p for p in result.problems)
    dest = tmp_path / "long"
    dest.mkdir()
    result = read_pack(forged, dest)
    assert "media/one.png: altered" in result.problems[0] and "not written" in result.problems[0]
    assert not (dest / "media" / "one.png").exists()
    assert sum("one.png" in p for p in result.problems) == 1


def test_a_pack_that_does_not_fit_the_free_disk_is_refused_before_writing(
    pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    real = shutil.disk_usage

    def tiny(path: object) -> object:
        return real(path)._replace(free=100)

    monkeypatch.setattr(shutil, "disk_usage", tiny)
    with pytest.raises(PackError) as caught:
        unpack_to(pack, tmp_path / "full")
    assert "has 100 B free" in str(caught.value)
    assert not (tmp_path / "full").exists()


def test_pack_into_a_missing_folder_is_a_one_line_error(
    pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = tmp_path / "proj" / "show" / "borrowed.yaml"
    code = main(["pack", str(show), "--out", str(tmp_path / "no" / "such" / "x.vjshow")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "does not exist" in err, err
