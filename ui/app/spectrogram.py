"""A small spectrogram picture of a sound, for result rows (matplotlib, no pyplot state)."""

from __future__ import annotations

import io

import av
import numpy as np
from matplotlib.figure import Figure

SAMPLE_RATE = 16000
SIZE_INCHES = (3.2, 0.9)
DPI = 100


def spectrogram_png(audio_bytes: bytes) -> bytes:
    """A PNG of the log-power spectrogram of any audio file's bytes."""
    samples = _decode(audio_bytes)
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI)
    axes = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    axes.set_axis_off()
    if samples.size >= 256:
        axes.specgram(samples, NFFT=256, Fs=SAMPLE_RATE, noverlap=192, cmap="magma", vmin=-120)
        axes.set_ylim(0, SAMPLE_RATE / 2)
        axes.set_xlim(0, samples.size / SAMPLE_RATE)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="black")
    return buffer.getvalue()


def _decode(audio_bytes: bytes) -> np.ndarray:
    """(N,) mono float32 at SAMPLE_RATE from WAV (or any PyAV-readable) bytes."""
    with av.open(io.BytesIO(audio_bytes)) as container:
        if not container.streams.audio:
            return np.zeros(0, np.float32)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks = [
            f.to_ndarray()[0]
            for frame in container.decode(audio=0)
            for f in resampler.resample(frame)
        ]
        chunks += [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
