"""Reciprocal rank fusion of ranked lists (Cormack et al., 2009)."""

from __future__ import annotations

from collections.abc import Sequence

RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[int, float]]:
    """Fuse ranked lists of ids: score(id) = sum_i w_i / (k + rank_i(id)), best first.

    Ties keep the order of first appearance, so the result is deterministic.
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


# Weights of the three text rankings in fused text search: the learned text->target
# similarity, narration full-text search and narration semantic (MiniLM) search.
TEXT_WEIGHTS = {"learned": 1.0, "full_text": 1.0, "semantic": 1.0}


def fuse_text_rankings(lists: dict[str, Sequence[int]]) -> list[tuple[int, float]]:
    """Fuse whichever of the text rankings are present (one alone passes through as is)."""
    present = [name for name in TEXT_WEIGHTS if name in lists]
    if len(present) == 1:
        only = lists[present[0]]
        return [(item, 1.0 / (RRF_K + rank)) for rank, item in enumerate(only, start=1)]
    return reciprocal_rank_fusion(
        [lists[name] for name in present], [TEXT_WEIGHTS[name] for name in present]
    )


def rerank_fusion(ranking: Sequence[int], scores: Sequence[float]) -> list[tuple[int, float]]:
    """Re-rank the head of ``ranking`` by a second opinion: ``scores`` of its first
    ``len(scores)`` items (higher: better), fused with the first ranking by equal-weight RRF.

    The second ranking only covers the head, so every item past it scores below every item
    in it (1 / (k + r) < 1 / (k + r') + 1 / (k + s) for r' < r) and keeps its place.
    """
    head = list(ranking[: len(scores)])
    order = sorted(range(len(head)), key=lambda i: -scores[i])  # stable: ties keep order
    return reciprocal_rank_fusion([ranking, [head[i] for i in order]])
