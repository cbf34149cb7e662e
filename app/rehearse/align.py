"""Carrying cue times from one recording of a piece to another one at another tempo.

Both recordings are decoded to mono (PyAV), turned into chroma features (librosa), and aligned
by dynamic time warping (librosa's DTW). A cue's time in the first recording is mapped through
the warping path to the second. Long recordings are aligned coarse to fine, so the cost matrix
never exceeds `max_cells`: a DTW on block-averaged features finds the path roughly, then windows
along it are aligned at the full rate and stitched (the middle of each window is kept). This
is a simple form of multiscale DTW (Müller et al.), written here because the library that has
it (synctoolbox) pins pytest < 9 and pulls matplotlib, music21 and pandas into the install.

librosa and its numba JIT are imported inside the functions: this module is offline tooling and
the runtime never loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 22050
"""Sample rate the recordings are decoded to (mono)."""
HOP = 512
"""Samples between feature frames: 23 ms at RATE."""
MAX_CELLS = 30_000_000
"""Largest cost matrix aligned in one piece (float64: ~240 MB for the cost and its sum)."""
WINDOW = 3000
"""Frames of the first recording per fine window in the coarse-to-fine alignment (70 s)."""


class AlignError(ValueError):
    """A recording that cannot be aligned (unreadable, silent, too short)."""


@dataclass(frozen=True)
class Warp:
    """A warping path between recording A (`src`) and recording B (`dst`), in seconds."""

    src: np.ndarray
    """Times in A, strictly increasing."""
    dst: np.ndarray
    """Matching times in B, non-decreasing."""
    cost: np.ndarray
    """Local cost of each path point (cosine distance of the two chroma frames, 0..1)."""

    def map(self, t: float) -> float:
        """The time in B of time `t` in A (linear between path points, clamped at the ends)."""
        return float(np.interp(t, self.src, self.dst))

    def confidence(self, t: float, radius: float = 1.0) -> float:
        """How sure the mapping of `t` is, 0..1: the share of the path's points whose cost is
        above the mean cost within `radius` seconds of `t` (a region that matches better than
        most of the piece scores near 1, one that matches worse than most near 0), lowered
        where the path runs flat or steep there (one recording holding while the other moves:
        a cut, a repeat, or a wrong match)."""
        near = np.abs(self.src - t) <= radius
        if not near.any():
            return 0.0
        local = float(self.cost[near].mean())
        rank = float((self.cost > local).mean())
        idx = np.flatnonzero(near)
        span_src = self.src[idx[-1]] - self.src[idx[0]]
        span_dst = self.dst[idx[-1]] - self.dst[idx[0]]
        if span_src <= 0 or span_dst <= 0:
            return round(rank * 0.25, 2)
        slope = span_dst / span_src
        # a tempo change beyond 2x either way within two seconds is not a performance
        steadiness = 1.0 if 0.5 <= slope <= 2.0 else 0.5
        return round(rank * steadiness, 2)


def load_audio(path: Path, rate: int = RATE) -> np.ndarray:
    """The recording at `path` as mono float32 samples at `rate` (any format FFmpeg decodes)."""
    import av

    try:
        container = av.open(str(path))
    except (OSError, av.FFmpegError) as exc:
        raise AlignError(f"{path}: cannot open ({exc})") from exc
    with container:
        if not container.streams.audio:
            raise AlignError(f"{path}: no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray()[0] for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray()[0] for f in resampler.resample(None))
        except av.FFmpegError as exc:
            raise AlignError(f"{path}: cannot decode ({exc})") from exc
    if not chunks:
        raise AlignError(f"{path}: no audio samples")
    return np.concatenate(chunks).astype(np.float32)


def chroma(samples: np.ndarray, rate: int = RATE, hop: int = HOP) -> np.ndarray:
    """Chroma features (12 x frames) from a constant-Q transform, log-compressed, each frame
    scaled to unit length; silent frames are left as zeros so that they match nothing better
    than anything else. (STFT chroma was measured worse on the test piece: its low notes fall
    between bins, p95 error 89 ms against 17 ms.)"""
    import librosa

    c = librosa.feature.chroma_cqt(y=samples, sr=rate, hop_length=hop)
    c = librosa.power_to_db(c**2, ref=np.max, top_db=60.0) + 60.0  # log compression, 0..60
    norms = np.linalg.norm(c, axis=0)
    return np.where(norms > 1e-6, c / np.maximum(norms, 1e-6), 0.0).astype(np.float64)


def _cosine_cost(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine distance between every frame of `a` (12 x N) and of `b` (12 x M)."""
    return np.clip(1.0 - a.T @ b, 0.0, 2.0)


