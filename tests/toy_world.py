"""A toy world where the answer to "where is the sound?" is known: a coloured square that
sounds (its own tone) and a silent grey one, at random places."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from indexer.speech_activity import HOP_SECONDS
from models.config import AudioTowerConfig, ClipShape, TrainConfig
from models.denseav import DenseAV, DenseAVConfig, ImageBackboneConfig
from models.denseav.train import train_denseav
from models.factory import create_model

TINY = DenseAVConfig(
    dim=16,
    heads=2,
    clip=ClipShape(frames=2, frame_size=64, seconds=1.0),
    image=ImageBackboneConfig(width=16),
    audio=AudioTowerConfig(n_mels=32, width=16),
    per_head_weight=0.5,
)
# the toy world: each colour sounds like one tone
COLOURS = np.array([(230, 40, 40), (40, 90, 230), (40, 200, 60), (230, 210, 40)], np.uint8)
TONES = (300.0, 700.0, 1500.0, 3000.0)
SIDE = 16  # square side, pixels: 6% of the frame, about an object's share in the synth corpus
SILENT_GREY = (150, 150, 150)


def toy_pair(rng: np.random.Generator, size: int = 64, sr: int = 16000, seconds: float = 1.0):
    """A frame with a coloured square (sounding: its tone is the audio) and a silent grey
    one, at random places; returns (frame (S, S, 3) uint8, wave (N,), box of the sounding
    square (x0, y0, x1, y1))."""
    frame = rng.integers(20, 50, (size, size, 3)).astype(np.uint8)
    colour = int(rng.integers(len(COLOURS)))
    while True:
        corners = rng.integers(0, size - SIDE, (2, 2))
        if np.abs(corners[0] - corners[1]).max() >= SIDE:
            break
    for paint, (x, y) in zip((COLOURS[colour], SILENT_GREY), corners, strict=True):
        frame[y : y + SIDE, x : x + SIDE] = paint
    t = np.arange(int(sr * seconds)) / sr
    wave = 0.3 * np.sin(2 * np.pi * TONES[colour] * t) + 0.01 * rng.standard_normal(len(t))
    x, y = corners[0]
    return frame, wave.astype(np.float32), (int(x), int(y), int(x) + SIDE, int(y) + SIDE)


def add_voice(wave: np.ndarray, start: int, sr: int = 16000) -> np.ndarray:
    """``wave`` with a buzzing voice (140 Hz harmonics, syllables at 4 Hz) from ``start``."""
    t = np.arange(len(wave) - start) / sr
    buzz = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    voiced = wave.copy()
    voiced[start:] += (0.3 * buzz * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    return voiced


class ToyDataset(torch.utils.data.Dataset):
    """Fresh random pairs on every read (nothing to memorise), as DenseAV training items.

    With ``voices`` half the clips get a voice over their second half, and every item a
    ``speech`` track (one value per speech-detector hop) that marks it, as a voice-activity
    detector would.
    """

    def __init__(self, size: int, seed: int, voices: bool = False):
        self.size, self.rng, self.voices = size, np.random.default_rng(seed), voices

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        frame, wave, _ = toy_pair(self.rng)
        item = {"frames": torch.from_numpy(frame[None])}
        if self.voices:
            hops = int(round(TINY.clip.seconds / HOP_SECONDS))
            track = np.zeros(hops, np.float32)
            if self.rng.random() < 0.5:
                wave = add_voice(wave, len(wave) // 2)
                track[hops // 2 :] = 1.0
            item["speech"] = torch.from_numpy(track)
        item["audio"] = torch.from_numpy(wave)
        return item


def train_toy_model(steps: int = 400, voices: bool = False, bf16: bool = False) -> DenseAV:
    """A tiny DenseAV trained on the toy world (a few seconds on 2 cores); with ``voices``
    it has a speech gate and learns it from voiced clips; ``bf16`` as TrainConfig's."""
    torch.manual_seed(0)
    model = create_model(replace(TINY, speech_gate=voices))
    train = TrainConfig(
        steps=steps, batch_size=32, lr=1e-2, augment=False, videos_per_batch=0, bf16=bf16
    )
    train_denseav(model, ToyDataset(1024, seed=0, voices=voices), train, progress=False)
    return model.eval()
