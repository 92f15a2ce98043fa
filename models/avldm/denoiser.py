"""The AV-LDM denoiser: a transformer over the latent's time steps.

Each latent time step (all channels x frequency rows) is one token. Conditions, as in the
paper, reach it by cross-attention to a context of video tokens (one per conditioning frame,
see ``conditioning.video_condition``) and ambient tokens (the ambient clip's latent, pooled
in time). The video features are also added to the time step they belong to, so the
action's timing is given, not learnt through attention alone; and clip-level summaries of
video and ambient join the diffusion timestep in modulating every block (adaptive
LayerNorm, as DiT). A dropped condition becomes a learned null token (and adds no summary),
which is how classifier-free guidance asks for the prediction without the video.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.avldm.config import AutoencoderConfig, DenoiserConfig, MelConfig
from models.avldm.pretrained import PretrainedMixin


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of diffusion timesteps (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class Block(nn.Module):
    """Self-attention over time, cross-attention to the context, MLP; adaLN-modulated."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.self_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width)
        self.cross_attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm3 = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )
        self.modulation = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.modulation.weight)  # each block starts as the identity (adaLN-zero)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        shift1, scale1, gate1, shift3, scale3, gate3 = self.modulation(t_emb)[:, None].chunk(6, -1)
        h = self.norm1(x) * (1 + scale1) + shift1
        x = x + gate1 * self.self_attn(h, h, h, need_weights=False)[0]
        h = self.norm2(x)
        x = x + self.cross_attn(h, context, context, need_weights=False)[0]
        h = self.norm3(x) * (1 + scale3) + shift3
        return x + gate3 * self.mlp(h)


def _summary_mlp(width_in: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(width_in), nn.Linear(width_in, width), nn.SiLU(), nn.Linear(width, width)
    )


class Denoiser(PretrainedMixin, nn.Module):
    """Predicts the diffusion target (noise or velocity) of a latent (B, C, f, t)."""

    config_classes = {
        "denoiser": DenoiserConfig,
        "mel": MelConfig,
        "autoencoder": AutoencoderConfig,
    }

    def __init__(self, denoiser: DenoiserConfig, mel: MelConfig, autoencoder: AutoencoderConfig):
        super().__init__()
        self.denoiser, self.mel, self.autoencoder = denoiser, mel, autoencoder
        d = denoiser.width
        latent_channels = autoencoder.latent_channels
        self.steps = mel.frames // 4  # latent time steps (the autoencoder's 4x)
        token_dim = latent_channels * (mel.n_mels // 8)
        self.latent_in = nn.Linear(token_dim, d)
        self.latent_pos = nn.Parameter(torch.randn(1, self.steps, d) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.video_in = nn.Sequential(
            nn.LayerNorm(denoiser.video_dim), nn.Linear(denoiser.video_dim, d)
        )
        self.video_pos = nn.Parameter(torch.randn(1, denoiser.video_frames, d) * 0.02)
        self.video_null = nn.Parameter(torch.zeros(1, 1, d))
        self.ambient_in = nn.Linear(token_dim, d)
        self.ambient_pos = nn.Parameter(torch.randn(1, denoiser.ambient_tokens, d) * 0.02)
        self.ambient_null = nn.Parameter(torch.zeros(1, denoiser.ambient_tokens, d))
        # clip-level summaries of both conditions modulate every block with the timestep:
        # the strongest route for "what sound is this", which attention alone learns slowly
        self.video_summary = _summary_mlp(denoiser.video_dim, d)
        self.ambient_summary = _summary_mlp(token_dim, d)
        self.blocks = nn.ModuleList(Block(d, denoiser.heads) for _ in range(denoiser.depth))
        self.norm_out = nn.LayerNorm(d)
        self.latent_out = nn.Linear(d, token_dim)
        nn.init.zeros_(self.latent_out.weight)
        nn.init.zeros_(self.latent_out.bias)

    def _tokens(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, C, f, t) -> (B, t, C*f)."""
        return latent.flatten(1, 2).transpose(1, 2)

    def forward(
        self,
        latent: torch.Tensor,
        timestep: torch.Tensor,
        video: torch.Tensor,
        ambient: torch.Tensor,
        use_video: torch.Tensor,
        use_ambient: torch.Tensor,
    ) -> torch.Tensor:
        """Noisy latent (B, C, f, t), timesteps (B,), video features (B, F, video_dim),
        clean ambient latent (B, C, f, t), and bool (B,) masks of the conditions kept."""
        B, C, f, t = latent.shape
        x = self.latent_in(self._tokens(latent)) + self.latent_pos  # (B, t, d)
        t_emb = self.time_mlp(timestep_embedding(timestep, x.shape[-1]))  # (B, d)

        v = self.video_in(video) + self.video_pos  # (B, F, d)
        v = torch.where(use_video[:, None, None], v, self.video_null.expand_as(v))
        aligned = F.interpolate(v.transpose(1, 2), size=t, mode="linear", align_corners=False)
        x = x + aligned.transpose(1, 2)  # each latent step gets the frames of its instant

        a = F.adaptive_avg_pool1d(
            self._tokens(ambient).transpose(1, 2), self.denoiser.ambient_tokens
        )
        a = self.ambient_in(a.transpose(1, 2)) + self.ambient_pos  # (B, A, d)
        a = torch.where(use_ambient[:, None, None], a, self.ambient_null.expand_as(a))
        context = torch.cat([v, a], dim=1)  # (B, F + A, d)
        summary = self.video_summary(video.mean(dim=1)) * use_video[:, None]
        summary = (
            summary + self.ambient_summary(self._tokens(ambient).mean(dim=1)) * use_ambient[:, None]
        )
        condition = t_emb + summary  # a dropped condition adds nothing

        for block in self.blocks:
            x = block(x, context, condition)
        out = self.latent_out(self.norm_out(x))  # (B, t, C*f)
        return out.transpose(1, 2).reshape(B, C, f, t)
