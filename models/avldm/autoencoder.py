"""Spectrogram VAE: normalised log-mel (B, n_mels, T) <-> latent (B, C, n_mels/8, T/4).

Frequency is compressed 8x and time only 4x (16 ms frames -> 64 ms latent steps), so an
action's onset survives in the latent. ``latent_scale`` (set from the training data) makes
the latents unit-variance for the diffusion model, as Stable Diffusion's scaling factor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.avldm.config import AutoencoderConfig, MelConfig
from models.avldm.pretrained import PretrainedMixin

DOWN = ((2, 2), (2, 2), (2, 1))  # (freq, time) stride of each stage: 8x in freq, 4x in time


def temporal_l1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the frame-to-frame changes (last axis: time) of two spectrograms: blind
    to a steady level error, it punishes flicker and smeared onsets."""
    return F.l1_loss(prediction.diff(dim=-1), target.diff(dim=-1))


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(8, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(8, channels),
            nn.SiLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SpectrogramAutoencoder(PretrainedMixin, nn.Module):
    config_classes = {"autoencoder": AutoencoderConfig, "mel": MelConfig}

    def __init__(self, autoencoder: AutoencoderConfig, mel: MelConfig):
        super().__init__()
        self.autoencoder, self.mel = autoencoder, mel
        c, w = autoencoder.latent_channels, autoencoder.width
        widths = (w // 2, w, w)  # per stage; the large early stages are narrow (CPU cost)
        enc: list[nn.Module] = []
        for stride, w_in, w_out in zip(DOWN, (1, *widths[:-1]), widths, strict=True):
            enc += [nn.Conv2d(w_in, w_out, 3, stride, 1), ResBlock(w_out)]
        enc += [nn.GroupNorm(8, w), nn.SiLU(), nn.Conv2d(w, 2 * c, 3, padding=1)]
        self.encoder = nn.Sequential(*enc)
        dec: list[nn.Module] = [nn.Conv2d(c, w, 3, padding=1)]
        for stride, w_in, w_out in zip(DOWN[::-1], widths[::-1], (*widths[-2::-1], 8), strict=True):
            dec += [ResBlock(w_in), nn.Upsample(scale_factor=stride)]
            dec += [nn.Conv2d(w_in, w_out, 3, padding=1)]
        dec += [nn.SiLU(), nn.Conv2d(8, 1, 3, padding=1)]
        self.decoder = nn.Sequential(*dec)
        self.register_buffer("latent_scale", torch.ones(()))

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(C, freq, time) of one window's latent."""
        return (self.autoencoder.latent_channels, self.mel.n_mels // 8, self.mel.frames // 4)

    def moments(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_mels, T) -> posterior mean and log-variance, each (B, C, n_mels/8, T/4)."""
        mean, logvar = self.encoder(log_mel.unsqueeze(1)).chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 10.0)

    def encode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Deterministic scaled latent (the posterior mean x latent_scale)."""
        return self.moments(log_mel)[0] * self.latent_scale

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Scaled latent (B, C, f, t) -> normalised log-mel (B, n_mels, T)."""
        return self.decoder(latent / self.latent_scale).squeeze(1)

    def loss(self, log_mel: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """L1 reconstruction of the log-mel, L1 of its changes over time (``temporal_l1``)
        and a small KL to N(0, 1)."""
        mean, logvar = self.moments(log_mel)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        reconstruction = self.decoder(z).squeeze(1)
        recon = F.l1_loss(reconstruction, log_mel)
        temporal = temporal_l1(reconstruction, log_mel)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        config = self.autoencoder
        loss = recon + config.temporal_weight * temporal + config.kl_weight * kl
        parts = {"recon": recon.item(), "temporal": temporal.item(), "kl": kl.item()}
        return loss, {"loss": loss.item(), **parts}

    @torch.no_grad()
    def calibrate(self, log_mels: torch.Tensor) -> None:
        """Set ``latent_scale`` so the latents of these spectrograms have unit variance."""
        mean = self.moments(log_mels)[0]
        self.latent_scale.fill_(1.0 / float(mean.std().clamp_min(1e-4)))
