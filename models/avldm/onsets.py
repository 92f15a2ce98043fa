"""When should a silent window's sounds start? A small temporal conv net over the video
features that condition the denoiser, trained on where the real audio's onsets are.

Generation draws several samples per window and keeps the one whose onsets agree best with
this prediction: the denoiser knows well what a scene sounds like but places its attacks
loosely, and the predictor, a far smaller problem, places them better.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.avldm.config import DenoiserConfig, MelConfig, OnsetConfig
from models.avldm.pretrained import PretrainedMixin


class OnsetPredictor(PretrainedMixin, nn.Module):
    """Video features (B, F, video_dim) -> onset logits (B, steps), one per latent time step
    of the window (``steps`` = the mel frames / 4)."""

    config_classes = {"onsets": OnsetConfig, "mel": MelConfig, "denoiser": DenoiserConfig}

    def __init__(self, onsets: OnsetConfig, mel: MelConfig, denoiser: DenoiserConfig):
        super().__init__()
        self.onsets, self.mel, self.denoiser = onsets, mel, denoiser
        self.steps = mel.frames // 4
        d, w = denoiser.video_dim, onsets.width
        # the training features' per-channel statistics (``fit_normalisation``)
        self.register_buffer("feature_mean", torch.zeros(d))
        self.register_buffer("feature_std", torch.ones(d))
        self.net = nn.Sequential(
            nn.Conv1d(d, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(w, w, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(w, w, 5, padding=2),
            nn.ReLU(),
            nn.Conv1d(w, 1, 3, padding=1),
        )

    def fit_normalisation(self, video: torch.Tensor) -> None:
        """Set the feature statistics from training features (N, F, video_dim)."""
        self.feature_mean.copy_(video.mean(dim=(0, 1)))
        self.feature_std.copy_(video.std(dim=(0, 1)) + 1e-5)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        x = ((video - self.feature_mean) / self.feature_std).transpose(1, 2)  # (B, D, F)
        x = F.interpolate(x, size=self.steps, mode="linear", align_corners=False)
        return self.net(x)[:, 0]

    def loss(
        self, batch: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Weighted binary cross-entropy against (video (B, F, D), onsets (B, steps) 0/1)."""
        video, onsets = batch
        weight = torch.tensor(self.onsets.positive_weight, device=video.device)
        loss = F.binary_cross_entropy_with_logits(self(video), onsets, pos_weight=weight)
        return loss, {"loss": loss.item()}

    @torch.no_grad()
    def onset_times(self, video: torch.Tensor) -> list[list[float]]:
        """Per window, the predicted onsets in seconds: time steps whose probability is a
        local peak of at least ``threshold`` (reported at the step's centre)."""
        probability = torch.sigmoid(self(video))  # (B, steps)
        peak = probability == F.max_pool1d(probability[:, None], 3, 1, padding=1)[:, 0]
        chosen = peak & (probability >= self.onsets.threshold)
        step = self.mel.seconds / self.steps
        return [[(float(j) + 0.5) * step for j in torch.nonzero(row)[:, 0]] for row in chosen]