DIAGONAL_WEIGHT = 2.0
"""Cost weight of a diagonal step against a horizontal or vertical one (librosa's steps are
diagonal, then one frame of B, then one of A). With 1 (librosa's default) a diagonal step is
cheaper than the two steps it replaces, and the path cuts corners where the tempi differ."""


def _dtw(cost: np.ndarray) -> np.ndarray:
    """The optimal path through `cost` as (K, 2) index pairs in increasing order."""
    import librosa

    weights = np.array([DIAGONAL_WEIGHT, 1.0, 1.0])
    _, path = librosa.sequence.dtw(C=cost, backtrack=True, weights_mul=weights)
    return path[::-1]


def _block_mean(features: np.ndarray, k: int) -> np.ndarray:
    """Average each run of `k` frames into one (the last, shorter run too), renormalised."""
    n = features.shape[1]
    out = np.stack(
        [features[:, i : i + k].mean(axis=1) for i in range(0, n, k)],
        axis=1,
    )
    norms = np.linalg.norm(out, axis=0)
    return np.where(norms > 1e-9, out / np.maximum(norms, 1e-9), 0.0)


def align_features(a: np.ndarray, b: np.ndarray, max_cells: int = MAX_CELLS) -> np.ndarray:
    """The warping path (K, 2) between feature sequences `a` and `b` (frames as columns),
    coarse to fine when `a` x `b` is over `max_cells`."""
    n, m = a.shape[1], b.shape[1]
    if n * m <= max_cells:
        return _dtw(_cosine_cost(a, b))
    k = int(np.ceil(np.sqrt(n * m / max_cells)))
    coarse = _dtw(_cosine_cost(_block_mean(a, k), _block_mean(b, k)))
    # the coarse path in fine frames: for each fine frame of a, the b frame it passes
    ca = coarse[:, 0] * k + k / 2.0
    cb = coarse[:, 1] * k + k / 2.0
    guide = np.interp(np.arange(n), ca, cb)
    window = max(8 * k, min(WINDOW, max_cells // max(1, 2 * WINDOW)))
    points: list[np.ndarray] = []
    step = window // 2
    for start in range(0, n, step):
        stop = min(n, start + window)
        # the window's ends are pinned to the coarse path (off by up to a block or two); only
        # its middle half is kept, where the fine path has recovered from the pinned ends
        lo = 0 if start == 0 else int(np.clip(round(guide[start]), 0, m - 1))
        hi = m if stop == n else int(np.clip(round(guide[stop - 1]), lo, m - 1)) + 1
        part = _dtw(_cosine_cost(a[:, start:stop], b[:, lo:hi])) + np.array([start, lo])
        keep_from = start if start == 0 else start + window // 4
        keep_to = stop if stop == n else start + 3 * window // 4
        sel = (part[:, 0] >= keep_from) & (part[:, 0] < keep_to)
        points.append(part[sel])
        if stop == n:
            break
    path = np.concatenate(points)
    # stitching can step back at a seam: keep b non-decreasing
    path[:, 1] = np.maximum.accumulate(path[:, 1])
    return path


def warp(
    a: np.ndarray,
    b: np.ndarray,
    rate: int = RATE,
    hop: int = HOP,
    max_cells: int = MAX_CELLS,
) -> Warp:
    """The warp from samples `a` to samples `b` (both mono at `rate`)."""
    fa, fb = chroma(a, rate, hop), chroma(b, rate, hop)
    if fa.shape[1] < 2 or fb.shape[1] < 2:
        raise AlignError("a recording is shorter than two feature frames")
    if not fa.any() or not fb.any():
        raise AlignError("a recording is silent")
    path = align_features(fa, fb, max_cells)
    cost = np.einsum("ki,ki->i", fa[:, path[:, 0]], fb[:, path[:, 1]])
    cost = np.clip(1.0 - cost, 0.0, 2.0)
    frame = hop / rate
    # several b frames per a frame (B slower): their mean is the time of that a frame
    src_frames, inverse = np.unique(path[:, 0], return_inverse=True)
    dst_frames = np.bincount(inverse, weights=path[:, 1]) / np.bincount(inverse)
    costs = np.bincount(inverse, weights=cost) / np.bincount(inverse)
    return Warp(src=src_frames * frame, dst=dst_frames * frame, cost=costs)


@dataclass(frozen=True)
class Carried:
    """One cue time carried over: the cue, its time in A, its time in B, the confidence."""

    cue: str
    src: float
    dst: float
    confidence: float


def carry(times: Sequence[tuple[str, float]], w: Warp) -> list[Carried]:
    """Each (cue id, time in A) mapped to B through `w`, times kept non-decreasing."""
    out: list[Carried] = []
    last = 0.0
    for cue, t in times:
        dst = max(last, round(w.map(t), 3))
        last = dst
        out.append(Carried(cue, t, dst, w.confidence(t)))
    return out
