"""A toy world where the answer to "where is the sound?" is known: a coloured square that
sounds (its own tone) and a silent grey one, at random places."""

from __future__ import annotations

import numpy as np
import torch

from models.config import AudioTowerConfig, ClipShape, TrainConfig
from models.denseav import DenseAV, DenseAVConfig, ImageBackboneConfig
from models.denseav.train import train_denseav
from models.factory import create_model

TINY = DenseAVConfig(
    dim=16,
    heads=2,
    clip=ClipShape(frames=2, frame_size=32, seconds=1.0),
    image=ImageBackboneConfig(width=16),
    audio=AudioTowerConfig(n_mels=32, width=16),
    per_head_weight=0.5,
)
# the toy world: each colour sounds like one tone
COLOURS = np.array([(230, 40, 40), (40, 90, 230), (40, 200, 60), (230, 210, 40)], np.uint8)
TONES = (300.0, 700.0, 1500.0, 3000.0)
SIDE = 8  # square side, pixels
SILENT_GREY = (150, 150, 150)


def toy_pair(rng: np.random.Generator, size: int = 32, sr: int = 16000, seconds: float = 1.0):
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


class ToyDataset(torch.utils.data.Dataset):
    """Fresh random pairs on every read (nothing to memorise), as DenseAV training items."""

    def __init__(self, size: int, seed: int):
        self.size, self.rng = size, np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        frame, wave, _ = toy_pair(self.rng)
        return {"frames": torch.from_numpy(frame[None]), "audio": torch.from_numpy(wave)}


def train_toy_model(steps: int = 400) -> DenseAV:
    """A tiny DenseAV trained on the toy world (a few seconds on 2 cores)."""
    torch.manual_seed(0)
    model = create_model(TINY)
    train = TrainConfig(steps=steps, batch_size=32, lr=1e-2, augment=False, videos_per_batch=0)
    train_denseav(model, ToyDataset(1024, seed=0), train, progress=False)
    return model.eval()
