"""DenseAV's backbones: an image -> a feature grid v(h, w); a waveform -> features a(t).

Both end in ``dim`` channels (split into heads by the model). The scratch image net keeps a
16x16 grid for 64x64 frames (stride 4) with a receptive field wide enough to see a whole
object; the audio net keeps ~12 time steps per 2 s clip (one per 160 ms).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from models.audio import (
    HOP,
    N_FFT,
    conv_bn,
    log_mel_convnet,
    log_mel_spectrogram,
    read_state_dict,
)
from models.config import AudioTowerConfig, ClipShape
from models.video import PIXEL_MEAN, PIXEL_STD


class ScratchImageBackbone(nn.Module):
    """uint8 frames (B, H, W, 3) -> (B, dim, H/4, W/4).

    Each cell sees 7 + 8 x ``depth`` pixels square (``depth`` stride-1 convs after two
    stride-2 ones; 15 px in the shipped config, 23, about an object in a 64-pixel frame, at
    the default 2), no more: trained from scratch with a clip-level loss, a cell that saw the
    whole frame would learn "what is in the picture" instead of "what is here", and the maps
    would not localise.
    """

    # Cell j's centre: pixel 4j (each stride-2 3x3 conv centres output j on input 2j), not
    # the middle of the j-th 4-pixel strip (4j + 1.5), where an even split would put it.
    cell_offset = -1.5

    def __init__(self, width: int, dim: int, depth: int = 2):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            conv_bn(3, w // 2, 2, padding_mode="reflect"),  # 64 -> 32, sees 3 px
            conv_bn(w // 2, w, 2, padding_mode="reflect"),  # -> 16, 7 px
            *(conv_bn(w, w, 1, padding_mode="reflect") for _ in range(depth)),  # +8 px each
        )
        self.head = nn.Sequential(nn.Conv2d(w, w, 1), nn.ReLU(inplace=True), nn.Conv2d(w, dim, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() / 255.0  # (B, 3, H, W)
        return self.head(self.net((x - PIXEL_MEAN) / PIXEL_STD))  # (B, dim, h, w)


class OpenClipImageBackbone(nn.Module):
    """A CLIP ViT's patch tokens as the grid (frozen unless ``trainable``), 1x1-projected."""

    cell_offset = 0.0  # a patch's centre is the middle of its strip of the frame

    def __init__(self, model_name: str, pretrained: str | None, dim: int, trainable: bool):
        super().__init__()
        import open_clip  # slow import; only this backbone needs it

        visual = open_clip.create_model(model_name, pretrained=pretrained).visual
        if not hasattr(visual, "conv1"):
            raise ValueError(f"{model_name}: dense features need a ViT vision tower")
        visual.output_tokens = True
        self.visual, self.trainable = visual, trainable
        visual.requires_grad_(trainable)
        size = visual.image_size
        self.image_size = tuple(size) if isinstance(size, list | tuple) else (size, size)
        mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.head = nn.Conv2d(visual.conv1.out_channels, dim, 1)

    def train(self, mode: bool = True) -> OpenClipImageBackbone:
        super().train(mode)
        self.visual.train(mode and self.trainable)
        return self

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames.permute(0, 3, 1, 2).float() / 255.0
        x = F.interpolate(x, size=self.image_size, mode="bilinear", antialias=True)
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            _, tokens = self.visual((x - self.mean) / self.std)  # (B, h*w, width)
        side = int(round(tokens.shape[1] ** 0.5))
        grid = tokens.transpose(1, 2).reshape(len(x), -1, side, side)  # (B, width, h, w)
        return self.head(grid)


class AudioBackbone(nn.Module):
    """16 kHz waveform (B, N) -> log-mel -> MC3's conv stack -> frequency pooled -> (B, dim, T).

    The conv stack is MC3's audio tower's (``models.audio.log_mel_convnet``), so it can start
    from a trained MC3 checkpoint (``checkpoint`` = its ``model.safetensors``) or from a local
    checkpoint of this backbone.
    """

    def __init__(self, config: AudioTowerConfig, clip: ClipShape, dim: int):
        super().__init__()
        import torchaudio

        w = config.width
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=clip.sample_rate, n_fft=N_FFT, hop_length=HOP, n_mels=config.n_mels
        )
        self.net = log_mel_convnet(1, w)
        self.temporal = nn.Sequential(
            nn.Conv1d(2 * w, 2 * w, 3, padding=1), nn.ReLU(inplace=True), nn.Conv1d(2 * w, dim, 1)
        )
        if config.checkpoint:
            self.load_checkpoint(config.checkpoint)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (features (B, dim, T), the conv stack's map with its frequency bands folded into
        channels (B, 2w * mels/16, T): the spectral shape a speech detector needs)."""
        x = self.net(log_mel_spectrogram(self.mel, wave))  # (B, 2w, mels/16, frames/16)
        return self.temporal(x.mean(dim=2)), x.flatten(1, 2)

    def load_checkpoint(self, path: str | Path) -> None:
        """Load this backbone's weights, or only the conv stack from an MC3 checkpoint
        (keys ``audio.net.*``). ``.safetensors``, else ``torch.save``."""
        state = read_state_dict(path)
        if any(key.startswith("audio.net.") for key in state):  # an MC3 model
            net = {
                k.removeprefix("audio.net."): v
                for k, v in state.items()
                if k.startswith("audio.net.")
            }
            self.net.load_state_dict(net)
        else:
            self.load_state_dict(state)
