"""Projection heads: every tower ends in one, mapping its features into the shared space."""

from __future__ import annotations

import torch
from torch import nn


class ProjectionHead(nn.Module):
    """Two-layer MLP ``in_dim -> hidden -> out_dim`` (hidden defaults to ``max(in, out)``)."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or max(in_dim, out_dim)
        self.net = nn.Sequential(
            nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in_dim) -> (B, out_dim)
        return self.net(x)
