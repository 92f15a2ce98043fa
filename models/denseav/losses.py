"""DenseAV's training loss: symmetric InfoNCE over clip-vs-frame scores (+ head overlap)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.denseav.model import DenseAV


def symmetric_info_nce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of the audio->image and image->audio cross-entropies."""
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def denseav_loss(
    model: DenseAV, a: torch.Tensor, v: torch.Tensor
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss for a batch of paired audio features a (B, K, C, T) and frames v (B, K, C, h, w).

    Positives are the B matching pairs, negatives the B^2 - B others, both directions.
    With ``head_overlap_weight`` > 0, the positives' volumes are penalised where two heads
    are positive at the same place and time (so heads specialise).
    """
    volume = model.pairwise_volume(a, v)  # (B, B, K, T, h, w)
    space = model.pool_space(volume)  # (B, B, K, T)
    logits = model.scale() * model.combine_heads(space)  # (B, B)
    target = torch.arange(len(logits), device=logits.device)
    contrastive = symmetric_info_nce(logits, target)
    parts = {
        "contrastive": contrastive.item(),
        "accuracy": (logits.argmax(dim=1) == target).float().mean().item(),  # audio -> frame
    }
    loss = contrastive
    weight = model.config.head_overlap_weight
    if weight > 0 and model.config.heads > 1:
        s = volume[target, target].clamp(min=0)  # the positives: (B, K, T, h, w)
        total = s.sum(dim=1)
        overlap = (total.square() - s.square().sum(dim=1)).mean()  # sum over k != k' of s_k s_k'
        loss = loss + weight * overlap
        parts["head_overlap"] = overlap.item()
    if model.config.per_head_weight > 0 and model.config.heads > 1:
        per_head = [
            symmetric_info_nce(model.scale() * space[:, :, k].mean(dim=-1), target)
            for k in range(model.config.heads)
        ]
        loss = loss + model.config.per_head_weight * torch.stack(per_head).mean()
        parts["per_head"] = torch.stack(per_head).mean().item()
    parts["loss"] = loss.item()
    return loss, parts
