"""DenseAV's training loss: symmetric InfoNCE over clip-vs-frame scores (+ head overlap)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.denseav.model import DenseAV


def symmetric_info_nce(
    logits: torch.Tensor, target: torch.Tensor, allowed: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean of the audio->image and image->audio cross-entropies; ``allowed`` (B, B) bool,
    if given, says which pairs each row may use as negatives (row ``i``: clip ``i``'s own,
    in both directions: it must be symmetric)."""
    if allowed is not None:
        logits = logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def same_video_pairs(videos: torch.Tensor) -> torch.Tensor:
    """(B,) video ids -> (B, B) bool: the pairs of clips from one video. A clip alone from
    its video in the batch has no such negatives, so its pairs with every clip are kept."""
    same = videos[:, None] == videos[None, :]
    alone = same.sum(dim=1) < 2
    return same | alone[:, None] | alone[None, :]


def speech_steps(detector: torch.Tensor, steps: int, threshold: float) -> torch.Tensor:
    """(B, N) a voice-activity detector's probabilities over each clip -> (B, T) float 0/1:
    the audio steps whose peak probability is above ``threshold``."""
    peak = F.adaptive_max_pool1d(detector[:, None].float(), steps)[:, 0]  # (B, T)
    return (peak > threshold).float()


def negative_blocks(videos: torch.Tensor | None, size: int) -> list[torch.Tensor]:
    """The batch's clip indices split into blocks whose clips are only each other's
    negatives: one block per video (``videos`` (B,) ids) when every clip shares its video
    with another clip of the batch; else (or without ids) one block of all ``size`` clips."""
    everyone = [torch.arange(size)]
    if videos is None:
        return everyone
    _, inverse, counts = videos.cpu().unique(return_inverse=True, return_counts=True)
    if (counts < 2).any():
        return everyone
    return [torch.nonzero(inverse == group).flatten() for group in range(len(counts))]


def denseav_loss(
    model: DenseAV,
    a: torch.Tensor,
    v: torch.Tensor,
    videos: torch.Tensor | None = None,
    speech_logits: torch.Tensor | None = None,
    speech_targets: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss for a batch of paired audio features a (B, K, C, T) and frames v (B, K, C, h, w).

    Positives are the B matching pairs, both directions. Negatives are the other clips of
    the batch, or with ``negatives == "video"`` and the clips' ``videos`` (B,) ids, only the
    other clips of the same video: then each video's clips are scored on their own
    (``negative_blocks``), which also spares the volumes of pairs that play no part. With
    ``head_overlap_weight`` > 0, the positives' volumes are penalised where two heads are
    positive at the same place and time.

    With a speech gate, ``speech_logits`` (B, T) are its outputs: its probabilities weigh the
    heads (held fixed here, so the contrastive loss cannot move the gate), and with
    ``speech_targets`` (B, N), a voice-activity detector's track of each clip, the gate
    learns them by weighted binary cross-entropy.
    """
    config = model.config
    same_video = config.negatives == "video" and videos is not None
    blocks = negative_blocks(videos if same_video else None, len(a))
    if speech_logits is not None:
        speech_logits = speech_logits.float()  # the losses in float32, also under autocast
    speech = None if speech_logits is None else torch.sigmoid(speech_logits).detach()
    terms: dict[str, torch.Tensor] = {}
    for block in blocks:
        allowed = None
        if same_video and len(blocks) == 1:  # some clip is alone from its video
            allowed = same_video_pairs(videos.to(a.device))
        block_terms = _contrastive_terms(
            model, a[block], v[block], None if speech is None else speech[block], allowed
        )
        for name, value in block_terms.items():  # each block weighs by its clips
            terms[name] = terms.get(name, 0) + value * len(block) / len(a)
    loss = terms["contrastive"]
    if "head_overlap" in terms:
        loss = loss + config.head_overlap_weight * terms["head_overlap"]
    if "per_head" in terms:
        loss = loss + config.per_head_weight * terms["per_head"]
    parts = {name: value.item() for name, value in terms.items()}
    if speech_logits is not None and speech_targets is not None:
        truth = speech_steps(
            speech_targets.to(speech_logits.device), a.shape[-1], config.speech_threshold
        )
        weight = torch.tensor(config.speech_positive_weight, device=truth.device)
        gate = F.binary_cross_entropy_with_logits(speech_logits, truth, pos_weight=weight)
        loss = loss + config.speech_gate_weight * gate
        parts["speech_gate"] = gate.item()
    parts["loss"] = loss.item()
    return loss, parts


def _contrastive_terms(
    model: DenseAV,
    a: torch.Tensor,
    v: torch.Tensor,
    speech: torch.Tensor | None,
    allowed: torch.Tensor | None,
) -> dict[str, torch.Tensor]:
    """The InfoNCE of clips a, v against each other (+ head overlap, per-head InfoNCE and
    accuracy, when configured), each a mean over the clips."""
    # (B, B, K, T, h, w); float32 also under autocast (its top-k is faster so on CPUs)
    volume = model.pairwise_volume(a, v).float()
    space = model.pool_space(volume)  # (B, B, K, T)
    logits = model.scale() * model.combine_heads(
        space, None if speech is None else speech[:, None]
    )  # (B, B)
    target = torch.arange(len(logits), device=logits.device)
    terms = {
        "contrastive": symmetric_info_nce(logits, target, allowed),
        # audio -> frame, among the frames it is scored against
        "accuracy": (logits.detach().argmax(dim=1) == target).float().mean(),
    }
    heads = model.config.heads
    if model.config.head_overlap_weight > 0 and heads > 1:
        s = volume[target, target].clamp(min=0)  # the positives: (B, K, T, h, w)
        total = s.sum(dim=1)
        terms["head_overlap"] = (total.square() - s.square().sum(dim=1)).mean()  # k != k'
    if model.config.per_head_weight > 0 and heads > 1:
        per_head = [
            symmetric_info_nce(model.scale() * space[:, :, k].mean(dim=-1), target, allowed)
            for k in range(heads)
        ]
        terms["per_head"] = torch.stack(per_head).mean()
    return terms
