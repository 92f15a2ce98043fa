"""Training items read from the clip cache (``indexer.dataset.ClipDataset``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.cache import ClipCache
from indexer.catalog import Catalog
from indexer.config import FoleyConfig
from indexer.dataset import ClipDataset
from models.config import ClipShape


def test_one_frame_items_carry_one_of_the_windows_frames_drawn_at_random(tiny_home: Path):
    config = FoleyConfig.for_home(tiny_home)
    rows = Catalog(config.catalog_url).clips()[:4]
    cache = ClipCache(config.cache_dir)
    shape = ClipShape(frames=8, frame_size=64, seconds=2.0)
    every = ClipDataset(rows, cache, shape)
    single = ClipDataset(rows, cache, shape, one_frame=True, seed=3)
    picked = []
    for index in range(len(rows)):
        frames = every[index]["frames"].numpy()  # (8, 64, 64, 3)
        assert frames.shape == (8, 64, 64, 3)
        for _ in range(6):
            item = single[index]
            assert item["frames"].shape == (1, 64, 64, 3)
            assert np.array_equal(item["audio"], every[index]["audio"])
            matches = [np.array_equal(item["frames"][0].numpy(), f) for f in frames]
            assert any(matches)
            picked.append(matches.index(True))
    assert len(set(picked)) >= 4  # drawn, not always the same frame
