"""Waveform <-> normalised log-mel, the representation AV-LDM generates in."""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from models.avldm.config import MelConfig


class LogMel(nn.Module):
    """16 kHz waveform (B, N) -> normalised log-mel (B, n_mels, N // hop)."""

    def __init__(self, config: MelConfig):
        super().__init__()
        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop,
            n_mels=config.n_mels,
            f_min=config.f_min,
            f_max=config.f_max,
            power=1.0,  # magnitude mel: what the vocoders invert
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        frames = wave.shape[-1] // self.config.hop
        mel = self.mel(wave.float())[..., :frames]  # (B, n_mels, frames)
        return (torch.log(mel + self.config.log_floor) - self.config.log_mean) / self.config.log_std

    def magnitude(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Normalised log-mel -> mel magnitude (inverse of the normalisation)."""
        c = self.config
        return (log_mel * c.log_std + c.log_mean).exp().sub(c.log_floor).clamp_min(0.0)
