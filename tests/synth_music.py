"""A synthetic piece for the alignment tests: a seeded melody with chords, rendered at a
given tempo map and timbre, so that the true time of every note in every rendering is known."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

RATE = 22050


@dataclass(frozen=True)
class Piece:
    """Notes in score time (seconds at tempo 1): onsets, durations, MIDI pitches (chords)."""

    onsets: np.ndarray
    durations: np.ndarray
    pitches: tuple[tuple[int, ...], ...]

    @property
    def length(self) -> float:
        return float(self.onsets[-1] + self.durations[-1])


def make_piece(seconds: float, seed: int = 7) -> Piece:
    """A melody over changing chords: note lengths 0.2-0.7 s, pitches from a wandering scale
    (so that chroma changes often, as in real music), a few rests."""
    rng = np.random.default_rng(seed)
    scale = np.array([0, 2, 3, 5, 7, 8, 11])
    onsets, durs, pitches = [], [], []
    t, degree, root = 0.5, 0, 57
    while t < seconds - 1.0:
        d = float(rng.choice([0.2, 0.3, 0.4, 0.5, 0.7]))
        degree = int(np.clip(degree + rng.integers(-3, 4), -7, 14))
        octave, step = divmod(degree, 7)
        melody = root + 12 + 12 * octave + int(scale[step])
        if rng.random() < 0.15:
            root = 45 + int(rng.integers(0, 12))
        chord = (melody, root, root + 7) if rng.random() < 0.7 else (melody,)
        onsets.append(t)
        durs.append(d)
        pitches.append(chord)
        t += d + (0.15 if rng.random() < 0.08 else 0.0)
    return Piece(np.array(onsets), np.array(durs), tuple(pitches))


def tempo_map(seconds: float, segment: float, low: float, high: float, seed: int) -> np.ndarray:
    """Piecewise-constant time stretch factors (performance seconds per score second), one per
    `segment` of score time, drawn in [low, high]."""
    rng = np.random.default_rng(seed)
    n = int(np.ceil(seconds / segment)) + 1
    return rng.uniform(low, high, n)


def perform(t: np.ndarray | float, factors: np.ndarray, segment: float) -> np.ndarray:
    """Performance time of score time `t` under the piecewise stretch `factors`."""
    t = np.asarray(t, dtype=float)
    bounds = np.concatenate([[0.0], np.cumsum(factors * segment)])
    idx = np.minimum((t // segment).astype(int), len(factors) - 1)
    return bounds[idx] + (t - idx * segment) * factors[idx]


def render(
    piece: Piece,
    factors: np.ndarray | None,
    segment: float,
    harmonics: Sequence[float],
    seed: int,
    rate: int = RATE,
) -> tuple[np.ndarray, np.ndarray]:
    """The piece played with `harmonics` (relative amplitudes of partials 1..n) under the
    tempo map: (mono samples, the performance onset of each note)."""
    rng = np.random.default_rng(seed)
    if factors is None:
        on = piece.onsets.copy()
        off = piece.onsets + piece.durations
    else:
        on = perform(piece.onsets, factors, segment)
        off = perform(piece.onsets + piece.durations, factors, segment)
    total = int((off[-1] + 1.0) * rate)
    out = np.zeros(total, dtype=np.float64)
    for start, stop, chord in zip(on, off, piece.pitches, strict=True):
        n = int((stop - start) * rate)
        tt = np.arange(n) / rate
        env = np.minimum(1.0, tt / 0.01) * np.exp(-tt * 3.0)
        tone = np.zeros(n)
        for p in chord:
            f = 440.0 * 2 ** ((p - 69) / 12)
            for k, amp in enumerate(harmonics, start=1):
                if f * k < rate / 2:
                    tone += amp * np.sin(2 * np.pi * f * k * tt + rng.uniform(0, 2 * np.pi))
        i = int(start * rate)
        out[i : i + n] += tone * env * rng.uniform(0.7, 1.0)
    out += rng.normal(0, 0.003, total)
    out /= np.max(np.abs(out)) * 1.1
    return out.astype(np.float32), on


def write_audio(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """Encode mono samples with PyAV (codec from the suffix: .flac, .m4a (AAC), .wav)."""
    import av

    codec = {".flac": "flac", ".m4a": "aac", ".wav": "pcm_s16le"}[path.suffix]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        fmt = "s16" if codec in ("flac", "pcm_s16le") else "fltp"
        data = samples[None, :]
        if fmt == "s16":
            data = (np.clip(data, -1, 1) * 32767).astype(np.int16)
        step = 4096
        for i in range(0, data.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[:, i : i + step]), format=fmt, layout="mono"
            )
            frame.sample_rate = rate
            # timestamps let the AAC encoder mark its priming samples (an MP4 edit list),
            # as a phone's recorder does; without them the decoded audio starts 46 ms late
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
