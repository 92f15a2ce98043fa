"""MC3: video, audio and narration encoders projected into one space (Chen et al., CVPR 2024).

Every tower answers ``encode_<modality>(x, normalize=True) -> (B, embed_dim)``. The text tower
needs ``prepare_text`` once per dataset (tokenise, or embed with the frozen MiniLM). The
discovery score ``consensus_score`` uses audio and video only, so clips with and without
narration are ranked on one scale.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.audio import AudioEncoder
from models.config import MC3Config
from models.text import TextTower
from models.video import build_video_encoder

MAX_LOGIT_SCALE = 100.0  # as CLIP: the learned temperature never goes below 0.01


class MC3(nn.Module):
    kind = "mc3"

    def __init__(self, config: MC3Config):
        super().__init__()
        self.config = config
        self.version: str | None = None  # set by checkpoint.save_model / load_model
        self.video = build_video_encoder(config.video, config.embed_dim)
        self.audio = AudioEncoder(config.audio, config.clip, config.embed_dim)
        self.text = TextTower(config.text, config.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.loss.temperature)))

    @property
    def device(self) -> torch.device:
        return self.logit_scale.device

    def external_prefixes(self) -> list[str]:
        """State-dict prefixes of frozen backbones whose weights come from elsewhere
        (the MiniLM package, an open_clip tag/path); checkpoints leave them out."""
        prefixes = []
        if self.text.frozen_backbone:
            prefixes.append("text.encoder.")
        if self.config.video.kind == "open_clip" and not self.config.video.trainable:
            prefixes.append("video.visual.")
        return prefixes

    def encode_video(self, frames: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """uint8 frames (B, F, H, W, 3) -> (B, embed_dim)."""
        x = self.video(frames.to(self.device))
        return F.normalize(x, dim=-1) if normalize else x

    def encode_video_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 frames (B, F, H, W, 3) -> time-aligned features (B, F, D') of the video tower
        before it pools over time (what AV-LDM is conditioned on)."""
        return self.video.frame_features(frames.to(self.device))

    def encode_audio(self, wave: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """16 kHz mono waveform (B, N) float -> (B, embed_dim)."""
        x = self.audio(wave.to(self.device))
        return F.normalize(x, dim=-1) if normalize else x

    def prepare_text(self, texts: list[str]) -> torch.Tensor:
        """Texts -> the rows ``encode_text`` takes (N, 384) float or (N, T) long; on CPU."""
        return self.text.prepare(texts)

    def encode_text(self, prepared: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Rows of ``prepare_text`` (B, ...) -> (B, embed_dim)."""
        x = self.text(prepared.to(self.device))
        return F.normalize(x, dim=-1) if normalize else x

    def scale(self) -> torch.Tensor:
        """The learned logit scale 1/temperature, clamped to [1, 100]."""
        return self.logit_scale.exp().clamp(1.0, MAX_LOGIT_SCALE)

    @staticmethod
    def consensus_score(audio_emb: torch.Tensor, video_emb: torch.Tensor) -> torch.Tensor:
        """Sounding-action score (B,): cos(audio, video) of the consensus-trained embeddings.

        High when the clip's sound comes from its visible action; the consensus loss pushes
        it down for silent actions and off-screen sounds. Needs no narration.
        """
        return F.cosine_similarity(audio_emb, video_emb, dim=-1)
