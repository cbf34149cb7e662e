"""A reference recording read with PyAV: probed at once, decoded whole (off the main thread).

`probe_recording(path)` opens the file and says its rate, channels and duration (or raises
`RecordingError` with `path: what is wrong`); `decode_recording(info)` decodes it to 16-bit
samples at its own rate, at most two channels (`(frames, channels)` int16: a 35-minute
stereo recording at 44.1 kHz takes 370 MB); `peaks(samples, bins)` is the waveform strip
the console draws (pure numpy). Any file FFmpeg decodes will do: FLAC, WAV, MP3, M4A, the
audio track of a video.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_SECONDS = 4 * 3600.0  # a longer file is refused: it is not one concert's recording
MAX_RATE = 192_000


class RecordingError(ValueError):
    """A recording that cannot be played (the message names the file)."""


@dataclass(frozen=True)
class RecordingInfo:
    """What a probe says of a recording."""

    path: Path
    rate: int
    channels: int  # what is played: 1 or 2
    duration: float | None  # seconds, when the container says it


def probe_recording(path: str | Path) -> RecordingInfo:
    """Open the file and read its first audio stream's format; raises RecordingError."""
    import av

    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"{path}: no such file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise RecordingError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            channels = int(stream.codec_context.channels or 0)
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
    except av.FFmpegError as exc:
        raise RecordingError(f"{path}: cannot be decoded: {exc}") from None
    if not 0 < rate <= MAX_RATE:
        raise RecordingError(f"{path}: sample rate {rate} out of range 1..{MAX_RATE}")
    if channels < 1:
        raise RecordingError(f"{path}: no audio channels")
    if duration is not None and duration > MAX_SECONDS:
        raise RecordingError(f"{path}: {duration:.0f} s is longer than {MAX_SECONDS:.0f} s")
    return RecordingInfo(path, rate, min(channels, 2), duration)


def decode_recording(info: RecordingInfo) -> np.ndarray:
    """The whole recording as `(frames, channels)` int16 at `info.rate`; raises
    RecordingError (a file longer than MAX_SECONDS is refused as it is read)."""
    import av

    layout = "stereo" if info.channels == 2 else "mono"
    resampler = av.AudioResampler(format="s16", layout=layout, rate=info.rate)
    limit = int(MAX_SECONDS * info.rate)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams.audio[0]
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1, info.channels))
                    total += len(chunks[-1])
                if total > limit:
                    raise RecordingError(f"{info.path}: longer than {MAX_SECONDS:.0f} s")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1, info.channels))
    except av.FFmpegError as exc:
        raise RecordingError(f"{info.path}: cannot be decoded: {exc}") from None
    if not chunks:
        raise RecordingError(f"{info.path}: no audio in it")
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.int16)


def peaks(samples: np.ndarray, bins: int) -> np.ndarray:
    """The waveform strip: per bin the peak level 0..255 of all channels (uint8, `bins`
    long; a recording shorter than `bins` frames gives as many bins as it has frames)."""
    n = len(samples)
    if n == 0 or bins <= 0:
        return np.zeros(0, np.uint8)
    bins = min(bins, n)
    level = np.abs(samples.astype(np.int32)).max(axis=1) if samples.ndim == 2 else samples
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    top = np.maximum.reduceat(np.abs(level), edges[:-1])
    return np.clip(top * 255 // 32768, 0, 255).astype(np.uint8)
