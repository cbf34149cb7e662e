"""The cue-times file (app/rehearse/cuetimes.py): round trip, comments kept, file:line errors."""

from __future__ import annotations

import pytest

from app.rehearse.cuetimes import (
    CueTimesError,
    RecordingTimes,
    cuetimes_path,
    read_cuetimes,
    read_recording,
    write_aligned,
    write_recording,
)


def test_round_trip_and_aligned_recording_keep_the_others_and_comments(tmp_path):
    show = tmp_path / "pierrot.yaml"
    show.write_text("poems: []\n")
    path = cuetimes_path(show)
    assert path.name == "pierrot.cuetimes.yaml"
    rec = RecordingTimes("cd.flac", duration=60.0).with_time("1.2", 12.5).with_time("1.1", 3.25)
    write_recording(path, rec)
    path.write_text("# my notes\n" + path.read_text())
    write_aligned(
        show,
        tmp_path / "phone.m4a",
        {"1.1": (3.9, 0.8), "1.2": 14.0},
        source_recording=tmp_path / "cd.flac",
    )
    text = path.read_text()
    assert text.startswith("# my notes\n")
    got = read_cuetimes(path)
    assert [c.cue for c in got["cd.flac"].cues] == ["1.1", "1.2"]
    assert got["cd.flac"].at("1.2") == 12.5
    phone = read_recording(show, tmp_path / "phone.m4a")
    assert phone.source == "aligned" and phone.aligned_from == "cd.flac"
    assert phone.by_cue["1.1"].confidence == 0.8 and phone.at("1.2") == 14.0


def test_bad_content_names_the_line(tmp_path):
    path = tmp_path / "s.cuetimes.yaml"
    path.write_text(
        "version: 1\nrecordings:\n  cd.flac:\n    cues:\n      '1.1': 2\n      '1.2': soon\n"
    )
    with pytest.raises(CueTimesError, match=r"s\.cuetimes\.yaml:6: cue 1\.2"):
        read_cuetimes(path)
    path.write_text("recordings: [\n")
    with pytest.raises(CueTimesError, match=r"s\.cuetimes\.yaml:\d+: "):
        read_cuetimes(path)
