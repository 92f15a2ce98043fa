"""Video towers: uint8 frames (B, F, H, W, 3) -> (B, embed_dim).

``ScratchVideoEncoder`` is a small (2+1)D conv net trained from scratch that sees appearance
(RGB) and motion (frame differences); ``OpenClipVideoEncoder`` runs a CLIP vision tower per
frame and averages over time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.config import VideoTowerConfig
from models.heads import ProjectionHead

PIXEL_MEAN, PIXEL_STD = 0.45, 0.225  # fixed normalisation of [0, 1] pixels
MOTION_GAIN = 4.0  # frame differences are small; scale them to the range of the pixels


def conv_bn(c_in: int, c_out: int, kernel: tuple, stride: tuple = (1, 1, 1)) -> nn.Sequential:
    padding = tuple(k // 2 if k % 2 else 0 for k in kernel)  # odd kernels keep the size
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel, stride, padding, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    )


class ScratchVideoEncoder(nn.Module):
    """Per-frame spatial convs interleaved with temporal convs; mean+max pooled over time."""

    def __init__(self, width: int, embed_dim: int):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            conv_bn(6, w // 2, (1, 4, 4), (1, 4, 4)),  # patchify: 64x64 -> 16x16
            conv_bn(w // 2, w, (1, 3, 3), (1, 2, 2)),  # -> 8x8
            conv_bn(w, w, (3, 1, 1)),  # temporal
            conv_bn(w, 2 * w, (1, 3, 3), (1, 2, 2)),  # -> 4x4
            conv_bn(2 * w, 2 * w, (3, 1, 1)),  # temporal
            conv_bn(2 * w, 2 * w, (1, 3, 3)),
        )
        self.head = ProjectionHead(4 * w, embed_dim)

    @staticmethod
    def to_input(frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, F, H, W, 3) -> float (B, 6, F, H, W): normalised RGB + frame differences."""
        x = frames.permute(0, 4, 1, 2, 3).float() / 255.0  # (B, 3, F, H, W)
        motion = torch.zeros_like(x)
        motion[:, :, 1:] = (x[:, :, 1:] - x[:, :, :-1]) * MOTION_GAIN
        return torch.cat([(x - PIXEL_MEAN) / PIXEL_STD, motion], dim=1)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, F, H, W, 3) -> (B, F, 2w): one feature per frame, before time pooling."""
        return self.net(self.to_input(frames)).mean(dim=(3, 4)).transpose(1, 2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.frame_features(frames)  # (B, F, 2w)
        x = torch.cat([x.mean(dim=1), x.amax(dim=1)], dim=1)  # (B, 4w)
        return self.head(x)  # (B, embed_dim)


class OpenClipVideoEncoder(nn.Module):
    """An open_clip vision tower applied to each frame, averaged over frames, then projected.

    ``pretrained`` is an open_clip tag (downloaded by open_clip) or a local checkpoint path.
    Frozen by default: CLIP features are used as they are and only the head trains.
    """

    def __init__(
        self, model_name: str, pretrained: str | None, embed_dim: int, trainable: bool = False
    ):
        super().__init__()
        import open_clip  # imported here: it takes seconds, and only this tower needs it

        clip = open_clip.create_model(model_name, pretrained=pretrained)
        self.visual = clip.visual  # the text tower is dropped
        self.trainable = trainable
        self.visual.requires_grad_(trainable)
        cfg = getattr(self.visual, "preprocess_cfg", {})
        size = self.visual.image_size
        self.image_size = tuple(size) if isinstance(size, list | tuple) else (size, size)
        mean = torch.tensor(cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)).view(1, 3, 1, 1)
        std = torch.tensor(cfg.get("std", open_clip.OPENAI_DATASET_STD)).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)
        self.head = ProjectionHead(clip.visual.output_dim, embed_dim)

    def train(self, mode: bool = True) -> OpenClipVideoEncoder:
        super().train(mode)
        self.visual.train(mode and self.trainable)  # a frozen backbone stays in eval mode
        return self

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, F, H, W, 3) -> (B, F, D): the CLIP image feature of every frame."""
        B, T = frames.shape[:2]
        x = frames.flatten(0, 1).permute(0, 3, 1, 2).float() / 255.0  # (B*T, 3, H, W)
        x = F.interpolate(x, size=self.image_size, mode="bilinear", antialias=True)
        x = (x - self.mean) / self.std
        with torch.set_grad_enabled(self.trainable and torch.is_grad_enabled()):
            return self.visual(x).reshape(B, T, -1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.frame_features(frames).mean(dim=1))  # (B, embed_dim)


def build_video_encoder(config: VideoTowerConfig, embed_dim: int) -> nn.Module:
    if config.kind == "scratch":
        return ScratchVideoEncoder(config.width, embed_dim)
    if not config.open_clip_model:
        raise ValueError("video.kind 'open_clip' needs video.open_clip_model")
    return OpenClipVideoEncoder(
        config.open_clip_model, config.open_clip_pretrained, embed_dim, config.trainable
    )
