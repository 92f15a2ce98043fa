"""Rank fusion and the retrieval metrics foley eval reports."""

import numpy as np
import pytest

from searchd.fusion import fuse_text_rankings, reciprocal_rank_fusion
from searchd.metrics import average_precision, rank_by_similarity, retrieval_summary


def test_rrf_rewards_agreement_between_lists():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]])
    order = [item for item, _ in fused]
    assert order[0] == 1  # ranks 1 and 2 beat 3's ranks 3 and 1
    assert set(order) == {1, 2, 3, 4}
    assert order.index(2) < order.index(4)  # rank 2 in one list beats rank 3 in one list


def test_an_item_found_only_by_full_text_still_surfaces():
    fused = fuse_text_rankings({"learned": [5, 6, 7], "full_text": [9], "semantic": [6, 5]})
    assert 9 in [item for item, _ in fused[:4]]


def test_a_single_ranking_passes_through_in_order():
    fused = fuse_text_rankings({"full_text": [3, 1, 2]})
    assert [item for item, _ in fused] == [3, 1, 2]


def test_average_precision_known_values():
    assert average_precision(np.array([1, 0, 1, 0], bool)) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(np.array([0, 1], bool)) == pytest.approx(0.5)
    # a relevant item the ranking never reaches counts as missed
    assert average_precision(np.array([1, 0], bool), total_relevant=2) == pytest.approx(0.5)


def test_retrieval_summary_perfect_and_worst():
    gallery = np.eye(4, dtype=np.float32)
    queries = gallery[:2]
    relevant = [np.array([1, 0, 0, 0], bool), np.array([0, 1, 0, 0], bool)]
    best = retrieval_summary(list(rank_by_similarity(queries, gallery)), relevant)
    assert best["mAP"] == 1.0 and best["R@1"] == 1.0
    worst = retrieval_summary([np.array([3, 2, 1, 0]), np.array([3, 2, 0, 1])], relevant)
    assert worst["mAP"] == pytest.approx(0.25) and worst["R@1"] == 0.0 and worst["R@5"] == 1.0


def test_queries_without_relevant_items_are_skipped():
    summary = retrieval_summary([np.array([0, 1])], [np.zeros(2, bool)])
    assert summary["mAP"] is None and summary["queries"] == 0
