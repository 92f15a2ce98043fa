"""Retrieval and ranking metrics (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RECALL_AT = (1, 5, 10)


def average_precision(
    relevant_in_rank_order: np.ndarray, total_relevant: int | None = None
) -> float:
    """AP of one ranking: mean precision at each relevant position.

    ``relevant_in_rank_order`` is a boolean array over the ranked list; relevant items the
    list never reaches count as misses when ``total_relevant`` exceeds the ones found.
    """
    hits = np.asarray(relevant_in_rank_order, dtype=bool)
    total = int(hits.sum()) if total_relevant is None else total_relevant
    if total == 0:
        return float("nan")
    ranks = np.flatnonzero(hits) + 1
    precision = np.arange(1, len(ranks) + 1) / ranks
    return float(precision.sum() / total)


def retrieval_summary(
    rankings: Sequence[np.ndarray], relevant: Sequence[np.ndarray]
) -> dict[str, float | None]:
    """mAP and R@k over queries.

    ``rankings[i]`` are gallery indices best first; ``relevant[i]`` a boolean mask over the
    gallery. Queries with nothing relevant are skipped. R@k: share of queries with a hit
    in the top k.
    """
    aps, recalls = [], {k: [] for k in RECALL_AT}
    for order, mask in zip(rankings, relevant, strict=True):
        total = int(mask.sum())
        if total == 0:
            continue
        hits = mask[order]
        aps.append(average_precision(hits, total))
        for k in RECALL_AT:
            recalls[k].append(bool(hits[:k].any()))
    if not aps:
        return {"mAP": None, **{f"R@{k}": None for k in RECALL_AT}, "queries": 0}
    return {
        "mAP": round(float(np.mean(aps)), 4),
        **{f"R@{k}": round(float(np.mean(v)), 4) for k, v in recalls.items()},
        "queries": len(aps),
    }


def rank_by_similarity(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(Q, G) gallery indices sorted by inner product, best first."""
    return np.argsort(-(queries @ gallery.T), axis=1, kind="stable")


def random_rankings(count: int, gallery_size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(gallery_size) for _ in range(count)]
