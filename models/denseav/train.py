"""DenseAV training: the shared loop (``models.train.run_training``) with DenseAV's step."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from models.config import TrainConfig
from models.denseav.losses import denseav_loss
from models.denseav.model import DenseAV
from models.train import TrainResult, run_training


def denseav_step(
    model: DenseAV, batch: dict[str, torch.Tensor], step: int
) -> tuple[torch.Tensor, dict[str, float]]:
    """One random frame per clip against the clip's whole audio (``video``: clip -> video id,
    for same-video negatives; ``speech``: a voice-activity track per clip, for the speech
    gate); with ``mirror_frames`` half the frames are mirrored."""
    frames = batch["frames"]  # (B, F, H, W, 3)
    pick = torch.randint(frames.shape[1], (len(frames),))
    frame = frames[torch.arange(len(frames)), pick]  # (B, H, W, 3)
    if model.config.mirror_frames:
        mirrored = torch.rand(len(frame)) < 0.5
        frame = torch.where(mirrored[:, None, None, None], frame.flip(2), frame)
    a, speech_logits = model.encode_audio_and_speech(batch["audio"])
    v = model.encode_image(frame)
    return denseav_loss(model, a, v, batch.get("video"), speech_logits, batch.get("speech"))


def train_denseav(
    model: DenseAV, dataset: Dataset, train: TrainConfig, **options: Any
) -> TrainResult:
    """Train DenseAV in place (options as ``run_training``: checkpoint_dir, groups, ...)."""
    return run_training(model, dataset, train, denseav_step, "train denseav", **options)
