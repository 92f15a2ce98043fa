"""Where in a soundtrack somebody speaks: Silero VAD's speech probability over time.

DenseAV's speech gate learns from these tracks which moments of a clip are words (its speech
head's) and which are other sounds (its sound heads'). Silero VAD is a small pretrained
voice-activity network shipped inside the ``silero-vad`` package, so it runs offline, on
any real recording, at about 100x real time on one core.
"""

from __future__ import annotations

import warnings
from importlib.metadata import version

import numpy as np
import torch

SAMPLE_RATE = 16000  # Silero VAD takes 8 or 16 kHz; the clip cache holds 16 kHz
HOP = 512  # samples per probability at 16 kHz (32 ms)
HOP_SECONDS = HOP / SAMPLE_RATE


class SpeechActivity:
    """``track(wave)``: the probability (0-1) that each 32 ms hop of ``wave`` is speech."""

    def __init__(self) -> None:
        threads = torch.get_num_threads()
        from silero_vad import load_silero_vad  # its import sets torch to 1 thread

        torch.set_num_threads(threads)
        with warnings.catch_warnings():  # its loader uses APIs torch and importlib deprecate
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = load_silero_vad()

    @staticmethod
    def cache_name() -> str:
        """The clip cache's name for these tracks: a new detector release gets new ones."""
        return f"speech-activity-silero-{version('silero-vad')}"

    @torch.no_grad()
    def track(self, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(N,) float waveform in [-1, 1] -> (ceil(N / HOP),) float32 speech probabilities."""
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"speech activity needs {SAMPLE_RATE} Hz audio, not {sample_rate}")
        hops = -(-len(wave) // HOP)
        padded = np.zeros(hops * HOP, np.float32)
        padded[: len(wave)] = wave
        chunks = torch.from_numpy(padded).view(hops, HOP)
        self.model.reset_states()  # a recurrent net: each recording starts afresh
        return np.array([float(self.model(c[None], SAMPLE_RATE)) for c in chunks], np.float32)


def window_track(track: np.ndarray, start: float, seconds: float, steps: int) -> np.ndarray:
    """The ``steps`` probabilities of ``track`` sampled evenly over [start, start + seconds)
    (hops past the end count as silence)."""
    centres = start + (np.arange(steps) + 0.5) * seconds / steps
    index = np.floor(centres / HOP_SECONDS).astype(int)
    inside = (index >= 0) & (index < len(track))
    out = np.zeros(steps, np.float32)
    out[inside] = track[index[inside]]
    return out
