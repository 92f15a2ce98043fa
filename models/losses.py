"""MC3 losses: pairwise InfoNCE over (V, A, L) plus the consensus term.

Plain V-A InfoNCE pulls audio and video together whenever they co-occur, and the scene's
ambience makes them co-occur even when the action is silent (visible, no sound) or the sound
is off screen (sound, no visible source); cos(a, v) then ranks silent actions as sounding.
The consensus term uses the narration as a referee: a clip whose audio (and video) pick out
its own narration in the batch has modalities that *agree*; one whose audio cannot is a
silent action or an off-screen sound. Agreement gates the V-A positives and decides whether
a clip's audio and video are pulled together or pushed apart.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.config import LossConfig


def info_nce(
    x: torch.Tensor,
    y: torch.Tensor,
    scale: torch.Tensor | float,
    mask: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE between row-aligned unit vectors x, y (B, D); row i's positive is i.

    ``mask`` (B,) bool keeps only those clips, as anchors and as negatives. ``weights`` (B,)
    weight each positive pair's loss (a weighted mean, so the scale of the loss is kept).
    """
    if mask is not None:
        x, y = x[mask], y[mask]
        weights = None if weights is None else weights[mask]
    if x.shape[0] == 0:
        return (x.sum() + y.sum()) * 0.0  # no pair to score; keeps the graph intact
    logits = scale * x @ y.T  # (B, B)
    labels = torch.arange(x.shape[0], device=x.device)
    per_pair = 0.5 * (
        F.cross_entropy(logits, labels, reduction="none")
        + F.cross_entropy(logits.T, labels, reduction="none")
    )  # (B,)
    if weights is None:
        return per_pair.mean()
    return (weights * per_pair).sum() / weights.sum().clamp(min=1e-8)


def pairwise_terms(
    v: torch.Tensor,
    a: torch.Tensor,
    t: torch.Tensor,
    has_text: torch.Tensor,
    scale: torch.Tensor | float,
    va_weights: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """The three InfoNCE terms; clips without narration take no part in V-L and A-L."""
    return {
        "va": info_nce(v, a, scale, weights=va_weights),
        "vl": info_nce(v, t, scale, mask=has_text),
        "al": info_nce(a, t, scale, mask=has_text),
    }


@torch.no_grad()
def agreement_weights(
    a: torch.Tensor,
    v: torch.Tensor,
    t: torch.Tensor,
    has_text: torch.Tensor,
    temperature: float,
    same_text_cos: float = 0.9,
) -> torch.Tensor:
    """Per clip, how surely its audio *and* its video pick out its own narration (B,), in [0, 1].

    For each modality m, p_m(i) = softmax over the batch's narrations of cos(m_i, t_j) / T,
    summed over the narrations that say the same as clip i's (cos(t_i, t_j) >= same_text_cos:
    duplicates and paraphrases are not competitors). The agreement is min(p_audio, p_video);
    clips without narration get the mean of the others (1 when no clip in the batch has one).
    No gradient flows through it.
    """
    if not has_text.any():
        return torch.ones(a.shape[0], device=a.device)
    same = (t @ t.T >= same_text_cos) & has_text[None, :]  # (B, B) narration j says i's text

    def own_text_prob(x: torch.Tensor) -> torch.Tensor:
        logits = (x @ t.T / temperature).masked_fill(~has_text[None, :], float("-inf"))
        return (logits.softmax(dim=1) * same).sum(dim=1)  # (B,)

    w = torch.minimum(own_text_prob(a), own_text_prob(v))
    return torch.where(has_text, w, w[has_text].mean())


def consensus_loss(
    a: torch.Tensor, v: torch.Tensor, w: torch.Tensor, has_text: torch.Tensor, margin: float
) -> torch.Tensor:
    """Mean over narrated clips of (1 - w) * relu(cos(a, v) - margin) + w * (1 - cos(a, v)).

    Low-agreement clips (silent action, off-screen sound) get their audio and video pushed
    below ``margin``; high-agreement clips get them pulled together.
    """
    cos = (a * v).sum(dim=-1)  # (B,)
    per_clip = (1 - w) * F.relu(cos - margin) + w * (1 - cos)
    if not has_text.any():
        return cos.sum() * 0.0
    return per_clip[has_text].mean()


def mc3_loss(
    v: torch.Tensor,
    a: torch.Tensor,
    t: torch.Tensor,
    has_text: torch.Tensor,
    scale: torch.Tensor | float,
    config: LossConfig,
    step: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss and its parts (for logging). Inputs are unit vectors (B, D).

    ``pairwise``, or before ``consensus_warmup_steps``: the three InfoNCE terms. Then:
    V-A positives weighted by agreement (if ``consensus_gate_va``) + weight * consensus.
    """
    if config.kind == "pairwise" or step < config.consensus_warmup_steps:
        terms = pairwise_terms(v, a, t, has_text, scale)
        loss = sum(terms.values())
        return loss, {"loss": loss.item(), **{k: x.item() for k, x in terms.items()}}
    w = agreement_weights(
        a, v, t, has_text, config.agreement_temperature, config.agreement_same_text_cos
    )
    terms = pairwise_terms(v, a, t, has_text, scale, w if config.consensus_gate_va else None)
    terms["consensus"] = config.consensus_weight * consensus_loss(
        a, v, w, has_text, config.consensus_margin
    )
    loss = sum(terms.values())
    parts = {"loss": loss.item(), **{k: x.item() for k, x in terms.items()}}
    parts["agreement"] = w[has_text].mean().item() if has_text.any() else 1.0
    return loss, parts
