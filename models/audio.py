"""Audio tower: 16 kHz waveform (B, N) -> log-mel -> small 2D conv net -> (B, embed_dim).

The log-mel is normalised with fixed constants, never per clip: how loud a clip is carries
information (a hammer blow vs room tone), so it must reach the network.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchaudio
from safetensors.torch import load_file
from torch import nn

from models.config import AudioTowerConfig, ClipShape
from models.heads import ProjectionHead

N_FFT, HOP = 400, 160  # 25 ms windows, 10 ms hop at 16 kHz
LOG_MEL_MEAN, LOG_MEL_STD = -6.0, 5.0  # fixed: log(power + 1e-6) spans about -14 (silence)..+10


def conv_bn(c_in: int, c_out: int, stride: int, padding_mode: str = "zeros") -> nn.Sequential:
    """3x3 conv + BN + ReLU (``padding_mode="reflect"`` for images: no border feature)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False, padding_mode=padding_mode),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def log_mel_convnet(channels: int, w: int) -> nn.Sequential:
    """(B, channels, n_mels, frames) -> (B, 2w, n_mels/16, frames/16): five conv stages.

    Shared by MC3's audio tower and DenseAV's audio backbone, so one can start from the other.
    """
    return nn.Sequential(
        conv_bn(channels, w // 2, 2),  # (B, w/2, mels/2, frames/2)
        conv_bn(w // 2, w, 2),  # /4
        conv_bn(w, 2 * w, 2),  # /8
        conv_bn(2 * w, 2 * w, 2),  # /16
        conv_bn(2 * w, 2 * w, 1),
    )


def log_mel_spectrogram(mel: nn.Module, wave: torch.Tensor) -> torch.Tensor:
    """(B, N) float -> (B, 1, n_mels, frames): log power, fixed normalisation."""
    spec = mel(wave.float())  # (B, n_mels, frames), power
    return ((torch.log(spec + 1e-6) - LOG_MEL_MEAN) / LOG_MEL_STD).unsqueeze(1)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A local checkpoint's tensors (``.safetensors``, else ``torch.save``)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


class AudioEncoder(nn.Module):
    """Log-mel (B, C, n_mels, frames) through five conv stages; mean+max pooled over time.

    C = 2 with ``floor_channel``: the second channel is the log-mel minus each band's
    ``floor_quantile`` over the clip's frames (a stationary-background estimate).
    """

    def __init__(self, config: AudioTowerConfig, clip: ClipShape, embed_dim: int):
        super().__init__()
        w = config.width
        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=clip.sample_rate, n_fft=N_FFT, hop_length=HOP, n_mels=config.n_mels
        )
        self.net = log_mel_convnet(2 if config.floor_channel else 1, w)
        self.head = ProjectionHead(4 * w, embed_dim)
        if config.checkpoint:
            self.load_checkpoint(config.checkpoint)

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, N) float -> (B, C, n_mels, frames), fixed normalisation (C: see class doc)."""
        log_mel = log_mel_spectrogram(self.mel, wave)
        if not self.config.floor_channel:
            return log_mel  # (B, 1, n_mels, frames)
        floor = torch.quantile(log_mel, self.config.floor_quantile, dim=-1, keepdim=True)
        return torch.cat([log_mel, log_mel - floor], dim=1)  # (B, 2, n_mels, frames)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.net(self.log_mel(wave))  # (B, 2w, mels', frames')
        x = x.mean(dim=2)  # (B, 2w, frames')
        x = torch.cat([x.mean(dim=2), x.amax(dim=2)], dim=1)  # (B, 4w)
        return self.head(x)  # (B, embed_dim)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load a local state_dict of this encoder (``.safetensors``, else ``torch.save``)."""
        self.load_state_dict(read_state_dict(path))
