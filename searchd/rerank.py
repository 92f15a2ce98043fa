"""Re-ranking a sound query's video results by DenseAV (``foley search --rerank``).

MC3 ranks clips by one clip-level embedding; DenseAV asks whether the sound matches what is
*somewhere* in the picture: its aggregated similarity (max over space and heads, mean over
time) between the query's sound and a candidate clip's middle frame (from the clip cache).
The engine fuses the two rankings of its top results (``searchd.fusion.rerank_fusion``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from indexer.cache import ClipCache
from indexer.catalog import ClipRow
from models.denseav import DenseAV
from searchd.localize import resize_square
from searchd.locate import cached_frame, clip_sound
from searchd.queries import read_sound, sound_windows

# How many of the top results --rerank re-scores. Measured on the seed-1 corpus (foley eval,
# audio->video mAP 0.685 without): 0.683 at 10, 0.672 at 20, 0.619 at 50, 0.570 at 100;
# the deeper, the more DenseAV's weaker class signal displaces MC3's.
DEFAULT_DEPTH = 10
FRAME_BATCH = 256


@dataclass(frozen=True)
class Sound:
    """A query sound's DenseAV features: a (W, K, C, T) per window, and with a speech gate its
    speech probabilities (W, T)."""

    features: torch.Tensor
    speech: torch.Tensor | None


class SoundReranker:
    """One DenseAV model scoring sounds against indexed clips' middle frames."""

    def __init__(self, model: DenseAV, cache: ClipCache) -> None:
        self.model = model.eval()
        self.cache = cache
        self.shape = model.config.clip

    def file_sound(self, path: Path) -> np.ndarray:
        """A whole audio (or video) file's sound at the model's rate: (N,) float32."""
        return read_sound(path, self.shape.sample_rate)

    def clip_sound(self, row: ClipRow) -> np.ndarray:
        """An indexed clip's own sound (a clip-length window from its start)."""
        return clip_sound(self.cache.read(row.cache_key), row, self.shape.seconds)

    @torch.no_grad()
    def encode_sound(self, wave: np.ndarray) -> Sound:
        """(N,) waveform -> its features, one entry per half-overlapping clip window."""
        shape = self.shape
        windows = sound_windows(wave, shape.sample_rate, shape.seconds, shape.audio_samples)
        a, speech_logits = self.model.encode_audio_and_speech(torch.from_numpy(windows))
        return Sound(a, None if speech_logits is None else torch.sigmoid(speech_logits))

    @torch.no_grad()
    def encode_frames(self, rows: Sequence[ClipRow]) -> torch.Tensor:
        """Clips -> v (B, K, C, h, w) of their middle frames."""
        frames = []
        for row in rows:
            frame = cached_frame(self.cache.read(row.cache_key), (row.start + row.end) / 2)
            frames.append(resize_square(frame, self.shape.frame_size))
        batch = torch.from_numpy(np.stack(frames))  # (B, S, S, 3)
        return torch.cat([self.model.encode_image(b) for b in batch.split(FRAME_BATCH)])

    @torch.no_grad()
    def scores(self, sound: Sound, frames: torch.Tensor) -> np.ndarray:
        """(B,) aggregated DenseAV score of one sound (its windows averaged, as time is)
        against each of ``frames``."""
        scores = self.model.pairwise_scores(sound.features, frames, sound.speech)  # (W, B)
        return scores.mean(dim=0).numpy()
